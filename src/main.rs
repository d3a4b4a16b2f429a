//! The `airlock` binary: parses arguments (see `cli.rs`), calls the library, prints results, and
//! maps errors to the documented exit codes (0 ok, 1 rejected, 2 usage/config, 3 I/O).
#![forbid(unsafe_code)]

/// Human messages go to stderr; if stderr is closed there is no one to tell, so the write error is
/// ignored rather than turned into a panic.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// `note!` without the newline.
macro_rules! note_raw {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), $($arg)*);
    }};
}

/// Results go to stdout; a failed write (closed pipe, full disk) is an I/O error (exit 3).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*)?
    }};
}

/// `out!` without the newline.
macro_rules! out_raw {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout(), $($arg)*)?
    }};
}

mod cli;

use airlock::container::bundle as reader;
use airlock::error::Error;
use airlock::format::{signature, time as timefmt};
use airlock::pack::{self, sign};
use airlock::receive::{audit, unpack, verify};
use airlock::report::inspect;
use airlock::trust::state::StateDir;
use airlock::trust::{keys, trust_file as trust};
use clap::Parser;
use cli::{CheckArgs, Cli, Command};
use serde::Serialize;
use std::io::IsTerminal;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let quiet = match &cli.command {
        Command::Pack(a) => a.quiet || a.json,
        Command::Verify(a) => a.check.quiet || a.check.json,
        Command::Unpack(a) => a.check.quiet || a.check.json,
        _ => true,
    };
    if !quiet && std::io::stderr().is_terminal() {
        airlock::util::progress::enable();
    }
    let json = match &cli.command {
        Command::Keygen(a) => a.json,
        Command::Pack(a) => a.json,
        Command::Inspect(a) => a.json,
        Command::Verify(a) => a.check.json,
        Command::Unpack(a) => a.check.json,
        Command::Sign(a) => a.json,
        Command::Digest(a) => a.json,
        Command::Join(a) => a.json,
        Command::Patch(a) => a.json,
        Command::Diff(a) => a.json,
        Command::Audit(cli::AuditCommand::Verify(a)) => a.json,
        Command::SignPolicy(_) | Command::Demo(_) => false,
    };
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            report_error(&err, json);
            ExitCode::from(exit_code(&err))
        }
    }
}

fn exit_code(err: &anyhow::Error) -> u8 {
    err.downcast_ref::<Error>()
        .map_or(3, |e| e.exit_code() as u8)
}

fn report_error(err: &anyhow::Error, json: bool) {
    let mut chain: Vec<String> = err.chain().map(|c| c.to_string()).collect();
    // `Error::Io` already prints its source: do not repeat it.
    chain.dedup_by(|cause, outer| outer.ends_with(cause.as_str()));
    note!("error: {}", chain.join(": "));
    let lib = err.downcast_ref::<Error>();
    if let Some(e) = lib {
        note!("hint: {}", e.hint());
    }
    if json {
        let doc = serde_json::json!({
            "ok": false,
            "exit_code": exit_code(err),
            "check": lib.and_then(|e| e.check()).map(|c| c.name()),
            "error": chain.join(": "),
            "hint": lib.map(|e| e.hint()),
        });
        // Best effort: this is the error path, there is nowhere left to report a failed write.
        let _ = {
            use std::io::Write as _;
            writeln!(std::io::stdout(), "{doc}")
        };
    }
}

fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    out!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn threads(n: Option<usize>) -> anyhow::Result<usize> {
    match n {
        Some(0) => Err(Error::config(
            "--threads",
            "must be at least 1",
            "omit it to use every core",
        )
        .into()),
        Some(n) => Ok(n),
        None => Ok(airlock::util::pipeline::default_threads()),
    }
}

fn now(arg: &Option<String>) -> anyhow::Result<timefmt::Timestamp> {
    match arg {
        None => Ok(timefmt::Timestamp::now()),
        Some(text) => timefmt::Timestamp::parse(text).ok_or_else(|| {
            Error::config(
                "--now",
                format!("`{text}` is not an RFC 3339 UTC time from 1970 to 9999-12-31T23:59:59Z"),
                "use the form 2027-01-31T00:00:00Z",
            )
            .into()
        }),
    }
}

