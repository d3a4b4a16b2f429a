//! `airlock pack`: spec → signed bundle. Files are read once, sequentially, hashed as they stream
//! into frames; frames are compressed and hashed on a worker pool and written in order; the
//! manifest, checksum file and release signature go into the final frame, then the footer. The
//! output appears atomically (temporary file in the same directory, then rename).
pub mod logistics;
pub mod provenance;
pub mod sign;
pub mod source;
pub mod spec;

use crate::container::payload::unwrap_io;
use crate::container::write::write_tail;
use crate::container::{OpenedBundle, SignedManifest};
use crate::error::{Check, Error, IoContext, Result};
use crate::format::digest::{Digest, HashAlg, sha256};
use crate::format::frame::compress_frame;
use crate::format::manifest::{
    Artifact, BundleInfo, FileEntry, FrameRecord, Layout, Manifest, Suite, artifact_digest,
    check_file_set, files_below,
};
use crate::format::manifest_frame::{MAX_COPY_BYTES, ManifestFrame};
use crate::format::path::BundlePath;
use crate::format::signature::{Role, SigAlg};
use crate::format::time::{Timestamp, check_mtime};
use crate::format::{self, FrameSpan};
use crate::pack::source::collect;
use crate::pack::source::{PackFile, PayloadStream};
use crate::pack::spec::Spec;
use crate::trust::enforce::{WeightsRule, gate_file, is_governed, load_governed, release_facts};
use crate::trust::keys::Signer;
use crate::trust::policy::{self, BundleFacts};
use crate::util::output::{AtomicOutput, BackgroundFlush};
use crate::util::pipeline;
use crate::util::progress::Progress;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// How to pack.
pub struct PackOptions {
    /// The release keys: one signature each, in this order of preference (at least one).
    pub signers: Vec<Signer>,
    /// The suite asked for on the command line (`--suite`); else the spec's, else classic.
    pub suite: Option<Suite>,
    /// Output path; default `NAME-VERSION.airlock.tar.zst` in the current directory.
    pub output: Option<PathBuf>,
    /// Worker threads for compression.
    pub threads: usize,
    /// zstd level.
    pub level: i32,
    /// SOURCE_DATE_EPOCH, if set: entry mtimes and `created`; at most `timefmt::MAX_MTIME`.
    pub source_date_epoch: Option<u64>,
    /// The current time: signing time, and `created` when nothing fixes it.
    pub now: Timestamp,
    /// Replace an existing output file (`--force`). Without it an existing bundle — which may
    /// already carry countersignatures — is never replaced.
    pub force: bool,
}

/// Refuses to replace the existing file `path` unless `force` (exit 2).
pub fn refuse_existing(path: &Path, force: bool) -> Result<()> {
    if !force && std::fs::symlink_metadata(path).is_ok() {
        return Err(Error::config(
            path,
            "already exists; airlock pack will not replace it (it may carry countersignatures)",
            "choose another -o OUT, remove the old file, or pass --force to replace it",
        ));
    }
    Ok(())
}

/// What `pack` produced.
#[derive(Debug, serde::Serialize)]
pub struct PackReport {
    /// The bundle written.
    pub output: PathBuf,
    /// SHA-256 of the manifest: its identifier in volumes, deltas and logs, whatever the suite.
    pub manifest_sha256: String,
    /// The suite packed under.
    pub suite: Suite,
    /// The suite's digest of the manifest (`sha384:` for cnsa2): what the signatures bind.
    pub manifest_digest: Digest,
    /// The release signatures written: file names under `airlock/signatures/`.
    pub signatures: Vec<String>,
    /// Files packed.
    pub files: usize,
    /// Content bytes packed.
    pub bytes: u64,
    /// Payload frames.
    pub frames: usize,
    /// Bundle size in bytes.
    pub bundle_bytes: u64,
    /// Where `created` came from: "SOURCE_DATE_EPOCH", "spec" or "clock".
    pub created_from: &'static str,
    /// The OMS check of every model artifact (the provider's OpenSSF model signatures).
    pub oms: Vec<crate::trust::oms::OmsCheck>,
}

