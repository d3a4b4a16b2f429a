//! OCI image layouts on disk (`docs/format.md` section 10): the reader a host runs on a layout it
//! pulled from a registry, which treats every byte as hostile, and the writer `export` fills.
//! Like the rest of `container/`, nothing here knows about keys or policy: [`open_layout`] yields
//! the *unverified* [`SignedManifest`] the artifact's proof layer carries, and `receive::oci`
//! authenticates it and compares the artifact with the one derived from it.
//!
//! Reading, in this order, each step bounded before it allocates:
//! 1. `oci-layout` and `index.json` (each at most 4 MiB), the entry picked by tag;
//! 2. the manifest blob (at most 4 MiB), which must hash to the index entry's digest and have
//!    its size (skopeo checks neither), then parsed strictly (`format::oci::parse_manifest`);
//! 3. the config blob (at most 4 MiB), digest and size;
//! 4. the proof layer (at most the 16 MiB manifest-frame cap), digest and size, then the strict
//!    manifest-frame tar walk ([`SignedManifest::from_tar`]).
//!
//! Layer blobs are only opened, later, by [`OpenedLayout::open_blob`]. The only paths built from
//! layout content are `blobs/sha256/HEX` of a parsed [`OciDigest`]; `blobs`, `sha256` and every
//! blob are opened relative to their parent with `O_NOFOLLOW` (and blobs `O_NONBLOCK`), and must
//! be a directory or a regular file: a symlink anywhere below the layout root is refused, so a
//! blob cannot be a link to a file outside that happens to hash right, to `/dev/zero`, or a FIFO.
use crate::container::SignedManifest;
use crate::error::{Check, Error, IoContext, Result};
use crate::format::digest::{HashAlg, sha256};
use crate::format::oci::{
    self, Descriptor, ImageManifest, MAX_JSON_BYTES, MAX_PROOF_BYTES, MEDIA_TYPE_DOC_TAR,
    MEDIA_TYPE_IMAGE_MANIFEST, OciDigest, clean,
};
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A layout opened far enough to read the selected artifact's manifest, config and proof layer.
pub struct OpenedLayout {
    /// The layout directory.
    pub dir: PathBuf,
    /// The `org.opencontainers.image.ref.name` of the selected `index.json` entry, if any.
    pub tag: Option<String>,
    /// The selected `index.json` entry.
    pub entry: Descriptor,
    /// The manifest bytes (they hash to `entry.digest`).
    pub manifest_bytes: Vec<u8>,
    /// The manifest, parsed.
    pub manifest: ImageManifest,
    /// The config bytes (they hash to `manifest.config.digest`).
    pub config_bytes: Vec<u8>,
    /// Index of the proof layer in `manifest.layers`.
    pub proof: usize,
    /// The signed manifest the proof layer carries, checked for form only.
    pub signed: SignedManifest,
    blobs: Dir,
}

impl OpenedLayout {
    /// Opens the blob `d` names (`what` says which, for messages), refusing anything but a
    /// regular file whose length is `d.size`.
    pub fn open_blob(&self, d: &Descriptor, what: &str) -> Result<File> {
        open_blob_in(&self.blobs, &self.dir, d, what)
    }

    /// How messages name layer `index` (position, digest, filepath).
    pub fn layer_name(&self, index: usize) -> String {
        self.manifest
            .layers
            .get(index)
            .map_or_else(|| format!("layer {index}"), |l| l.describe_layer(index))
    }
}

fn reject(dir: &Path, detail: impl Into<String>) -> Error {
    Error::rejected(dir, Check::OciLayout, detail)
}

