//! `airlock inspect`: the transfer sheet, from the manifest frame alone (instant on any size).
use crate::container::{Container, Opened, SignedManifest};
use crate::format::digest::{Digest, HashAlg, hex};
use crate::format::manifest::{Kind, Suite};
use crate::format::signature::{Role, SigAlg, TrustedComment};
use crate::format::time::Timestamp;
use crate::trust::enforce::{Governed, load_governed};
use crate::trust::trust_file::{Trust, authenticate};
use crate::util::text::count;
use std::fmt::Write as _;

/// One signer as the manifest frame shows it.
#[derive(Debug, serde::Serialize)]
pub struct SignerInfo {
    /// Signature file name.
    pub file: String,
    /// Key id.
    pub key_id: String,
    /// The signature algorithm: `ed25519` (minisign) or `ml-dsa-87`.
    pub algorithm: SigAlg,
    /// Role claimed.
    pub role: Role,
    /// The whole statement: a minisign file's trusted comment, an ML-DSA file's first line.
    pub trusted_comment: String,
    /// Signing time.
    pub signed: String,
    /// Roles the given trust file pins this key for (`None` without `--trust`).
    pub trusted_for: Option<Vec<Role>>,
    /// Roles the given trust file lists this key as revoked for: its signatures never count
    /// there (`None` without `--trust`).
    pub revoked_for: Option<Vec<Role>>,
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
    /// The file's digest, `sha256:HEX` or `sha384:HEX` (the bundle's suite).
    pub digest: Digest,
    /// The hex SHA-256, in classic bundles only (kept for scripts written before suites).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// The policy the bundle carries. Its rules are judged only when `--trust` is given and the
/// bundle's and the policy's signatures meet the trust file's thresholds, exactly as `verify`
/// checks them; otherwise the policy is shown as carried, marked not verified.
#[derive(Debug, serde::Serialize)]
pub struct PolicyView {
    /// Whether the policy's signatures were checked and met the trust file's policy threshold.
    pub verified: bool,
    /// Why it was not verified (and its rules not judged), when it was not.
    pub not_verified: Option<String>,
    /// Policy id.
    pub id: String,
    /// Policy version.
    pub version: u64,
    /// Policy expiry.
    pub expires: String,
    /// sha256 of policy.toml (hex).
    pub sha256: String,
    /// policy.toml's digest in the bundle's suite (`sha256:` or `sha384:`).
    pub digest: Digest,
    /// Key ids of the policy's signatures.
    pub signature_keys: Vec<String>,
    /// The models the policy approves and where.
    pub approved_models: Vec<crate::trust::policy::ApprovedModel>,
    /// The rules that hold for this bundle now (verified policies only).
    pub decisions: Vec<crate::trust::policy::Decision>,
    /// The first rule that fails, if any.
    pub violation: Option<String>,
    /// Files in this bundle the policy exempts from the content gate (`[[allowed_file]]`).
    pub allowed_files: Vec<crate::trust::policy::AllowedFile>,
}

/// Where a volume sits in its set.
#[derive(Debug, serde::Serialize)]
pub struct VolumePosition {
    /// Its number, 1-based.
    pub number: u32,
    /// How many volumes the bundle has.
    pub count: u32,
    /// First frame it holds.
    pub first_frame: u64,
    /// Frames it holds.
    pub frames: u64,
}

/// The transfer sheet.
#[derive(Debug, serde::Serialize)]
pub struct Sheet {
    /// What kind of file was read (bundle, volume, delta).
    pub container: Container,
    /// For a volume: where it sits in its set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume: Option<VolumePosition>,
    /// For a delta: the manifest sha256 of the bundle it was made against (`--base`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta_base_manifest_sha256: Option<String>,
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
    /// Manifest sha256 (hex): the manifest's identifier, whatever the suite.
    pub manifest_sha256: String,
    /// The cryptographic suite the bundle was packed under.
    pub suite: Suite,
    /// The manifest's digest in that suite (`sha256:` or `sha384:`): what the signatures bind.
    pub manifest_digest: Digest,
    /// Signers.
    pub signers: Vec<SignerInfo>,
    /// Artifacts, sorted by kind then name.
    pub artifacts: Vec<ArtifactInfo>,
    /// Files in the bundle.
    pub files: usize,
    /// Total content bytes.
    pub bytes: u64,
    /// Payload frames.
    pub frames: usize,
    /// Bundle size on disk.
    pub bundle_bytes: u64,
    /// Not-before time for sensitive targets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    /// The policy the bundle carries.
    pub policy: Option<PolicyView>,
    /// Safeguard configs and their settings.
    pub safeguards: Vec<crate::trust::safeguards::Safeguard>,
    /// Bundle paths of the safeguard configs, in the same order.
    pub safeguard_paths: Vec<String>,
    /// Per-file detail, with `--files`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entries: Option<Vec<FileInfo>>,
}

fn policy_view(
    bundle: &SignedManifest,
    governed: &Governed,
    trust: Option<&Trust>,
    now: Timestamp,
) -> Option<PolicyView> {
    let carried = governed.policy.as_ref()?;
    let p = &carried.policy;
    let (verified, not_verified, decisions, violation) = match trust {
        None => (
            false,
            Some(
                "no --trust given: its signatures are not checked and its rules not judged"
                    .to_string(),
            ),
            Vec::new(),
            None,
        ),
        Some(trust) => match authenticate(bundle, trust) {
            Err(e) => (
                false,
                Some(format!(
                    "the bundle's own signatures do not meet the trust file: {e}"
                )),
                Vec::new(),
                None,
            ),
            Ok(auth) => match crate::trust::enforce::enforce(&auth, trust, now) {
                Ok(outcome) if outcome.enforced => (true, None, outcome.decisions, None),
                Ok(_) => (
                    false,
                    Some(
                        "the trust file pins no policy keys, so the policy is not enforced"
                            .to_string(),
                    ),
                    Vec::new(),
                    None,
                ),
                Err(e) if e.check() == Some(crate::error::Check::Policy) => {
                    (true, None, Vec::new(), Some(e.to_string()))
                }
                Err(e) => (false, Some(e.to_string()), Vec::new(), None),
            },
        },
    };
    Some(PolicyView {
        verified,
        not_verified,
        id: p.id.clone(),
        version: p.version,
        expires: p.expires.to_string(),
        sha256: hex(&crate::format::digest::sha256(&carried.bytes)),
        digest: bundle.manifest.layout.suite.hash().digest(&carried.bytes),
        signature_keys: carried
            .signatures
            .iter()
            .map(
                |(path, b)| match crate::trust::enforce::policy_signature_key(path, b) {
                    Ok((id, _)) => id,
                    Err(e) => format!("(malformed: {e})"),
                },
            )
            .collect(),
        approved_models: p.models.clone(),
        decisions,
        violation,
        allowed_files: p
            .allowed_files
            .iter()
            .filter(|a| {
                bundle
                    .manifest
                    .files
                    .iter()
                    .any(|f| f.path.as_str() == a.path)
            })
            .cloned()
            .collect(),
    })
}

/// Builds the sheet. `trust`, when given, marks which signers it knows and, if the signatures
/// meet it, judges the policy at `now`.
pub fn sheet(
    opened: &Opened,
    trust: Option<&Trust>,
    with_files: bool,
    now: Timestamp,
) -> crate::Result<Sheet> {
    let bundle = opened.signed();
    let m = &bundle.manifest;
    // Parsed to be shown, not judged: the policy's rules are evaluated only once the bundle and
    // the policy are authenticated against --trust (policy_view).
    let governed = load_governed(&bundle.frame.copies)
        .map_err(|e| crate::Error::rejected(&bundle.path, crate::error::Check::Policy, e))?;
    Ok(Sheet {
        container: opened.kind(),
        volume: match opened {
            Opened::Volume(v) => Some(VolumePosition {
                number: v.footer.number,
                count: v.footer.count,
                first_frame: v.footer.first_frame,
                frames: v.footer.frame_count,
            }),
            _ => None,
        },
        delta_base_manifest_sha256: match opened {
            Opened::Delta(d) => Some(hex(&d.footer.base_manifest_sha256)),
            _ => None,
        },
        not_before: m.bundle.not_before.map(|t| t.to_string()),
        policy: policy_view(bundle, &governed, trust, now),
        safeguards: governed.safeguards.iter().map(|(_, s)| s.clone()).collect(),
        safeguard_paths: governed.safeguards.iter().map(|(p, _)| p.clone()).collect(),
        bundle: bundle.path.display().to_string(),
        name: m.bundle.name.clone(),
        version: m.bundle.version.clone(),
        sequence: m.bundle.sequence,
        target: m.bundle.target.clone(),
        created: m.bundle.created.to_string(),
        expires: m.bundle.expires.to_string(),
        manifest_sha256: hex(&bundle.manifest_sha256),
        suite: m.layout.suite,
        manifest_digest: bundle.manifest_digest,
        signers: bundle
            .signatures
            .iter()
            .map(|s| SignerInfo {
                file: s.file_name.clone(),
                key_id: s.key_id.clone(),
                algorithm: s.algorithm,
                role: s.comment.role,
                trusted_comment: TrustedComment::render(&s.comment),
                signed: s.comment.signed.to_string(),
                trusted_for: trust.map(|t| t.roles_of(&s.key_id)),
                revoked_for: trust.map(|t| t.revoked_roles_of(&s.key_id)),
            })
            .collect(),
        artifacts: m
            .artifacts
            .iter()
            .map(|a| ArtifactInfo {
                kind: a.kind,
                name: a.name.clone(),
                tree_digest: a.tree_digest.prefixed(),
                files: a.files,
                bytes: a.bytes,
            })
            .collect(),
        files: m.files.len(),
        bytes: m.files.iter().map(|f| f.size).sum(),
        frames: m.frames.len(),
        bundle_bytes: opened.len(),
        entries: with_files.then(|| {
            m.files
                .iter()
                .map(|f| FileInfo {
                    path: f.path.to_string(),
                    size: f.size,
                    mode: f.mode.as_str(),
                    digest: f.digest,
                    sha256: (f.digest.alg() == HashAlg::Sha256).then(|| f.digest.hex()),
                })
                .collect()
        }),
    })
}

/// Human-readable rendering of the sheet.
pub fn render(s: &Sheet) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "bundle    {}", s.bundle);
    if let Some(v) = &s.volume {
        let _ = writeln!(
            out,
            "volume    {} of {} (frames {}..+{}); the set joins with `airlock join`",
            v.number, v.count, v.first_frame, v.frames
        );
    }
    if let Some(base) = &s.delta_base_manifest_sha256 {
        let _ = writeln!(
            out,
            "delta     made against the bundle with manifest sha256:{base}: unpack with --base that bundle, or `airlock patch BASE DELTA -o NEW`"
        );
    }
    let _ = writeln!(
        out,
        "name      {} {} (sequence {})",
        s.name, s.version, s.sequence
    );
    let _ = writeln!(out, "target    {}", s.target);
    let _ = writeln!(out, "created   {}", s.created);
    let _ = writeln!(out, "expires   {}", s.expires);
    let _ = writeln!(out, "suite     {}", s.suite.name());
    let _ = writeln!(out, "manifest  sha256:{}", s.manifest_sha256);
    if s.manifest_digest.alg() != HashAlg::Sha256 {
        let _ = writeln!(
            out,
            "          {} (what the signatures bind)",
            s.manifest_digest.prefixed()
        );
    }
    let _ = writeln!(
        out,
        "content   {}, {} bytes in {}; bundle {} bytes",
        count(s.files, "file"),
        s.bytes,
        count(s.frames, "frame"),
        s.bundle_bytes
    );
    let _ = writeln!(out, "signers:");
    for sig in &s.signers {
        let known = match &sig.trusted_for {
            None => String::new(),
            Some(roles)
                if roles.is_empty() && sig.revoked_for.as_ref().is_some_and(|r| !r.is_empty()) =>
            {
                format!(
                    "  [REVOKED for {}]",
                    sig.revoked_for
                        .iter()
                        .flatten()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
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
            "  {:<8} key {}  {:<9}  signed {}{known}",
            sig.role.as_str(),
            sig.key_id,
            sig.algorithm.name(),
            sig.signed
        );
        let label = match sig.algorithm {
            SigAlg::Ed25519 => "trusted comment",
            SigAlg::MlDsa87 => "statement",
        };
        let _ = writeln!(out, "           {label}: {}", sig.trusted_comment);
    }
    let _ = writeln!(out, "artifacts:");
    for a in &s.artifacts {
        let _ = writeln!(
            out,
            "  {:<9} {:<28} {:>12} {:>14} bytes  {}",
            serde_json::to_value(a.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            a.name,
            count(a.files, "file"),
            a.bytes,
            a.tree_digest
        );
    }
    if let Some(t) = &s.not_before {
        let _ = writeln!(out, "not before {t} (sensitive target)");
    }
    let _ = writeln!(out, "safeguards:");
    if s.safeguards.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for (sg, path) in s.safeguards.iter().zip(&s.safeguard_paths) {
        let _ = writeln!(out, "  {:<15} {}  ({path})", sg.kind(), sg.summary());
    }
    match &s.policy {
        None => {
            let _ = writeln!(out, "policy:   none carried");
        }
        Some(p) => {
            let _ = writeln!(
                out,
                "policy:   {} v{} (expires {}), {}, signed by {}{}",
                p.id,
                p.version,
                p.expires,
                p.digest.prefixed(),
                if p.signature_keys.is_empty() {
                    "nobody".to_string()
                } else {
                    p.signature_keys.join(", ")
                },
                if p.verified { "" } else { " (not verified)" }
            );
            for m in &p.approved_models {
                let _ = writeln!(
                    out,
                    "  approves {} {} for {}",
                    m.name,
                    m.tree_digest.prefixed(),
                    m.targets.iter().cloned().collect::<Vec<_>>().join(", ")
                );
            }
            for d in &p.decisions {
                let _ = writeln!(out, "  ok   {:<17} {}", d.rule, d.detail);
            }
            if let Some(v) = &p.violation {
                let _ = writeln!(out, "  FAIL {v}");
            }
            if let Some(why) = &p.not_verified {
                let _ = writeln!(out, "  not verified: {why}");
            }
            for a in &p.allowed_files {
                let _ = writeln!(out, "  content gate exemption: {} ({})", a.path, a.reason);
            }
        }
    }
    if let Some(files) = &s.entries {
        let _ = writeln!(out, "files:");
        for f in files {
            let _ = writeln!(
                out,
                "  {}  {} {:>14}  {}",
                f.digest.hex(),
                f.mode,
                f.size,
                f.path
            );
        }
    }
    out
}
