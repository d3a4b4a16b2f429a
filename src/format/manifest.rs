//! The bundle manifest: its typed form, its one canonical TOML text, and a strict parser that
//! refuses anything but that text and checks the manifest's internal consistency
//! (`docs/format.md` section 3).
use crate::format::digest::{Digest, HashAlg};
use crate::format::path::{BundlePath, check_label};
use crate::format::time::{Timestamp, check_mtime};
use crate::format::{self, FrameSpan, Mode};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// The manifest's format tag.
pub const FORMAT: &str = "airlock-bundle/1";

/// Kinds of artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Model weights, tokenizer, config.
    Model,
    /// A safeguard config.
    Safeguard,
    /// A policy manifest.
    Policy,
    /// Anything else approved for transfer.
    Data,
    /// A signed update of the receiving side's trust file (`docs/format.md` 8.9), applied only by
    /// `unpack --apply-trust` and only under the rotation rules.
    Trust,
}

impl Kind {
    /// The kind's name, also the first component of its bundle paths.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Model => "model",
            Kind::Safeguard => "safeguard",
            Kind::Policy => "policy",
            Kind::Data => "data",
            Kind::Trust => "trust",
        }
    }

    /// Parses a kind name.
    pub fn parse(text: &str) -> Option<Kind> {
        Some(match text {
            "model" => Kind::Model,
            "safeguard" => Kind::Safeguard,
            "policy" => Kind::Policy,
            "data" => Kind::Data,
            "trust" => Kind::Trust,
            _ => return None,
        })
    }
}

/// A bundle's cryptographic suite (`docs/format.md` section 3.1), recorded in the signed manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Suite {
    /// SHA-256 digests, Ed25519 (minisign) signatures.
    Classic,
    /// CNSA 2.0: SHA-384 digests, ML-DSA-87 signatures (minisign signatures may be added).
    Cnsa2,
}

impl Suite {
    /// The suite's hash algorithm, used for every frame, file, tree and manifest digest.
    pub fn hash(self) -> HashAlg {
        match self {
            Suite::Classic => HashAlg::Sha256,
            Suite::Cnsa2 => HashAlg::Sha384,
        }
    }

    /// `classic` or `cnsa2`.
    pub fn name(self) -> &'static str {
        match self {
            Suite::Classic => "classic",
            Suite::Cnsa2 => "cnsa2",
        }
    }

    /// Parses `classic` or `cnsa2`.
    pub fn parse(text: &str) -> Option<Suite> {
        match text {
            "classic" => Some(Suite::Classic),
            "cnsa2" => Some(Suite::Cnsa2),
            _ => None,
        }
    }

    /// The checksum file in the manifest frame: `airlock/SHA256SUMS` or `airlock/SHA384SUMS`.
    pub fn sums_path(self) -> &'static str {
        match self {
            Suite::Classic => "airlock/SHA256SUMS",
            Suite::Cnsa2 => "airlock/SHA384SUMS",
        }
    }
}

/// `[bundle]`: identity and freshness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleInfo {
    /// Bundle name.
    pub name: String,
    /// Bundle version.
    pub version: String,
    /// Monotonic sequence per name.
    pub sequence: u64,
    /// Receiving site.
    pub target: String,
    /// Creation time.
    pub created: Timestamp,
    /// Expiry.
    pub expires: Timestamp,
    /// mtime of every tar entry, at most `timefmt::MAX_MTIME`.
    pub mtime: u64,
    /// When advance notice was given (sensitive targets).
    pub notice_given: Option<Timestamp>,
    /// Earliest activation time.
    pub not_before: Option<Timestamp>,
}

/// `[policy]`: the policy the bundle carries, as the manifest pins it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRef {
    /// Policy id.
    pub id: String,
    /// Policy version.
    pub version: u64,
    /// Policy expiry.
    pub expires: Timestamp,
    /// Bundle path of `policy.toml`.
    pub path: BundlePath,
    /// Digest of `policy.toml` (the suite's algorithm).
    pub digest: Digest,
}

/// `[layout]`: how the payload was cut and compressed, and the suite of every digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The cryptographic suite.
    pub suite: Suite,
    /// zstd level of every frame.
    pub zstd_level: i32,
    /// Total payload length = manifest frame offset.
    pub payload_bytes: u64,
    /// Digest of the checksum file (`airlock/SHA256SUMS` or `airlock/SHA384SUMS`).
    pub checksums: Digest,
}

