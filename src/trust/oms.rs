//! The model provider's OpenSSF Model Signing (OMS) signature: an offline verifier for signatures
//! made with a public key (`model_signing sign key`, PyPI `model-signing` 1.x; checked against
//! 1.1.1 in `tests/it/provenance.rs`), and the rules that apply it to a bundle's model artifacts
//! (`judge`): the policy names the provider's keys (`oms_keys`) and may require a signature per
//! approved model (`require_oms`). `pack` applies them to the files it packs, `verify` and
//! `unpack` to the signed manifest of an authenticated bundle (`docs/format.md` section 8.8).
//!
//! # What a signature file is
//!
//! A one-line JSON Sigstore bundle v0.3:
//!
//! ```text
//! {"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json",
//!  "verificationMaterial":{"publicKey":{"hint":"<sha256 of the key's PEM>"},"tlogEntries":[]},
//!  "dsseEnvelope":{"payload":"<base64 in-toto statement>","payloadType":"application/vnd.in-toto+json",
//!                  "signatures":[{"sig":"<base64 DER ECDSA>","keyid":""}]}}
//! ```
//!
//! The ECDSA signature covers the DSSE pre-authentication encoding (PAE) of the payload, with the
//! hash the curve implies (P-256 → SHA-256, P-384 → SHA-384). The payload is an in-toto
//! Statement v1 whose predicate (`https://model_signing/signature/v1.0`) lists every signed file
//! with its SHA-256 (`resources`), how the tree was walked (`serialization`), and whose single
//! subject carries the *root digest*: SHA-256 over the concatenated raw 32-byte file digests,
//! files in Python `PurePosixPath` order (component-wise, see [`path_cmp`]).
//!
//! # How to use it
//!
//! 1. [`OmsSignature::parse`] the signature file (size-capped, strict JSON, refuses certificate
//!    and keyless Sigstore bundles with a message saying what to ask the provider for);
//! 2. [`verify`] it against the trusted keys (SubjectPublicKeyInfo DER, ECDSA P-256/P-384): this
//!    checks the signature, then parses the signed statement strictly and recomputes its root
//!    digest;
//! 3. [`OmsStatement::check_files`] the files actually present (path + SHA-256), which makes the
//!    decision `model_signing verify key` makes on the same tree.
//!
//! [`root_digest`] computes what a signature's subject digest must be for a tree, so that a
//! policy can pin an OMS-signed model by one value.
//!
//! # Where this is stricter than `model_signing`
//!
//! Everything `model_signing` 1.1.1 writes is accepted; these hand-made or hostile shapes,
//! which the tool would accept or crash on, are refused with a named reason:
//! `ignore_paths` entries that are `.`, empty or otherwise not a clean relative path (the tool
//! treats `.` as "ignore the whole tree", so such a signature verifies *any* directory), an empty
//! resource list, resources not in canonical order or listed twice, resource names with `.`/`..`/
//! empty components or backslashes, a resource under its own recorded ignore path, digests that
//! are not 64 lowercase hex digits, more than one DSSE signature, non-canonical base64, unknown
//! fields in the statement (the predicate itself may carry extra fields: the v1.0 predicate
//! says verifiers must ignore them), `hash_type` other than `sha256` (the CLI would hash with
//! SHA-256 anyway and silently accept it), `shards` serialization, and pre-1.0 payloads.
use std::cmp::Ordering;
use std::fmt;

use crate::format::manifest::{Artifact, Kind, Manifest, files_below};
use crate::format::path::BundlePath;
use crate::trust::policy::{Decision, Policy, Violation};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P384_SHA384_ASN1, ParsedPublicKey, VerificationAlgorithm,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// Largest signature file [`OmsSignature::parse`] reads: 16 MiB.
///
/// A resource entry costs about 230 bytes once base64-encoded, so this fits roughly 70,000
/// files, far more than any model release; it bounds the memory a hostile file can make us use.
pub const MAX_SIGNATURE_BYTES: usize = 16 << 20;

/// The only bundle media type the key verifier of `model_signing` accepts.
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// DSSE payload type of an in-toto statement. `model_signing` signs the PAE built with this
/// constant, not with the envelope's `payloadType` field.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// `_type` of an in-toto Statement v1.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The model signature predicate `model_signing` >= 1.0 writes.
pub const PREDICATE_TYPE: &str = "https://model_signing/signature/v1.0";
/// The pre-1.0 (v0.2) predicate; refused.
pub const PREDICATE_TYPE_V01: &str = "https://model_signing/Digests/v0.1";
/// Paths `model_signing` ignores by default at the model root (`--ignore-git-paths`, on unless
/// `--no-ignore-git-paths`); a directory entry covers everything below it.
pub const DEFAULT_IGNORES: [&str; 4] = [".git", ".gitattributes", ".github", ".gitignore"];

/// The command to put in front of a provider whose signature airlock cannot use.
const SIGN_KEY_HINT: &str = "ask the model provider to sign with a key pair instead: \
    `model_signing sign key MODEL_DIR --private_key KEY.pem --signature model.sig` \
    (ECDSA P-256 or P-384), and to send the matching public key";

// ===================================================================== errors

