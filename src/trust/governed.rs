//! The policy, safeguard and trust-update files a bundle carries, parsed: from the sources at pack time, from
//! the manifest frame's copies on the receiving side (once the manifest that pins their digests is
//! authenticated), and for display by `inspect` (marked unverified, never evaluated). Parsing only:
//! `enforce` applies them.
use crate::format::digest::HashAlg;
use crate::format::manifest::{Kind, PolicyRef};
use crate::format::path::BundlePath;
use crate::trust::policy::{POLICY_FILE, Policy};
use crate::trust::safeguards::Safeguard;

/// The policy a bundle carries.
#[derive(Debug, Clone)]
pub struct CarriedPolicy {
    /// Parsed policy.
    pub policy: Policy,
    /// Bundle path of `policy.toml`.
    pub path: BundlePath,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Detached signatures over it: (bundle path, bytes).
    pub signatures: Vec<(BundlePath, Vec<u8>)>,
}

impl CarriedPolicy {
    /// The manifest's `[policy]` section for this policy, its digest with `alg` (the suite's).
    pub fn reference(&self, alg: HashAlg) -> PolicyRef {
        PolicyRef {
            id: self.policy.id.clone(),
            version: self.policy.version,
            expires: self.policy.expires,
            path: self.path.clone(),
            digest: alg.digest(&self.bytes),
        }
    }
}

/// A trust-file update a bundle carries (an artifact of kind `trust`): the trust file and the
/// root signatures beside it. Applied only by `unpack --apply-trust`, under the rotation rules.
#[derive(Debug, Clone)]
pub struct CarriedTrust {
    /// Bundle path of the trust file.
    pub path: BundlePath,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Root signatures over it: (bundle path, bytes).
    pub signatures: Vec<(BundlePath, Vec<u8>)>,
}

impl CarriedTrust {
    /// The update, as `trust::rotation` judges it; `bundle` names where it came from.
    pub fn update(&self, bundle: &std::path::Path) -> crate::trust::rotation::TrustUpdate {
        let name = |p: &BundlePath| p.as_str().rsplit('/').next().unwrap_or("").to_string();
        crate::trust::rotation::TrustUpdate {
            origin: std::path::PathBuf::from(format!("{}:{}", bundle.display(), self.path)),
            name: name(&self.path),
            bytes: self.bytes.clone(),
            signatures: self
                .signatures
                .iter()
                .map(|(p, b)| (name(p), b.clone()))
                .collect(),
        }
    }
}

/// Policy, safeguards and a trust update carried by a bundle.
/// Policy, safeguards and OMS signatures carried by a bundle.
#[derive(Debug, Clone, Default)]
pub struct Governed {
    /// The policy, if any.
    pub policy: Option<CarriedPolicy>,
    /// Safeguard configs: (bundle path, parsed).
    pub safeguards: Vec<(String, Safeguard)>,
    /// A trust-file update, if any.
    pub trust: Option<CarriedTrust>,
    /// Model artifacts' OpenSSF model signatures, `model/NAME/model.sig`: (bundle path, bytes),
    /// judged by `trust::oms::judge` against the policy's `oms_keys`.
    pub oms_signatures: Vec<(BundlePath, Vec<u8>)>,
}

