//! The command-line contract of issue 15: one JSON envelope from every command (usage errors
//! included), a result schema per command, the `check` enum shared by `--json` and the audit log,
//! the exit code of each missing-input case, "not an airlock bundle", and the rough edges a new
//! user hit (pack-side hints, `verify --report`, `-q`, plurals, a failed write to stdout).
use crate::docs::leaf_paths;
use crate::support::common::*;
use crate::support::examples::{example_dir, shell};
use crate::support::schema;
use airlock::error::Check;
use serde_json::Value;
use std::fs;
use std::path::Path;
use std::process::Output;

/// `bash -c SCRIPT` in `dir` (the example directory), with `airlock` on PATH.
fn sh(dir: &Path, script: &str) -> Output {
    let out = shell(dir, script).output().unwrap();
    if script.contains("--json") {
        json(&out);
    }
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn every_command_has_a_result_schema_and_no_schema_is_stale() {
    let mut wanted: Vec<String> = leaf_paths()
        .iter()
        .map(|p| schema::result_schema_name(&p.join(" ")))
        .collect();
    for name in &wanted {
        assert!(
            schema::validator(name).is_some(),
            "docs/schema/v1/{name} is missing: every command's --json result has a schema"
        );
    }
    wanted.extend(["envelope.json".into(), "defs.json".into()]);
    wanted.sort();
    let present: Vec<String> = schema::files().keys().cloned().collect();
    assert_eq!(
        present, wanted,
        "docs/schema/v1/ holds one schema per command"
    );
}

#[test]
fn the_check_enum_is_the_librarys() {
    let names: Vec<&str> = Check::ALL.iter().map(|c| c.name()).collect();
    let defs = &schema::files()["defs.json"];
    let enum_of = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(enum_of(&defs["$defs"]["check_name"]["enum"]), names);
    let envelope = &schema::files()["envelope.json"];
    let error_checks =
        enum_of(&envelope["oneOf"][1]["properties"]["error"]["properties"]["check"]["enum"]);
    let mut all: Vec<&str> = names.clone();
    all.extend(Check::OTHER_NAMES);
    assert_eq!(error_checks, all);
}

#[test]
fn usage_errors_are_one_envelope_naming_the_command() {
    let dir = tempfile::tempdir().unwrap();
    for (args, command) in [
        ("verify --no-such-flag --json", "verify"),
        ("--json", "airlock"),
        ("frobnicate --json", "airlock"),
        ("audit verify --json", "audit verify"),
        ("pack --json", "pack"),
        (
            "verify b.tar.zst --trust t.toml --threads 0 --json",
            "verify",
        ),
    ] {
        let out = sh(dir.path(), &format!("airlock {args}"));
        assert_exit(&out, 2);
        let doc = json(&out);
        assert_eq!(doc["command"], command, "{args}: {doc}");
        assert_eq!(doc["error"]["check"], "usage", "{args}: {doc}");
        assert!(!stderr(&out).is_empty(), "clap's message stays on stderr");
    }
    // --help and --version are not errors, with or without --json.
    assert_exit(&sh(dir.path(), "airlock --version"), 0);
}

#[test]
fn demo_and_sign_policy_write_one_json_document() {
    let dir = example_dir();
    let out = sh(
        dir.path(),
        "airlock sign-policy policy/policy.toml --key provider.key --password-file provider.pw --json",
    );
    assert_eq!(result(&out)["signature_file"], "policy/policy.toml.minisig");
    let out = sh(dir.path(), "airlock demo --spec acme-7b.toml --json");
    let r = result(&out);
    assert_eq!(r["kept"], false);
    assert!(stdout(&out).trim_end().ends_with('}'), "only the envelope");
}

/// Every missing input file is exit 2 (`config`), naming the file: the command line must change,
/// not the machine.
#[test]
fn a_missing_input_file_is_exit_2_everywhere() {
    let dir = example_dir();
    let b = "acme-7b-1.0.0.airlock.tar.zst";
    let cases = [
        (
            "verify nope.tar.zst --trust trust.toml --json",
            "nope.tar.zst",
        ),
        (
            &format!("verify {b} --trust nope.toml --json") as &str,
            "nope.toml",
        ),
        ("inspect nope.tar.zst --json", "nope.tar.zst"),
        (
            &format!("inspect {b} --trust nope.toml --json"),
            "nope.toml",
        ),
        (
            "unpack nope.tar.zst --trust trust.toml --dest d --json",
            "nope.tar.zst",
        ),
        (&format!("diff {b} nope.tar.zst --json"), "nope.tar.zst"),
        ("join nope.tar.zst.001 --json", "nope.tar.zst.001"),
        (&format!("patch {b} nope.delta --json"), "nope.delta"),
        (&format!("sign {b} --key nope.key --json"), "nope.key"),
        (
            "pack nope.toml --key release.key --password-file release.pw --json",
            "nope.toml",
        ),
        (
            "pack acme-7b.toml --key release.key --password-file nope.pw --json",
            "nope.pw",
        ),
        ("keygen --out k --password-file nope.pw --json", "nope.pw"),
        (
            "sign-policy nope.toml --key provider.key --password-file provider.pw --json",
            "nope.toml",
        ),
        ("audit verify nope.jsonl --json", "nope.jsonl"),
        ("digest nope --json", "nope"),
    ];
    for (args, file) in cases {
        let out = sh(dir.path(), &format!("airlock {args}"));
        assert_exit(&out, 2);
        let err = error(&out);
        assert_eq!(err["check"], "config", "{args}: {err}");
        assert!(
            err["file"].as_str().is_some_and(|f| f.ends_with(file)),
            "{args}: {err}"
        );
        assert!(stderr(&out).contains(file), "{args}: {}", describe(&out));
    }
    // An artifact path: the spec and the artifact are named.
    let spec = fs::read_to_string(dir.path().join("acme-7b.toml")).unwrap();
    fs::write(
        dir.path().join("broken.toml"),
        spec.replace("path = \"models/acme-7b\"", "path = \"models/acme-8b\""),
    )
    .unwrap();
    let out = sh(
        dir.path(),
        "airlock pack broken.toml --key release.key --password-file release.pw --json",
    );
    assert_exit(&out, 2);
    let err = error(&out);
    assert!(
        err["file"].as_str().unwrap().ends_with("broken.toml"),
        "{err}"
    );
    let message = err["message"].as_str().unwrap();
    assert!(
        message.contains("artifact `acme-7b`") && message.contains("models/acme-8b"),
        "{message}"
    );
    assert!(err["hint"].as_str().unwrap().contains("`path`"), "{err}");
}

#[test]
fn a_plain_tar_zst_is_not_an_airlock_bundle() {
    let dir = example_dir();
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_size(6);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "hello.txt", &b"hello\n"[..])
        .unwrap();
    let plain = zstd::encode_all(&tar.into_inner().unwrap()[..], 3).unwrap();
    fs::write(dir.path().join("plain.tar.zst"), plain).unwrap();
    fs::write(
        dir.path().join("notes.txt"),
        "not compressed at all\n".repeat(10),
    )
    .unwrap();
    let bundle = fs::read(dir.path().join("acme-7b-1.0.0.airlock.tar.zst")).unwrap();
    fs::write(
        dir.path().join("cut.airlock.tar.zst"),
        &bundle[..bundle.len() / 2],
    )
    .unwrap();
    for (file, says) in [
        (
            "plain.tar.zst",
            "not an airlock bundle: the file is a complete zstd stream",
        ),
        (
            "notes.txt",
            "not an airlock bundle: the file is not zstd-compressed",
        ),
        ("cut.airlock.tar.zst", "cut short"),
    ] {
        for cmd in ["verify {} --trust trust.toml --json", "inspect {} --json"] {
            let out = sh(dir.path(), &format!("airlock {}", cmd.replace("{}", file)));
            assert_rejected(&out, &["footer"]);
            assert!(
                error(&out)["message"].as_str().unwrap().contains(says),
                "{file}: {}",
                describe(&out)
            );
        }
    }
    let out = sh(
        dir.path(),
        "airlock verify plain.tar.zst --trust trust.toml --json",
    );
    assert!(
        error(&out)["hint"]
            .as_str()
            .unwrap()
            .contains("airlock pack"),
        "{}",
        describe(&out)
    );
}