pub use crate::container::bundle::default_output_name;

/// An artifact's kind, name and directory in the bundle.
pub type ArtifactRoot = (crate::format::manifest::Kind, String, BundlePath);

/// Lists the spec's files as sorted manifest entries (digests not yet known: a zero `alg` digest
/// until the payload stream has read the file).
pub(crate) fn plan_files(spec: &Spec, alg: HashAlg) -> Result<(Vec<PackFile>, Vec<ArtifactRoot>)> {
    let mut files = Vec::new();
    let mut artifacts = Vec::new();
    for a in &spec.artifacts {
        let root = BundlePath::parse(&format!("{}/{}", a.kind.as_str(), a.name)).map_err(|e| {
            Error::config(
                &spec.path,
                format!("artifact `{}`: {e}", a.name),
                "rename the artifact",
            )
        })?;
        let mut listed = collect(&a.source).map_err(|e| artifact_error(spec, a, e))?;
        check_artifact_kind(spec, a, &listed)?;
        provenance::add_signature(&mut listed, a)?;
        for f in listed {
            let path = root.join(&f.relative).map_err(|e| {
                Error::config(
                    &f.source,
                    format!("cannot be bundled as `{}/{}`: {e}", root, f.relative.escape_debug()),
                    "rename the file to portable characters (A-Z a-z 0-9 . _ - + @ = , ~ %), or shorten its path",
                )
            })?;
            files.push(PackFile {
                entry: FileEntry {
                    path,
                    size: f.size,
                    mode: f.mode,
                    digest: alg.digest(&[]),
                },
                source: f.source,
            });
        }
        artifacts.push((a.kind, a.name.clone(), root));
    }
    files.sort_by(|a, b| a.entry.path.cmp(&b.entry.path));
    let entries: Vec<FileEntry> = files.iter().map(|f| f.entry.clone()).collect();
    check_file_set(&entries)
        .map_err(|e| Error::config(&spec.path, e, "rename or remove the clashing files"))?;
    if files.is_empty() {
        return Err(Error::config(
            &spec.path,
            "the artifacts contain no files",
            "check the artifact paths",
        ));
    }
    if files.len() > format::MAX_ENTRIES {
        return Err(Error::config(
            &spec.path,
            format!("more than {} files", format::MAX_ENTRIES),
            "split the release into several bundles",
        ));
    }
    artifacts.sort_by(|a, b| a.2.cmp(&b.2));
    Ok((files, artifacts))
}

/// Packs `spec` into a bundle.
pub fn pack(spec: &Spec, opts: &PackOptions) -> Result<PackReport> {
    pack_into(spec, opts).map(|(report, _)| report)
}

