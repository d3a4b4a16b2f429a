//! Issue 3, receiving side: a bundle that breaks the policy but carries a valid release signature
//! (a careless or compromised release signer, or a packer other than airlock — `airlock pack`
//! itself refuses to build these, see `tests/policy.rs`) is refused by `verify` and `unpack` with
//! exit 1 and the rule's name, from the policy and safeguard copies in the manifest frame alone.
//! Bundles are crafted with `tests/support/craft.rs`; the policy is genuinely signed by a policy key.
use crate::support::craft;

use airlock::format::Mode;
use assert_cmd::Command;
use craft::{Entry, NOW, Parts, SIGNED, SITE, TestKey, file, trust_toml};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn policy_key() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(TestKey::generate)
}

const MODEL_CONFIG: &[u8] = b"{\"model_type\": \"llama\"}\n";

fn model_digest() -> String {
    let d = airlock::format::manifest::tree_digest(
        airlock::format::digest::HashAlg::Sha256,
        [(
            "config.json",
            MODEL_CONFIG.len() as u64,
            Mode::Regular,
            craft::digest(MODEL_CONFIG),
        )],
    );
    d.prefixed()
}

/// A policy approving `digest` for `targets`, requiring a high content filter, with `extra` TOML.
fn policy(digest: &str, targets: &str, extra: &str) -> String {
    format!(
        "[policy]\nid = \"p\"\nversion = 1\nissued = \"2025-01-01T00:00:00Z\"\nexpires = \"2090-01-01T00:00:00Z\"\n\n\
         [[model]]\nname = \"m\"\ntree_digest = \"{digest}\"\ntargets = [{targets}]\n\n\
         [[required_safeguard]]\nkind = \"content_filter\"\nmin_strength = \"high\"\n{extra}"
    )
}

fn filter(strength: &str) -> Entry {
    file(
        "safeguard/cf/content-filter.toml",
        format!("[content_filter]\ncategories = [\"cbrn\"]\nstrength = \"{strength}\"\n"),
    )
}

/// Files of a bundle carrying `policy_text` (signed by the policy key) and `safeguards`.
fn files(policy_text: &str, safeguards: Vec<Entry>) -> Vec<Entry> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.toml");
    std::fs::write(&path, policy_text).unwrap();
    let sig = airlock::pack::sign::sign_policy(
        &path,
        &airlock::trust::keys::Signer::Minisign(policy_key().key.clone()),
        SIGNED,
        None,
    )
    .unwrap();
    let mut out = vec![
        file("model/m/config.json", MODEL_CONFIG),
        file("policy/p/policy.toml", policy_text),
        file("policy/p/policy.toml.minisig", std::fs::read(sig).unwrap()),
    ];
    out.extend(safeguards);
    out
}

struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new() -> Site {
        let dir = tempfile::tempdir().unwrap();
        let trust = format!(
            "{}\n[roles.policy]\nthreshold = 1\nkeys = [\"{}\"]\n",
            trust_toml(),
            policy_key().public_base64
        );
        std::fs::write(dir.path().join("trust.toml"), trust).unwrap();
        Site { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, parts: &Parts) -> PathBuf {
        let p = self.path("b.airlock.tar.zst");
        parts.write(&p);
        p
    }

    fn run(&self, args: &[&str], bundle: &Path) -> std::process::Output {
        Command::cargo_bin("airlock")
            .unwrap()
            .arg(args[0])
            .arg(bundle)
            .args(&args[1..])
            .arg("--trust")
            .arg(self.path("trust.toml"))
            .arg("--state")
            .arg(self.path("state"))
            .args(["--now", NOW])
            .output()
            .unwrap()
    }
}

/// verify and unpack both refuse with exit 1, the policy check and `rule`; nothing is installed.
fn assert_refused(parts: &Parts, rule: &str) {
    let site = Site::new();
    let bundle = site.write(parts);
    for args in [
        &["verify", "--deep"][..],
        &["unpack", "--dest", site.path("dest").to_str().unwrap()],
    ] {
        let out = site.run(args, &bundle);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("bundle rejected by the policy check") && err.contains(rule),
            "{args:?}: {err}"
        );
    }
    assert!(!site.path("dest").exists());
}

