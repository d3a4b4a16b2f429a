//! `airlock diff OLD NEW`: what changes between two bundles, from their manifest frames alone
//! (no payload is read, nothing is extracted, nothing is trusted or refused): identity and
//! freshness fields, the policy reference, artifacts by tree digest (so a changed safeguard or
//! policy stands out), files added, removed and changed, signers, and how many payload frames a
//! delta would have to carry. Either side may be a bundle, a volume or a delta: all carry the
//! full signed manifest.
//!
//! Each section is computed by its own small function over the two manifests; a new manifest
//! section is one more function and one more field of [`BundleDiff`].
use crate::container::{Container, SignedManifest, open};
use crate::error::Result;
use crate::format::digest::{Digest, HashAlg, hex};
use crate::format::manifest::{Artifact, FileEntry, Manifest};
use crate::util::text::count;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

/// One side of the comparison.
#[derive(Debug, serde::Serialize)]
pub struct Side {
    /// The file read.
    pub file: String,
    /// What kind of file it is.
    pub container: Container,
    /// Bundle name.
    pub name: String,
    /// Bundle version.
    pub version: String,
    /// Sequence.
    pub sequence: u64,
    /// sha256 of the manifest.
    pub manifest_sha256: String,
    /// The suite it was packed under.
    pub suite: crate::format::manifest::Suite,
}

/// A scalar field that differs.
#[derive(Debug, serde::Serialize)]
pub struct FieldChange {
    /// `section.field`, e.g. `bundle.expires`.
    pub field: String,
    /// Old value (`null` if absent).
    pub old: Option<String>,
    /// New value (`null` if absent).
    pub new: Option<String>,
}

/// An artifact on one side.
#[derive(Debug, serde::Serialize)]
pub struct ArtifactSide {
    /// Tree digest.
    pub tree_digest: String,
    /// Files.
    pub files: u64,
    /// Content bytes.
    pub bytes: u64,
}

/// An artifact added, removed or changed.
#[derive(Debug, serde::Serialize)]
pub struct ArtifactChange {
    /// Kind (`model`, `safeguard`, `policy`, `data`).
    pub kind: String,
    /// Name.
    pub name: String,
    /// Before (`null` if added).
    pub old: Option<ArtifactSide>,
    /// After (`null` if removed).
    pub new: Option<ArtifactSide>,
}