/// Parses the governed files (policy and safeguard artifacts) of a bundle.
pub fn load_governed(files: &[(BundlePath, Vec<u8>)]) -> std::result::Result<Governed, String> {
    let mut governed = Governed::default();
    let mut signatures = Vec::new();
    let mut trust_files = Vec::new();
    for (path, bytes) in files {
        let mut parts = path.as_str().splitn(3, '/');
        let (kind, artifact, rest) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        let text = || std::str::from_utf8(bytes).map_err(|_| format!("`{path}` is not UTF-8 text"));
        if kind == Kind::Trust.as_str() {
            if rest.contains('/') {
                return Err(format!(
                    "`{path}`: a trust artifact holds one trust file and its root signatures, no directories"
                ));
            }
            trust_files.push((
                artifact.to_string(),
                rest.to_string(),
                path.clone(),
                bytes.clone(),
            ));
        } else if crate::format::manifest::is_oms_signature(path) {
            // Parsed and judged by `trust::oms` once the policy names the keys to judge it with.
            governed.oms_signatures.push((path.clone(), bytes.clone()));
        } else if kind == Kind::Safeguard.as_str() {
            if !rest.ends_with(".toml") {
                return Err(format!(
                    "`{path}`: safeguard artifacts hold only .toml configs"
                ));
            }
            governed
                .safeguards
                .push((path.to_string(), Safeguard::parse(path.as_str(), text()?)?));
        } else if rest == POLICY_FILE {
            if let Some(other) = &governed.policy {
                return Err(format!(
                    "the bundle carries two policies: `{}` and `{path}`",
                    other.path
                ));
            }
            let policy = Policy::parse(text()?).map_err(|e| format!("`{path}`: {e}"))?;
            governed.policy = Some(CarriedPolicy {
                policy,
                path: path.clone(),
                bytes: bytes.clone(),
                signatures: Vec::new(),
            });
        } else if (rest.ends_with(".minisig") || rest.ends_with(".mldsa87")) && !rest.contains('/')
        {
            signatures.push((artifact.to_string(), path.clone(), bytes.clone()));
        } else {
            return Err(format!(
                "`{path}`: a policy artifact holds only {POLICY_FILE} and signatures over it (*.minisig, NAME-KEYID.mldsa87)"
            ));
        }
    }
    governed.trust = carried_trust(trust_files)?;
    if let Some(p) = &mut governed.policy {
        let artifact = p.path.as_str().split('/').nth(1).unwrap_or("").to_string();
        for (a, path, bytes) in signatures {
            if a != artifact {
                return Err(format!(
                    "`{path}` is a policy signature outside the policy artifact"
                ));
            }
            p.signatures.push((path, bytes));
        }
    } else if let Some((_, path, _)) = signatures.first() {
        return Err(format!(
            "`{path}`: policy signature without a {POLICY_FILE}"
        ));
    }
    Ok(governed)
}

/// The trust update among a bundle's `trust/ARTIFACT/NAME` files: one artifact, holding one
/// `*.toml` trust file and only root signatures named after it (`NAME.root-KEYID.minisig` or
/// `.mldsa87`).
fn carried_trust(
    files: Vec<(String, String, BundlePath, Vec<u8>)>,
) -> std::result::Result<Option<CarriedTrust>, String> {
    let Some((artifact, ..)) = files.first() else {
        return Ok(None);
    };
    let artifact = artifact.clone();
    if let Some((other, _, path, _)) = files.iter().find(|f| f.0 != artifact) {
        return Err(format!(
            "the bundle carries two trust updates: trust/{artifact} and trust/{other} (`{path}`)"
        ));
    }
    let tomls: Vec<_> = files.iter().filter(|f| f.1.ends_with(".toml")).collect();
    let [(_, name, path, bytes)] = tomls.as_slice() else {
        return Err(format!(
            "the trust artifact trust/{artifact} holds {} .toml files; it holds exactly one trust file",
            tomls.len()
        ));
    };
    let mut carried = CarriedTrust {
        path: path.clone(),
        bytes: bytes.clone(),
        signatures: Vec::new(),
    };
    for (_, file, path, bytes) in &files {
        if file == name {
            continue;
        }
        if crate::format::signature::parse_trust_signature_name(name, file).is_none() {
            return Err(format!(
                "`{path}`: a trust artifact holds its trust file and root signatures named {name}.root-KEYID.minisig or .mldsa87 only"
            ));
        }
        carried.signatures.push((path.clone(), bytes.clone()));
    }
    Ok(Some(carried))
}