/// The audit log's `check` values are the `--json` enum: the same name for the same refusal.
#[test]
fn the_audit_log_uses_the_json_check_names() {
    let dir = example_dir();
    let b = "acme-7b-1.0.0.airlock.tar.zst";
    let mut bytes = fs::read(dir.path().join(b)).unwrap();
    bytes[100] ^= 0xFF;
    fs::write(dir.path().join("bad.airlock.tar.zst"), bytes).unwrap();
    let mut json_checks = Vec::new();
    for args in [
        format!("verify {b} --trust trust.toml --audit-log audit.jsonl --json"),
        "verify bad.airlock.tar.zst --trust trust.toml --audit-log audit.jsonl --json".into(),
        format!(
            "verify {b} --trust trust.toml --audit-log audit.jsonl --now 2999-01-01T00:00:00Z --json"
        ),
        "verify missing.tar.zst --trust trust.toml --audit-log audit.jsonl --json".into(),
    ] {
        let doc = json(&sh(dir.path(), &format!("airlock {args}")));
        json_checks.push(doc["error"]["check"].as_str().map(str::to_string));
    }
    assert_eq!(
        json_checks,
        [
            None,
            Some("frame-digest".into()),
            Some("expiry".into()),
            Some("config".into())
        ]
    );
    let log = fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4, "{log}");
    let defs = &schema::files()["defs.json"]["$defs"]["check_name"]["enum"];
    for check in lines[0]["checks"].as_array().unwrap() {
        assert!(
            defs.as_array().unwrap().contains(&check["check"]),
            "{check}"
        );
    }
    for (line, want) in lines[1..].iter().zip(&json_checks[1..]) {
        assert_eq!(
            line["checks"][0]["check"].as_str(),
            want.as_deref(),
            "audit line {line} and --json name the same check"
        );
    }
    assert_eq!(lines[1]["outcome"], "rejected");
    assert_eq!(lines[3]["outcome"], "error");
}

