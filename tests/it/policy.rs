//! Issue 3: the policy authority, safeguards, content gate and site trust. For each rule, the
//! allowed case passes and the forbidden case fails with exit 1 and a message naming the rule —
//! at pack time (a bundle the policy forbids cannot be built) and on the receiving side (verify and
//! unpack against trust.toml with a policy role, a site, a state directory and `--now`).
use crate::support::common;

use common::{
    Key, airlock, assert_exit, assert_rejected, copy_tree, json, keygen, run, stderr, write_trust,
};
use std::fs;
use std::path::{Path, PathBuf};

const SDE: &str = "1793491200"; // 2026-11-01T00:00:00Z
const BUNDLE_EXPIRES: &str = "2098-01-01T00:00:00Z";
const POLICY_EXPIRES_EXAMPLE: &str = "expires = \"2030-11-01T00:00:00Z\"";
const POLICY_EXPIRES: &str = "expires = \"2097-01-01T00:00:00Z\"";

/// A copy of `manifests/example` with throwaway release and policy keys, the policy signed.
struct Release {
    _dir: tempfile::TempDir,
    root: PathBuf,
    release: Key,
    policy_key: Key,
    other: Key,
}

impl Release {
    fn new() -> Release {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("example");
        copy_tree(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/example"),
            &root,
        );
        let release = keygen(dir.path(), "release");
        let policy_key = keygen(dir.path(), "policy");
        let other = keygen(dir.path(), "other");
        let r = Release {
            root,
            release,
            policy_key,
            other,
            _dir: dir,
        };
        // Fixed dates far ahead, so no test depends on when it runs.
        r.edit(
            "acme-7b.toml",
            "valid_days = 90",
            &format!("expires = \"{BUNDLE_EXPIRES}\""),
        );
        r.edit("policy/policy.toml", POLICY_EXPIRES_EXAMPLE, POLICY_EXPIRES);
        r.sign_policy(&r.policy_key, None);
        r
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn sign_policy(&self, key: &Key, out: Option<&str>) {
        let mut cmd = airlock();
        cmd.arg("sign-policy")
            .arg(self.path("policy/policy.toml"))
            .arg("--key")
            .arg(&key.secret);
        if let Some(o) = out {
            cmd.arg("-o").arg(self.path(o));
        }
        assert_exit(&run(&mut cmd), 0);
    }

    fn edit(&self, rel: &str, from: &str, to: &str) {
        let p = self.path(rel);
        let text = fs::read_to_string(&p).unwrap();
        assert!(text.contains(from), "{rel} does not contain {from:?}");
        fs::write(&p, text.replacen(from, to, 1)).unwrap();
    }

    fn pack_output(&self, out: &str) -> std::process::Output {
        run(airlock()
            .env("SOURCE_DATE_EPOCH", SDE)
            .arg("pack")
            .arg(self.path("acme-7b.toml"))
            .arg("--key")
            .arg(&self.release.secret)
            .arg("-o")
            .arg(self.path(out))
            .arg("--quiet"))
    }

    fn pack(&self, out: &str) -> PathBuf {
        let o = self.pack_output(out);
        assert_exit(&o, 0);
        self.path(out)
    }

    fn trust(&self, site: &str, policy_keys: &[&Key], policy_threshold: usize) -> PathBuf {
        let p = self.path(&format!(
            "trust-{site}-{policy_threshold}-{}.toml",
            policy_keys.len()
        ));
        write_trust(
            &p,
            site,
            &[
                ("release", 1, &[&self.release]),
                ("policy", policy_threshold, policy_keys),
            ],
        );
        p
    }

    fn default_trust(&self) -> PathBuf {
        self.trust("aws-secret", &[&self.policy_key], 1)
    }
}

fn check(
    bundle: &Path,
    trust: &Path,
    state: &Path,
    now: &str,
    extra: &[&str],
) -> std::process::Output {
    run(airlock()
        .arg("verify")
        .arg(bundle)
        .arg("--trust")
        .arg(trust)
        .arg("--state")
        .arg(state)
        .args(["--now", now])
        .args(extra))
}

fn unpack(
    bundle: &Path,
    trust: &Path,
    state: &Path,
    dest: &Path,
    now: &str,
) -> std::process::Output {
    run(airlock()
        .arg("unpack")
        .arg(bundle)
        .arg("--trust")
        .arg(trust)
        .arg("--state")
        .arg(state)
        .arg("--dest")
        .arg(dest)
        .args(["--now", now]))
}

const NOW: &str = "2026-12-01T00:00:00Z";

fn assert_rule(out: &std::process::Output, check: &str, rule: &str) {
    assert_rejected(out, &[check]);
    let err = stderr(out);
    assert!(err.contains(rule), "stderr should name `{rule}`: {err}");
}

#[test]
fn the_example_passes_pack_verify_unpack_and_shows_its_policy() {
    let r = Release::new();
    let bundle = r.pack("b.tar.zst");
    let trust = r.default_trust();
    let state = r.path("state");
    let out = check(&bundle, &trust, &state, NOW, &["--deep", "--json"]);
    assert_exit(&out, 0);
    let doc = json(&out);
    assert_eq!(doc["result"]["policy"]["enforced"], true);
    assert_eq!(
        doc["result"]["policy"]["policy"]["id"],
        "acme-deployment-policy"
    );
    assert!(
        doc["result"]["policy"]["decisions"]
            .as_array()
            .unwrap()
            .len()
            >= 4
    );
    assert_exit(&unpack(&bundle, &trust, &state, &r.path("dest"), NOW), 0);
    assert!(
        r.path("dest/safeguard/content-filter/content-filter.toml")
            .is_file()
    );

    let out = run(airlock()
        .arg("inspect")
        .arg(&bundle)
        .arg("--trust")
        .arg(&trust)
        .args(["--now", NOW, "--json"]));
    assert_exit(&out, 0);
    let sheet = json(&out)["result"].clone();
    assert_eq!(sheet["policy"]["id"], "acme-deployment-policy");
    assert_eq!(
        sheet["policy"]["approved_models"][0]["targets"][0],
        "aws-secret"
    );
    assert_eq!(sheet["signers"][0]["role"], "release");
    assert_eq!(sheet["signers"][0]["trusted_for"][0], "release");
    let kinds: Vec<&str> = sheet["safeguards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "audit_logging",
            "content_filter",
            "human_review",
            "rate_limits"
        ]
    );
    let human = run(airlock().arg("inspect").arg(&bundle).args(["--now", NOW]));
    assert!(String::from_utf8_lossy(&human.stdout).contains("strength=high"));
}

