//! Inventory out: a deterministic CycloneDX 1.6 ML-BOM (JSON) of an airlock bundle, for
//! `airlock bom` (from the signed manifest frame alone) and `airlock unpack --bom` (the same, with
//! model-card facts from the installed `config.json`). `docs/format.md` section 10.
//!
//! The `cyclonedx-bom` crate stops at spec 1.5 and cannot express model-card considerations,
//! so the subset airlock emits is written here as plain serde structs, checked in the tests by
//! the reference validator (cyclonedx-python-lib's strict 1.6 JSON schema, run by
//! `tests/it/provenance.rs` on every BOM the tests produce).
//!
//! # Shape
//!
//! * `metadata.component`: the bundle, `type: "file"` (the BOM is about one signed artifact;
//!   `application`/`container`/`data` mean other things in the schema), `bom-ref: "bundle"`,
//!   its identity, freshness, crypto suite, manifest digest and signers as `airlock:` properties.
//! * one `machine-learning-model` component per model, hashed by its tree digest, with a
//!   `modelCard` (architecture facts from `config.json`, approved targets and required
//!   safeguards as considerations) and its OMS signature status as properties;
//! * one `data` component per data artifact (`data[].type = "dataset"`), per safeguard
//!   (`"configuration"`, settings as properties) and for the policy (`"configuration"`);
//! * every file of a model or data artifact as a nested `file` component with its hashes: that
//!   is where SBOM inventory tools (Dependency-Track, `cyclonedx-cli`, GUAC) look for hashes,
//!   whereas a property holding a file list is opaque text to them;
//! * `dependencies`: the bundle depends on every top-level component; a model on the
//!   safeguards of the kinds its policy requires.
//!
//! # Determinism
//!
//! The same input gives the same bytes: `serialNumber` is derived from the manifest digest and
//! the view ([`serial_number`]), `metadata.timestamp` is the bundle's creation time, components are
//! sorted by `bom-ref` (which is derived from bundle paths), properties by name then value,
//! hashes by algorithm, dependencies by ref; JSON objects are written in struct field order,
//! two-space indented, with a trailing newline. Hence `cdx:reproducible = "true"`.
//!
//! # Property names
//!
//! The CycloneDX property taxonomy reserves the `cdx:` namespace and builds names as
//! colon-separated namespace segments (`ns:sub:name`, segments without `:`, lower case), so
//! every custom property is `airlock:<area>:<name>`. Free-form keys (safeguard settings) have
//! `%` and `:` percent-encoded so they stay one segment.
use std::collections::BTreeSet;

use crate::trust::oms::{OmsCheck, OmsStatus};

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// JSON schema URL of CycloneDX 1.6.
pub const SCHEMA_URL: &str = "http://cyclonedx.org/schema/bom-1.6.schema.json";

/// Longest `config.json` string value copied into the model card; longer ones are left out
/// so that a hostile config cannot bloat every BOM.
pub const MAX_CONFIG_VALUE: usize = 1024;

/// `config.json` keys copied into the model card as `airlock:config:<key>` properties.
/// Scalars only (arrays of scalars are joined with ", "); nested objects are left out.
pub const CONFIG_KEYS: [&str; 12] = [
    "architectures",
    "dtype",
    "hidden_size",
    "intermediate_size",
    "max_position_embeddings",
    "model_type",
    "num_attention_heads",
    "num_hidden_layers",
    "num_key_value_heads",
    "torch_dtype",
    "transformers_version",
    "vocab_size",
];

// ====================================================================== input

/// Everything the BOM says, as airlock knows it after reading (and perhaps verifying) a bundle.
#[derive(Debug, Clone, PartialEq)]
pub struct BomInput {
    /// airlock's version, for `metadata.tools`.
    pub tool_version: String,
    /// The bundle itself.
    pub bundle: BundleMeta,
    /// Model artifacts.
    pub models: Vec<Model>,
    /// Data artifacts.
    pub data: Vec<DataArtifact>,
    /// Safeguard configurations (one per safeguard file).
    pub safeguards: Vec<Safeguard>,
    /// The policy the bundle carries, if any.
    pub policy: Option<Policy>,
    /// Whether this is the BOM of an installed tree (`unpack --bom`), whose model cards come
    /// from the installed files; it implies `signatures_checked`.
    pub installed: bool,
}

/// The bundle's identity, freshness and signatures.
#[derive(Debug, Clone, PartialEq)]
pub struct BundleMeta {
    /// Bundle name.
    pub name: String,
    /// Bundle version.
    pub version: String,
    /// Rollback-protection sequence number.
    pub sequence: u64,
    /// Receiving site.
    pub target: String,
    /// Creation time, RFC 3339 (`2026-12-01T19:40:26Z`); becomes `metadata.timestamp`.
    pub created: String,
    /// Expiry, RFC 3339.
    pub expires: String,
    /// Crypto suite.
    pub suite: Suite,
    /// Digest of the signed manifest; the serial number is derived from it.
    pub manifest_digest: Digest,
    /// The bundle's signatures.
    pub signers: Vec<Signer>,
    /// Whether the signatures were checked against a trust file. When false, the document says
    /// so, and no signer status or policy verification may be claimed.
    pub signatures_checked: bool,
}

/// Crypto suite of the bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suite {
    /// Ed25519 signatures, SHA-256 digests.
    Classic,
    /// CNSA 2.0: ML-DSA signatures, SHA-384 digests.
    Cnsa2,
}

impl Suite {
    fn as_str(self) -> &'static str {
        match self {
            Suite::Classic => "classic",
            Suite::Cnsa2 => "cnsa2",
        }
    }
}

/// Hash algorithms, spelled as CycloneDX wants them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum HashAlg {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
}

