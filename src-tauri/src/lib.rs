//! The Tauri shell (being written).
pub fn main() {}
