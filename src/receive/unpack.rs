//! `airlock unpack`: everything `verify` checks, then extraction into a staging directory beside
//! the destination (file hashes checked as written, each file fsynced), then one atomic rename —
//! or, with `--replace`, an atomic exchange. The destination is either the complete verified tree
//! or untouched. A lock beside the destination serialises concurrent runs; leftovers of a killed
//! run are removed by the next one; re-running over the identical tree (contents hashed) is a no-op.
use crate::container::delta::DeltaFrames;
use crate::container::payload::stream_payload;
use crate::container::{Payload, SignedManifest};
use crate::error::Check;
use crate::error::{Error, IoContext, Result};
use crate::format::Mode;
use crate::format::digest::hex;
use crate::format::manifest::{FileEntry, Manifest};
use crate::format::path::BundlePath;
use crate::receive::verify::{Accepted, CheckOutcome, VerifyReport, check_authenticity, report};
use crate::trust::enforce::{WeightsRule, gate_file};
use crate::trust::state::StateDir;
use crate::trust::{Trust, authenticate};
use crate::util::fs::{DirLock, remove_any};
use crate::util::output::sync_dir;
use crate::util::text::count;
use crate::util::writer::{FileSink, with_writer};
use std::collections::BTreeSet;
use std::fs::{self, File};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

/// How to unpack.
pub struct UnpackOptions {
    /// The time to judge expiry against.
    pub now: crate::format::time::Timestamp,
    /// Worker threads.
    pub threads: usize,
    /// Swap out an existing destination that holds another tree.
    pub replace: bool,
    /// State directory: rollback check before, record after; `None` skips both.
    pub state: Option<StateDir>,
    /// `--apply-trust`: the trust file in place, to be replaced by the trust update the bundle
    /// carries (an artifact of kind `trust`) under the rotation rules (`trust::rotation`). The
    /// update is judged before anything is installed, and applied after the install.
    pub apply_trust: Option<PathBuf>,
    /// Read each model's installed `config.json` for the model cards of a BOM of the installed
    /// tree (`UnpackReport::model_configs`), before the lock is released.
    pub model_configs: bool,
}

/// What `unpack` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The destination did not exist and now holds the bundle's tree.
    Installed,
    /// The destination already held this bundle's tree: nothing was written.
    AlreadyPresent,
    /// The destination held another tree, now swapped for this bundle's.
    Replaced,
}

impl Outcome {
    /// What happened, in words.
    pub fn describe(self) -> &'static str {
        match self {
            Outcome::Installed => "installed",
            Outcome::AlreadyPresent => "already present, nothing written",
            Outcome::Replaced => "replaced the previous tree",
        }
    }
}

/// The result of a successful unpack.
#[derive(Debug, serde::Serialize)]
pub struct UnpackReport {
    /// Everything verify reports.
    #[serde(flatten)]
    pub verify: VerifyReport,
    /// The destination directory.
    pub dest: String,
    /// What happened to it.
    pub outcome: Outcome,
    /// The trust update the bundle carries, if any: how it was judged and applied
    /// (`--apply-trust`), or `null` when there is none or it was not asked for.
    pub trust_update: Option<crate::trust::rotation::UpdateReport>,
    /// Whether the bundle carries a trust update (applied only with `--apply-trust`).
    pub carries_trust_update: bool,
    /// The ML-BOM written (`--bom`), if any: filled in by the caller that writes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bom: Option<String>,
    /// Each model artifact's installed `config.json`, parsed (with `model_configs`): the facts a
    /// BOM's model card takes from the installed tree.
    #[serde(skip)]
    pub model_configs: ModelConfigs,
}

/// Parsed `config.json` files by model artifact name.
pub type ModelConfigs = std::collections::BTreeMap<String, serde_json::Value>;

/// Paths of the helper files kept beside a destination.
struct Beside {
    parent: PathBuf,
    lock: PathBuf,
    staging_prefix: String,
}

