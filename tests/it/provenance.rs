//! Issue 13: provenance in, inventory out. The model provider's OpenSSF Model Signing (OMS)
//! signature, made by the real `model_signing sign key` with P-256 and P-384 keys, is checked by
//! `pack` (every tampering refused, naming the file), carried as `model/NAME/model.sig`, checked
//! again by `verify`/`unpack` (crafted bundles with valid release signatures), and still verifies
//! with the real `model_signing verify key` after unpack. `airlock bom` and `unpack --bom` write
//! CycloneDX 1.6 ML-BOMs, deterministic, every one of which the reference validator
//! (cyclonedx-python-lib) accepts. The Python tools come from `support/pytools.rs`.
use crate::support::{common, craft, pytools};

use airlock::format::Mode;
use airlock::format::digest::{HashAlg, hex, sha256};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair, KeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::{Key, airlock, assert_exit, keygen, result, run, stderr, write_file, write_trust};
use pytools::{ProviderKey, oms_sign, oms_verify};
use serde_json::{Value, json};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

const SDE: &str = "1793491200"; // 2026-11-01T00:00:00Z
const NOW: &str = "2027-01-01T00:00:00Z";
const SITE: &str = common::SITE;

/// A provider, a release engineer and an enclave, in one temporary directory.
struct Chain {
    dir: tempfile::TempDir,
    release: Key,
    policy_key: Key,
    provider: ProviderKey,
}

