//! The packer's sources: listing an artifact's files safely (no special files, no symlinks leaving
//! the root), the tree digest (and OMS root digest) `airlock digest` prints, and [`PayloadStream`], which produces the
//! payload tar stream from the source files, hashing each file in the one pass that reads it.
use crate::error::{Error, IoContext, Result};
use crate::format;
use crate::format::Mode;
use crate::format::digest::{Digest, HashAlg, Hasher};
use crate::format::manifest::FileEntry;
use crate::format::manifest::tree_digest;
use std::fs;
use std::fs::File;
use std::io;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

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
    let meta = fs::metadata(root).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => Error::config(
            root,
            "does not exist",
            "check the path (relative paths are taken from the current directory; a spec's artifact paths from the spec's directory)",
        ),
        _ => Error::io("read", root, e),
    })?;
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

pub use crate::util::fs::{CHUNK, hash_file};

/// What `airlock digest` prints for a file or directory, hashing every file once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeDigests {
    /// The tree digest (`docs/format.md` section 6): with an OMS signature, of the tree as a model
    /// artifact carrying it as `model.sig`, which is the digest a policy approves.
    pub tree_digest: Digest,
    /// For a directory: the OMS root digest of its files as `model_signing sign key` computes it
    /// (git paths and a root `model.sig` left out), and how many files it covers.
    pub oms_root: Option<([u8; 32], usize)>,
}

/// The digests of `root` in `alg` (the suite's hash), with `oms_signature` added as `model.sig`
/// exactly as `pack` adds a model artifact's `oms_signature`. The OMS root digest is SHA-256
/// whatever the suite (it is what `model_signing` computes), so under another hash each file is
/// hashed with both in its one read.
pub fn tree_digests_of(
    root: &Path,
    oms_signature: Option<&Path>,
    alg: HashAlg,
) -> Result<TreeDigests> {
    let mut files = collect(root)?;
    crate::pack::provenance::add_signature(
        &mut files,
        &crate::pack::spec::ArtifactSpec {
            kind: crate::format::manifest::Kind::Model,
            name: root.display().to_string(),
            source: root.to_path_buf(),
            oms_signature: oms_signature.map(Path::to_path_buf),
        },
    )?;
    files.sort_by(|a, b| a.relative.as_bytes().cmp(b.relative.as_bytes()));
    let is_dir = fs::metadata(root).ctx("read", root)?.is_dir();
    let algs: &[HashAlg] = if is_dir && alg != HashAlg::Sha256 {
        &[alg, HashAlg::Sha256]
    } else {
        &[alg]
    };
    let mut entries = Vec::with_capacity(files.len());
    let mut sha256s: Vec<(String, [u8; 32])> = Vec::new();
    for f in &files {
        let (digests, size) = crate::util::fs::hash_file_with(&f.source, algs)?;
        // `algs` is never empty: the suite's digest first, SHA-256 last (the same one in classic).
        let (suite_digest, sha256) = (digests[0], digests[digests.len() - 1]);
        if is_dir {
            let bytes: [u8; 32] = sha256
                .as_bytes()
                .try_into()
                .map_err(|_| Error::Internal("a SHA-256 digest is 32 bytes".into()))?;
            sha256s.push((f.relative.to_string(), bytes));
        }
        entries.push((f.relative.as_str(), size, f.mode, suite_digest));
    }
    Ok(TreeDigests {
        tree_digest: tree_digest(alg, entries),
        oms_root: is_dir.then(|| crate::trust::oms::tree_root_digest(&sha256s)),
    })
}

/// A file to pack: its manifest entry (digest filled in as it is read) and where to read it.
pub struct PackFile {
    /// The manifest entry; `digest` is set when the file has been streamed.
    pub entry: FileEntry,
    /// Source path.
    pub source: PathBuf,
}

enum StreamState {
    Header {
        bytes: Box<[u8; 512]>,
        pos: usize,
    },
    Content {
        file: File,
        remaining: u64,
        hasher: Hasher,
    },
    Padding {
        remaining: u64,
    },
    Next,
}

