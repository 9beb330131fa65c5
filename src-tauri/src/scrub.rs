//! Scrub proxies of the media on this machine: which file is whose proxy, and one background
//! worker that makes them, one at a time, for long-GOP clips the reviewer opens (local library
//! files and offline copies — the only media the player reads). The player crate makes and uses
//! a proxy; this only decides where it lives and when to make it.
//!
//! A proxy is named after the media's path, size and modification time, so a file replaced in
//! place gets a new proxy instead of a wrong one (the player also refuses a proxy whose frame
//! count differs). Proxies are derived files: deleting `derived/scrub/` loses nothing.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, mpsc};

/// Called with the proxy's path once it is made.
pub type OnReady = Box<dyn FnOnce(PathBuf) + Send>;

struct Job {
    media: PathBuf,
    out: PathBuf,
    on_ready: OnReady,
}

/// The proxies folder and its worker.
pub struct ScrubProxies {
    dir: PathBuf,
    queued: Arc<Mutex<HashSet<PathBuf>>>,
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    /// Set when the app quits: the worker stops between frames and removes its partial file.
    cancel: Arc<AtomicBool>,
}

impl ScrubProxies {
    /// Proxies under `dir`; the worker starts on the first request.
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            queued: Arc::default(),
            jobs: Mutex::new(None),
            cancel: Arc::default(),
        }
    }

    /// Where the proxy of `media` lives (whether or not it exists yet).
    pub fn path_for(&self, media: &Path) -> PathBuf {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        media.hash(&mut h);
        if let Ok(m) = std::fs::metadata(media) {
            m.len().hash(&mut h);
            m.modified().ok().hash(&mut h);
        }
        self.dir.join(format!("{:016x}.mp4", h.finish()))
    }

    /// The proxy of `media`, if it has been made.
    pub fn existing(&self, media: &Path) -> Option<PathBuf> {
        let p = self.path_for(media);
        p.is_file().then_some(p)
    }

    /// Makes the proxy of `media` in the background (once, however often it is asked for) and
    /// calls `on_ready` when it exists.
    pub fn request(&self, media: &Path, on_ready: OnReady) {
        let out = self.path_for(media);
        {
            let Ok(mut q) = self.queued.lock() else {
                return;
            };
            if !q.insert(out.clone()) {
                return;
            }
        }
        let job = Job {
            media: media.to_path_buf(),
            out,
            on_ready,
        };
        let Ok(mut jobs) = self.jobs.lock() else {
            return;
        };
        if jobs.is_none() {
            *jobs = self.start_worker();
        }
        if let Some(tx) = jobs.as_ref()
            && let Err(mpsc::SendError(job)) = tx.send(job)
        {
            tracing::warn!(media = %job.media.display(), "scrub proxy worker is gone");
        }
    }

    fn start_worker(&self) -> Option<mpsc::Sender<Job>> {
        let (tx, rx) = mpsc::channel::<Job>();
        let queued = self.queued.clone();
        let cancel = self.cancel.clone();
        let spawned = std::thread::Builder::new()
            .name("scrub proxies".into())
            .spawn(move || {
                for job in rx {
                    let made =
                        framenote_player::make_scrub_proxy(&job.media, &job.out, &|_| {}, &cancel);
                    match made {
                        Ok(p) => {
                            tracing::info!(
                                media = %job.media.display(),
                                secs = p.took.as_secs_f64(),
                                "scrub proxy made"
                            );
                            (job.on_ready)(p.path);
                        }
                        Err(e) => {
                            tracing::warn!(media = %job.media.display(), %e, "no scrub proxy");
                        }
                    }
                    if let Ok(mut q) = queued.lock() {
                        q.remove(&job.out);
                    }
                }
            });
        match spawned {
            Ok(_) => Some(tx),
            Err(e) => {
                tracing::error!(%e, "cannot start the scrub proxy worker");
                None
            }
        }
    }
}

impl Drop for ScrubProxies {
    fn drop(&mut self) {
        self.cancel
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn demo_clip() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/demo/sh010_comp_v001.mp4")
    }

    #[test]
    fn a_requested_proxy_is_made_once_and_found_again() {
        let dir = tempfile::tempdir().unwrap();
        let media_dir = tempfile::tempdir().unwrap();
        let media = media_dir.path().join("clip.mp4");
        std::fs::copy(demo_clip(), &media).unwrap();
        assert!(
            framenote_player::file_wants_scrub_proxy(&media),
            "x264's default GOP is long"
        );

        let proxies = ScrubProxies::new(dir.path().join("scrub"));
        assert_eq!(proxies.existing(&media), None);
        let (tx, rx) = std::sync::mpsc::channel();
        let tx2 = tx.clone();
        proxies.request(&media, Box::new(move |p| tx.send(p).unwrap()));
        // Asked again while being made: not made twice.
        proxies.request(&media, Box::new(move |p| tx2.send(p).unwrap()));
        let made = rx.recv_timeout(Duration::from_secs(120)).unwrap();
        assert_eq!(proxies.existing(&media), Some(made.clone()));
        assert!(
            rx.recv_timeout(Duration::from_millis(500)).is_err(),
            "made once"
        );

        // The same path with other content is another proxy.
        std::fs::write(&media, b"replaced").unwrap();
        assert_ne!(proxies.path_for(&media), made);
        assert_eq!(proxies.existing(&media), None);
    }
}
