//! Unit tests of the OMS verifier on fixtures made here: keys generated with aws-lc-rs, and
//! bundles built exactly as `model_signing sign key` builds them (pretty-printed statement JSON,
//! PAE with the in-toto constant, DER ECDSA, PEM-SHA-256 hint, compact bundle JSON).
//! The cross-check against the real tool is `tests/oms_tool.rs`.

use super::*;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, ECDSA_P521_SHA512_ASN1_SIGNING,
    EcdsaKeyPair, EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair,
};
use serde_json::json;

struct TestKey {
    pair: EcdsaKeyPair,
    spki: Vec<u8>,
}

fn test_key(alg: &'static EcdsaSigningAlgorithm) -> TestKey {
    let pair = EcdsaKeyPair::generate(alg).expect("generate test key");
    let spki = pair
        .public_key()
        .as_der()
        .expect("encode test key")
        .as_ref()
        .to_vec();
    TestKey { pair, spki }
}

fn sha(content: &[u8]) -> [u8; 32] {
    Sha256::digest(content).into()
}

/// The files of a small model, in model_signing's order.
fn model_files() -> Vec<(String, [u8; 32])> {
    let mut v: Vec<(String, [u8; 32])> = [
        ("config.json", &b"{}"[..]),
        ("model.safetensors", b"weights"),
        ("subdir/extra.bin", b"extra"),
        ("tokenizer.json", b"tok"),
    ]
    .iter()
    .map(|(p, c)| (p.to_string(), sha(c)))
    .collect();
    v.sort_by(|a, b| path_cmp(&a.0, &b.0));
    v
}