impl HashAlg {
    /// The CycloneDX `hash.alg` spelling.
    pub fn cdx_name(self) -> &'static str {
        match self {
            HashAlg::Sha256 => "SHA-256",
            HashAlg::Sha384 => "SHA-384",
        }
    }
    /// The prefix airlock prints digests with (`sha256:…`).
    fn prefix(self) -> &'static str {
        match self {
            HashAlg::Sha256 => "sha256",
            HashAlg::Sha384 => "sha384",
        }
    }
    fn hex_len(self) -> usize {
        match self {
            HashAlg::Sha256 => 64,
            HashAlg::Sha384 => 96,
        }
    }
}

/// A digest: algorithm and lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    /// Algorithm.
    pub alg: HashAlg,
    /// Lowercase hex, 64 (SHA-256) or 96 (SHA-384) digits.
    pub hex: String,
}

/// One signature on the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// `release`, `policy`, `transfer`.
    pub role: String,
    /// Key id as airlock prints it.
    pub key_id: String,
    /// Signature algorithm (`ed25519`, `ml-dsa-87`, ...).
    pub algorithm: String,
    /// Outcome of the check (`verified`, `not-counted`, ...): required when signatures were
    /// checked, forbidden when they were not.
    pub status: Option<String>,
    /// Signing time the signature states, RFC 3339.
    pub signed: String,
}

/// One file of an artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// Path relative to the artifact's directory, '/'-separated.
    pub path: String,
    /// Content length.
    pub size: u64,
    /// Content digests (at least one; at most one per algorithm).
    pub digests: Vec<Digest>,
}

/// A model artifact.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// Artifact name.
    pub name: String,
    /// Its directory in the bundle (`model/acme-7b`).
    pub path: String,
    /// airlock tree digest.
    pub tree_digest: Digest,
    /// Its files.
    pub files: Vec<File>,
    /// The parsed `config.json`, if the model has one (facts for the model card; a non-object
    /// value carries no facts and is ignored).
    pub config_json: Option<Value>,
    /// Targets the policy approves this model for.
    pub approved_targets: Vec<String>,
    /// Safeguards the policy requires for this model.
    pub required_safeguards: Vec<RequiredSafeguard>,
    /// OMS signature status; `None` when the model carries no OMS signature.
    pub oms: Option<OmsCheck>,
}

/// A policy requirement for a safeguard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequiredSafeguard {
    /// Safeguard kind (`content_filter`, ...).
    pub kind: String,
    /// Minimum settings (`min_strength` = `high`, ...).
    pub settings: Vec<(String, String)>,
}

/// A data artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataArtifact {
    /// Artifact name.
    pub name: String,
    /// Its directory in the bundle.
    pub path: String,
    /// airlock tree digest.
    pub tree_digest: Digest,
    /// Its files.
    pub files: Vec<File>,
}

/// One safeguard configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Safeguard {
    /// Artifact name.
    pub name: String,
    /// Safeguard kind (`content_filter`, `audit_logging`, ...).
    pub kind: String,
    /// Bundle path of the file.
    pub path: String,
    /// Digests of the file.
    pub digests: Vec<Digest>,
    /// Its settings, values rendered as text.
    pub settings: Vec<(String, String)>,
}

/// The policy the bundle carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Policy id.
    pub id: String,
    /// Policy version.
    pub version: u64,
    /// Expiry, RFC 3339.
    pub expires: String,
    /// Bundle path of `policy.toml`.
    pub path: String,
    /// Digests of `policy.toml`.
    pub digests: Vec<Digest>,
    /// Whether the policy's signatures met the trust file's threshold (false when signatures
    /// were not checked).
    pub verified: bool,
}

// ===================================================================== errors

/// Why no BOM was written: the input would have produced an invalid or misleading document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BomError {
    /// A time that is not RFC 3339 as the schema's `date-time` check accepts it.
    #[error(
        "{field} is {value:?}, not an RFC 3339 time such as 2026-12-01T19:40:26Z (seconds \
         0-59, a 'T', and 'Z' or an offset): fix the value airlock passes"
    )]
    Timestamp {
        /// Which input field.
        field: String,
        /// Its value.
        value: String,
    },
    /// A digest that is not lowercase hex of its algorithm's length.
    #[error("{field} is not a {alg} digest ({reason}): pass lowercase hex of the full digest")]
    Digest {
        /// Which input field.
        field: String,
        /// Its algorithm.
        alg: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A required text is empty.
    #[error("{field} is empty: CycloneDX needs a name for every component")]
    Empty {
        /// Which input field.
        field: String,
    },
    /// A path that is not a clean relative '/'-separated path.
    #[error("{field} is {path:?}, which {reason}: pass bundle paths as airlock writes them")]
    Path {
        /// Which input field.
        field: String,
        /// The path.
        path: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// Two components would get the same bom-ref.
    #[error(
        "two components would both get bom-ref {bom_ref:?} (the same path listed twice, or \
         artifacts overlapping): each bundle path must appear once"
    )]
    DuplicateRef {
        /// The bom-ref.
        bom_ref: String,
    },
    /// The input claims a verification that did not happen, or omits one that did.
    #[error("{field}: {problem}")]
    Inconsistent {
        /// Which input field.
        field: String,
        /// What does not add up, and what to pass instead.
        problem: String,
    },
    /// serde_json failed (not expected for these types).
    #[error("could not serialize the BOM: {0}")]
    Serialize(String),
}

// ============================================================ CycloneDX model

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Bom {
    #[serde(rename = "$schema")]
    schema: &'static str,
    bom_format: &'static str,
    spec_version: &'static str,
    serial_number: String,
    version: u32,
    metadata: Metadata,
    components: Vec<Component>,
    dependencies: Vec<Dependency>,
}

