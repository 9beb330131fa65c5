//! The system tests: one binary, one module per area.

mod e2e_foundation;
mod flex;
mod iconik;
mod sonyci;
mod conformance;
mod kitsu;
mod moxion;
mod zou;
mod cli;
mod outbox;
mod sync;
