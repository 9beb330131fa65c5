//! framenote-player (being written).
