//! The system tests: one binary, one module per area.