/// Why a signature file was refused. `Display` says what failed and what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OmsError {
    /// The signature file is larger than [`MAX_SIGNATURE_BYTES`].
    #[error(
        "OMS signature file is {size} bytes, more than the {max}-byte limit: this is not a \
         `model_signing sign key` signature (those take about 230 bytes per signed file)"
    )]
    TooLarge {
        /// Size of the input.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Not the JSON structure of a Sigstore bundle (includes unknown fields).
    #[error(
        "OMS signature file is malformed: {detail}; expected the Sigstore bundle JSON that \
         `model_signing sign key` writes (obtain the file from the provider again, unmodified)"
    )]
    Malformed {
        /// What exactly is wrong, with the JSON path where serde gives one.
        detail: String,
    },
    /// A Sigstore keyless bundle (Fulcio certificate + Rekor transparency log entries).
    #[error(
        "this OMS signature is a Sigstore keyless signature (`model_signing sign sigstore`): \
         checking it needs the Sigstore transparency log and certificate authority, and the \
         enclave has no network to check a transparency log; {SIGN_KEY_HINT}"
    )]
    KeylessBundle,
    /// A bundle carrying an X.509 certificate chain (`model_signing sign certificate`).
    #[error(
        "this OMS signature carries an X.509 certificate chain (`model_signing sign \
         certificate`): airlock verifies OMS signatures offline against pinned public keys \
         only, and the enclave has no network to check a transparency log or certificate \
         revocation; {SIGN_KEY_HINT}"
    )]
    CertificateBundle,
    /// A media type other than v0.3.
    #[error(
        "OMS signature bundle has mediaType {found:?}; only {BUNDLE_MEDIA_TYPE:?} (what \
         model_signing >= 1.0 writes) is accepted: re-sign with a current model-signing"
    )]
    MediaType {
        /// The bundle's media type.
        found: String,
    },
    /// A `messageSignature` bundle, or no DSSE envelope.
    #[error(
        "OMS signature bundle has no dsseEnvelope (it is a plain messageSignature bundle, not \
         a model signature); {SIGN_KEY_HINT}"
    )]
    NotDsse,
    /// Not exactly one DSSE signature.
    #[error(
        "OMS signature envelope holds {count} signatures; model_signing writes exactly one: \
         use the signature file as the provider's tool wrote it"
    )]
    SignatureCount {
        /// How many there are.
        count: usize,
    },
    /// `verify` was given no keys.
    #[error(
        "no OMS public keys to verify with: the model provider's policy names them in \
         `oms_keys` (the base64 body of the `.pub` file of `openssl ec -pubout`)"
    )]
    NoKeys,
    /// A trusted key is not a DER SubjectPublicKeyInfo airlock can use.
    #[error(
        "OMS public key oms_keys[{index}] is not a valid SubjectPublicKeyInfo: {reason}; give the \
         DER (or the base64 body of the PEM) of `openssl ec -in KEY.pem -pubout`"
    )]
    KeyInvalid {
        /// Position in the `keys` slice.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A trusted key of an algorithm OMS key signatures do not use here.
    #[error(
        "OMS public key oms_keys[{index}] is {algorithm}; OMS key signatures are verified only \
         with ECDSA P-256 or P-384 keys: name the provider's EC public key instead"
    )]
    KeyUnsupported {
        /// Position in the `keys` slice.
        index: usize,
        /// The algorithm the key is for, by name or OID.
        algorithm: String,
    },
    /// The bundle names (by fingerprint) a key that is not among the trusted ones.
    #[error(
        "the OMS signature was made with the key whose fingerprint is {hint}, which is none of \
         the policy's {count} oms_keys ({known}): the policy must name the provider's public \
         key, or ask the provider which key signed this model"
    )]
    KeyNotTrusted {
        /// The bundle's `publicKey.hint`.
        hint: String,
        /// How many keys were given.
        count: usize,
        /// Their fingerprints, comma-separated.
        known: String,
    },
    /// The ECDSA signature does not verify.
    #[error(
        "the OMS signature does not verify with {tried}: the signature file or the statement \
         inside it was altered, or it was made with another key; obtain the signature again \
         from the provider"
    )]
    BadSignature {
        /// Which keys were tried, for the message.
        tried: String,
    },
    /// Signed, but the envelope's payload type is not in-toto.
    #[error(
        "the OMS envelope's payloadType is {found:?}, expected {PAYLOAD_TYPE:?}: this is not \
         a model_signing signature"
    )]
    PayloadType {
        /// The envelope's payload type.
        found: String,
    },
    /// The signed statement does not parse or lacks something (authenticated, so it was
    /// signed like this: a tool other than model_signing made it).
    #[error(
        "the signed OMS statement is malformed: {detail}; this was not written by \
         model_signing 1.x: ask the provider to re-sign with `model_signing sign key`"
    )]
    Statement {
        /// What is wrong, with the JSON path where serde gives one.
        detail: String,
    },
    /// A predicate type other than v1.0.
    #[error(
        "the signed OMS statement has predicateType {found:?}; only {PREDICATE_TYPE:?} \
         (model_signing >= 1.0) is accepted: ask the provider to re-sign with a current \
         model-signing"
    )]
    PredicateType {
        /// The statement's predicate type.
        found: String,
    },
    /// `shards` serialization (API only; not produced by the CLI).
    #[error(
        "the OMS signature hashes files in shards (serialization method \"shards\", made through \
         the model_signing Python API); airlock verifies whole-file signatures only: ask the \
         provider to sign with the CLI, `model_signing sign key`, which hashes whole files"
    )]
    Shards,
    /// A serialization method other than `files`/`shards`, or a hash other than SHA-256.
    #[error(
        "the OMS signature uses {what} {found:?}; airlock verifies only what the model_signing \
         CLI writes (method \"files\", SHA-256): ask the provider to re-sign with \
         `model_signing sign key`"
    )]
    Unsupported {
        /// Which setting.
        what: &'static str,
        /// Its value.
        found: String,
    },
    /// A single-file model (resource named `.`).
    #[error(
        "the OMS signature covers a single file, not a directory (its resource is named \".\"); \
         airlock installs model directories: ask the provider to sign the directory holding the \
         file"
    )]
    SingleFile,
    /// No resources.
    #[error(
        "the OMS signature lists no files, so it vouches for nothing (the directory was empty, \
         or everything in it was ignored when signing): ask the provider to re-sign the model \
         directory"
    )]
    EmptyManifest,
    /// An `ignore_paths` entry that ignores the whole tree.
    #[error(
        "the OMS signature's ignore_paths contains {path:?}, which model_signing reads as the \
         model directory itself: such a signature is valid for ANY directory (it was signed with \
         `--ignore-paths` naming the model directory); ask the provider to re-sign without it"
    )]
    IgnoresWholeTree {
        /// The offending entry.
        path: String,
    },
    /// A resource name or ignore path that is not a clean relative POSIX path.
    #[error(
        "the OMS signature's {what} {path:?} {reason}; model_signing writes clean relative \
         POSIX paths: this signature was edited or made by another tool"
    )]
    BadPath {
        /// "resource name" or "ignore path".
        what: &'static str,
        /// The path.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Resources out of canonical order or duplicated.
    #[error(
        "the OMS signature lists {later:?} after {earlier:?}; model_signing lists each file once, \
         in PurePosixPath order: this signature was edited or made by another tool"
    )]
    ResourceOrder {
        /// The earlier entry.
        earlier: String,
        /// The entry that should have come before it (or equals it).
        later: String,
    },
    /// A resource that its own signature's ignore_paths exclude: it can never verify.
    #[error(
        "the OMS signature lists {resource:?} but also ignores {ignore:?}, so that file can never \
         be checked: this signature was edited or made by another tool"
    )]
    IgnoredResource {
        /// The resource.
        resource: String,
        /// The ignore path covering it.
        ignore: String,
    },
    /// A digest that is not lowercase hex of the right length, or the wrong algorithm.
    #[error(
        "the OMS signature's {what} is {value:?}, expected 64 lowercase hex digits of a SHA-256: \
         this signature was edited or made by another tool"
    )]
    BadDigest {
        /// Which digest.
        what: String,
        /// Its value.
        value: String,
    },
    /// Subject digest differs from the digest of the resources.
    #[error(
        "the OMS signature is inconsistent: its subject digest is {claimed} but its files hash to \
         {computed}; this signature was made by a faulty or hostile signer: do not install"
    )]
    RootDigest {
        /// Subject digest as signed.
        claimed: String,
        /// Recomputed from the resources.
        computed: String,
    },
}