#[test]
fn an_already_present_unpack_lists_every_check_it_made() {
    let dir = example_dir();
    let cmd = "mkdir -p site && airlock unpack acme-7b-1.0.0.airlock.tar.zst --trust trust.toml --dest site/a --json";
    assert_eq!(result(&sh(dir.path(), cmd))["outcome"], "installed");
    let again = result(&sh(dir.path(), cmd));
    assert_eq!(again["outcome"], "already-present");
    let checks: Vec<&str> = again["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert_eq!(
        checks,
        [
            "threshold",
            "target",
            "expiry",
            "rollback",
            "policy",
            "file-digest"
        ]
    );
    let last = again["checks"][5]["detail"].as_str().unwrap();
    assert!(
        last.contains("installed tree") && last.contains("sha256"),
        "{last}"
    );
}

#[test]
fn inspect_of_a_delta_says_so_and_names_its_base() {
    let dir = example_dir();
    let out = sh(
        dir.path(),
        "airlock pack acme-7b-1.1.0.toml --key release.key --password-file release.pw --base acme-7b-1.0.0.airlock.tar.zst -q && airlock inspect acme-7b-1.1.0.from-1.0.0.airlock-delta",
    );
    assert_exit(&out, 0);
    let base = open(&dir.path().join("acme-7b-1.0.0.airlock.tar.zst"));
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.starts_with("delta "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains(&airlock::format::digest::hex(&base.signed.manifest_sha256)),
        "{line}"
    );
    let out = sh(
        dir.path(),
        "airlock inspect acme-7b-1.1.0.from-1.0.0.airlock-delta --json",
    );
    assert_eq!(result(&out)["container"], "delta");
}

#[test]
fn verify_writes_its_report_where_asked() {
    let dir = example_dir();
    let b = "acme-7b-1.0.0.airlock.tar.zst";
    let out = sh(
        dir.path(),
        &format!("airlock verify {b} --trust trust.toml --report -"),
    );
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("verified acme-7b 1.0.0"),
        "{}",
        describe(&out)
    );
    assert!(stdout(&out).contains("ok  frame-digest"));
    assert!(out.stderr.is_empty(), "{}", describe(&out));
    let out = sh(
        dir.path(),
        &format!("airlock verify {b} --trust trust.toml --report report.txt --json"),
    );
    assert_eq!(result(&out)["name"], "acme-7b");
    let report = fs::read_to_string(dir.path().join("report.txt")).unwrap();
    assert!(report.contains("ok  threshold"), "{report}");
    let out = sh(
        dir.path(),
        &format!("airlock verify {b} --trust trust.toml --report - --json"),
    );
    assert_exit(&out, 2);
    assert_eq!(error(&out)["file"], "--report");
}