impl Chain {
    fn new(curve: &str) -> Chain {
        let dir = tempfile::tempdir().unwrap();
        let release = keygen(dir.path(), "release");
        let policy_key = keygen(dir.path(), "policy");
        let provider = ProviderKey::generate(dir.path(), "provider-oms", curve);
        Chain {
            dir,
            release,
            policy_key,
            provider,
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `airlock digest DIR --oms [--oms-signature SIG] --json` → (tree digest, OMS root digest).
    fn digest(&self, dir: &Path, sig: Option<&Path>) -> (String, String) {
        let mut cmd = airlock();
        cmd.arg("digest").arg(dir).args(["--oms", "--json"]);
        if let Some(s) = sig {
            cmd.arg("--oms-signature").arg(s);
        }
        let r = result(&run(&mut cmd));
        (
            r["tree_digest"].as_str().unwrap().to_string(),
            r["oms_root_digest"].as_str().unwrap().to_string(),
        )
    }

    /// Writes `policy/policy.toml` approving `model` = `digest` for the site, with `oms_keys`,
    /// `require_oms` and a content-filter requirement, and signs it with the policy key.
    fn policy(&self, digest: &str, oms_keys: &[String], require_oms: bool) {
        assert_exit(&self.try_policy(digest, oms_keys, require_oms), 0);
    }

    /// [`Chain::policy`], returning `sign-policy`'s output.
    fn try_policy(&self, digest: &str, oms_keys: &[String], require_oms: bool) -> Output {
        let keys: Vec<String> = oms_keys.iter().map(|k| format!("\"{k}\"")).collect();
        let text = format!(
            "[policy]\nid = \"acme-deployment-policy\"\nversion = 1\nissued = \"2026-01-01T00:00:00Z\"\nexpires = \"2090-01-01T00:00:00Z\"\noms_keys = [{}]\n\n\
             [[model]]\nname = \"acme-7b\"\ntree_digest = \"{digest}\"\ntargets = [\"{SITE}\"]\nrequire_oms = {require_oms}\n\n\
             [[required_safeguard]]\nkind = \"content_filter\"\nmin_strength = \"high\"\n",
            keys.join(", ")
        );
        let p = self.path("policy/policy.toml");
        write_file(&p, text.as_bytes(), 0o644);
        let _ = fs::remove_file(self.path("policy/policy.toml.minisig"));
        run(airlock()
            .arg("sign-policy")
            .arg(&p)
            .arg("--key")
            .arg(&self.policy_key.secret))
    }

    /// Writes `NAME.toml`: the model at `model` (relative), with `oms_signature` if given, the
    /// content filter, the policy and a data artifact.
    fn spec(&self, name: &str, model: &str, oms_signature: Option<&str>) -> PathBuf {
        write_file(
            &self.path("safeguards/content-filter.toml"),
            b"[content_filter]\ncategories = [\"cbrn\"]\nstrength = \"high\"\n",
            0o644,
        );
        write_file(&self.path("notes/NOTES.md"), b"# acme-7b\n", 0o644);
        let sig = oms_signature
            .map(|s| format!("oms_signature = \"{s}\"\n"))
            .unwrap_or_default();
        let text = format!(
            "[bundle]\nname = \"acme-7b\"\nversion = \"1.0.0\"\nsequence = 1\ntarget = \"{SITE}\"\nexpires = \"2098-01-01T00:00:00Z\"\n\n\
             [[artifact]]\nkind = \"model\"\nname = \"acme-7b\"\npath = \"{model}\"\n{sig}\n\
             [[artifact]]\nkind = \"safeguard\"\nname = \"content-filter\"\npath = \"safeguards/content-filter.toml\"\n\n\
             [[artifact]]\nkind = \"policy\"\nname = \"acme-deployment-policy\"\npath = \"policy\"\n\n\
             [[artifact]]\nkind = \"data\"\nname = \"release-notes\"\npath = \"notes\"\n"
        );
        let p = self.path(&format!("{name}.toml"));
        write_file(&p, text.as_bytes(), 0o644);
        p
    }

    fn pack(&self, spec: &Path, out: &str) -> Output {
        run(airlock()
            .env("SOURCE_DATE_EPOCH", SDE)
            .arg("pack")
            .arg(spec)
            .arg("--key")
            .arg(&self.release.secret)
            .arg("-o")
            .arg(self.path(out))
            .arg("--json"))
    }

    fn trust(&self) -> PathBuf {
        let p = self.path("trust.toml");
        write_trust(
            &p,
            SITE,
            &[
                ("release", 1, &[&self.release]),
                ("policy", 1, &[&self.policy_key]),
            ],
        );
        p
    }

    /// `airlock ARGS... --json` with this chain's state directory and `--now`.
    fn receive(&self, args: &[&str]) -> Output {
        run(airlock()
            .args(args)
            .arg("--state")
            .arg(self.path("state"))
            .args(["--now", NOW, "--json"]))
    }
}

/// A small model tree: a llama-like config.json, tokenizer, weights, a nested file, and a
/// `.gitattributes` (which model_signing ignores by default, so it is carried but not signed).
fn model_tree(root: &Path) {
    write_file(
        &root.join("config.json"),
        br#"{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "torch_dtype": "bfloat16", "vocab_size": 256, "rope_scaling": {"type": "linear"}}"#,
        0o644,
    );
    write_file(&root.join("tokenizer.json"), b"{\"tokens\": 256}\n", 0o644);
    write_file(
        &root.join("model.safetensors"),
        &common::safetensors(11, 8192),
        0o644,
    );
    write_file(&root.join("sub/extra.json"), b"{\"extra\": true}\n", 0o644);
    write_file(
        &root.join(".gitattributes"),
        b"*.safetensors -text\n",
        0o644,
    );
}

fn copy_dir(src: &Path, dst: &Path) {
    for entry in walkdir::WalkDir::new(src) {
        let entry = entry.unwrap();
        let to = dst.join(entry.path().strip_prefix(src).unwrap());
        if entry.file_type().is_dir() {
            fs::create_dir_all(&to).unwrap();
        } else {
            fs::copy(entry.path(), &to).unwrap();
        }
    }
}

/// An edit of a copied model tree.
type Edit<'a> = &'a dyn Fn(&Path);

/// The subject digest a model_signing signature file states (unverified).
fn subject_digest(sig: &Path) -> String {
    let bundle: Value = serde_json::from_slice(&fs::read(sig).unwrap()).unwrap();
    let payload = B64
        .decode(bundle["dsseEnvelope"]["payload"].as_str().unwrap())
        .unwrap();
    let statement: Value = serde_json::from_slice(&payload).unwrap();
    statement["subject"][0]["digest"]["sha256"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Asserts a pack refusal (exit `code`) whose message contains every one of `words`.
fn assert_pack_refused(out: &Output, code: i32, words: &[&str]) {
    assert_exit(out, code);
    let err = stderr(out);
    for w in words {
        assert!(err.contains(w), "expected {w:?} in: {err}");
    }
}

fn prop<'a>(component: &'a Value, name: &str) -> Option<&'a str> {
    component["properties"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == name)
        .and_then(|p| p["value"].as_str())
}

fn model_component(bom: &Value) -> &Value {
    bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "machine-learning-model")
        .expect("a machine-learning-model component")
}

#[test]
fn provider_to_enclave_with_a_p256_signature_and_validated_boms() {
    let c = Chain::new("prime256v1");
    let model = c.path("models/acme-7b");
    model_tree(&model);
    let sig = c.path("acme-7b.sig");
    oms_sign(&model, &c.provider.pem, &sig, &[]);

    // The provider's cross-checks: the OMS root digest airlock computes is the one the
    // signature states; the tree digest with the signature is what the policy approves.
    let (plain, root) = c.digest(&model, None);
    let (tree, root_again) = c.digest(&model, Some(&sig));
    assert_eq!(root, format!("sha256:{}", subject_digest(&sig)));
    assert_eq!(root, root_again);
    assert_ne!(plain, tree, "model.sig is part of the approved tree digest");
    c.policy(&tree, &[c.provider.base64()], true);

    // Release engineer: pack checks the signature.
    let spec = c.spec("acme-7b", "models/acme-7b", Some("acme-7b.sig"));
    let packed = result(&c.pack(&spec, "acme-7b.airlock.tar.zst"));
    let oms = &packed["oms"][0];
    assert_eq!(oms["status"], "verified", "{packed}");
    assert_eq!(oms["digests_checked"], true);
    assert_eq!(oms["signature"], "model/acme-7b/model.sig");
    assert_eq!(oms["root_digest"], root.as_str());
    assert_eq!(oms["signed_files"], 4);
    assert_eq!(oms["not_covered"], json!([".gitattributes"]));
    let bundle = c.path("acme-7b.airlock.tar.zst");
    let bundle_arg = bundle.to_str().unwrap();

    // Enclave: verify and unpack re-check it against the authenticated policy's keys.
    let trust = c.trust();
    let trust_arg = trust.to_str().unwrap();
    let v = result(&c.receive(&["verify", bundle_arg, "--trust", trust_arg]));
    assert_eq!(v["policy"]["oms"][0]["status"], "verified", "{v}");
    assert!(
        v["policy"]["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["rule"] == "oms-signature"),
        "{v}"
    );
    let dest = c.path("installed");
    let installed_bom = c.path("installed.cdx.json");
    let u = result(&c.receive(&[
        "unpack",
        bundle_arg,
        "--trust",
        trust_arg,
        "--dest",
        dest.to_str().unwrap(),
        "--bom",
        installed_bom.to_str().unwrap(),
    ]));
    assert_eq!(u["bom"], installed_bom.to_str().unwrap());

    // The real tool accepts the installed model directory with the carried signature.
    let installed = dest.join("model/acme-7b");
    let (ok, out) = oms_verify(&installed, &installed.join("model.sig"), &c.provider.public);
    assert!(ok, "model_signing verify key after unpack: {out}");

    // A BOM inside the destination would be a foreign file there: refused before any work.
    let inside = dest.join("model/acme-7b/bom.json");
    let out = c.receive(&[
        "unpack",
        bundle_arg,
        "--trust",
        trust_arg,
        "--dest",
        dest.to_str().unwrap(),
        "--bom",
        inside.to_str().unwrap(),
    ]);
    assert_exit(&out, 2);
    assert!(!inside.exists());

    // BOMs: unchecked (file and stdout agree), checked (twice: same bytes), installed.
    let unchecked = c.path("unchecked.cdx.json");
    assert_exit(
        &run(airlock()
            .arg("bom")
            .arg(&bundle)
            .arg("-o")
            .arg(&unchecked)
            .arg("--quiet")),
        0,
    );
    let stdout = run(airlock().arg("bom").arg(&bundle));
    assert_exit(&stdout, 0);
    assert_eq!(stdout.stdout, fs::read(&unchecked).unwrap());
    let checked = c.path("checked.cdx.json");
    let checked_again = c.path("checked-again.cdx.json");
    for out in [&checked, &checked_again] {
        assert_exit(
            &run(airlock()
                .arg("bom")
                .arg(&bundle)
                .args(["--trust", trust_arg, "--now", NOW, "-o"])
                .arg(out)
                .arg("--quiet")),
            0,
        );
    }
    assert_eq!(
        fs::read(&checked).unwrap(),
        fs::read(&checked_again).unwrap()
    );

    let read = |p: &Path| -> Value { serde_json::from_slice(&fs::read(p).unwrap()).unwrap() };
    let (u_doc, c_doc, i_doc) = (read(&unchecked), read(&checked), read(&installed_bom));
    assert_eq!(
        prop(&u_doc["metadata"], "airlock:signatures:checked"),
        Some("false")
    );
    assert_eq!(
        prop(model_component(&u_doc), "airlock:oms:status"),
        Some("not-checked")
    );
    assert_eq!(
        prop(&c_doc["metadata"]["component"], "airlock:signer:1:status"),
        Some("counted")
    );
    let m = model_component(&c_doc);
    assert_eq!(prop(m, "airlock:oms:status"), Some("verified"));
    assert_eq!(prop(m, "airlock:oms:root_digest"), Some(root.as_str()));
    assert_eq!(
        m["hashes"][0]["content"],
        tree.trim_start_matches("sha256:")
    );
    // Only the installed BOM has model-card facts from config.json (bom reads no payload).
    assert!(m["modelCard"].get("modelParameters").is_none(), "{m}");
    let im = model_component(&i_doc);
    assert_eq!(
        im["modelCard"]["modelParameters"]["architectureFamily"],
        "llama"
    );
    assert_eq!(
        im["modelCard"]["modelParameters"]["modelArchitecture"],
        "LlamaForCausalLM"
    );
    assert_eq!(
        prop(&im["modelCard"], "airlock:config:hidden_size"),
        Some("64")
    );
    let serials: Vec<&Value> = [&u_doc, &c_doc, &i_doc]
        .iter()
        .map(|d| &d["serialNumber"])
        .collect();
    assert!(
        serials[0] != serials[1] && serials[1] != serials[2],
        "{serials:?}"
    );

    // Pack refuses every tampering of the signed tree, naming the file.
    let cases: [(&str, Edit, &[&str]); 3] = [
        (
            "modified",
            &|d| write_file(&d.join("tokenizer.json"), b"{\"tokens\": 257}\n", 0o644),
            &["oms-signature", "tokenizer.json", "content differs"],
        ),
        (
            "unlisted",
            &|d| write_file(&d.join("sub/new.json"), b"{}", 0o644),
            &["oms-signature", "sub/new.json", "not covered"],
        ),
        (
            "missing",
            &|d| fs::remove_file(d.join("sub/extra.json")).unwrap(),
            &["oms-signature", "sub/extra.json", "missing"],
        ),
    ];
    for (name, edit, words) in cases {
        let variant = c.path(&format!("models/{name}"));
        copy_dir(&model, &variant);
        edit(&variant);
        let spec = c.spec(name, &format!("models/{name}"), Some("acme-7b.sig"));
        let out = c.pack(&spec, &format!("{name}.airlock.tar.zst"));
        assert_pack_refused(&out, 1, words);
        assert!(
            !c.path(&format!("{name}.airlock.tar.zst")).exists(),
            "{name}"
        );
    }
    // A signature whose bytes were altered.
    let mut bad: Value = serde_json::from_slice(&fs::read(&sig).unwrap()).unwrap();
    let mut raw = B64
        .decode(
            bad["dsseEnvelope"]["signatures"][0]["sig"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    let last = raw.len() - 1;
    raw[last] ^= 1;
    bad["dsseEnvelope"]["signatures"][0]["sig"] = B64.encode(raw).into();
    fs::write(c.path("bad.sig"), serde_json::to_vec(&bad).unwrap()).unwrap();
    let out = c.pack(
        &c.spec("badsig", "models/acme-7b", Some("bad.sig")),
        "badsig.tar.zst",
    );
    assert_pack_refused(&out, 1, &["oms-signature", "does not verify"]);
    // A keyless (Sigstore) bundle: refused with the reason, not "unknown field".
    let mut keyless: Value = serde_json::from_slice(&fs::read(&sig).unwrap()).unwrap();
    keyless["verificationMaterial"] = json!({
        "certificate": {"rawBytes": "MIIB"},
        "tlogEntries": [{"logIndex": "1"}]
    });
    fs::write(c.path("keyless.sig"), serde_json::to_vec(&keyless).unwrap()).unwrap();
    let out = c.pack(
        &c.spec("keyless", "models/acme-7b", Some("keyless.sig")),
        "k.tar.zst",
    );
    assert_pack_refused(
        &out,
        1,
        &["keyless", "no network to check a transparency log"],
    );
    // require_oms, and the spec carries no signature.
    let out = c.pack(
        &c.spec("unsigned", "models/acme-7b", None),
        "unsigned.tar.zst",
    );
    assert_pack_refused(&out, 1, &["oms-required"]);
    // A signature by a key the policy does not name.
    let other = ProviderKey::generate(c.dir.path(), "other-oms", "prime256v1");
    c.policy(&tree, &[other.base64()], true);
    let out = c.pack(&spec, "wrongkey.tar.zst");
    assert_pack_refused(
        &out,
        1,
        &["oms-signature", "none of the policy's 1 oms_keys"],
    );
    // oms_signature with no oms_keys to check it against: a configuration error.
    c.policy(&tree, &[], false);
    let out = c.pack(&spec, "nokeys.tar.zst");
    assert_pack_refused(&out, 2, &["names no oms_keys"]);
    // One key listed twice in the policy: the provider cannot even sign such a policy.
    let out = c.try_policy(&tree, &[c.provider.base64(), c.provider.base64()], true);
    assert_pack_refused(
        &out,
        2,
        &["oms_keys[0] and oms_keys[1] are the same public key"],
    );

    // model_signing's `--ignore-paths MODEL_DIR` weakness: its own verifier accepts such a
    // signature for any directory; airlock refuses it.
    let dot_sig = c.path("dot.sig");
    oms_sign(
        &model,
        &c.provider.pem,
        &dot_sig,
        &["--ignore-paths", model.to_str().unwrap()],
    );
    let unrelated = c.path("unrelated");
    write_file(&unrelated.join("anything.bin"), b"not the model", 0o644);
    let (tool_ok, out) = oms_verify(&unrelated, &dot_sig, &c.provider.public);
    assert!(
        tool_ok,
        "model_signing 1.1.1 accepts it for an unrelated directory: {out}"
    );
    c.policy(&tree, &[c.provider.base64()], false);
    let out = c.pack(
        &c.spec("dot", "models/acme-7b", Some("dot.sig")),
        "dot.tar.zst",
    );
    assert_pack_refused(&out, 1, &["oms-signature", "ANY directory"]);

    // Every BOM written above, plus library-written ones covering shapes this bundle lacks, is
    // valid CycloneDX 1.6; a deliberately broken copy is not (the validator really checks).
    let mut good = vec![unchecked, checked, installed_bom.clone()];
    for (name, bytes) in library_boms() {
        let p = c.path(&format!("{name}.cdx.json"));
        fs::write(&p, bytes).unwrap();
        good.push(p);
    }
    let mut broken = read(&installed_bom);
    broken["metadata"]["properties"][0]["value"] = json!(1);
    let broken_path = c.path("broken-control.cdx.json");
    fs::write(&broken_path, serde_json::to_vec(&broken).unwrap()).unwrap();
    pytools::validate_boms(&good, &[broken_path]);
}

/// BOMs of shapes the end-to-end bundle does not have: CNSA 2.0 digests (SHA-384), many
/// signers, no policy, data artifacts with awkward names, a model with no config.
fn library_boms() -> Vec<(&'static str, Vec<u8>)> {
    use airlock::report::bom::*;
    let d = |alg: HashAlg, seed: &str| Digest {
        hex: match alg {
            HashAlg::Sha256 => hex(&sha256(seed.as_bytes())),
            HashAlg::Sha384 => {
                let h = hex(&sha256(seed.as_bytes()));
                format!("{h}{}", &h[..32])
            }
        },
        alg,
    };
    let bundle = |checked: bool, suite: Suite, alg: HashAlg| BundleMeta {
        name: "acme-7b".into(),
        version: "1.0.0".into(),
        sequence: 7,
        target: "aws-secret".into(),
        created: "2026-12-01T19:40:26Z".into(),
        expires: "2027-03-01T00:00:00Z".into(),
        suite,
        manifest_digest: d(alg, "manifest"),
        signers: (0..12)
            .map(|i| Signer {
                role: "transfer".into(),
                key_id: format!("{i:016X}"),
                algorithm: "ml-dsa-87".into(),
                status: checked.then(|| "counted".into()),
                signed: "2026-12-01T19:40:27Z".into(),
            })
            .collect(),
        signatures_checked: checked,
    };
    let files = |alg: HashAlg| {
        vec![
            File {
                path: "sub dir/ü.bin".into(),
                size: 3,
                digests: vec![d(alg, "a"), d(HashAlg::Sha256, "a")],
            },
            File {
                path: "config.json".into(),
                size: 2,
                digests: vec![d(alg, "b")],
            },
        ]
    };
    let cnsa2 = BomInput {
        tool_version: "0.1.0".into(),
        bundle: bundle(true, Suite::Cnsa2, HashAlg::Sha384),
        models: vec![Model {
            name: "acme-7b".into(),
            path: "model/acme-7b".into(),
            tree_digest: d(HashAlg::Sha384, "tree"),
            files: files(HashAlg::Sha384),
            config_json: Some(json!("not an object")),
            approved_targets: vec!["aws-secret".into()],
            required_safeguards: vec![RequiredSafeguard {
                kind: "audit_logging".into(),
                settings: vec![],
            }],
            oms: None,
        }],
        data: vec![DataArtifact {
            name: "eval".into(),
            path: "data/eval set:v1".into(),
            tree_digest: d(HashAlg::Sha384, "data"),
            files: vec![],
        }],
        safeguards: vec![Safeguard {
            name: "audit".into(),
            kind: "audit_logging".into(),
            path: "safeguard/audit/audit.toml".into(),
            digests: vec![d(HashAlg::Sha384, "audit")],
            settings: vec![("destination:url".into(), "syslog://audit".into())],
        }],
        policy: None,
        installed: false,
    };
    let mut minimal = cnsa2.clone();
    minimal.bundle = bundle(false, Suite::Classic, HashAlg::Sha256);
    minimal.bundle.signers.clear();
    minimal.models.clear();
    minimal.safeguards.clear();
    vec![
        ("cnsa2-many-signers", write(&cnsa2).unwrap()),
        ("minimal-unchecked", write(&minimal).unwrap()),
    ]
}

#[test]
fn a_p384_signature_made_in_place_verifies_after_unpack() {
    let c = Chain::new("secp384r1");
    let model = c.path("models/acme-7b");
    model_tree(&model);
    // The provider signs in place: model.sig inside the directory, recorded in ignore_paths.
    oms_sign(&model, &c.provider.pem, &model.join("model.sig"), &[]);
    let (tree, _) = c.digest(&model, None);
    c.policy(&tree, &[c.provider.base64()], true);
    // The spec needs no oms_signature: the directory's model.sig is the signature.
    let spec = c.spec("acme-7b", "models/acme-7b", None);
    let packed = result(&c.pack(&spec, "acme-7b.airlock.tar.zst"));
    assert_eq!(packed["oms"][0]["status"], "verified", "{packed}");
    assert!(
        packed["oms"][0]["algorithm"]
            .as_str()
            .unwrap()
            .contains("P-384"),
        "{packed}"
    );
    // Naming the same file as oms_signature is the same bundle; naming another is refused.
    let same = c.spec("same", "models/acme-7b", Some("models/acme-7b/model.sig"));
    let again = result(&c.pack(&same, "same.airlock.tar.zst"));
    assert_eq!(again["manifest_sha256"], packed["manifest_sha256"]);
    fs::copy(model.join("model.sig"), c.path("copy.sig")).unwrap();
    let other = c.spec("other", "models/acme-7b", Some("copy.sig"));
    assert_pack_refused(
        &c.pack(&other, "other.tar.zst"),
        2,
        &["already holds a model.sig"],
    );

    let trust = c.trust();
    let dest = c.path("installed");
    // Installed, then found already there: the BOM of the installed tree is the same bytes.
    let mut boms = Vec::new();
    for (run, outcome) in [("first", "installed"), ("again", "already-present")] {
        let bom = c.path(&format!("{run}.cdx.json"));
        let u = result(&c.receive(&[
            "unpack",
            c.path("acme-7b.airlock.tar.zst").to_str().unwrap(),
            "--trust",
            trust.to_str().unwrap(),
            "--dest",
            dest.to_str().unwrap(),
            "--bom",
            bom.to_str().unwrap(),
        ]));
        assert_eq!(u["outcome"], outcome, "{u}");
        boms.push(fs::read(bom).unwrap());
    }
    assert_eq!(boms[0], boms[1]);
    let installed = dest.join("model/acme-7b");
    let (ok, out) = oms_verify(&installed, &installed.join("model.sig"), &c.provider.public);
    assert!(ok, "model_signing verify key (P-384) after unpack: {out}");
}

// ------------------------------------------------------------------ receiving side

/// An ECDSA key made here, with its SubjectPublicKeyInfo.
struct RustKey {
    pair: EcdsaKeyPair,
    spki: Vec<u8>,
}

impl RustKey {
    fn p256() -> RustKey {
        Self::new(&ECDSA_P256_SHA256_ASN1_SIGNING)
    }

    fn new(alg: &'static aws_lc_rs::signature::EcdsaSigningAlgorithm) -> RustKey {
        let pair = EcdsaKeyPair::generate(alg).unwrap();
        let spki = pair.public_key().as_der().unwrap().as_ref().to_vec();
        RustKey { pair, spki }
    }

    fn base64(&self) -> String {
        B64.encode(&self.spki)
    }

    /// A signature file as `model_signing sign key` writes it, over `files` (model-relative
    /// path, content), in model_signing's order.
    fn sign(&self, files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut files: Vec<(&str, &[u8])> = files.to_vec();
        files.sort_by(|a, b| a.0.split('/').cmp(b.0.split('/')));
        let mut root = Vec::new();
        let resources: Vec<Value> = files
            .iter()
            .map(|(p, c)| {
                root.extend_from_slice(&sha256(c));
                json!({"digest": hex(&sha256(c)), "name": p, "algorithm": "sha256"})
            })
            .collect();
        let statement = json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "m", "digest": {"sha256": hex(&sha256(&root))}}],
            "predicateType": "https://model_signing/signature/v1.0",
            "predicate": {"resources": resources, "serialization": {
                "method": "files", "hash_type": "sha256", "allow_symlinks": false,
                "ignore_paths": [".git", ".gitattributes", ".github", ".gitignore"]}},
        });
        let payload = serde_json::to_vec_pretty(&statement).unwrap();
        let mut pae =
            format!("DSSEv1 28 application/vnd.in-toto+json {} ", payload.len()).into_bytes();
        pae.extend_from_slice(&payload);
        let sig = self.pair.sign(&SystemRandom::new(), &pae).unwrap();
        serde_json::to_vec(&json!({
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {"publicKey": {"hint": ""}, "tlogEntries": []},
            "dsseEnvelope": {"payload": B64.encode(&payload), "payloadType": "application/vnd.in-toto+json",
                "signatures": [{"sig": B64.encode(sig.as_ref()), "keyid": ""}]},
        }))
        .unwrap()
    }
}