fn source_date_epoch() -> anyhow::Result<Option<u64>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Err(_) => Ok(None),
        Ok(v) => {
            let hint = "set it to a unix time, e.g. $(git log -1 --format=%ct)";
            let secs: u64 = v.trim().parse().map_err(|_| {
                Error::config(
                    "SOURCE_DATE_EPOCH",
                    format!("`{v}` is not a whole number of seconds"),
                    hint,
                )
            })?;
            timefmt::check_mtime("SOURCE_DATE_EPOCH", secs)
                .map(Some)
                .map_err(|e| Error::config("SOURCE_DATE_EPOCH", e, hint).into())
        }
    }
}

fn load_checks(args: &CheckArgs) -> anyhow::Result<(trust::Trust, timefmt::Timestamp, usize)> {
    Ok((
        trust::Trust::load(&args.trust)?,
        now(&args.now)?,
        threads(args.threads)?,
    ))
}

/// Opens the bundle and decides, then appends the decision to the audit log if one was asked for.
/// `open` yields the container (a bundle, a volume, a delta), `manifest_of` the bundle whose
/// manifest it carries, `decide` the verdict; the audit log gets one line either way.
#[allow(clippy::too_many_arguments)]
fn decide<O, R>(
    command: &str,
    bundle: &std::path::Path,
    args: &CheckArgs,
    now: timefmt::Timestamp,
    open: impl FnOnce() -> Result<O, Error>,
    manifest_of: impl Fn(&O) -> &reader::OpenedBundle,
    decide: impl FnOnce(&O) -> Result<R, Error>,
    report_of: impl Fn(&R) -> &verify::VerifyReport,
) -> anyhow::Result<R> {
    let log = |opened: Option<&reader::OpenedBundle>, outcome| match &args.audit_log {
        Some(log) => audit::append(log, audit::record(command, bundle, opened, outcome, now)),
        None => Ok(()),
    };
    match open() {
        Err(e) => {
            log(None, Err(&e))?;
            Err(e.into())
        }
        Ok(opened) => {
            let result = decide(&opened);
            log(Some(manifest_of(&opened)), result.as_ref().map(&report_of))?;
            Ok(result?)
        }
    }
}