/// The helper paths beside `dest`, after refusing a destination that cannot be installed at;
/// `flag` names it in hints (`--dest`, `--oci-layout`).
fn beside(dest: &Path, flag: &str) -> Result<Beside> {
    let name = dest.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
        Error::config(
            dest,
            "the destination has no usable final component",
            "pass a directory path such as /opt/models/acme-7b",
        )
    })?;
    match fs::symlink_metadata(dest) {
        Ok(meta) if meta.file_type().is_symlink() => {
            return Err(Error::config(
                dest,
                "the destination is a symbolic link; airlock installs a tree in place of the destination, so a link would be replaced, not followed",
                format!("pass the directory the link points to as {flag}"),
            ));
        }
        Ok(meta) if !meta.is_dir() => {
            return Err(Error::config(
                dest,
                "the destination exists and is not a directory",
                format!("remove or rename that file, or choose another {flag}"),
            ));
        }
        _ => {}
    }
    let parent = crate::util::output::parent_dir(dest);
    if !parent.is_dir() {
        let why = if parent.exists() {
            format!("{} is not a directory", parent.display())
        } else {
            "the destination's parent directory does not exist".to_string()
        };
        return Err(Error::config(
            dest,
            why,
            format!("create the parent directory first, or choose another {flag}"),
        ));
    }
    Ok(Beside {
        lock: parent.join(format!(".{name}.airlock-lock")),
        staging_prefix: format!(".{name}.airlock-staging-"),
        parent,
    })
}

/// Unpacks the bundle whose payload `payload` holds (a bundle, its volumes, or a delta and its
/// base) into `dest`, after every check `verify` makes. For a delta, the base's signatures must
/// meet the trust file's thresholds too (its expiry and target are not judged: it is only a
/// source of frames, each checked against the new manifest), and every base frame the new bundle
/// does not use is checked against the base's own manifest.
pub fn unpack(
    payload: &Payload,
    trust: &Trust,
    dest: &Path,
    opts: &UnpackOptions,
) -> Result<UnpackReport> {
    let signed = payload.signed();
    let mut accepted = check_authenticity(signed, trust, opts.now, opts.state.as_ref())?;
    check_delta_base(payload, trust, &mut accepted)?;
    let frames = payload.frames();
    let m = &signed.manifest;
    let carried = accepted
        .auth
        .governed()
        .trust
        .as_ref()
        .map(|t| t.update(&signed.path));
    // Judged before anything is installed, so a refused update (exit 1) installs nothing; the
    // trust file is re-read and re-judged under its lock when applied.
    let trust_update = match (&opts.apply_trust, &carried) {
        (Some(current), Some(update)) => {
            crate::trust::rotation::apply(current, update, true)?;
            Some((current, update))
        }
        (Some(current), None) => {
            return Err(Error::config(
                current,
                "--apply-trust was given, but the bundle carries no trust update (no artifact of kind `trust`)",
                "unpack it without --apply-trust, or ask for the bundle that carries the trust update",
            ));
        }
        (None, _) => None,
    };
    let plan: Vec<Placed<'_>> = m
        .files
        .iter()
        .map(|entry| Placed {
            rel: entry.path.clone(),
            entry,
        })
        .collect();
    let outcome = install_files(signed, &mut accepted, dest, opts, &plan, &|staging| {
        extract(staging, m.bundle.mtime, |begin, end| {
            stream_payload(
                &signed.path,
                m,
                frames.as_ref(),
                opts.threads,
                |entry| begin(&entry.path, entry.size),
                |entry, written| end(entry.mode, written),
            )
        })
    })?;
    if outcome != Outcome::AlreadyPresent {
        accepted.checks.push(CheckOutcome {
            check: Check::FrameDigest.name(),
            detail: format!(
                "sha256 of {} matches the manifest",
                count(m.frames.len(), "frame")
            ),
        });
    }
    // The installed config.json files, for a BOM's model cards (already checked above).
    let model_configs = if opts.model_configs {
        installed_configs(m, dest)?
    } else {
        ModelConfigs::new()
    };
    let trust_update = match trust_update {
        Some((current, update)) => Some(crate::trust::rotation::apply(current, update, false)?),
        None => None,
    };
    Ok(UnpackReport {
        verify: report(
            &payload.describe(),
            payload.kind(),
            accepted,
            m.frames.len(),
            true,
        ),
        dest: dest.display().to_string(),
        outcome,
        trust_update,
        carries_trust_update: carried.is_some(),
        bom: None,
        model_configs,
    })
}