/// The first difference between a verified statement and the files actually present,
/// as [`OmsStatement::check_files`] finds it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OmsMismatch {
    /// A signed file whose content differs.
    #[error(
        "{path}: content differs from the OMS signature (sha256 {}, signed {}): the file was \
         modified after signing; obtain the model again",
        hex(.actual),
        hex(.signed)
    )]
    Modified {
        /// Model-relative path.
        path: String,
        /// Digest in the signature.
        signed: [u8; 32],
        /// Digest of the file present.
        actual: [u8; 32],
    },
    /// A file the signature does not list.
    #[error(
        "{path}: file is not covered by the OMS signature (it was added after signing); remove \
         it, or ask the provider to re-sign the model with it"
    )]
    Unlisted {
        /// Model-relative path.
        path: String,
    },
    /// A listed file that is not present.
    #[error(
        "{path}: file is in the OMS signature but missing from the model; obtain the model again"
    )]
    Missing {
        /// Model-relative path.
        path: String,
    },
    /// A listed file the verifier must ignore (a git path, or the signature file's own name),
    /// so `model_signing verify key` reports it missing.
    #[error(
        "{path}: file is in the OMS signature, but `model_signing verify key` ignores it ({rule}), \
         so the signature can never verify there; ask the provider to re-sign without \
         `--no-ignore-git-paths`, or put the signature file under another name"
    )]
    SignedButIgnored {
        /// Model-relative path.
        path: String,
        /// Why it is ignored.
        rule: String,
    },
    /// The same path was passed twice.
    #[error("{path}: listed twice in the files to check (a bug in the caller's directory walk)")]
    DuplicatePath {
        /// The path.
        path: String,
    },
    /// A path passed to `check_files` that is not a clean relative POSIX path.
    #[error(
        "{path:?}: {reason}; files to check must be '/'-separated paths relative to the model \
         root (a bug in the caller's directory walk)"
    )]
    InvalidPath {
        /// The path.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

// ================================================================ bundle JSON

// The bundle structs deny unknown fields because model_signing's pydantic models are
// `extra="forbid"`: a file the tool refuses must not pass here.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BundleJson {
    media_type: String,
    verification_material: VerificationMaterialJson,
    #[serde(default)]
    dsse_envelope: Option<EnvelopeJson>,
    #[serde(default)]
    message_signature: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct VerificationMaterialJson {
    #[serde(default)]
    public_key: Option<PublicKeyIdentifierJson>,
    // The next four are only here so that serde does not call them "unknown": bundles that
    // carry them are classified (and refused) from the raw JSON before this struct is parsed.
    #[serde(default)]
    #[allow(dead_code)]
    x509_certificate_chain: Option<Value>,
    #[serde(default)]
    #[allow(dead_code)]
    certificate: Option<Value>,
    // model_signing's reader inserts `[]` when absent, so absent is accepted.
    #[serde(default)]
    #[allow(dead_code)]
    tlog_entries: Option<Vec<Value>>,
    #[serde(default)]
    #[allow(dead_code)]
    timestamp_verification_data: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PublicKeyIdentifierJson {
    #[serde(default)]
    hint: Option<String>,
    // Protobuf-era bundles carry these; model_signing's reader deletes them before parsing.
    #[serde(default)]
    #[allow(dead_code)]
    raw_bytes: Option<Value>,
    #[serde(default)]
    #[allow(dead_code)]
    key_details: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EnvelopeJson {
    payload: String,
    payload_type: String,
    signatures: Vec<EnvelopeSignatureJson>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvelopeSignatureJson {
    sig: String,
    // Written as "" and never read by model_signing.
    #[serde(default)]
    #[allow(dead_code)]
    keyid: Option<String>,
}

// ============================================================ in-toto payload

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatementJson {
    #[serde(rename = "_type")]
    type_: String,
    subject: Vec<SubjectJson>,
    #[serde(rename = "predicateType")]
    predicate_type: String,
    // Parsed once the predicate type is known to be v1.0.
    predicate: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubjectJson {
    name: String,
    digest: SubjectDigestJson,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubjectDigestJson {
    sha256: String,
}

// Not deny_unknown_fields: the v1.0 predicate reserves other fields for extensions and says
// verifiers must ignore them (model_signing/_signing/signing.py, `Payload` docstring).
#[derive(Deserialize)]
struct PredicateJson {
    serialization: Value, // method checked first, so "shards" gets its own message
    resources: Vec<ResourceJson>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FilesSerializationJson {
    method: String,
    hash_type: String,
    allow_symlinks: bool,
    #[serde(default)]
    ignore_paths: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResourceJson {
    name: String,
    algorithm: String,
    digest: String,
}

// ================================================================ signature

/// A parsed, not yet verified, OMS signature file.
#[derive(Debug, Clone)]
pub struct OmsSignature {
    /// Decoded DSSE payload (the statement JSON). Unauthenticated until [`verify`].
    payload: Vec<u8>,
    payload_type: String,
    /// DER ECDSA signature over `pae(payload)`.
    sig: Vec<u8>,
    /// `verificationMaterial.publicKey.hint`, when present and non-empty.
    hint: Option<String>,
}

impl OmsSignature {
    /// Parses the bytes of a signature file written by `model_signing sign key`.
    ///
    /// Refuses inputs over [`MAX_SIGNATURE_BYTES`], anything but a Sigstore bundle v0.3 with
    /// `publicKey` verification material and one DSSE signature, and unknown fields anywhere in
    /// the bundle (as model_signing does). Certificate and keyless bundles are recognised first
    /// and refused with [`OmsError::CertificateBundle`] / [`OmsError::KeylessBundle`], whose
    /// messages tell the operator what to ask the provider for.
    pub fn parse(bytes: &[u8]) -> Result<Self, OmsError> {
        if bytes.len() > MAX_SIGNATURE_BYTES {
            return Err(OmsError::TooLarge {
                size: bytes.len(),
                max: MAX_SIGNATURE_BYTES,
            });
        }
        // First a loose parse, only to recognise certificate and keyless bundles: their
        // verification material has many fields this module does not model, and the operator
        // needs "wrong kind of signature", not "unknown field".
        let raw: Value = serde_json::from_slice(bytes).map_err(|e| OmsError::Malformed {
            detail: format!("not JSON ({e})"),
        })?;
        classify(&raw)?;

        // Then the strict parse, from the bytes again so that duplicate keys are refused too.
        let bundle: BundleJson =
            serde_json::from_slice(bytes).map_err(|e| OmsError::Malformed {
                detail: e.to_string(),
            })?;
        if bundle.media_type != BUNDLE_MEDIA_TYPE {
            return Err(OmsError::MediaType {
                found: bundle.media_type,
            });
        }
        let Some(public_key) = bundle.verification_material.public_key else {
            return Err(OmsError::Malformed {
                detail: "verificationMaterial has no publicKey".into(),
            });
        };
        if bundle.message_signature.is_some() {
            return Err(OmsError::NotDsse);
        }
        let Some(envelope) = bundle.dsse_envelope else {
            return Err(OmsError::NotDsse);
        };
        let [signature] = envelope.signatures.as_slice() else {
            return Err(OmsError::SignatureCount {
                count: envelope.signatures.len(),
            });
        };
        let payload = B64
            .decode(envelope.payload.as_bytes())
            .map_err(|e| OmsError::Malformed {
                detail: format!("dsseEnvelope.payload is not standard base64 ({e})"),
            })?;
        let sig = B64
            .decode(signature.sig.as_bytes())
            .map_err(|e| OmsError::Malformed {
                detail: format!("dsseEnvelope.signatures[0].sig is not standard base64 ({e})"),
            })?;
        Ok(OmsSignature {
            payload,
            payload_type: envelope.payload_type,
            sig,
            // An empty hint means "older format, no hint" to model_signing too.
            hint: public_key.hint.filter(|h| !h.is_empty()),
        })
    }

    /// The fingerprint of the signing key as the bundle states it (unauthenticated): lowercase
    /// hex SHA-256 of the key's PEM, comparable with [`key_fingerprint`]. `None` for bundles in
    /// the older format without a hint.
    pub fn key_hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// The statement bytes, NOT authenticated: only for diagnostics before [`verify`].
    pub fn unverified_payload(&self) -> &[u8] {
        &self.payload
    }
}

/// Refuses certificate-based and keyless bundles from the raw JSON.
fn classify(raw: &Value) -> Result<(), OmsError> {
    let Some(vm) = raw.get("verificationMaterial").and_then(Value::as_object) else {
        // Let the strict parse produce the precise message.
        return Ok(());
    };
    let present = |k: &str| vm.get(k).is_some_and(|v| !v.is_null());
    let tlog = vm
        .get("tlogEntries")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    // Keyless first: a Fulcio certificate always comes with a transparency-log entry or a
    // signed timestamp, and "no network" is the real reason it cannot be used.
    if present("certificate") || tlog || present("timestampVerificationData") {
        return Err(OmsError::KeylessBundle);
    }
    if present("x509CertificateChain") {
        return Err(OmsError::CertificateBundle);
    }
    Ok(())
}

/// DSSE v1 pre-authentication encoding as model_signing computes it:
/// `"DSSEv1" SP len(type) SP type SP len(payload) SP payload`, lengths in decimal bytes, with
/// the in-toto payload type constant (not the envelope's field).
pub fn pae(payload: &[u8]) -> Vec<u8> {
    let mut v = format!(
        "DSSEv1 {} {} {} ",
        PAYLOAD_TYPE.len(),
        PAYLOAD_TYPE,
        payload.len()
    )
    .into_bytes();
    v.extend_from_slice(payload);
    v
}

// ===================================================================== keys

/// The signature algorithms OMS key signatures are verified with here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// ECDSA over NIST P-256 with SHA-256 (DER signatures).
    EcdsaP256Sha256,
    /// ECDSA over NIST P-384 with SHA-384 (DER signatures).
    EcdsaP384Sha384,
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyAlgorithm::EcdsaP256Sha256 => "ECDSA P-256 with SHA-256",
            KeyAlgorithm::EcdsaP384Sha384 => "ECDSA P-384 with SHA-384",
        })
    }
}

struct TrustedKey {
    key: ParsedPublicKey,
    algorithm: KeyAlgorithm,
    fingerprint: String,
}

// DER encodings of the OIDs a SubjectPublicKeyInfo may name (content bytes only).
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const KNOWN_OIDS: &[(&[u8], &str)] = &[
    (&[0x2b, 0x81, 0x04, 0x00, 0x23], "ECDSA P-521"),
    (&[0x2b, 0x81, 0x04, 0x00, 0x0a], "ECDSA secp256k1"),
    (
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01],
        "RSA",
    ),
    (
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a],
        "RSA-PSS",
    ),
    (&[0x2b, 0x65, 0x70], "Ed25519"),
    (&[0x2b, 0x65, 0x71], "Ed448"),
    (&[0x2b, 0x65, 0x6e], "X25519"),
    (&[0x2b, 0x65, 0x6f], "X448"),
    (&[0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01], "DSA"),
    (
        &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x11],
        "ML-DSA-44",
    ),
    (
        &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x12],
        "ML-DSA-65",
    ),
    (
        &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x13],
        "ML-DSA-87",
    ),
];

