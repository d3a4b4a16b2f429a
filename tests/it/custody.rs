//! Passphrases and key files (issue 12): keygen asks twice on a terminal (as `minisign -G`),
//! pack and sign ask once, a token PIN is asked once on a terminal; without a terminal each says
//! how to pass the secret instead (exit 2). `--password-fd`, the source of a wrong password in its
//! hint, a public key given as `--key`, and `pack -o` refusing to replace a bundle without
//! `--force`. The terminal is a real pseudo-terminal made by util-linux `script`.
use crate::support::common::*;
use crate::support::softhsm::SoftHsm;
use std::fs;
use std::path::Path;
use std::process::Output;

/// Runs `command` (a shell command line) on a pseudo-terminal, typing `lines` one by one with a
/// pause between them (the prompts read `/dev/tty` with echo off).
fn on_terminal(command: &str, lines: &[&str], env: &[(&str, &Path)]) -> Output {
    let script = require_tool("script");
    let typed: String = lines
        .iter()
        .map(|l| format!("sleep 1; printf '%s\\n' '{l}'; "))
        .collect();
    let mut cmd = std::process::Command::new("bash");
    cmd.arg("-c")
        .arg(format!(
            "({typed} sleep 2) | timeout 60 {} -qec \"$0\" /dev/null",
            script.display()
        ))
        .arg(command)
        .env("AIRLOCK_STATE_DIR", NO_STATE)
        .env("SOURCE_DATE_EPOCH", EPOCH.to_string());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("bash runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn keygen_asks_twice_on_a_terminal_and_pack_asks_once() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let bin = airlock_path();
    let prefix = d.join("release");
    let o = on_terminal(
        &format!("{} keygen --out {}", bin.display(), prefix.display()),
        &["correct horse", "correct horse"],
        &[],
    );
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("passphrase for the new key"), "{t}");
    assert!(t.contains("passphrase again"), "{t}");
    assert!(!t.contains("correct horse"), "no echo: {t}");
    let secret = d.join("release.key");
    // (Encrypted: pack below has to ask for the passphrase.)
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(&secret).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // Two different passphrases: nothing is written.
    let o = on_terminal(
        &format!(
            "{} keygen --out {}",
            bin.display(),
            d.join("other").display()
        ),
        &["one", "two"],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("differ"), "{}", text(&o));
    assert!(!d.join("other.key").exists() && !d.join("other.pub").exists());

    // pack asks once and signs.
    let spec = example_release(&d.join("src"), "1.0.0", 1);
    let bundle = d.join("b.airlock.tar.zst");
    let o = on_terminal(
        &format!(
            "{} pack {} --key {} -o {} --quiet",
            bin.display(),
            spec.display(),
            secret.display(),
            bundle.display()
        ),
        &["correct horse"],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("password for"), "{}", text(&o));
    assert!(bundle.is_file());

    // Without a terminal: exit 2, saying how to pass the password; no bundle.
    let other = d.join("c.airlock.tar.zst");
    let o = run(airlock()
        .env("SOURCE_DATE_EPOCH", EPOCH.to_string())
        .arg("pack")
        .arg(&spec)
        .arg("--key")
        .arg(&secret)
        .arg("-o")
        .arg(&other)
        .arg("--json"));
    assert_exit(&o, 2);
    let e = error(&o);
    assert!(
        e["hint"].as_str().unwrap().contains("--password-file"),
        "{e}"
    );
    assert!(e["hint"].as_str().unwrap().contains("--password-fd"), "{e}");
    assert!(!other.exists());

    // --password-fd: the password from an open descriptor.
    let pw = d.join("pw");
    write_file(&pw, b"correct horse\n", 0o600);
    let o = std::process::Command::new("bash")
        .arg("-c")
        .arg("exec \"$0\" pack \"$1\" --key \"$2\" -o \"$3\" --password-fd 3 --quiet 3<\"$4\"")
        .arg(&bin)
        .arg(&spec)
        .arg(&secret)
        .arg(&other)
        .arg(&pw)
        .env("AIRLOCK_STATE_DIR", NO_STATE)
        .env("SOURCE_DATE_EPOCH", EPOCH.to_string())
        .output()
        .expect("bash runs");
    assert!(o.status.success(), "{}", describe(&o));

    // A wrong password's hint names where it came from.
    let wrong = d.join("wrong");
    write_file(&wrong, b"battery staple\n", 0o600);
    let o = run(airlock()
        .arg("sign")
        .arg(&bundle)
        .arg("--key")
        .arg(&secret)
        .arg("--password-file")
        .arg(&wrong)
        .args(["--role", "transfer", "--json"]));
    assert_exit(&o, 2);
    let e = error(&o);
    assert!(
        e["hint"]
            .as_str()
            .unwrap()
            .contains(&format!("the first line of {}", wrong.display())),
        "{e}"
    );

    // A public key as --key says exactly that.
    let o = run(airlock()
        .arg("sign")
        .arg(&bundle)
        .arg("--key")
        .arg(d.join("release.pub"))
        .args(["--role", "transfer", "--json"]));
    assert_exit(&o, 2);
    let e = error(&o);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("this is a public key"),
        "{e}"
    );
    assert!(e["hint"].as_str().unwrap().contains(".key file"), "{e}");
}