/// Opens the layout at `dir` and selects one artifact: the entry tagged `tag`, or without a tag
/// the only entry. A missing directory, a directory that is no layout, an unknown tag or an
/// ambiguous choice are usage errors (exit 2); anything wrong with the layout's content is a
/// rejection (exit 1) naming what is wrong.
pub fn open_layout(dir: &Path, tag: Option<&str>) -> Result<OpenedLayout> {
    let root = Dir::open_root(dir)?;
    let (Some(layout_bytes), Some(index_bytes)) = (
        read_small(&root, dir, "oci-layout")?,
        read_small(&root, dir, "index.json")?,
    ) else {
        return Err(Error::config(
            dir,
            "is not an OCI image layout: it has no oci-layout or no index.json",
            "pass the directory `skopeo copy ... oci:DIR:TAG` or `airlock export --oci-layout DIR` wrote",
        ));
    };
    oci::parse_oci_layout(&layout_bytes).map_err(|e| reject(dir, e))?;
    let index = oci::parse_index(&index_bytes).map_err(|e| reject(dir, e))?;
    let position = select(dir, &index, tag)?;
    let (chosen_tag, entry) = index.manifests[position].clone();
    let entry_name = format!(
        "manifest {} ({})",
        entry.digest,
        chosen_tag
            .as_deref()
            .map_or("untagged".to_string(), |t| format!("tag \"{}\"", clean(t)))
    );
    if entry.media_type != MEDIA_TYPE_IMAGE_MANIFEST {
        return Err(reject(
            dir,
            format!(
                "index.json entry for {entry_name} has media type \"{}\": only image manifests are read",
                clean(&entry.media_type)
            ),
        ));
    }
    let blobs = Dir::open_blobs(&root, dir)?;
    let manifest_bytes = read_blob_whole(&blobs, dir, &entry, MAX_JSON_BYTES, &entry_name)?;
    let manifest = oci::parse_manifest(&manifest_bytes)
        .map_err(|e| reject(dir, format!("{entry_name}: {e}")))?;
    let config_bytes = read_blob_whole(
        &blobs,
        dir,
        &manifest.config,
        MAX_JSON_BYTES,
        &format!("config {}", manifest.config.digest),
    )?;
    let proofs: Vec<usize> = (0..manifest.layers.len())
        .filter(|&i| manifest.layers[i].is_proof())
        .collect();
    let proof = match proofs.as_slice() {
        [one] => *one,
        [] => {
            return Err(Error::rejected(
                dir,
                Check::OciArtifact,
                format!(
                    "{entry_name} is not an airlock artifact: no layer carries the {}: {} annotation (the signed manifest frame)",
                    oci::ANNOTATION_MANIFEST_FRAME,
                    oci::MANIFEST_FRAME_VERSION
                ),
            ));
        }
        [first, second, ..] => {
            return Err(Error::rejected(
                dir,
                Check::OciArtifact,
                format!(
                    "{entry_name} has two proof layers, {} and {}: an airlock artifact has exactly one",
                    manifest.layers[*first].describe_layer(*first),
                    manifest.layers[*second].describe_layer(*second)
                ),
            ));
        }
    };
    let proof_desc = &manifest.layers[proof];
    let proof_name = proof_desc.describe_layer(proof);
    if proof_desc.media_type != MEDIA_TYPE_DOC_TAR {
        return Err(Error::rejected(
            dir,
            Check::OciArtifact,
            format!(
                "{proof_name}: the proof layer has media type \"{}\", airlock writes {MEDIA_TYPE_DOC_TAR}",
                clean(&proof_desc.media_type)
            ),
        ));
    }
    let tar = read_blob_whole(&blobs, dir, proof_desc, MAX_PROOF_BYTES, &proof_name)?;
    let signed = SignedManifest::from_tar(dir, &tar)?;
    Ok(OpenedLayout {
        dir: dir.to_path_buf(),
        tag: chosen_tag,
        entry,
        manifest_bytes,
        manifest,
        config_bytes,
        proof,
        signed,
        blobs,
    })
}