/// Minimal DER reader: just enough to read the AlgorithmIdentifier of a SubjectPublicKeyInfo,
/// so that an unsupported key is refused by name instead of "does not parse".
struct Der<'a>(&'a [u8]);

impl<'a> Der<'a> {
    /// Reads one TLV with the given tag and returns its content.
    fn read(&mut self, tag: u8) -> Option<&'a [u8]> {
        let (&t, rest) = self.0.split_first()?;
        if t != tag {
            return None;
        }
        let (&l, mut rest) = rest.split_first()?;
        let len = if l < 0x80 {
            usize::from(l)
        } else {
            let n = usize::from(l & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let (len_bytes, tail) = rest.split_at(n);
            rest = tail;
            len_bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
        };
        if rest.len() < len {
            return None;
        }
        let (content, tail) = rest.split_at(len);
        self.0 = tail;
        Some(content)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Renders an OID's content bytes in dotted form, for keys of an unknown algorithm.
fn oid_dotted(oid: &[u8]) -> String {
    let mut arcs: Vec<u128> = Vec::new();
    let mut acc: u128 = 0;
    for &b in oid {
        acc = (acc << 7) | u128::from(b & 0x7f);
        if b & 0x80 == 0 {
            arcs.push(acc);
            acc = 0;
        }
        if acc > u128::MAX >> 8 {
            return "an unreadable OID".into();
        }
    }
    let Some(&first) = arcs.first() else {
        return "an empty OID".into();
    };
    let (a, b) = match first {
        0..=39 => (0, first),
        40..=79 => (1, first - 40),
        _ => (2, first - 80),
    };
    let mut s = format!("the algorithm with OID {a}.{b}");
    for arc in &arcs[1..] {
        s.push('.');
        s.push_str(&arc.to_string());
    }
    s
}

/// Reads a SubjectPublicKeyInfo's algorithm, then parses the key with aws-lc-rs.
fn parse_key(index: usize, spki: &[u8]) -> Result<TrustedKey, OmsError> {
    let invalid = |reason: &str| OmsError::KeyInvalid {
        index,
        reason: reason.into(),
    };
    let mut outer = Der(spki);
    let seq = outer
        .read(0x30)
        .ok_or_else(|| invalid("it is not a DER SEQUENCE"))?;
    if !outer.is_empty() {
        return Err(invalid("it has bytes after the DER SEQUENCE"));
    }
    let mut inner = Der(seq);
    let alg_id = inner
        .read(0x30)
        .ok_or_else(|| invalid("it has no AlgorithmIdentifier"))?;
    let mut alg = Der(alg_id);
    let oid = alg
        .read(0x06)
        .ok_or_else(|| invalid("its AlgorithmIdentifier has no OID"))?;
    // For EC keys the parameter is the named curve's OID; other algorithms have NULL or none.
    let param = if alg.is_empty() { None } else { alg.read(0x06) };
    let algorithm = if oid == OID_EC_PUBLIC_KEY {
        match param {
            Some(c) if c == OID_P256 => KeyAlgorithm::EcdsaP256Sha256,
            Some(c) if c == OID_P384 => KeyAlgorithm::EcdsaP384Sha384,
            Some(c) => {
                let name = KNOWN_OIDS
                    .iter()
                    .find(|(o, _)| *o == c)
                    .map(|(_, n)| (*n).to_string())
                    .unwrap_or_else(|| format!("an EC key on {}", oid_dotted(c)));
                return Err(OmsError::KeyUnsupported {
                    index,
                    algorithm: name,
                });
            }
            None => {
                return Err(OmsError::KeyUnsupported {
                    index,
                    algorithm: "an EC key with explicit curve parameters".into(),
                });
            }
        }
    } else {
        let name = KNOWN_OIDS
            .iter()
            .find(|(o, _)| *o == oid)
            .map(|(_, n)| (*n).to_string())
            .unwrap_or_else(|| oid_dotted(oid));
        return Err(OmsError::KeyUnsupported {
            index,
            algorithm: name,
        });
    };
    let verification: &'static dyn VerificationAlgorithm = match algorithm {
        KeyAlgorithm::EcdsaP256Sha256 => &ECDSA_P256_SHA256_ASN1,
        KeyAlgorithm::EcdsaP384Sha384 => &ECDSA_P384_SHA384_ASN1,
    };
    let key = ParsedPublicKey::new(verification, spki).map_err(|e| OmsError::KeyInvalid {
        index,
        reason: format!("aws-lc rejects it ({e})"),
    })?;
    // The fingerprint model_signing writes is over the PEM of the key as Python `cryptography`
    // re-encodes it (named curve, uncompressed point); aws-lc re-encodes the same way, so a
    // compressed-point SPKI still gets the fingerprint the tool would write.
    let canonical = key.as_der().map_err(|_| OmsError::KeyInvalid {
        index,
        reason: "aws-lc cannot re-encode it".into(),
    })?;
    let fingerprint = pem_fingerprint(canonical.as_ref());
    Ok(TrustedKey {
        key,
        algorithm,
        fingerprint,
    })
}

/// SHA-256 (lowercase hex) of the PEM `-----BEGIN PUBLIC KEY-----` text of an SPKI, exactly as
/// OpenSSL and Python `cryptography` write it: 64-column base64, LF line ends, final LF.
fn pem_fingerprint(spki_der: &[u8]) -> String {
    let b64 = B64.encode(spki_der);
    let mut pem = String::with_capacity(b64.len() + b64.len() / 64 + 64);
    pem.push_str("-----BEGIN PUBLIC KEY-----\n");
    let mut rest = b64.as_str();
    while !rest.is_empty() {
        // base64 is ASCII, so any byte index is a char boundary.
        let (line, tail) = rest.split_at(rest.len().min(64));
        pem.push_str(line);
        pem.push('\n');
        rest = tail;
    }
    pem.push_str("-----END PUBLIC KEY-----\n");
    hex(&Sha256::digest(pem.as_bytes()))
}

/// The fingerprint model_signing records for a public key (`verificationMaterial.publicKey.hint`):
/// lowercase hex SHA-256 of its PEM text, i.e. `sha256sum key.pub` of the file
/// `openssl ec -pubout` writes. Fails as [`verify`] would on the same key.
pub fn key_fingerprint(spki_der: &[u8]) -> Result<String, OmsError> {
    parse_key(0, spki_der).map(|k| k.fingerprint)
}

// ============================================================== verification

/// One signed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OmsResource {
    /// Path relative to the model root, '/'-separated.
    pub path: String,
    /// SHA-256 of its content.
    pub sha256: [u8; 32],
}