const CONFIG: &[u8] = b"{\"model_type\": \"llama\"}\n";
const WEIGHTS: &[u8] = b"{\"weights\": [1, 2, 3]}\n";

/// A crafted bundle (valid release signature) carrying model `m` with `files`, `sig` as its
/// `model.sig` if given, and a policy (signed by `policy_key`) approving exactly that tree, with
/// `oms_keys` and `require_oms`.
fn crafted(
    policy_key: &craft::TestKey,
    files: &[(&str, &[u8])],
    sig: Option<Vec<u8>>,
    oms_keys: &[String],
    require_oms: bool,
) -> craft::Parts {
    let mut entries: Vec<craft::Entry> = files
        .iter()
        .map(|(p, c)| craft::file(&format!("model/m/{p}"), c.to_vec()))
        .collect();
    if let Some(s) = sig {
        entries.push(craft::file("model/m/model.sig", s));
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    let digest = airlock::format::manifest::tree_digest(
        HashAlg::Sha256,
        entries.iter().map(|e| {
            (
                &e.path["model/m/".len()..],
                e.content.len() as u64,
                Mode::Regular,
                HashAlg::Sha256.digest(&e.content),
            )
        }),
    );
    let keys: Vec<String> = oms_keys.iter().map(|k| format!("\"{k}\"")).collect();
    let policy = format!(
        "[policy]\nid = \"p\"\nversion = 1\nissued = \"2025-01-01T00:00:00Z\"\nexpires = \"2090-01-01T00:00:00Z\"\noms_keys = [{}]\n\n\
         [[model]]\nname = \"m\"\ntree_digest = \"sha256:{}\"\ntargets = [\"{}\"]\nrequire_oms = {require_oms}\n",
        keys.join(", "),
        digest.hex(),
        craft::SITE
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.toml");
    fs::write(&path, &policy).unwrap();
    let minisig = airlock::pack::sign::sign_policy(
        &path,
        &airlock::trust::keys::Signer::Minisign(policy_key.key.clone()),
        craft::SIGNED,
        None,
    )
    .unwrap();
    entries.push(craft::file("policy/p/policy.toml", policy));
    entries.push(craft::file(
        "policy/p/policy.toml.minisig",
        fs::read(minisig).unwrap(),
    ));
    craft::Parts::honest(&entries)
}

/// The enclave of the crafted bundles: trust pins the test release key and `policy_key`.
struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new(policy_key: Option<&craft::TestKey>) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let mut trust = craft::trust_toml();
        if let Some(k) = policy_key {
            trust.push_str(&format!(
                "\n[roles.policy]\nthreshold = 1\nkeys = [\"{}\"]\n",
                k.public_base64
            ));
        }
        fs::write(dir.path().join("trust.toml"), trust).unwrap();
        Site { dir }
    }

    fn run(&self, parts: &craft::Parts, args: &[&str]) -> Output {
        let bundle = self.dir.path().join("b.airlock.tar.zst");
        parts.write(&bundle);
        run(airlock()
            .arg(args[0])
            .arg(&bundle)
            .args(&args[1..])
            .arg("--trust")
            .arg(self.dir.path().join("trust.toml"))
            .arg("--state")
            .arg(self.dir.path().join("state"))
            .args(["--now", craft::NOW, "--json"]))
    }

    fn dest(&self) -> String {
        self.dir.path().join("dest").display().to_string()
    }

    /// verify, verify --deep and unpack refuse with the policy check, the rule and `word`.
    fn assert_refused(&self, parts: &craft::Parts, rule: &str, word: &str) {
        let dest = self.dest();
        for args in [
            &["verify"][..],
            &["verify", "--deep"],
            &["unpack", "--dest", &dest],
        ] {
            let out = self.run(parts, args);
            let check = common::assert_rejected(&out, &["policy"]);
            assert_eq!(check, "policy");
            let err = stderr(&out);
            assert!(err.contains(rule) && err.contains(word), "{args:?}: {err}");
        }
        assert!(!Path::new(&dest).exists());
    }
}

