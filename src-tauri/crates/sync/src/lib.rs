//! framenote-sync (being written).