/// A verified OMS statement: which key signed it and which files it covers.
///
/// Only [`verify`] makes one, so holding one means the signature checked out; the fields are
/// read-only for that reason.
#[derive(Debug, Clone)]
pub struct OmsStatement {
    key_index: usize,
    key_fingerprint: String,
    algorithm: KeyAlgorithm,
    hint_present: bool,
    model_name: String,
    root_digest: [u8; 32],
    resources: Vec<OmsResource>,
    ignore_paths: Vec<String>,
    allow_symlinks: bool,
}

impl OmsStatement {
    /// Index in the `keys` slice of the key that verified the signature.
    pub fn key_index(&self) -> usize {
        self.key_index
    }
    /// That key's fingerprint ([`key_fingerprint`]).
    pub fn key_fingerprint(&self) -> &str {
        &self.key_fingerprint
    }
    /// That key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }
    /// Whether the bundle named its key (false: the older format, every key was tried).
    pub fn hint_present(&self) -> bool {
        self.hint_present
    }
    /// The subject name: the basename of the directory when it was signed. Signed, but
    /// model_signing never checks it: informational only, do not make decisions on it.
    pub fn model_name(&self) -> &str {
        &self.model_name
    }
    /// The root digest (the subject's sha256), equal to [`root_digest`] of the signed files.
    pub fn root_digest(&self) -> [u8; 32] {
        self.root_digest
    }
    /// The signed files, in canonical ([`path_cmp`]) order.
    pub fn resources(&self) -> &[OmsResource] {
        &self.resources
    }
    /// The ignore paths recorded at signing (sorted): anything under them is not checked,
    /// by model_signing or by [`check_files`](Self::check_files).
    pub fn ignore_paths(&self) -> &[String] {
        &self.ignore_paths
    }
    /// The signer's `--allow_symlinks` setting. Informational: [`check_files`](Self::check_files)
    /// compares content digests and leaves how links are walked to the caller.
    pub fn allow_symlinks(&self) -> bool {
        self.allow_symlinks
    }

    /// The recorded ignore paths other than the git defaults and `signature_path`: parts of the
    /// tree the signature does not cover that an operator may want to be told about.
    pub fn extra_ignore_paths(&self, signature_path: Option<&str>) -> Vec<&str> {
        self.ignore_paths
            .iter()
            .map(String::as_str)
            .filter(|p| !DEFAULT_IGNORES.contains(p) && Some(*p) != signature_path)
            .collect()
    }

    /// Makes the decision `model_signing verify key MODEL_DIR --signature SIG` makes.
    ///
    /// `files` are the regular files under the model root: path relative to it,
    /// '/'-separated, and the SHA-256 of the content. Ignored, exactly as the CLI does: the
    /// recorded `ignore_paths`, [`DEFAULT_IGNORES`], and `signature_path` (the signature file's
    /// path relative to the model root, when it lies inside the tree; `None` when it is outside).
    /// An ignore path covers itself and everything below it (component-wise: `.gitignore` is
    /// not under `.git`).
    ///
    /// Passes when the remaining files are exactly the signed ones with the signed digests.
    /// Otherwise reports the first problem, in this order: a file whose content differs, then
    /// a file the signature does not list, then a listed file that is missing (or ignored), each
    /// kind in [`path_cmp`] order.
    ///
    /// Symlinks and special files are the caller's business: the CLI refuses them unless
    /// `--allow_symlinks` (then a link to a file is hashed as its target's content).
    pub fn check_files(
        &self,
        files: &[(String, [u8; 32])],
        signature_path: Option<&str>,
    ) -> Result<(), OmsMismatch> {
        let files: Vec<(&str, Option<&[u8; 32]>)> =
            files.iter().map(|(p, d)| (p.as_str(), Some(d))).collect();
        self.check(&files, signature_path)
    }

    /// [`check_files`](Self::check_files) without content digests: the file set alone (an
    /// unlisted, a missing or an ignored-but-signed file), for callers that know names but not
    /// SHA-256 digests (a packer before it has read the files; a CNSA 2.0 bundle, whose manifest
    /// records SHA-384, before its files are extracted).
    pub fn check_names(
        &self,
        names: &[String],
        signature_path: Option<&str>,
    ) -> Result<(), OmsMismatch> {
        let files: Vec<(&str, Option<&[u8; 32]>)> =
            names.iter().map(|p| (p.as_str(), None)).collect();
        self.check(&files, signature_path)
    }

    fn check(
        &self,
        files: &[(&str, Option<&[u8; 32]>)],
        signature_path: Option<&str>,
    ) -> Result<(), OmsMismatch> {
        if let Some(sig) = signature_path {
            check_rel_path(sig).map_err(|reason| OmsMismatch::InvalidPath {
                path: sig.to_string(),
                reason,
            })?;
        }
        // Why a path is ignored, if it is (text only built for the rare SignedButIgnored).
        let ignored_by = |path: &str| -> Option<(&'static str, &str)> {
            if let Some(i) = DEFAULT_IGNORES.iter().find(|i| is_under(path, i)) {
                return Some(("git path, ignored by default:", i));
            }
            if let Some(sig) = signature_path.filter(|s| is_under(path, s)) {
                return Some(("the signature file's own path:", sig));
            }
            self.ignore_paths
                .iter()
                .find(|i| is_under(path, i))
                .map(|i| ("under the signature's ignore path", i.as_str()))
        };

        let mut present: Vec<(&str, Option<&[u8; 32]>)> = Vec::with_capacity(files.len());
        for &(path, digest) in files {
            check_rel_path(path).map_err(|reason| OmsMismatch::InvalidPath {
                path: path.to_string(),
                reason,
            })?;
            if ignored_by(path).is_none() {
                present.push((path, digest));
            }
        }
        present.sort_by(|a, b| path_cmp(a.0, b.0));
        if let Some(w) = present.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(OmsMismatch::DuplicatePath {
                path: w[0].0.to_string(),
            });
        }

        let signed = |path: &str| -> Option<&OmsResource> {
            self.resources
                .binary_search_by(|r| path_cmp(&r.path, path))
                .ok()
                .and_then(|i| self.resources.get(i))
        };
        for (path, digest) in &present {
            if let (Some(r), Some(digest)) = (signed(path), digest)
                && r.sha256 != **digest
            {
                return Err(OmsMismatch::Modified {
                    path: path.to_string(),
                    signed: r.sha256,
                    actual: **digest,
                });
            }
        }
        if let Some((path, _)) = present.iter().find(|(p, _)| signed(p).is_none()) {
            return Err(OmsMismatch::Unlisted {
                path: path.to_string(),
            });
        }
        for r in &self.resources {
            let found = present
                .binary_search_by(|(p, _)| path_cmp(p, &r.path))
                .is_ok();
            if !found {
                return Err(match ignored_by(&r.path) {
                    Some((why, which)) => OmsMismatch::SignedButIgnored {
                        path: r.path.clone(),
                        rule: format!("{why} {which:?}"),
                    },
                    None => OmsMismatch::Missing {
                        path: r.path.clone(),
                    },
                });
            }
        }
        Ok(())
    }

    /// The files of `names` that the signature does not cover because they are ignored (git
    /// paths, recorded ignore paths, the signature itself): carried, but not vouched for by the
    /// provider.
    pub fn ignored<'a>(
        &self,
        names: impl IntoIterator<Item = &'a str>,
        signature_path: Option<&str>,
    ) -> Vec<String> {
        names
            .into_iter()
            .filter(|p| {
                is_default_ignored(p)
                    || self.ignore_paths.iter().any(|i| is_under(p, i))
                    || signature_path.is_some_and(|s| is_under(p, s))
            })
            .map(str::to_string)
            .collect()
    }
}