/// The one-line summary of an unpack.
fn print_unpacked(r: &unpack::UnpackReport) {
    let what = match r.outcome {
        unpack::Outcome::Installed => "installed",
        unpack::Outcome::AlreadyPresent => "already present, nothing written",
        unpack::Outcome::Replaced => "replaced the previous tree",
    };
    note!(
        "{}: {} {} -> {}: {what} ({} files)",
        r.verify.bundle,
        r.verify.name,
        r.verify.version,
        r.dest,
        r.verify.files
    );
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Keygen(a) => {
            let password = a
                .password_file
                .as_deref()
                .map(keys::read_password_file)
                .transpose()?;
            if password.is_none() && !a.unencrypted {
                return Err(Error::config(
                    "airlock keygen",
                    "choose how to protect the secret key",
                    "pass --password-file FILE to encrypt it, or --unencrypted for a throwaway key",
                )
                .into());
            }
            let g = keys::keygen(&a.out, password, a.comment.as_deref(), a.force)?;
            if a.json {
                print_json(&serde_json::json!({
                    "key_id": g.id, "public_key": g.public_base64,
                    "public_key_file": g.public_path, "secret_key_file": g.secret_path,
                }))?;
            } else {
                out!("key id      {}", g.id);
                out!(
                    "public key  {}  (put this line in trust.toml)",
                    g.public_base64
                );
                out!(
                    "wrote       {} and {}",
                    g.public_path.display(),
                    g.secret_path.display()
                );
            }
        }
        Command::Pack(a) => {
            let spec = airlock::pack::spec::Spec::load(&a.spec)?;
            let key = keys::load_signing_key(&a.key.key, a.key.password_file.as_deref())?;
            let opts = pack::PackOptions {
                key,
                output: a.output,
                threads: threads(a.threads)?,
                level: a.level,
                source_date_epoch: source_date_epoch()?,
                now: timefmt::Timestamp::now(),
            };
            if a.max_volume_size.is_some() || a.base.is_some() {
                return pack_logistics(&spec, opts, a.max_volume_size, a.base, a.json, a.quiet);
            }
            let r = pack::pack(&spec, &opts)?;
            if a.json {
                print_json(&r)?;
            } else if !a.quiet {
                note!(
                    "packed {} files, {} bytes, {} frames -> {} ({} bytes)\nmanifest sha256:{}",
                    r.files,
                    r.bytes,
                    r.frames,
                    r.output.display(),
                    r.bundle_bytes,
                    r.manifest_sha256
                );
                if r.created_from == "clock" {
                    note!(
                        "note: `created` came from the clock; set SOURCE_DATE_EPOCH for a reproducible manifest"
                    );
                }
            }
        }
        Command::Inspect(a) => {
            let (_, opened) = airlock::container::volume::open_any(&a.bundle)?;
            let trust = a.trust.as_deref().map(trust::Trust::load).transpose()?;
            let sheet = inspect::sheet(&opened, trust.as_ref(), a.files, now(&a.now)?);
            if a.json {
                print_json(&sheet)?;
            } else {
                out_raw!("{}", inspect::render(&sheet));
            }
        }
        Command::Verify(a) => {
            let (trust, now, threads) = load_checks(&a.check)?;
            let state = Some(StateDir::resolve(a.check.state.as_deref()));
            let opts = verify::VerifyOptions {
                now,
                deep: a.deep,
                threads,
                state,
            };
            if verify_logistics(&a, &trust, &opts, now)? {
                return Ok(());
            }
            let r = decide(
                "verify",
                &a.bundle,
                &a.check,
                now,
                || reader::open(&a.bundle),
                |o| o,
                |o| verify::verify(o, &trust, &opts),
                |r| r,
            )?;
            if a.check.json {
                print_json(&serde_json::json!({"ok": true, "report": r}))?;
            } else if !a.check.quiet {
                note!(
                    "{}: verified {} {} (sequence {}) for {}",
                    r.bundle,
                    r.name,
                    r.version,
                    r.sequence,
                    r.target
                );
                for c in &r.checks {
                    note!("  ok  {:<13} {}", c.check, c.detail);
                }
                for s in &r.signers {
                    note!("  signer {} as {}: {}", s.key_id, s.role, s.status);
                }
            }
        }
        Command::Unpack(a) => {
            let (trust, now, threads) = load_checks(&a.check)?;
            let state = Some(StateDir::resolve(a.check.state.as_deref()));
            let opts = unpack::UnpackOptions {
                now,
                threads,
                replace: a.replace,
                state,
            };
            if unpack_logistics(&a, &trust, &opts, now)? {
                return Ok(());
            }
            let r = decide(
                "unpack",
                &a.bundle,
                &a.check,
                now,
                || reader::open(&a.bundle),
                |o| o,
                |o| unpack::unpack(o, &trust, &a.dest, &opts),
                |r| &r.verify,
            )?;
            if a.check.json {
                print_json(&serde_json::json!({"ok": true, "report": r}))?;
            } else if !a.check.quiet {
                print_unpacked(&r);
            }
        }
        Command::Sign(a) => {
            let key = keys::load_signing_key(&a.key.key, a.key.password_file.as_deref())?;
            let role = signature::Role::parse(&a.role).expect("clap restricts the values");
            let r = sign::countersign(
                &a.bundle,
                &key,
                role,
                timefmt::Timestamp::now(),
                a.output.as_deref(),
            )?;
            if a.json {
                print_json(&r)?;
            } else {
                note!(
                    "{}: added {} (key {} as {})",
                    r.output.display(),
                    r.signature,
                    r.key_id,
                    r.role
                );
            }
        }
        Command::Digest(a) => {
            let d = airlock::pack::source::tree_digest_of(&a.path)?;
            let text = format!("sha256:{}", airlock::format::digest::hex(&d));
            if a.json {
                print_json(&serde_json::json!({"path": a.path, "tree_digest": text}))?;
            } else {
                out!("{text}  {}", a.path.display());
            }
        }
        Command::SignPolicy(a) => {
            let key = keys::load_signing_key(&a.key.key, a.key.password_file.as_deref())?;
            let out = sign::sign_policy(
                &a.policy,
                &key,
                timefmt::Timestamp::now(),
                a.output.as_deref(),
            )?;
            note!(
                "{}: signed by policy key {} -> {}",
                a.policy.display(),
                key.id,
                out.display()
            );
        }
        Command::Audit(cli::AuditCommand::Verify(a)) => {
            let r = audit::verify_chain(&a.log)?;
            if a.json {
                print_json(
                    &serde_json::json!({"ok": true, "lines": r.lines, "head_sha256": r.head_sha256}),
                )?;
            } else {
                note!(
                    "{}: chain intact, {} lines, head sha256:{}",
                    a.log.display(),
                    r.lines,
                    r.head_sha256
                );
            }
        }
        Command::Join(a) => {
            let r = airlock::container::volume::join(
                &a.volumes,
                a.output.as_deref(),
                threads(a.threads)?,
            )?;
            if a.json {
                print_json(&serde_json::json!({"ok": true, "report": r}))?;
            } else if !a.quiet {
                note!(
                    "joined {} volumes of {} {} ({} frames checked) -> {} ({} bytes)\nmanifest sha256:{}",
                    r.volumes.len(),
                    r.name,
                    r.version,
                    r.frames,
                    r.output.display(),
                    r.bundle_bytes,
                    r.manifest_sha256
                );
            }
        }
        Command::Patch(a) => {
            let r = airlock::container::delta::patch(
                &a.old,
                &a.delta,
                a.output.as_deref(),
                threads(a.threads)?,
            )?;
            if a.json {
                print_json(&serde_json::json!({"ok": true, "report": r}))?;
            } else if !a.quiet {
                note!(
                    "patched {} {}: {} frames from {}, {} from {} ({} unused base frames checked) -> {} ({} bytes)\nmanifest sha256:{}",
                    r.name,
                    r.version,
                    r.stats.from_base,
                    r.base.display(),
                    r.stats.from_delta,
                    r.delta.display(),
                    r.stats.base_unused_checked,
                    r.output.display(),
                    r.stats.bundle_bytes,
                    r.manifest_sha256
                );
            }
        }
        Command::Diff(a) => {
            let d = airlock::report::diff::diff_files(&a.old, &a.new)?;
            if a.json {
                print_json(&d)?;
            } else {
                out_raw!("{}", airlock::report::diff::render(&d));
            }
        }
        Command::Demo(a) => {
            let temp;
            let workdir = match &a.workdir {
                Some(d) => {
                    std::fs::create_dir_all(d).map_err(|e| Error::io("create", d, e))?;
                    d.clone()
                }
                None => {
                    temp = tempfile::tempdir()
                        .map_err(|e| Error::io("create", std::env::temp_dir(), e))?;
                    temp.path().to_path_buf()
                }
            };
            airlock::demo::run(&a.spec, &workdir, &mut std::io::stdout())?;
        }
    }
    Ok(())
}

