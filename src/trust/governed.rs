//! The policy and safeguard files a bundle carries, parsed: from the sources at pack time, from
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

/// Policy and safeguards carried by a bundle.
#[derive(Debug, Clone, Default)]
pub struct Governed {
    /// The policy, if any.
    pub policy: Option<CarriedPolicy>,
    /// Safeguard configs: (bundle path, parsed).
    pub safeguards: Vec<(String, Safeguard)>,
}

/// Parses the governed files (policy and safeguard artifacts) of a bundle.
pub fn load_governed(files: &[(BundlePath, Vec<u8>)]) -> std::result::Result<Governed, String> {
    let mut governed = Governed::default();
    let mut signatures = Vec::new();
    for (path, bytes) in files {
        let mut parts = path.as_str().splitn(3, '/');
        let (kind, artifact, rest) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        let text = || std::str::from_utf8(bytes).map_err(|_| format!("`{path}` is not UTF-8 text"));
        if kind == Kind::Safeguard.as_str() {
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