/// Verifies `sig` with the first of `keys` (SubjectPublicKeyInfo DER, ECDSA P-256 or P-384)
/// that it verifies with, then parses and checks the signed statement.
///
/// Every key must be usable, or this fails naming it: a trust list with a wrong entry is a
/// configuration error to fix, not something to skip silently. When the bundle names its key
/// (the `hint`, an unauthenticated fingerprint), only matching keys are tried, as model_signing
/// does; without a hint every key is tried.
pub fn verify(sig: &OmsSignature, keys: &[Vec<u8>]) -> Result<OmsStatement, OmsError> {
    if keys.is_empty() {
        return Err(OmsError::NoKeys);
    }
    let trusted = keys
        .iter()
        .enumerate()
        .map(|(i, k)| parse_key(i, k))
        .collect::<Result<Vec<_>, _>>()?;
    let candidates: Vec<usize> = match &sig.hint {
        Some(hint) => {
            let c: Vec<usize> = (0..trusted.len())
                .filter(|&i| trusted.get(i).is_some_and(|k| &k.fingerprint == hint))
                .collect();
            if c.is_empty() {
                return Err(OmsError::KeyNotTrusted {
                    hint: hint.clone(),
                    count: trusted.len(),
                    known: trusted
                        .iter()
                        .map(|k| k.fingerprint.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
            c
        }
        None => (0..trusted.len()).collect(),
    };
    let message = pae(&sig.payload);
    // model_signing also retries with its v0.2 "pae_compat" encoding; v0.2 signatures carry
    // the v0.1 predicate, which is refused below anyway, so that retry is not reproduced.
    let (key_index, key) = candidates
        .iter()
        .filter_map(|&i| trusted.get(i).map(|k| (i, k)))
        .find(|(_, k)| k.key.verify_sig(&message, &sig.sig).is_ok())
        .ok_or_else(|| OmsError::BadSignature {
            tried: match (&sig.hint, candidates.as_slice()) {
                (Some(_), [i]) => format!("oms_keys[{i}], the key the signature names"),
                (Some(_), _) => format!("any of the keys it names ({candidates:?})"),
                (None, _) => format!("any of the {} oms_keys", trusted.len()),
            },
        })?;

    // Authenticated from here on.
    if sig.payload_type != PAYLOAD_TYPE {
        return Err(OmsError::PayloadType {
            found: sig.payload_type.clone(),
        });
    }
    let parsed = parse_statement(&sig.payload)?;
    Ok(OmsStatement {
        key_index,
        key_fingerprint: key.fingerprint.clone(),
        algorithm: key.algorithm,
        hint_present: sig.hint.is_some(),
        model_name: parsed.model_name,
        root_digest: parsed.root_digest,
        resources: parsed.resources,
        ignore_paths: parsed.ignore_paths,
        allow_symlinks: parsed.allow_symlinks,
    })
}

struct ParsedStatement {
    model_name: String,
    root_digest: [u8; 32],
    resources: Vec<OmsResource>,
    ignore_paths: Vec<String>,
    allow_symlinks: bool,
}

fn statement_err(detail: impl Into<String>) -> OmsError {
    OmsError::Statement {
        detail: detail.into(),
    }
}

fn parse_statement(payload: &[u8]) -> Result<ParsedStatement, OmsError> {
    let st: StatementJson =
        serde_json::from_slice(payload).map_err(|e| statement_err(e.to_string()))?;
    if st.type_ != STATEMENT_TYPE {
        return Err(statement_err(format!(
            "_type is {:?}, expected {STATEMENT_TYPE:?}",
            st.type_
        )));
    }
    if st.predicate_type != PREDICATE_TYPE {
        return Err(OmsError::PredicateType {
            found: st.predicate_type,
        });
    }
    let [subject] = st.subject.as_slice() else {
        return Err(statement_err(format!(
            "{} subjects, expected exactly one",
            st.subject.len()
        )));
    };
    let claimed = unhex32(&subject.digest.sha256).ok_or_else(|| OmsError::BadDigest {
        what: "subject digest".into(),
        value: subject.digest.sha256.clone(),
    })?;

    let pred: PredicateJson = serde_json::from_value(st.predicate)
        .map_err(|e| statement_err(format!("predicate: {e}")))?;
    let method = pred
        .serialization
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match method {
        "files" => {}
        "shards" => return Err(OmsError::Shards),
        other => {
            return Err(OmsError::Unsupported {
                what: "serialization method",
                found: other.to_string(),
            });
        }
    }
    let ser: FilesSerializationJson = serde_json::from_value(pred.serialization)
        .map_err(|e| statement_err(format!("predicate.serialization: {e}")))?;
    if ser.method != "files" {
        // Unreachable after the match above; kept so the strict struct is the authority.
        return Err(OmsError::Unsupported {
            what: "serialization method",
            found: ser.method,
        });
    }
    if ser.hash_type != "sha256" {
        return Err(OmsError::Unsupported {
            what: "hash_type",
            found: ser.hash_type,
        });
    }

    let mut ignore_paths = ser.ignore_paths.unwrap_or_default();
    for p in &ignore_paths {
        if resolves_to_root(p) {
            return Err(OmsError::IgnoresWholeTree { path: p.clone() });
        }
        check_rel_path(p).map_err(|reason| OmsError::BadPath {
            what: "ignore path",
            path: p.clone(),
            reason,
        })?;
    }
    // model_signing writes them in frozenset order, which varies between runs.
    ignore_paths.sort_by(|a, b| path_cmp(a, b));
    ignore_paths.dedup();

    if pred.resources.is_empty() {
        return Err(OmsError::EmptyManifest);
    }
    let mut root = Sha256::new();
    let mut resources: Vec<OmsResource> = Vec::with_capacity(pred.resources.len());
    for r in pred.resources {
        if r.name == "." {
            return Err(OmsError::SingleFile);
        }
        check_rel_path(&r.name).map_err(|reason| OmsError::BadPath {
            what: "resource name",
            path: r.name.clone(),
            reason,
        })?;
        if r.algorithm != "sha256" {
            return Err(OmsError::Unsupported {
                what: "resource digest algorithm",
                found: r.algorithm,
            });
        }
        let sha256 = unhex32(&r.digest).ok_or_else(|| OmsError::BadDigest {
            what: format!("digest of {:?}", r.name),
            value: r.digest.clone(),
        })?;
        if let Some(prev) = resources.last()
            && path_cmp(&prev.path, &r.name) != Ordering::Less
        {
            return Err(OmsError::ResourceOrder {
                earlier: prev.path.clone(),
                later: r.name,
            });
        }
        if let Some(i) = ignore_paths.iter().find(|i| is_under(&r.name, i)) {
            return Err(OmsError::IgnoredResource {
                resource: r.name,
                ignore: i.clone(),
            });
        }
        // In payload order, as model_signing's verifier does; the order check above makes it
        // equal to `root_digest` of the same files.
        root.update(sha256);
        resources.push(OmsResource {
            path: r.name,
            sha256,
        });
    }
    let computed: [u8; 32] = root.finalize().into();
    if computed != claimed {
        return Err(OmsError::RootDigest {
            claimed: hex(&claimed),
            computed: hex(&computed),
        });
    }
    Ok(ParsedStatement {
        model_name: subject.name.clone(),
        root_digest: computed,
        resources,
        ignore_paths,
        allow_symlinks: ser.allow_symlinks,
    })
}

// ================================================================== paths

/// Whether model_signing would turn `p` into the model directory itself: `PurePosixPath`
/// drops empty and `.` components, so "", ".", "./", "./." all mean "the whole tree".
fn resolves_to_root(p: &str) -> bool {
    p.split('/').all(|c| c.is_empty() || c == ".")
}

/// A resource name, ignore path or checked path must be a clean relative POSIX path, the only
/// form model_signing writes: no leading or trailing '/', no empty, `.` or `..` component, no
/// NUL, no backslash (which Windows would read as a separator, making the name mean another
/// file there).
fn check_rel_path(p: &str) -> Result<(), &'static str> {
    if p.is_empty() {
        return Err("is empty");
    }
    if p.starts_with('/') {
        return Err("is absolute");
    }
    if p.contains('\0') {
        return Err("contains a NUL byte");
    }
    if p.contains('\\') {
        return Err("contains a backslash");
    }
    if p.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Err("has an empty, \".\" or \"..\" component");
    }
    Ok(())
}

/// Python `PurePosixPath` ordering, which model_signing sorts its resources by: component-wise,
/// each component by code point (= UTF-8 byte order). Not plain string order: `a/b` < `a-b` <
/// `a.txt`, because the component `a` is a prefix of `a-b`.
pub fn path_cmp(a: &str, b: &str) -> Ordering {
    a.split('/').cmp(b.split('/'))
}

/// `PurePath.is_relative_to` on clean relative POSIX paths: `path` equals `prefix` or lies
/// below it, component-wise.
pub fn is_under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Whether model_signing ignores `path` by default ([`DEFAULT_IGNORES`]).
pub fn is_default_ignored(path: &str) -> bool {
    DEFAULT_IGNORES.iter().any(|i| is_under(path, i))
}

/// The OMS root digest of a set of files: SHA-256 over the concatenated raw SHA-256 digests,
/// files in [`path_cmp`] order. This is what the subject digest of a `model_signing sign key`
/// signature of that tree is.
///
/// Pass the files the signer would hash: the regular files under the model root, minus
/// [`DEFAULT_IGNORES`] ([`is_default_ignored`]) and any `--ignore-paths`. Paths are not
/// validated and duplicates are hashed as given.
pub fn root_digest(files: &[(String, [u8; 32])]) -> [u8; 32] {
    let mut sorted: Vec<&(String, [u8; 32])> = files.iter().collect();
    sorted.sort_by(|a, b| path_cmp(&a.0, &b.0));
    let mut h = Sha256::new();
    for (_, d) in sorted {
        h.update(d);
    }
    h.finalize().into()
}

/// Lowercase hex (airlock's one encoder).
pub use crate::format::digest::hex;

/// Exactly 64 lowercase hex digits → 32 bytes (model_signing writes lowercase only).
fn unhex32(s: &str) -> Option<[u8; 32]> {
    crate::format::digest::parse_hex_sha256(s)
}

// ============================================================ airlock's rules

/// The name of a model artifact's OMS signature in the bundle: `model/NAME/model.sig`, which is
/// where `model_signing verify key` looks for it (its default `--signature`, relative to the
/// model directory) once the bundle is unpacked.
pub use crate::format::manifest::OMS_SIGNATURE_FILE;

/// One of the provider's OMS verification keys, as the policy names it (`oms_keys`): parsed and
/// checked when the policy is read, so a bad key is a policy error, not a surprise at verify time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OmsKey {
    der: Vec<u8>,
    algorithm: KeyAlgorithm,
    fingerprint: String,
}

impl OmsKey {
    /// Parses `oms_keys[index]`: the base64 body of the PEM public key `openssl ec -pubout`
    /// writes (its SubjectPublicKeyInfo DER), or that whole PEM text.
    pub fn from_base64(index: usize, text: &str) -> Result<OmsKey, OmsError> {
        let body: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("-----"))
            .flat_map(|l| l.split_whitespace())
            .collect();
        let der = B64
            .decode(body.as_bytes())
            .map_err(|e| OmsError::KeyInvalid {
                index,
                reason: format!("it is not standard base64 ({e})"),
            })?;
        let parsed = parse_key(index, &der)?;
        Ok(OmsKey {
            der,
            algorithm: parsed.algorithm,
            fingerprint: parsed.fingerprint,
        })
    }

    /// The SubjectPublicKeyInfo DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// `sha256sum` of the key's `.pub` file: what model_signing records as the signature's hint.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

impl serde::Serialize for OmsKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut st = s.serialize_struct("OmsKey", 2)?;
        st.serialize_field("algorithm", &self.algorithm.to_string())?;
        st.serialize_field("fingerprint", &self.fingerprint)?;
        st.end()
    }
}

