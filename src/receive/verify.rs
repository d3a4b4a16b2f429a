//! `airlock verify`: signatures against the trust file (thresholds of distinct keys), target
//! against the site, expiry, then every payload frame's sha256 — in parallel, before any byte
//! reaches the decoder. `--deep` also decompresses and checks every file, writing nothing.
use crate::container::bundle::OpenedBundle;
use crate::container::payload::{
    FrameChain, open_frame, read_frames, verify_frame_digest, walk_payload,
};
use crate::error::{Check, Error, IoContext, Result};
use crate::format::digest::hex;
use crate::format::manifest::{FileEntry, FrameRecord};
use crate::format::time::Timestamp;
use crate::trust::enforce::{PolicyOutcome, enforce};
use crate::trust::state::StateDir;
use crate::trust::trust_file::{SignerReport, Trust, authenticate};
use crate::util::pipeline;
use crate::util::progress::Progress;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

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
    /// Stable check name.
    pub check: &'static str,
    /// What was checked.
    pub detail: String,
}

/// The result of a successful verification.
#[derive(Debug, serde::Serialize)]
pub struct VerifyReport {
    /// The bundle file.
    pub bundle: String,
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
    /// sha256 of the manifest.
    pub manifest_sha256: String,
    /// Every signature and how it was judged.
    pub signers: Vec<SignerReport>,
    /// Every check that passed.
    pub checks: Vec<CheckOutcome>,
    /// The policy's signatures and the rules that held.
    pub policy: PolicyOutcome,
    /// Payload frames checked.
    pub frames: usize,
    /// Files listed (and with `--deep`, checked).
    pub files: usize,
    /// Content bytes.
    pub bytes: u64,
    /// Whether files were decompressed and hashed.
    pub deep: bool,
}

/// What the manifest frame alone established.
#[derive(Debug)]
pub struct Authenticity {
    /// Every signature and how it was judged.
    pub signers: Vec<SignerReport>,
    /// Every check that passed.
    pub checks: Vec<CheckOutcome>,
    /// The policy's signatures and the rules that held.
    pub policy: PolicyOutcome,
}

/// Signatures, thresholds, target, expiry, rollback (when a state directory is given) and the
/// policy: everything decided from the manifest frame alone.
pub fn check_authenticity(
    bundle: &OpenedBundle,
    trust: &Trust,
    now: Timestamp,
    state: Option<&StateDir>,
) -> Result<Authenticity> {
    let path = &bundle.path;
    let auth = authenticate(bundle, trust)?;
    let signers = auth.signers().to_vec();
    let mut checks = vec![CheckOutcome {
        check: Check::Threshold.name(),
        detail: trust
            .bundle_roles()
            .map(|(role, rt)| {
                let n = signers
                    .iter()
                    .filter(|s| s.role == *role && s.counted)
                    .count();
                format!("{role}: {n} of {} required", rt.threshold)
            })
            .collect::<Vec<_>>()
            .join("; "),
    }];
    let b = &bundle.manifest.bundle;
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
            state.check_rollback(path, &b.name, b.sequence, &hex(&bundle.manifest_sha256))?;
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
            (Some((id, v)), true) => {
                format!("policy {id} v{v}: {} rules held", policy.decisions.len())
            }
            (Some((id, v)), false) => format!(
                "policy {id} v{v} carried but not enforced: the trust file pins no policy keys"
            ),
            (None, _) => "no policy carried; the trust file requires none".to_string(),
        },
    });
    Ok(Authenticity {
        signers,
        checks,
        policy,
    })
}

/// The report for a bundle that passed `auth` and, with `deep`, the file checks.
pub fn report(bundle: &OpenedBundle, auth: Authenticity, deep: bool) -> VerifyReport {
    let m = &bundle.manifest;
    VerifyReport {
        bundle: bundle.path.display().to_string(),
        name: m.bundle.name.clone(),
        version: m.bundle.version.clone(),
        sequence: m.bundle.sequence,
        target: m.bundle.target.clone(),
        expires: m.bundle.expires.to_string(),
        manifest_sha256: hex(&bundle.manifest_sha256),
        signers: auth.signers,
        checks: auth.checks,
        policy: auth.policy,
        frames: m.frames.len(),
        files: m.files.len(),
        bytes: m.files.iter().map(|f| f.size).sum(),
        deep,
    }
}

/// A handle on `file` positioned at its start (where payload frames are stored back to back).
pub(crate) fn rewound(file: &std::fs::File, path: &Path) -> Result<std::fs::File> {
    let mut reader = file.try_clone().ctx("open", path)?;
    reader.seek(SeekFrom::Start(0)).ctx("seek in", path)?;
    Ok(reader)
}