#[test]
fn keygen_without_a_terminal_or_a_password_source_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let o = run(airlock()
        .arg("keygen")
        .arg("--out")
        .arg(tmp.path().join("k"))
        .arg("--json"));
    assert_exit(&o, 2);
    let e = error(&o);
    let hint = e["hint"].as_str().unwrap();
    assert!(
        hint.contains("--password-file") && hint.contains("--unencrypted"),
        "{e}"
    );
    assert!(!tmp.path().join("k.key").exists());
}

#[test]
fn pack_refuses_to_replace_a_bundle_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let key = keygen(d, "release");
    let officer = keygen(d, "officer");
    let spec = example_release(&d.join("src"), "1.0.0", 1);
    let bundle = d.join("b.airlock.tar.zst");
    pack(&spec, &key, &bundle);
    let o = run(airlock()
        .arg("sign")
        .arg(&bundle)
        .arg("--key")
        .arg(&officer.secret)
        .args(["--role", "transfer", "--quiet"]));
    assert_exit(&o, 0);
    let countersigned = fs::read(&bundle).unwrap();
    let o = run(&mut pack_cmd(&spec, &key, &bundle));
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("--force"), "{}", describe(&o));
    assert_eq!(fs::read(&bundle).unwrap(), countersigned, "untouched");
    let o = run(pack_cmd(&spec, &key, &bundle).arg("--force"));
    assert_exit(&o, 0);
    assert_ne!(fs::read(&bundle).unwrap(), countersigned);
}

#[test]
fn a_token_pin_is_asked_once_on_a_terminal() {
    let hsm = SoftHsm::new();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let bin = airlock_path();
    let conf = hsm.conf_path();
    let env = [("SOFTHSM2_CONF", conf.as_path())];
    let o = on_terminal(
        &format!(
            "{} keygen --token '{}' --out {}",
            bin.display(),
            hsm.uri_bare("release"),
            d.join("release").display()
        ),
        &[crate::support::softhsm::PIN],
        &env,
    );
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("PIN"), "prompted for the PIN: {t}");
    assert!(!t.contains(crate::support::softhsm::PIN), "no echo: {t}");
    assert!(d.join("release.pub").is_file());
    // A wrong PIN typed at the prompt: exit 2, asked once, never again.
    let spec = example_release(&d.join("src"), "1.0.0", 1);
    let o = on_terminal(
        &format!(
            "{} pack {} --key '{}' -o {}",
            bin.display(),
            spec.display(),
            hsm.uri_bare("release"),
            d.join("b.airlock.tar.zst").display()
        ),
        &["000000", crate::support::softhsm::PIN],
        &env,
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert_eq!(t.matches("PIN for").count(), 1, "one prompt: {t}");
    assert!(!d.join("b.airlock.tar.zst").exists());
}
