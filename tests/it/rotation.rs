//! Signed key rotation and revocation (issue 12): `airlock trust sign` / `airlock trust update`
//! under the TUF-style rules (same site, higher version, a threshold of the current and of the
//! new root keys), revoked keys, and a trust update carried in a bundle and applied by
//! `unpack --apply-trust`. A refused update exits 1 naming its rule and leaves the trust file
//! byte for byte as it was.
use crate::support::common::*;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

/// A trust file's text: `version`, the site, a release role and a root role.
fn trust_text(version: u64, release: &[&Key], revoked: &[&Key], root: &[&Key], t: usize) -> String {
    let list = |keys: &[&Key]| {
        keys.iter()
            .map(|k| format!("\"{}\"", k.base64))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "version = {version}\nsite = \"{SITE}\"\n\n[roles.release]\nthreshold = 1\nkeys = [{}]\nrevoked = [{}]\n\n[roles.root]\nthreshold = {t}\nkeys = [{}]\n",
        list(release),
        list(revoked),
        list(root)
    )
}

fn trust_sign(file: &Path, key: &Key) -> Output {
    run(airlock()
        .args(["trust", "sign"])
        .arg(file)
        .arg("--key")
        .arg(&key.secret)
        .arg("--json"))
}

fn trust_update(new: &Path, current: &Path) -> Output {
    run(airlock()
        .args(["trust", "update"])
        .arg(new)
        .arg("--trust")
        .arg(current)
        .arg("--json"))
}