/// Packs `spec` into a bundle and returns it open, as the volume and delta writers need it.
pub(crate) fn pack_into(spec: &Spec, opts: &PackOptions) -> Result<(PackReport, OpenedBundle)> {
    let b = &spec.bundle;
    let source_date_epoch = opts
        .source_date_epoch
        .map(|t| check_mtime("SOURCE_DATE_EPOCH", t).map_err(|e| sde_error(&spec.path, e)))
        .transpose()?;
    let (created, created_from) = match (source_date_epoch, b.created) {
        (Some(t), _) => (
            Timestamp::from_unix(t).expect("bounded by MAX_MTIME, below MAX_UNIX"),
            "SOURCE_DATE_EPOCH",
        ),
        (None, Some(t)) => (t, "spec"),
        (None, None) => (opts.now, "clock"),
    };
    let expires = match b.expires {
        Some(t) => t,
        None => created.checked_add_days(b.valid_days).ok_or_else(|| {
            Error::config(
                &spec.path,
                format!(
                    "[bundle] valid_days = {} from created {created} (from {created_from}) ends after 9999-12-31T23:59:59Z",
                    b.valid_days
                ),
                "set a smaller valid_days, or expires = \"YYYY-MM-DDTHH:MM:SSZ\"",
            )
        })?,
    };
    if expires <= opts.now {
        return Err(Error::config(
            &spec.path,
            format!(
                "the bundle would have expired already: created {created} (from {created_from}), expires {expires}"
            ),
            "set [bundle] expires = \"YYYY-MM-DDTHH:MM:SSZ\" (or a larger valid_days, or a recent SOURCE_DATE_EPOCH)",
        ));
    }
    if expires <= created {
        return Err(Error::config(
            &spec.path,
            "`expires` is not after the creation time",
            "set a later expires",
        ));
    }
    let suite = resolve_suite(spec, opts)?;
    let alg = suite.hash();
    if !(1..=22).contains(&opts.level) {
        return Err(Error::config(
            "--level",
            format!("{} is out of range", opts.level),
            "use a zstd level from 1 to 22",
        ));
    }
    let mtime = source_date_epoch.unwrap_or(0);
    let (mut files, artifact_roots) = plan_files(spec, alg)?;
    let spans = format::plan_frames(files.iter().map(|f| f.entry.size));
    let copies = read_governed(&files)?;
    let governed = load_governed(&copies).map_err(|e| {
        Error::config(
            &spec.path,
            e,
            "fix the policy or safeguard file named above",
        )
    })?;
    // A trust update the bundle carries must at least be a trust file with a root role and
    // well-formed root signatures; whether it may replace a site's trust file is judged there.
    if let Some(t) = &governed.trust {
        t.update(&spec.path).check_form()?;
    }
    let allowed: Vec<String> = governed
        .policy
        .as_ref()
        .map(|p| {
            p.policy
                .allowed_files
                .iter()
                .map(|a| a.path.clone())
                .collect()
        })
        .unwrap_or_default();
    for f in &files {
        gate_file(&spec.path, &f.entry.path, &f.source, &allowed, None)?;
    }
    if let Some(p) = &governed.policy {
        if p.signatures.is_empty() {
            return Err(Error::config(
                &spec.path,
                format!("the policy `{}` carries no signature", p.path),
                "the model provider signs policy.toml (`airlock sign-policy` or `minisign -S`); put the .minisig beside it in the policy artifact",
            ));
        }
        // Rules that do not depend on file digests are checked before any compression work.
        let early = BundleFacts {
            target: &b.target,
            models: Vec::new(),
            safeguards: governed.safeguards.clone(),
            notice_given: b.notice_given,
            not_before: b.not_before,
            stray_weights: Vec::new(),
            suite,
        };
        policy::evaluate(&p.policy, &early, opts.now).map_err(|v| policy_refusal(&spec.path, v))?;
    }
    provenance::check_before_packing(spec, &governed, &artifact_roots, &files)?;

    let output = opts
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(default_output_name(&b.name, &b.version)));
    refuse_existing(&output, opts.force)?;
    let out = AtomicOutput::create(&output)?;
    let temp_path = out.temp_path().to_path_buf();
    let mut writer = BufWriter::with_capacity(1 << 20, out.handle()?);

    // Writeback runs while later frames are compressed, so the fsync before the rename is short.
    let flush = BackgroundFlush::start(out.handle()?, &temp_path);
    let frames = write_payload(
        &mut files,
        PayloadPlan {
            spans: &spans,
            mtime,
            alg,
        },
        opts,
        &mut writer,
        &temp_path,
        &flush,
    )?;
    let payload_bytes: u64 = frames.iter().map(|f| f.compressed_size).sum();

    let sources: Vec<(BundlePath, PathBuf)> = files
        .iter()
        .map(|f| (f.entry.path.clone(), f.source.clone()))
        .collect();
    let entries: Vec<FileEntry> = files.into_iter().map(|f| f.entry).collect();
    let artifacts = artifact_roots
        .into_iter()
        .map(|(kind, name, path)| artifact_record(kind, name, path, &entries, alg))
        .collect();
    let sums = crate::format::manifest::checksum_file(&entries);
    let manifest = Manifest {
        bundle: BundleInfo {
            name: b.name.clone(),
            version: b.version.clone(),
            sequence: b.sequence,
            target: b.target.clone(),
            created,
            expires,
            mtime,
            notice_given: b.notice_given,
            not_before: b.not_before,
        },
        layout: Layout {
            suite,
            zstd_level: opts.level,
            payload_bytes,
            checksums: alg.digest(sums.as_bytes()),
        },
        policy: governed.policy.as_ref().map(|p| p.reference(alg)),
        artifacts,
        frames,
        files: entries,
    };
    for (path, bytes) in &copies {
        let listed = manifest
            .files
            .iter()
            .find(|f| f.path == *path)
            .map(|f| f.digest);
        if listed != Some(alg.digest(bytes)) {
            return Err(Error::config(
                &spec.path,
                format!("`{path}` changed while it was being packed"),
                "pack again",
            ));
        }
    }
    // The provider's model signatures first, so a modified file is named (`provenance`).
    let oms = provenance::check_packed(spec, &governed, &manifest)?;
    if let Some(p) = &governed.policy {
        policy::evaluate(&p.policy, &release_facts(&manifest, &governed), opts.now)
            .map_err(|v| policy_refusal(&spec.path, v))?;
        // Weights outside model artifacts, by content (the evaluation above judged names).
        let rule = WeightsRule {
            policy: &p.policy,
            manifest: &manifest,
        };
        for (path, source) in &sources {
            rule.check_file(&spec.path, path, source, &allowed)
                .map_err(refusing_to_pack)?;
        }
    }
    let manifest_text = manifest.to_canonical();
    debug_assert!(manifest.check_consistency().is_ok());
    let mut signatures = Vec::with_capacity(opts.signers.len());
    for signer in &opts.signers {
        let (name, text) =
            signer.sign_manifest(&manifest, manifest_text.as_bytes(), Role::Release, opts.now)?;
        signatures.push((name, text.into_bytes()));
    }
    signatures.sort();
    let frame = ManifestFrame {
        manifest: manifest_text.clone().into_bytes(),
        sums: sums.into_bytes(),
        sums_alg: alg,
        copies,
        signatures,
        mtime,
    };
    let compressed = frame
        .encode(opts.level)
        .ctx("compress the manifest frame for", &temp_path)?;
    let bundle_bytes = write_tail(&mut writer, &compressed, payload_bytes, &temp_path)?;
    writer
        .into_inner()
        .map_err(|e| Error::io("write", &temp_path, e.into_error()))?;
    flush.finish()?;
    let file = out.handle()?;
    out.commit()?;
    let manifest_sha256 = sha256(manifest_text.as_bytes());
    let manifest_digest = manifest.digest_of(manifest_text.as_bytes());
    let report = PackReport {
        output: output.clone(),
        manifest_sha256: crate::format::digest::hex(&manifest_sha256),
        suite,
        manifest_digest,
        signatures: frame.signatures.iter().map(|(n, _)| n.clone()).collect(),
        files: manifest.files.len(),
        bytes: manifest.files.iter().map(|f| f.size).sum(),
        frames: manifest.frames.len(),
        bundle_bytes,
        created_from,
        oms,
    };
    // The bundle just written, as a reader would open it, built from what was written rather than
    // read back: volume and delta writers take it from here.
    let footer = format::Footer {
        manifest_offset: payload_bytes,
        manifest_len: compressed.len() as u64,
    };
    let signed =
        SignedManifest::assemble(&output, Some(compressed), frame, manifest).map_err(|e| {
            Error::Internal(format!(
                "the release signature just made does not parse: {e}"
            ))
        })?;
    let bundle = OpenedBundle {
        signed,
        file,
        len: bundle_bytes,
        footer,
    };
    Ok((report, bundle))
}