/// `pack --max-volume-size` and `pack --base` (docs/format.md section 7).
fn pack_logistics(
    spec: &airlock::pack::spec::Spec,
    opts: pack::PackOptions,
    max_volume_size: Option<u64>,
    base: Option<std::path::PathBuf>,
    json: bool,
    quiet: bool,
) -> anyhow::Result<()> {
    let clock = |from: &str| {
        if from == "clock" && !quiet && !json {
            note!(
                "note: `created` came from the clock; set SOURCE_DATE_EPOCH for a reproducible manifest"
            );
        }
    };
    if let Some(size) = max_volume_size {
        let r = airlock::container::volume::pack_volumes(spec, opts, size)?;
        if json {
            print_json(&r)?;
        } else if !quiet {
            note_raw!("{}", airlock::container::volume::render_pack(&r));
        }
        clock(r.created_from);
    } else if let Some(base) = base {
        let r = airlock::container::delta::pack_delta(spec, opts, &base)?;
        if json {
            print_json(&r)?;
        } else if !quiet {
            note_raw!("{}", airlock::container::delta::render_pack(&r));
        }
        clock(r.created_from);
    }
    Ok(())
}

/// `verify` of a volume or a delta; `false` for anything else (a bundle: the caller verifies it).
fn verify_logistics(
    a: &cli::VerifyArgs,
    trust: &trust::Trust,
    opts: &verify::VerifyOptions,
    now: timefmt::Timestamp,
) -> anyhow::Result<bool> {
    use airlock::container::volume::Container;
    // An unreadable path is left to the plain-bundle path, which reports it (and logs it).
    let Ok(kind) = airlock::container::volume::sniff(&a.bundle) else {
        return Ok(false);
    };
    if kind == Container::Bundle {
        return Ok(false);
    }
    let (text, value) = match kind {
        Container::Volume => {
            let r = decide(
                "verify",
                &a.bundle,
                &a.check,
                now,
                || airlock::container::volume::open_volume(&a.bundle),
                |v| &v.bundle,
                |v| airlock::container::volume::verify_volume(v, trust, opts),
                |r| &r.verify,
            )?;
            (
                airlock::container::volume::render_verify(&r),
                serde_json::to_value(&r)?,
            )
        }
        _ => {
            let r = decide(
                "verify",
                &a.bundle,
                &a.check,
                now,
                || airlock::container::delta::open_delta(&a.bundle),
                |d| &d.bundle,
                |d| airlock::container::delta::verify_delta(d, trust, opts),
                |r| &r.verify,
            )?;
            (
                airlock::container::delta::render_verify(&r),
                serde_json::to_value(&r)?,
            )
        }
    };
    if a.check.json {
        print_json(&serde_json::json!({"ok": true, "report": value}))?;
    } else if !a.check.quiet {
        note_raw!("{text}");
    }
    Ok(true)
}