/// Refuses a file to be written beside an install (`unpack --bom`) that lies inside the
/// destination: the destination holds exactly the bundle's tree, so the next run would find a
/// foreign file there, and `model_signing verify key` an unsigned one. (Compared lexically, as
/// absolute paths.)
pub fn check_outside_dest(bom: &Path, dest: &Path) -> Result<()> {
    let abs = |p: &Path| std::path::absolute(p).ctx("resolve", p);
    if abs(bom)?.starts_with(abs(dest)?) {
        return Err(Error::config(
            bom,
            format!(
                "--bom is inside the destination {}, which holds exactly the bundle's tree",
                dest.display()
            ),
            "write the BOM beside the destination, e.g. --bom /opt/models/acme-7b.cdx.json",
        ));
    }
    Ok(())
}

/// For a delta: the base's signatures must meet the trust file's thresholds, and every base
/// frame the new bundle does not use must match the base's own manifest (`unpack` and `export`).
pub(crate) fn check_delta_base(
    payload: &Payload,
    trust: &Trust,
    accepted: &mut Accepted<'_>,
) -> Result<()> {
    if let Payload::Delta { delta, base } = payload {
        authenticate(&base.signed, trust)?;
        let checked = DeltaFrames::new(delta, base).check_unused_base_frames()?;
        accepted.checks.push(CheckOutcome {
            check: Check::FrameDigest.name(),
            detail: format!(
                "base {}: {} the new bundle does not use match the base's manifest",
                base.signed.path.display(),
                count(checked, "frame")
            ),
        });
    }
    Ok(())
}

/// The largest `config.json` read for a model card; a larger one gives no facts.
const MAX_CONFIG_JSON: u64 = 1 << 20;

/// Each model artifact's installed `config.json` (already checked against the manifest), parsed,
/// for the BOM's model cards. A missing, oversized or unparsable one gives no facts.
fn installed_configs(m: &Manifest, dest: &Path) -> Result<ModelConfigs> {
    let mut out = ModelConfigs::new();
    for a in m
        .artifacts
        .iter()
        .filter(|a| a.kind == crate::format::manifest::Kind::Model)
    {
        let path = format!("{}/config.json", a.path);
        let Some(f) = m.files.iter().find(|f| f.path.as_str() == path) else {
            continue;
        };
        if f.size > MAX_CONFIG_JSON {
            continue;
        }
        let local = f.path.under(dest);
        let bytes = fs::read(&local).ctx("read", &local)?;
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) {
            out.insert(a.name.clone(), v);
        }
    }
    Ok(out)
}

/// What the content gate applies to an install's files: the enforced policy's exempt paths, and
/// the model-approval rule on file contents when the policy is enforced (its signatures met the
/// trust file's threshold), so weights outside model artifacts must be approved. Shared by
/// `unpack` (of a bundle or a layout) and `export`.
pub(crate) fn content_rules<'a>(
    accepted: &'a Accepted<'_>,
    manifest: &'a Manifest,
) -> (Vec<String>, Option<WeightsRule<'a>>) {
    let allowed = accepted
        .policy
        .allowed_files
        .iter()
        .map(|a| a.path.clone())
        .collect();
    let weights = accepted
        .auth
        .governed()
        .policy
        .as_ref()
        .filter(|_| accepted.policy.enforced)
        .map(|carried| WeightsRule {
            policy: &carried.policy,
            manifest,
        });
    (allowed, weights)
}

