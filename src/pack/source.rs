//! Source trees: listing an artifact's files safely (no special files, no symlinks leaving the
//! root), hashing files in bounded chunks, and the tree digest `airlock digest` prints.
use crate::error::{Error, IoContext, Result};
use crate::format::Mode;
use crate::format::digest::Digest;
use crate::format::manifest::tree_digest;
use sha2::{Digest as _, Sha256};
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Read buffer size for hashing and packing.
pub const CHUNK: usize = 1 << 20;

/// One regular file of an artifact.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path below the artifact root, `/`-separated (the file name for a single-file artifact).
    pub relative: String,
    /// Where to read it.
    pub source: PathBuf,
    /// Size when listed.
    pub size: u64,
    /// Normalised mode.
    pub mode: Mode,
}

const SOURCE_HINT: &str = "bundle only regular files; replace the link or special file with a regular file, or move it out of the artifact";

/// Lists the regular files of `root` (a file or directory), sorted bytewise by relative path.
/// Symlinks are followed only when they stay inside the root and reach a regular file.
pub fn collect(root: &Path) -> Result<Vec<SourceFile>> {
    let meta = fs::metadata(root).ctx("read", root)?;
    if meta.is_file() {
        let name = root
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| Error::config(root, "the file name is not UTF-8", SOURCE_HINT))?;
        return Ok(vec![SourceFile {
            relative: name.to_string(),
            source: root.to_path_buf(),
            size: meta.len(),
            mode: Mode::from_source_bits(meta.permissions().mode()),
        }]);
    }
    if !meta.is_dir() {
        return Err(Error::config(
            root,
            "is neither a regular file nor a directory",
            SOURCE_HINT,
        ));
    }
    let canonical_root = fs::canonicalize(root).ctx("resolve", root)?;
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(root).follow_links(false) {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(root).to_path_buf();
            match e.into_io_error() {
                Some(io) => Error::io("list", &path, io),
                None => Error::config(&path, "directory loop", SOURCE_HINT),
            }
        })?;
        let path = entry.path();
        let file_type = entry.file_type();
        if file_type.is_dir() {
            continue;
        }
        let meta = if file_type.is_symlink() {
            let target = fs::canonicalize(path).ctx("resolve symlink", path)?;
            if !target.starts_with(&canonical_root) {
                return Err(Error::config(
                    path,
                    format!(
                        "symlink leaves the artifact root (points to {})",
                        target.display()
                    ),
                    SOURCE_HINT,
                ));
            }
            let meta = fs::metadata(&target).ctx("read", &target)?;
            if !meta.is_file() {
                return Err(Error::config(
                    path,
                    "symlink does not point to a regular file",
                    SOURCE_HINT,
                ));
            }
            meta
        } else if file_type.is_file() {
            entry
                .metadata()
                .map_err(|e| Error::io("read", path, e.into()))?
        } else {
            return Err(Error::config(
                path,
                "is a special file (device, FIFO or socket)",
                SOURCE_HINT,
            ));
        };
        let relative = path
            .strip_prefix(root)
            .expect("walkdir yields paths below its root")
            .to_str()
            .ok_or_else(|| Error::config(path, "the path is not UTF-8", SOURCE_HINT))?
            .to_string();
        files.push(SourceFile {
            relative,
            source: path.to_path_buf(),
            size: meta.len(),
            mode: Mode::from_source_bits(meta.permissions().mode()),
        });
    }
    files.sort_by(|a, b| a.relative.as_bytes().cmp(b.relative.as_bytes()));
    Ok(files)
}

/// sha256 and length of a file, read in bounded chunks.
pub fn hash_file(path: &Path) -> Result<(Digest, u64)> {
    let mut file = crate::util::fs::open_input(path, "file")?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf).ctx("read", path)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hasher.finalize().into(), total))
}

/// The tree digest of a file or directory, as a policy approves it.
pub fn tree_digest_of(root: &Path) -> Result<Digest> {
    let files = collect(root)?;
    let mut entries = Vec::with_capacity(files.len());
    for f in &files {
        let (digest, size) = hash_file(&f.source)?;
        entries.push((f.relative.as_str(), size, f.mode, digest));
    }
    Ok(tree_digest(entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_ignores_mtimes_and_walk_order_but_not_content_or_mode() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("m/sub")).unwrap();
        fs::write(dir.path().join("m/b.json"), "b").unwrap();
        fs::write(dir.path().join("m/sub/a.json"), "a").unwrap();
        let d1 = tree_digest_of(&dir.path().join("m")).unwrap();
        filetime_touch(&dir.path().join("m/b.json"));
        assert_eq!(d1, tree_digest_of(&dir.path().join("m")).unwrap());
        fs::set_permissions(
            dir.path().join("m/b.json"),
            fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        assert_ne!(d1, tree_digest_of(&dir.path().join("m")).unwrap());
    }

    fn filetime_touch(p: &Path) {
        let f = fs::File::options().write(true).open(p).unwrap();
        f.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
    }

    #[test]
    fn symlinks_leaving_the_root_and_fifos_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("m");
        fs::create_dir(&root).unwrap();
        fs::write(dir.path().join("secret"), "x").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), root.join("link")).unwrap();
        let err = collect(&root).unwrap_err().to_string();
        assert!(err.contains("leaves the artifact root"), "{err}");
        fs::remove_file(root.join("link")).unwrap();
        fs::write(root.join("real"), "r").unwrap();
        std::os::unix::fs::symlink("real", root.join("inside")).unwrap();
        let files = collect(&root).unwrap();
        assert_eq!(files.len(), 2);
    }
}