/// `-q` silences every command that prints progress, notes or a summary; nothing is said that
/// says "1 frames" anywhere (checked on the same commands without `-q`).
#[test]
fn quiet_silences_every_command_and_counts_read_right() {
    let dir = example_dir();
    fs::write(dir.path().join("one.toml"), "[bundle]\nname = \"one\"\nversion = \"1\"\nsequence = 1\ntarget = \"aws-secret\"\n\n[[artifact]]\nkind = \"data\"\nname = \"notes\"\npath = \"models/acme-7b/config.json\"\n").unwrap();
    // The one-file bundle carries no policy: judge it with a trust file that requires none.
    let trust = fs::read_to_string(dir.path().join("trust.toml")).unwrap();
    fs::write(
        dir.path().join("no-policy.toml"),
        trust.replace(
            "[roles.policy]\nthreshold = 1",
            "[roles.policy]\nthreshold = 0",
        ),
    )
    .unwrap();
    let b = "acme-7b-1.0.0.airlock.tar.zst";
    let commands = [
        "keygen --out q1 --unencrypted".to_string(),
        // --force: each command runs twice, and pack never replaces a bundle silently.
        "pack one.toml --key release.key --password-file release.pw --force".into(),
        "pack one.toml --key release.key --password-file release.pw --max-volume-size 4GiB -o vol.airlock.tar.zst --force".into(),
        format!("inspect {b} --trust trust.toml"),
        "inspect one-1.airlock.tar.zst".into(),
        format!("verify {b} --trust trust.toml --deep"),
        "verify vol.airlock.tar.zst.001 --trust no-policy.toml".into(),
        format!("unpack {b} --trust trust.toml --dest d1"),
        format!("sign {b} --key officer.key --password-file officer.pw -o signed.airlock.tar.zst"),
        "digest models/acme-7b".into(),
        "join vol.airlock.tar.zst.001 -o joined.airlock.tar.zst".into(),
        format!("diff {b} one-1.airlock.tar.zst"),
        "sign-policy policy/policy.toml --key provider.key --password-file provider.pw -o p.minisig".into(),
        format!("verify {b} --trust trust.toml --audit-log a.jsonl"),
        "audit verify a.jsonl".into(),
        "demo --spec acme-7b.toml".into(),
        "completions bash".into(),
        "manpage man1".into(),
    ];
    let mut said = String::new();
    for c in &commands {
        // The verbose run first (it creates what later commands read), then the quiet one.
        let loud = sh(dir.path(), &format!("airlock {c}"));
        assert_exit(&loud, 0);
        said.push_str(&stdout(&loud));
        said.push_str(&stderr(&loud));
        let quiet_c = c
            .replace("--out q1", "--out q2")
            .replace("--dest d1", "--dest d2")
            .replace("--audit-log a.jsonl", "--audit-log b.jsonl");
        let quiet = sh(dir.path(), &format!("airlock {quiet_c} -q"));
        assert_exit(&quiet, 0);
        assert!(
            quiet.stdout.is_empty() && quiet.stderr.is_empty(),
            "`airlock {quiet_c} -q` printed: {}",
            describe(&quiet)
        );
    }
    for wrong in [
        "1 files",
        "1 frames",
        "1 volumes",
        "1 rules",
        "1 signatures",
        "(s)",
        "1 more volumes",
    ] {
        assert!(!said.contains(wrong), "`{wrong}` in:\n{said}");
    }
    assert!(
        said.contains("1 file") && said.contains("1 frame"),
        "{said}"
    );
    assert!(!said.contains("AlreadyPresent"), "no Debug values: {said}");
}

#[test]
fn a_failed_write_to_stdout_names_stdout() {
    if !Path::new("/dev/full").exists() {
        return;
    }
    let dir = example_dir();
    for args in [
        "digest models/acme-7b",
        "digest models/acme-7b --json",
        "completions bash",
    ] {
        let out = shell(dir.path(), &format!("airlock {args} > /dev/full"))
            .output()
            .unwrap();
        assert_exit(&out, 3);
        assert!(
            stderr(&out).contains("cannot write to stdout"),
            "{}",
            describe(&out)
        );
    }
}

