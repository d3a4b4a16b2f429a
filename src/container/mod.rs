//! `container/`: the three files a bundle travels as — a single-file bundle, a set of volumes, a
//! delta against an older bundle — read and written here and nowhere else (`docs/format.md`
//! sections 1 and 7). Opening any of them yields the same thing: the *unverified* signed manifest
//! it carries ([`SignedManifest`]) and, for the payload, a [`FrameSource`] whose every frame is
//! checked against that manifest before it is decoded. Nothing here knows about keys or policy:
//! `trust::authenticate` decides whether a [`SignedManifest`] may be believed.
//!
//! [`open`] is the one place that tells the kinds apart for commands that read one file
//! (`inspect`, `diff`, `verify`); [`Payload::open`] for commands that need the whole payload
//! (`unpack`, `export`): a bundle, a volume set, or a delta with its base. Both word their
//! refusals of the wrong kind of file the same way everywhere.
pub mod bundle;
pub mod delta;
pub mod payload;
pub mod volume;
pub(crate) mod write;

pub use bundle::OpenedBundle;
pub use delta::OpenedDelta;
pub use payload::FrameSource;
pub use volume::OpenedVolume;

use crate::error::{Check, Error, IoContext, Result};
use crate::format::digest::{Digest, sha256};
use crate::format::footer::{FOOTER_LEN, skippable_header};
use crate::format::manifest::Suite;
use crate::format::manifest::{Manifest, is_governed};
use crate::format::manifest_frame::ManifestFrame;
use crate::format::signature::ParsedSignature;
use crate::format::signature::SigAlg;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// What kind of airlock file a path holds, judged from its last bytes only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Container {
    /// A single-file bundle (or anything without a volume or delta footer: the bundle reader
    /// judges it, so its precise footer messages apply).
    Bundle,
    /// One volume of a split bundle.
    Volume,
    /// A delta bundle.
    Delta,
}

impl Container {
    /// "bundle", "volume", "delta".
    pub fn noun(self) -> &'static str {
        match self {
            Container::Bundle => "bundle",
            Container::Volume => "volume",
            Container::Delta => "delta",
        }
    }
}

/// Reads the tail of `path` and says which footer it ends with (`docs/format.md` 7.1).
pub fn sniff(path: &Path) -> Result<Container> {
    refuse_stdin(path)?;
    let file = crate::util::fs::open_input(path, "bundle")?;
    let len = file.metadata().ctx("read", path)?.len();
    let tag_at = |footer_len: u64| -> Result<Option<[u8; 8]>> {
        if len < footer_len {
            return Ok(None);
        }
        let mut head = [0u8; 16];
        file.read_exact_at(&mut head, len - footer_len)
            .ctx("read", path)?;
        Ok((head[0..8] == skippable_header((footer_len - 8) as u32))
            .then(|| head[8..16].try_into().expect("8 bytes")))
    };
    if tag_at(FOOTER_LEN)?.is_some_and(|t| &t == crate::format::footer::BUNDLE_TAG) {
        return Ok(Container::Bundle);
    }
    if tag_at(volume::VOLUME_FOOTER_LEN)?.is_some_and(|t| &t == volume::VOLUME_TAG) {
        return Ok(Container::Volume);
    }
    if tag_at(delta::DELTA_FOOTER_LEN)?.is_some_and(|t| &t == delta::DELTA_TAG) {
        return Ok(Container::Delta);
    }
    Ok(Container::Bundle)
}

/// Refuses `-`: every container is read from its end first, which needs a seekable file.
pub(crate) fn refuse_stdin(path: &Path) -> Result<()> {
    if path.as_os_str() == "-" {
        return Err(Error::config(
            "-",
            "reading a bundle from standard input is not supported: airlock checks the manifest at the end of the file before anything else, which needs a seekable file",
            "save the bundle to a file first, then pass its path",
        ));
    }
    Ok(())
}