/// `[[artifact]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// Kind.
    pub kind: Kind,
    /// Name (unique per kind).
    pub name: String,
    /// `KIND/NAME`: the artifact's directory in the bundle.
    pub path: BundlePath,
    /// Tree digest, `docs/format.md` section 6.
    pub tree_digest: Digest,
    /// Number of files.
    pub files: u64,
    /// Total content bytes.
    pub bytes: u64,
}

/// `[[frame]]`: one payload frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRecord {
    /// Offset in the bundle file.
    pub offset: u64,
    /// Compressed length.
    pub compressed_size: u64,
    /// Decompressed length.
    pub uncompressed_size: u64,
    /// Digest of the compressed bytes.
    pub digest: Digest,
}

/// `[[file]]`: one payload file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Bundle path.
    pub path: BundlePath,
    /// Content length.
    pub size: u64,
    /// Normalised mode.
    pub mode: Mode,
    /// Digest of the content.
    pub digest: Digest,
}

/// A whole manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// `[bundle]`.
    pub bundle: BundleInfo,
    /// `[layout]`.
    pub layout: Layout,
    /// `[policy]`, if the bundle carries a policy artifact.
    pub policy: Option<PolicyRef>,
    /// `[[artifact]]`, sorted by path.
    pub artifacts: Vec<Artifact>,
    /// `[[frame]]`, in file order.
    pub frames: Vec<FrameRecord>,
    /// `[[file]]`, sorted by path.
    pub files: Vec<FileEntry>,
}

impl Manifest {
    /// The one canonical text of this manifest.
    pub fn to_canonical(&self) -> String {
        let mut s = String::with_capacity(256 + self.files.len() * 160);
        let b = &self.bundle;
        let _ = write!(
            s,
            "format = \"{FORMAT}\"\n\n[bundle]\nname = \"{}\"\nversion = \"{}\"\nsequence = {}\ntarget = \"{}\"\ncreated = \"{}\"\nexpires = \"{}\"\nmtime = {}\n",
            b.name, b.version, b.sequence, b.target, b.created, b.expires, b.mtime
        );
        if let Some(t) = b.notice_given {
            let _ = writeln!(s, "notice_given = \"{t}\"");
        }
        if let Some(t) = b.not_before {
            let _ = writeln!(s, "not_before = \"{t}\"");
        }
        let l = &self.layout;
        // The classic suite writes no `suite` line, so manifests written before suites existed
        // are still the one canonical text of their manifest.
        let alg = l.suite.hash().name();
        let _ = write!(s, "\n[layout]\n");
        if l.suite != Suite::Classic {
            let _ = writeln!(s, "suite = \"{}\"", l.suite.name());
        }
        let _ = write!(
            s,
            "frame_size = {}\nlarge_file = {}\nzstd_level = {}\npayload_bytes = {}\nchecksums_{alg} = \"{}\"\n",
            format::FRAME_SIZE,
            format::LARGE_FILE,
            l.zstd_level,
            l.payload_bytes,
            l.checksums.hex()
        );
        if let Some(p) = &self.policy {
            let _ = write!(
                s,
                "\n[policy]\nid = \"{}\"\nversion = {}\nexpires = \"{}\"\npath = \"{}\"\n{alg} = \"{}\"\n",
                p.id,
                p.version,
                p.expires,
                p.path,
                p.digest.hex()
            );
        }
        for a in &self.artifacts {
            let _ = write!(
                s,
                "\n[[artifact]]\nkind = \"{}\"\nname = \"{}\"\npath = \"{}\"\ntree_digest = \"{}\"\nfiles = {}\nbytes = {}\n",
                a.kind.as_str(),
                a.name,
                a.path,
                a.tree_digest.prefixed(),
                a.files,
                a.bytes
            );
        }
        for f in &self.frames {
            let _ = write!(
                s,
                "\n[[frame]]\noffset = {}\ncompressed_size = {}\nuncompressed_size = {}\n{alg} = \"{}\"\n",
                f.offset,
                f.compressed_size,
                f.uncompressed_size,
                f.digest.hex()
            );
        }
        for f in &self.files {
            let _ = write!(
                s,
                "\n[[file]]\npath = \"{}\"\nsize = {}\nmode = \"{}\"\n{alg} = \"{}\"\n",
                f.path,
                f.size,
                f.mode.as_str(),
                f.digest.hex()
            );
        }
        s
    }