#[test]
fn an_unapproved_model_digest_cannot_be_packed() {
    let r = Release::new();
    r.edit("models/acme-7b/config.json", "4096", "4097");
    assert_rule(&r.pack_output("b"), "policy", "model-approval");
    assert!(!r.path("b").exists());
}

#[test]
fn a_model_approved_for_another_target_cannot_be_packed() {
    let r = Release::new();
    r.edit(
        "acme-7b.toml",
        "target = \"aws-secret\"",
        "target = \"gcp-secret\"",
    );
    assert_rule(&r.pack_output("b"), "policy", "model-target");
}

#[test]
fn a_missing_safeguard_cannot_be_packed() {
    let r = Release::new();
    r.edit(
        "acme-7b.toml",
        "[[artifact]]\nkind = \"safeguard\"\nname = \"content-filter\"\npath = \"safeguards/content-filter.toml\"\n",
        "",
    );
    assert_rule(&r.pack_output("b"), "policy", "safeguard-missing");
}

#[test]
fn a_safeguard_below_the_minimum_cannot_be_packed() {
    let r = Release::new();
    r.edit(
        "safeguards/content-filter.toml",
        "strength = \"high\"",
        "strength = \"medium\"",
    );
    let out = r.pack_output("b");
    assert_rule(&out, "policy", "safeguard-minimum");
    assert!(
        stderr(&out).contains("below the policy's minimum high"),
        "{}",
        stderr(&out)
    );
    let r = Release::new();
    r.edit(
        "safeguards/rate-limits.toml",
        "requests_per_minute = 60",
        "requests_per_minute = 600",
    );
    assert_rule(&r.pack_output("b"), "policy", "safeguard-minimum");
}