/// One file of an install: where it goes below the destination, and the signed manifest entry
/// it must match (whose bundle path the content gate judges).
#[derive(Debug, Clone)]
pub struct Placed<'a> {
    /// Its path below the destination.
    pub rel: BundlePath,
    /// Its entry in the signed manifest.
    pub entry: &'a FileEntry,
}

/// Installs the files `plan` (sorted by `rel`) at `dest` atomically, after the checks in
/// `accepted`: under the lock beside `dest`, an identical tree already there is a no-op, another
/// tree is swapped only with `--replace`; otherwise `write` fills a staging directory beside
/// `dest`, every file passes the content gate, and the staging directory is renamed into place
/// with the rollback state checked and recorded around the rename. Shared by `unpack` of a
/// bundle and of an OCI layout: only `write`, where the file contents come from, differs.
pub(crate) fn install_files(
    signed: &SignedManifest,
    accepted: &mut Accepted<'_>,
    dest: &Path,
    opts: &UnpackOptions,
    plan: &[Placed<'_>],
    write: &dyn Fn(&Path) -> Result<()>,
) -> Result<Outcome> {
    let (allowed, weights) = content_rules(accepted, &signed.manifest);
    let outcome = install_atomically(
        signed,
        dest,
        opts.state.as_ref(),
        &Existing {
            matches: &|d| tree_matches(d, plan),
            flag: "--dest",
            refused: "already exists and does not hold this bundle's tree",
            hint: "choose another --dest, or pass --replace to swap the existing tree atomically",
            replace: opts.replace,
        },
        &|staging| {
            write(staging)?;
            for f in plan {
                gate_file(
                    &signed.path,
                    &f.entry.path,
                    &f.rel.under(staging),
                    &allowed,
                    weights.as_ref(),
                )?;
            }
            Ok(())
        },
    )?;
    if outcome == Outcome::AlreadyPresent {
        accepted.checks.push(CheckOutcome {
            check: Check::FileDigest.name(),
            detail: format!(
                "the installed tree at {} is this bundle's: {}, sizes, modes and {} digests match, nothing else is there",
                dest.display(),
                count(plan.len(), "file"),
                signed.manifest.layout.suite.hash().name()
            ),
        });
    } else {
        accepted.checks.push(CheckOutcome {
            check: Check::FileDigest.name(),
            detail: format!(
                "{} written, matching size and {}",
                count(plan.len(), "file"),
                signed.manifest.layout.suite.hash().name()
            ),
        });
        accepted.checks.push(CheckOutcome {
            check: Check::ContentGate.name(),
            detail: format!("{} passed the content gate", count(plan.len(), "file")),
        });
    }
    Ok(outcome)
}

/// How [`install_atomically`] treats a destination that exists and is not empty.
pub(crate) struct Existing<'a> {
    /// The flag that named the destination, for hints.
    pub flag: &'a str,
    /// Whether it already holds exactly what would be installed.
    pub matches: &'a dyn Fn(&Path) -> Result<bool>,
    /// The refusal when it holds something else and `replace` is off.
    pub refused: &'a str,
    /// Its hint.
    pub hint: &'a str,
    /// Swap it out atomically instead of refusing.
    pub replace: bool,
}