    /// Parses manifest bytes, refusing anything that is not the canonical text of a consistent
    /// manifest. The error text names the problem.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, String> {
        let text =
            std::str::from_utf8(bytes).map_err(|_| "the manifest is not UTF-8".to_string())?;
        let raw: RawManifest =
            toml::from_str(text).map_err(|e| format!("invalid manifest TOML: {e}"))?;
        let manifest = raw.into_typed()?;
        if manifest.to_canonical().as_bytes() != bytes {
            return Err("the manifest is not in canonical form (field order, spacing or formatting differ from what airlock writes)".into());
        }
        manifest.check_consistency()?;
        Ok(manifest)
    }

    /// The `airlock/SHA256SUMS` text this manifest implies.
    pub fn checksum_file(&self) -> String {
        checksum_file(&self.files)
    }

    /// Cross-checks of `docs/format.md` section 3.
    pub fn check_consistency(&self) -> Result<(), String> {
        if self.files.is_empty() {
            return Err("the manifest lists no files".into());
        }
        if self.files.len() > format::MAX_ENTRIES || self.frames.len() > format::MAX_ENTRIES {
            return Err(format!(
                "the manifest lists more than {} files or frames",
                format::MAX_ENTRIES
            ));
        }
        if self.bundle.created >= self.bundle.expires {
            return Err("`expires` is not after `created`".into());
        }
        if !(1..=22).contains(&self.layout.zstd_level) {
            return Err(format!(
                "zstd_level {} is out of range 1..=22",
                self.layout.zstd_level
            ));
        }
        check_file_set(&self.files)?;
        // Frames must be exactly those the frame rule yields, tiling the payload.
        let plan = plan_frames_for(&self.files);
        if plan.len() != self.frames.len() {
            return Err(format!(
                "the manifest lists {} frames; the frame rule yields {} for these files",
                self.frames.len(),
                plan.len()
            ));
        }
        let mut offset = 0u64;
        for (i, (frame, span)) in self.frames.iter().zip(&plan).enumerate() {
            if frame.uncompressed_size != span.len {
                return Err(format!(
                    "frame {i} declares {} uncompressed bytes; the frame rule yields {}",
                    frame.uncompressed_size, span.len
                ));
            }
            if frame.offset != offset || frame.compressed_size == 0 {
                return Err(format!(
                    "frame {i} at offset {} does not follow the previous frame (expected {offset})",
                    frame.offset
                ));
            }
            offset = offset
                .checked_add(frame.compressed_size)
                .ok_or("frame sizes overflow")?;
        }
        if offset != self.layout.payload_bytes {
            return Err(format!(
                "frames cover {offset} bytes but payload_bytes is {}",
                self.layout.payload_bytes
            ));
        }
        if let Some(p) = &self.policy {
            let listed = self
                .files
                .binary_search_by(|f| f.path.cmp(&p.path))
                .ok()
                .map(|i| &self.files[i]);
            if listed.is_none_or(|f| f.digest != p.digest) {
                return Err(format!(
                    "[policy] path `{}` is not a listed file with the pinned digest",
                    p.path
                ));
            }
        }
        let alg = self.layout.suite.hash();
        if alg.digest(self.checksum_file().as_bytes()) != self.layout.checksums {
            return Err(format!(
                "checksums_{} does not match the file list",
                alg.name()
            ));
        }
        self.check_artifacts()
    }

    fn check_artifacts(&self) -> Result<(), String> {
        let mut seen = BTreeSet::new();
        let mut covered = 0usize;
        for a in &self.artifacts {
            let expected = format!("{}/{}", a.kind.as_str(), a.name);
            if a.path.as_str() != expected {
                return Err(format!("artifact path `{}` should be `{expected}`", a.path));
            }
            if !seen.insert(a.path.clone()) {
                return Err(format!("artifact `{}` is listed twice", a.path));
            }
            let files = files_below(&self.files, &a.path);
            covered += files.len();
            let bytes = files.iter().fold(0u64, |sum, f| sum.saturating_add(f.size));
            if files.len() as u64 != a.files || bytes != a.bytes {
                return Err(format!(
                    "artifact `{}` declares {} files and {} bytes; the file list has {} and {bytes}",
                    a.path,
                    a.files,
                    a.bytes,
                    files.len()
                ));
            }
            if artifact_digest(&a.path, files, self.layout.suite.hash()) != a.tree_digest {
                return Err(format!(
                    "artifact `{}` tree_digest does not match its files",
                    a.path
                ));
            }
        }
        if !self.artifacts.windows(2).all(|w| w[0].path < w[1].path) {
            return Err("artifacts are not sorted by path".into());
        }
        // Artifact paths are `KIND/NAME` and never nest, so their file runs are disjoint.
        if covered != self.files.len() {
            let orphan = self.files.iter().find(|f| {
                let root = f
                    .path
                    .as_str()
                    .splitn(3, '/')
                    .take(2)
                    .collect::<Vec<_>>()
                    .join("/");
                self.artifacts
                    .binary_search_by(|a| a.path.as_str().cmp(&root))
                    .is_err()
            });
            return Err(match orphan {
                Some(f) => format!("file `{}` belongs to no artifact", f.path),
                None => "files are listed under more than one artifact".to_string(),
            });
        }
        Ok(())
    }

    /// The suite's digest of the exact manifest text: what signatures bind.
    pub fn digest_of(&self, bytes: &[u8]) -> Digest {
        self.layout.suite.hash().digest(bytes)
    }

    /// Index of the frame holding each file's header, and the frame spans, for reporting.
    pub(crate) fn frame_spans(&self) -> Vec<FrameSpan> {
        plan_frames_for(&self.files)
    }
}