/// The suite to pack under: `--suite`, else the spec's `[bundle] suite`, else classic; a flag
/// that contradicts the spec is refused rather than silently downgrading either. Checks that the
/// signers suit it: ML-DSA-87 signatures bind a SHA-384 manifest digest, so only cnsa2 carries them.
pub(crate) fn resolve_suite(spec: &Spec, opts: &PackOptions) -> Result<Suite> {
    let suite = match (opts.suite, spec.bundle.suite) {
        (Some(flag), Some(listed)) if flag != listed => {
            return Err(Error::config(
                &spec.path,
                format!(
                    "--suite {} contradicts the spec's [bundle] suite = \"{}\"",
                    flag.name(),
                    listed.name()
                ),
                "drop --suite, or change the spec's suite",
            ));
        }
        (flag, listed) => flag.or(listed).unwrap_or(Suite::Classic),
    };
    if opts.signers.is_empty() {
        return Err(Error::config(
            "--key",
            "no release key given",
            "pass --key KEY (repeat it to sign with several keys, e.g. an Ed25519 and an ML-DSA-87 key)",
        ));
    }
    let mut ids = std::collections::BTreeSet::new();
    for signer in &opts.signers {
        if signer.algorithm() == SigAlg::MlDsa87 && suite != Suite::Cnsa2 {
            return Err(Error::config(
                "--key",
                format!(
                    "key {} is an ML-DSA-87 key, but the bundle's suite is {}: ML-DSA-87 signatures bind a SHA-384 manifest and are carried by cnsa2 bundles only",
                    signer.id(),
                    suite.name()
                ),
                "pack with --suite cnsa2 (or [bundle] suite = \"cnsa2\"), or sign with a minisign key",
            ));
        }
        if !ids.insert((signer.algorithm(), signer.id().to_string())) {
            return Err(Error::config(
                "--key",
                format!("key {} is given twice", signer.id()),
                "pass each release key once",
            ));
        }
    }
    Ok(suite)
}