/// Checks the payload frames `indices` of `frames`, stored back to back in that order from the
/// start of `file`, on `threads` workers: each frame's sha256 before anything decodes it, and with
/// `deep` its decompressed length too. `place` names the container in messages (`""` for a bundle).
#[allow(clippy::too_many_arguments)]
pub fn check_frames(
    path: &Path,
    file: &std::fs::File,
    frames: &[FrameRecord],
    indices: &[usize],
    place: &str,
    deep: bool,
    threads: usize,
) -> Result<()> {
    let reader = std::io::BufReader::with_capacity(1 << 20, rewound(file, path)?);
    let progress = Progress::start(
        "verify",
        indices.iter().map(|&i| frames[i].compressed_size).sum(),
    );
    pipeline::run(
        threads,
        threads + 2,
        |emitter| {
            read_frames(path, reader, frames, indices.iter().copied(), |i, bytes| {
                progress.advance(bytes.len() as u64);
                emitter.emit((i, bytes))
            })
        },
        |(i, bytes): (usize, Vec<u8>)| {
            if deep {
                open_frame(path, place, i, &frames[i], &bytes).map(drop)
            } else {
                verify_frame_digest(path, place, i, &frames[i], &bytes)
            }
        },
        |ordered| {
            let mut checked = 0;
            for result in ordered {
                result?;
                checked += 1;
            }
            if checked != indices.len() {
                return Err(Error::Environment(format!(
                    "only {checked} of {} frames were checked",
                    indices.len()
                )));
            }
            Ok(())
        },
    )?;
    progress.finish();
    Ok(())
}

/// Hashes every payload frame of a bundle against its manifest, in parallel.
pub fn verify_frames(bundle: &OpenedBundle, threads: usize) -> Result<()> {
    let frames = &bundle.manifest.frames;
    let all: Vec<usize> = (0..frames.len()).collect();
    check_frames(&bundle.path, &bundle.file, frames, &all, "", false, threads)
}

/// Where a bundle's payload frames are read from, in order, and who is named when one is bad: the
/// bundle file itself, or a set of volumes (`volume::VolumeFrames`).
pub trait FrameSource: Sync {
    /// Reads every payload frame in manifest order, handing each (index, compressed bytes) to
    /// `emit`; stops early when `emit` returns false.
    fn read(&self, emit: &mut dyn FnMut(usize, Vec<u8>) -> bool) -> Result<()>;
    /// Checks frame `index`'s sha256 against the signed manifest, then decompresses it.
    fn open(&self, index: usize, bytes: &[u8]) -> Result<Vec<u8>>;
}

/// The payload frames of a single-file bundle.
pub struct BundleFrames<'a>(pub &'a OpenedBundle);

impl FrameSource for BundleFrames<'_> {
    fn read(&self, emit: &mut dyn FnMut(usize, Vec<u8>) -> bool) -> Result<()> {
        let frames = &self.0.manifest.frames;
        let reader =
            std::io::BufReader::with_capacity(1 << 20, rewound(&self.0.file, &self.0.path)?);
        read_frames(&self.0.path, reader, frames, 0..frames.len(), |i, bytes| {
            emit(i, bytes)
        })
    }

    fn open(&self, index: usize, bytes: &[u8]) -> Result<Vec<u8>> {
        open_frame(
            &self.0.path,
            "",
            index,
            &self.0.manifest.frames[index],
            bytes,
        )
    }
}

/// Streams the payload: frames read in order from `source`, verified and decompressed on
/// `threads` workers, then walked against the manifest with `begin`/`end` deciding where each
/// file's bytes go.
pub fn stream_payload<W: Write>(
    bundle: &OpenedBundle,
    source: &dyn FrameSource,
    threads: usize,
    begin: impl FnMut(&FileEntry) -> Result<W>,
    end: impl FnMut(&FileEntry, W) -> Result<()>,
) -> Result<()> {
    let path = &bundle.path;
    let m = &bundle.manifest;
    let progress = Progress::start("payload", m.layout.payload_bytes);
    pipeline::run(
        threads,
        threads + 2,
        |emitter| {
            source.read(&mut |i, bytes| {
                progress.advance(bytes.len() as u64);
                emitter.emit((i, bytes))
            })
        },
        |(i, bytes): (usize, Vec<u8>)| source.open(i, &bytes),
        |ordered| {
            walk_payload(
                path,
                FrameChain::new(ordered),
                &m.files,
                m.bundle.mtime,
                begin,
                end,
            )
        },
    )?;
    progress.finish();
    Ok(())
}

/// Verifies a bundle against a trust file.
pub fn verify(bundle: &OpenedBundle, trust: &Trust, opts: &VerifyOptions) -> Result<VerifyReport> {
    let mut auth = check_authenticity(bundle, trust, opts.now, opts.state.as_ref())?;
    let m = &bundle.manifest;
    if opts.deep {
        stream_payload(
            bundle,
            &BundleFrames(bundle),
            opts.threads,
            |_| Ok(std::io::sink()),
            |_, _| Ok(()),
        )?;
    } else {
        verify_frames(bundle, opts.threads)?;
    }
    auth.checks.push(CheckOutcome {
        check: Check::FrameDigest.name(),
        detail: format!("{} frames match the manifest", m.frames.len()),
    });
    if opts.deep {
        auth.checks.push(CheckOutcome {
            check: Check::FileDigest.name(),
            detail: format!("{} files match size and sha256", m.files.len()),
        });
    }
    Ok(report(bundle, auth, opts.deep))
}