/// The index entry to read: the one tagged `tag` (exactly one), or the only one.
fn select(dir: &Path, index: &oci::Index, tag: Option<&str>) -> Result<usize> {
    let tags = || {
        let mut t: Vec<String> = index
            .manifests
            .iter()
            .map(|(r, d)| {
                r.as_deref()
                    .map_or(format!("<untagged {}>", d.digest), clean)
            })
            .collect();
        t.sort();
        t.join(", ")
    };
    match tag {
        Some(t) => {
            let hits: Vec<usize> = (0..index.manifests.len())
                .filter(|&i| index.manifests[i].0.as_deref() == Some(t))
                .collect();
            match hits.as_slice() {
                [one] => Ok(*one),
                [] => Err(Error::config(
                    dir,
                    format!(
                        "no manifest is tagged \"{}\"; the layout holds: {}",
                        clean(t),
                        if index.manifests.is_empty() {
                            "nothing".to_string()
                        } else {
                            tags()
                        }
                    ),
                    "pass one of those with --tag",
                )),
                _ => Err(reject(
                    dir,
                    format!("index.json tags {} manifests \"{}\"", hits.len(), clean(t)),
                )),
            }
        }
        None => match index.manifests.len() {
            1 => Ok(0),
            0 => Err(reject(dir, "index.json lists no manifest")),
            _ => Err(Error::config(
                dir,
                format!("the layout holds several artifacts: {}", tags()),
                "pass --tag TAG to say which one",
            )),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Opening below the root without following links.

/// An open directory and the path it was opened as (for messages only; never re-resolved).
struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

impl Dir {
    /// The layout root, following links: that path is the caller's choice, not the layout's.
    fn open_root(path: &Path) -> Result<Dir> {
        match rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => Ok(Dir {
                fd,
                path: path.to_path_buf(),
            }),
            Err(Errno::NOENT) => Err(Error::config(
                path,
                "the OCI layout directory does not exist",
                "check the path (relative paths are taken from the current directory)",
            )),
            Err(Errno::NOTDIR) => Err(Error::config(
                path,
                "is not a directory: an OCI layout is a directory",
                "pass the directory that holds oci-layout, index.json and blobs/",
            )),
            Err(e) => Err(Error::io("open", path, e.into())),
        }
    }

    /// `blobs/sha256`, each component a real directory.
    fn open_blobs(root: &Dir, dir: &Path) -> Result<Dir> {
        let blobs = root.subdir(dir, "blobs")?;
        blobs.subdir(dir, "sha256")
    }

    fn subdir(&self, layout: &Path, name: &str) -> Result<Dir> {
        let path = self.path.join(name);
        match rustix::fs::openat(
            &self.fd,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => Ok(Dir { fd, path }),
            Err(e) => Err(self.open_error(layout, name, &path, e)),
        }
    }

    /// Opens the regular file `name` (one component), refusing links, FIFOs, devices and
    /// directories; returns it with its length.
    fn file(&self, layout: &Path, name: &str) -> Result<(File, u64)> {
        let path = self.path.join(name);
        // O_NONBLOCK: a FIFO would otherwise block the open until a writer appears.
        let fd = rustix::fs::openat(
            &self.fd,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| self.open_error(layout, name, &path, e))?;
        let st = rustix::fs::fstat(&fd).map_err(|e| Error::io("read", &path, e.into()))?;
        let kind = FileType::from_raw_mode(st.st_mode);
        if kind != FileType::RegularFile {
            return Err(reject(
                layout,
                format!(
                    "{} is a {}, not a regular file",
                    path.display(),
                    kind_name(kind)
                ),
            ));
        }
        let len = u64::try_from(st.st_size).unwrap_or(0);
        Ok((File::from(fd), len))
    }

    fn open_error(&self, layout: &Path, name: &str, path: &Path, e: Errno) -> Error {
        match e {
            Errno::NOENT => reject(layout, format!("{} is missing", path.display())),
            // O_NOFOLLOW on a link gives ELOOP, O_DIRECTORY on a non-directory ENOTDIR: say what
            // was found instead.
            Errno::LOOP | Errno::NOTDIR => {
                let kind = rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW)
                    .map(|st| kind_name(FileType::from_raw_mode(st.st_mode)))
                    .unwrap_or("file of another type");
                reject(
                    layout,
                    format!(
                        "{} is a {kind}; a layout's files and directories must be real (links are refused)",
                        path.display()
                    ),
                )
            }
            other => Error::io("open", path, other.into()),
        }
    }
}

fn kind_name(kind: FileType) -> &'static str {
    match kind {
        FileType::RegularFile => "regular file",
        FileType::Directory => "directory",
        FileType::Symlink => "symbolic link",
        FileType::Fifo => "FIFO",
        FileType::Socket => "socket",
        FileType::CharacterDevice | FileType::BlockDevice => "device",
        FileType::Unknown => "file of unknown type",
    }
}

/// Reads `oci-layout` or `index.json` whole, at most [`MAX_JSON_BYTES`]; `None` if absent.
fn read_small(root: &Dir, dir: &Path, name: &str) -> Result<Option<Vec<u8>>> {
    if matches!(
        rustix::fs::statat(&root.fd, name, AtFlags::SYMLINK_NOFOLLOW),
        Err(Errno::NOENT)
    ) {
        return Ok(None);
    }
    let (file, len) = root.file(dir, name)?;
    if len > MAX_JSON_BYTES {
        return Err(reject(
            dir,
            format!("{name} is {len} bytes, over the cap of {MAX_JSON_BYTES}"),
        ));
    }
    let mut buf = Vec::new();
    file.take(MAX_JSON_BYTES + 1)
        .read_to_end(&mut buf)
        .ctx("read", &root.path.join(name))?;
    if buf.len() as u64 > MAX_JSON_BYTES {
        return Err(reject(
            dir,
            format!("{name} grew past the cap of {MAX_JSON_BYTES} bytes while being read"),
        ));
    }
    Ok(Some(buf))
}