/// A file on one side.
#[derive(Debug, serde::Serialize)]
pub struct FileSide {
    /// Size.
    pub size: u64,
    /// Mode.
    pub mode: &'static str,
    /// Digest in the bundle's suite, `sha256:HEX` or `sha384:HEX`.
    pub digest: Digest,
    /// The hex SHA-256, for classic bundles only (kept for scripts written before suites).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// A file added, removed or changed.
#[derive(Debug, serde::Serialize)]
pub struct FileChange {
    /// Bundle path.
    pub path: String,
    /// Before (`null` if added).
    pub old: Option<FileSide>,
    /// After (`null` if removed).
    pub new: Option<FileSide>,
}

/// Files that differ.
#[derive(Debug, Default, serde::Serialize)]
pub struct FileChanges {
    /// Only in NEW.
    pub added: Vec<FileChange>,
    /// Only in OLD.
    pub removed: Vec<FileChange>,
    /// In both, with other content or mode.
    pub changed: Vec<FileChange>,
    /// In both, identical.
    pub unchanged: usize,
}

/// A signer (role and key) present on one side only.
#[derive(Debug, serde::Serialize)]
pub struct SignerChange {
    /// Role.
    pub role: String,
    /// Key id.
    pub key_id: String,
    /// Signature algorithm.
    pub algorithm: crate::format::signature::SigAlg,
    /// Signing time.
    pub signed: String,
}

/// Signers that differ. Signatures are compared by (role, algorithm, key id); the signing time
/// alone does not make a change.
#[derive(Debug, Default, serde::Serialize)]
pub struct SignerChanges {
    /// Only on NEW.
    pub added: Vec<SignerChange>,
    /// Only on OLD.
    pub removed: Vec<SignerChange>,
    /// On both.
    pub kept: usize,
}

/// What crosses: NEW's payload frames that OLD does not have, i.e. what `pack --base OLD` would carry.
#[derive(Debug, serde::Serialize)]
pub struct Crossing {
    /// NEW's payload frames.
    pub frames: usize,
    /// Of those, frames OLD lacks.
    pub new_frames: usize,
    /// Their compressed bytes.
    pub new_frame_bytes: u64,
    /// NEW's payload bytes.
    pub payload_bytes: u64,
}

/// The whole comparison.
#[derive(Debug, serde::Serialize)]
pub struct BundleDiff {
    /// OLD.
    pub old: Side,
    /// NEW.
    pub new: Side,
    /// Whether the manifests are identical.
    pub identical: bool,
    /// `[bundle]`, `[layout]` (zstd level) and `[policy]` fields that differ.
    pub fields: Vec<FieldChange>,
    /// Artifacts added, removed or changed (by tree digest), sorted by kind then name.
    pub artifacts: Vec<ArtifactChange>,
    /// Files.
    pub files: FileChanges,
    /// Signers.
    pub signers: SignerChanges,
    /// What a delta would carry.
    pub crossing: Crossing,
}

fn side(path: &Path, kind: Container, b: &SignedManifest) -> Side {
    let m = &b.manifest.bundle;
    Side {
        file: path.display().to_string(),
        container: kind,
        name: m.name.clone(),
        version: m.version.clone(),
        sequence: m.sequence,
        manifest_sha256: hex(&b.manifest_sha256),
        suite: b.manifest.layout.suite,
    }
}

/// Opens both files (manifest frames only) and compares them.
pub fn diff_files(old: &Path, new: &Path) -> Result<BundleDiff> {
    let (o, n) = (open(old)?, open(new)?);
    let (ob, nb) = (o.signed(), n.signed());
    Ok(diff(
        side(old, o.kind(), ob),
        ob,
        side(new, n.kind(), nb),
        nb,
    ))
}

/// Compares two opened bundles.
pub fn diff(
    old_side: Side,
    old: &SignedManifest,
    new_side: Side,
    new: &SignedManifest,
) -> BundleDiff {
    let (om, nm) = (&old.manifest, &new.manifest);
    BundleDiff {
        identical: old.manifest_sha256 == new.manifest_sha256,
        old: old_side,
        new: new_side,
        fields: field_changes(om, nm),
        artifacts: artifact_changes(&om.artifacts, &nm.artifacts),
        files: file_changes(&om.files, &nm.files),
        signers: signer_changes(old, new),
        crossing: crossing(om, nm),
    }
}

/// Scalar fields of `[bundle]`, `[layout]` and `[policy]`, as (name, text) pairs; absent optional
/// fields are left out. Add a manifest field here and `diff` reports it.
fn fields_of(m: &Manifest) -> BTreeMap<&'static str, String> {
    let b = &m.bundle;
    let mut f = BTreeMap::new();
    f.insert("bundle.name", b.name.clone());
    f.insert("bundle.version", b.version.clone());
    f.insert("bundle.sequence", b.sequence.to_string());
    f.insert("bundle.target", b.target.clone());
    f.insert("bundle.created", b.created.to_string());
    f.insert("bundle.expires", b.expires.to_string());
    f.insert("bundle.mtime", b.mtime.to_string());
    if let Some(t) = b.notice_given {
        f.insert("bundle.notice_given", t.to_string());
    }
    if let Some(t) = b.not_before {
        f.insert("bundle.not_before", t.to_string());
    }
    f.insert("layout.suite", m.layout.suite.name().to_string());
    f.insert("layout.zstd_level", m.layout.zstd_level.to_string());
    if let Some(p) = &m.policy {
        f.insert("policy.id", p.id.clone());
        f.insert("policy.version", p.version.to_string());
        f.insert("policy.expires", p.expires.to_string());
        f.insert("policy.path", p.path.to_string());
        // Named by algorithm: a classic bundle has `policy.sha256`, a cnsa2 one `policy.sha384`.
        f.insert(
            match p.digest.alg() {
                HashAlg::Sha256 => "policy.sha256",
                HashAlg::Sha384 => "policy.sha384",
            },
            p.digest.hex(),
        );
    }
    f
}

/// The order fields are reported in: the manifest's own order.
const FIELD_ORDER: &[&str] = &[
    "bundle.name",
    "bundle.version",
    "bundle.sequence",
    "bundle.target",
    "bundle.created",
    "bundle.expires",
    "bundle.mtime",
    "bundle.notice_given",
    "bundle.not_before",
    "layout.suite",
    "layout.zstd_level",
    "policy.id",
    "policy.version",
    "policy.expires",
    "policy.path",
    "policy.sha256",
    "policy.sha384",
];