/// A manifest frame read from any container and checked for form: bounded decompression, the
/// canonical manifest, the checksum file, the copies of policy and safeguard files (bytes against
/// the manifest's digests), and signature files that parse and name this manifest. Not yet
/// checked for trust: `trust::authenticate` does that.
#[derive(Clone)]
pub struct SignedManifest {
    /// The file it was read from (a bundle, volume or delta).
    pub path: PathBuf,
    /// The compressed manifest frame, byte for byte as stored.
    pub compressed: Vec<u8>,
    /// The decoded manifest frame.
    pub frame: ManifestFrame,
    /// The parsed manifest.
    pub manifest: Manifest,
    /// SHA-256 of the manifest bytes, whatever the suite: the manifest's identifier in volume and
    /// delta footers, the state directory and reports.
    pub manifest_sha256: [u8; 32],
    /// The suite's digest of the manifest bytes: what every signature's statement binds.
    pub manifest_digest: Digest,
    /// Signature files, parsed and bound to this manifest.
    pub signatures: Vec<ParsedSignature>,
}

impl SignedManifest {
    /// Decodes the manifest frame `compressed` read from `path`, applying every check of
    /// `docs/format.md` 1.2, 3, 4 and 5 that needs no trust file.
    pub fn decode(path: &Path, compressed: Vec<u8>) -> Result<SignedManifest> {
        let reject = |check: Check, detail: String| Error::rejected(path, check, detail);
        let frame =
            ManifestFrame::decode(&compressed).map_err(|e| reject(Check::ManifestFrame, e))?;
        let manifest = Manifest::parse(&frame.manifest).map_err(|e| reject(Check::Manifest, e))?;
        if manifest.bundle.mtime != frame.mtime {
            return Err(reject(
                Check::ManifestFrame,
                "the manifest frame's entries do not carry the manifest's mtime".into(),
            ));
        }
        let suite = manifest.layout.suite;
        if frame.sums_alg != suite.hash() || frame.sums != manifest.checksum_file().as_bytes() {
            return Err(reject(
                Check::Checksums,
                format!(
                    "{} differs from the manifest's file list",
                    suite.sums_path()
                ),
            ));
        }
        check_copies(&manifest, &frame).map_err(|e| reject(Check::ManifestFrame, e))?;
        SignedManifest::assemble(path, compressed, frame, manifest)
            .map_err(|e| reject(Check::Signature, e))
    }

    /// The signed manifest of a frame and the manifest it holds: the manifest's sha256, and its
    /// signature files parsed and bound to it (the error names the signature file). What
    /// [`SignedManifest::decode`] ends with, and what `pack` builds from the frame it just wrote.
    pub(crate) fn assemble(
        path: &Path,
        compressed: Vec<u8>,
        frame: ManifestFrame,
        manifest: Manifest,
    ) -> std::result::Result<SignedManifest, String> {
        let manifest_sha256 = sha256(&frame.manifest);
        let manifest_digest = manifest.digest_of(&frame.manifest);
        let signatures = frame
            .signatures
            .iter()
            .map(|(name, bytes)| {
                ParsedSignature::parse(name, bytes, &manifest.bundle, &manifest_digest)
            })
            .collect::<std::result::Result<Vec<_>, String>>()?;
        // ML-DSA signatures bind a SHA-384 manifest digest: they belong to the cnsa2 suite only.
        let suite = manifest.layout.suite;
        if let Some(s) = signatures
            .iter()
            .find(|s| s.algorithm == SigAlg::MlDsa87 && suite != Suite::Cnsa2)
        {
            return Err(format!(
                "{}: an ML-DSA-87 signature in a {} bundle; post-quantum signatures are carried only by cnsa2 (SHA-384) bundles",
                s.file_name,
                suite.name()
            ));
        }
        Ok(SignedManifest {
            path: path.to_path_buf(),
            compressed,
            frame,
            manifest,
            manifest_sha256,
            manifest_digest,
            signatures,
        })
    }

    /// Decodes the manifest frame at `offset..+len` of `file` and requires the manifest sha256 a
    /// volume or delta footer names (`container` says which, for the message).
    pub(crate) fn read_carried(
        path: &Path,
        file: &std::fs::File,
        offset: u64,
        len: u64,
        expected_sha256: &[u8; 32],
        container: &str,
    ) -> Result<SignedManifest> {
        let signed = SignedManifest::decode(path, read_region(file, path, offset, len)?)?;
        if signed.manifest_sha256 != *expected_sha256 {
            return Err(Error::rejected(
                path,
                Check::Footer,
                format!(
                    "the {container} footer names manifest sha256 {}, the manifest in the {container} is {}",
                    crate::format::digest::hex(expected_sha256),
                    crate::format::digest::hex(&signed.manifest_sha256)
                ),
            ));
        }
        Ok(signed)
    }
}

