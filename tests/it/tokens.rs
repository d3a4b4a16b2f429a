//! Key custody (issue 12) against a real PKCS#11 token: SoftHSM2, initialised by each test in a
//! temporary directory (`support::softhsm`). Keys generated on the token by `airlock keygen
//! --token` sign bundles (`pack`), countersign (`sign`) and policies (`sign-policy`); their
//! signatures verify under stock `minisign -V`. The failure cases: a wrong PIN (exit 2, exactly
//! one `C_Login`, counted by OpenSC's spy module), a missing object, a module path that does not
//! exist, a token removed mid-way (its directory deleted while `pack` holds a session: exit 3, no
//! bundle), and ML-DSA-87, which SoftHSM2 2.6 lacks (exit 2 naming the mechanism). Needs
//! `softhsm2`, `opensc` and `minisign`; fails, never skips, when one is missing.
use crate::support::common::*;
use crate::support::softhsm::{INSTALL, SoftHsm};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

/// `airlock keygen --token URI --out DIR/NAME --json`: the new key's trust line and id.
fn token_keygen(hsm: &SoftHsm, object: &str, out: &Path) -> Key {
    let o = run(hsm
        .airlock()
        .args(["keygen", "--json", "--token"])
        .arg(hsm.uri(object))
        .arg("--out")
        .arg(out));
    assert_exit(&o, 0);
    let r = result(&o);
    assert_eq!(r["generated"], true);
    assert_eq!(r["algorithm"], "ed25519");
    assert_eq!(r["secret_key_file"], serde_json::Value::Null);
    let public = PathBuf::from(format!("{}.pub", out.display()));
    assert!(public.is_file());
    assert!(!PathBuf::from(format!("{}.key", out.display())).exists());
    Key {
        public,
        secret: PathBuf::from(hsm.uri(object)),
        base64: r["public_key"].as_str().unwrap().to_string(),
        id: r["key_id"].as_str().unwrap().to_string(),
    }
}

fn pack_with(hsm: &SoftHsm, spec: &Path, key: &str, out: &Path, extra: &[&str]) -> Output {
    run(hsm
        .airlock()
        .env("SOURCE_DATE_EPOCH", EPOCH.to_string())
        .arg("pack")
        .arg(spec)
        .arg("--key")
        .arg(key)
        .arg("-o")
        .arg(out)
        .arg("--json")
        .args(extra))
}

fn minisign_verify(dir: &Path, public: &Path, file: &Path, sig: &Path) -> Output {
    let minisign = require_tool("minisign");
    std::process::Command::new(minisign)
        .current_dir(dir)
        .arg("-V")
        .arg("-p")
        .arg(public)
        .arg("-m")
        .arg(file)
        .arg("-x")
        .arg(sig)
        .output()
        .expect("minisign runs")
}