/// The files of a model artifact as model_signing sees them: paths relative to the artifact's
/// directory, with the SHA-256 of their content when it is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OmsFiles {
    /// Every file with its SHA-256: the full check `model_signing verify key` makes.
    Digests(Vec<(String, [u8; 32])>),
    /// Names only: the signature and the file set are checked, the contents are not (a packer
    /// before it has read the files; a bundle whose manifest records another digest than SHA-256,
    /// before its files are extracted and hashed).
    Names(Vec<String>),
}

impl OmsFiles {
    fn names(&self) -> Vec<&str> {
        match self {
            OmsFiles::Digests(v) => v.iter().map(|(p, _)| p.as_str()).collect(),
            OmsFiles::Names(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// The one place the receiving side gets a model's files for the OMS check, from the
/// authenticated manifest. In a classic bundle its file digests are SHA-256, the hash OMS
/// signatures use, so each signed digest is compared. A cnsa2 manifest records SHA-384 instead:
/// then the names are compared ([`OmsFiles::Names`]), and the bytes are pinned by the manifest's
/// SHA-384 digests, which `pack` recorded after checking the signed SHA-256 of the same bytes
/// (docs/format.md 10, "OMS in a cnsa2 bundle").
pub fn model_files(manifest: &Manifest, artifact: &Artifact) -> OmsFiles {
    let prefix = format!("{}/", artifact.path);
    let below = files_below(&manifest.files, &artifact.path);
    let relative = |f: &crate::format::manifest::FileEntry| {
        f.path.as_str().strip_prefix(&prefix).map(str::to_string)
    };
    if manifest.layout.suite.hash() != crate::format::digest::HashAlg::Sha256 {
        return OmsFiles::Names(below.iter().filter_map(relative).collect());
    }
    OmsFiles::Digests(
        below
            .iter()
            .filter_map(|f| {
                let sha256: [u8; 32] = f.digest.as_bytes().try_into().ok()?;
                relative(f).map(|rel| (rel, sha256))
            })
            .collect(),
    )
}

/// What the OMS check concluded about one model artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OmsStatus {
    /// The signature verified with one of the policy's `oms_keys`, and the model's files are
    /// exactly the signed ones (with `digests_checked`, with the signed SHA-256 digests).
    Verified,
    /// The model carries a signature that was not checked (the policy names no `oms_keys`, or
    /// no authenticated policy was enforced).
    NotChecked,
    /// The model carries no OMS signature.
    Absent,
}

/// The outcome of the OMS check of one model artifact (reports, `--json`, the BOM).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OmsCheck {
    /// The model artifact's name.
    pub model: String,
    /// Bundle path of the signature file, if the model carries one.
    pub signature: Option<String>,
    /// The outcome.
    pub status: OmsStatus,
    /// In words.
    pub detail: String,
    /// Index in the policy's `oms_keys` of the key that verified it.
    pub key_index: Option<usize>,
    /// That key's fingerprint (SHA-256 of its PEM, as model_signing records it).
    pub key_fingerprint: Option<String>,
    /// That key's algorithm.
    pub algorithm: Option<String>,
    /// The signature's root digest, `sha256:HEX` (what `airlock digest --oms` prints for the tree).
    pub root_digest: Option<String>,
    /// How many files the signature lists.
    pub signed_files: Option<usize>,
    /// Whether file contents were compared, or only the file set.
    pub digests_checked: bool,
    /// Files of the model the signature does not cover because it ignores them (git paths, its
    /// recorded `ignore_paths`, the signature file itself): carried, not vouched for by it.
    pub not_covered: Vec<String>,
}

impl OmsCheck {
    fn without_check(
        model: &str,
        signature: Option<String>,
        status: OmsStatus,
        detail: String,
    ) -> Self {
        OmsCheck {
            model: model.to_string(),
            signature,
            status,
            detail,
            key_index: None,
            key_fingerprint: None,
            algorithm: None,
            root_digest: None,
            signed_files: None,
            digests_checked: false,
            not_covered: Vec::new(),
        }
    }

    /// A carried signature nobody checked, and why.
    pub fn not_checked(model: &str, signature: &str, why: &str) -> Self {
        Self::without_check(
            model,
            Some(signature.to_string()),
            OmsStatus::NotChecked,
            format!("OMS signature {signature} carried, not checked: {why}"),
        )
    }
}

/// Verifies the signature file `bytes` (bundle path `signature`) of model `model` with `keys`
/// and checks `files` against it exactly as `model_signing verify key MODEL_DIR --signature
/// MODEL_DIR/model.sig` would. The error says what failed, naming the first differing, unlisted
/// or missing file.
pub fn check_signature(
    model: &str,
    signature: &str,
    bytes: &[u8],
    keys: &[OmsKey],
    files: &OmsFiles,
) -> Result<OmsCheck, String> {
    let fail = |e: &dyn std::fmt::Display| format!("model `{model}`: {signature}: {e}");
    let parsed = OmsSignature::parse(bytes).map_err(|e| fail(&e))?;
    let ders: Vec<Vec<u8>> = keys.iter().map(|k| k.der.clone()).collect();
    let st = verify(&parsed, &ders).map_err(|e| fail(&e))?;
    let sig_rel = Some(OMS_SIGNATURE_FILE);
    match files {
        OmsFiles::Digests(d) => st.check_files(d, sig_rel),
        OmsFiles::Names(n) => st.check_names(n, sig_rel),
    }
    .map_err(|e| fail(&e))?;
    let digests_checked = matches!(files, OmsFiles::Digests(_));
    let not_covered: Vec<String> = st
        .ignored(files.names(), None)
        .into_iter()
        .filter(|p| p != OMS_SIGNATURE_FILE)
        .collect();
    let root = format!("sha256:{}", hex(&st.root_digest()));
    let mut detail = format!(
        "model `{model}`: OMS signature {signature} verifies with oms_keys[{}] ({}, {}) and covers {} ({}), root {root}",
        st.key_index(),
        st.algorithm(),
        st.key_fingerprint(),
        if digests_checked {
            format!("its {} files with their SHA-256", st.resources().len())
        } else {
            format!("its set of {} files", st.resources().len())
        },
        if digests_checked {
            "as `model_signing verify key` checks them"
        } else {
            "contents not compared here"
        },
    );
    if !not_covered.is_empty() {
        detail.push_str(&format!(
            "; not covered (ignored by the signature): {}",
            not_covered.join(", ")
        ));
    }
    Ok(OmsCheck {
        model: model.to_string(),
        signature: Some(signature.to_string()),
        status: OmsStatus::Verified,
        detail,
        key_index: Some(st.key_index()),
        key_fingerprint: Some(st.key_fingerprint().to_string()),
        algorithm: Some(st.algorithm().to_string()),
        root_digest: Some(root),
        signed_files: Some(st.resources().len()),
        digests_checked,
        not_covered,
    })
}

/// The bundle path of `artifact`'s OMS signature.
pub fn signature_path(artifact: &Artifact) -> String {
    format!("{}/{OMS_SIGNATURE_FILE}", artifact.path)
}

/// Applies the policy's OMS rules to every model artifact of `manifest`:
///
/// * `oms-required`: a model whose approving `[[model]]` entry (same name and tree digest) says
///   `require_oms = true` must carry `model.sig` (with no approving entry, any entry of its name
///   that says so);
/// * `oms-signature`: a carried `model.sig` must verify with one of the policy's `oms_keys` and
///   match the model's files ([`check_signature`]); with no `oms_keys`, it is reported as not
///   checked (the policy still approved every byte of it through the tree digest).
///
/// `signatures` are the carried signature files (bundle path, bytes), `files` gives a model's
/// files ([`model_files`] on the receiving side).
pub fn judge(
    policy: &Policy,
    manifest: &Manifest,
    signatures: &[(BundlePath, Vec<u8>)],
    files: &dyn Fn(&Artifact) -> OmsFiles,
) -> Result<Vec<OmsCheck>, Violation> {
    let pid = format!("policy {} v{}", policy.id, policy.version);
    let mut out = Vec::new();
    for a in manifest.artifacts.iter().filter(|a| a.kind == Kind::Model) {
        let path = signature_path(a);
        let carried = signatures.iter().find(|(p, _)| p.as_str() == path);
        // The approving entry decides; a model no entry approves is refused by model-approval
        // anyway, and when an entry of its name requires a signature, saying that the signature
        // is missing is the more useful message (the usual cause: the spec lacks oms_signature).
        let approving = policy
            .models
            .iter()
            .find(|m| m.name == a.name && m.tree_digest == a.tree_digest);
        let required = match approving {
            Some(m) => m.require_oms,
            None => policy
                .models
                .iter()
                .any(|m| m.name == a.name && m.require_oms),
        };
        match carried {
            None if required => {
                return Err(Violation {
                    rule: "oms-required",
                    detail: format!(
                        "{pid} requires an OpenSSF model signature for model `{}` (require_oms), and the bundle carries no {path}: the release engineer names the provider's signature in the spec (oms_signature = \"FILE\")",
                        a.name
                    ),
                });
            }
            None => out.push(OmsCheck::without_check(
                &a.name,
                None,
                OmsStatus::Absent,
                format!("model `{}` carries no OMS signature", a.name),
            )),
            Some(_) if policy.oms_keys.is_empty() => out.push(OmsCheck::not_checked(
                &a.name,
                &path,
                &format!("{pid} names no oms_keys"),
            )),
            Some((_, bytes)) => {
                let check = check_signature(&a.name, &path, bytes, &policy.oms_keys, &files(a))
                    .map_err(|detail| Violation {
                        rule: "oms-signature",
                        detail,
                    })?;
                out.push(check);
            }
        }
    }
    Ok(out)
}

/// The rules that held, as policy decisions.
pub fn decisions(checks: &[OmsCheck]) -> Vec<Decision> {
    checks
        .iter()
        .filter(|c| c.status == OmsStatus::Verified)
        .map(|c| Decision {
            rule: "oms-signature",
            detail: c.detail.clone(),
        })
        .collect()
}

/// The OMS root digest of a directory as `model_signing sign key` would compute it: its regular
/// files minus the git paths model_signing ignores by default and a `model.sig` at its root.
/// `files` are (path relative to the directory, SHA-256).
pub fn tree_root_digest(files: &[(String, [u8; 32])]) -> ([u8; 32], usize) {
    let signed: Vec<(String, [u8; 32])> = files
        .iter()
        .filter(|(p, _)| !is_default_ignored(p) && p != OMS_SIGNATURE_FILE)
        .cloned()
        .collect();
    (root_digest(&signed), signed.len())
}

// ================================================================== tests

#[cfg(test)]
mod tests;