/// The file name of a model artifact's OpenSSF Model Signing (OMS) signature, at the root of
/// the artifact: `model/NAME/model.sig` (`docs/format.md` 8.8).
pub const OMS_SIGNATURE_FILE: &str = "model.sig";

/// True for the payload files whose content governs the bundle, copied into the manifest frame
/// (`docs/format.md` 1.2) so that the receiving side judges them from that frame alone: the files
/// of `policy`, `safeguard` and `trust` artifacts, and a model artifact's OMS signature
/// `model/NAME/model.sig`.
pub fn is_governed(path: &BundlePath) -> bool {
    path.is_below(Kind::Policy.as_str())
        || path.is_below(Kind::Safeguard.as_str())
        || path.is_below(Kind::Trust.as_str())
        || is_oms_signature(path)
}

/// True for `model/NAME/model.sig`: a model artifact's OMS signature.
pub fn is_oms_signature(path: &BundlePath) -> bool {
    let mut parts = path.as_str().split('/');
    parts.next() == Some(Kind::Model.as_str())
        && parts.next().is_some()
        && parts.next() == Some(OMS_SIGNATURE_FILE)
        && parts.next().is_none()
}

/// The run of `files` (sorted by path) that lies below the directory `dir`, found by binary
/// search: cost O(log n) per artifact, whatever a hostile manifest lists.
pub(crate) fn files_below<'a>(files: &'a [FileEntry], dir: &BundlePath) -> &'a [FileEntry] {
    let prefix = format!("{dir}/");
    let start = files.partition_point(|f| f.path.as_str() < prefix.as_str());
    let len = files[start..].partition_point(|f| f.path.as_str().starts_with(prefix.as_str()));
    &files[start..start + len]
}

/// The tree digest of an artifact rooted at `dir` holding `files` (paths below `dir`).
pub(crate) fn artifact_digest(dir: &BundlePath, files: &[FileEntry], alg: HashAlg) -> Digest {
    let cut = dir.as_str().len() + 1;
    tree_digest(
        alg,
        files
            .iter()
            .map(|f| (&f.path.as_str()[cut..], f.size, f.mode, f.digest)),
    )
}

/// Applies the frame rule to a file list.
pub fn plan_frames_for(files: &[FileEntry]) -> Vec<FrameSpan> {
    format::plan_frames(files.iter().map(|f| f.size))
}

