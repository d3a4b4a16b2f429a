//! The `airlock` binary: parses arguments (`cli/`), runs the command, prints its result — the
//! human text, or with `--json` one envelope on stdout — and maps errors to the documented exit
//! codes: 0 ok, 1 rejected, 2 usage/config, 3 I/O/environment.
#![forbid(unsafe_code)]

mod cli;

use airlock::error::Error;
use clap::Parser;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

/// The version of the `--json` envelope and of `docs/schema/`.
const SCHEMA_VERSION: u32 = 1;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match cli::Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            return usage_error(e, &args, args.iter().any(|a| a == "--json"));
        }
    };
    let command = cli.command.name();
    let output = cli.command.output().clone();
    if !output.quiet && !output.json && std::io::stderr().is_terminal() {
        airlock::util::progress::enable();
    }
    match cli.command.run() {
        Ok(done) => match print_done(command, &output, done) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(command, output.json, &e.into()),
        },
        Err(e) => fail(command, output.json, &e),
    }
}

fn print_done(
    command: &str,
    output: &cli::common::OutputArgs,
    done: cli::Done,
) -> Result<(), Error> {
    let stdout = || std::io::stdout().lock();
    // A failed write to stdout (a full disk behind `>`, a closed pipe) is an I/O error that names
    // stdout, so the user knows the command did its work and only the report was lost.
    let to_stdout = |r: std::io::Result<()>| r.map_err(|e| Error::io("write to", "stdout", e));
    if output.json {
        let doc = serde_json::json!({
            "airlock": SCHEMA_VERSION, "command": command, "ok": true, "exit_code": 0,
            "result": done.result,
        });
        to_stdout(writeln!(stdout(), "{doc:#}").and_then(|()| stdout().flush()))
    } else if output.quiet {
        Ok(())
    } else {
        match done.human {
            cli::Human::Stdout(text) => to_stdout(
                stdout()
                    .write_all(text.as_bytes())
                    .and_then(|()| stdout().flush()),
            ),
            // A closed stderr leaves no one to tell; the work is done, so it is not an error.
            cli::Human::Stderr(text) => {
                let _ = std::io::stderr().write_all(text.as_bytes());
                Ok(())
            }
        }
    }
}

/// Reports `err` on stderr (and with `--json` as the envelope on stdout); returns its exit code.
fn fail(command: &str, json: bool, err: &anyhow::Error) -> ExitCode {
    let lib = err.downcast_ref::<Error>();
    let code = lib.map_or(3, |e| e.exit_code() as u8);
    let mut chain: Vec<String> = err.chain().map(|c| c.to_string()).collect();
    // `Error::Io` already prints its source: do not repeat it.
    chain.dedup_by(|cause, outer| outer.ends_with(cause.as_str()));
    let message = chain.join(": ");
    let hint = lib.map(|e| e.hint());
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "error: {message}");
    if let Some(h) = &hint {
        let _ = writeln!(stderr, "hint: {h}");
    }
    if json {
        let error = serde_json::json!({
            "check": lib.map_or("io", |e| e.check_name()),
            "file": lib.and_then(|e| e.file()).map(|p| p.display().to_string()),
            "message": message,
            "hint": hint,
        });
        envelope_error(command, code, error);
    }
    ExitCode::from(code)
}

fn envelope_error(command: &str, code: u8, error: serde_json::Value) {
    let doc = serde_json::json!({
        "airlock": SCHEMA_VERSION, "command": command, "ok": false, "exit_code": code,
        "error": error,
    });
    // Best effort: this is the error path, there is nowhere left to report a failed write.
    let _ = writeln!(std::io::stdout().lock(), "{doc:#}");
}

/// The subcommand a command line names (`verify`, `audit verify`), as far as its words match the
/// command tree; `airlock` if none does. Flags are skipped: a usage error may come before the
/// subcommand's name is complete.
fn named_command(args: &[std::ffi::OsString]) -> String {
    use clap::CommandFactory;
    let mut cmd = cli::Cli::command();
    let mut names = Vec::new();
    for arg in args.iter().skip(1) {
        let Some(word) = arg.to_str() else { break };
        if word.starts_with('-') {
            continue;
        }
        match cmd.find_subcommand(word) {
            Some(sub) => {
                names.push(sub.get_name().to_string());
                cmd = sub.clone();
            }
            None => break,
        }
    }
    if names.is_empty() {
        "airlock".into()
    } else {
        names.join(" ")
    }
}

/// A usage error (unknown flag, missing argument): clap's message, exit 2, and with `--json` the
/// envelope with check `usage`. `--help` and `--version` are not errors.
fn usage_error(e: clap::Error, args: &[std::ffi::OsString], json: bool) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let _ = e.print();
    if json {
        let text = e.render().to_string();
        let message = text
            .lines()
            .next()
            .unwrap_or("")
            .trim_start_matches("error: ");
        envelope_error(
            &named_command(args),
            2,
            serde_json::json!({
                "check": "usage", "file": null, "message": message,
                "hint": "run `airlock --help`, or `airlock COMMAND --help`",
            }),
        );
    }
    ExitCode::from(2)
}