#[test]
fn pack_side_refusals_give_pack_side_hints() {
    let dir = example_dir();
    let spec = fs::read_to_string(dir.path().join("acme-7b.toml")).unwrap();
    let pack = |name: &str, text: String| {
        fs::write(dir.path().join(name), text).unwrap();
        sh(
            dir.path(),
            &format!("airlock pack {name} --key release.key --password-file release.pw --json"),
        )
    };
    // A sensitive target without notice: the packer edits [bundle].
    let out = pack(
        "sensitive.toml",
        spec.replace("target = \"aws-secret\"", "target = \"azure-top-secret\""),
    );
    assert_rejected(&out, &["policy"]);
    let hint = error(&out)["hint"].as_str().unwrap().to_string();
    assert!(
        hint.contains("[bundle]") && hint.contains("notice_given") && hint.contains("not_before"),
        "{hint}"
    );
    assert!(!hint.contains("ask for a bundle"), "{hint}");
    // A model directory declared as a safeguard: the packer fixes the spec's kind.
    let out = pack(
        "kind.toml",
        spec.replacen("kind = \"model\"", "kind = \"safeguard\"", 1),
    );
    assert_exit(&out, 2);
    let err = error(&out);
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("declared kind = \"safeguard\""),
        "{err}"
    );
    assert!(err["hint"].as_str().unwrap().contains("`kind`"), "{err}");
    assert!(!err["hint"].as_str().unwrap().contains("policy"), "{err}");
    // A wrong --base: another bundle, or the same sequence.
    fs::write(
        dir.path().join("other.toml"),
        spec.replace("name = \"acme-7b\"\nversion", "name = \"other\"\nversion"),
    )
    .unwrap();
    let out = sh(
        dir.path(),
        "airlock pack other.toml --key release.key --password-file release.pw -q && airlock pack acme-7b-1.1.0.toml --key release.key --password-file release.pw --base other-1.0.0.airlock.tar.zst --json",
    );
    assert_exit(&out, 2);
    let err = error(&out);
    assert!(
        err["hint"].as_str().unwrap().contains("`acme-7b` bundle"),
        "{err}"
    );
    let out = sh(
        dir.path(),
        "airlock pack acme-7b.toml --key release.key --password-file release.pw --base acme-7b-1.0.0.airlock.tar.zst -o same.delta --json",
    );
    assert_exit(&out, 2);
    assert!(
        error(&out)["hint"]
            .as_str()
            .unwrap()
            .contains("raise [bundle] sequence"),
        "{}",
        describe(&out)
    );
    // On the receiving side, a base that is not the delta's says which one is.
    let out = sh(
        dir.path(),
        "airlock pack acme-7b-1.1.0.toml --key release.key --password-file release.pw --base acme-7b-1.0.0.airlock.tar.zst -q && mkdir -p site && airlock unpack acme-7b-1.1.0.from-1.0.0.airlock-delta --base other-1.0.0.airlock.tar.zst --trust trust.toml --dest site/x --json",
    );
    assert_exit(&out, 1);
    let hint = error(&out)["hint"].as_str().unwrap().to_string();
    assert!(hint.contains("not this delta's base"), "{hint}");
}

/// Output goes through `write_all`, never `print!`/`eprint!`, which panic on a closed stream.
#[test]
fn no_print_macros_in_the_library_or_binary() {
    let src = crate::support::examples::repo().join("src");
    for entry in walkdir::WalkDir::new(&src) {
        let entry = entry.unwrap();
        if entry.path().extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = fs::read_to_string(entry.path()).unwrap();
        // Unit tests (after `#[cfg(test)]`) may print what they measured.
        let code = text.split("#[cfg(test)]").next().unwrap();
        for (n, line) in code.lines().enumerate() {
            let l = line.trim_start();
            if l.starts_with("//") {
                continue;
            }
            for mac in ["print!(", "println!(", "eprint!(", "eprintln!("] {
                let at = l.find(mac);
                let bare = at.is_some_and(|i| {
                    i == 0
                        || !l.as_bytes()[i - 1].is_ascii_alphanumeric()
                            && l.as_bytes()[i - 1] != b'_'
                });
                assert!(
                    !bare,
                    "{}:{}: `{mac}` panics on a closed stream; write with write_all and handle the error",
                    entry.path().display(),
                    n + 1
                );
            }
        }
    }
}

/// The only colour is clap's (help and usage errors): on a terminal only, and never with
/// `NO_COLOR` set (anstream honours it).
#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    let script = require_tool("script");
    let run_tty = |env: &str| {
        let cmd = format!("{env} '{}' verify --no-such-flag", airlock_path().display());
        let out = std::process::Command::new(&script)
            .args(["-qec", &cmd, "/dev/null"])
            .env_remove("NO_COLOR")
            .env_remove("CLICOLOR_FORCE")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let coloured = run_tty("");
    assert!(coloured.contains("unexpected argument"), "{coloured}");
    assert!(
        coloured.contains("\x1b["),
        "clap colours on a terminal: {coloured:?}"
    );
    let plain = run_tty("NO_COLOR=1");
    assert!(plain.contains("unexpected argument"), "{plain}");
    assert!(!plain.contains("\x1b["), "NO_COLOR: {plain:?}");
    let piped = run(airlock().args(["verify", "--no-such-flag"]));
    assert!(!stderr(&piped).contains('\x1b'), "{}", describe(&piped));
}