#[test]
fn a_safeguard_config_with_an_unknown_key_names_file_key_and_line() {
    let r = Release::new();
    r.edit(
        "safeguards/audit-logging.toml",
        "enabled = true",
        "enabled = true\nretention = 5",
    );
    let out = r.pack_output("b");
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("audit-logging.toml") && err.contains("retention") && err.contains("line"),
        "{err}"
    );
}

#[test]
fn sensitive_targets_need_notice_and_are_refused_before_not_before() {
    let r = Release::new();
    r.edit(
        "acme-7b.toml",
        "target = \"aws-secret\"",
        "target = \"azure-top-secret\"",
    );
    assert_rule(&r.pack_output("b"), "policy", "notice-period");
    r.edit(
        "acme-7b.toml",
        "sequence = 1",
        "sequence = 1\nnotice_given = \"2026-11-01T00:00:00Z\"\nnot_before = \"2026-11-14T00:00:00Z\"",
    );
    assert_rule(&r.pack_output("b"), "policy", "notice-period");
    r.edit(
        "acme-7b.toml",
        "2026-11-14T00:00:00Z",
        "2026-11-15T00:00:00Z",
    );
    let bundle = r.pack("b");
    let trust = r.trust("azure-top-secret", &[&r.policy_key], 1);
    let state = r.path("state");
    assert_rule(
        &check(&bundle, &trust, &state, "2026-11-14T23:59:59Z", &[]),
        "policy",
        "not-before",
    );
    assert_rule(
        &unpack(
            &bundle,
            &trust,
            &state,
            &r.path("dest"),
            "2026-11-14T00:00:00Z",
        ),
        "policy",
        "not-before",
    );
    assert!(!r.path("dest").exists());
    assert_exit(
        &check(&bundle, &trust, &state, "2026-11-15T00:00:00Z", &[]),
        0,
    );
}

#[test]
fn an_expired_bundle_is_refused() {
    let r = Release::new();
    let bundle = r.pack("b");
    let trust = r.default_trust();
    assert_exit(
        &check(&bundle, &trust, &r.path("s"), "2096-12-31T23:59:59Z", &[]),
        0,
    );
    // The policy expires first (2097): judge the bundle's own expiry without policy keys.
    let no_policy = r.trust("aws-secret", &[], 0);
    assert_exit(
        &check(
            &bundle,
            &no_policy,
            &r.path("s"),
            "2097-12-31T23:59:59Z",
            &[],
        ),
        0,
    );
    assert_rejected(
        &check(&bundle, &no_policy, &r.path("s"), BUNDLE_EXPIRES, &[]),
        &["expiry"],
    );
}

#[test]
fn an_expired_policy_is_refused() {
    let r = Release::new();
    let soon = airlock::format::time::Timestamp::now()
        .checked_add_days(30)
        .unwrap()
        .to_string();
    r.edit(
        "policy/policy.toml",
        POLICY_EXPIRES,
        &format!("expires = \"{soon}\""),
    );
    r.sign_policy(&r.policy_key, None);
    let bundle = r.pack("b");
    let trust = r.default_trust();
    let later = airlock::format::time::Timestamp::now()
        .checked_add_days(31)
        .unwrap()
        .to_string();
    assert_exit(
        &check(
            &bundle,
            &trust,
            &r.path("s"),
            &airlock::format::time::Timestamp::now().to_string(),
            &[],
        ),
        0,
    );
    assert_rule(
        &check(&bundle, &trust, &r.path("s"), &later, &[]),
        "policy",
        "policy-expiry",
    );
}

