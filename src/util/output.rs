//! Atomic output files: written to a temporary file beside the destination (mode 0644, subject to
//! the umask), fsynced, renamed into place, and the directory fsynced — so a reader never sees a
//! partial bundle and a crash leaves either the old file or the new one.
use crate::error::{Error, IoContext, Result};
use std::fs::{File, Permissions};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A file being written that appears at its final path only on [`AtomicOutput::commit`].
pub struct AtomicOutput {
    temp: tempfile::NamedTempFile,
    dest: PathBuf,
    dir: PathBuf,
}

/// The directory a path lives in (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

impl AtomicOutput {
    /// Starts writing what will become `dest`.
    pub fn create(dest: &Path) -> Result<AtomicOutput> {
        let dir = parent_dir(dest);
        let temp = tempfile::Builder::new()
            .prefix(".airlock-out-")
            .permissions(Permissions::from_mode(0o644))
            .tempfile_in(&dir)
            .ctx("create a temporary file in", &dir)?;
        Ok(AtomicOutput {
            temp,
            dest: dest.to_path_buf(),
            dir,
        })
    }

    /// The open temporary file.
    pub fn file(&self) -> &File {
        self.temp.as_file()
    }

    /// Path of the temporary file, for messages.
    pub fn temp_path(&self) -> &Path {
        self.temp.path()
    }

    /// A second handle on the temporary file (for buffered writers).
    pub fn handle(&self) -> Result<File> {
        self.file().try_clone().ctx("open", self.temp.path())
    }

    /// fsyncs the data, renames it to the destination and fsyncs the directory.
    pub fn commit(self) -> Result<PathBuf> {
        self.file().sync_all().ctx("sync", self.temp.path())?;
        self.temp
            .persist(&self.dest)
            .map_err(|e| Error::io("rename into place", &self.dest, e.error))?;
        sync_dir(&self.dir)?;
        Ok(self.dest)
    }
}

/// Writes `bytes` to `dest` atomically: a temporary file beside it (mode 0644 less the umask),
/// fsynced, renamed into place, the directory fsynced. For the small files airlock writes whole
/// (policy signatures, trust updates).
pub fn write_atomic(dest: &Path, bytes: &[u8]) -> Result<PathBuf> {
    use std::io::Write as _;
    let out = AtomicOutput::create(dest)?;
    out.handle()?
        .write_all(bytes)
        .ctx("write", out.temp_path())?;
    out.commit()
}

/// Flushes a file being written to disk in the background, so the final fsync before the rename
/// does not wait for the whole file: `nudge` after each large write asks for a `fdatasync` of what
/// has been written so far. A failed flush is reported by `finish`, never dropped (the kernel
/// reports a writeback error once per open file, so a later fsync might not see it again).
pub struct BackgroundFlush {
    nudges: Option<crossbeam_channel::Sender<()>>,
    worker: Option<std::thread::JoinHandle<std::io::Result<()>>>,
    path: PathBuf,
}

impl BackgroundFlush {
    /// Starts flushing `file` (a handle on the file at `path`) on request.
    pub fn start(file: File, path: &Path) -> BackgroundFlush {
        let (tx, rx) = crossbeam_channel::bounded::<()>(1);
        let worker = std::thread::spawn(move || {
            for () in rx {
                file.sync_data()?;
            }
            Ok(())
        });
        BackgroundFlush {
            nudges: Some(tx),
            worker: Some(worker),
            path: path.to_path_buf(),
        }
    }

    /// Asks for a flush; does nothing if one is already pending.
    pub fn nudge(&self) {
        if let Some(tx) = &self.nudges {
            let _ = tx.try_send(());
        }
    }

    /// Waits for the pending flush and reports any error.
    pub fn finish(mut self) -> Result<()> {
        self.nudges = None;
        match self.worker.take().map(|w| w.join()) {
            Some(Ok(result)) => result.ctx("flush", &self.path),
            Some(Err(_)) => Err(Error::Internal("the flush thread panicked".into())),
            None => Ok(()),
        }
    }
}

/// fsyncs a directory so a rename in it is durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .ctx("sync directory", dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn appears_only_on_commit_and_is_world_readable() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("b.airlock.tar.zst");
        let out = AtomicOutput::create(&dest).unwrap();
        out.handle().unwrap().write_all(b"bundle").unwrap();
        assert!(!dest.exists());
        out.commit().unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"bundle");
        let mode = std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777;
        // What the umask allows, seen on an ordinary new file, limited to 0644.
        let plain = dir.path().join("plain");
        std::fs::write(&plain, b"").unwrap();
        let allowed = std::fs::metadata(&plain).unwrap().permissions().mode() & 0o644;
        assert_eq!(mode, allowed, "mode {mode:o}");
    }
}