/// A policy rule broken by the release being packed: say it is the packer's refusal.
fn refusing_to_pack(e: Error) -> Error {
    match e {
        Error::Rejected {
            file,
            check,
            detail,
            hint,
        } => Error::Rejected {
            file,
            check,
            detail: format!("{detail} (refusing to pack)"),
            hint,
        },
        other => other,
    }
}

fn sde_error(spec: &Path, detail: String) -> Error {
    Error::config(
        spec,
        detail,
        "set SOURCE_DATE_EPOCH to the release's commit time, e.g. $(git log -1 --format=%ct)",
    )
}

/// A missing (or unusable) artifact path, named with the spec and the artifact that declares it:
/// the fix is in the spec or in the source tree, not on the command line.
fn artifact_error(spec: &Spec, a: &crate::pack::spec::ArtifactSpec, e: Error) -> Error {
    match e {
        Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => Error::config(
            &spec.path,
            format!(
                "artifact `{}` (kind = \"{}\"): its path {} does not exist",
                a.name,
                a.kind.as_str(),
                a.source.display()
            ),
            "fix the artifact's `path` in the spec (paths are relative to the spec file), or put the files there",
        ),
        Error::Config { file, detail, .. } if file == a.source && detail == "does not exist" => {
            Error::config(
                &spec.path,
                format!(
                    "artifact `{}` (kind = \"{}\"): its path {} does not exist",
                    a.name,
                    a.kind.as_str(),
                    a.source.display()
                ),
                "fix the artifact's `path` in the spec (paths are relative to the spec file), or put the files there",
            )
        }
        Error::Config { file, detail, hint } if file == a.source => Error::config(
            &spec.path,
            format!(
                "artifact `{}` (kind = \"{}\"): {}: {detail}",
                a.name,
                a.kind.as_str(),
                file.display()
            ),
            hint,
        ),
        other => other,
    }
}