#[test]
fn a_policy_signed_by_a_release_key_is_not_a_policy() {
    let r = Release::new();
    fs::remove_file(r.path("policy/policy.toml.minisig")).unwrap();
    r.sign_policy(&r.release, None);
    let bundle = r.pack("b");
    let out = check(&bundle, &r.default_trust(), &r.path("s"), NOW, &[]);
    assert_rejected(&out, &["threshold"]);
    assert!(
        stderr(&out).contains("role policy needs 1"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("not trusted for this role"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn policy_thresholds_count_distinct_keys_once() {
    let r = Release::new();
    // The same policy key twice (two signature files) does not make two of two.
    r.sign_policy(&r.policy_key, Some("policy/policy.toml.again.minisig"));
    let bundle = r.pack("b");
    let two_of_two = r.trust("aws-secret", &[&r.policy_key, &r.other], 2);
    let out = check(&bundle, &two_of_two, &r.path("s"), NOW, &[]);
    assert_rejected(&out, &["threshold"]);
    assert!(
        stderr(&out).contains("same key already counted"),
        "{}",
        stderr(&out)
    );
    // A second, distinct policy key meets it.
    r.sign_policy(&r.other, Some("policy/policy.toml.other.minisig"));
    let bundle = r.pack("b2");
    assert_exit(&check(&bundle, &two_of_two, &r.path("s"), NOW, &[]), 0);
}

#[test]
fn a_release_threshold_not_met_is_refused() {
    let r = Release::new();
    let bundle = r.pack("b");
    let trust = r.path("trust2.toml");
    write_trust(
        &trust,
        "aws-secret",
        &[
            ("release", 2, &[&r.release, &r.other]),
            ("policy", 1, &[&r.policy_key]),
        ],
    );
    assert_rejected(
        &check(&bundle, &trust, &r.path("s"), NOW, &[]),
        &["threshold"],
    );
    // The second release key countersigns: two of two.
    let out = run(airlock()
        .arg("sign")
        .arg(&bundle)
        .arg("--key")
        .arg(&r.other.secret)
        .args(["--role", "release"]));
    assert_exit(&out, 0);
    assert_exit(&check(&bundle, &trust, &r.path("s"), NOW, &[]), 0);
}

#[test]
fn a_trust_file_with_policy_keys_requires_a_policy() {
    let r = Release::new();
    r.edit(
        "acme-7b.toml",
        "[[artifact]]\nkind = \"policy\"\nname = \"acme-deployment-policy\"\npath = \"policy\"\n",
        "",
    );
    let bundle = r.pack("b");
    assert_rule(
        &check(&bundle, &r.default_trust(), &r.path("s"), NOW, &[]),
        "policy",
        "policy-present",
    );
    // Without policy keys pinned, the receiving side does not require one.
    let no_policy = r.trust("aws-secret", &[], 0);
    assert_exit(&check(&bundle, &no_policy, &r.path("s"), NOW, &[]), 0);
}

#[test]
fn rollback_is_refused_and_reinstalling_the_same_bundle_is_a_no_op() {
    let r = Release::new();
    let old = r.pack("old");
    r.edit("acme-7b.toml", "sequence = 1", "sequence = 2");
    r.edit("acme-7b.toml", "version = \"1.0.0\"", "version = \"1.0.1\"");
    let new = r.pack("new");
    let trust = r.default_trust();
    let state = r.path("state");
    assert_exit(&unpack(&new, &trust, &state, &r.path("d2"), NOW), 0);
    assert_exit(&unpack(&new, &trust, &state, &r.path("d2"), NOW), 0);
    let out = unpack(&old, &trust, &state, &r.path("d1"), NOW);
    assert_rejected(&out, &["rollback"]);
    assert!(
        stderr(&out).contains("sequence 1 is not above sequence 2"),
        "{}",
        stderr(&out)
    );
    assert!(!r.path("d1").exists());
    assert_rejected(&check(&old, &trust, &state, NOW, &[]), &["rollback"]);
    // Another state directory has not seen sequence 2.
    assert_exit(&check(&old, &trust, &r.path("other-state"), NOW, &[]), 0);
}

#[test]
fn a_bundle_for_another_site_is_refused() {
    let r = Release::new();
    let bundle = r.pack("b");
    let trust = r.trust("gcp-secret", &[&r.policy_key], 1);
    assert_rejected(&check(&bundle, &trust, &r.path("s"), NOW, &[]), &["target"]);
}

fn safetensors(header: &str, data: usize) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend(std::iter::repeat_n(7u8, data));
    out
}

#[test]
fn a_pickle_renamed_to_safetensors_is_refused_by_the_content_gate() {
    let r = Release::new();
    let mut pickle = vec![0x80, 0x04, 0x95, 0x20, 0, 0, 0, 0, 0, 0, 0];
    pickle.extend_from_slice(b"\x8c\x08builtins\x94\x8c\x04eval\x94\x93\x94.");
    fs::write(r.path("models/acme-7b/extra.safetensors"), pickle).unwrap();
    let out = r.pack_output("b");
    assert_rejected(&out, &["content-gate"]);
    assert!(stderr(&out).contains("pickle"), "{}", stderr(&out));
}

#[test]
fn a_safetensors_offset_past_the_end_is_refused_and_a_good_one_passes() {
    let r = Release::new();
    let bad = r#"{"w":{"dtype":"BF16","shape":[64],"data_offsets":[0,128]}}"#;
    fs::write(
        r.path("models/acme-7b/extra.safetensors"),
        safetensors(bad, 64),
    )
    .unwrap();
    let out = r.pack_output("b");
    assert_rejected(&out, &["content-gate"]);
    assert!(
        stderr(&out).contains("data_offsets [0, 128]"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_policy_can_exempt_an_exact_path_from_the_content_gate() {
    let r = Release::new();
    fs::create_dir_all(r.path("tools")).unwrap();
    fs::write(
        r.path("tools/setup.py"),
        "print('configure the serving stack')\n",
    )
    .unwrap();
    r.edit(
        "acme-7b.toml",
        "[[artifact]]\nkind = \"policy\"",
        "[[artifact]]\nkind = \"data\"\nname = \"tools\"\npath = \"tools\"\n\n[[artifact]]\nkind = \"policy\"",
    );
    assert_rejected(&r.pack_output("b"), &["content-gate"]);
    let policy = fs::read_to_string(r.path("policy/policy.toml")).unwrap();
    fs::write(
        r.path("policy/policy.toml"),
        format!("{policy}\n[[allowed_file]]\npath = \"data/tools/setup.py\"\nreason = \"reviewed installer\"\n"),
    )
    .unwrap();
    r.sign_policy(&r.policy_key, None);
    let bundle = r.pack("b");
    let state = r.path("state");
    assert_exit(
        &unpack(&bundle, &r.default_trust(), &state, &r.path("dest"), NOW),
        0,
    );
    // Without trusted policy keys the exemption does not count on the receiving side.
    let untrusting = r.trust("aws-secret", &[], 0);
    let out = unpack(
        &bundle,
        &untrusting,
        &r.path("state2"),
        &r.path("dest2"),
        NOW,
    );
    assert_rejected(&out, &["content-gate"]);
    assert!(!r.path("dest2").exists());
}

#[test]
fn the_audit_log_chains_every_decision_and_detects_edits() {
    let r = Release::new();
    let bundle = r.pack("b");
    let trust = r.default_trust();
    let log = r.path("audit.jsonl");
    let state = r.path("state");
    for extra in [&["--deep"][..], &[]] {
        let mut args = vec!["--audit-log", log.to_str().unwrap()];
        args.extend_from_slice(extra);
        assert_exit(&check(&bundle, &trust, &state, NOW, &args), 0);
    }
    let wrong = r.trust("gcp-secret", &[&r.policy_key], 1);
    assert_rejected(
        &check(
            &bundle,
            &wrong,
            &state,
            NOW,
            &["--audit-log", log.to_str().unwrap()],
        ),
        &["target"],
    );
    let out = run(airlock()
        .arg("unpack")
        .arg(&bundle)
        .arg("--trust")
        .arg(&trust)
        .arg("--state")
        .arg(&state)
        .arg("--dest")
        .arg(r.path("dest"))
        .args(["--now", NOW, "--audit-log", log.to_str().unwrap()]));
    assert_exit(&out, 0);
    let text = fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["outcome"], "accepted");
    assert_eq!(lines[0]["bundle"]["name"], "acme-7b");
    assert_eq!(lines[0]["policy"]["id"], "acme-deployment-policy");
    assert_eq!(lines[0]["signers"][0]["role"], "release");
    assert_eq!(lines[2]["outcome"], "rejected");
    assert_eq!(lines[2]["checks"][0]["check"], "target");
    assert_eq!(lines[3]["command"], "unpack");
    let ok = run(airlock().args(["audit", "verify"]).arg(&log));
    assert_exit(&ok, 0);
    fs::write(
        &log,
        text.replacen("\"outcome\":\"rejected\"", "\"outcome\":\"accepted\"", 1),
    )
    .unwrap();
    let out = run(airlock().args(["audit", "verify"]).arg(&log));
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("line 4"), "{}", stderr(&out));
}

#[test]
fn pack_refuses_a_bundle_that_would_already_be_expired() {
    let r = Release::new();
    r.edit(
        "acme-7b.toml",
        &format!("expires = \"{BUNDLE_EXPIRES}\""),
        "valid_days = 30",
    );
    // SOURCE_DATE_EPOCH 1700000000 is 2023-11-14: thirty days later is long past.
    let out = run(airlock()
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .arg("pack")
        .arg(r.path("acme-7b.toml"))
        .arg("--key")
        .arg(&r.release.secret)
        .arg("-o")
        .arg(r.path("b")));
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("would have expired already"),
        "{}",
        stderr(&out)
    );
    assert!(!r.path("b").exists());
}

/// The model provider may sign with stock minisign instead of `airlock sign-policy`.
#[test]
fn a_policy_signed_with_stock_minisign_is_accepted() {
    let r = Release::new();
    let minisign = common::require_tool("minisign");
    fs::remove_file(r.path("policy/policy.toml.minisig")).unwrap();
    let (pub_path, key_path) = (r.path("stock.pub"), r.path("stock.key"));
    let made = std::process::Command::new(&minisign)
        .args(["-G", "-W", "-f", "-p"])
        .arg(&pub_path)
        .arg("-s")
        .arg(&key_path)
        .output()
        .unwrap();
    assert!(made.status.success());
    let signed = std::process::Command::new(&minisign)
        .arg("-S")
        .arg("-s")
        .arg(&key_path)
        .arg("-m")
        .arg(r.path("policy/policy.toml"))
        .output()
        .unwrap();
    assert!(
        signed.status.success(),
        "{}",
        String::from_utf8_lossy(&signed.stderr)
    );
    let bundle = r.pack("b");
    let stock_key = Key {
        public: pub_path.clone(),
        secret: key_path,
        base64: fs::read_to_string(&pub_path)
            .unwrap()
            .lines()
            .nth(1)
            .unwrap()
            .to_string(),
        id: String::new(),
    };
    let trust = r.trust("aws-secret", &[&stock_key], 1);
    assert_exit(&check(&bundle, &trust, &r.path("s"), NOW, &[]), 0);
    // And the policy key of the example, which did not sign, is not enough.
    assert_rejected(
        &check(&bundle, &r.default_trust(), &r.path("s2"), NOW, &[]),
        &["threshold"],
    );
}

/// A decision that fails before any bundle is read (a missing file) is logged too, as an error.
#[test]
fn the_audit_log_records_a_missing_bundle_as_an_error() {
    let r = Release::new();
    let log = r.path("audit.jsonl");
    let missing = r.path("missing.airlock.tar.zst");
    let logged = ["--audit-log", log.to_str().unwrap()];
    assert_exit(
        &check(&missing, &r.default_trust(), &r.path("s"), NOW, &logged),
        2,
    );
    let out = run(airlock()
        .arg("unpack")
        .arg(&missing)
        .arg("--trust")
        .arg(r.default_trust())
        .arg("--state")
        .arg(r.path("s"))
        .arg("--dest")
        .arg(r.path("dest"))
        .args(logged));
    assert_exit(&out, 2);
    let text = fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    for (line, command) in lines.iter().zip(["verify", "unpack"]) {
        assert_eq!(line["command"], command);
        assert_eq!(line["outcome"], "error");
    }
    assert_exit(&run(airlock().args(["audit", "verify"]).arg(&log)), 0);
}