/// `unpack` of volumes or of a delta with `--base`; `false` for a plain bundle.
fn unpack_logistics(
    a: &cli::UnpackArgs,
    trust: &trust::Trust,
    opts: &unpack::UnpackOptions,
    now: timefmt::Timestamp,
) -> anyhow::Result<bool> {
    use airlock::container::volume::Container;
    let kind = match airlock::container::volume::sniff(&a.bundle) {
        Ok(kind) => kind,
        // A plain unpack of an unreadable path is reported (and logged) by the bundle path.
        Err(_) if a.base.is_none() && a.more_volumes.is_empty() => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let r = match (kind, &a.base) {
        (Container::Bundle, None) if a.more_volumes.is_empty() => return Ok(false),
        (Container::Delta, Some(base)) if a.more_volumes.is_empty() => {
            airlock::container::delta::unpack_delta(&a.bundle, base, trust, &a.dest, opts)
        }
        (Container::Delta, None) => {
            // A file that only looks like a delta (a damaged bundle with a delta tag at its end)
            // is refused as damaged before the missing --base is mentioned.
            airlock::container::delta::open_delta(&a.bundle)?;
            return Err(Error::config(
                &a.bundle,
                "is a delta bundle: it needs the bundle it was made against",
                "pass --base OLD_BUNDLE (the bundle named by `airlock verify` on the delta), or use the full bundle",
            )
            .into());
        }
        (Container::Volume, None) | (Container::Bundle, None) => {
            let mut paths = vec![a.bundle.clone()];
            paths.extend(a.more_volumes.iter().cloned());
            airlock::container::volume::unpack_volumes(&paths, trust, &a.dest, opts)
        }
        (_, Some(_)) => {
            return Err(Error::config(
                "--base",
                format!(
                    "{} is not a delta bundle (pass exactly one delta with --base)",
                    a.bundle.display()
                ),
                "drop --base to unpack a full bundle or volumes",
            )
            .into());
        }
    };
    if let Some(log) = &a.check.audit_log {
        // The manifest the volume or delta carries names the bundle in the audit line.
        let carried = match kind {
            Container::Volume => airlock::container::volume::open_volume(&a.bundle)
                .ok()
                .map(|v| v.bundle),
            Container::Delta => airlock::container::delta::open_delta(&a.bundle)
                .ok()
                .map(|d| d.bundle),
            Container::Bundle => reader::open(&a.bundle).ok(),
        };
        audit::append(
            log,
            audit::record(
                "unpack",
                &a.bundle,
                carried.as_ref(),
                r.as_ref().map(|r| &r.verify),
                now,
            ),
        )?;
    }
    let r = r?;
    if a.check.json {
        print_json(&serde_json::json!({"ok": true, "report": r}))?;
    } else if !a.check.quiet {
        print_unpacked(&r);
    }
    Ok(true)
}