/// Refuses an artifact whose files cannot be of its declared kind (a model directory declared
/// `kind = "safeguard"`), with a hint about the spec rather than about the policy.
fn check_artifact_kind(
    spec: &Spec,
    a: &crate::pack::spec::ArtifactSpec,
    files: &[crate::pack::source::SourceFile],
) -> Result<()> {
    use crate::format::manifest::Kind;
    let (fits, holds): (fn(&str) -> bool, &str) = match a.kind {
        Kind::Safeguard => (|f| f.ends_with(".toml"), "only .toml safeguard configs"),
        Kind::Policy => (
            |f| {
                f == policy::POLICY_FILE
                    || ((f.ends_with(".minisig") || f.ends_with(".mldsa87")) && !f.contains('/'))
            },
            "only policy.toml and its signatures (.minisig, NAME-KEYID.mldsa87)",
        ),
        _ => return Ok(()),
    };
    let misfits: Vec<&str> = files
        .iter()
        .map(|f| f.relative.as_str())
        .filter(|f| !fits(f))
        .collect();
    if misfits.is_empty() {
        return Ok(());
    }
    let shown: Vec<String> = misfits.iter().take(3).map(|f| format!("`{f}`")).collect();
    Err(Error::config(
        &spec.path,
        format!(
            "artifact `{}` is declared kind = \"{}\", which holds {holds}, but {} holds {}{}",
            a.name,
            a.kind.as_str(),
            a.source.display(),
            shown.join(", "),
            if misfits.len() > 3 {
                format!(" and {} more", misfits.len() - 3)
            } else {
                String::new()
            }
        ),
        "fix the artifact's `kind` in the spec to what its path holds (model weights, tokenizer and configs are kind = \"model\"; other files kind = \"data\"), or its `path`",
    ))
}

/// A policy rule the release would break, refused before signing, with what the packer (not
/// the receiving site) can change.
fn policy_refusal(spec: &Path, v: policy::Violation) -> Error {
    let hint = match v.rule {
        "notice-period" => {
            "edit [bundle] in the spec: set notice_given (when notice was given) and not_before (the earliest activation, at least the policy's notice_days later), as RFC 3339 UTC times such as \"2026-11-01T00:00:00Z\"".to_string()
        }
        "not-before" => {
            "edit [bundle] not_before in the spec, or pack again once that time has passed".into()
        }
        "policy-expiry" => {
            "the policy in the spec's policy artifact has expired: ask the model provider for a current policy.toml and its signature".into()
        }
        "model-approval" | "model-target" => {
            "pack the model the policy approves for the spec's [bundle] target, or ask the model provider to approve this one (its tree digest is what `airlock digest MODEL_PATH` prints)".into()
        }
        "safeguard-missing" => {
            "add the required safeguard to the spec as an [[artifact]] with kind = \"safeguard\" and its .toml config".into()
        }
        "safeguard-minimum" => {
            "raise the setting in the safeguard's .toml config named above to the policy's minimum".into()
        }
        _ => "change the spec or its artifacts so the policy allows the release, or ask the model provider for a policy that does".into(),
    };
    Error::rejected(
        spec,
        Check::Policy,
        format!("rule {}: {} (refusing to pack)", v.rule, v.detail),
    )
    .with_hint(hint)
}

/// Reads the policy and safeguard files and OMS signatures to be copied into the manifest frame.
fn read_governed(files: &[PackFile]) -> Result<Vec<(BundlePath, Vec<u8>)>> {
    let mut copies = Vec::new();
    for f in files.iter().filter(|f| is_governed(&f.entry.path)) {
        if f.entry.size > MAX_COPY_BYTES {
            return Err(Error::config(
                &f.source,
                format!(
                    "policy and safeguard files and OMS signatures (model.sig) are limited to {MAX_COPY_BYTES} bytes: they are copied into the manifest frame"
                ),
                "keep policies and safeguard configs small; put data in a `data` artifact",
            ));
        }
        copies.push((
            f.entry.path.clone(),
            crate::util::fs::read_input(&f.source, "policy or safeguard file", MAX_COPY_BYTES)?,
        ));
    }
    Ok(copies)
}