/// Asserts a refusal by `rule` (exit 1) and that `current` still holds `before`.
fn assert_refused(out: &Output, rule: &str, current: &Path, before: &[u8]) {
    assert_exit(out, 1);
    let e = error(out);
    assert_eq!(e["check"], "trust-update", "{e}");
    assert!(
        e["message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("refused by rule {rule}"))),
        "{e}"
    );
    assert_eq!(
        fs::read(current).unwrap(),
        before,
        "the trust file is untouched"
    );
}

struct Site {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    roots: Vec<Key>,
    release: Key,
    current: PathBuf,
}

/// A site whose trust file (version 1) has root keys r0, r1, r2 with threshold 2.
fn site() -> Site {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let roots: Vec<Key> = (0..5).map(|i| keygen(&dir, &format!("root{i}"))).collect();
    let release = keygen(&dir, "release");
    let current = dir.join("trust.toml");
    fs::write(
        &current,
        trust_text(1, &[&release], &[], &[&roots[0], &roots[1], &roots[2]], 2),
    )
    .unwrap();
    Site {
        _tmp: tmp,
        dir,
        roots,
        release,
        current,
    }
}

#[test]
fn rotation_needs_thresholds_of_the_current_and_the_new_root_keys() {
    let s = site();
    let before = fs::read(&s.current).unwrap();
    // v2 rotates root0 out and root3 in (threshold 2 of root1, root2, root3).
    let upd = s.dir.join("upd");
    fs::create_dir(&upd).unwrap();
    let new = upd.join("trust-v2.toml");
    let r = &s.roots;
    fs::write(
        &new,
        trust_text(2, &[&s.release], &[], &[&r[1], &r[2], &r[3]], 2),
    )
    .unwrap();

    // Signed by root0 only: one of the two current root signatures needed.
    assert_exit(&trust_sign(&new, &r[0]), 0);
    assert!(
        upd.join(format!("trust-v2.toml.root-{}.minisig", r[0].id))
            .is_file()
    );
    assert_refused(
        &trust_update(&new, &s.current),
        "current-root",
        &s.current,
        &before,
    );
    // The same key cannot sign twice.
    assert_exit(&trust_sign(&new, &r[0]), 2);

    // + root1: the current threshold is met, but of the new root keys only root1 signed.
    assert_exit(&trust_sign(&new, &r[1]), 0);
    assert_refused(
        &trust_update(&new, &s.current),
        "new-root",
        &s.current,
        &before,
    );

    // + root3 (a new root key): both thresholds met. --dry-run writes nothing.
    assert_exit(&trust_sign(&new, &r[3]), 0);
    let dry = run(airlock()
        .args(["trust", "update"])
        .arg(&new)
        .arg("--trust")
        .arg(&s.current)
        .args(["--dry-run", "--json"]));
    assert_eq!(result(&dry)["outcome"], "would-apply");
    assert_eq!(fs::read(&s.current).unwrap(), before);
    let out = trust_update(&new, &s.current);
    let r2 = result(&out);
    assert_eq!(r2["outcome"], "applied", "{r2}");
    assert_eq!(r2["from_version"], 1);
    assert_eq!(r2["to_version"], 2);
    assert_eq!(r2["current_root"]["counted"], 2, "{r2}");
    assert_eq!(r2["new_root"]["counted"], 2, "{r2}");
    assert_eq!(fs::read(&s.current).unwrap(), fs::read(&new).unwrap());
    // Applying it again: already current, nothing written.
    assert_eq!(
        result(&trust_update(&new, &s.current))["outcome"],
        "already-current"
    );

    // Rollback: the old v1 file, signed by the (old) root keys, is refused by version.
    let old = s.dir.join("old");
    fs::create_dir(&old).unwrap();
    let v1 = old.join("trust-v1.toml");
    fs::write(&v1, &before).unwrap();
    assert_exit(&trust_sign(&v1, &r[1]), 0);
    assert_exit(&trust_sign(&v1, &r[2]), 0);
    let now = fs::read(&s.current).unwrap();
    assert_refused(&trust_update(&v1, &s.current), "version", &s.current, &now);
}

#[test]
fn an_update_signed_only_by_the_new_root_keys_is_refused() {
    let s = site();
    let before = fs::read(&s.current).unwrap();
    let r = &s.roots;
    let new = s.dir.join("takeover.toml");
    fs::write(&new, trust_text(5, &[&s.release], &[], &[&r[3], &r[4]], 2)).unwrap();
    assert_exit(&trust_sign(&new, &r[3]), 0);
    assert_exit(&trust_sign(&new, &r[4]), 0);
    assert_refused(
        &trust_update(&new, &s.current),
        "current-root",
        &s.current,
        &before,
    );

    // A forged signature by a current root key (another file's signature renamed) is refused.
    let other = s.dir.join("other.toml");
    fs::write(&other, trust_text(6, &[&s.release], &[], &[&r[0]], 1)).unwrap();
    assert_exit(&trust_sign(&other, &r[0]), 0);
    fs::copy(
        s.dir.join(format!("other.toml.root-{}.minisig", r[0].id)),
        s.dir
            .join(format!("takeover.toml.root-{}.minisig", r[0].id)),
    )
    .unwrap();
    assert_refused(
        &trust_update(&new, &s.current),
        "signature",
        &s.current,
        &before,
    );
}

#[test]
fn a_revoked_release_key_never_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let release = keygen(d, "release");
    let fresh = keygen(d, "fresh");
    let root = keygen(d, "root");
    let spec = example_release(&d.join("src"), "1.0.0", 1);
    let bundle = d.join("b.airlock.tar.zst");
    pack(&spec, &release, &bundle);
    let trust = d.join("trust.toml");
    fs::write(&trust, trust_text(2, &[&fresh], &[&release], &[&root], 1)).unwrap();
    let out = run(airlock()
        .arg("verify")
        .arg(&bundle)
        .arg("--trust")
        .arg(&trust)
        .arg("--state")
        .arg(d.join("state"))
        .arg("--json"));
    assert_rejected(&out, &["threshold"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("revoked"), "{text}");
    // inspect shows the signer as revoked too.
    let out = run(airlock()
        .arg("inspect")
        .arg(&bundle)
        .arg("--trust")
        .arg(&trust)
        .arg("--json"));
    let doc = json(&out);
    let signers = find_signers(&doc);
    assert!(
        signers
            .iter()
            .any(|s| s["revoked_for"] == serde_json::json!(["release"])),
        "{doc}"
    );
    // A key both trusted and revoked is a configuration error.
    fs::write(&trust, trust_text(2, &[&release], &[&release], &[&root], 1)).unwrap();
    let out = run(airlock()
        .arg("verify")
        .arg(&bundle)
        .arg("--trust")
        .arg(&trust)
        .arg("--json"));
    assert_exit(&out, 2);
}

fn find_signers(doc: &Value) -> Vec<Value> {
    doc["result"]["signers"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_trust_update_in_a_bundle_is_applied_only_with_apply_trust() {
    let s = site();
    let r = &s.roots;
    let before = fs::read(&s.current).unwrap();
    // The release tree, plus a trust artifact: v2 adds the fresh release key.
    let fresh = keygen(&s.dir, "fresh");
    let src = s.dir.join("src");
    let spec = example_release(&src, "1.0.0", 1);
    let upd = src.join("trust-update");
    fs::create_dir_all(&upd).unwrap();
    let new = upd.join("trust.toml");
    fs::write(
        &new,
        trust_text(2, &[&s.release, &fresh], &[], &[&r[0], &r[1], &r[2]], 2),
    )
    .unwrap();
    assert_exit(&trust_sign(&new, &r[0]), 0);
    assert_exit(&trust_sign(&new, &r[2]), 0);
    let mut text = fs::read_to_string(&spec).unwrap();
    text.push_str(
        "\n[[artifact]]\nkind = \"trust\"\nname = \"site-keys\"\npath = \"trust-update\"\n",
    );
    fs::write(&spec, text).unwrap();
    let bundle = s.dir.join("b.airlock.tar.zst");
    pack(&spec, &s.release, &bundle);

    let unpack = |dest: &str, extra: &[&str]| {
        run(airlock()
            .arg("unpack")
            .arg(&bundle)
            .arg("--trust")
            .arg(&s.current)
            .arg("--dest")
            .arg(s.dir.join(dest))
            .arg("--state")
            .arg(s.dir.join(format!("state-{dest}")))
            .arg("--json")
            .args(extra))
    };
    // Without --apply-trust: installed, reported, not applied.
    let out = unpack("plain", &[]);
    let res = result(&out);
    assert_eq!(res["carries_trust_update"], true, "{res}");
    assert_eq!(res["trust_update"], Value::Null);
    assert_eq!(fs::read(&s.current).unwrap(), before);
    // With it: applied under the rules.
    let out = unpack("applied", &["--apply-trust"]);
    let res = result(&out);
    assert_eq!(res["trust_update"]["outcome"], "applied", "{res}");
    assert_eq!(fs::read(&s.current).unwrap(), fs::read(&new).unwrap());

    // A carried update the rules refuse (only one root signature) installs nothing: exit 1.
    fs::write(&s.current, &before).unwrap();
    fs::remove_file(upd.join(format!("trust.toml.root-{}.minisig", r[2].id))).unwrap();
    let bundle2 = s.dir.join("b2.airlock.tar.zst");
    pack(&spec, &s.release, &bundle2);
    let out = run(airlock()
        .arg("unpack")
        .arg(&bundle2)
        .arg("--trust")
        .arg(&s.current)
        .arg("--dest")
        .arg(s.dir.join("refused"))
        .arg("--state")
        .arg(s.dir.join("state-refused"))
        .args(["--apply-trust", "--json"]));
    assert_refused(&out, "current-root", &s.current, &before);
    assert!(!s.dir.join("refused").exists());
}
