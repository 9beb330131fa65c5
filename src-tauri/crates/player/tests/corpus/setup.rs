//! Finds the corpus, generating it with scripts/corpus.sh the first time (idempotent; the script
//! skips clips that exist). Set FRAMENOTE_CORPUS to use a corpus elsewhere.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The corpus folder, generated if missing. Panics (failing the test) if generation fails.
pub fn corpus() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..");
        let dir = std::env::var_os("FRAMENOTE_CORPUS")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("tests/media/corpus"));
        let status = std::process::Command::new("bash")
            .arg(root.join("scripts/corpus.sh"))
            .arg(&dir)
            .status()
            .expect("running scripts/corpus.sh");
        assert!(status.success(), "scripts/corpus.sh failed: {status}");
        // Tests must never need an audio device.
        framenote_player::init().expect("GStreamer init");
        dir
    })
}

/// A clip of the corpus.
pub fn clip(name: &str) -> PathBuf {
    corpus().join(name)
}