/// Packs `spec` into a scratch directory beside `output` (so the later rename or copy stays on
/// one file system), for commands that post-process a full bundle (volumes, deltas). The bundle
/// lives as long as the returned directory.
pub(crate) fn pack_to_scratch(
    spec: &Spec,
    opts: PackOptions,
    output: &Path,
) -> Result<(tempfile::TempDir, PackReport, OpenedBundle)> {
    let dir = crate::util::output::parent_dir(output);
    let work = tempfile::Builder::new()
        .prefix(".airlock-scratch-")
        .tempdir_in(&dir)
        .ctx("create a temporary directory in", &dir)?;
    let full = work.path().join("bundle.airlock.tar.zst");
    let (report, bundle) = pack_into(
        spec,
        &PackOptions {
            output: Some(full),
            force: false,
            ..opts
        },
    )?;
    Ok((work, report, bundle))
}

fn artifact_record(
    kind: crate::format::manifest::Kind,
    name: String,
    path: BundlePath,
    entries: &[FileEntry],
    alg: HashAlg,
) -> Artifact {
    let files = files_below(entries, &path);
    Artifact {
        kind,
        tree_digest: artifact_digest(&path, files, alg),
        files: files.len() as u64,
        bytes: files.iter().map(|f| f.size).sum(),
        name,
        path,
    }
}

/// How the payload is cut and described: the frame plan, the entries' mtime, the suite's hash.
struct PayloadPlan<'a> {
    spans: &'a [FrameSpan],
    mtime: u64,
    alg: HashAlg,
}

fn write_payload(
    files: &mut [PackFile],
    plan: PayloadPlan<'_>,
    opts: &PackOptions,
    writer: &mut impl Write,
    out_path: &Path,
    flush: &BackgroundFlush,
) -> Result<Vec<FrameRecord>> {
    let PayloadPlan { spans, mtime, alg } = plan;
    let level = opts.level;
    let threads = opts.threads.max(1);
    let progress = Progress::start("pack", spans.iter().map(|s| s.len).sum());
    const FLUSH_EVERY: u64 = 256 << 20;
    let (_, frames) = pipeline::run(
        threads,
        threads + 2,
        |emitter| {
            let mut stream = PayloadStream::new(files, mtime, alg);
            for span in spans {
                let mut buf = vec![0u8; span.len as usize];
                stream
                    .read_exact(&mut buf)
                    .map_err(|e| unwrap_io(e, "read", out_path))?;
                if !emitter.emit(buf) {
                    return Ok(());
                }
            }
            // The last file's content may end exactly where the last frame ends (size a multiple
            // of 512, or empty): read on to the end of the stream so its digest is finalised.
            let mut rest = [0u8; 1];
            let n = stream
                .read(&mut rest)
                .map_err(|e| unwrap_io(e, "read", out_path))?;
            if n != 0 {
                return Err(Error::Internal(
                    "the payload stream is longer than the frame plan".into(),
                ));
            }
            Ok(())
        },
        |raw: Vec<u8>| {
            let compressed = compress_frame(&raw, level)
                .map_err(|e| Error::Environment(format!("zstd compression failed: {e}")))?;
            let digest: Digest = alg.digest(&compressed);
            Ok((compressed, digest, raw.len() as u64))
        },
        |ordered| {
            let mut records = Vec::with_capacity(spans.len());
            let mut offset = 0u64;
            let mut unflushed = 0u64;
            for result in ordered {
                let (compressed, digest, raw_len) = result?;
                writer.write_all(&compressed).ctx("write", out_path)?;
                progress.advance(raw_len);
                unflushed += compressed.len() as u64;
                if unflushed >= FLUSH_EVERY {
                    writer.flush().ctx("write", out_path)?;
                    flush.nudge();
                    unflushed = 0;
                }
                records.push(FrameRecord {
                    offset,
                    compressed_size: compressed.len() as u64,
                    uncompressed_size: raw_len,
                    digest,
                });
                offset += compressed.len() as u64;
            }
            Ok(records)
        },
    )?;
    progress.finish();
    Ok(frames)
}