fn field_changes(old: &Manifest, new: &Manifest) -> Vec<FieldChange> {
    let (o, n) = (fields_of(old), fields_of(new));
    let mut names: Vec<&str> = FIELD_ORDER.to_vec();
    for k in o.keys().chain(n.keys()) {
        if !names.contains(k) {
            names.push(k);
        }
    }
    names
        .into_iter()
        .filter_map(|k| {
            let (a, b) = (o.get(k), n.get(k));
            (a != b).then(|| FieldChange {
                field: k.to_string(),
                old: a.cloned(),
                new: b.cloned(),
            })
        })
        .collect()
}

fn artifact_side(a: &Artifact) -> ArtifactSide {
    ArtifactSide {
        tree_digest: a.tree_digest.prefixed(),
        files: a.files,
        bytes: a.bytes,
    }
}

fn artifact_changes(old: &[Artifact], new: &[Artifact]) -> Vec<ArtifactChange> {
    let key = |a: &Artifact| (a.kind.as_str().to_string(), a.name.clone());
    let o: BTreeMap<_, _> = old.iter().map(|a| (key(a), a)).collect();
    let n: BTreeMap<_, _> = new.iter().map(|a| (key(a), a)).collect();
    let keys: BTreeSet<_> = o.keys().chain(n.keys()).cloned().collect();
    keys.into_iter()
        .filter_map(|k| {
            let (a, b) = (o.get(&k), n.get(&k));
            let same = matches!((a, b), (Some(a), Some(b)) if a.tree_digest == b.tree_digest);
            (!same).then(|| ArtifactChange {
                kind: k.0.clone(),
                name: k.1.clone(),
                old: a.map(|a| artifact_side(a)),
                new: b.map(|b| artifact_side(b)),
            })
        })
        .collect()
}

fn file_side(f: &FileEntry) -> FileSide {
    FileSide {
        size: f.size,
        mode: f.mode.as_str(),
        digest: f.digest,
        sha256: (f.digest.alg() == HashAlg::Sha256).then(|| f.digest.hex()),
    }
}

fn file_changes(old: &[FileEntry], new: &[FileEntry]) -> FileChanges {
    // Both lists are sorted bytewise by path: merge them.
    let mut out = FileChanges::default();
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        let order = match (old.get(i), new.get(j)) {
            (Some(a), Some(b)) => a.path.cmp(&b.path),
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        match order {
            std::cmp::Ordering::Less => {
                out.removed.push(FileChange {
                    path: old[i].path.to_string(),
                    old: Some(file_side(&old[i])),
                    new: None,
                });
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.added.push(FileChange {
                    path: new[j].path.to_string(),
                    old: None,
                    new: Some(file_side(&new[j])),
                });
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                let (a, b) = (&old[i], &new[j]);
                if a.size == b.size && a.digest == b.digest && a.mode == b.mode {
                    out.unchanged += 1;
                } else {
                    out.changed.push(FileChange {
                        path: a.path.to_string(),
                        old: Some(file_side(a)),
                        new: Some(file_side(b)),
                    });
                }
                i += 1;
                j += 1;
            }
        }
    }
    out
}

fn signer_changes(old: &SignedManifest, new: &SignedManifest) -> SignerChanges {
    type Key = (String, crate::format::signature::SigAlg, String);
    let set = |b: &SignedManifest| -> BTreeMap<Key, String> {
        b.signatures
            .iter()
            .map(|s| {
                (
                    (
                        s.comment.role.as_str().to_string(),
                        s.algorithm,
                        s.key_id.clone(),
                    ),
                    s.comment.signed.to_string(),
                )
            })
            .collect()
    };
    let (o, n) = (set(old), set(new));
    let change = |((role, algorithm, key_id), signed): (&Key, &String)| SignerChange {
        role: role.clone(),
        key_id: key_id.clone(),
        algorithm: *algorithm,
        signed: signed.clone(),
    };
    SignerChanges {
        added: n
            .iter()
            .filter(|(k, _)| !o.contains_key(*k))
            .map(change)
            .collect(),
        removed: o
            .iter()
            .filter(|(k, _)| !n.contains_key(*k))
            .map(change)
            .collect(),
        kept: n.keys().filter(|k| o.contains_key(*k)).count(),
    }
}

