//! framenote-cache (being written).