/// The copies of policy and safeguard files must be exactly the manifest's governed files, with
/// the manifest's digests. (Their content is parsed only once the manifest is authenticated.)
fn check_copies(manifest: &Manifest, frame: &ManifestFrame) -> std::result::Result<(), String> {
    let governed: Vec<_> = manifest
        .files
        .iter()
        .filter(|f| is_governed(&f.path))
        .collect();
    if governed.len() != frame.copies.len() {
        return Err(format!(
            "the manifest lists {} policy/safeguard files but the manifest frame copies {}",
            governed.len(),
            frame.copies.len()
        ));
    }
    for (f, (path, bytes)) in governed.iter().zip(&frame.copies) {
        if f.path != *path || f.digest != manifest.layout.suite.hash().digest(bytes) {
            return Err(format!(
                "the copy of `{path}` does not match the manifest's `{}`",
                f.path
            ));
        }
    }
    Ok(())
}

/// Reads exactly `len` bytes at `offset` of `file` into a new buffer (callers bound `len`).
pub(crate) fn read_region(
    file: &std::fs::File,
    path: &Path,
    offset: u64,
    len: u64,
) -> Result<Vec<u8>> {
    let size = usize::try_from(len)
        .map_err(|_| Error::Internal(format!("a region of {len} bytes does not fit in memory")))?;
    let mut buf = vec![0u8; size];
    file.read_exact_at(&mut buf, offset).ctx("read", path)?;
    Ok(buf)
}

// An opened bundle, volume or delta is its signed manifest plus the file it was read from: reading
// `opened.manifest` through the manifest it carries is what every reader means.
impl std::ops::Deref for OpenedBundle {
    type Target = SignedManifest;
    fn deref(&self) -> &SignedManifest {
        &self.signed
    }
}

impl std::ops::Deref for OpenedVolume {
    type Target = SignedManifest;
    fn deref(&self) -> &SignedManifest {
        &self.signed
    }
}

impl std::ops::Deref for OpenedDelta {
    type Target = SignedManifest;
    fn deref(&self) -> &SignedManifest {
        &self.signed
    }
}

/// One airlock file, opened far enough to read its signed manifest.
pub enum Opened {
    /// A single-file bundle.
    Bundle(OpenedBundle),
    /// One volume of a split bundle.
    Volume(OpenedVolume),
    /// A delta.
    Delta(OpenedDelta),
}

impl Opened {
    /// The signed manifest it carries.
    pub fn signed(&self) -> &SignedManifest {
        match self {
            Opened::Bundle(b) => &b.signed,
            Opened::Volume(v) => &v.signed,
            Opened::Delta(d) => &d.signed,
        }
    }

    /// Which kind of file it is.
    pub fn kind(&self) -> Container {
        match self {
            Opened::Bundle(_) => Container::Bundle,
            Opened::Volume(_) => Container::Volume,
            Opened::Delta(_) => Container::Delta,
        }
    }

    /// The file's length.
    pub fn len(&self) -> u64 {
        match self {
            Opened::Bundle(b) => b.len,
            Opened::Volume(v) => v.len,
            Opened::Delta(d) => d.len,
        }
    }