fn crossing(old: &Manifest, new: &Manifest) -> Crossing {
    let carried = crate::container::delta::frames_to_carry(new, old);
    Crossing {
        frames: new.frames.len(),
        new_frames: carried.len(),
        new_frame_bytes: carried.iter().map(|&i| new.frames[i].compressed_size).sum(),
        payload_bytes: new.layout.payload_bytes,
    }
}

/// Human-readable rendering.
pub fn render(d: &BundleDiff) -> String {
    let mut s = String::new();
    for (label, side) in [("old", &d.old), ("new", &d.new)] {
        let _ = writeln!(
            s,
            "{label}  {} {} (sequence {})  manifest sha256:{}  {}{}",
            side.name,
            side.version,
            side.sequence,
            side.manifest_sha256,
            side.file,
            match side.container {
                Container::Bundle => "",
                Container::Volume => " [volume]",
                Container::Delta => " [delta]",
            }
        );
    }
    if d.identical {
        let _ = writeln!(s, "the manifests are identical");
    }
    if !d.fields.is_empty() {
        let _ = writeln!(s, "fields:");
        for f in &d.fields {
            let _ = writeln!(
                s,
                "  {:<20} {} -> {}",
                f.field,
                f.old.as_deref().unwrap_or("(none)"),
                f.new.as_deref().unwrap_or("(none)")
            );
        }
    }
    if !d.artifacts.is_empty() {
        let _ = writeln!(s, "artifacts:");
        for a in &d.artifacts {
            let what = match (&a.old, &a.new) {
                (None, Some(n)) => format!(
                    "added    {} ({}, {} bytes)",
                    n.tree_digest,
                    count(n.files, "file"),
                    n.bytes
                ),
                (Some(o), None) => format!(
                    "removed  {} ({}, {} bytes)",
                    o.tree_digest,
                    count(o.files, "file"),
                    o.bytes
                ),
                (Some(o), Some(n)) => format!(
                    "changed  {} -> {} ({} -> {}, {} -> {} bytes)",
                    o.tree_digest,
                    n.tree_digest,
                    o.files,
                    count(n.files, "file"),
                    o.bytes,
                    n.bytes
                ),
                (None, None) => continue,
            };
            let _ = writeln!(s, "  {:<9} {:<24} {what}", a.kind, a.name);
        }
    }
    let f = &d.files;
    let _ = writeln!(
        s,
        "files: {} added, {} removed, {} changed, {} unchanged",
        f.added.len(),
        f.removed.len(),
        f.changed.len(),
        f.unchanged
    );
    for c in f.added.iter().chain(&f.removed).chain(&f.changed) {
        let line = match (&c.old, &c.new) {
            (None, Some(n)) => format!(
                "  added    {}  {} bytes  mode {}  {}",
                c.path,
                n.size,
                n.mode,
                n.digest.prefixed()
            ),
            (Some(o), None) => format!(
                "  removed  {}  {} bytes  mode {}  {}",
                c.path,
                o.size,
                o.mode,
                o.digest.prefixed()
            ),
            (Some(o), Some(n)) => {
                let mut l = format!("  changed  {}  {} -> {} bytes", c.path, o.size, n.size);
                if o.mode != n.mode {
                    let _ = write!(l, "  mode {} -> {}", o.mode, n.mode);
                }
                let _ = write!(l, "  {} -> {}", o.digest.prefixed(), n.digest.prefixed());
                l
            }
            (None, None) => continue,
        };
        let _ = writeln!(s, "{line}");
    }
    let g = &d.signers;
    let _ = writeln!(
        s,
        "signers: {} added, {} removed, {} on both",
        g.added.len(),
        g.removed.len(),
        g.kept
    );
    for (what, list) in [("added", &g.added), ("removed", &g.removed)] {
        for c in list {
            let _ = writeln!(
                s,
                "  {what:<8} {} key {} {} (signed {})",
                c.role, c.key_id, c.algorithm, c.signed
            );
        }
    }
    let c = &d.crossing;
    let _ = writeln!(
        s,
        "crossing: a delta against OLD carries {} of {} ({} of {} payload bytes)",
        c.new_frames,
        count(c.frames, "frame"),
        c.new_frame_bytes,
        c.payload_bytes
    );
    s
}