/// The payload tar stream of `files`, read once from disk; file digests are recorded as it goes.
pub struct PayloadStream<'a> {
    files: &'a mut [PackFile],
    mtime: u64,
    alg: HashAlg,
    index: usize,
    state: StreamState,
}

impl<'a> PayloadStream<'a> {
    /// A stream over `files` (already sorted) with entry mtime `mtime`, hashing with `alg`.
    pub fn new(files: &'a mut [PackFile], mtime: u64, alg: HashAlg) -> Self {
        PayloadStream {
            files,
            mtime,
            alg,
            index: 0,
            state: StreamState::Next,
        }
    }

    fn advance(&mut self) -> Result<bool> {
        let state = std::mem::replace(&mut self.state, StreamState::Next);
        self.state = match state {
            StreamState::Next => {
                let Some(f) = self.files.get(self.index) else {
                    return Ok(false);
                };
                let header =
                    format::canonical_header(&f.entry.path, f.entry.size, f.entry.mode, self.mtime);
                StreamState::Header {
                    bytes: Box::new(header),
                    pos: 0,
                }
            }
            StreamState::Header { .. } => {
                let f = &self.files[self.index];
                let file = crate::util::fs::open_input(&f.source, "artifact file")?;
                let len = file.metadata().ctx("read", &f.source)?.len();
                if len != f.entry.size {
                    return Err(changed(&f.source));
                }
                StreamState::Content {
                    file,
                    remaining: f.entry.size,
                    hasher: self.alg.hasher(),
                }
            }
            StreamState::Content { file, hasher, .. } => {
                let f = &mut self.files[self.index];
                if file.metadata().ctx("read", &f.source)?.len() != f.entry.size {
                    return Err(changed(&f.source));
                }
                f.entry.digest = hasher.finish();
                StreamState::Padding {
                    remaining: format::padding(f.entry.size),
                }
            }
            StreamState::Padding { .. } => {
                self.index += 1;
                StreamState::Next
            }
        };
        Ok(true)
    }

    fn read_inner(&mut self, buf: &mut [u8]) -> Result<usize> {
        loop {
            match &mut self.state {
                StreamState::Header { bytes, pos } if *pos < 512 => {
                    let n = buf.len().min(512 - *pos);
                    buf[..n].copy_from_slice(&bytes[*pos..*pos + n]);
                    *pos += n;
                    return Ok(n);
                }
                StreamState::Content {
                    file,
                    remaining,
                    hasher,
                } if *remaining > 0 => {
                    let want = buf
                        .len()
                        .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                    let source = &self.files[self.index].source;
                    let n = file.read(&mut buf[..want]).ctx("read", source)?;
                    if n == 0 {
                        return Err(changed(source));
                    }
                    hasher.update(&buf[..n]);
                    *remaining -= n as u64;
                    return Ok(n);
                }
                StreamState::Padding { remaining } if *remaining > 0 => {
                    let n = buf.len().min(*remaining as usize);
                    buf[..n].fill(0);
                    *remaining -= n as u64;
                    return Ok(n);
                }
                _ => {
                    if !self.advance()? {
                        return Ok(0);
                    }
                }
            }
        }
    }
}

fn changed(path: &Path) -> Error {
    Error::config(
        path,
        "the file changed size while it was being packed",
        "stop whatever is writing to the artifact directory, then pack again",
    )
}

impl Read for PayloadStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.read_inner(buf).map_err(io::Error::other)
    }
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
        let d1 = tree_digests_of(&dir.path().join("m"), None, HashAlg::Sha256)
            .unwrap()
            .tree_digest;
        filetime_touch(&dir.path().join("m/b.json"));
        assert_eq!(
            d1,
            tree_digests_of(&dir.path().join("m"), None, HashAlg::Sha256)
                .unwrap()
                .tree_digest
        );
        fs::set_permissions(
            dir.path().join("m/b.json"),
            fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        assert_ne!(
            d1,
            tree_digests_of(&dir.path().join("m"), None, HashAlg::Sha256)
                .unwrap()
                .tree_digest
        );
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
