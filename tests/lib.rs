//! Shared helpers for the system tests: the real-window harness, and whatever the platform
//! fixtures share. Each area appends its own module here.

#[path = "e2e/harness.rs"]
pub mod e2e;
