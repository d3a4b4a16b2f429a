//! File-system helpers every command shares: opening an input the user named (regular files only,
//! never blocking on a FIFO, bounded when read whole), removing a leftover of any type, and the
//! lock file kept beside a destination.
use crate::error::{Error, IoContext, Result};
use crate::format::digest::{Digest, HashAlg};
use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// What an input path turned out to be, for the refusal message.
fn describe_type(meta: &fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else {
        "not a regular file"
    }
}

/// Opens the input file `path` (`what` names it in messages: "bundle", "trust file", ...).
///
/// Refused with exit 2, before anything is read: a path that does not exist, and anything but a
/// regular file (a directory, a device, a socket, a FIFO). The file is opened non-blocking, so a
/// FIFO with no writer is refused at once instead of hanging the command; for regular files the
/// flag has no effect on reads.
pub fn open_input(path: &Path, what: &str) -> Result<File> {
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::config(
                path,
                format!("the {what} does not exist"),
                "check the path (relative paths are taken from the current directory)",
            ),
            _ => Error::io("open", path, e),
        })?;
    let meta = file.metadata().ctx("read", path)?;
    if !meta.is_file() {
        return Err(Error::config(
            path,
            format!("the {what} is {}, not a regular file", describe_type(&meta)),
            format!(
                "pass the path of the {what} itself (save it to a regular file first if it arrives through a pipe)"
            ),
        ));
    }
    Ok(file)
}

/// Reads the whole input file `path`, refusing one larger than `cap` bytes (exit 2) so that no
/// input can make a command allocate without bound.
pub fn read_input(path: &Path, what: &str, cap: u64) -> Result<Vec<u8>> {
    let file = open_input(path, what)?;
    let mut bytes = Vec::new();
    file.take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .ctx("read", path)?;
    if bytes.len() as u64 > cap {
        return Err(Error::config(
            path,
            format!("the {what} is larger than {cap} bytes"),
            format!(
                "pass the {what} itself; airlock refuses oversized inputs rather than read them whole"
            ),
        ));
    }
    Ok(bytes)
}

/// [`read_input`] as UTF-8 text.
pub fn read_input_text(path: &Path, what: &str, cap: u64) -> Result<String> {
    String::from_utf8(read_input(path, what, cap)?).map_err(|_| {
        Error::config(
            path,
            format!("the {what} is not UTF-8 text"),
            "save it as UTF-8",
        )
    })
}

/// The cap on text configuration files read whole: specs, trust files, policies, keys.
pub const CONFIG_CAP: u64 = 1 << 20;

/// Removes `path` whatever it is (a directory tree, a file, a symlink — never followed).
pub fn remove_any(path: &Path) -> std::io::Result<()> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
    }
}

/// An exclusive lock held through a lock file, removed when the lock is released.
///
/// Removing a lock file while others wait on it is safe only if a waiter that wins the lock checks
/// that the path still names the file it locked: otherwise it could hold a lock on an unlinked file
/// while a newcomer locks a fresh one. So [`DirLock::acquire`] re-opens until the locked file is the
/// one at the path, and [`Drop`] unlinks the path before the lock is released.
pub struct DirLock {
    file: Option<File>,
    path: PathBuf,
}

impl DirLock {
    /// Blocks until this process holds the lock at `path`.
    pub fn acquire(path: &Path) -> Result<DirLock> {
        loop {
            let file = fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .mode(0o644)
                .open(path)
                .ctx("create lock file", path)?;
            file.lock().ctx("lock", path)?;
            let held = file.metadata().ctx("read", path)?;
            match fs::metadata(path) {
                Ok(now) if now.ino() == held.ino() && now.dev() == held.dev() => {
                    return Ok(DirLock {
                        file: Some(file),
                        path: path.to_path_buf(),
                    });
                }
                // The previous holder removed it after we opened it: lock the new one.
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io("read", path, e)),
            }
        }
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        // Unlink while still holding the lock, then release it by closing the file. A failure to
        // unlink leaves a harmless empty file that the next run reuses.
        let _ = fs::remove_file(&self.path);
        drop(self.file.take());
    }
}

/// Read buffer size for hashing and packing.
pub const CHUNK: usize = 1 << 20;

/// Digest (with `alg`) and length of a file, read in bounded chunks.
pub fn hash_file(path: &Path, alg: HashAlg) -> Result<(Digest, u64)> {
    let (digests, total) = hash_file_with(path, &[alg])?;
    let digest = digests
        .into_iter()
        .next()
        .ok_or_else(|| Error::Internal("one digest asked for, none made".into()))?;
    Ok((digest, total))
}

/// Hashes the regular file at `path` once with every algorithm of `algs`, in one read: the
/// digests in the order asked for, and the length.
pub fn hash_file_with(path: &Path, algs: &[HashAlg]) -> Result<(Vec<Digest>, u64)> {
    let mut file = open_input(path, "file")?;
    let mut hashers: Vec<_> = algs.iter().map(|a| a.hasher()).collect();
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf).ctx("read", path)?;
        if n == 0 {
            break;
        }
        for h in &mut hashers {
            h.update(&buf[..n]);
        }
        total += n as u64;
    }
    Ok((hashers.into_iter().map(|h| h.finish()).collect(), total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_must_be_regular_files() {
        let dir = tempfile::tempdir().unwrap();
        let missing = open_input(&dir.path().join("nope"), "bundle").unwrap_err();
        assert_eq!(missing.exit_code(), 2);
        assert!(missing.to_string().contains("does not exist"), "{missing}");
        let is_dir = open_input(dir.path(), "trust file").unwrap_err();
        assert_eq!(is_dir.exit_code(), 2);
        assert!(is_dir.to_string().contains("a directory"), "{is_dir}");
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let err = open_input(&fifo, "spec").unwrap_err();
        assert!(err.to_string().contains("FIFO"), "{err}");
        let big = dir.path().join("big");
        fs::write(&big, vec![b'x'; 11]).unwrap();
        assert_eq!(read_input(&big, "key", 11).unwrap().len(), 11);
        assert_eq!(read_input(&big, "key", 10).unwrap_err().exit_code(), 2);
    }

    #[test]
    fn the_lock_file_is_gone_once_released() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".x.airlock-lock");
        let lock = DirLock::acquire(&path).unwrap();
        assert!(path.exists());
        drop(lock);
        assert!(!path.exists());
        let again = DirLock::acquire(&path).unwrap();
        drop(again);
    }

    #[test]
    fn removes_leftovers_of_any_type() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        fs::write(&f, b"x").unwrap();
        remove_any(&f).unwrap();
        let d = dir.path().join("d/e");
        fs::create_dir_all(&d).unwrap();
        remove_any(&dir.path().join("d")).unwrap();
        std::os::unix::fs::symlink("/", dir.path().join("l")).unwrap();
        remove_any(&dir.path().join("l")).unwrap();
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        remove_any(&dir.path().join("absent")).unwrap();
    }
}