/// The in-toto statement model_signing would write for `files` (already in its order).
fn statement_for(files: &[(String, [u8; 32])], ignore_paths: &[&str]) -> Value {
    let resources: Vec<Value> = files
        .iter()
        .map(|(p, d)| json!({"digest": hex(d), "name": p, "algorithm": "sha256"}))
        .collect();
    let mut ser = json!({"method": "files", "hash_type": "sha256", "allow_symlinks": false});
    if !ignore_paths.is_empty() {
        ser["ignore_paths"] = json!(ignore_paths);
    }
    json!({
        "_type": STATEMENT_TYPE,
        "subject": [{"name": "tiny", "digest": {"sha256": hex(&root_digest(files))}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {"resources": resources, "serialization": ser},
    })
}

fn default_statement() -> Value {
    statement_for(
        &model_files(),
        &[".gitignore", ".gitattributes", ".github", ".git"],
    )
}

/// Signs `payload` bytes as model_signing's key signer does and returns the bundle file bytes.
fn bundle_bytes(payload: &[u8], key: &TestKey, hint: Option<&str>) -> Vec<u8> {
    let sig = key
        .pair
        .sign(&SystemRandom::new(), &pae(payload))
        .expect("sign");
    let fingerprint = key_fingerprint(&key.spki).expect("fingerprint");
    let hint = hint.unwrap_or(&fingerprint);
    let bundle = json!({
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {"publicKey": {"hint": hint}, "tlogEntries": []},
        "dsseEnvelope": {
            "payload": B64.encode(payload),
            "payloadType": PAYLOAD_TYPE,
            "signatures": [{"sig": B64.encode(sig.as_ref()), "keyid": ""}],
        },
    });
    serde_json::to_vec(&bundle).expect("serialize bundle")
}

fn sign_statement(statement: &Value, key: &TestKey) -> Vec<u8> {
    // protobuf's MessageToJson indents by two spaces, as serde_json's pretty printer does.
    let payload = serde_json::to_vec_pretty(statement).expect("serialize statement");
    bundle_bytes(&payload, key, None)
}

fn verify_bytes(bytes: &[u8], keys: &[Vec<u8>]) -> Result<OmsStatement, OmsError> {
    verify(&OmsSignature::parse(bytes)?, keys)
}

/// Re-encodes a bundle after `edit` changes its JSON (signature untouched).
fn edit_bundle(bytes: &[u8], edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(bytes).expect("bundle json");
    edit(&mut v);
    serde_json::to_vec(&v).expect("serialize")
}

// ------------------------------------------------------------ pure functions

#[test]
fn pae_bytes() {
    assert_eq!(
        pae(b"{}"),
        b"DSSEv1 28 application/vnd.in-toto+json 2 {}".to_vec()
    );
    assert_eq!(
        pae(b""),
        b"DSSEv1 28 application/vnd.in-toto+json 0 ".to_vec()
    );
}

#[test]
fn order_is_pure_posix_path_order() {
    // The order model_signing wrote for the researcher's tricky tree.
    let mut v = vec![
        "a0",
        "empty",
        "a.txt",
        "\u{fc}n\u{ef} c\u{f6}d\u{e9}.txt",
        "a-b",
        "a/b",
        "B",
        ".hidden/h",
        "dir.x/f",
    ];
    v.sort_by(|a, b| path_cmp(a, b));
    assert_eq!(
        v,
        [
            ".hidden/h",
            "B",
            "a/b",
            "a-b",
            "a.txt",
            "a0",
            "dir.x/f",
            "empty",
            "\u{fc}n\u{ef} c\u{f6}d\u{e9}.txt"
        ]
    );
}

#[test]
fn root_digest_sorts_and_hashes_raw_digests() {
    assert_eq!(
        hex(&root_digest(&[])),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    let a = ("a-b".to_string(), sha(b"1"));
    let b = ("a/b".to_string(), sha(b"2"));
    let mut cat = Vec::new();
    cat.extend_from_slice(&b.1); // a/b sorts first
    cat.extend_from_slice(&a.1);
    let expected: [u8; 32] = sha(&cat);
    assert_eq!(root_digest(&[a.clone(), b.clone()]), expected);
    assert_eq!(
        root_digest(&[b, a]),
        expected,
        "input order must not matter"
    );
}

#[test]
fn is_under_is_component_wise() {
    assert!(is_under(".git/HEAD", ".git"));
    assert!(is_under(".git", ".git"));
    assert!(!is_under(".gitignore", ".git"));
    assert!(!is_under(".git", ".git/HEAD"));
    assert!(is_default_ignored(".github/workflows/ci.yml"));
    assert!(!is_default_ignored("src/.git"));
}

#[test]
fn hex_round_trip_is_lowercase_only() {
    let d = sha(b"x");
    assert_eq!(unhex32(&hex(&d)), Some(d));
    assert_eq!(unhex32(&hex(&d).to_uppercase()), None);
    assert_eq!(unhex32("00"), None);
    assert_eq!(unhex32(&"zz".repeat(32)), None);
}

#[test]
fn fingerprint_is_sha256_of_openssl_pem() {
    // A P-256 key made by `openssl ecparam`; `sha256sum` of the `openssl ec -pubout` file.
    let pem = "-----BEGIN PUBLIC KEY-----\n\
        MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEziLm4Z/wWrSkqKBTMNEBAuFgEN44\n\
        T+Eu8sFhkdIbJcsjEeebJn9soQbsDpkk2sVohsOEEaRDhLxUk54Jnen4ig==\n\
        -----END PUBLIC KEY-----\n";
    let sha256sum = "38e8d597808c707efd6764151d90aaeccf41f6eae3eda86b8eca094ca099c2bd";
    assert_eq!(hex(&sha(pem.as_bytes())), sha256sum, "fixture text");
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = B64.decode(body).expect("base64");
    assert_eq!(key_fingerprint(&der).expect("key"), sha256sum);
    // The same key with a compressed point (`-conv_form compressed`): model_signing would
    // re-encode it uncompressed before hashing, and so does this module.
    let compressed = B64
        .decode("MDkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDIgACziLm4Z/wWrSkqKBTMNEBAuFgEN44T+Eu8sFhkdIbJcs=")
        .expect("base64");
    assert_eq!(key_fingerprint(&compressed).expect("key"), sha256sum);
}

// ----------------------------------------------------------------- happy path

#[test]
fn verifies_p256_and_p384_and_reports_the_key() {
    for alg in [
        &ECDSA_P256_SHA256_ASN1_SIGNING,
        &ECDSA_P384_SHA384_ASN1_SIGNING,
    ] {
        let signer = test_key(alg);
        let other = test_key(&ECDSA_P256_SHA256_ASN1_SIGNING);
        let bytes = sign_statement(&default_statement(), &signer);
        let st =
            verify_bytes(&bytes, &[other.spki.clone(), signer.spki.clone()]).expect("verifies");
        assert_eq!(st.key_index(), 1);
        assert_eq!(
            st.key_fingerprint(),
            key_fingerprint(&signer.spki).expect("fp")
        );
        assert!(st.hint_present());
        assert_eq!(st.root_digest(), root_digest(&model_files()));
        assert_eq!(st.resources().len(), 4);
        assert_eq!(
            st.ignore_paths(),
            [".git", ".gitattributes", ".github", ".gitignore"]
        );
        assert_eq!(st.model_name(), "tiny");
        assert!(st.extra_ignore_paths(None).is_empty());
        st.check_files(&model_files(), None).expect("tree matches");
    }
    let p384 = test_key(&ECDSA_P384_SHA384_ASN1_SIGNING);
    let st =
        verify_bytes(&sign_statement(&default_statement(), &p384), &[p384.spki]).expect("verifies");
    assert_eq!(st.algorithm(), KeyAlgorithm::EcdsaP384Sha384);
}

#[test]
fn without_hint_every_key_is_tried() {
    let signer = test_key(&ECDSA_P384_SHA384_ASN1_SIGNING);
    let other = test_key(&ECDSA_P256_SHA256_ASN1_SIGNING);
    let bytes = edit_bundle(&sign_statement(&default_statement(), &signer), |v| {
        v["verificationMaterial"]["publicKey"]
            .as_object_mut()
            .expect("object")
            .remove("hint");
    });
    let st = verify_bytes(&bytes, &[other.spki.clone(), signer.spki.clone()]).expect("ok");
    assert_eq!(st.key_index(), 1);
    assert!(!st.hint_present());
    // An empty hint is the same "older format" to model_signing.
    let bytes = edit_bundle(&bytes, |v| {
        v["verificationMaterial"]["publicKey"]["hint"] = json!("");
    });
    assert_eq!(
        verify_bytes(&bytes, std::slice::from_ref(&signer.spki))
            .expect("ok")
            .key_index(),
        0
    );
    let err = verify_bytes(&bytes, &[other.spki]).expect_err("wrong key");
    assert!(matches!(err, OmsError::BadSignature { .. }), "{err}");
}

#[test]
fn accepts_legacy_key_fields_and_missing_tlog_entries() {
    let signer = test_key(&ECDSA_P256_SHA256_ASN1_SIGNING);
    let bytes = edit_bundle(&sign_statement(&default_statement(), &signer), |v| {
        let vm = &mut v["verificationMaterial"];
        vm["publicKey"]["rawBytes"] = json!("AAAA");
        vm["publicKey"]["keyDetails"] = json!("PKIX_ECDSA_P256_SHA_256");
        vm.as_object_mut().expect("object").remove("tlogEntries");
    });
    verify_bytes(&bytes, &[signer.spki]).expect("model_signing's reader accepts these");
}

#[test]
fn predicate_extensions_are_ignored() {
    let signer = test_key(&ECDSA_P256_SHA256_ASN1_SIGNING);
    let mut st = default_statement();
    st["predicate"]["modelCard"] = json!({"future": "field"});
    verify_bytes(&sign_statement(&st, &signer), &[signer.spki]).expect("v1.0 says ignore");
}

// ----------------------------------------------------------- bundle refusals

#[test]
fn refuses_oversized_input() {
    let big = vec![b' '; MAX_SIGNATURE_BYTES + 1];
    assert!(matches!(
        OmsSignature::parse(&big),
        Err(OmsError::TooLarge { .. })
    ));
}

#[test]
fn refuses_unknown_and_duplicate_fields() {
    let signer = test_key(&ECDSA_P256_SHA256_ASN1_SIGNING);
    let good = sign_statement(&default_statement(), &signer);
    for (what, bytes) in [
        ("top", edit_bundle(&good, |v| v["airlock"] = json!(1))),
        (
            "envelope",
            edit_bundle(&good, |v| v["dsseEnvelope"]["x"] = json!(1)),
        ),
        (
            "signature",
            edit_bundle(&good, |v| {
                v["dsseEnvelope"]["signatures"][0]["extra"] = json!(1)
            }),
        ),
        (
            "publicKey",
            edit_bundle(&good, |v| {
                v["verificationMaterial"]["publicKey"]["x"] = json!(1)
            }),
        ),
    ] {
        let err = OmsSignature::parse(&bytes).expect_err(what);
        assert!(matches!(err, OmsError::Malformed { .. }), "{what}: {err}");
        assert!(err.to_string().contains("unknown field"), "{what}: {err}");
    }
    // A duplicated key, which a lenient parser would resolve silently.
    let text = String::from_utf8(good).expect("utf8");
    let dup = text.replacen("\"mediaType\":", "\"mediaType\":\"x\",\"mediaType\":", 1);
    let err = OmsSignature::parse(dup.as_bytes()).expect_err("duplicate");
    assert!(err.to_string().contains("duplicate field"), "{err}");
    assert!(matches!(
        OmsSignature::parse(b"not json"),
        Err(OmsError::Malformed { .. })
    ));
}

#[test]
fn refuses_certificate_and_keyless_bundles_with_advice() {
    let signer = test_key(&ECDSA_P256_SHA256_ASN1_SIGNING);
    let good = sign_statement(&default_statement(), &signer);
    let chain = edit_bundle(&good, |v| {
        v["verificationMaterial"] = json!({
            "x509CertificateChain": {"certificates": [{"rawBytes": "MIIB"}]},
            "tlogEntries": []
        });
    });
    let err = OmsSignature::parse(&chain).expect_err("chain");
    assert!(matches!(err, OmsError::CertificateBundle), "{err}");
    assert!(err.to_string().contains("model_signing sign key"), "{err}");

    // Keyless, with fields this module does not model at all: still the right message.
    let keyless = edit_bundle(&good, |v| {
        v["verificationMaterial"] = json!({
            "certificate": {"rawBytes": "MIIC"},
            "tlogEntries": [{"logIndex": "1", "logId": {"keyId": "AA=="}, "inclusionProof": {}}],
        });
    });
    let err = OmsSignature::parse(&keyless).expect_err("keyless");
    assert!(matches!(err, OmsError::KeylessBundle), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("no network to check a transparency log"),
        "{msg}"
    );
    assert!(msg.contains("model_signing sign key"), "{msg}");

    let tlog_only = edit_bundle(&good, |v| {
        v["verificationMaterial"]["tlogEntries"] = json!([{"logIndex": "1"}]);
    });
    assert!(matches!(
        OmsSignature::parse(&tlog_only),
        Err(OmsError::KeylessBundle)
    ));
}

#[test]
fn refuses_other_bundle_shapes() {
    let signer = test_key(&ECDSA_P256_SHA256_ASN1_SIGNING);
    let good = sign_statement(&default_statement(), &signer);
    let media = edit_bundle(&good, |v| {
        v["mediaType"] = json!("application/vnd.dev.sigstore.bundle+json;version=0.2")
    });
    assert!(matches!(
        OmsSignature::parse(&media),
        Err(OmsError::MediaType { .. })
    ));
    let message = edit_bundle(&good, |v| {
        v.as_object_mut().expect("object").remove("dsseEnvelope");
        v["messageSignature"] = json!({"signature": "AA=="});
    });
    assert!(matches!(
        OmsSignature::parse(&message),
        Err(OmsError::NotDsse)
    ));
    let two = edit_bundle(&good, |v| {
        let s = v["dsseEnvelope"]["signatures"][0].clone();
        v["dsseEnvelope"]["signatures"] = json!([s.clone(), s]);
    });
    assert!(matches!(
        OmsSignature::parse(&two),
        Err(OmsError::SignatureCount { count: 2 })
    ));
    let none = edit_bundle(&good, |v| v["dsseEnvelope"]["signatures"] = json!([]));
    assert!(matches!(
        OmsSignature::parse(&none),
        Err(OmsError::SignatureCount { count: 0 })
    ));
    let b64 = edit_bundle(&good, |v| v["dsseEnvelope"]["payload"] = json!("e30"));
    assert!(matches!(
        OmsSignature::parse(&b64),
        Err(OmsError::Malformed { .. })
    ));
    let no_key = edit_bundle(&good, |v| {
        v["verificationMaterial"] = json!({"tlogEntries": []})
    });
    assert!(matches!(
        OmsSignature::parse(&no_key),
        Err(OmsError::Malformed { .. })
    ));
}

// -------------------------------------------------------- signature refusals

#[test]
fn refuses_wrong_key_tampered_signature_and_payload() {
    let signer = test_key(&ECDSA_P256_SHA256_ASN1_SIGNING);
    let other = test_key(&ECDSA_P256_SHA256_ASN1_SIGNING);
    let good = sign_statement(&default_statement(), &signer);

    let err = verify_bytes(&good, std::slice::from_ref(&other.spki)).expect_err("wrong key");
    assert!(matches!(err, OmsError::KeyNotTrusted { .. }), "{err}");

    let flipped = edit_bundle(&good, |v| {
        let s = v["dsseEnvelope"]["signatures"][0]["sig"]
            .as_str()
            .expect("sig");
        let mut raw = B64.decode(s).expect("b64");
        if let Some(last) = raw.last_mut() {
            *last ^= 1;
        }
        v["dsseEnvelope"]["signatures"][0]["sig"] = json!(B64.encode(raw));
    });
    let err = verify_bytes(&flipped, std::slice::from_ref(&signer.spki)).expect_err("flipped");
    assert!(matches!(err, OmsError::BadSignature { .. }), "{err}");

    let payload_edit = edit_bundle(&good, |v| {
        let p = v["dsseEnvelope"]["payload"].as_str().expect("payload");
        let text = String::from_utf8(B64.decode(p).expect("b64")).expect("utf8");
        let d = hex(&sha(b"weights"));
        let edited = text.replace(&d, &hex(&sha(b"other weights")));
        assert_ne!(text, edited);
        v["dsseEnvelope"]["payload"] = json!(B64.encode(edited));
    });
    let err = verify_bytes(&payload_edit, std::slice::from_ref(&signer.spki)).expect_err("edited");
    assert!(matches!(err, OmsError::BadSignature { .. }), "{err}");

    // Hint pointing at a trusted key that did not sign: the signature check decides.
    let other_fp = key_fingerprint(&other.spki).expect("fp");
    let payload = serde_json::to_vec_pretty(&default_statement()).expect("json");
    let lying = bundle_bytes(&payload, &signer, Some(&other_fp));
    let err = verify_bytes(&lying, &[signer.spki.clone(), other.spki]).expect_err("lying");
    assert!(err.to_string().contains("keys[1]"), "{err}");

    let err = verify_bytes(&good, &[]).expect_err("no keys");
    assert!(matches!(err, OmsError::NoKeys));
}

#[test]
fn payload_type_is_checked_after_the_signature() {
    let signer = test_key(&ECDSA_P256_SHA256_ASN1_SIGNING);
    let bytes = edit_bundle(&sign_statement(&default_statement(), &signer), |v| {
        v["dsseEnvelope"]["payloadType"] = json!("application/json")
    });
    let err = verify_bytes(&bytes, &[signer.spki]).expect_err("payload type");
    assert!(matches!(err, OmsError::PayloadType { .. }), "{err}");
}

#[test]
fn refuses_unsupported_keys_by_name() {
    let signer = test_key(&ECDSA_P256_SHA256_ASN1_SIGNING);
    let good = sign_statement(&default_statement(), &signer);
    let p521 = test_key(&ECDSA_P521_SHA512_ASN1_SIGNING).spki;
    let ed = Ed25519KeyPair::generate()
        .expect("ed25519")
        .public_key()
        .as_der()
        .expect("der")
        .as_ref()
        .to_vec();
    let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
        .expect("rsa")
        .public_key()
        .as_der()
        .expect("der")
        .as_ref()
        .to_vec();
    for (key, name) in [(p521, "ECDSA P-521"), (ed, "Ed25519"), (rsa, "RSA")] {
        let err = verify_bytes(&good, &[signer.spki.clone(), key]).expect_err(name);
        match &err {
            OmsError::KeyUnsupported { index, algorithm } => {
                assert_eq!((*index, algorithm.as_str()), (1, name));
            }
            other => panic!("{name}: {other}"),
        }
        assert!(err.to_string().contains("keys[1]"), "{err}");
    }
    let err = verify_bytes(&good, &[b"garbage".to_vec()]).expect_err("garbage");
    assert!(
        matches!(err, OmsError::KeyInvalid { index: 0, .. }),
        "{err}"
    );
    let mut trailing = signer.spki.clone();
    trailing.push(0);
    let err = verify_bytes(&good, &[trailing]).expect_err("trailing");
    assert!(matches!(err, OmsError::KeyInvalid { .. }), "{err}");
    // An unknown algorithm is named by its OID.
    let unknown = [
        0x30, 0x0c, 0x30, 0x05, 0x06, 0x03, 0x2a, 0x03, 0x04, 0x03, 0x03, 0x00, 0x01, 0x02,
    ];
    let err = verify_bytes(&good, &[unknown.to_vec()]).expect_err("unknown");
    assert!(err.to_string().contains("OID 1.2.3.4"), "{err}");
}

// -------------------------------------------------------- statement refusals

fn signed_variant(edit: impl FnOnce(&mut Value)) -> Result<OmsStatement, OmsError> {
    let signer = test_key(&ECDSA_P256_SHA256_ASN1_SIGNING);
    let mut st = default_statement();
    edit(&mut st);
    verify_bytes(&sign_statement(&st, &signer), &[signer.spki])
}

#[test]
fn refuses_ignore_paths_that_cover_the_whole_tree() {
    for p in [".", "", "./", "./."] {
        let err = signed_variant(|st| {
            st["predicate"]["serialization"]["ignore_paths"] = json!([".git", p]);
        })
        .expect_err(p);
        assert!(
            matches!(err, OmsError::IgnoresWholeTree { .. }),
            "{p:?}: {err}"
        );
        assert!(err.to_string().contains("ANY directory"), "{err}");
    }
    for p in ["/etc", "../x", "a//b", "a/", "a\\b"] {
        let err = signed_variant(|st| {
            st["predicate"]["serialization"]["ignore_paths"] = json!([p]);
        })
        .expect_err(p);
        assert!(matches!(err, OmsError::BadPath { .. }), "{p:?}: {err}");
    }
}

#[test]
fn refuses_inconsistent_or_odd_manifests() {
    let zero = "00".repeat(32);
    let err =
        signed_variant(|st| st["subject"][0]["digest"]["sha256"] = json!(zero)).expect_err("root");
    assert!(matches!(err, OmsError::RootDigest { .. }), "{err}");

    let err = signed_variant(|st| {
        let r = st["predicate"]["resources"][0].clone();
        st["predicate"]["resources"]
            .as_array_mut()
            .expect("array")
            .push(r);
    })
    .expect_err("dup");
    assert!(matches!(err, OmsError::ResourceOrder { .. }), "{err}");

    let err = signed_variant(|st| {
        st["predicate"]["resources"]
            .as_array_mut()
            .expect("array")
            .reverse();
    })
    .expect_err("order");
    assert!(matches!(err, OmsError::ResourceOrder { .. }), "{err}");

    let err = signed_variant(|st| st["predicate"]["resources"][0]["name"] = json!("../etc/passwd"))
        .expect_err("dotdot");
    assert!(matches!(err, OmsError::BadPath { .. }), "{err}");

    let err = signed_variant(|st| st["predicate"]["resources"] = json!([])).expect_err("empty");
    assert!(matches!(err, OmsError::EmptyManifest), "{err}");

    let err = signed_variant(|st| {
        let d = hex(&sha(b"x"));
        st["predicate"]["resources"] = json!([{"name": ".", "algorithm": "sha256", "digest": d}]);
        st["subject"][0]["digest"]["sha256"] = json!(hex(&sha(&sha(b"x"))));
    })
    .expect_err("single file");
    assert!(matches!(err, OmsError::SingleFile), "{err}");

    let err = signed_variant(|st| {
        st["predicate"]["serialization"]["ignore_paths"] = json!(["subdir"]);
    })
    .expect_err("ignored resource");
    assert!(matches!(err, OmsError::IgnoredResource { .. }), "{err}");

    let err = signed_variant(|st| {
        let d = st["predicate"]["resources"][0]["digest"]
            .as_str()
            .expect("digest")
            .to_uppercase();
        st["predicate"]["resources"][0]["digest"] = json!(d);
    })
    .expect_err("uppercase");
    assert!(matches!(err, OmsError::BadDigest { .. }), "{err}");

    let err = signed_variant(|st| st["predicate"]["resources"][0]["algorithm"] = json!("blake3"))
        .expect_err("algorithm");
    assert!(matches!(err, OmsError::Unsupported { .. }), "{err}");
}

#[test]
fn refuses_other_serializations_and_predicates() {
    let err = signed_variant(|st| {
        st["predicate"]["serialization"]["method"] = json!("shards");
        st["predicate"]["serialization"]["shard_size"] = json!(1_000_000_000);
    })
    .expect_err("shards");
    assert!(matches!(err, OmsError::Shards), "{err}");
    assert!(err.to_string().contains("shards"), "{err}");

    let err = signed_variant(|st| st["predicate"]["serialization"]["hash_type"] = json!("blake3"))
        .expect_err("blake3");
    assert!(
        matches!(
            err,
            OmsError::Unsupported {
                what: "hash_type",
                ..
            }
        ),
        "{err}"
    );

    let err =
        signed_variant(|st| st["predicateType"] = json!(PREDICATE_TYPE_V01)).expect_err("v0.1");
    assert!(matches!(err, OmsError::PredicateType { .. }), "{err}");

    let err = signed_variant(|st| st["_type"] = json!("https://in-toto.io/Statement/v0.1"))
        .expect_err("type");
    assert!(matches!(err, OmsError::Statement { .. }), "{err}");

    let err = signed_variant(|st| {
        let s = st["subject"][0].clone();
        st["subject"] = json!([s.clone(), s]);
    })
    .expect_err("subjects");
    assert!(matches!(err, OmsError::Statement { .. }), "{err}");

    let err = signed_variant(|st| st["predicate"]["serialization"]["extra"] = json!(true))
        .expect_err("strict serialization");
    assert!(err.to_string().contains("unknown field"), "{err}");

    let err = signed_variant(|st| st["extra"] = json!(true)).expect_err("strict statement");
    assert!(err.to_string().contains("unknown field"), "{err}");
}

// ----------------------------------------------------------------- check_files

fn verified() -> OmsStatement {
    let signer = test_key(&ECDSA_P256_SHA256_ASN1_SIGNING);
    let mut st = statement_for(
        &model_files(),
        &[".gitignore", ".gitattributes", ".github", ".git", "docs"],
    );
    st["predicate"]["serialization"]["allow_symlinks"] = json!(true);
    verify_bytes(&sign_statement(&st, &signer), &[signer.spki]).expect("verifies")
}

fn with(files: &[(String, [u8; 32])], extra: &[(&str, &[u8])]) -> Vec<(String, [u8; 32])> {
    let mut v = files.to_vec();
    v.extend(extra.iter().map(|(p, c)| (p.to_string(), sha(c))));
    v
}

#[test]
fn check_files_applies_every_ignore_rule() {
    let st = verified();
    assert!(st.allow_symlinks());
    assert_eq!(st.extra_ignore_paths(Some("model.sig")), ["docs"]);
    let tree = with(
        &model_files(),
        &[
            (".git/HEAD", b"ref"),
            (".gitignore", b"*"),
            (".gitattributes", b"*"),
            (".github/workflows/ci.yml", b"on"),
            ("docs/README.md", b"recorded ignore path"),
            ("model.sig", b"{}"),
        ],
    );
    st.check_files(&tree, Some("model.sig"))
        .expect("all extras ignored");
    // Without the signature path, model.sig is an extra file, as for the CLI.
    assert_eq!(
        st.check_files(&tree, None),
        Err(OmsMismatch::Unlisted {
            path: "model.sig".into()
        })
    );
    // Component-wise: `.gitignore-extra` is not under `.gitignore`.
    let tree = with(&model_files(), &[(".gitignore-extra", b"x")]);
    assert!(matches!(
        st.check_files(&tree, None),
        Err(OmsMismatch::Unlisted { .. })
    ));
}

#[test]
fn check_files_reports_the_first_problem_in_a_fixed_order() {
    let st = verified();
    let mut tree = model_files();
    // tokenizer.json modified, config.json removed, zz-new and a-new added.
    tree.retain(|(p, _)| p != "config.json");
    for (p, d) in &mut tree {
        if p == "tokenizer.json" {
            *d = sha(b"changed");
        }
    }
    let tree = with(&tree, &[("zz-new", b"1"), ("a-new", b"2")]);
    let err = st.check_files(&tree, None).expect_err("modified first");
    assert_eq!(
        err,
        OmsMismatch::Modified {
            path: "tokenizer.json".into(),
            signed: sha(b"tok"),
            actual: sha(b"changed"),
        }
    );
    assert!(err.to_string().contains(&hex(&sha(b"changed"))), "{err}");

    let tree: Vec<_> = tree
        .into_iter()
        .filter(|(p, _)| p != "tokenizer.json")
        .collect();
    let tree = with(&tree, &[("tokenizer.json", b"tok")]);
    assert_eq!(
        st.check_files(&tree, None),
        Err(OmsMismatch::Unlisted {
            path: "a-new".into()
        })
    );
    let tree: Vec<_> = tree
        .into_iter()
        .filter(|(p, _)| !p.ends_with("-new"))
        .collect();
    assert_eq!(
        st.check_files(&tree, None),
        Err(OmsMismatch::Missing {
            path: "config.json".into()
        })
    );
}

#[test]
fn check_files_explains_signed_but_ignored_files() {
    // Signed with --no-ignore-git-paths: the CLI's verify ignores .gitattributes anyway.
    let signer = test_key(&ECDSA_P256_SHA256_ASN1_SIGNING);
    let files = with(&model_files(), &[(".gitattributes", b"* -text")]);
    let mut files_sorted = files.clone();
    files_sorted.sort_by(|a, b| path_cmp(&a.0, &b.0));
    let st = verify_bytes(
        &sign_statement(&statement_for(&files_sorted, &[]), &signer),
        &[signer.spki],
    )
    .expect("verifies");
    let err = st.check_files(&files, None).expect_err("ignored");
    assert!(
        matches!(&err, OmsMismatch::SignedButIgnored { path, .. } if path == ".gitattributes"),
        "{err}"
    );
}

#[test]
fn check_files_refuses_bad_input() {
    let st = verified();
    let dup = with(&model_files(), &[("config.json", b"{}")]);
    assert_eq!(
        st.check_files(&dup, None),
        Err(OmsMismatch::DuplicatePath {
            path: "config.json".into()
        })
    );
    for bad in ["./config.json", "/abs", "a//b", ""] {
        let tree = with(&model_files(), &[(bad, b"x")]);
        assert!(
            matches!(
                st.check_files(&tree, None),
                Err(OmsMismatch::InvalidPath { .. })
            ),
            "{bad:?}"
        );
    }
    assert!(matches!(
        st.check_files(&model_files(), Some("../model.sig")),
        Err(OmsMismatch::InvalidPath { .. })
    ));
}
