//! Writeback of a large blob while it is still arriving.
//!
//! A durable blob is fsynced before its upload is acknowledged. Left to the kernel, most of a
//! large blob is still dirty in the page cache at that point, and the fsync then writes all of
//! it while the client waits (a quarter of a 256 MiB PUT's time on this kind of machine).
//! Instead, every [`FLUSH_EVERY`] bytes a helper thread `fdatasync`s a clone of the file
//! handle, so the disk works while the body is still being received and the final fsync
//! only has the tail left. (`sync_file_range` would start the writeback without a thread,
//! but no maintained crate wraps it safely.)

use std::fs::File;
use std::sync::mpsc;
use std::thread::JoinHandle;

/// Bytes written between two early flushes. Small blobs (most uploads) never start one.
pub(crate) const FLUSH_EVERY: u64 = 8 << 20;

/// The helper of one blob being written.
#[derive(Debug)]
pub(crate) struct EarlyFlush {
    /// Bytes written since the last request to flush.
    since: u64,
    /// `None` until the blob first reaches [`FLUSH_EVERY`] bytes.
    helper: Option<Helper>,
}

#[derive(Debug)]
struct Helper {
    /// A full queue means a flush is already pending: it will cover the newer bytes too.
    tick: mpsc::SyncSender<()>,
    thread: JoinHandle<()>,
}

impl EarlyFlush {
    pub(crate) fn new() -> Self {
        EarlyFlush {
            since: 0,
            helper: None,
        }
    }

    /// `n` more bytes were written to `file`.
    pub(crate) fn wrote(&mut self, file: &File, n: usize) {
        self.since += n as u64;
        if self.since < FLUSH_EVERY {
            return;
        }
        self.since = 0;
        if self.helper.is_none() {
            // Without a clone (or a thread) the final fsync simply does all the work.
            let Ok(clone) = file.try_clone() else { return };
            let (tick, ticks) = mpsc::sync_channel::<()>(1);
            let spawned = std::thread::Builder::new()
                .name("cubby-blob-flush".into())
                .spawn(move || {
                    for () in ticks {
                        // Errors surface at the commit's own fsync.
                        let _ = clone.sync_data();
                    }
                });
            match spawned {
                Ok(thread) => self.helper = Some(Helper { tick, thread }),
                Err(_) => return,
            }
        }
        if let Some(h) = &self.helper {
            let _ = h.tick.try_send(());
        }
    }

    /// Before the commit's fsync: let a flush under way finish (its writes are done then,
    /// and the fsync does not compete with it), and stop the helper.
    pub(crate) fn finish(self) {
        if let Some(h) = self.helper {
            drop(h.tick);
            let _ = h.thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_helper_starts_only_past_the_threshold_and_the_data_stays_whole() {
        let path = std::env::temp_dir().join(format!("cubby-early-{}", uuid::Uuid::new_v4()));
        let mut file = File::create(&path).unwrap();
        let mut early = EarlyFlush::new();
        let chunk = vec![7u8; 1 << 20];
        for _ in 0..7 {
            file.write_all(&chunk).unwrap();
            early.wrote(&file, chunk.len());
        }
        assert!(early.helper.is_none(), "7 MiB: no flush yet");
        for _ in 0..13 {
            file.write_all(&chunk).unwrap();
            early.wrote(&file, chunk.len());
        }
        assert!(early.helper.is_some(), "20 MiB: flushing");
        early.finish();
        file.sync_all().unwrap();
        let back = std::fs::read(&path).unwrap();
        assert_eq!(back.len(), 20 << 20);
        assert!(back.iter().all(|b| *b == 7));
        std::fs::remove_file(&path).unwrap();
    }
}