#[test]
fn the_receiving_side_rechecks_the_carried_signature() {
    let policy_key = craft::TestKey::generate();
    let provider = RustKey::p256();
    let keys = [provider.base64()];
    let honest = [("config.json", CONFIG), ("weights.json", WEIGHTS)];
    let site = Site::new(Some(&policy_key));

    // Honest: accepted, with the signature verified from the manifest frame alone.
    let parts = crafted(
        &policy_key,
        &honest,
        Some(provider.sign(&honest)),
        &keys,
        true,
    );
    let out = site.run(&parts, &["verify"]);
    let v = result(&out);
    assert_eq!(v["policy"]["oms"][0]["status"], "verified", "{v}");
    assert_eq!(v["policy"]["oms"][0]["digests_checked"], true);

    // The shipped config.json is not the signed one (the manifest and policy agree with it:
    // a release signer shipping other content under the provider's signature).
    let other = [
        ("config.json", &b"{\"model_type\": \"evil\"}\n"[..]),
        ("weights.json", WEIGHTS),
    ];
    let parts = crafted(
        &policy_key,
        &other,
        Some(provider.sign(&honest)),
        &keys,
        true,
    );
    site.assert_refused(&parts, "oms-signature", "config.json: content differs");
    // Without policy keys in the trust file the policy is not enforced, nor its OMS rules.
    let unenforced = Site::new(None);
    let v = result(&unenforced.run(&parts, &["verify"]));
    assert_eq!(v["policy"]["oms"][0]["status"], "not-checked", "{v}");

    // A file the signature does not list.
    let extra = [
        ("config.json", CONFIG),
        ("weights.json", WEIGHTS),
        ("extra.json", &b"{}"[..]),
    ];
    let parts = crafted(
        &policy_key,
        &extra,
        Some(provider.sign(&honest)),
        &keys,
        true,
    );
    site.assert_refused(&parts, "oms-signature", "extra.json: file is not covered");

    // Signed by a key the policy does not name.
    let stranger = RustKey::new(&ECDSA_P384_SHA384_ASN1_SIGNING);
    let parts = crafted(
        &policy_key,
        &honest,
        Some(stranger.sign(&honest)),
        &keys,
        true,
    );
    site.assert_refused(&parts, "oms-signature", "does not verify");

    // require_oms and no signature carried.
    let parts = crafted(&policy_key, &honest, None, &keys, true);
    site.assert_refused(&parts, "oms-required", "model `m`");

    // A certificate-chain bundle: refused, saying why.
    let mut chain: Value = serde_json::from_slice(&provider.sign(&honest)).unwrap();
    chain["verificationMaterial"] =
        json!({"x509CertificateChain": {"certificates": []}, "tlogEntries": []});
    let parts = crafted(
        &policy_key,
        &honest,
        Some(serde_json::to_vec(&chain).unwrap()),
        &keys,
        true,
    );
    site.assert_refused(&parts, "oms-signature", "X.509 certificate chain");

    // A policy with no oms_keys: the signature travels (approved by the tree digest) unchecked.
    let parts = crafted(
        &policy_key,
        &honest,
        Some(provider.sign(&honest)),
        &[],
        false,
    );
    let v = result(&site.run(&parts, &["unpack", "--dest", &site.dest()]));
    assert_eq!(v["policy"]["oms"][0]["status"], "not-checked", "{v}");
    assert!(Path::new(&site.dest()).join("model/m/model.sig").is_file());
}