#[derive(Serialize)]
struct Metadata {
    timestamp: String,
    tools: Tools,
    component: Component,
    properties: Vec<Property>,
}

#[derive(Serialize)]
struct Tools {
    components: Vec<Component>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Component {
    #[serde(rename = "type")]
    type_: &'static str,
    #[serde(rename = "bom-ref", skip_serializing_if = "Option::is_none")]
    bom_ref: Option<String>,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    hashes: Vec<Hash>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model_card: Option<ModelCard>,
    /// Only on `type: "data"` (the spec's prose forbids it elsewhere; the schema does not).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    data: Vec<ComponentData>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    properties: Vec<Property>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    components: Vec<Component>,
}

impl Component {
    fn new(type_: &'static str, bom_ref: Option<String>, name: String) -> Self {
        Component {
            type_,
            bom_ref,
            name,
            version: None,
            description: None,
            hashes: Vec::new(),
            model_card: None,
            data: Vec::new(),
            properties: Vec::new(),
            components: Vec::new(),
        }
    }

    fn sort_ref(&self) -> &str {
        self.bom_ref.as_deref().unwrap_or_default()
    }
}

#[derive(Serialize)]
struct Hash {
    alg: &'static str,
    content: String,
}

#[derive(Serialize)]
struct Property {
    name: String,
    value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ModelCard {
    #[serde(skip_serializing_if = "Option::is_none")]
    model_parameters: Option<ModelParameters>,
    #[serde(skip_serializing_if = "Option::is_none")]
    considerations: Option<Considerations>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    properties: Vec<Property>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ModelParameters {
    #[serde(skip_serializing_if = "Option::is_none")]
    architecture_family: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model_architecture: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Considerations {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    use_cases: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ethical_considerations: Vec<Risk>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Risk {
    name: String,
    mitigation_strategy: String,
}

#[derive(Serialize)]
struct ComponentData {
    #[serde(rename = "type")]
    type_: &'static str,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    contents: Option<DataContents>,
}

#[derive(Serialize)]
struct DataContents {
    /// An `iri-reference`: percent-encoded bundle path.
    url: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Dependency {
    #[serde(rename = "ref")]
    ref_: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    depends_on: Vec<String>,
}

// ================================================================== writing

/// Writes the BOM for `input`: CycloneDX 1.6 JSON, UTF-8, trailing newline, the same bytes for
/// the same input.
///
/// Fails, rather than writing a document the schema rejects or that claims more than was
/// checked, when a time is not RFC 3339, a digest is not hex of its length, a name or path is
/// empty or unclean, two components would share a bom-ref, or a signer status / policy
/// verification is claimed while `signatures_checked` is false.
pub fn write(input: &BomInput) -> Result<Vec<u8>, BomError> {
    let bom = build(input)?;
    let mut out =
        serde_json::to_vec_pretty(&bom).map_err(|e| BomError::Serialize(e.to_string()))?;
    out.push(b'\n');
    Ok(out)
}

fn build(input: &BomInput) -> Result<Bom, BomError> {
    let b = &input.bundle;
    let mut refs = RefSet::default();
    refs.add("bundle")?;

    check_time("bundle.created", &b.created)?;
    check_time("bundle.expires", &b.expires)?;
    check_nonempty("bundle.name", &b.name)?;
    check_nonempty("tool_version", &input.tool_version)?;
    check_digest("bundle.manifest_digest", &b.manifest_digest)?;

    let checked = b.signatures_checked;
    if input.installed && !checked {
        return Err(BomError::Inconsistent {
            field: "installed".into(),
            problem: "true although signatures_checked is false: unpack checks signatures".into(),
        });
    }
    let mut bundle_props = vec![
        prop("airlock:bundle:created", &b.created),
        prop("airlock:bundle:expires", &b.expires),
        prop(
            "airlock:bundle:manifest_digest",
            prefixed(&b.manifest_digest),
        ),
        prop("airlock:bundle:sequence", b.sequence.to_string()),
        prop("airlock:bundle:suite", b.suite.as_str()),
        prop("airlock:bundle:target", &b.target),
        prop("airlock:signatures:checked", bool_str(checked)),
    ];
    // Signers in a fixed order, numbered with a fixed width so that name order is that order.
    let mut signers: Vec<&Signer> = b.signers.iter().collect();
    signers.sort_by(|x, y| (&x.role, &x.key_id).cmp(&(&y.role, &y.key_id)));
    let width = signers.len().to_string().len();
    for (i, s) in signers.iter().enumerate() {
        let field = format!("bundle.signers[{}]", s.key_id);
        check_time(&format!("{field}.signed"), &s.signed)?;
        let status = match (&s.status, checked) {
            (Some(st), true) => st.clone(),
            (None, false) => "unchecked".to_string(),
            (Some(st), false) => {
                return Err(BomError::Inconsistent {
                    field: format!("{field}.status"),
                    problem: format!(
                        "status {st:?} is given but signatures_checked is false: pass no status \
                         when no trust file was used"
                    ),
                });
            }
            (None, true) => {
                return Err(BomError::Inconsistent {
                    field: format!("{field}.status"),
                    problem: "no status although signatures_checked is true: pass the outcome \
                              of the check (verified, not-counted, ...)"
                        .into(),
                });
            }
        };
        let n = format!("{:0width$}", i + 1);
        bundle_props.push(prop(format!("airlock:signer:{n}:algorithm"), &s.algorithm));
        bundle_props.push(prop(format!("airlock:signer:{n}:key_id"), &s.key_id));
        bundle_props.push(prop(format!("airlock:signer:{n}:role"), &s.role));
        bundle_props.push(prop(format!("airlock:signer:{n}:signed"), &s.signed));
        bundle_props.push(prop(format!("airlock:signer:{n}:status"), status));
    }
    let mut description = format!(
        "airlock bundle {} {} (sequence {}) for target {}",
        b.name, b.version, b.sequence, b.target
    );
    if !checked {
        description.push_str(
            "; signatures NOT checked (no trust file): signers, their statuses and the policy \
             are unauthenticated claims",
        );
    }
    let mut bundle = Component::new("file", Some("bundle".into()), b.name.clone());
    bundle.version = Some(b.version.clone()).filter(|v| !v.is_empty());
    bundle.description = Some(description);
    bundle.properties = sorted_props(bundle_props);

    let mut components = Vec::new();
    let mut dependencies = Vec::new();
    // bom-refs of safeguards by kind, for the models' dependencies.
    let mut safeguard_refs: Vec<(&str, String)> = Vec::new();

    for (i, s) in input.safeguards.iter().enumerate() {
        let field = format!("safeguards[{i}]");
        check_nonempty(&format!("{field}.name"), &s.name)?;
        check_nonempty(&format!("{field}.kind"), &s.kind)?;
        check_path(&format!("{field}.path"), &s.path)?;
        let bom_ref = format!("safeguard:{}", s.path);
        refs.add(&bom_ref)?;
        let mut c = Component::new("data", Some(bom_ref.clone()), s.name.clone());
        c.hashes = hashes(&format!("{field}.digests"), &s.digests)?;
        c.data = vec![ComponentData {
            type_: "configuration",
            name: s.kind.clone(),
            contents: Some(DataContents {
                url: iri_path(&s.path),
            }),
        }];
        let mut props = vec![
            prop("airlock:artifact:kind", "safeguard"),
            prop("airlock:artifact:path", &s.path),
            prop("airlock:safeguard:kind", &s.kind),
        ];
        for (k, v) in &s.settings {
            props.push(prop(format!("airlock:safeguard:setting:{}", segment(k)), v));
        }
        c.properties = sorted_props(props);
        safeguard_refs.push((s.kind.as_str(), bom_ref.clone()));
        dependencies.push(Dependency {
            ref_: bom_ref,
            depends_on: Vec::new(),
        });
        components.push(c);
    }

    if let Some(p) = &input.policy {
        check_nonempty("policy.id", &p.id)?;
        check_path("policy.path", &p.path)?;
        check_time("policy.expires", &p.expires)?;
        if p.verified && !checked {
            return Err(BomError::Inconsistent {
                field: "policy.verified".into(),
                problem: "true although signatures_checked is false: a policy cannot be \
                          verified without a trust file"
                    .into(),
            });
        }
        let bom_ref = format!("policy:{}", p.path);
        refs.add(&bom_ref)?;
        let mut c = Component::new("data", Some(bom_ref.clone()), p.id.clone());
        c.version = Some(p.version.to_string());
        c.hashes = hashes("policy.digests", &p.digests)?;
        c.data = vec![ComponentData {
            type_: "configuration",
            name: "policy.toml".into(),
            contents: Some(DataContents {
                url: iri_path(&p.path),
            }),
        }];
        c.properties = sorted_props(vec![
            prop("airlock:artifact:kind", "policy"),
            prop("airlock:artifact:path", &p.path),
            prop("airlock:policy:expires", &p.expires),
            prop("airlock:policy:id", &p.id),
            prop("airlock:policy:verified", bool_str(p.verified)),
            prop("airlock:policy:version", p.version.to_string()),
        ]);
        dependencies.push(Dependency {
            ref_: bom_ref,
            depends_on: Vec::new(),
        });
        components.push(c);
    }

    for (i, d) in input.data.iter().enumerate() {
        let field = format!("data[{i}]");
        check_nonempty(&format!("{field}.name"), &d.name)?;
        check_path(&format!("{field}.path"), &d.path)?;
        let bom_ref = format!("data:{}", d.path);
        refs.add(&bom_ref)?;
        let mut c = Component::new("data", Some(bom_ref.clone()), d.name.clone());
        c.hashes = hashes(
            &format!("{field}.tree_digest"),
            std::slice::from_ref(&d.tree_digest),
        )?;
        c.data = vec![ComponentData {
            type_: "dataset",
            name: d.name.clone(),
            contents: Some(DataContents {
                url: iri_path(&d.path),
            }),
        }];
        c.properties = sorted_props(artifact_props("data", &d.path, &d.tree_digest, &d.files));
        c.components = file_components(&field, &d.path, &d.files, &mut refs)?;
        dependencies.push(Dependency {
            ref_: bom_ref,
            depends_on: Vec::new(),
        });
        components.push(c);
    }

    for (i, m) in input.models.iter().enumerate() {
        let field = format!("models[{i}]");
        check_nonempty(&format!("{field}.name"), &m.name)?;
        check_path(&format!("{field}.path"), &m.path)?;
        let bom_ref = format!("model:{}", m.path);
        refs.add(&bom_ref)?;
        let mut c = Component::new(
            "machine-learning-model",
            Some(bom_ref.clone()),
            m.name.clone(),
        );
        c.hashes = hashes(
            &format!("{field}.tree_digest"),
            std::slice::from_ref(&m.tree_digest),
        )?;
        c.model_card = model_card(m);
        let mut props = artifact_props("model", &m.path, &m.tree_digest, &m.files);
        props.extend(oms_props(&field, m.oms.as_ref(), checked)?);
        c.properties = sorted_props(props);
        c.components = file_components(&field, &m.path, &m.files, &mut refs)?;

        let required: BTreeSet<&str> = m
            .required_safeguards
            .iter()
            .map(|r| r.kind.as_str())
            .collect();
        let mut depends_on: Vec<String> = safeguard_refs
            .iter()
            .filter(|(kind, _)| required.contains(kind))
            .map(|(_, r)| r.clone())
            .collect();
        depends_on.sort();
        depends_on.dedup();
        dependencies.push(Dependency {
            ref_: bom_ref,
            depends_on,
        });
        components.push(c);
    }

    components.sort_by(|a, b| a.sort_ref().cmp(b.sort_ref()));
    let mut top: Vec<String> = dependencies.iter().map(|d| d.ref_.clone()).collect();
    top.sort();
    dependencies.push(Dependency {
        ref_: "bundle".into(),
        depends_on: top,
    });
    dependencies.sort_by(|a, b| a.ref_.cmp(&b.ref_));

    let mut tool = Component::new("application", None, "airlock".into());
    tool.version = Some(input.tool_version.clone());

    Ok(Bom {
        schema: SCHEMA_URL,
        bom_format: "CycloneDX",
        spec_version: "1.6",
        serial_number: serial_number(&b.manifest_digest, view(input)),
        version: 1,
        metadata: Metadata {
            timestamp: b.created.clone(),
            tools: Tools {
                components: vec![tool],
            },
            component: bundle,
            properties: sorted_props(vec![
                // Registered in the CycloneDX taxonomy: no time- or random-based values.
                prop("cdx:reproducible", "true"),
                prop("airlock:signatures:checked", bool_str(checked)),
            ]),
        },
        components,
        dependencies,
    })
}

/// Properties every model and data artifact carries.
fn artifact_props(kind: &str, path: &str, tree: &Digest, files: &[File]) -> Vec<Property> {
    let bytes: u128 = files.iter().map(|f| u128::from(f.size)).sum();
    vec![
        prop("airlock:artifact:bytes", bytes.to_string()),
        prop("airlock:artifact:files", files.len().to_string()),
        prop("airlock:artifact:kind", kind),
        prop("airlock:artifact:path", path),
        // As `airlock digest` prints it, for comparison by eye or grep.
        prop("airlock:artifact:tree_digest", prefixed(tree)),
    ]
}

fn oms_props(
    field: &str,
    oms: Option<&OmsCheck>,
    checked: bool,
) -> Result<Vec<Property>, BomError> {
    let Some(o) = oms.filter(|o| o.status != OmsStatus::Absent) else {
        return Ok(vec![prop("airlock:oms:status", "absent")]);
    };
    if o.status == OmsStatus::Verified && !checked {
        return Err(BomError::Inconsistent {
            field: format!("{field}.oms.status"),
            problem: "verified although signatures_checked is false: an OMS signature is \
                      checked against the keys of an authenticated policy only"
                .into(),
        });
    }
    let mut v = vec![
        prop(
            "airlock:oms:status",
            match o.status {
                OmsStatus::Verified => "verified",
                _ => "not-checked",
            },
        ),
        prop("airlock:oms:detail", &o.detail),
    ];
    if let Some(r) = &o.root_digest {
        v.push(prop("airlock:oms:root_digest", r));
    }
    if let Some(i) = o.key_index {
        v.push(prop("airlock:oms:key_index", i.to_string()));
    }
    if let Some(f) = &o.key_fingerprint {
        v.push(prop("airlock:oms:key_fingerprint", f));
    }
    if let Some(a) = &o.algorithm {
        v.push(prop("airlock:oms:algorithm", a));
    }
    if let Some(n) = o.signed_files {
        v.push(prop("airlock:oms:signed_files", n.to_string()));
        v.push(prop(
            "airlock:oms:digests_checked",
            bool_str(o.digests_checked),
        ));
    }
    for p in &o.not_covered {
        v.push(prop("airlock:oms:not_covered", p));
    }
    if let Some(p) = &o.signature {
        check_path(&format!("{field}.oms.signature"), p)?;
        v.push(prop("airlock:oms:signature", p));
    }
    Ok(v)
}

fn file_components(
    field: &str,
    root: &str,
    files: &[File],
    refs: &mut RefSet,
) -> Result<Vec<Component>, BomError> {
    let mut out = Vec::with_capacity(files.len());
    for (i, f) in files.iter().enumerate() {
        let ff = format!("{field}.files[{i}]");
        check_path(&format!("{ff}.path"), &f.path)?;
        if f.digests.is_empty() {
            return Err(BomError::Empty {
                field: format!("{ff}.digests"),
            });
        }
        let bundle_path = format!("{root}/{}", f.path);
        let bom_ref = format!("file:{bundle_path}");
        refs.add(&bom_ref)?;
        let mut c = Component::new("file", Some(bom_ref), bundle_path);
        c.hashes = hashes(&format!("{ff}.digests"), &f.digests)?;
        c.properties = vec![prop("airlock:file:size", f.size.to_string())];
        out.push(c);
    }
    out.sort_by(|a, b| a.sort_ref().cmp(b.sort_ref()));
    Ok(out)
}

fn model_card(m: &Model) -> Option<ModelCard> {
    let config = m.config_json.as_ref().and_then(Value::as_object);
    let mut props = Vec::new();
    let mut family = None;
    let mut architecture = None;
    if let Some(cfg) = config {
        for key in CONFIG_KEYS {
            let Some(text) = cfg.get(key).and_then(config_text) else {
                continue;
            };
            if key == "model_type" {
                family = Some(text.clone());
            }
            if key == "architectures" {
                architecture = Some(text.clone());
            }
            props.push(prop(format!("airlock:config:{key}"), text));
        }
    }
    let mut use_cases = Vec::new();
    let mut targets: Vec<&String> = m.approved_targets.iter().collect();
    targets.sort();
    targets.dedup();
    for t in targets {
        use_cases.push(format!("deployment to approved target {t}"));
        props.push(prop("airlock:policy:approved_target", t));
    }
    let mut risks = Vec::new();
    for r in &m.required_safeguards {
        let mut settings: Vec<String> =
            r.settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
        settings.sort();
        let spec = if settings.is_empty() {
            r.kind.clone()
        } else {
            format!("{} ({})", r.kind, settings.join(", "))
        };
        risks.push(Risk {
            name: format!("operation without the required safeguard {}", r.kind),
            mitigation_strategy: format!(
                "required by the deployment policy before this model is used: safeguard {spec}"
            ),
        });
        props.push(prop("airlock:policy:required_safeguard", spec));
    }
    risks.sort_by(|a, b| (&a.name, &a.mitigation_strategy).cmp(&(&b.name, &b.mitigation_strategy)));
    let parameters = (family.is_some() || architecture.is_some()).then_some(ModelParameters {
        architecture_family: family,
        model_architecture: architecture,
    });
    let considerations = (!use_cases.is_empty() || !risks.is_empty()).then_some(Considerations {
        use_cases,
        ethical_considerations: risks,
    });
    if parameters.is_none() && considerations.is_none() && props.is_empty() {
        return None;
    }
    Some(ModelCard {
        model_parameters: parameters,
        considerations,
        properties: sorted_props(props),
    })
}

/// A `config.json` value as property text: scalars, or arrays of scalars joined with ", ".
fn config_text(v: &Value) -> Option<String> {
    let scalar = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(bool_str(*b).to_string()),
        _ => None,
    };
    let text = match v {
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(scalar)
            .collect::<Option<Vec<_>>>()?
            .join(", "),
        other => scalar(other)?,
    };
    (text.len() <= MAX_CONFIG_VALUE).then_some(text)
}

// =================================================================== helpers

/// Which document about a bundle a BOM is: `unchecked` (`airlock bom` without `--trust`),
/// `checked` (with it) or `installed` (`unpack --bom`). Part of the serial number, because the
/// three say different things about the same bundle and CycloneDX identifies a document by its
/// serial number and version.
fn view(input: &BomInput) -> &'static str {
    match (input.installed, input.bundle.signatures_checked) {
        (true, _) => "installed",
        (false, true) => "checked",
        (false, false) => "unchecked",
    }
}

/// The BOM's serial number, derived from the manifest digest so that the same bundle always
/// gets the same one (per view, see below): an RFC 9562 version 8 (custom) UUID whose 122 free
/// bits are the first bits of
/// `SHA-256("airlock-bom-serial/1\n" || VIEW || "\n" || alg || "\n" || digest bytes)`, where
/// VIEW is `unchecked`, `checked` or `installed`, `alg` is `SHA-256` or `SHA-384` and the digest
/// bytes are the raw (not hex) manifest digest; then the version nibble is set to 8 and the
/// variant bits to `10`. Lowercase, `urn:uuid:` prefix, as the schema's pattern requires.
/// Reproducible in a shell:
/// `(printf 'airlock-bom-serial/1\nchecked\nSHA-256\n'; printf HEX | xxd -r -p) | sha256sum`.
///
/// Not v5: that is SHA-1, which CNSA-minded crypto reviews flag wherever it appears.
pub fn serial_number(manifest_digest: &Digest, view: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"airlock-bom-serial/1\n");
    h.update(view.as_bytes());
    h.update(b"\n");
    h.update(manifest_digest.alg.cdx_name().as_bytes());
    h.update(b"\n");
    h.update(unhex(&manifest_digest.hex));
    let full: [u8; 32] = h.finalize().into();
    let mut b = [0u8; 16];
    b.copy_from_slice(&full[..16]);
    b[6] = (b[6] & 0x0f) | 0x80; // version 8
    b[8] = (b[8] & 0x3f) | 0x80; // variant 10xx
    let x = crate_hex(&b);
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &x[0..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    )
}

#[derive(Default)]
struct RefSet(BTreeSet<String>);

impl RefSet {
    fn add(&mut self, r: &str) -> Result<(), BomError> {
        if self.0.insert(r.to_string()) {
            Ok(())
        } else {
            Err(BomError::DuplicateRef {
                bom_ref: r.to_string(),
            })
        }
    }
}

fn prop(name: impl Into<String>, value: impl Into<String>) -> Property {
    Property {
        name: name.into(),
        value: value.into(),
    }
}

fn sorted_props(mut v: Vec<Property>) -> Vec<Property> {
    v.sort_by(|a, b| (&a.name, &a.value).cmp(&(&b.name, &b.value)));
    v
}

fn bool_str(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

fn prefixed(d: &Digest) -> String {
    format!("{}:{}", d.alg.prefix(), d.hex)
}

/// Hashes sorted by algorithm, at most one per algorithm.
fn hashes(field: &str, digests: &[Digest]) -> Result<Vec<Hash>, BomError> {
    let mut sorted: Vec<&Digest> = digests.iter().collect();
    sorted.sort_by_key(|d| d.alg);
    let mut out: Vec<Hash> = Vec::with_capacity(sorted.len());
    for (i, d) in sorted.iter().enumerate() {
        check_digest(field, d)?;
        if i > 0 && sorted.get(i - 1).map(|p| p.alg) == Some(d.alg) {
            return Err(BomError::Digest {
                field: field.to_string(),
                alg: d.alg.cdx_name(),
                reason: "given twice".into(),
            });
        }
        out.push(Hash {
            alg: d.alg.cdx_name(),
            content: d.hex.clone(),
        });
    }
    Ok(out)
}

fn check_digest(field: &str, d: &Digest) -> Result<(), BomError> {
    let err = |reason: String| BomError::Digest {
        field: field.to_string(),
        alg: d.alg.cdx_name(),
        reason,
    };
    if d.hex.len() != d.alg.hex_len() {
        return Err(err(format!(
            "{} hex digits, expected {}",
            d.hex.len(),
            d.alg.hex_len()
        )));
    }
    if !d
        .hex
        .bytes()
        .all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(err("not lowercase hex".into()));
    }
    Ok(())
}

fn check_nonempty(field: &str, v: &str) -> Result<(), BomError> {
    if v.is_empty() {
        Err(BomError::Empty {
            field: field.to_string(),
        })
    } else {
        Ok(())
    }
}

/// Bundle and artifact-relative paths: non-empty, relative, '/'-separated, no empty, `.` or
/// `..` components, no NUL or backslash. They become bom-refs, so they must be unambiguous.
fn check_path(field: &str, p: &str) -> Result<(), BomError> {
    let reason = if p.is_empty() {
        "is empty"
    } else if p.starts_with('/') {
        "is absolute"
    } else if p.contains('\0') || p.contains('\\') {
        "contains a NUL or a backslash"
    } else if p.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        "has an empty, \".\" or \"..\" component"
    } else {
        return Ok(());
    };
    Err(BomError::Path {
        field: field.to_string(),
        path: p.to_string(),
        reason,
    })
}

/// RFC 3339 `date-time` as the schema's checker (rfc3339-validator) accepts it, in the
/// canonical upper-case form: `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`, real calendar dates,
/// seconds 0-59 (the checker rejects leap second 60).
fn check_time(field: &str, v: &str) -> Result<(), BomError> {
    if rfc3339_ok(v) {
        Ok(())
    } else {
        Err(BomError::Timestamp {
            field: field.to_string(),
            value: v.to_string(),
        })
    }
}

fn rfc3339_ok(v: &str) -> bool {
    let b = v.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let s = b.get(r)?;
        if s.iter().all(u8::is_ascii_digit) {
            std::str::from_utf8(s).ok()?.parse().ok()
        } else {
            None
        }
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(at(4, b'-') && at(7, b'-') && at(10, b'T') && at(13, b':') && at(16, b':')) {
        return false;
    }
    let (Some(year), Some(month), Some(day), Some(hour), Some(min), Some(sec)) = (
        num(0..4),
        num(5..7),
        num(8..10),
        num(11..13),
        num(14..16),
        num(17..19),
    ) else {
        return false;
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    if day == 0 || day > days || hour > 23 || min > 59 || sec > 59 {
        return false;
    }
    let mut i = 19;
    if at(i, b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match b.get(i) {
        Some(b'Z') => i + 1 == b.len(),
        Some(b'+' | b'-') => {
            i + 6 == b.len()
                && at(i + 3, b':')
                && num(i + 1..i + 3).is_some_and(|h| h <= 23)
                && num(i + 4..i + 6).is_some_and(|m| m <= 59)
        }
        _ => false,
    }
}

/// A bundle path as an `iri-reference`: every byte outside the unreserved set and '/'
/// percent-encoded, so spaces, '%', '#', '?', non-ASCII and a ':' in the first segment
/// (which would read as a scheme) cannot break it.
fn iri_path(p: &str) -> String {
    let mut s = String::with_capacity(p.len());
    for &c in p.as_bytes() {
        if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'/') {
            s.push(char::from(c));
        } else {
            s.push_str(&format!("%{c:02X}"));
        }
    }
    s
}

/// A free-form key as one property-name segment: '%' and ':' percent-encoded (reversibly).
fn segment(k: &str) -> String {
    k.replace('%', "%25").replace(':', "%3A")
}

fn crate_hex(bytes: &[u8]) -> String {
    crate::format::digest::hex(bytes)
}

/// Hex → bytes for an already validated digest (invalid pairs become 0; never reached after
/// `check_digest`).
fn unhex(s: &str) -> Vec<u8> {
    s.as_bytes()
        .chunks(2)
        .map(|p| {
            std::str::from_utf8(p)
                .ok()
                .and_then(|t| u8::from_str_radix(t, 16).ok())
                .unwrap_or(0)
        })
        .collect()
}

// ============================================================ from a bundle

/// What the receiving side's checks concluded, for a BOM made with a trust file: every manifest
/// signature as judged, and the policy's outcome (its OMS checks among it).
pub struct Checked<'a> {
    /// The bundle's signatures as the trust file judged them.
    pub signers: &'a [crate::trust::trust_file::SignerReport],
    /// The policy's signatures, rules and OMS checks.
    pub policy: &'a crate::trust::enforce::PolicyOutcome,
}

/// Model-card facts: each model artifact's parsed `config.json`, by artifact name. Empty for
/// `airlock bom`, which reads no payload; filled by `unpack --bom` from the installed files.
pub type Configs = std::collections::BTreeMap<String, Value>;

/// The BOM input for `signed`: everything from its manifest frame (manifest, policy and safeguard
/// copies, OMS signatures), the checks' conclusions when `checked` is given, and the model cards'
/// `configs`. `installed` marks the BOM of an installed tree.
pub fn input_of(
    signed: &crate::container::SignedManifest,
    checked: Option<&Checked<'_>>,
    configs: &Configs,
    installed: bool,
) -> crate::Result<BomInput> {
    use crate::format::manifest::Kind;
    let m = &signed.manifest;
    let governed = crate::trust::enforce::load_governed(&signed.frame.copies)
        .map_err(|e| crate::Error::rejected(&signed.path, crate::error::Check::Policy, e))?;
    let sha = |d: &crate::format::digest::Digest| Digest {
        alg: match d.alg() {
            crate::format::digest::HashAlg::Sha256 => HashAlg::Sha256,
            crate::format::digest::HashAlg::Sha384 => HashAlg::Sha384,
        },
        hex: d.hex(),
    };
    let file_digest = |path: &str| {
        m.files
            .iter()
            .find(|f| f.path.as_str() == path)
            .map(|f| vec![sha(&f.digest)])
            .unwrap_or_default()
    };
    let signers = signed
        .signatures
        .iter()
        .map(|s| Signer {
            role: s.comment.role.as_str().to_string(),
            key_id: s.key_id.clone(),
            algorithm: s.algorithm.to_string(),
            status: checked.map(|c| {
                c.signers
                    .iter()
                    .find(|r| r.file == s.file_name)
                    .and_then(|r| serde_json::to_value(r.status).ok())
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_else(|| "not-evaluated".into())
            }),
            signed: s.comment.signed.to_string(),
        })
        .collect();
    let policy_verified = checked.is_some_and(|c| c.policy.enforced);
    let carried = governed.policy.as_ref();
    let files_of = |a: &crate::format::manifest::Artifact| -> Vec<File> {
        let prefix = format!("{}/", a.path);
        crate::format::manifest::files_below(&m.files, &a.path)
            .iter()
            .filter_map(|f| {
                Some(File {
                    path: f.path.as_str().strip_prefix(&prefix)?.to_string(),
                    size: f.size,
                    digests: vec![sha(&f.digest)],
                })
            })
            .collect()
    };
    let mut models = Vec::new();
    let mut data = Vec::new();
    for a in &m.artifacts {
        match a.kind {
            Kind::Model => {
                let policy = carried.map(|c| &c.policy);
                let approved_targets = policy
                    .into_iter()
                    .flat_map(|p| &p.models)
                    .filter(|am| am.name == a.name && am.tree_digest == a.tree_digest)
                    .flat_map(|am| am.targets.iter().cloned())
                    .collect();
                let required_safeguards = policy
                    .into_iter()
                    .flat_map(|p| &p.requirements)
                    .filter(|r| {
                        (r.target == "*" || r.target == m.bundle.target)
                            && (r.model == "*" || r.model == a.name)
                    })
                    .map(|r| RequiredSafeguard {
                        kind: r.minimum.kind().to_string(),
                        settings: settings_of(&r.minimum),
                    })
                    .collect();
                let sig = crate::trust::oms::signature_path(a);
                let carries = governed
                    .oms_signatures
                    .iter()
                    .any(|(p, _)| p.as_str() == sig);
                let oms = match checked {
                    Some(c) if c.policy.enforced => {
                        c.policy.oms.iter().find(|o| o.model == a.name).cloned()
                    }
                    Some(_) if carries => Some(OmsCheck::not_checked(
                        &a.name,
                        &sig,
                        "the trust file pins no policy keys, so the policy's oms_keys are not authenticated",
                    )),
                    None if carries => Some(OmsCheck::not_checked(
                        &a.name,
                        &sig,
                        "no trust file given: signatures not checked",
                    )),
                    _ => None,
                };
                models.push(Model {
                    name: a.name.clone(),
                    path: a.path.to_string(),
                    tree_digest: sha(&a.tree_digest),
                    files: files_of(a),
                    config_json: configs.get(&a.name).cloned(),
                    approved_targets,
                    required_safeguards,
                    oms,
                });
            }
            Kind::Data => data.push(DataArtifact {
                name: a.name.clone(),
                path: a.path.to_string(),
                tree_digest: sha(&a.tree_digest),
                files: files_of(a),
            }),
            Kind::Safeguard | Kind::Policy | Kind::Trust => {}
        }
    }
    let safeguards = governed
        .safeguards
        .iter()
        .map(|(path, sg)| Safeguard {
            name: path.split('/').nth(1).unwrap_or_default().to_string(),
            kind: sg.kind().to_string(),
            path: path.clone(),
            digests: file_digest(path),
            settings: settings_of(sg),
        })
        .collect();
    let policy = carried.map(|c| Policy {
        id: c.policy.id.clone(),
        version: c.policy.version,
        expires: c.policy.expires.to_string(),
        path: c.path.to_string(),
        digests: vec![sha(&m.layout.suite.hash().digest(&c.bytes))],
        verified: policy_verified,
    });
    Ok(BomInput {
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        bundle: BundleMeta {
            name: m.bundle.name.clone(),
            version: m.bundle.version.clone(),
            sequence: m.bundle.sequence,
            target: m.bundle.target.clone(),
            created: m.bundle.created.to_string(),
            expires: m.bundle.expires.to_string(),
            suite: match m.layout.suite {
                crate::format::manifest::Suite::Classic => Suite::Classic,
                crate::format::manifest::Suite::Cnsa2 => Suite::Cnsa2,
            },
            manifest_digest: sha(&signed.manifest_digest),
            signers,
            signatures_checked: checked.is_some(),
        },
        models,
        data,
        safeguards,
        policy,
        installed,
    })
}

/// The settings of a safeguard config or a policy minimum, as (key, text) pairs: its serde
/// fields except the `kind` tag, lists joined with ", ", absent values left out.
fn settings_of(value: &impl Serialize) -> Vec<(String, String)> {
    let Ok(Value::Object(map)) = serde_json::to_value(value) else {
        return Vec::new();
    };
    map.into_iter()
        .filter(|(k, _)| k != "kind")
        .filter_map(|(k, v)| {
            let text = match v {
                Value::Null => return None,
                Value::Array(items) => items
                    .iter()
                    .map(|i| match i {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                Value::String(s) => s,
                other => other.to_string(),
            };
            Some((k, text))
        })
        .collect()
}

/// The BOM of `signed` (see [`input_of`]), as the bytes [`write`] produces.
pub fn bom_of(
    signed: &crate::container::SignedManifest,
    checked: Option<&Checked<'_>>,
    configs: &Configs,
    installed: bool,
) -> crate::Result<Vec<u8>> {
    let input = input_of(signed, checked, configs, installed)?;
    write(&input)
        .map_err(|e| crate::Error::Internal(format!("the BOM of {}: {e}", signed.path.display())))
}

#[cfg(test)]
mod tests;
