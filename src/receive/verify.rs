//! `airlock verify`: everything decided from the signed manifest — signatures against the trust
//! file (thresholds of distinct keys), target against the site, expiry, rollback, the policy —
//! then every payload frame the file holds, its sha256 checked before any byte reaches the
//! decoder, on every core. `--deep` also decompresses and checks every file, writing nothing. A
//! bundle, one volume alone, or a delta alone (no base needed) can be verified.
use crate::container::payload::{check_frames, stream_payload};
use crate::container::{Container, Opened, SignedManifest, bundle::BundleFrames};
use crate::error::{Check, Error, Result};
use crate::format::digest::hex;
use crate::format::manifest::{FileSlice, files_in_frames};
use crate::format::time::Timestamp;
use crate::trust::enforce::{PolicyOutcome, enforce};
use crate::trust::state::StateDir;
use crate::trust::trust_file::SignerReport;
use crate::trust::{Authenticated, Trust, authenticate};
use crate::util::text::count;

/// How to verify.
pub struct VerifyOptions {
    /// The time to judge expiry against.
    pub now: Timestamp,
    /// Also decompress and hash every file.
    pub deep: bool,
    /// Worker threads.
    pub threads: usize,
    /// State directory for the rollback check; `None` skips it.
    pub state: Option<StateDir>,
}

/// One check and its outcome, for reports and audit logs.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckOutcome {
    /// Stable check name (the `check` enum of the JSON contract).
    pub check: &'static str,
    /// What was checked.
    pub detail: String,
}

/// Where a volume sits in its set and what it holds.
#[derive(Debug, serde::Serialize)]
pub struct VolumeInfo {
    /// Its number.
    pub number: u32,
    /// How many volumes the bundle has.
    pub count: u32,
    /// First frame held (index in the manifest).
    pub first_frame: usize,
    /// Frames held and checked.
    pub frames: usize,
    /// Frames in the whole bundle.
    pub total_frames: usize,
    /// The files (or parts) this volume holds.
    pub holds: Vec<FileSlice>,
}

/// What a delta carries and needs.
#[derive(Debug, serde::Serialize)]
pub struct DeltaInfo {
    /// sha256 of the base manifest the delta needs.
    pub base_manifest_sha256: String,
    /// Frames carried and checked.
    pub carried_frames: usize,
    /// Frames of the new bundle.
    pub frames: usize,
}

/// The result of a successful verification.
#[derive(Debug, serde::Serialize)]
pub struct VerifyReport {
    /// The file verified (for a volume or delta: that file).
    pub bundle: String,
    /// What kind of file it is.
    pub container: Container,
    /// Bundle name.
    pub name: String,
    /// Bundle version.
    pub version: String,
    /// Sequence.
    pub sequence: u64,
    /// Target.
    pub target: String,
    /// Expiry (RFC 3339).
    pub expires: String,
    /// sha256 of the manifest: its identifier, whatever the suite.
    pub manifest_sha256: String,
    /// The cryptographic suite the bundle was packed under.
    pub suite: crate::format::manifest::Suite,
    /// The manifest's digest in that suite: what the signatures bind.
    pub manifest_digest: crate::format::digest::Digest,
    /// Every signature and how it was judged.
    pub signers: Vec<SignerReport>,
    /// Every check that passed.
    pub checks: Vec<CheckOutcome>,
    /// The policy's signatures and the rules that held.
    pub policy: PolicyOutcome,
    /// Payload frames checked (for a volume or delta: those it holds).
    pub frames: usize,
    /// Files listed (and with `--deep`, checked).
    pub files: usize,
    /// Content bytes.
    pub bytes: u64,
    /// Whether files were decompressed and hashed.
    pub deep: bool,
    /// For a volume: where it sits in its set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume: Option<VolumeInfo>,
    /// For a delta: what it carries and which base it needs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta: Option<DeltaInfo>,
}