/// The atomic install of a directory at `dest`, whatever fills it (`unpack`, `export`): the lock
/// beside `dest` serialises runs and the leftovers of killed runs are removed under it; an empty
/// directory counts as absent; an existing one that `existing.matches` is a no-op (the rollback
/// state is still recorded); otherwise `fill` writes a staging directory beside `dest` (it must
/// create it), which is renamed (or with `replace` exchanged) into place while the state lock is
/// held, the sequence checked again and recorded. The staging directory is removed on any error.
pub(crate) fn install_atomically(
    signed: &SignedManifest,
    dest: &Path,
    state: Option<&StateDir>,
    existing: &Existing<'_>,
    fill: &dyn Fn(&Path) -> Result<()>,
) -> Result<Outcome> {
    let m = &signed.manifest;
    let b = beside(dest, existing.flag)?;
    // Removed again when this function returns, on every path.
    let lock = DirLock::acquire(&b.lock)?;
    remove_leftovers(&b)?;
    let manifest_hex = hex(&signed.manifest_sha256);
    // Install scripts often `mkdir -p` the destination first: an empty directory is absent (the
    // rename replaces an empty directory atomically).
    let exists = fs::symlink_metadata(dest).is_ok() && !is_empty_dir(dest)?;
    let outcome = if exists {
        // No receipt is trusted: the installed tree itself is compared, contents included, so a
        // run killed right after its rename, or a tree edited since, is judged by what is there.
        if (existing.matches)(dest)? {
            Outcome::AlreadyPresent
        } else if !existing.replace {
            return Err(Error::config(dest, existing.refused, existing.hint));
        } else {
            Outcome::Replaced
        }
    } else {
        Outcome::Installed
    };
    // The sequence is checked again, and recorded, under the state lock around the install:
    // otherwise two concurrent installs of one name could both pass the early check and the lower
    // one could be installed last while the state says the higher.
    let commit = |install_tree: &dyn Fn() -> Result<()>| -> Result<()> {
        match state {
            None => install_tree(),
            Some(state) => {
                let locked = state.lock()?;
                locked.check_rollback(
                    &signed.path,
                    &m.bundle.name,
                    m.bundle.sequence,
                    &manifest_hex,
                )?;
                install_tree()?;
                locked.record(&m.bundle.name, m.bundle.sequence, &manifest_hex)
            }
        }
    };
    if outcome == Outcome::AlreadyPresent {
        commit(&|| Ok(()))?;
    } else {
        let staging = b
            .parent
            .join(format!("{}{}", b.staging_prefix, std::process::id()));
        let result = fill(&staging).and_then(|()| commit(&|| install(&staging, dest, &b, outcome)));
        if result.is_err() {
            let _ = remove_any(&staging);
        }
        result?;
    }
    drop(lock);
    Ok(outcome)
}

fn remove_leftovers(b: &Beside) -> Result<()> {
    for entry in fs::read_dir(&b.parent).ctx("list", &b.parent)? {
        let entry = entry.ctx("list", &b.parent)?;
        if entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(&b.staging_prefix))
        {
            let path = entry.path();
            remove_any(&path).ctx("remove leftover staging directory", &path)?;
        }
    }
    Ok(())
}

fn is_empty_dir(dest: &Path) -> Result<bool> {
    if !fs::symlink_metadata(dest).is_ok_and(|m| m.is_dir()) {
        return Ok(false);
    }
    Ok(fs::read_dir(dest).ctx("list", dest)?.next().is_none())
}

/// A file being extracted: written on the writer thread (`util::writer`).
pub(crate) type WrittenFile<'w> = FileSink<'w, 'static>;
/// Begins one file below the staging directory, of the given size: its writer.
pub(crate) type BeginFile<'a> = dyn FnMut(&BundlePath, u64) -> Result<WrittenFile<'a>> + 'a;
/// Ends one file whose content has been checked: sets its mode and mtime and queues its fsync.
pub(crate) type EndFile<'a> = dyn FnMut(Mode, WrittenFile<'a>) -> Result<()> + 'a;