fn open_blob_in(blobs: &Dir, dir: &Path, d: &Descriptor, what: &str) -> Result<File> {
    // `d.digest` is a parsed OciDigest: its hex is exactly one path component of [0-9a-f].
    let (file, len) = blobs.file(dir, &d.digest.hex()).map_err(|e| match e {
        Error::Rejected { detail, .. } => reject(dir, format!("{what}: {detail}")),
        other => other,
    })?;
    if len != d.size {
        return Err(reject(
            dir,
            format!(
                "{what}: the blob is {len} bytes, its descriptor says {}",
                d.size
            ),
        ));
    }
    Ok(file)
}

/// Reads a small blob whole (`cap` bounds its declared size before anything is allocated) and
/// checks it against its descriptor's size and digest.
fn read_blob_whole(
    blobs: &Dir,
    dir: &Path,
    d: &Descriptor,
    cap: u64,
    what: &str,
) -> Result<Vec<u8>> {
    if d.size > cap {
        return Err(reject(
            dir,
            format!(
                "{what}: its descriptor says {} bytes, over the cap of {cap}",
                d.size
            ),
        ));
    }
    let file = open_blob_in(blobs, dir, d, what)?;
    let mut buf = Vec::with_capacity(d.size as usize);
    file.take(d.size + 1)
        .read_to_end(&mut buf)
        .ctx("read", &blobs.path.join(d.digest.hex()))?;
    if buf.len() as u64 != d.size {
        return Err(reject(
            dir,
            format!(
                "{what}: read {} bytes, its descriptor says {}",
                buf.len(),
                d.size
            ),
        ));
    }
    let got = OciDigest(sha256(&buf));
    if got != d.digest {
        return Err(reject(
            dir,
            format!("{what}: the blob hashes to {got}, not to the digest it is stored under"),
        ));
    }
    Ok(buf)
}

// ---------------------------------------------------------------------------------------------
// Writing.

/// File and directory modes of an exported layout, whatever the umask.
const FILE_MODE: u32 = 0o644;
const DIR_MODE: u32 = 0o755;

/// Fills a fresh staging directory with a layout: blobs first, `oci-layout` and `index.json`
/// last ([`LayoutWriter::finish`]). The caller renames the staging directory into place, and
/// removes it after any error (a staging directory is private: a blob there is not trusted
/// until the whole directory is renamed).
pub struct LayoutWriter {
    root: PathBuf,
    blobs: PathBuf,
}

impl LayoutWriter {
    /// Creates `staging` (which must not exist) and `blobs/sha256` in it.
    pub fn create(staging: &Path) -> Result<LayoutWriter> {
        let blobs = staging.join("blobs").join("sha256");
        for d in [staging.to_path_buf(), staging.join("blobs"), blobs.clone()] {
            fs::create_dir(&d).ctx("create directory", &d)?;
            fs::set_permissions(&d, fs::Permissions::from_mode(DIR_MODE)).ctx("set mode of", &d)?;
        }
        Ok(LayoutWriter {
            root: staging.to_path_buf(),
            blobs,
        })
    }

    /// Where the blob `digest` goes.
    pub fn blob_path(&self, digest: &OciDigest) -> PathBuf {
        self.blobs.join(digest.hex())
    }

