//! Shared helpers for the system tests (being written).
