//! Issue 11: CNSA 2.0. A cnsa2 bundle (SHA-384 everywhere, ML-DSA-87 signatures, optionally
//! minisign signatures beside them) packs, inspects, verifies, countersigns, splits into volumes,
//! forms deltas, diffs and unpacks; trust files count ML-DSA-87, Ed25519 or hybrid pairs; the
//! policy can require a suite per target and be signed with ML-DSA-87; every refusal is tested.
//! Interoperability with an independent ML-DSA-87 implementation (pyca/cryptography, in the test
//! venv) runs both ways, the README's cnsa2 stock recipe runs as written, the FIPS 204 keygen
//! known-answer tests run against `cryptography-vectors`, and a classic bundle made before suites
//! existed still verifies.
use crate::support::common;
use crate::support::pytools;

use common::*;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SDE: &str = "1793491200"; // 2026-11-01T00:00:00Z
const NOW: &str = "2030-01-01T00:00:00Z";

/// A copy of `manifests/example` with fixed dates, Ed25519 and ML-DSA-87 release keys and policy
/// keys of both kinds; the policy signed by both policy keys.
struct Release {
    dir: tempfile::TempDir,
    root: PathBuf,
    ed: Key,
    ml: Key,
    policy_ed: Key,
    policy_ml: Key,
}