#[test]
fn a_token_key_packs_countersigns_and_verifies_with_stock_minisign() {
    let hsm = SoftHsm::new();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let release = token_keygen(&hsm, "release", &d.join("release"));
    let transfer = token_keygen(&hsm, "transfer", &d.join("transfer"));
    // pkcs11-tool (an independent PKCS#11 client) sees both key pairs on the token.
    let listed = hsm.list_objects();
    assert!(listed.contains("label:      release"), "{listed}");
    assert!(listed.contains("label:      transfer"), "{listed}");

    // --export-pub prints the same public key, and writes a .pub identical to keygen's.
    let o = run(hsm
        .airlock()
        .args(["keygen", "--json", "--token"])
        .arg(hsm.uri("release"))
        .arg("--export-pub")
        .arg("--out")
        .arg(d.join("exported")));
    assert_exit(&o, 0);
    assert_eq!(result(&o)["public_key"], release.base64.as_str());
    assert_eq!(result(&o)["generated"], false);
    assert_eq!(
        fs::read(d.join("exported.pub")).unwrap(),
        fs::read(&release.public).unwrap()
    );

    let spec = example_release(&d.join("src"), "1.0.0", 1);
    let bundle = d.join("b.airlock.tar.zst");
    let o = pack_with(&hsm, &spec, &hsm.uri("release"), &bundle, &[]);
    assert_exit(&o, 0);
    // The same release packed with a key file gives the same manifest: the token changes only
    // who signs.
    let file_key = keygen(d, "filekey");
    let other = d.join("file.airlock.tar.zst");
    let f = pack_with(&hsm, &spec, file_key.secret.to_str().unwrap(), &other, &[]);
    assert_exit(&f, 0);
    assert_eq!(result(&o)["manifest_sha256"], result(&f)["manifest_sha256"]);

    // Countersign with the transfer key on the token, PIN from --pin-file this time.
    let o = run(hsm
        .airlock()
        .arg("sign")
        .arg(&bundle)
        .arg("--key")
        .arg(hsm.uri_bare("transfer"))
        .arg("--pin-file")
        .arg(hsm.pin_file())
        .args(["--role", "transfer", "--json"]));
    assert_exit(&o, 0);

    let trust = d.join("trust.toml");
    write_trust(
        &trust,
        SITE,
        &[("release", 1, &[&release]), ("transfer", 1, &[&transfer])],
    );
    let o = run(airlock()
        .arg("verify")
        .arg(&bundle)
        .arg("--trust")
        .arg(&trust)
        .arg("--state")
        .arg(d.join("state"))
        .arg("--json"));
    assert_exit(&o, 0);
    let signers = result(&o)["signers"].as_array().unwrap().clone();
    assert_eq!(signers.len(), 2, "{signers:?}");
    assert!(signers.iter().all(|s| s["counted"] == true), "{signers:?}");

    // Stock minisign verifies both signatures made on the token over the manifest.
    let opened = open(&bundle);
    let frame = &opened.signed.frame;
    fs::write(d.join("manifest"), &frame.manifest).unwrap();
    for (key, role) in [(&release, "release"), (&transfer, "transfer")] {
        let name = format!("{role}-{}.minisig", key.id);
        let (_, sig) = frame
            .signatures
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no {name} in {:?}", frame.signatures));
        fs::write(d.join(&name), sig).unwrap();
        let v = minisign_verify(d, &key.public, &d.join("manifest"), &d.join(&name));
        assert!(v.status.success(), "minisign -V {name}: {}", describe(&v));
        assert!(
            String::from_utf8_lossy(&v.stdout).contains("Trusted comment: airlock-bundle/1"),
            "{}",
            describe(&v)
        );
    }

    // sign-policy with the token key: a policy.toml.minisig stock minisign accepts.
    let policy = d.join("policy.toml");
    fs::write(
        &policy,
        "[policy]\nid = \"p\"\nversion = 1\nissued = \"2025-01-01T00:00:00Z\"\nexpires = \"2090-01-01T00:00:00Z\"\n",
    )
    .unwrap();
    let o = run(hsm
        .airlock()
        .arg("sign-policy")
        .arg(&policy)
        .arg("--key")
        .arg(hsm.uri("release"))
        .arg("--json"));
    assert_exit(&o, 0);
    let v = minisign_verify(d, &release.public, &policy, &d.join("policy.toml.minisig"));
    assert!(v.status.success(), "minisign -V policy: {}", describe(&v));
}

#[test]
fn a_wrong_pin_exits_2_after_exactly_one_login() {
    let hsm = SoftHsm::new();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    token_keygen(&hsm, "release", &d.join("release"));
    let spec = example_release(&d.join("src"), "1.0.0", 1);
    let bad = hsm.root().join("bad-pin");
    write_file(&bad, b"654321\n", 0o600);
    let bundle = d.join("b.airlock.tar.zst");
    let before = hsm.spy_logins();
    let o = pack_with(
        &hsm,
        &spec,
        &hsm.spy_uri("release"),
        &bundle,
        &["--pin-file", bad.to_str().unwrap()],
    );
    assert_exit(&o, 2);
    let e = error(&o);
    let message = e["message"].as_str().unwrap_or_default().to_string();
    assert!(message.contains("CKR_PIN_INCORRECT"), "{e}");
    assert!(message.contains("not retried"), "{e}");
    assert!(!message.contains("654321"), "the PIN is never echoed: {e}");
    assert_eq!(
        hsm.spy_logins() - before,
        1,
        "exactly one C_Login reached the token; spy log:\n{}",
        fs::read_to_string(hsm.spy_log()).unwrap_or_default()
    );
    assert!(!bundle.exists());
    // The token still works with the right PIN (one wrong try did not lock it).
    let o = pack_with(&hsm, &spec, &hsm.uri("release"), &bundle, &[]);
    assert_exit(&o, 0);
    // A PIN in the URI itself is refused, without echoing it.
    let o = pack_with(
        &hsm,
        &spec,
        &format!("{}&pin-value=123456", hsm.uri_bare("release")),
        &d.join("c.airlock.tar.zst"),
        &[],
    );
    assert_exit(&o, 2);
    assert!(!stderr(&o).contains("123456"), "{}", describe(&o));
    // No PIN source and no terminal: exit 2, saying how to give one; no login attempted.
    let before = hsm.spy_logins();
    let o = pack_with(
        &hsm,
        &spec,
        &hsm.spy_uri("release"),
        &d.join("d.airlock.tar.zst"),
        &[],
    );
    assert_exit(&o, 2);
    assert_eq!(hsm.spy_logins(), before, "{}", describe(&o));
}