/// A bundle the receiving side accepts on the strength of its manifest frame alone: the
/// authenticated manifest, the checks that passed, and the policy's outcome.
pub struct Accepted<'a> {
    /// The authenticated manifest.
    pub auth: Authenticated<'a>,
    /// Every check that passed.
    pub checks: Vec<CheckOutcome>,
    /// The policy's signatures and the rules that held.
    pub policy: PolicyOutcome,
}

/// Signatures, thresholds, target, expiry, rollback (when a state directory is given) and the
/// policy: everything decided from the manifest frame alone.
pub fn check_authenticity<'a>(
    signed: &'a SignedManifest,
    trust: &Trust,
    now: Timestamp,
    state: Option<&StateDir>,
) -> Result<Accepted<'a>> {
    let path = &signed.path;
    let auth = authenticate(signed, trust)?;
    let mut checks = vec![CheckOutcome {
        check: Check::Threshold.name(),
        detail: trust
            .bundle_roles()
            .map(|(role, rt)| {
                let n = auth
                    .signers()
                    .iter()
                    .filter(|s| s.role == *role && s.counted)
                    .count();
                format!("{role}: {n} of {} required", rt.threshold)
            })
            .collect::<Vec<_>>()
            .join("; "),
    }];
    let b = &signed.manifest.bundle;
    if b.target != trust.site {
        return Err(Error::rejected(
            path,
            Check::Target,
            format!(
                "the bundle is built for target `{}`, this site is `{}`",
                b.target, trust.site
            ),
        ));
    }
    checks.push(CheckOutcome {
        check: Check::Target.name(),
        detail: format!("target `{}` is this site", b.target),
    });
    if now >= b.expires {
        return Err(Error::rejected(
            path,
            Check::Expiry,
            format!("the bundle expired at {} (now {now})", b.expires),
        ));
    }
    checks.push(CheckOutcome {
        check: Check::Expiry.name(),
        detail: format!("valid until {}", b.expires),
    });
    if let Some(state) = state {
        let installed =
            state.check_rollback(path, &b.name, b.sequence, &hex(&signed.manifest_sha256))?;
        checks.push(CheckOutcome {
            check: Check::Rollback.name(),
            detail: match installed {
                None => format!(
                    "no earlier `{}` installed (state {})",
                    b.name,
                    state.path.display()
                ),
                Some(i) => format!("sequence {} against installed {}", b.sequence, i.sequence),
            },
        });
    }
    let policy = enforce(&auth, trust, now)?;
    checks.push(CheckOutcome {
        check: Check::Policy.name(),
        detail: match (&policy.policy, policy.enforced) {
            (Some(p), true) => {
                format!(
                    "policy {} v{}: {} held",
                    p.id,
                    p.version,
                    count(policy.decisions.len(), "rule")
                )
            }
            (Some(p), false) => format!(
                "policy {} v{} carried but not enforced: the trust file pins no policy keys",
                p.id, p.version
            ),
            (None, _) => "no policy carried; the trust file requires none".to_string(),
        },
    });
    // The provider's model signatures, one line each, so reports and the audit log record them.
    for c in policy
        .oms
        .iter()
        .filter(|c| c.status != crate::trust::oms::OmsStatus::Absent)
    {
        checks.push(CheckOutcome {
            check: Check::Policy.name(),
            detail: c.detail.clone(),
        });
    }
    Ok(Accepted {
        auth,
        checks,
        policy,
    })
}

/// The report for a bundle whose manifest passed and whose frames (with `deep`, files) were
/// checked. `frames` is how many frames this file held.
pub fn report(
    file: &str,
    container: Container,
    accepted: Accepted<'_>,
    frames: usize,
    deep: bool,
) -> VerifyReport {
    let m = accepted.auth.manifest();
    let signed = accepted.auth.signed();
    VerifyReport {
        bundle: file.to_string(),
        container,
        name: m.bundle.name.clone(),
        version: m.bundle.version.clone(),
        sequence: m.bundle.sequence,
        target: m.bundle.target.clone(),
        expires: m.bundle.expires.to_string(),
        manifest_sha256: hex(&signed.manifest_sha256),
        suite: m.layout.suite,
        manifest_digest: signed.manifest_digest,
        signers: accepted.auth.signers().to_vec(),
        checks: accepted.checks,
        policy: accepted.policy,
        frames,
        files: m.files.len(),
        bytes: m.files.iter().map(|f| f.size).sum(),
        deep,
        volume: None,
        delta: None,
    }
}