    /// Whether the file is empty (never, once opened: a footer is there).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Opens any airlock file far enough to read its signed manifest: the one `open` for commands
/// that read a single file.
pub fn open(path: &Path) -> Result<Opened> {
    Ok(match sniff(path)? {
        Container::Bundle => Opened::Bundle(bundle::open(path)?),
        Container::Volume => Opened::Volume(volume::open_volume(path)?),
        Container::Delta => Opened::Delta(delta::open_delta(path)?),
    })
}

/// Opens `path`, which must be of kind `want` (`purpose` says what it is needed for, and `hint`
/// what to do instead). A file of another kind is opened first (so a damaged file is reported as
/// damaged, exit 1), then refused as the wrong kind (exit 2) in one wording for every command.
pub(crate) fn open_kind(path: &Path, want: Container, purpose: &str, hint: &str) -> Result<Opened> {
    let opened = open(path)?;
    if opened.kind() != want {
        return Err(Error::config(
            path,
            format!(
                "is a {}, not a {}: {purpose}",
                opened.kind().noun(),
                want.noun()
            ),
            hint,
        ));
    }
    Ok(opened)
}

/// The payload of one bundle, wherever its frames are: the bundle file, its volumes, or a delta
/// and the bundle it was made against.
// One value lives per command run, so the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Payload {
    /// A single-file bundle.
    Bundle(OpenedBundle),
    /// A complete, checked volume set, in order.
    Volumes(Vec<OpenedVolume>),
    /// A delta and its base, the base checked to be the one the delta names.
    Delta {
        /// The delta (its manifest is the new bundle's).
        delta: OpenedDelta,
        /// The base bundle.
        base: OpenedBundle,
    },
}

impl Payload {
    /// Opens what `first` (plus `more` volumes, or a delta's `base`) holds. The refusals of a
    /// wrong combination name the file and say what to pass instead.
    pub fn open(first: &Path, more: &[PathBuf], base: Option<&Path>) -> Result<Payload> {
        let kind = sniff(first)?;
        match (kind, base) {
            (Container::Delta, Some(base)) if more.is_empty() => {
                let delta = delta::open_delta(first)?;
                let base = delta::open_base(base)?;
                delta::check_base(&delta, &base)?;
                Ok(Payload::Delta { delta, base })
            }
            (Container::Delta, None) => {
                // A file that only looks like a delta (a damaged bundle with a delta tag at its
                // end) is refused as damaged before the missing --base is mentioned.
                delta::open_delta(first)?;
                Err(Error::config(
                    first,
                    "is a delta bundle: it needs the bundle it was made against",
                    "pass --base OLD_BUNDLE (the bundle named by `airlock verify` on the delta), or use the full bundle",
                ))
            }
            (Container::Bundle, None) if more.is_empty() => {
                Ok(Payload::Bundle(bundle::open(first)?))
            }
            (Container::Volume | Container::Bundle, None) => {
                let mut paths = vec![first.to_path_buf()];
                paths.extend(more.iter().cloned());
                Ok(Payload::Volumes(volume::open_set(&paths)?))
            }
            (_, Some(_)) => Err(Error::config(
                "--base",
                format!(
                    "{} is not a delta bundle (pass exactly one delta with --base)",
                    first.display()
                ),
                "drop --base to unpack a full bundle or volumes",
            )),
        }
    }

    /// The signed manifest of the bundle whose payload this is.
    pub fn signed(&self) -> &SignedManifest {
        match self {
            Payload::Bundle(b) => &b.signed,
            Payload::Volumes(v) => &v[0].signed,
            Payload::Delta { delta, .. } => &delta.signed,
        }
    }

    /// The frames, read from wherever they are, each checked against [`Payload::signed`].
    pub fn frames(&self) -> Box<dyn FrameSource + '_> {
        match self {
            Payload::Bundle(b) => Box::new(bundle::BundleFrames(b)),
            Payload::Volumes(v) => Box::new(volume::VolumeFrames(v)),
            Payload::Delta { delta, base } => Box::new(delta::DeltaFrames::new(delta, base)),
        }
    }

    /// Which kind of file the payload was opened from.
    pub fn kind(&self) -> Container {
        match self {
            Payload::Bundle(_) => Container::Bundle,
            Payload::Volumes(_) => Container::Volume,
            Payload::Delta { .. } => Container::Delta,
        }
    }

    /// How reports name the input: the bundle, "FIRST (+N more volumes)", "DELTA (patched onto BASE)".
    pub fn describe(&self) -> String {
        match self {
            Payload::Bundle(b) => b.signed.path.display().to_string(),
            Payload::Volumes(v) => format!(
                "{} (+{})",
                v[0].signed.path.display(),
                crate::util::text::count(v.len() - 1, "more volume")
            ),
            Payload::Delta { delta, base } => format!(
                "{} (patched onto {})",
                delta.signed.path.display(),
                base.signed.path.display()
            ),
        }
    }
}
