//! Unit tests of the BOM writer: determinism, ordering, derived values and refusals. Schema
//! validation by the reference validator is `tests/bom_validate.rs`.

use super::*;
use crate::trust::oms::{OmsCheck, OmsStatus};
use serde_json::json;

fn d256(seed: u8) -> Digest {
    Digest {
        alg: HashAlg::Sha256,
        hex: crate_hex(&[seed; 32]),
    }
}

fn d384(seed: u8) -> Digest {
    Digest {
        alg: HashAlg::Sha384,
        hex: crate_hex(&[seed; 48]),
    }
}

fn sample() -> BomInput {
    BomInput {
        tool_version: "0.9.0".into(),
        bundle: BundleMeta {
            name: "acme-7b".into(),
            version: "1.0.0".into(),
            sequence: 3,
            target: "aws-secret".into(),
            created: "2026-12-01T19:40:26Z".into(),
            expires: "2027-03-01T19:40:26Z".into(),
            suite: Suite::Classic,
            manifest_digest: d256(0xab),
            signers: vec![
                Signer {
                    role: "transfer".into(),
                    key_id: "00000000000000B2".into(),
                    algorithm: "ed25519".into(),
                    status: Some("not-counted".into()),
                    signed: "2026-12-02T08:00:00Z".into(),
                },
                Signer {
                    role: "release".into(),
                    key_id: "00000000000000A1".into(),
                    algorithm: "ed25519".into(),
                    status: Some("verified".into()),
                    signed: "2026-12-01T19:40:27Z".into(),
                },
            ],
            signatures_checked: true,
        },
        models: vec![Model {
            name: "acme-7b".into(),
            path: "model/acme-7b".into(),
            tree_digest: d256(1),
            files: vec![
                File {
                    path: "tokenizer.json".into(),
                    size: 3,
                    digests: vec![d256(2)],
                },
                File {
                    path: "config.json".into(),
                    size: 2,
                    digests: vec![d256(3)],
                },
            ],
            config_json: Some(json!({
                "architectures": ["LlamaForCausalLM"],
                "model_type": "llama",
                "hidden_size": 4096,
                "torch_dtype": "bfloat16",
                "rope_scaling": {"type": "linear"},
            })),
            approved_targets: vec!["azure-top-secret".into(), "aws-secret".into()],
            required_safeguards: vec![RequiredSafeguard {
                kind: "content_filter".into(),
                settings: vec![("min_strength".into(), "high".into())],
            }],
            oms: Some(OmsCheck {
                model: "acme-7b".into(),
                signature: Some("model/acme-7b/model.sig".into()),
                status: OmsStatus::Verified,
                detail: "verified".into(),
                key_index: Some(0),
                key_fingerprint: Some("38e8d597".repeat(8)),
                algorithm: Some("ECDSA P-256 with SHA-256".into()),
                root_digest: Some(format!("sha256:{}", "07".repeat(32))),
                signed_files: Some(2),
                digests_checked: true,
                not_covered: vec![],
            }),
        }],
        data: vec![],
        safeguards: vec![Safeguard {
            name: "content-filter".into(),
            kind: "content_filter".into(),
            path: "safeguard/content-filter/filter.toml".into(),
            digests: vec![d256(4)],
            settings: vec![
                ("strength".into(), "high".into()),
                ("categories".into(), "violence, cbrn".into()),
            ],
        }],
        policy: None,
        installed: false,
    }
}

fn doc(input: &BomInput) -> Value {
    let bytes = write(input).expect("writes");
    serde_json::from_slice(&bytes).expect("json")
}