/// Paths sorted, unique, not case-colliding, no file that is also another file's directory,
/// nothing under `airlock/`. Case folding applies to every directory prefix as well as to whole
/// paths: `m/A/f` beside `m/a`, or `model/Tiny2/...` beside `model/tiny2/...`, would collide on a
/// case-insensitive file system just as `m/A` beside `m/a` would.
pub(crate) fn check_file_set(files: &[FileEntry]) -> Result<(), String> {
    for pair in files.windows(2) {
        if pair[0].path >= pair[1].path {
            return Err(if pair[0].path == pair[1].path {
                format!("duplicate path `{}`", pair[0].path)
            } else {
                format!(
                    "paths are not sorted: `{}` before `{}`",
                    pair[0].path, pair[1].path
                )
            });
        }
    }
    // Every node of the tree (each file and each directory above one), by its case-folded path:
    // the original spelling and whether it is a directory.
    let mut nodes: BTreeMap<String, (&str, bool)> = BTreeMap::new();
    for f in files {
        if f.path.as_str() == "airlock" || f.path.is_below("airlock") {
            return Err(format!(
                "path `{}` uses the reserved `airlock/` prefix",
                f.path
            ));
        }
        let dirs = f.path.ancestors().map(|d| (d, true));
        for (node, is_dir) in dirs.chain(std::iter::once((f.path.as_str(), false))) {
            match nodes.insert(node.to_ascii_lowercase(), (node, is_dir)) {
                None => {}
                Some((other, other_dir)) if other == node && !(is_dir && other_dir) => {
                    return Err(format!("`{node}` is both a file and a directory"));
                }
                Some((other, _)) if other == node => {}
                Some((other, _)) => {
                    return Err(format!(
                        "paths `{other}` and `{node}` differ only in case and would collide on a case-insensitive file system"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The checksum file for `files`, in `sha256sum` (or `sha384sum`) format.
pub fn checksum_file(files: &[FileEntry]) -> String {
    let mut s = String::with_capacity(files.len() * 120);
    for f in files {
        let _ = writeln!(s, "{}  {}", f.digest.hex(), f.path);
    }
    s
}

/// Tree digest over (relative path, size, mode, content digest), given in bytewise path order,
/// hashed with `alg` (the file digests are of the same algorithm).
pub fn tree_digest<'a>(
    alg: HashAlg,
    entries: impl IntoIterator<Item = (&'a str, u64, Mode, Digest)>,
) -> Digest {
    let mut h = alg.hasher();
    h.update(b"airlock-tree/1\n");
    for (rel, size, mode, digest) in entries {
        h.update(format!("{} {size} {} {rel}\n", mode.as_str(), digest.hex()).as_bytes());
    }
    h.finish()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    format: String,
    bundle: RawBundle,
    layout: RawLayout,
    policy: Option<RawPolicyRef>,
    #[serde(default)]
    artifact: Vec<RawArtifact>,
    #[serde(default)]
    frame: Vec<RawFrame>,
    #[serde(default)]
    file: Vec<RawFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBundle {
    name: String,
    version: String,
    sequence: u64,
    target: String,
    created: String,
    expires: String,
    mtime: u64,
    notice_given: Option<String>,
    not_before: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicyRef {
    id: String,
    version: u64,
    expires: String,
    path: String,
    sha256: Option<String>,
    sha384: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLayout {
    suite: Option<String>,
    frame_size: u64,
    large_file: u64,
    zstd_level: i32,
    payload_bytes: u64,
    checksums_sha256: Option<String>,
    checksums_sha384: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArtifact {
    kind: String,
    name: String,
    path: String,
    tree_digest: String,
    files: u64,
    bytes: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFrame {
    offset: u64,
    compressed_size: u64,
    uncompressed_size: u64,
    sha256: Option<String>,
    sha384: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    path: String,
    size: u64,
    mode: String,
    sha256: Option<String>,
    sha384: Option<String>,
}

/// The digest a manifest record holds: exactly the field of the suite's algorithm (`sha256` or
/// `sha384`), as lowercase hex of the right length.
fn digest_field(
    alg: HashAlg,
    what: &str,
    sha256: Option<String>,
    sha384: Option<String>,
) -> Result<Digest, String> {
    let (wanted, other) = match alg {
        HashAlg::Sha256 => (sha256, sha384),
        HashAlg::Sha384 => (sha384, sha256),
    };
    if other.is_some() {
        return Err(format!(
            "{what} carries a digest of another algorithm than the suite's {}",
            alg.name()
        ));
    }
    let text = wanted.ok_or_else(|| format!("{what} has no {} field", alg.name()))?;
    alg.parse_hex(&text).ok_or_else(|| {
        format!(
            "{what} {} `{text}` is not {} lowercase hex digits",
            alg.name(),
            2 * alg.len()
        )
    })
}

impl RawManifest {
    fn into_typed(self) -> Result<Manifest, String> {
        if self.format != FORMAT {
            return Err(format!(
                "manifest format `{}` is not `{FORMAT}` (made by a newer airlock?)",
                self.format
            ));
        }
        if self.layout.frame_size != format::FRAME_SIZE
            || self.layout.large_file != format::LARGE_FILE
        {
            return Err(
                "the manifest's frame_size or large_file differs from this format's constants"
                    .into(),
            );
        }
        for (what, value) in [
            ("name", &self.bundle.name),
            ("version", &self.bundle.version),
            ("target", &self.bundle.target),
        ] {
            check_label(value).map_err(|e| format!("bundle {what}: {e}"))?;
        }
        let time = |what: &str, text: &str| {
            Timestamp::parse(text).ok_or_else(|| {
                format!(
                    "bundle {what} `{text}` is not an RFC 3339 UTC time from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z, like 2026-01-31T00:00:00Z"
                )
            })
        };
        let bundle = BundleInfo {
            created: time("created", &self.bundle.created)?,
            expires: time("expires", &self.bundle.expires)?,
            name: self.bundle.name,
            version: self.bundle.version,
            sequence: self.bundle.sequence,
            target: self.bundle.target,
            mtime: check_mtime("bundle mtime", self.bundle.mtime)?,
            notice_given: self
                .bundle
                .notice_given
                .as_deref()
                .map(|t| time("notice_given", t))
                .transpose()?,
            not_before: self
                .bundle
                .not_before
                .as_deref()
                .map(|t| time("not_before", t))
                .transpose()?,
        };
        let suite = match self.layout.suite.as_deref() {
            None => Suite::Classic,
            Some("cnsa2") => Suite::Cnsa2,
            // The classic suite is written by leaving the line out; naming it is a second text
            // for the same manifest.
            Some(other) => {
                return Err(format!(
                    "layout suite `{other}` is not `cnsa2` (the classic suite has no suite line)"
                ));
            }
        };
        let alg = suite.hash();
        let policy = self
            .policy
            .map(|p| {
                check_label(&p.id).map_err(|e| format!("policy id: {e}"))?;
                Ok::<_, String>(PolicyRef {
                    expires: time("policy expires", &p.expires)?,
                    path: BundlePath::parse(&p.path)
                        .map_err(|e| format!("policy path `{}`: {e}", p.path))?,
                    digest: digest_field(alg, "[policy]", p.sha256, p.sha384)?,
                    id: p.id,
                    version: p.version,
                })
            })
            .transpose()?;
        let layout = Layout {
            suite,
            zstd_level: self.layout.zstd_level,
            payload_bytes: self.layout.payload_bytes,
            checksums: digest_field(
                alg,
                "[layout] checksums",
                self.layout.checksums_sha256,
                self.layout.checksums_sha384,
            )?,
        };
        let artifacts = self
            .artifact
            .into_iter()
            .map(|a| {
                check_label(&a.name).map_err(|e| format!("artifact name: {e}"))?;
                Ok(Artifact {
                    kind: Kind::parse(&a.kind).ok_or_else(|| {
                        format!(
                            "artifact kind `{}` is not model, safeguard, policy or data",
                            a.kind
                        )
                    })?,
                    path: BundlePath::parse(&a.path)
                        .map_err(|e| format!("artifact path `{}`: {e}", a.path))?,
                    tree_digest: Digest::parse_prefixed(&a.tree_digest)
                        .filter(|d| d.alg() == alg)
                        .ok_or_else(|| {
                            format!(
                                "artifact tree_digest `{}` is not {}:<{} hex digits>",
                                a.tree_digest,
                                alg.name(),
                                2 * alg.len()
                            )
                        })?,
                    name: a.name,
                    files: a.files,
                    bytes: a.bytes,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let frames = self
            .frame
            .into_iter()
            .map(|f| {
                Ok(FrameRecord {
                    offset: f.offset,
                    compressed_size: f.compressed_size,
                    uncompressed_size: f.uncompressed_size,
                    digest: digest_field(alg, "[[frame]]", f.sha256, f.sha384)?,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let files = self
            .file
            .into_iter()
            .map(|f| {
                let digest = digest_field(
                    alg,
                    &format!("file `{}`", f.path.escape_debug()),
                    f.sha256,
                    f.sha384,
                )?;
                if f.size > format::MAX_FILE_SIZE {
                    return Err(format!(
                        "file `{}` declares size {}; at most {} bytes fit in a bundle's frames",
                        f.path.escape_debug(),
                        f.size,
                        format::MAX_FILE_SIZE
                    ));
                }
                Ok(FileEntry {
                    path: BundlePath::parse(&f.path)
                        .map_err(|e| format!("file path `{}`: {e}", f.path.escape_debug()))?,
                    size: f.size,
                    mode: Mode::parse(&f.mode).ok_or_else(|| {
                        format!(
                            "file `{}` has mode `{}`; only 0644 and 0755 are allowed",
                            f.path, f.mode
                        )
                    })?,
                    digest,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Manifest {
            bundle,
            layout,
            policy,
            artifacts,
            frames,
            files,
        })
    }
}

/// The part of one file a range of frames holds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileSlice {
    /// Bundle path.
    pub path: String,
    /// File size.
    pub size: u64,
    /// First content byte held.
    pub from: u64,
    /// One past the last content byte held.
    pub to: u64,
    /// Whether the whole tar entry (header, content, padding) is held.
    pub whole: bool,
}

impl FileSlice {
    /// `path` or `path (bytes A..B of N)`.
    pub fn describe(&self) -> String {
        if self.whole {
            self.path.clone()
        } else {
            format!(
                "{} (bytes {}..{} of {})",
                self.path, self.from, self.to, self.size
            )
        }
    }
}

/// The files (or parts of files) held by frames `frames` of `m`.
pub(crate) fn files_in_frames(m: &Manifest, frames: std::ops::Range<usize>) -> Vec<FileSlice> {
    let spans = m.frame_spans();
    if frames.is_empty() || frames.end > spans.len() {
        return Vec::new();
    }
    let start = spans[frames.start].start;
    let last = spans[frames.end - 1];
    let end = last.start.saturating_add(last.len);
    let mut out = Vec::new();
    let mut offset = 0u64;
    for f in &m.files {
        let entry = crate::format::entry_len(f.size);
        let (a, b) = (offset, offset.saturating_add(entry));
        offset = b;
        if b <= start {
            continue;
        }
        if a >= end {
            break;
        }
        let content = a.saturating_add(crate::format::BLOCK);
        let clamp = |x: u64| x.saturating_sub(content).min(f.size);
        out.push(FileSlice {
            path: f.path.to_string(),
            size: f.size,
            from: clamp(start.max(a)),
            to: clamp(end.min(b)),
            whole: start <= a && end >= b,
        });
    }
    out
}

/// Names the files of `slices` in one line, shortening long lists.
pub(crate) fn describe_slices(slices: &[FileSlice]) -> String {
    const SHOW: usize = 4;
    let mut parts: Vec<String> = slices.iter().take(SHOW).map(FileSlice::describe).collect();
    if slices.len() > SHOW {
        parts.push(format!("and {} more", slices.len() - SHOW));
    }
    parts.join(", ")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn file(path: &str, content: &[u8]) -> FileEntry {
        file_in(Suite::Classic, path, content)
    }

    fn file_in(suite: Suite, path: &str, content: &[u8]) -> FileEntry {
        FileEntry {
            path: BundlePath::parse(path).unwrap(),
            size: content.len() as u64,
            mode: Mode::Regular,
            digest: suite.hash().digest(content),
        }
    }

    fn sample() -> Manifest {
        sample_in(Suite::Classic)
    }

    fn sample_in(suite: Suite) -> Manifest {
        let alg = suite.hash();
        let files = vec![
            file_in(suite, "model/m/a.json", b"a"),
            file_in(suite, "model/m/b.json", b"bb"),
        ];
        let spans = plan_frames_for(&files);
        let frames = spans
            .iter()
            .scan(0u64, |off, s| {
                let rec = FrameRecord {
                    offset: *off,
                    compressed_size: 100,
                    uncompressed_size: s.len,
                    digest: alg.digest(b"frame"),
                };
                *off += 100;
                Some(rec)
            })
            .collect::<Vec<_>>();
        let tree = tree_digest(
            alg,
            files
                .iter()
                .map(|f| (&f.path.as_str()[8..], f.size, f.mode, f.digest)),
        );
        Manifest {
            bundle: BundleInfo {
                name: "m".into(),
                version: "1".into(),
                sequence: 1,
                target: "site".into(),
                created: Timestamp::EPOCH,
                expires: Timestamp::from_unix(100).unwrap(),
                mtime: 0,
                notice_given: None,
                not_before: None,
            },
            layout: Layout {
                suite,
                zstd_level: 3,
                payload_bytes: 100 * frames.len() as u64,
                checksums: alg.digest(checksum_file(&files).as_bytes()),
            },
            policy: None,
            artifacts: vec![Artifact {
                kind: Kind::Model,
                name: "m".into(),
                path: BundlePath::parse("model/m").unwrap(),
                tree_digest: tree,
                files: 2,
                bytes: 3,
            }],
            frames,
            files,
        }
    }

    #[test]
    fn canonical_text_round_trips() {
        let m = sample();
        let text = m.to_canonical();
        assert_eq!(Manifest::parse(text.as_bytes()).unwrap(), m);
    }

    #[test]
    fn a_cnsa2_manifest_uses_sha384_everywhere_and_round_trips() {
        let m = sample_in(Suite::Cnsa2);
        let text = m.to_canonical();
        assert!(text.contains("suite = \"cnsa2\""), "{text}");
        assert!(text.contains("checksums_sha384 = "), "{text}");
        assert!(text.contains("tree_digest = \"sha384:"), "{text}");
        assert!(!text.contains("sha256"), "{text}");
        assert_eq!(Manifest::parse(text.as_bytes()).unwrap(), m);
        // A sha256 digest in a cnsa2 manifest, or a named classic suite, is refused.
        let mixed = text.replacen("sha384 = ", "sha256 = ", 1);
        assert!(Manifest::parse(mixed.as_bytes()).is_err());
        let named = sample()
            .to_canonical()
            .replace("[layout]\n", "[layout]\nsuite = \"classic\"\n");
        assert!(
            Manifest::parse(named.as_bytes())
                .unwrap_err()
                .contains("suite")
        );
    }

    #[test]
    fn a_classic_manifest_has_no_suite_line() {
        let text = sample().to_canonical();
        assert!(!text.contains("suite"), "{text}");
        assert!(text.contains("checksums_sha256 = "), "{text}");
    }

    #[test]
    fn non_canonical_spacing_is_refused() {
        let text = sample()
            .to_canonical()
            .replace("sequence = 1", "sequence =  1");
        let err = Manifest::parse(text.as_bytes()).unwrap_err();
        assert!(err.contains("canonical"), "{err}");
    }

    #[test]
    fn unknown_fields_and_bad_modes_are_refused() {
        let text = sample().to_canonical();
        assert!(
            Manifest::parse(text.replace("mtime = 0", "mtime = 0\nextra = 1").as_bytes()).is_err()
        );
        let err = Manifest::parse(text.replacen("\"0644\"", "\"4755\"", 1).as_bytes()).unwrap_err();
        assert!(err.contains("only 0644 and 0755"), "{err}");
    }

    #[test]
    fn inconsistent_manifests_are_refused() {
        let mut m = sample();
        m.files[1].size = 3;
        assert!(m.check_consistency().is_err());
        let mut m = sample();
        m.layout.payload_bytes += 1;
        assert!(m.check_consistency().unwrap_err().contains("payload_bytes"));
    }

    #[test]
    fn file_set_rules() {
        let dup = vec![file("a/x", b""), file("a/x", b"")];
        assert!(check_file_set(&dup).unwrap_err().contains("duplicate"));
        let case = vec![file("a/X", b""), file("a/x", b"")];
        assert!(check_file_set(&case).unwrap_err().contains("case"));
        let dir = vec![file("a/x", b""), file("a/x/y", b"")];
        assert!(
            check_file_set(&dir)
                .unwrap_err()
                .contains("both a file and a directory")
        );
        for pair in [["a/x/A/f", "a/x/a"], ["model/Tiny2/c", "model/tiny2/c"]] {
            let mut files: Vec<FileEntry> = pair.iter().map(|p| file(p, b"")).collect();
            files.sort_by(|a, b| a.path.cmp(&b.path));
            let err = check_file_set(&files).unwrap_err();
            assert!(err.contains("case"), "{pair:?}: {err}");
        }
        let unsorted = vec![file("b", b""), file("a", b"")];
        assert!(check_file_set(&unsorted).unwrap_err().contains("sorted"));
        let reserved = vec![file("airlock/manifest.toml", b"")];
        assert!(check_file_set(&reserved).unwrap_err().contains("reserved"));
    }
}
