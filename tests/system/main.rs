//! The system tests: one binary, one module per area.

mod cli;
mod conformance;
mod e2e_foundation;
mod e2e_kitsu;
mod e2e_platforms;
mod e2e_player;
mod e2e_review;
mod e2e_signin;
mod e2e_uploads;
mod flex;
mod iconik;
mod kitsu;
mod moxion;
mod outbox;
mod sonyci;
mod sync;
mod upload_resume;
mod uploads;
mod zou;