fn props(v: &Value) -> Vec<(String, String)> {
    v["properties"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| {
                    (
                        p["name"].as_str().unwrap_or_default().to_string(),
                        p["value"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn prop_of(v: &Value, name: &str) -> Option<String> {
    props(v)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
}

#[test]
fn same_input_same_bytes_and_order_independent() {
    let a = write(&sample()).expect("a");
    assert_eq!(a, write(&sample()).expect("b"));
    assert!(a.ends_with(b"}\n"));
    // Reordering every input list changes nothing.
    let mut shuffled = sample();
    shuffled.bundle.signers.reverse();
    shuffled.models[0].files.reverse();
    shuffled.models[0].approved_targets.reverse();
    shuffled.safeguards[0].settings.reverse();
    assert_eq!(a, write(&shuffled).expect("shuffled"));
}

#[test]
fn top_level_shape() {
    let v = doc(&sample());
    assert_eq!(v["bomFormat"], "CycloneDX");
    assert_eq!(v["specVersion"], "1.6");
    assert_eq!(v["version"], 1);
    assert_eq!(v["metadata"]["timestamp"], "2026-12-01T19:40:26Z");
    assert_eq!(v["metadata"]["component"]["type"], "file");
    assert_eq!(v["metadata"]["component"]["bom-ref"], "bundle");
    assert_eq!(
        prop_of(&v["metadata"], "cdx:reproducible").as_deref(),
        Some("true")
    );
    let refs: Vec<&str> = v["components"]
        .as_array()
        .expect("components")
        .iter()
        .filter_map(|c| c["bom-ref"].as_str())
        .collect();
    assert_eq!(
        refs,
        [
            "model:model/acme-7b",
            "safeguard:safeguard/content-filter/filter.toml"
        ]
    );
    let model = &v["components"][0];
    assert_eq!(model["type"], "machine-learning-model");
    let files: Vec<&str> = model["components"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(
        files,
        ["model/acme-7b/config.json", "model/acme-7b/tokenizer.json"]
    );
    assert_eq!(
        model["modelCard"]["modelParameters"]["modelArchitecture"],
        "LlamaForCausalLM"
    );
    assert_eq!(
        model["modelCard"]["modelParameters"]["architectureFamily"],
        "llama"
    );
    assert_eq!(
        prop_of(&model["modelCard"], "airlock:config:hidden_size").as_deref(),
        Some("4096")
    );
    assert_eq!(
        prop_of(&model["modelCard"], "airlock:config:rope_scaling"),
        None
    );
    assert_eq!(
        model["modelCard"]["considerations"]["useCases"],
        json!([
            "deployment to approved target aws-secret",
            "deployment to approved target azure-top-secret"
        ])
    );
    assert_eq!(
        prop_of(model, "airlock:oms:status").as_deref(),
        Some("verified")
    );
    assert_eq!(
        prop_of(model, "airlock:oms:root_digest"),
        Some(format!("sha256:{}", "07".repeat(32)))
    );
    // The model depends on the safeguard its policy requires; the bundle on everything.
    let deps = v["dependencies"].as_array().expect("deps");
    let dep = |r: &str| deps.iter().find(|d| d["ref"] == r).cloned();
    assert_eq!(
        dep("model:model/acme-7b").expect("model dep")["dependsOn"],
        json!(["safeguard:safeguard/content-filter/filter.toml"])
    );
    assert_eq!(
        dep("bundle").expect("bundle dep")["dependsOn"],
        json!([
            "model:model/acme-7b",
            "safeguard:safeguard/content-filter/filter.toml"
        ])
    );
}

#[test]
fn properties_are_sorted_and_signers_numbered_in_order() {
    let v = doc(&sample());
    let p = props(&v["metadata"]["component"]);
    let names: Vec<&String> = p.iter().map(|(n, _)| n).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    // release sorts before transfer, so it is signer 1.
    assert_eq!(
        prop_of(&v["metadata"]["component"], "airlock:signer:1:role").as_deref(),
        Some("release")
    );
    assert_eq!(
        prop_of(&v["metadata"]["component"], "airlock:signer:2:status").as_deref(),
        Some("not-counted")
    );
    assert!(names.iter().all(|n| n.starts_with("airlock:")));
}

#[test]
fn signer_numbers_are_padded_so_name_order_is_signer_order() {
    let mut input = sample();
    let proto = input.bundle.signers[0].clone();
    input.bundle.signers = (0..11)
        .map(|i| Signer {
            key_id: format!("{i:016X}"),
            ..proto.clone()
        })
        .collect();
    let v = doc(&input);
    assert_eq!(
        prop_of(&v["metadata"]["component"], "airlock:signer:01:key_id").as_deref(),
        Some("0000000000000000")
    );
    assert_eq!(
        prop_of(&v["metadata"]["component"], "airlock:signer:11:key_id").as_deref(),
        Some("000000000000000A")
    );
}

#[test]
fn unchecked_signatures_are_stated() {
    let mut input = sample();
    input.bundle.signatures_checked = false;
    for s in &mut input.bundle.signers {
        s.status = None;
    }
    // A verified OMS signature cannot be claimed without checked signatures either.
    assert!(matches!(write(&input), Err(BomError::Inconsistent { .. })));
    if let Some(o) = &mut input.models[0].oms {
        *o = OmsCheck::not_checked("acme-7b", "model/acme-7b/model.sig", "no --trust");
    }
    let v = doc(&input);
    assert_eq!(
        prop_of(&v["components"][0], "airlock:oms:status").as_deref(),
        Some("not-checked")
    );
    assert_eq!(
        prop_of(&v["metadata"], "airlock:signatures:checked").as_deref(),
        Some("false")
    );
    assert_eq!(
        prop_of(&v["metadata"]["component"], "airlock:signer:1:status").as_deref(),
        Some("unchecked")
    );
    let desc = v["metadata"]["component"]["description"]
        .as_str()
        .expect("description");
    assert!(desc.contains("signatures NOT checked"), "{desc}");

    // Claiming a status, or a verified policy, without a check is refused.
    let mut claim = input.clone();
    claim.bundle.signers[0].status = Some("verified".into());
    assert!(matches!(write(&claim), Err(BomError::Inconsistent { .. })));
    let mut claim = input;
    claim.policy = Some(Policy {
        id: "p".into(),
        version: 1,
        expires: "2030-01-01T00:00:00Z".into(),
        path: "policy/p/policy.toml".into(),
        digests: vec![d256(9)],
        verified: true,
    });
    assert!(matches!(write(&claim), Err(BomError::Inconsistent { .. })));
    // And a check without statuses is refused too.
    let mut missing = sample();
    missing.bundle.signers[0].status = None;
    assert!(matches!(
        write(&missing),
        Err(BomError::Inconsistent { .. })
    ));
}

#[test]
fn serial_number_is_a_lowercase_v8_uuid_of_the_manifest_digest() {
    let s = serial_number(&d256(0xab), "checked");
    assert_eq!(s, serial_number(&d256(0xab), "checked"));
    assert_ne!(s, serial_number(&d256(0xac), "checked"));
    assert_ne!(s, serial_number(&d256(0xab), "unchecked"));
    assert_ne!(
        serial_number(&d384(0xab), "checked"),
        serial_number(&d256(0xab), "checked")
    );
    let uuid = s.strip_prefix("urn:uuid:").expect("prefix");
    let groups: Vec<&str> = uuid.split('-').collect();
    assert_eq!(
        groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
        [8, 4, 4, 4, 12]
    );
    assert!(
        uuid.bytes()
            .all(|c| c == b'-' || matches!(c, b'0'..=b'9' | b'a'..=b'f'))
    );
    assert!(groups[2].starts_with('8'), "version 8: {s}");
    assert!(
        matches!(groups[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'),
        "variant: {s}"
    );
    // The documented derivation, recomputed independently.
    let mut pre = b"airlock-bom-serial/1\nchecked\nSHA-256\n".to_vec();
    pre.extend_from_slice(&[0xab; 32]);
    let h = crate_hex(&Sha256::digest(&pre));
    assert_eq!(&uuid[0..8], &h[0..8]);
    assert_eq!(&uuid[9..13], &h[8..12]);
    assert_eq!(&uuid[15..18], &h[13..16]);
}

#[test]
fn rfc3339_as_the_validator_accepts_it() {
    for ok in [
        "2026-12-01T19:40:26Z",
        "2024-02-29T00:00:00Z",
        "2026-12-01T19:40:26.123456+01:00",
        "2026-12-01T23:59:59-23:59",
    ] {
        assert!(rfc3339_ok(ok), "{ok}");
    }
    for bad in [
        "2026-12-01T19:40:26",
        "2026-12-01 19:40:26Z",
        "2026-12-01",
        "2026-02-30T00:00:00Z",
        "2025-02-29T00:00:00Z",
        "2026-12-31T23:59:60Z",
        "2026-12-01t19:40:26z",
        "2026-13-01T00:00:00Z",
        "2026-12-01T24:00:00Z",
        "2026-12-01T19:40:26.Z",
        "2026-12-01T19:40:26+0100",
        "2026-12-01T19:40:26Z ",
        "+2026-12-01T19:40:26Z",
        "",
    ] {
        assert!(!rfc3339_ok(bad), "{bad}");
    }
    let mut input = sample();
    input.bundle.created = "yesterday".into();
    let err = write(&input).expect_err("bad time");
    assert!(err.to_string().contains("bundle.created"), "{err}");
}

#[test]
fn refuses_bad_digests_paths_and_duplicates() {
    let mut input = sample();
    input.models[0].files[0].digests = vec![Digest {
        alg: HashAlg::Sha384,
        hex: "ab".repeat(32),
    }];
    assert!(matches!(write(&input), Err(BomError::Digest { .. })));

    let mut input = sample();
    input.models[0].tree_digest.hex = "AB".repeat(32);
    assert!(matches!(write(&input), Err(BomError::Digest { .. })));

    let mut input = sample();
    input.models[0].files[0].digests = vec![d256(1), d256(2)];
    assert!(matches!(write(&input), Err(BomError::Digest { .. })));

    let mut input = sample();
    input.models[0].files[0].digests.clear();
    assert!(matches!(write(&input), Err(BomError::Empty { .. })));

    for bad in ["", "/abs", "a/../b", "a//b", "./a"] {
        let mut input = sample();
        input.models[0].files[0].path = bad.into();
        assert!(
            matches!(write(&input), Err(BomError::Path { .. })),
            "{bad:?}"
        );
    }

    let mut input = sample();
    input.models[0].files[1].path = "tokenizer.json".into();
    assert!(matches!(write(&input), Err(BomError::DuplicateRef { .. })));

    // A data artifact nested in the model's directory collides on a file's bom-ref.
    let mut input = sample();
    input.data.push(DataArtifact {
        name: "inner".into(),
        path: "model".into(),
        tree_digest: d256(5),
        files: vec![File {
            path: "acme-7b/config.json".into(),
            size: 1,
            digests: vec![d256(6)],
        }],
    });
    assert!(matches!(write(&input), Err(BomError::DuplicateRef { .. })));

    let mut input = sample();
    input.models[0].name.clear();
    assert!(matches!(write(&input), Err(BomError::Empty { .. })));
}

#[test]
fn cnsa2_hashes_and_encoded_names() {
    let mut input = sample();
    input.bundle.suite = Suite::Cnsa2;
    input.bundle.manifest_digest = d384(0xcd);
    input.models[0].files[0].digests = vec![d384(2), d256(2)];
    input.safeguards[0]
        .settings
        .push(("weird:key%".into(), "v".into()));
    input.data.push(DataArtifact {
        name: "corpus".into(),
        path: "data/my corpus:v1".into(),
        tree_digest: d384(8),
        files: vec![],
    });
    let v = doc(&input);
    let model = &v["components"][1];
    assert_eq!(model["bom-ref"], "model:model/acme-7b");
    let tok = &model["components"][1];
    assert_eq!(tok["hashes"][0]["alg"], "SHA-256");
    assert_eq!(tok["hashes"][1]["alg"], "SHA-384");
    let data = &v["components"][0];
    assert_eq!(data["data"][0]["contents"]["url"], "data/my%20corpus%3Av1");
    let sg = &v["components"][2];
    assert!(prop_of(sg, "airlock:safeguard:setting:weird%3Akey%25").is_some());
    assert_eq!(
        prop_of(
            &v["metadata"]["component"],
            "airlock:bundle:manifest_digest"
        ),
        Some(format!("sha384:{}", "cd".repeat(48)))
    );
}

#[test]
fn config_facts_are_bounded() {
    assert_eq!(config_text(&json!(["A", "B"])).as_deref(), Some("A, B"));
    assert_eq!(config_text(&json!(1e-5)).as_deref(), Some("0.00001"));
    assert_eq!(config_text(&json!(true)).as_deref(), Some("true"));
    assert_eq!(config_text(&json!({"a": 1})), None);
    assert_eq!(config_text(&json!([{"a": 1}])), None);
    assert_eq!(config_text(&json!([])), None);
    assert_eq!(config_text(&json!("x".repeat(MAX_CONFIG_VALUE + 1))), None);
    // A config that is not an object gives no facts, and no model card if nothing else does.
    let mut input = sample();
    input.models[0].config_json = Some(json!([1, 2]));
    input.models[0].approved_targets.clear();
    input.models[0].required_safeguards.clear();
    let v = doc(&input);
    assert!(v["components"][0].get("modelCard").is_none());
}

#[test]
fn iri_paths_are_percent_encoded() {
    assert_eq!(iri_path("data/a b/ü#?.txt"), "data/a%20b/%C3%BC%23%3F.txt");
    assert_eq!(iri_path("a-b_c.d~e/f"), "a-b_c.d~e/f");
}
