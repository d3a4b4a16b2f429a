//! The documentation that ships with the binary, kept true by running it (issue 15):
//!
//! * every command's `--help` ends with an `Examples:` section, and every example runs as
//!   written in the example directory (`support::examples`);
//! * every `--help` text matches its snapshot in `tests/it/snapshots/help/` (regenerate after an
//!   intended change with `SNAPSHOTS=overwrite cargo test --release --test it docs::` and review
//!   the diff);
//! * `airlock manpage DIR` writes one page per command, exactly what the clap definitions render;
//! * `airlock completions SHELL` is what `clap_complete` generates from the same definitions, and
//!   each script parses in its shell;
//! * README.md runs as written: every `sh`/`bash` block, in order, in one shell.
//!
//! The command tree comes from the binary's own clap definitions (`crate::airlock_cli`, the
//! binary's `src/cli/` compiled into this test), so a new subcommand is covered by every test here
//! without editing it, and fails loudly until it has its examples, snapshot and schema.
use crate::airlock_cli::{Cli, completions, manpage};
use crate::support::common::{describe, json, require_tool};
use crate::support::examples::{example_dir, repo, shell};
use clap::CommandFactory;
use std::fs;
use std::path::{Path, PathBuf};

/// Every command of the tree as its path of names (`[]` for `airlock` itself, `["audit",
/// "verify"]`), depth first in definition order; hidden commands and clap's `help` excluded.
pub fn command_paths() -> Vec<Vec<String>> {
    fn walk(cmd: &clap::Command, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        out.push(path.clone());
        for sub in cmd.get_subcommands() {
            if sub.is_hide_set() || sub.get_name() == "help" {
                continue;
            }
            path.push(sub.get_name().to_string());
            walk(sub, path, out);
            path.pop();
        }
    }
    let mut out = Vec::new();
    walk(&Cli::command(), &mut Vec::new(), &mut out);
    out
}

/// The commands that do something themselves (no subcommands): those with a `--json` result.
pub fn leaf_paths() -> Vec<Vec<String>> {
    let root = Cli::command();
    command_paths()
        .into_iter()
        .filter(|p| !p.is_empty())
        .filter(|p| {
            let mut cmd = &root;
            for name in p {
                cmd = cmd.find_subcommand(name).unwrap();
            }
            !cmd.has_subcommands()
        })
        .collect()
}

/// `airlock-pack`, `airlock-audit-verify`, `airlock`.
fn page_name(path: &[String]) -> String {
    std::iter::once("airlock".to_string())
        .chain(path.iter().cloned())
        .collect::<Vec<_>>()
        .join("-")
}

/// `airlock PATH --help` as the binary prints it, 100 columns wide.
fn help_text(path: &[String]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = shell(dir.path(), &format!("airlock {} --help", path.join(" ")))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(out.stderr.is_empty(), "{}", describe(&out));
    String::from_utf8(out.stdout).unwrap()
}

/// The example command lines (`  $ CMD`) of a help text, checking that `Examples:` is its last
/// section and holds only commands, comments and blank lines.
fn examples_of(path: &[String], help: &str) -> Vec<String> {
    let name = format!("airlock {}", path.join(" "));
    let (_, section) = help.split_once("\nExamples:\n").unwrap_or_else(|| {
        panic!(
            "`{}` --help has no `Examples:` section: add runnable examples to its after_help in src/cli/help.rs (the example directory is described there)\n{help}",
            name.trim()
        )
    });
    let mut commands: Vec<String> = Vec::new();
    let mut continued = false;
    for line in section.lines() {
        assert!(
            line.len() <= 96,
            "`{}` --help: example line over 96 columns (clap would wrap it): {line:?}",
            name.trim()
        );
        if continued {
            let more = line.strip_prefix("      ").unwrap_or_else(|| {
                panic!(
                    "`{}` --help: a continued example line is indented six spaces: {line:?}",
                    name.trim()
                )
            });
            let last = commands.last_mut().expect("continues a command");
            last.push('\n');
            last.push_str(more);
            continued = more.ends_with(" \\");
        } else if let Some(cmd) = line.strip_prefix("  $ ") {
            commands.push(cmd.to_string());
            continued = cmd.ends_with(" \\");
        } else {
            assert!(
                line.trim().is_empty() || line.starts_with("  # "),
                "`{}` --help: `Examples:` must be the last section and hold only `  $ COMMAND` and `  # comment` lines, found {line:?}",
                name.trim()
            );
        }
    }
    assert!(
        !commands.is_empty(),
        "`{}` --help: `Examples:` has no `  $ COMMAND` line",
        name.trim()
    );
    commands
}