#[test]
fn a_missing_object_and_a_missing_module_exit_2_naming_them() {
    let hsm = SoftHsm::new();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    token_keygen(&hsm, "release", &d.join("release"));
    let spec = example_release(&d.join("src"), "1.0.0", 1);
    let o = pack_with(&hsm, &spec, &hsm.uri("nosuchkey"), &d.join("b"), &[]);
    assert_exit(&o, 2);
    let e = error(&o).to_string();
    assert!(e.contains("nosuchkey"), "{e}");
    assert!(
        e.contains("\\\"release\\\""),
        "lists the keys there are: {e}"
    );

    let uri = format!(
        "pkcs11:token=airlock;object=release?module-path={}/no/such/module.so&pin-source=file:{}",
        d.display(),
        hsm.pin_file().display()
    );
    let o = pack_with(&hsm, &spec, &uri, &d.join("b"), &[]);
    assert_exit(&o, 2);
    let e = error(&o).to_string();
    assert!(e.contains("cannot load the PKCS#11 module"), "{e}");
    assert!(e.contains("no/such/module.so"), "{e}");
    assert!(!d.join("b").exists());

    // keygen --token refuses to make a second key with a label already taken.
    let o = run(hsm
        .airlock()
        .args(["keygen", "--json", "--token"])
        .arg(hsm.uri("release"))
        .arg("--out")
        .arg(d.join("again")));
    assert_exit(&o, 2);
    assert!(!d.join("again.pub").exists());
}

#[test]
fn ml_dsa_on_a_token_without_ckm_ml_dsa_says_so() {
    let hsm = SoftHsm::new();
    let dir = tempfile::tempdir().unwrap();
    let o = run(hsm
        .airlock()
        .args(["keygen", "--json", "--alg", "ml-dsa-87", "--token"])
        .arg(hsm.uri("pq"))
        .arg("--out")
        .arg(dir.path().join("pq")));
    assert_exit(&o, 2);
    let e = error(&o).to_string();
    assert!(e.contains("CKM_ML_DSA"), "{e}");
    assert!(e.contains("PKCS#11 3.2"), "{e}");
    assert!(!dir.path().join("pq.pub").exists());
}

#[test]
fn a_token_removed_mid_way_exits_3_and_writes_no_bundle() {
    let hsm = SoftHsm::new();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    token_keygen(&hsm, "release", &d.join("release"));
    // A payload big enough that compressing it (one thread, a high level) takes seconds: the
    // token is pulled after airlock has logged in and before it signs.
    let src = d.join("src");
    write_file(
        &src.join("data/blob.dat"),
        &pseudo_random(11, 48 << 20),
        0o644,
    );
    let spec = src.join("spec.toml");
    write_spec(
        &spec,
        "big",
        "1.0.0",
        1,
        &[("data", "blob", "data/blob.dat")],
    );
    let bundle = d.join("big.airlock.tar.zst");
    let mut child = hsm
        .airlock_spawnable()
        .env("SOURCE_DATE_EPOCH", EPOCH.to_string())
        .arg("pack")
        .arg(&spec)
        .arg("--key")
        .arg(format!(
            "{}&pin-source=file:{}",
            hsm.spy_uri("release"),
            hsm.pin_file().display()
        ))
        .arg("-o")
        .arg(&bundle)
        .args(["--threads", "1", "--level", "19", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    // Wait until the key has been found (the spy logs the search's end), then pull the token.
    loop {
        let log = fs::read_to_string(hsm.spy_log()).unwrap_or_default();
        if log.contains("C_FindObjectsFinal") && hsm.spy_logins() == 1 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "pack finished before the token could be pulled; spy log:\n{log}"
        );
        assert!(started.elapsed() < Duration::from_secs(60), "no login seen");
        std::thread::sleep(Duration::from_millis(10));
    }
    hsm.remove_token_dir();
    let o = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "pack must not hang on a removed token"
    );
    assert_exit(&o, 3);
    let e = error(&o).to_string();
    assert!(e.contains("CKR_"), "names the PKCS#11 failure: {e}");
    assert!(!bundle.exists(), "no bundle without its signature");
    let leftovers: Vec<_> = fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".airlock"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let _ = INSTALL;
}