/// Creates the staging directory and lets `fill` write the files into it, through `begin` (the
/// file's parent directories are created, the file is created new, mode 0600) and `end` (called
/// once the caller has checked the content: mode and mtime set, fsync queued). Every file and
/// directory is fsynced before this returns, and directories get mode 0755 and `mtime`.
pub(crate) fn extract(
    staging: &Path,
    mtime: u64,
    fill: impl for<'w> FnOnce(&mut BeginFile<'w>, &mut EndFile<'w>) -> Result<()>,
) -> Result<()> {
    let mtime = UNIX_EPOCH + Duration::from_secs(mtime);
    fs::create_dir(staging).ctx("create staging directory", staging)?;
    let mut dirs = BTreeSet::new();
    // The bytes are written on a thread of their own and each file is fsynced on another, so the
    // walk goes on hashing the next file while the disk takes this one; every fsync has finished
    // before `with_writer` returns, that is before the staging directory is renamed into place.
    with_writer(|writer| {
        let mut begin = |rel: &BundlePath, size: u64| -> Result<WrittenFile<'_>> {
            let target = rel.under(staging);
            for dir in rel.ancestors() {
                if dirs.insert(dir.to_string()) {
                    let p = staging.join(dir);
                    fs::create_dir(&p).ctx("create directory", &p)?;
                }
            }
            let file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&target)
                .ctx("create", &target)?;
            writer.start(file, target, size)
        };
        let mut end = |mode: Mode, written: WrittenFile<'_>| -> Result<()> {
            writer.finish(
                written,
                Box::new(move |file, path| {
                    file.set_permissions(fs::Permissions::from_mode(mode.bits()))
                        .ctx("set mode of", path)?;
                    file.set_modified(mtime).ctx("set mtime of", path)?;
                    Ok(path.to_path_buf())
                }),
            )
        };
        fill(&mut begin, &mut end)
    })?;
    // Deepest directories first, so setting a child's times never disturbs its parent's.
    for dir in dirs.iter().rev().chain(std::iter::once(&String::new())) {
        let p = if dir.is_empty() {
            staging.to_path_buf()
        } else {
            staging.join(dir)
        };
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).ctx("set mode of", &p)?;
        let handle = File::open(&p).ctx("open", &p)?;
        handle.sync_all().ctx("sync", &p)?;
        handle.set_modified(mtime).ctx("set mtime of", &p)?;
    }
    Ok(())
}

fn install(staging: &Path, dest: &Path, b: &Beside, outcome: Outcome) -> Result<()> {
    if outcome == Outcome::Replaced {
        rustix::fs::renameat_with(
            rustix::fs::CWD,
            staging,
            rustix::fs::CWD,
            dest,
            rustix::fs::RenameFlags::EXCHANGE,
        )
        .map_err(|e| Error::io("atomically exchange with", dest, e.into()))?;
        // `staging` now holds the previous tree.
        fs::remove_dir_all(staging).ctx("remove the previous tree at", staging)?;
    } else {
        fs::rename(staging, dest).ctx("rename staging directory to", dest)?;
    }
    sync_dir(&b.parent)
}

/// Whether `dest` holds exactly the tree of `plan` (sorted by `rel`): the same files (regular,
/// not links), sizes, modes and contents (every file is hashed), and no other entries. Structure
/// is checked first, so a tree that differs in shape is rejected without reading any content.
pub(crate) fn tree_matches(dest: &Path, plan: &[Placed<'_>]) -> Result<bool> {
    let mut expected_dirs = BTreeSet::new();
    for f in plan {
        expected_dirs.extend(f.rel.ancestors().map(str::to_string));
    }
    let mut seen_files = 0usize;
    for entry in walkdir::WalkDir::new(dest).min_depth(1).follow_links(false) {
        let entry = entry.map_err(|e| Error::io("list", dest, e.into()))?;
        let rel = entry
            .path()
            .strip_prefix(dest)
            .expect("below dest")
            .to_string_lossy()
            .to_string();
        let meta = entry
            .metadata()
            .map_err(|e| Error::io("read", entry.path(), e.into()))?;
        if meta.is_dir() {
            if !expected_dirs.contains(&rel) {
                return Ok(false);
            }
            continue;
        }
        let Ok(i) = plan.binary_search_by(|f| f.rel.as_str().cmp(&rel)) else {
            return Ok(false);
        };
        let f = plan[i].entry;
        if !meta.is_file()
            || meta.len() != f.size
            || meta.permissions().mode() & 0o7777 != f.mode.bits()
        {
            return Ok(false);
        }
        seen_files += 1;
    }
    if seen_files != plan.len() {
        return Ok(false);
    }
    for f in plan {
        let (digest, size) = crate::util::fs::hash_file(&f.rel.under(dest), f.entry.digest.alg())?;
        if digest != f.entry.digest || size != f.entry.size {
            return Ok(false);
        }
    }
    Ok(true)
}