    /// Starts the blob `digest`, unless it was already written (the same content twice); the
    /// caller must write exactly that content and then [`LayoutWriter::finish_blob`] it.
    pub fn create_blob(&self, digest: &OciDigest) -> Result<Option<File>> {
        let path = self.blob_path(digest);
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(f) => Ok(Some(f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(None),
            Err(e) => Err(Error::io("create", &path, e)),
        }
    }

    /// Sets the blob's mode; the caller fsyncs it (or hands it to a thread that does).
    pub fn finish_blob(&self, file: &File, digest: &OciDigest) -> Result<()> {
        file.set_permissions(fs::Permissions::from_mode(FILE_MODE))
            .ctx("set mode of", &self.blob_path(digest))
    }

    /// Sets the mode of the blob being written at `path` (named or not yet named).
    pub fn finish_blob_at(&self, file: &File, path: &Path) -> Result<()> {
        file.set_permissions(fs::Permissions::from_mode(FILE_MODE))
            .ctx("set mode of", path)
    }

    /// Writes a small blob whole (a manifest, a config, the proof tar) and fsyncs it.
    pub fn put(&self, bytes: &[u8]) -> Result<OciDigest> {
        let digest = OciDigest(sha256(bytes));
        if let Some(mut f) = self.create_blob(&digest)? {
            let path = self.blob_path(&digest);
            f.write_all(bytes).ctx("write", &path)?;
            self.finish_blob(&f, &digest)?;
            f.sync_all().ctx("sync", &path)?;
        }
        Ok(digest)
    }

    /// Starts a blob whose digest is known only once it is written (a `cnsa2` bundle's file,
    /// whose manifest records SHA-384): a file `.tmp-N` in the blob directory, which
    /// [`LayoutWriter::name_blob`] renames once its sha256 is known. `n` must be unique in this
    /// writer.
    pub fn create_unnamed_blob(&self, n: usize) -> Result<(File, PathBuf)> {
        let path = self.blobs.join(format!(".tmp-{n}"));
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .ctx("create", &path)?;
        Ok((file, path))
    }

    /// Names the blob written at `tmp` (by [`LayoutWriter::create_unnamed_blob`]) by its digest.
    /// The same content written twice keeps the first copy.
    pub fn name_blob(&self, tmp: &Path, digest: &OciDigest) -> Result<()> {
        let path = self.blob_path(digest);
        if path.exists() {
            return fs::remove_file(tmp).ctx("remove", tmp);
        }
        fs::rename(tmp, &path).ctx("rename", tmp)
    }

    /// Writes `oci-layout` and `index.json`, then fsyncs the directories, so the layout is
    /// complete and durable before the caller renames it into place.
    pub fn finish(self, index: &[u8]) -> Result<()> {
        for (name, bytes) in [
            ("oci-layout", oci::oci_layout_json()),
            ("index.json", index.to_vec()),
        ] {
            let path = self.root.join(name);
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .ctx("create", &path)?;
            f.write_all(&bytes).ctx("write", &path)?;
            f.set_permissions(fs::Permissions::from_mode(FILE_MODE))
                .ctx("set mode of", &path)?;
            f.sync_all().ctx("sync", &path)?;
        }
        for d in [
            self.blobs.clone(),
            self.root.join("blobs"),
            self.root.clone(),
        ] {
            File::open(&d).and_then(|f| f.sync_all()).ctx("sync", &d)?;
        }
        Ok(())
    }
}

/// What an exported layout holds: the two top-level files' bytes and every blob's size.
pub struct ExpectedLayout {
    /// `index.json`.
    pub index: Vec<u8>,
    /// Every blob, by digest, with its size.
    pub blobs: BTreeMap<OciDigest, u64>,
}

/// Whether `dir` holds exactly `expected` as `LayoutWriter` writes it: `oci-layout`,
/// `index.json`, `blobs/sha256/` with exactly the expected blobs (each hashed), the modes airlock
/// sets, and nothing else (no links, no other files). Structure first, then content.
pub fn layout_matches(dir: &Path, expected: &ExpectedLayout) -> Result<bool> {
    let mut blobs_seen = 0usize;
    for entry in walkdir::WalkDir::new(dir).min_depth(1).follow_links(false) {
        let entry = entry.map_err(|e| Error::io("list", dir, e.into()))?;
        let rel = entry.path().strip_prefix(dir).unwrap_or(entry.path());
        let meta = entry.path().symlink_metadata().ctx("read", entry.path())?;
        let mode = meta.mode() & 0o7777;
        let ok = match rel.to_str() {
            Some("blobs") | Some("blobs/sha256") => meta.is_dir() && mode == DIR_MODE,
            Some("oci-layout") | Some("index.json") => meta.is_file() && mode == FILE_MODE,
            Some(other) => match other
                .strip_prefix("blobs/sha256/")
                .map(OciDigest::parse_hex)
            {
                Some(Some(d)) => {
                    blobs_seen += 1;
                    meta.is_file()
                        && mode == FILE_MODE
                        && expected.blobs.get(&d) == Some(&meta.len())
                }
                _ => false,
            },
            None => false,
        };
        if !ok {
            return Ok(false);
        }
    }
    if blobs_seen != expected.blobs.len() {
        return Ok(false);
    }
    let same = |name: &str, want: &[u8]| -> Result<bool> {
        let path = dir.join(name);
        match fs::read(&path) {
            Ok(b) => Ok(b == want),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io("read", &path, e)),
        }
    };
    if !same("oci-layout", &oci::oci_layout_json())? || !same("index.json", &expected.index)? {
        return Ok(false);
    }
    for (digest, size) in &expected.blobs {
        let path = dir.join("blobs/sha256").join(digest.hex());
        let (got, len) = crate::util::fs::hash_file(&path, HashAlg::Sha256)?;
        if OciDigest::from_digest(&got) != Some(*digest) || len != *size {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index_for(digest: OciDigest, size: u64) -> Vec<u8> {
        oci::index_json(&[(
            "a:1".into(),
            Descriptor {
                media_type: MEDIA_TYPE_IMAGE_MANIFEST.into(),
                digest,
                size,
                annotations: BTreeMap::new(),
            },
        )])
        .unwrap()
    }

    #[test]
    fn a_written_layout_matches_only_itself() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("layout");
        let w = LayoutWriter::create(&dir).unwrap();
        let d = w.put(b"{}").unwrap();
        assert_eq!(
            w.put(b"{}").unwrap(),
            d,
            "the same content twice is one blob"
        );
        let index = index_for(d, 2);
        w.finish(&index).unwrap();
        let expected = ExpectedLayout {
            index: index.clone(),
            blobs: BTreeMap::from([(d, 2)]),
        };
        assert!(layout_matches(&dir, &expected).unwrap());
        let blob = dir.join("blobs/sha256").join(d.hex());
        fs::set_permissions(&blob, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(!layout_matches(&dir, &expected).unwrap(), "another mode");
        fs::set_permissions(&blob, fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(&blob, b"[]").unwrap();
        assert!(!layout_matches(&dir, &expected).unwrap(), "other content");
        fs::write(&blob, b"{}").unwrap();
        fs::write(dir.join("extra"), b"x").unwrap();
        assert!(!layout_matches(&dir, &expected).unwrap(), "an extra file");
        fs::remove_file(dir.join("extra")).unwrap();
        assert!(layout_matches(&dir, &expected).unwrap());
    }

    #[test]
    fn what_is_not_a_layout_is_a_usage_error_and_a_bad_layout_a_rejection() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = open_layout(&tmp.path().join("absent"), None).err().unwrap();
        assert_eq!(missing.exit_code(), 2, "{missing}");
        let empty = open_layout(tmp.path(), None).err().unwrap();
        assert_eq!(empty.exit_code(), 2, "{empty}");
        assert!(
            empty.to_string().contains("not an OCI image layout"),
            "{empty}"
        );
        fs::write(
            tmp.path().join("oci-layout"),
            br#"{"imageLayoutVersion":"2.0.0"}"#,
        )
        .unwrap();
        fs::write(
            tmp.path().join("index.json"),
            br#"{"schemaVersion":2,"manifests":[]}"#,
        )
        .unwrap();
        let bad = open_layout(tmp.path(), None).err().unwrap();
        assert_eq!(bad.check(), Some(Check::OciLayout), "{bad}");
        assert!(bad.to_string().contains("2.0.0"), "{bad}");
        fs::write(tmp.path().join("oci-layout"), oci::oci_layout_json()).unwrap();
        let none = open_layout(tmp.path(), None).err().unwrap();
        assert!(none.to_string().contains("lists no manifest"), "{none}");
        let tag = open_layout(tmp.path(), Some("x:1")).err().unwrap();
        assert_eq!(tag.exit_code(), 2, "{tag}");
    }

    #[test]
    fn a_fifo_or_a_link_below_the_root_is_refused_without_blocking() {
        let tmp = tempfile::tempdir().unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            tmp.path().join("fifo"),
            FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        std::os::unix::fs::symlink("/etc/hostname", tmp.path().join("link")).unwrap();
        let root = Dir::open_root(tmp.path()).unwrap();
        let fifo = root.file(tmp.path(), "fifo").err().unwrap();
        assert!(fifo.to_string().contains("FIFO"), "{fifo}");
        let link = root.file(tmp.path(), "link").err().unwrap();
        assert!(link.to_string().contains("symbolic link"), "{link}");
        fs::create_dir(tmp.path().join("real")).unwrap();
        std::os::unix::fs::symlink(tmp.path().join("real"), tmp.path().join("blobs")).unwrap();
        let dir = root.subdir(tmp.path(), "blobs").err().unwrap();
        assert!(dir.to_string().contains("symbolic link"), "{dir}");
    }
}