impl Release {
    fn new() -> Release {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("example");
        copy_tree(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/example"),
            &root,
        );
        let r = Release {
            ed: keygen(dir.path(), "release-ed"),
            ml: keygen_ml_dsa(dir.path(), "release-ml"),
            policy_ed: keygen(dir.path(), "policy-ed"),
            policy_ml: keygen_ml_dsa(dir.path(), "policy-ml"),
            root,
            dir,
        };
        r.edit(
            "acme-7b.toml",
            "valid_days = 90",
            "expires = \"2098-01-01T00:00:00Z\"",
        );
        r.edit(
            "policy/policy.toml",
            "expires = \"2030-11-01T00:00:00Z\"",
            "expires = \"2097-01-01T00:00:00Z\"",
        );
        r.sign_policy(&[&r.policy_ed, &r.policy_ml]);
        r
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn edit(&self, rel: &str, from: &str, to: &str) {
        let p = self.path(rel);
        let text = fs::read_to_string(&p).unwrap();
        assert!(text.contains(from), "{rel} does not contain {from:?}");
        fs::write(&p, text.replacen(from, to, 1)).unwrap();
    }

    /// Re-signs the policy with exactly `keys` (earlier signatures removed).
    fn sign_policy(&self, keys: &[&Key]) {
        for e in fs::read_dir(self.path("policy")).unwrap() {
            let p = e.unwrap().path();
            if p.file_name().unwrap() != "policy.toml" {
                fs::remove_file(p).unwrap();
            }
        }
        let mut cmd = airlock();
        cmd.arg("sign-policy").arg(self.path("policy/policy.toml"));
        for k in keys {
            cmd.arg("--key").arg(&k.secret);
        }
        assert_exit(&run(&mut cmd), 0);
    }

    /// `airlock pack` of the example with `keys`, `--suite` if given, `extra` flags.
    fn pack_output(
        &self,
        keys: &[&Key],
        suite: Option<&str>,
        out: &Path,
        extra: &[&str],
    ) -> Output {
        let mut cmd = airlock();
        cmd.env("SOURCE_DATE_EPOCH", SDE)
            .arg("pack")
            .arg(self.path("acme-7b.toml"))
            .arg("-o")
            .arg(out)
            .arg("--json")
            .args(extra);
        for k in keys {
            cmd.arg("--key").arg(&k.secret);
        }
        if let Some(s) = suite {
            cmd.args(["--suite", s]);
        }
        run(&mut cmd)
    }

    fn pack(&self, keys: &[&Key], suite: Option<&str>, name: &str) -> PathBuf {
        let out = self.dir.path().join(name);
        assert_exit(&self.pack_output(keys, suite, &out, &[]), 0);
        out
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A trust file for the example's site: `roles` as (role, threshold, algorithms TOML or "",
    /// keys); a role whose algorithms are `["hybrid"]` takes its keys as (ed, ml) pairs.
    fn trust(&self, name: &str, roles: &[(&str, usize, &str, &[&Key])]) -> PathBuf {
        let mut text = "site = \"aws-secret\"\n".to_string();
        for (role, threshold, algorithms, keys) in roles {
            text.push_str(&format!("\n[roles.{role}]\nthreshold = {threshold}\n"));
            if !algorithms.is_empty() {
                text.push_str(&format!("algorithms = {algorithms}\n"));
            }
            if algorithms.contains("hybrid") {
                for pair in keys.chunks(2) {
                    text.push_str(&format!(
                        "[[roles.{role}.pair]]\ned25519 = \"{}\"\nml_dsa_87 = \"{}\"\n",
                        pair[0].base64, pair[1].base64
                    ));
                }
            } else {
                let list: Vec<String> = keys.iter().map(|k| format!("\"{}\"", k.base64)).collect();
                text.push_str(&format!("keys = [{}]\n", list.join(", ")));
            }
        }
        let p = self.file(name);
        fs::write(&p, text).unwrap();
        p
    }

    /// The CNSA setting: release and policy count only ML-DSA-87.
    fn pq_trust(&self) -> PathBuf {
        self.trust(
            "trust-pq.toml",
            &[
                ("release", 1, "[\"ml-dsa-87\"]", &[&self.ml]),
                ("policy", 1, "[\"ml-dsa-87\"]", &[&self.policy_ml]),
            ],
        )
    }
}

/// `airlock ARGS... --json` with `--now` and a state directory below `state`.
fn check(cmd: &str, bundle: &Path, trust: &Path, state: &Path, extra: &[&str]) -> Output {
    run(airlock()
        .arg(cmd)
        .arg(bundle)
        .arg("--trust")
        .arg(trust)
        .arg("--state")
        .arg(state)
        .args(["--now", NOW, "--json"])
        .args(extra))
}

fn inspect(bundle: &Path) -> Value {
    let out = run(airlock()
        .arg("inspect")
        .arg(bundle)
        .args(["--json", "--files"]));
    assert_exit(&out, 0);
    result(&out)
}

#[test]
fn ml_dsa_keys_are_standard_pem_and_misuse_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    fs::write(&pw, "correct horse\n").unwrap();
    let out = run(airlock()
        .args(["keygen", "--alg", "ml-dsa-87", "--json", "--out"])
        .arg(dir.path().join("k"))
        .arg("--password-file")
        .arg(&pw));
    assert_exit(&out, 0);
    let r = result(&out);
    let public = fs::read_to_string(dir.path().join("k.pub")).unwrap();
    let secret = fs::read_to_string(dir.path().join("k.key")).unwrap();
    assert!(
        public.starts_with("-----BEGIN PUBLIC KEY-----\n"),
        "{public}"
    );
    assert!(
        secret.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"),
        "{secret}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(dir.path().join("k.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // The trust line is the PEM body: the SPKI DER in base64.
    let body: String = public.lines().filter(|l| !l.starts_with("-----")).collect();
    assert_eq!(r["public_key"], format!("ml-dsa-87:{body}"));
    assert_eq!(r["key_id"].as_str().unwrap().len(), 16);

    // Keys are told apart by content: the public half, a wrong password, no password.
    let r2 = Release::new();
    let spec = r2.path("acme-7b.toml");
    let try_pack = |key: &Path, extra: &[&str]| {
        run(airlock()
            .arg("pack")
            .arg(&spec)
            .arg("--key")
            .arg(key)
            .args(["--suite", "cnsa2", "--json", "-o"])
            .arg(dir.path().join("b.tar.zst"))
            .args(extra))
    };
    let out = try_pack(&dir.path().join("k.pub"), &[]);
    assert_exit(&out, 2);
    assert!(
        error(&out)["message"]
            .as_str()
            .unwrap()
            .contains("public key"),
        "{}",
        describe(&out)
    );
    let wrong = dir.path().join("wrong");
    fs::write(&wrong, "battery staple\n").unwrap();
    let out = try_pack(
        &dir.path().join("k.key"),
        &["--password-file", wrong.to_str().unwrap()],
    );
    assert_exit(&out, 2);
    assert!(
        error(&out)["message"]
            .as_str()
            .unwrap()
            .contains("wrong password"),
        "{}",
        describe(&out)
    );
    let out = try_pack(&dir.path().join("k.key"), &[]);
    assert_exit(&out, 2);
    assert!(
        error(&out)["message"]
            .as_str()
            .unwrap()
            .contains("no password"),
        "{}",
        describe(&out)
    );
    let out = try_pack(
        &dir.path().join("k.key"),
        &["--password-file", pw.to_str().unwrap()],
    );
    assert_exit(&out, 0);
    assert!(!dir.path().join("nothing").exists());
}

/// The whole job in the cnsa2 suite: pack with an ML-DSA-87 and an Ed25519 key, inspect, verify
/// under the CNSA trust setting, countersign with ML-DSA-87, unpack.
#[test]
fn a_cnsa2_bundle_packs_inspects_verifies_countersigns_and_unpacks() {
    let r = Release::new();
    let bundle = r.pack(&[&r.ml, &r.ed], Some("cnsa2"), "b.tar.zst");

    let sheet = inspect(&bundle);
    assert_eq!(sheet["suite"], "cnsa2");
    assert!(
        sheet["manifest_digest"]
            .as_str()
            .unwrap()
            .starts_with("sha384:")
    );
    let algorithms: Vec<&str> = sheet["signers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["algorithm"].as_str().unwrap())
        .collect();
    assert_eq!(algorithms.len(), 2);
    assert!(algorithms.contains(&"ml-dsa-87") && algorithms.contains(&"ed25519"));
    for e in sheet["entries"].as_array().unwrap() {
        assert!(e["digest"].as_str().unwrap().starts_with("sha384:"), "{e}");
        assert!(
            e.get("sha256").is_none(),
            "a cnsa2 entry has no sha256 field: {e}"
        );
    }
    // The tree digest `airlock digest --suite cnsa2` prints is the one the manifest records.
    let out = run(airlock()
        .args(["digest", "--suite", "cnsa2", "--json"])
        .arg(r.path("models/acme-7b")));
    assert_exit(&out, 0);
    let model = sheet["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "model")
        .unwrap()
        .clone();
    assert_eq!(result(&out)["tree_digest"], model["tree_digest"]);

    let trust = r.pq_trust();
    let state = r.file("state");
    let out = check("verify", &bundle, &trust, &state, &["--deep"]);
    assert_exit(&out, 0);
    let v = result(&out);
    assert_eq!(v["suite"], "cnsa2");
    let status = |v: &Value, alg: &str| -> String {
        v["signers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["algorithm"] == alg)
            .map(|s| s["status"].as_str().unwrap().to_string())
            .unwrap_or_default()
    };
    assert_eq!(status(&v, "ml-dsa-87"), "counted");
    // The Ed25519 key is not pinned in the CNSA trust file.
    assert_eq!(status(&v, "ed25519"), "unknown-key");
    assert_eq!(v["policy"]["signers"].as_array().unwrap().len(), 2);

    // The transfer officer countersigns with ML-DSA-87 (into a copy, then in place).
    let officer = keygen_ml_dsa(r.dir.path(), "officer");
    let signed = r.file("signed.tar.zst");
    let out = run(airlock()
        .arg("sign")
        .arg(&bundle)
        .arg("--key")
        .arg(&officer.secret)
        .args(["--json", "-o"])
        .arg(&signed));
    assert_exit(&out, 0);
    assert_eq!(result(&out)["signatures"][0]["algorithm"], "ml-dsa-87");
    let with_transfer = r.trust(
        "trust-transfer.toml",
        &[
            ("release", 1, "[\"ml-dsa-87\"]", &[&r.ml]),
            ("policy", 1, "[\"ml-dsa-87\"]", &[&r.policy_ml]),
            ("transfer", 1, "[\"ml-dsa-87\"]", &[&officer]),
        ],
    );
    assert_rejected(
        &check("verify", &bundle, &with_transfer, &state, &[]),
        &["threshold"],
    );
    assert_exit(&check("verify", &signed, &with_transfer, &state, &[]), 0);

    // Unpack installs exactly the example tree.
    let dest = r.file("installed");
    let out = check(
        "unpack",
        &signed,
        &with_transfer,
        &state,
        &["--dest", dest.to_str().unwrap()],
    );
    assert_exit(&out, 0);
    assert_eq!(
        fs::read(dest.join("model/acme-7b/config.json")).unwrap(),
        fs::read(r.path("models/acme-7b/config.json")).unwrap()
    );
    // The audit-relevant report names the suite and each signer's algorithm.
    let u = result(&out);
    assert_eq!(u["suite"], "cnsa2", "{u}");
}

#[test]
fn cnsa2_volumes_deltas_and_diff_work() {
    let r = Release::new();
    let trust = r.pq_trust();
    let v1 = r.pack(&[&r.ml], Some("cnsa2"), "v1.tar.zst");

    // Volumes of the three-frame test release: each verifies alone, the set joins.
    let src = r.file("vol-src");
    let spec = example_release(&src, "1.0.0", 1);
    // A second large file, so two frames of about 1.2 MiB each cannot share a volume.
    write_file(
        &src.join("models/acme-7b/model-2.safetensors"),
        &safetensors(8, (1 << 20) + (1 << 18)),
        0o644,
    );
    let full = r.file("full.tar.zst");
    let pack_vol = |out: &Path, extra: &[&str]| {
        run(airlock()
            .env("SOURCE_DATE_EPOCH", SDE)
            .arg("pack")
            .arg(&spec)
            .arg("--key")
            .arg(&r.ml.secret)
            .args(["--suite", "cnsa2", "--quiet", "-o"])
            .arg(out)
            .args(extra))
    };
    assert_exit(&pack_vol(&full, &[]), 0);
    let largest = open(&full)
        .signed
        .manifest
        .frames
        .iter()
        .map(|f| f.compressed_size)
        .max()
        .unwrap();
    let vols = r.file("vols.tar.zst");
    let size = (largest + (64 << 10)).to_string();
    assert_exit(&pack_vol(&vols, &["--max-volume-size", &size]), 0);
    let volumes: Vec<PathBuf> = (1..)
        .map(|i| PathBuf::from(format!("{}.{i:03}", vols.display())))
        .take_while(|p| p.exists())
        .collect();
    assert!(volumes.len() >= 2, "{} volumes", volumes.len());
    let vol_trust = r.trust(
        "vol-trust.toml",
        &[("release", 1, "[\"ml-dsa-87\"]", &[&r.ml])],
    );
    for v in &volumes {
        assert_exit(&check("verify", v, &vol_trust, &r.file("st-vol"), &[]), 0);
    }
    let joined = r.file("joined.tar.zst");
    let out = run(airlock()
        .arg("join")
        .args(&volumes)
        .arg("-o")
        .arg(&joined)
        .arg("--json"));
    assert_exit(&out, 0);
    assert_exit(
        &check(
            "verify",
            &joined,
            &vol_trust,
            &r.file("st-join"),
            &["--deep"],
        ),
        0,
    );
    let dest = r.file("from-volumes");
    let mut unpack = airlock();
    unpack
        .arg("unpack")
        .args(&volumes)
        .arg("--trust")
        .arg(&vol_trust)
        .arg("--state")
        .arg(r.file("st-vol-unpack"))
        .args(["--now", NOW, "--dest"])
        .arg(&dest);
    assert_exit(&run(&mut unpack), 0);

    // A delta against v1, unpacked with --base and rebuilt with patch.
    r.edit("acme-7b.toml", "version = \"1.0.0\"", "version = \"1.1.0\"");
    r.edit("acme-7b.toml", "sequence = 1", "sequence = 2");
    let delta = r.file("v2.delta");
    let out = r.pack_output(
        &[&r.ml],
        Some("cnsa2"),
        &delta,
        &["--base", v1.to_str().unwrap()],
    );
    assert_exit(&out, 0);
    let dest = r.file("d");
    let out = check(
        "unpack",
        &delta,
        &trust,
        &r.file("st-delta"),
        &[
            "--base",
            v1.to_str().unwrap(),
            "--dest",
            dest.to_str().unwrap(),
        ],
    );
    assert_exit(&out, 0);
    let patched = r.file("v2.tar.zst");
    let out = run(airlock()
        .arg("patch")
        .arg(&v1)
        .arg(&delta)
        .arg("-o")
        .arg(&patched)
        .arg("--json"));
    assert_exit(&out, 0);
    assert_exit(
        &check("verify", &patched, &trust, &r.file("st-patch"), &["--deep"]),
        0,
    );

    // diff names the suites and compares sha384 digests.
    let out = run(airlock().arg("diff").arg(&v1).arg(&patched).arg("--json"));
    assert_exit(&out, 0);
    let d = result(&out);
    assert_eq!(d["old"]["suite"], "cnsa2");
    assert_eq!(d["files"]["changed"].as_array().unwrap().len(), 0, "{d}");
    let fields: Vec<&str> = d["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"bundle.version") && !fields.contains(&"layout.suite"),
        "{fields:?}"
    );

    // A delta between suites would carry every frame: refused, saying to send the full bundle.
    let classic = {
        r.edit("acme-7b.toml", "version = \"1.1.0\"", "version = \"1.0.1\"");
        r.pack(&[&r.ed], None, "classic.tar.zst")
    };
    let out = r.pack_output(
        &[&r.ml],
        Some("cnsa2"),
        &r.file("x.delta"),
        &["--base", classic.to_str().unwrap()],
    );
    assert_exit(&out, 2);
    assert!(
        error(&out)["message"].as_str().unwrap().contains("classic"),
        "{}",
        describe(&out)
    );
    // diff across suites reports the suite change.
    let out = run(airlock().arg("diff").arg(&classic).arg(&v1).arg("--json"));
    assert_exit(&out, 0);
    assert!(
        result(&out)["fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["field"] == "layout.suite" && f["new"] == "cnsa2")
    );
}

#[test]
fn suites_and_signers_that_do_not_fit_are_refused_at_pack() {
    let r = Release::new();
    // An ML-DSA-87 key cannot sign a classic bundle.
    let out = r.pack_output(&[&r.ml], None, &r.file("a.tar.zst"), &[]);
    assert_exit(&out, 2);
    assert!(
        error(&out)["message"].as_str().unwrap().contains("cnsa2"),
        "{}",
        describe(&out)
    );
    // --suite contradicting the spec.
    r.edit(
        "acme-7b.toml",
        "target = \"aws-secret\"",
        "target = \"aws-secret\"\nsuite = \"cnsa2\"",
    );
    let out = r.pack_output(&[&r.ed], Some("classic"), &r.file("b.tar.zst"), &[]);
    assert_exit(&out, 2);
    assert!(
        error(&out)["message"]
            .as_str()
            .unwrap()
            .contains("contradicts"),
        "{}",
        describe(&out)
    );
    // The spec's suite alone selects cnsa2.
    let b = r.pack(&[&r.ml], None, "c.tar.zst");
    assert_eq!(inspect(&b)["suite"], "cnsa2");
    // The same key twice.
    let out = r.pack_output(&[&r.ml, &r.ml], None, &r.file("d.tar.zst"), &[]);
    assert_exit(&out, 2);
    for f in ["a.tar.zst", "b.tar.zst", "d.tar.zst"] {
        assert!(!r.file(f).exists(), "{f} was written");
    }
}

#[test]
fn trust_counts_algorithms_and_hybrid_pairs() {
    let r = Release::new();
    let state = r.file("state");
    let classic = r.pack(&[&r.ed], None, "classic.tar.zst");
    let both = r.pack(&[&r.ed, &r.ml], Some("cnsa2"), "both.tar.zst");
    let ed_only = r.pack(&[&r.ed], Some("cnsa2"), "ed-only.tar.zst");
    let ml_only = r.pack(&[&r.ml], Some("cnsa2"), "ml-only.tar.zst");

    // A role requiring ML-DSA-87 refuses a classic bundle, saying what is missing.
    let pq = r.trust("pq.toml", &[("release", 1, "[\"ml-dsa-87\"]", &[&r.ml])]);
    let out = check("verify", &classic, &pq, &state, &[]);
    assert_eq!(assert_rejected(&out, &["threshold"]), "threshold");
    let msg = error(&out)["message"].as_str().unwrap().to_string();
    assert!(
        msg.contains("--suite cnsa2") && msg.contains("ML-DSA-87"),
        "{msg}"
    );
    assert_rejected(&check("verify", &ed_only, &pq, &state, &[]), &["threshold"]);
    assert_exit(&check("verify", &ml_only, &pq, &state, &[]), 0);

    // ["ed25519"]: an ML-DSA key pinned there is a configuration error; the Ed25519 signature
    // of a cnsa2 bundle counts (the transition setting).
    let ed = r.trust("ed.toml", &[("release", 1, "[\"ed25519\"]", &[&r.ed])]);
    assert_exit(&check("verify", &both, &ed, &state, &[]), 0);
    assert_exit(&check("verify", &classic, &ed, &state, &[]), 0);
    let bad = r.trust("bad.toml", &[("release", 1, "[\"ed25519\"]", &[&r.ml])]);
    assert_exit(&check("verify", &both, &bad, &state, &[]), 2);

    // Hybrid: the pair counts only when both of its signatures verify.
    let hybrid = r.trust(
        "hybrid.toml",
        &[("release", 1, "[\"hybrid\"]", &[&r.ed, &r.ml])],
    );
    for (bundle, ok) in [
        (&both, true),
        (&ed_only, false),
        (&ml_only, false),
        (&classic, false),
    ] {
        let out = check("verify", bundle, &hybrid, &state, &[]);
        if ok {
            assert_exit(&out, 0);
            let signers = result(&out)["signers"].clone();
            assert!(
                signers
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|s| s["status"] == "counted"),
                "{signers}"
            );
        } else {
            assert_eq!(
                assert_rejected(&out, &["threshold"]),
                "threshold",
                "{}",
                bundle.display()
            );
        }
    }
    let out = check("verify", &ed_only, &hybrid, &state, &[]);
    assert!(
        error(&out)["message"]
            .as_str()
            .unwrap()
            .contains("incomplete")
            || error(&out)["message"]
                .as_str()
                .unwrap()
                .contains("hybrid pair"),
        "{}",
        describe(&out)
    );
    // A pair of two Ed25519 keys is a configuration error.
    let wrong_pair = r.trust(
        "pair.toml",
        &[("release", 1, "[\"hybrid\"]", &[&r.ed, &r.policy_ed])],
    );
    assert_exit(&check("verify", &both, &wrong_pair, &state, &[]), 2);
}

#[test]
fn the_policy_requires_a_suite_per_target_and_may_be_signed_with_ml_dsa() {
    let r = Release::new();
    let state = r.file("state");
    r.edit(
        "policy/policy.toml",
        "[[sensitive_target]]",
        "[[target_suite]]\ntarget = \"aws-secret\"\nsuite = \"cnsa2\"\n\n[[sensitive_target]]",
    );
    r.sign_policy(&[&r.policy_ed, &r.policy_ml]);
    // Pack refuses a classic bundle for that target, naming the rule.
    let out = r.pack_output(&[&r.ed], None, &r.file("classic.tar.zst"), &[]);
    assert_exit(&out, 1);
    let e = error(&out);
    assert_eq!(e["check"], "policy");
    assert!(e["message"].as_str().unwrap().contains("rule suite"), "{e}");
    assert!(!r.file("classic.tar.zst").exists());
    let bundle = r.pack(&[&r.ml], Some("cnsa2"), "b.tar.zst");
    let out = check("verify", &bundle, &r.pq_trust(), &state, &[]);
    assert_exit(&out, 0);
    assert!(
        result(&out)["policy"]["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["rule"] == "suite"),
        "{}",
        describe(&out)
    );

    // A policy role counting only ML-DSA-87 refuses a policy signed by minisign alone.
    r.sign_policy(&[&r.policy_ed]);
    let ed_signed = r.pack(&[&r.ml], Some("cnsa2"), "ed-policy.tar.zst");
    let out = check("verify", &ed_signed, &r.pq_trust(), &state, &[]);
    assert_rejected(&out, &["threshold"]);
    assert!(
        error(&out)["message"]
            .as_str()
            .unwrap()
            .contains("role policy"),
        "{}",
        describe(&out)
    );

    // An ML-DSA-87 policy signature whose statement names another version is refused, even
    // though the bytes it signs verify: the statement must describe this policy file.
    r.sign_policy(&[&r.policy_ml]);
    let sig = fs::read_dir(r.path("policy"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "mldsa87"))
        .unwrap();
    let name = sig.file_name().unwrap().to_str().unwrap().to_string();
    assert_eq!(name, format!("policy-{}.mldsa87", r.policy_ml.id));
    let good = r.pack(&[&r.ml], Some("cnsa2"), "ml-policy.tar.zst");
    assert_exit(&check("verify", &good, &r.pq_trust(), &state, &[]), 0);
    let edited = r.file("edited-policy.tar.zst");
    let text = fs::read_to_string(&sig).unwrap();
    let forged = text.replacen(" version=3 ", " version=4 ", 1);
    assert_ne!(forged, text);
    rewrite_manifest_frame(&good, &edited, |frame| {
        for (path, bytes) in &mut frame.copies {
            if path.as_str().ends_with(".mldsa87") {
                *bytes = forged.clone().into_bytes();
            }
        }
    });
    // The copy no longer matches the signed manifest: refused before any signature is tried.
    assert_rejected(
        &check("verify", &edited, &r.pq_trust(), &state, &[]),
        &["manifest-frame"],
    );
}

/// The README's cnsa2 stock recipe, between its markers.
fn cnsa2_recipe() -> String {
    let readme =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme
        .find("<!-- stock-tools-recipe-cnsa2:begin -->")
        .expect("begin marker");
    let end = readme
        .find("<!-- stock-tools-recipe-cnsa2:end -->")
        .expect("end marker");
    readme[start..end]
        .split_once("```bash\n")
        .and_then(|(_, rest)| rest.rsplit_once("```"))
        .map(|(body, _)| body.to_string())
        .expect("the recipe is a ```bash block")
}

fn run_recipe(bundle: &Path, key: &Key, dir: &Path) -> Output {
    fs::create_dir_all(dir).unwrap();
    Command::new("bash")
        .args(["-euo", "pipefail", "-c"])
        .arg(cnsa2_recipe())
        .current_dir(dir)
        .env("PATH", pytools::path_with_venv())
        .env("BUNDLE", bundle)
        .env("PUBKEY", &key.public)
        .env("KEYID", &key.id)
        .output()
        .unwrap()
}

/// pyca/cryptography verifies airlock's ML-DSA-87 signatures through the README recipe, which
/// also catches a tampered file and a signature by another key.
#[test]
fn pyca_verifies_airlock_signatures_with_the_readme_recipe() {
    require_tool("sha384sum");
    let r = Release::new();
    let bundle = r.pack(&[&r.ml], Some("cnsa2"), "b.tar.zst");
    let out = run_recipe(&bundle, &r.ml, &r.file("ok"));
    assert_exit(&out, 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains("name = \"acme-7b\""));

    // Another key's signature under the trusted key's file name: the statement matches, the
    // signature does not verify.
    let other = keygen_ml_dsa(r.dir.path(), "other");
    let by_other = r.pack(&[&other], Some("cnsa2"), "other.tar.zst");
    let swapped = r.file("swapped.tar.zst");
    let want_name = format!("release-{}.mldsa87", r.ml.id);
    let other_sig = open(&by_other).signed.frame.signatures[0].1.clone();
    rewrite_manifest_frame(&bundle, &swapped, |frame| {
        frame.signatures = vec![(want_name.clone(), other_sig.clone())];
    });
    let out = run_recipe(&swapped, &r.ml, &r.file("swapped"));
    assert!(
        !out.status.success(),
        "the recipe accepted another key's signature"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("InvalidSignature"),
        "{}",
        describe(&out)
    );

    // An extracted payload file differs from what the manifest lists: sha384sum -c fails.
    let dir = r.file("tampered");
    fs::create_dir_all(&dir).unwrap();
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c"])
        .arg(cnsa2_recipe().replace(
            "tar --zstd -xf \"$BUNDLE\"\n",
            "tar --zstd -xf \"$BUNDLE\"\nprintf x >> model/acme-7b/config.json\n",
        ))
        .current_dir(&dir)
        .env("PATH", pytools::path_with_venv())
        .env("BUNDLE", &bundle)
        .env("PUBKEY", &r.ml.public)
        .env("KEYID", &r.ml.id)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("FAILED"),
        "{}",
        describe(&out)
    );
}

/// Keys and signatures made by pyca/cryptography work in airlock: a pyca key (encrypted PKCS#8)
/// signs a release, and a pyca signature over a transfer statement counts; pyca reads airlock's
/// encrypted key and derives the same public key.
#[test]
fn airlock_uses_pyca_keys_and_verifies_pyca_signatures() {
    let r = Release::new();
    let dir = r.dir.path();
    let generate = r#"
import sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import mldsa
for out in sys.argv[1:]:
    sk = mldsa.MLDSA87PrivateKey.generate()
    open(out + ".key", "wb").write(sk.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pyca pw")))
    open(out + ".pub", "wb").write(sk.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
"#;
    let (ok, text) = pytools::python_script(
        generate,
        &[
            dir.join("pyca").as_os_str(),
            dir.join("pyca-officer").as_os_str(),
        ],
    );
    assert!(ok, "{text}");
    let pyca_key = |name: &str| {
        let public = fs::read_to_string(dir.join(format!("{name}.pub"))).unwrap();
        let body: String = public.lines().filter(|l| !l.starts_with("-----")).collect();
        let line = format!("ml-dsa-87:{body}");
        let der = airlock::trust::mldsa::parse_public(&line).unwrap();
        Key {
            public: dir.join(format!("{name}.pub")),
            secret: dir.join(format!("{name}.key")),
            base64: line,
            id: airlock::format::signature::mldsa_key_id(&der),
        }
    };
    let (pyca, officer) = (pyca_key("pyca"), pyca_key("pyca-officer"));
    let pw = dir.join("pyca.pw");
    fs::write(&pw, "pyca pw\n").unwrap();
    let bundle = r.file("b.tar.zst");
    let out = r.pack_output(
        &[&pyca],
        Some("cnsa2"),
        &bundle,
        &["--password-file", pw.to_str().unwrap()],
    );
    assert_exit(&out, 0);
    assert_eq!(inspect(&bundle)["signers"][0]["key_id"], pyca.id.as_str());
    let release_only = r.trust(
        "pyca-trust.toml",
        &[
            ("release", 1, "[\"ml-dsa-87\"]", &[&pyca]),
            ("policy", 1, "[\"ml-dsa-87\"]", &[&r.policy_ml]),
        ],
    );
    assert_exit(
        &check(
            "verify",
            &bundle,
            &release_only,
            &r.file("st1"),
            &["--deep"],
        ),
        0,
    );

    // pyca signs the transfer statement for this manifest; airlock counts it.
    let opened = open(&bundle);
    let statement = airlock::trust::keys::statement(
        &opened.signed.manifest,
        &opened.signed.frame.manifest,
        airlock::format::signature::Role::Transfer,
        airlock::format::time::Timestamp::parse(NOW).unwrap(),
    )
    .render();
    let sign = r#"
import base64, sys
from cryptography.hazmat.primitives import serialization
sk = serialization.load_pem_private_key(open(sys.argv[1], "rb").read(), b"pyca pw")
sys.stdout.write(sys.argv[2] + "\n" + base64.b64encode(sk.sign(sys.argv[2].encode() + b"\n")).decode() + "\n")
"#;
    let out = pytools::python()
        .arg("-c")
        .arg(sign)
        .arg(&officer.secret)
        .arg(&statement)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let countersigned = r.file("countersigned.tar.zst");
    rewrite_manifest_frame(&bundle, &countersigned, |frame| {
        frame.signatures.push((
            format!("transfer-{}.mldsa87", officer.id),
            out.stdout.clone(),
        ));
        frame.signatures.sort();
    });
    let with_officer = r.trust(
        "pyca-transfer.toml",
        &[
            ("release", 1, "[\"ml-dsa-87\"]", &[&pyca]),
            ("transfer", 1, "[\"ml-dsa-87\"]", &[&officer]),
        ],
    );
    assert_rejected(
        &check("verify", &bundle, &with_officer, &r.file("st2"), &[]),
        &["threshold"],
    );
    let out = check("verify", &countersigned, &with_officer, &r.file("st2"), &[]);
    assert_exit(&out, 0);
    let transfer = result(&out)["signers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["role"] == "transfer")
        .cloned()
        .unwrap();
    assert_eq!(transfer["status"], "counted", "{transfer}");
    // The same signature file with one statement byte changed does not verify.
    let forged = r.file("forged.tar.zst");
    let genuine = String::from_utf8(out_sig(&countersigned, &officer.id)).unwrap();
    let bad = genuine.replacen(" signed=2030", " signed=2031", 1);
    assert_ne!(bad, genuine);
    rewrite_manifest_frame(&countersigned, &forged, |frame| {
        for (name, bytes) in &mut frame.signatures {
            if name.starts_with("transfer-") {
                *bytes = bad.clone().into_bytes();
            }
        }
    });
    assert_rejected(
        &check("verify", &forged, &with_officer, &r.file("st3"), &[]),
        &["signature"],
    );

    // pyca reads airlock's encrypted key and derives airlock's public key.
    let apw = dir.join("airlock.pw");
    fs::write(&apw, "airlock pw\n").unwrap();
    let out = run(airlock()
        .args(["keygen", "--alg", "ml-dsa-87", "--out"])
        .arg(dir.join("enc"))
        .arg("--password-file")
        .arg(&apw));
    assert_exit(&out, 0);
    let derive = r#"
import sys
from cryptography.hazmat.primitives import serialization
sk = serialization.load_pem_private_key(open(sys.argv[1], "rb").read(), b"airlock pw")
sys.stdout.write(sk.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode())
"#;
    let out = pytools::python()
        .arg("-c")
        .arg(derive)
        .arg(dir.join("enc.key"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        fs::read_to_string(dir.join("enc.pub")).unwrap()
    );
}

/// The bytes of the transfer signature by `key_id` in `bundle`.
fn out_sig(bundle: &Path, key_id: &str) -> Vec<u8> {
    open(bundle)
        .signed
        .frame
        .signatures
        .iter()
        .find(|(n, _)| *n == format!("transfer-{key_id}.mldsa87"))
        .map(|(_, b)| b.clone())
        .unwrap()
}

/// FIPS 204 ML-DSA.KeyGen_internal known answers, from the `kat_MLDSA_87_det_pure.rsp` file
/// pyca/cryptography ships in `cryptography-vectors`: every record's seed ξ gives its public key.
#[test]
fn ml_dsa_87_keygen_matches_the_fips_204_known_answers() {
    let rsp = pytools::vectors_dir().join("asymmetric/MLDSA/kat_MLDSA_87_det_pure.rsp");
    let text = fs::read_to_string(&rsp).unwrap_or_else(|e| panic!("{}: {e}", rsp.display()));
    let unhex = |s: &str| -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    };
    let mut checked = 0;
    let mut xi = None;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("xi = ") {
            xi = Some(unhex(v.trim()));
        } else if let Some(v) = line.strip_prefix("pk = ") {
            let seed: [u8; 32] = xi.take().expect("xi before pk").try_into().unwrap();
            let key = airlock::trust::mldsa::MlDsaKey::from_seed(&seed).unwrap();
            assert_eq!(
                airlock::trust::mldsa::raw_public_key(&key.spki_der),
                unhex(v.trim()),
                "record {checked}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 100, "{}", rsp.display());
}

/// A classic bundle made by airlock before suites existed (commit a1a624d, kept in
/// tests/fixtures/classic-v1, regenerated by scripts/make-classic-fixture.sh) verifies and
/// unpacks unchanged.
#[test]
fn a_classic_bundle_from_before_suites_still_verifies() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/classic-v1");
    let bundle = fixture.join("tiny-1.0.0.airlock.tar.zst");
    let recorded = fs::read_to_string(fixture.join("tiny-1.0.0.airlock.tar.zst.sha256")).unwrap();
    let bytes = fs::read(&bundle).unwrap();
    assert_eq!(
        recorded.split_whitespace().next().unwrap(),
        airlock::format::digest::hex(&airlock::format::digest::sha256(&bytes)),
        "the fixture changed"
    );
    let dir = tempfile::tempdir().unwrap();
    let trust = fixture.join("trust.toml");
    let out = check(
        "verify",
        &bundle,
        &trust,
        &dir.path().join("st"),
        &["--deep"],
    );
    assert_exit(&out, 0);
    assert_eq!(result(&out)["suite"], "classic");
    let dest = dir.path().join("dest");
    let out = check(
        "unpack",
        &bundle,
        &trust,
        &dir.path().join("st"),
        &["--dest", dest.to_str().unwrap()],
    );
    assert_exit(&out, 0);
    assert!(dest.is_dir());
}
