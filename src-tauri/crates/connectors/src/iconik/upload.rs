//! Streaming a local file as an HTTP body with progress, for uploads to storage URLs: the file is
//! read in chunks (never whole into memory) and each chunk sent reports the running total.
//!
//! Progress callbacks borrow the caller's closure, which cannot travel inside a `'static` request
//! body, so the body reports counts on a channel and [`drive`] calls the callback while the
//! request runs.

use std::path::Path;

use futures::StreamExt;
use reqwest::Body;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use crate::{ConnectorError, ErrorKind};

/// Chunk size for streamed bodies.
const CHUNK: usize = 256 * 1024;

/// Opens `path` as a streamed body of exactly `len` bytes; sent totals arrive on the receiver.
pub async fn file_body(
    path: &Path,
    offset: u64,
    len: u64,
) -> Result<(Body, mpsc::UnboundedReceiver<u64>), ConnectorError> {
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| io_error(path, &e))?;
    if offset > 0 {
        use tokio::io::AsyncSeekExt;
        file.seek(std::io::SeekFrom::Start(offset))
            .await
            .map_err(|e| io_error(path, &e))?;
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let stream =
        futures::stream::unfold((file, 0u64, tx), move |(mut file, sent, tx)| async move {
            if sent >= len {
                return None;
            }
            let want = usize::try_from((len - sent).min(CHUNK as u64)).unwrap_or(CHUNK);
            let mut buf = vec![0u8; want];
            match file.read(&mut buf).await {
                Ok(0) => Some((
                    Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "file shrank during upload",
                    )),
                    (file, len, tx),
                )),
                Ok(n) => {
                    buf.truncate(n);
                    let total = sent + n as u64;
                    // The receiver is gone only when the upload was abandoned; nothing to tell.
                    let _ = tx.send(total);
                    Some((Ok(buf), (file, total, tx)))
                }
                Err(e) => Some((Err(e), (file, len, tx))),
            }
        });
    Ok((Body::wrap_stream(stream.boxed()), rx))
}

/// Runs `request` while forwarding progress totals (offset by `base`) to `progress`.
pub async fn drive<T>(
    request: impl std::future::Future<Output = T>,
    mut rx: mpsc::UnboundedReceiver<u64>,
    base: u64,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> T {
    tokio::pin!(request);
    let mut open = true;
    loop {
        tokio::select! {
            out = &mut request => {
                while let Ok(n) = rx.try_recv() {
                    progress(base + n);
                }
                return out;
            }
            n = rx.recv(), if open => match n {
                Some(n) => progress(base + n),
                None => open = false,
            },
        }
    }
}

/// A local file error, naming the file (paths are not secrets).
pub fn io_error(path: &Path, e: &std::io::Error) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Io,
        format!("cannot read {}: {e}", path.display()),
    )
}