/// Verifies one airlock file against a trust file: a bundle (every frame, with `deep` every
/// file), a volume alone (its frames), or a delta alone (the frames it carries).
pub fn verify(opened: &Opened, trust: &Trust, opts: &VerifyOptions) -> Result<VerifyReport> {
    let signed = opened.signed();
    let mut accepted = check_authenticity(signed, trust, opts.now, opts.state.as_ref())?;
    let m = &signed.manifest;
    let file = signed.path.display().to_string();
    match opened {
        Opened::Bundle(b) => {
            if opts.deep {
                stream_payload(
                    &signed.path,
                    m,
                    &BundleFrames(b),
                    opts.threads,
                    |_| Ok(std::io::sink()),
                    |_, _| Ok(()),
                )?;
            } else {
                let all: Vec<usize> = (0..m.frames.len()).collect();
                check_frames(
                    &signed.path,
                    &b.file,
                    &m.frames,
                    &all,
                    "",
                    false,
                    opts.threads,
                )?;
            }
            accepted.checks.push(CheckOutcome {
                check: Check::FrameDigest.name(),
                detail: format!(
                    "sha256 of {} matches the manifest",
                    count(m.frames.len(), "frame")
                ),
            });
            if opts.deep {
                accepted.checks.push(CheckOutcome {
                    check: Check::FileDigest.name(),
                    detail: format!(
                        "size and {} of {} match the manifest",
                        m.layout.suite.hash().name(),
                        count(m.files.len(), "file")
                    ),
                });
            }
            Ok(report(
                &file,
                Container::Bundle,
                accepted,
                m.frames.len(),
                opts.deep,
            ))
        }
        Opened::Volume(v) => {
            let range = v.footer.frames();
            check_frames(
                &signed.path,
                &v.file,
                &m.frames,
                &range.clone().collect::<Vec<_>>(),
                &format!("{} (re-transfer this volume only)", v.label()),
                opts.deep,
                opts.threads,
            )?;
            accepted.checks.push(CheckOutcome {
                check: Check::FrameDigest.name(),
                detail: format!(
                    "{}: frames {}..{} ({} of {}) match the manifest{}",
                    v.label(),
                    range.start,
                    range.end - 1,
                    range.len(),
                    count(m.frames.len(), "frame"),
                    if opts.deep {
                        " and decompress to their declared sizes"
                    } else {
                        ""
                    }
                ),
            });
            let mut r = report(&file, Container::Volume, accepted, range.len(), false);
            r.volume = Some(VolumeInfo {
                number: v.footer.number,
                count: v.footer.count,
                first_frame: range.start,
                frames: range.len(),
                total_frames: m.frames.len(),
                holds: files_in_frames(m, range),
            });
            Ok(r)
        }
        Opened::Delta(d) => {
            let carried = &d.carried;
            // Carried frames are back to back from offset 0, in index order.
            check_frames(
                &signed.path,
                &d.file,
                &m.frames,
                carried,
                crate::container::delta::DELTA_PLACE,
                opts.deep,
                opts.threads,
            )?;
            accepted.checks.push(CheckOutcome {
                check: Check::FrameDigest.name(),
                detail: format!(
                    "sha256 of {} (of {}) matches the manifest; the other {} from base manifest sha256:{}",
                    count(carried.len(), "carried frame"),
                    m.frames.len(),
                    if m.frames.len() - carried.len() == 1 { "1 comes".to_string() } else { format!("{} come", m.frames.len() - carried.len()) },
                    hex(&d.footer.base_manifest_sha256)
                ),
            });
            let mut r = report(&file, Container::Delta, accepted, carried.len(), false);
            r.delta = Some(DeltaInfo {
                base_manifest_sha256: hex(&d.footer.base_manifest_sha256),
                carried_frames: carried.len(),
                frames: m.frames.len(),
            });
            Ok(r)
        }
    }
}