fn targets_here() -> String {
    format!("\"{SITE}\"")
}

#[test]
fn a_bundle_the_policy_allows_passes() {
    let parts = Parts::honest(&files(
        &policy(&model_digest(), &targets_here(), ""),
        vec![filter("high")],
    ));
    let site = Site::new();
    let bundle = site.write(&parts);
    let dest = site.path("dest");
    let out = site.run(&["unpack", "--dest", dest.to_str().unwrap()], &bundle);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dest.join("safeguard/cf/content-filter.toml").is_file());
}

/// Issue 11: a policy requiring the cnsa2 suite for this site refuses a classic bundle on the
/// receiving side too (a packer that ignored the rule), naming the rule.
#[test]
fn a_classic_bundle_for_a_target_requiring_cnsa2_is_refused() {
    let rule = format!("\n[[target_suite]]\ntarget = \"{SITE}\"\nsuite = \"cnsa2\"\n");
    assert_refused(
        &Parts::honest(&files(
            &policy(&model_digest(), &targets_here(), &rule),
            vec![filter("high")],
        )),
        "rule suite",
    );
}

/// Issue 11: an ML-DSA-87 signature binds a SHA-384 manifest digest, so a classic bundle carrying
/// one (valid over its SHA-256 statement, by a trusted key) is refused as malformed.
#[test]
fn an_ml_dsa_signature_in_a_classic_bundle_is_refused() {
    let mut parts = Parts::honest(&files(
        &policy(&model_digest(), &targets_here(), ""),
        vec![filter("high")],
    ));
    let key = airlock::trust::mldsa::MlDsaKey::generate().unwrap();
    let signer = airlock::trust::keys::Signer::MlDsa87(key);
    let (name, text) = signer
        .sign_manifest(
            &parts.manifest,
            parts.manifest_text.as_bytes(),
            airlock::format::signature::Role::Release,
            SIGNED,
        )
        .unwrap();
    parts.signatures.push((name, text.into_bytes()));
    parts.signatures.sort();
    let site = Site::new();
    let bundle = site.write(&parts);
    let out = site.run(&["verify"], &bundle);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("bundle rejected by the signature check") && err.contains("cnsa2"),
        "{err}"
    );
}

#[test]
fn an_unapproved_model_digest_is_refused() {
    let other = format!("sha256:{}", "1".repeat(64));
    let parts = Parts::honest(&files(
        &policy(&other, &targets_here(), ""),
        vec![filter("high")],
    ));
    assert_refused(&parts, "model-approval");
}

#[test]
fn a_model_approved_for_another_target_is_refused() {
    let parts = Parts::honest(&files(
        &policy(&model_digest(), "\"elsewhere\"", ""),
        vec![filter("high")],
    ));
    assert_refused(&parts, "model-target");
}

#[test]
fn a_missing_safeguard_is_refused() {
    let parts = Parts::honest(&files(
        &policy(&model_digest(), &targets_here(), ""),
        vec![],
    ));
    assert_refused(&parts, "safeguard-missing");
}

#[test]
fn a_safeguard_below_the_minimum_is_refused() {
    let parts = Parts::honest(&files(
        &policy(&model_digest(), &targets_here(), ""),
        vec![filter("low")],
    ));
    assert_refused(&parts, "safeguard-minimum");
}

#[test]
fn a_sensitive_target_without_notice_is_refused() {
    let extra = format!("\n[[sensitive_target]]\nname = \"{SITE}\"\nnotice_days = 14\n");
    let parts = Parts::honest(&files(
        &policy(&model_digest(), &targets_here(), &extra),
        vec![filter("high")],
    ));
    assert_refused(&parts, "notice-period");
}
