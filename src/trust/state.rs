//! The receiving side's state directory: the highest sequence installed per bundle name, for
//! rollback protection. One small TOML file per name, replaced atomically under a lock.
use crate::error::{Check, Error, IoContext, Result};
use crate::format::time::Timestamp;
use serde::Deserialize;
use std::fs;
use std::path::{Path, PathBuf};

/// Default state directory when neither `--state` nor `AIRLOCK_STATE_DIR` is given.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/airlock";

/// The last installed release of a bundle name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Installed {
    /// Sequence.
    pub sequence: u64,
    /// Manifest sha256 (hex).
    pub manifest_sha256: String,
    /// When it was recorded (unix seconds).
    pub recorded: u64,
}

/// A state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    /// Where it is.
    pub path: PathBuf,
}

impl StateDir {
    /// The state directory from a flag, else `AIRLOCK_STATE_DIR`, else the default.
    pub fn resolve(flag: Option<&Path>) -> StateDir {
        let path = flag
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("AIRLOCK_STATE_DIR").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR));
        StateDir { path }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.path.join(format!("{name}.toml"))
    }

    /// The last installed release of `name`, if any.
    pub fn installed(&self, name: &str) -> Result<Option<Installed>> {
        let file = self.file(name);
        match fs::read_to_string(&file) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read state file", &file, e)),
            Ok(text) => toml::from_str(&text).map(Some).map_err(|e| {
                Error::config(&file, format!("corrupt state file: {e}"), "restore it from backup; deleting it disables rollback protection for this name")
            }),
        }
    }

    /// Refuses `sequence` unless it is above the last installed one, or the identical manifest.
    pub fn check_rollback(
        &self,
        bundle: &Path,
        name: &str,
        sequence: u64,
        manifest_hex: &str,
    ) -> Result<Option<Installed>> {
        let installed = self.installed(name)?;
        if let Some(i) = &installed
            && sequence <= i.sequence
            && i.manifest_sha256 != manifest_hex
        {
            return Err(Error::rejected(
                bundle,
                Check::Rollback,
                format!(
                    "`{name}` sequence {sequence} is not above sequence {} already installed (state {})",
                    i.sequence,
                    self.file(name).display()
                ),
            ));
        }
        Ok(installed)
    }

    /// Takes the state directory's lock (creating the directory if needed). Checking a sequence
    /// and recording the install that follows must happen under one lock, or two concurrent
    /// installs of one name could both pass the check and leave the lower one installed.
    pub fn lock(&self) -> Result<StateLock<'_>> {
        fs::create_dir_all(&self.path).ctx("create state directory", &self.path)?;
        let lock_path = self.path.join(".lock");
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .ctx("create", &lock_path)?;
        lock.lock().ctx("lock", &lock_path)?;
        Ok(StateLock {
            dir: self,
            _lock: lock,
        })
    }

    /// Records an installed release, raising the stored sequence only.
    pub fn record(&self, name: &str, sequence: u64, manifest_hex: &str) -> Result<()> {
        self.lock()?.record(name, sequence, manifest_hex)
    }
}

/// The state directory, locked: [`StateDir::lock`].
pub struct StateLock<'a> {
    dir: &'a StateDir,
    _lock: fs::File,
}

impl StateLock<'_> {
    /// [`StateDir::check_rollback`] under the lock.
    pub fn check_rollback(
        &self,
        bundle: &Path,
        name: &str,
        sequence: u64,
        manifest_hex: &str,
    ) -> Result<Option<Installed>> {
        self.dir
            .check_rollback(bundle, name, sequence, manifest_hex)
    }

    /// Records an installed release, raising the stored sequence only.
    pub fn record(&self, name: &str, sequence: u64, manifest_hex: &str) -> Result<()> {
        let dir = self.dir;
        if dir.installed(name)?.is_some_and(|i| i.sequence > sequence) {
            return Ok(());
        }
        let file = dir.file(name);
        let tmp = dir.path.join(format!(".{name}.toml.new"));
        let text = format!(
            "sequence = {sequence}\nmanifest_sha256 = \"{manifest_hex}\"\nrecorded = {}\n",
            Timestamp::now().unix()
        );
        fs::write(&tmp, text).ctx("write", &tmp)?;
        fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .ctx("sync", &tmp)?;
        fs::rename(&tmp, &file).ctx("replace", &file)?;
        crate::util::output::sync_dir(&dir.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollback_rules() {
        let dir = tempfile::tempdir().unwrap();
        let s = StateDir {
            path: dir.path().join("state"),
        };
        let b = Path::new("b");
        assert_eq!(s.check_rollback(b, "m", 1, "aa").unwrap(), None);
        s.record("m", 2, "bb").unwrap();
        assert!(
            s.check_rollback(b, "m", 2, "bb").is_ok(),
            "identical bundle again"
        );
        let err = s.check_rollback(b, "m", 2, "cc").unwrap_err();
        assert_eq!(err.check(), Some(Check::Rollback));
        assert!(s.check_rollback(b, "m", 1, "aa").is_err());
        assert!(s.check_rollback(b, "m", 3, "dd").is_ok());
        s.record("m", 1, "aa").unwrap();
        assert_eq!(
            s.installed("m").unwrap().unwrap().sequence,
            2,
            "never lowered"
        );
    }
}
