//! Corpus tests: decode the hard corpus (scripts/corpus.sh) through the engine and read each
//! frame's own number back from its pixels. One binary, modules inside.

mod code;
mod engine;
mod library;
mod setup;