#[test]
fn every_help_ends_with_examples_that_run_as_written() {
    require_tool("bash");
    let mut ran = 0;
    for path in command_paths() {
        let help = help_text(&path);
        let dir = example_dir();
        for example in examples_of(&path, &help) {
            let out = shell(dir.path(), &example).output().unwrap();
            assert_eq!(
                out.status.code(),
                Some(0),
                "the example `{example}` of `airlock {} --help` fails in the example directory (see src/cli/help.rs): {}",
                path.join(" "),
                describe(&out)
            );
            // A JSON example is held to the contract like any other run.
            if example.contains("--json") && !example.contains('>') && !example.contains('|') {
                json(&out);
            }
            ran += 1;
        }
    }
    assert!(ran >= 20, "only {ran} examples ran");
}

fn snapshot_dir() -> PathBuf {
    repo().join("tests/it/snapshots/help")
}

#[test]
fn every_help_text_matches_its_snapshot() {
    let overwrite = std::env::var("SNAPSHOTS").is_ok_and(|v| v == "overwrite");
    let mut expected_files = Vec::new();
    for path in command_paths() {
        let file = snapshot_dir().join(format!("{}.txt", page_name(&path)));
        expected_files.push(file.file_name().unwrap().to_string_lossy().into_owned());
        let actual = help_text(&path);
        if overwrite {
            fs::create_dir_all(snapshot_dir()).unwrap();
            fs::write(&file, &actual).unwrap();
            continue;
        }
        assert!(
            file.is_file(),
            "no --help snapshot {} for `airlock {}`: create it with `SNAPSHOTS=overwrite cargo test --release --test it docs::` and review it",
            file.display(),
            path.join(" ")
        );
        // Help texts hold shell line continuations (`\`), which are not path separators.
        snapbox::Assert::new()
            .action_env(snapbox::assert::DEFAULT_ACTION_ENV)
            .normalize_paths(false)
            .eq(actual, snapbox::Data::read_from(&file, None));
    }
    let mut present: Vec<String> = fs::read_dir(snapshot_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    present.sort();
    expected_files.sort();
    assert_eq!(
        present, expected_files,
        "tests/it/snapshots/help/ must hold exactly one snapshot per command (remove stale ones)"
    );
}

#[test]
fn man_pages_cover_every_command_and_are_what_clap_renders() {
    let dir = tempfile::tempdir().unwrap();
    let out = shell(dir.path(), "airlock manpage man1 --json")
        .output()
        .unwrap();
    let doc = json(&out);
    let expected = manpage::pages().unwrap();
    let names: Vec<String> = expected.iter().map(|(n, _)| n.clone()).collect();
    let wanted: Vec<String> = command_paths()
        .iter()
        .map(|p| format!("{}.1", page_name(p)))
        .collect();
    assert_eq!(names, wanted, "one page per command, airlock.1 first");
    let listed: Vec<String> = doc["result"]["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            Path::new(p.as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(listed, wanted);
    for (name, roff) in &expected {
        let written = fs::read(dir.path().join("man1").join(name)).unwrap();
        assert_eq!(
            &written, roff,
            "{name} differs from what clap_mangen renders"
        );
        let text = String::from_utf8_lossy(&written);
        assert!(text.starts_with(".ie \\n(.g .ds Aq"), "{name} is roff");
        assert!(text.contains(".SH NAME"), "{name}");
    }
    let pack = expected
        .iter()
        .find(|(n, _)| n == "airlock-pack.1")
        .map(|(_, roff)| String::from_utf8_lossy(roff).into_owned())
        .expect("airlock-pack.1");
    assert!(
        pack.contains("Examples:") && pack.contains("\\-\\-max\\-volume\\-size"),
        "airlock-pack.1 carries the flags and the examples"
    );
    // The page renders with man(1), as an operator would read it.
    if Path::new("/usr/bin/man").exists() {
        let out = shell(
            dir.path(),
            "MANPAGER=cat MANWIDTH=100 man -l man1/airlock-verify.1",
        )
        .output()
        .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("--deep") && text.contains("Examples:"),
            "{text}"
        );
    }
}

#[test]
fn completions_are_generated_from_the_definitions_and_parse() {
    let dir = tempfile::tempdir().unwrap();
    let subcommands: Vec<String> = Cli::command()
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .filter(|n| n != "help")
        .collect();
    for (shell_enum, name, check) in [
        (completions::Shell::Bash, "bash", "bash -n"),
        (completions::Shell::Zsh, "zsh", "zsh -n"),
        (completions::Shell::Fish, "fish", "fish --no-execute"),
    ] {
        let out = shell(dir.path(), &format!("airlock completions {name}"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
        let script = String::from_utf8(out.stdout).unwrap();
        assert_eq!(
            script,
            completions::script(shell_enum),
            "{name}: the binary prints what clap_complete generates"
        );
        for sub in &subcommands {
            assert!(script.contains(sub.as_str()), "{name} completes `{sub}`");
        }
        assert!(
            script.contains("max-volume-size") && script.contains("json"),
            "{name} completes the flags"
        );
        let file = dir.path().join(format!("airlock.{name}"));
        fs::write(&file, &script).unwrap();
        let program = check.split(' ').next().unwrap();
        if name == "bash" || Path::new("/usr/bin").join(program).exists() {
            let out = shell(dir.path(), &format!("{check} {}", file.display()))
                .output()
                .unwrap();
            assert_eq!(
                out.status.code(),
                Some(0),
                "{name} completion does not parse: {}",
                describe(&out)
            );
        }
    }
    let out = shell(dir.path(), "airlock completions fish --json")
        .output()
        .unwrap();
    assert_eq!(json(&out)["result"]["shell"], "fish");
}

/// The marker that exempts the next code block from the README runner.
const SKIP: &str = "<!-- readme-runner: skip (";

/// The README's shell blocks: (line number, code), skipped ones left out; panics on a skip
/// marker without a reason or not followed by a code block.
fn readme_blocks(readme: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut lines = readme.lines().enumerate();
    let mut skip_next = false;
    while let Some((n, line)) = lines.next() {
        if line.starts_with(SKIP) {
            assert!(
                line.ends_with(") -->") && line.len() > SKIP.len() + 5,
                "README.md line {}: a skip marker says why: `<!-- readme-runner: skip (REASON) -->`",
                n + 1
            );
            skip_next = true;
            continue;
        }
        let Some(lang) = line.strip_prefix("```") else {
            continue;
        };
        let mut code = String::new();
        for (_, l) in lines.by_ref() {
            if l.starts_with("```") {
                break;
            }
            code.push_str(l);
            code.push('\n');
        }
        if matches!(lang, "sh" | "bash") && !std::mem::take(&mut skip_next) {
            blocks.push((n + 1, code));
        }
        skip_next = false;
    }
    blocks
}

#[test]
fn the_readme_runs_as_written() {
    for tool in ["bash", "tar", "zstd", "minisign", "sha256sum"] {
        require_tool(tool);
    }
    let readme = fs::read_to_string(repo().join("README.md")).unwrap();
    let blocks = readme_blocks(&readme);
    assert!(blocks.len() >= 8, "{} runnable blocks", blocks.len());
    let root = tempfile::tempdir().unwrap();
    crate::support::examples::copy_tree(&repo().join("manifests"), &root.path().join("manifests"));
    let mut script = String::from("set -euo pipefail\n");
    for (line, code) in &blocks {
        script.push_str(&format!(
            "echo '=== README.md block at line {line}' >&2\n{code}"
        ));
    }
    let out = shell(root.path(), &script)
        .env("HOME", root.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let failed_at = err
        .lines()
        .rev()
        .find(|l| l.starts_with("=== README.md block"))
        .unwrap_or("(before the first block)");
    assert_eq!(
        out.status.code(),
        Some(0),
        "README.md does not run as written; it stopped in the {failed_at}: {}",
        describe(&out)
    );
    let acme = root.path().join("acme");
    // What the README promises is there: the tree under DEST/KIND/NAME, the upgrade, the log.
    assert!(
        acme.join("site/acme-7b/model/acme-7b/config.json")
            .is_file()
    );
    assert!(
        acme.join("site/acme-7b-from-volumes/safeguard/content-filter/content-filter.toml")
            .is_file()
    );
    assert!(acme.join("audit.jsonl").is_file());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("\"outcome\": \"installed\""), "{stdout}");
}

#[test]
fn the_readme_keeps_its_structure() {
    let readme = fs::read_to_string(repo().join("README.md")).unwrap();
    let headings: Vec<&str> = readme
        .lines()
        .filter(|l| l.starts_with("## ") || l.starts_with("### "))
        .collect();
    let order = [
        "## Two commands on a fresh machine",
        "## Install",
        "## Usage by role",
        "### Model provider: the model signature and the policy",
        "### Release engineer (low side): pack",
        "### Transfer officer (boundary): inspect, verify, countersign",
        "### Install script (high side): unpack",
        "### Install script (high side): the inventory (CycloneDX ML-BOM)",
        "## Exit codes and `--json`",
        "## Checking a bundle with stock tools",
        "## File formats",
        "## Performance",
    ];
    let mut at = 0;
    for want in order {
        let found = headings[at..]
            .iter()
            .position(|h| *h == want)
            .unwrap_or_else(|| panic!("README.md lacks `{want}` (in this order): {headings:?}"));
        at += found + 1;
    }
    // The first section gives exactly two commands.
    let (_, fresh) = readme
        .split_once("## Two commands on a fresh machine")
        .unwrap();
    let (_, block) = fresh.split_once("```sh\n").unwrap();
    let (block, _) = block.split_once("```").unwrap();
    assert_eq!(block.lines().count(), 2, "{block}");
}
