//! `airlock inspect`: the transfer sheet, from the manifest frame alone (instant on any size).
use crate::hashing::hex;
use crate::manifest::Kind;
use crate::reader::OpenedBundle;
use crate::signature::{Role, TrustedComment};
use crate::timefmt::format_rfc3339;
use crate::trust::Trust;
use std::fmt::Write as _;

/// One signer as the manifest frame shows it.
#[derive(Debug, serde::Serialize)]
pub struct SignerInfo {
    /// Signature file name.
    pub file: String,
    /// Key id.
    pub key_id: String,
    /// Role claimed.
    pub role: Role,
    /// The whole trusted comment.
    pub trusted_comment: String,
    /// Signing time.
    pub signed: String,
    /// Roles the given trust file pins this key for (`None` without `--trust`).
    pub trusted_for: Option<Vec<Role>>,
}

/// One artifact.
#[derive(Debug, serde::Serialize)]
pub struct ArtifactInfo {
    /// Kind.
    pub kind: Kind,
    /// Name.
    pub name: String,
    /// Tree digest.
    pub tree_digest: String,
    /// Files.
    pub files: u64,
    /// Bytes.
    pub bytes: u64,
}

/// One file.
#[derive(Debug, serde::Serialize)]
pub struct FileInfo {
    /// Bundle path.
    pub path: String,
    /// Size.
    pub size: u64,
    /// Mode.
    pub mode: &'static str,
    /// sha256.
    pub sha256: String,
}

/// The transfer sheet.
#[derive(Debug, serde::Serialize)]
pub struct Sheet {
    /// Bundle file.
    pub bundle: String,
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Sequence.
    pub sequence: u64,
    /// Target.
    pub target: String,
    /// Created.
    pub created: String,
    /// Expires.
    pub expires: String,
    /// Manifest sha256.
    pub manifest_sha256: String,
    /// Signers.
    pub signers: Vec<SignerInfo>,
    /// Artifacts, sorted by kind then name.
    pub artifacts: Vec<ArtifactInfo>,
    /// File count.
    pub file_count: usize,
    /// Total content bytes.
    pub total_bytes: u64,
    /// Payload frames.
    pub frames: usize,
    /// Bundle size on disk.
    pub bundle_bytes: u64,
    /// Per-file detail, with `--files`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<FileInfo>>,
}

/// Builds the sheet. `trust`, when given, marks which signers it knows.
pub fn sheet(bundle: &OpenedBundle, trust: Option<&Trust>, with_files: bool) -> Sheet {
    let m = &bundle.manifest;
    Sheet {
        bundle: bundle.path.display().to_string(),
        name: m.bundle.name.clone(),
        version: m.bundle.version.clone(),
        sequence: m.bundle.sequence,
        target: m.bundle.target.clone(),
        created: format_rfc3339(m.bundle.created),
        expires: format_rfc3339(m.bundle.expires),
        manifest_sha256: hex(&bundle.manifest_sha256),
        signers: bundle
            .signatures
            .iter()
            .map(|s| SignerInfo {
                file: s.file_name.clone(),
                key_id: s.key_id.clone(),
                role: s.comment.role,
                trusted_comment: TrustedComment::render(&s.comment),
                signed: format_rfc3339(s.comment.signed),
                trusted_for: trust.map(|t| t.roles_of(&s.key_id)),
            })
            .collect(),
        artifacts: m
            .artifacts
            .iter()
            .map(|a| ArtifactInfo {
                kind: a.kind,
                name: a.name.clone(),
                tree_digest: format!("sha256:{}", hex(&a.tree_digest)),
                files: a.files,
                bytes: a.bytes,
            })
            .collect(),
        file_count: m.files.len(),
        total_bytes: m.files.iter().map(|f| f.size).sum(),
        frames: m.frames.len(),
        bundle_bytes: bundle.len,
        files: with_files.then(|| {
            m.files
                .iter()
                .map(|f| FileInfo {
                    path: f.path.to_string(),
                    size: f.size,
                    mode: f.mode.as_str(),
                    sha256: hex(&f.sha256),
                })
                .collect()
        }),
    }
}

/// Human-readable rendering of the sheet.
pub fn render(s: &Sheet) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "bundle    {}", s.bundle);
    let _ = writeln!(
        out,
        "name      {} {} (sequence {})",
        s.name, s.version, s.sequence
    );
    let _ = writeln!(out, "target    {}", s.target);
    let _ = writeln!(out, "created   {}", s.created);
    let _ = writeln!(out, "expires   {}", s.expires);
    let _ = writeln!(out, "manifest  sha256:{}", s.manifest_sha256);
    let _ = writeln!(
        out,
        "content   {} files, {} bytes in {} frames; bundle {} bytes",
        s.file_count, s.total_bytes, s.frames, s.bundle_bytes
    );
    let _ = writeln!(out, "signers:");
    for sig in &s.signers {
        let known = match &sig.trusted_for {
            None => String::new(),
            Some(roles) if roles.is_empty() => "  [not in trust file]".into(),
            Some(roles) => format!(
                "  [trusted for {}]",
                roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let _ = writeln!(
            out,
            "  {:<8} key {}  signed {}{known}",
            sig.role.as_str(),
            sig.key_id,
            sig.signed
        );
        let _ = writeln!(out, "           trusted comment: {}", sig.trusted_comment);
    }
    let _ = writeln!(out, "artifacts:");
    for a in &s.artifacts {
        let _ = writeln!(
            out,
            "  {:<9} {:<28} {:>6} files {:>14} bytes  {}",
            serde_json::to_value(a.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            a.name,
            a.files,
            a.bytes,
            a.tree_digest
        );
    }
    if let Some(files) = &s.files {
        let _ = writeln!(out, "files:");
        for f in files {
            let _ = writeln!(out, "  {}  {} {:>14}  {}", f.sha256, f.mode, f.size, f.path);
        }
    }
    out
}
