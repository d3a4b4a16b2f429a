//! The `airlock` binary: parses arguments (see `cli.rs`), calls the library, prints results, and
//! maps errors to the documented exit codes (0 ok, 1 rejected, 2 usage/config, 3 I/O).
#![forbid(unsafe_code)]

mod cli;

use airlock::error::Error;
use airlock::{inspect, keys, pack, reader, sign, signature, timefmt, trust, unpack, verify};
use clap::Parser;
use cli::{CheckArgs, Cli, Command};
use serde::Serialize;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = match &cli.command {
        Command::Keygen(a) => a.json,
        Command::Pack(a) => a.json,
        Command::Inspect(a) => a.json,
        Command::Verify(a) => a.check.json,
        Command::Unpack(a) => a.check.json,
        Command::Sign(a) => a.json,
        Command::Digest(a) => a.json,
        Command::Demo(_) => false,
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
    let chain: Vec<String> = err.chain().map(|c| c.to_string()).collect();
    eprintln!("error: {}", chain.join(": "));
    let lib = err.downcast_ref::<Error>();
    if let Some(e) = lib {
        eprintln!("hint: {}", e.hint());
    }
    if json {
        let doc = serde_json::json!({
            "ok": false,
            "exit_code": exit_code(err),
            "check": lib.and_then(|e| e.check()).map(|c| c.name()),
            "error": chain.join(": "),
            "hint": lib.map(|e| e.hint()),
        });
        println!("{doc}");
    }
}

fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
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
        None => Ok(airlock::pipeline::default_threads()),
    }
}

fn now(arg: &Option<String>) -> anyhow::Result<u64> {
    match arg {
        None => Ok(timefmt::now_unix()),
        Some(text) => timefmt::parse_rfc3339(text).ok_or_else(|| {
            Error::config(
                "--now",
                format!("`{text}` is not an RFC 3339 UTC time"),
                "use the form 2027-01-31T00:00:00Z",
            )
            .into()
        }),
    }
}

fn source_date_epoch() -> anyhow::Result<Option<u64>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Err(_) => Ok(None),
        Ok(v) => v.trim().parse().map(Some).map_err(|_| {
            Error::config(
                "SOURCE_DATE_EPOCH",
                format!("`{v}` is not a whole number of seconds"),
                "set it to a unix time, e.g. $(git log -1 --format=%ct)",
            )
            .into()
        }),
    }
}

fn load_checks(args: &CheckArgs) -> anyhow::Result<(trust::Trust, u64, usize)> {
    Ok((
        trust::Trust::load(&args.trust)?,
        now(&args.now)?,
        threads(args.threads)?,
    ))
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
                println!("key id      {}", g.id);
                println!(
                    "public key  {}  (put this line in trust.toml)",
                    g.public_base64
                );
                println!(
                    "wrote       {} and {}",
                    g.public_path.display(),
                    g.secret_path.display()
                );
            }
        }
        Command::Pack(a) => {
            let spec = airlock::spec::Spec::load(&a.spec)?;
            let key = keys::load_signing_key(&a.key.key, a.key.password_file.as_deref())?;
            let opts = pack::PackOptions {
                key,
                output: a.output,
                threads: threads(a.threads)?,
                level: a.level,
                source_date_epoch: source_date_epoch()?,
                now: timefmt::now_unix(),
            };
            let r = pack::pack(&spec, &opts)?;
            if a.json {
                print_json(&r)?;
            } else if !a.quiet {
                eprintln!(
                    "packed {} files, {} bytes, {} frames -> {} ({} bytes)\nmanifest sha256:{}",
                    r.files,
                    r.bytes,
                    r.frames,
                    r.output.display(),
                    r.bundle_bytes,
                    r.manifest_sha256
                );
                if r.created_from == "clock" {
                    eprintln!(
                        "note: `created` came from the clock; set SOURCE_DATE_EPOCH for a reproducible manifest"
                    );
                }
            }
        }
        Command::Inspect(a) => {
            let opened = reader::open(&a.bundle)?;
            let trust = a.trust.as_deref().map(trust::Trust::load).transpose()?;
            let sheet = inspect::sheet(&opened, trust.as_ref(), a.files);
            if a.json {
                print_json(&sheet)?;
            } else {
                print!("{}", inspect::render(&sheet));
            }
        }
        Command::Verify(a) => {
            let (trust, now, threads) = load_checks(&a.check)?;
            let opened = reader::open(&a.bundle)?;
            let r = verify::verify(
                &opened,
                &trust,
                &verify::VerifyOptions {
                    now,
                    deep: a.deep,
                    threads,
                },
            )?;
            if a.check.json {
                print_json(&serde_json::json!({"ok": true, "report": r}))?;
            } else if !a.check.quiet {
                eprintln!(
                    "{}: verified {} {} (sequence {}) for {}",
                    r.bundle, r.name, r.version, r.sequence, r.target
                );
                for c in &r.checks {
                    eprintln!("  ok  {:<13} {}", c.check, c.detail);
                }
                for s in &r.signers {
                    eprintln!("  signer {} as {}: {}", s.key_id, s.role, s.status);
                }
            }
        }
        Command::Unpack(a) => {
            let (trust, now, threads) = load_checks(&a.check)?;
            let opened = reader::open(&a.bundle)?;
            let r = unpack::unpack(
                &opened,
                &trust,
                &a.dest,
                &unpack::UnpackOptions {
                    now,
                    threads,
                    replace: a.replace,
                },
            )?;
            if a.check.json {
                print_json(&serde_json::json!({"ok": true, "report": r}))?;
            } else if !a.check.quiet {
                let what = match r.outcome {
                    unpack::Outcome::Installed => "installed",
                    unpack::Outcome::AlreadyPresent => "already present, nothing written",
                    unpack::Outcome::Replaced => "replaced the previous tree",
                };
                eprintln!(
                    "{}: {} {} -> {}: {what} ({} files)",
                    a.bundle.display(),
                    r.verify.name,
                    r.verify.version,
                    r.dest,
                    r.verify.files
                );
            }
        }
        Command::Sign(a) => {
            let key = keys::load_signing_key(&a.key.key, a.key.password_file.as_deref())?;
            let role = signature::Role::parse(&a.role).expect("clap restricts the values");
            let r = sign::countersign(
                &a.bundle,
                &key,
                role,
                timefmt::now_unix(),
                a.output.as_deref(),
            )?;
            if a.json {
                print_json(&r)?;
            } else {
                eprintln!(
                    "{}: added {} (key {} as {})",
                    r.output.display(),
                    r.signature,
                    r.key_id,
                    r.role
                );
            }
        }
        Command::Digest(a) => {
            let d = airlock::digest::tree_digest_of(&a.path)?;
            let text = format!("sha256:{}", airlock::hashing::hex(&d));
            if a.json {
                print_json(&serde_json::json!({"path": a.path, "tree_digest": text}))?;
            } else {
                println!("{text}  {}", a.path.display());
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
