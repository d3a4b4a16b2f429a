//! The receiving side's `trust.toml`: its site name and, per role, pinned minisign public keys
//! with a threshold of distinct keys; and the evaluation of a bundle's signatures against it.
use crate::error::{Check, Error, Result};
use crate::keys::{parse_public_key, public_key_id};
use crate::signature::{ParsedSignature, Role};
use minisign::PublicKey;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// One role's pinned keys.
pub struct RoleTrust {
    /// Distinct valid signatures needed.
    pub threshold: usize,
    /// Key id → public key.
    pub keys: BTreeMap<String, PublicKey>,
}

/// A parsed trust file.
pub struct Trust {
    /// This enclave's target name.
    pub site: String,
    /// Pinned keys per role.
    pub roles: BTreeMap<Role, RoleTrust>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrust {
    site: String,
    roles: BTreeMap<String, RawRole>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRole {
    threshold: usize,
    keys: Vec<String>,
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let roles: BTreeMap<&str, (usize, Vec<&String>)> = self
            .roles
            .iter()
            .map(|(r, t)| (r.as_str(), (t.threshold, t.keys.keys().collect())))
            .collect();
        f.debug_struct("Trust")
            .field("site", &self.site)
            .field("roles", &roles)
            .finish()
    }
}

const TRUST_HINT: &str =
    "see the trust file schema in README.md (site, [roles.release] threshold and keys)";

impl Trust {
    /// Reads and validates a trust file.
    pub fn load(path: &Path) -> Result<Trust> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::config(
                path,
                format!("cannot read the trust file: {e}"),
                "check the --trust path and its permissions",
            )
        })?;
        Trust::parse(&text).map_err(|detail| Error::config(path, detail, TRUST_HINT))
    }

    /// Parses trust file text.
    pub fn parse(text: &str) -> std::result::Result<Trust, String> {
        let raw: RawTrust = toml::from_str(text).map_err(|e| format!("invalid trust file: {e}"))?;
        crate::bundle_path::check_label(&raw.site).map_err(|e| format!("site: {e}"))?;
        let mut roles = BTreeMap::new();
        for (name, raw_role) in raw.roles {
            let role = Role::parse(&name).ok_or_else(|| {
                format!("unknown role `{name}` (known: policy, release, transfer)")
            })?;
            let mut keys = BTreeMap::new();
            for text in &raw_role.keys {
                let key = parse_public_key(text).map_err(|e| format!("roles.{name}: {e}"))?;
                if keys.insert(public_key_id(&key), key).is_some() {
                    return Err(format!("roles.{name}: key {text} is listed twice"));
                }
            }
            if raw_role.threshold > keys.len() {
                return Err(format!(
                    "roles.{name}: threshold {} can never be met with {} distinct keys",
                    raw_role.threshold,
                    keys.len()
                ));
            }
            if role == Role::Release && raw_role.threshold == 0 {
                return Err("roles.release: threshold must be at least 1".into());
            }
            roles.insert(
                role,
                RoleTrust {
                    threshold: raw_role.threshold,
                    keys,
                },
            );
        }
        if !roles.contains_key(&Role::Release) {
            return Err(
                "no [roles.release]: a bundle needs at least one trusted release key".into(),
            );
        }
        Ok(Trust {
            site: raw.site,
            roles,
        })
    }

    /// The roles whose signatures are on the bundle's manifest (release, transfer); the policy
    /// role signs the policy document instead, see `enforce`.
    pub fn bundle_roles(&self) -> impl Iterator<Item = (&Role, &RoleTrust)> {
        self.roles.iter().filter(|(role, _)| **role != Role::Policy)
    }

    /// The roles that pin `key_id`.
    pub fn roles_of(&self, key_id: &str) -> Vec<Role> {
        self.roles
            .iter()
            .filter(|(_, r)| r.keys.contains_key(key_id))
            .map(|(role, _)| *role)
            .collect()
    }
}

/// What the trust evaluation concluded about one signature.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SignerReport {
    /// Signature file name.
    pub file: String,
    /// Key id.
    pub key_id: String,
    /// Role claimed in the trusted comment.
    pub role: Role,
    /// Signing time (RFC 3339).
    pub signed: String,
    /// The roles the trust file pins this key for.
    pub trusted_for: Vec<Role>,
    /// Whether the signature counts toward its role's threshold.
    pub counted: bool,
    /// Why, in words.
    pub status: String,
}

/// Checks every signature against the trust file and every role's threshold. A signature by a
/// pinned key that does not verify rejects the bundle; a signature by an unknown key is reported
/// and not counted.
pub fn evaluate(
    bundle: &Path,
    trust: &Trust,
    signatures: &[ParsedSignature],
    manifest_bytes: &[u8],
) -> Result<Vec<SignerReport>> {
    let mut counted: BTreeMap<Role, BTreeSet<String>> = BTreeMap::new();
    let mut reports = Vec::new();
    for sig in signatures {
        let role = sig.comment.role;
        let trusted_for = trust.roles_of(&sig.key_id);
        let key = trust.roles.values().find_map(|r| r.keys.get(&sig.key_id));
        let (is_counted, status) = match key {
            None => (false, "key not in the trust file: not counted".to_string()),
            Some(key) => {
                sig.verify(key, manifest_bytes)
                    .map_err(|e| Error::rejected(bundle, Check::Signature, e))?;
                if trusted_for.contains(&role) {
                    let fresh = counted.entry(role).or_default().insert(sig.key_id.clone());
                    (
                        fresh,
                        if fresh {
                            "valid".to_string()
                        } else {
                            "valid, same key already counted".to_string()
                        },
                    )
                } else {
                    (
                        false,
                        format!(
                            "valid, but the key is not trusted for the {role} role: not counted"
                        ),
                    )
                }
            }
        };
        reports.push(SignerReport {
            file: sig.file_name.clone(),
            key_id: sig.key_id.clone(),
            role,
            signed: crate::timefmt::format_rfc3339(sig.comment.signed),
            trusted_for,
            counted: is_counted,
            status,
        });
    }
    for (role, rt) in trust.bundle_roles() {
        let have = counted.get(role).map_or(0, |s| s.len());
        if have < rt.threshold {
            let signers: Vec<String> = reports
                .iter()
                .map(|r| format!("{} ({}: {})", r.key_id, r.role, r.status))
                .collect();
            return Err(Error::rejected(
                bundle,
                Check::Threshold,
                format!(
                    "role {role} needs {} distinct trusted signature(s), found {have}; signers: {}",
                    rt.threshold,
                    if signers.is_empty() {
                        "none".to_string()
                    } else {
                        signers.join(", ")
                    }
                ),
            ));
        }
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_file_rules() {
        assert!(
            Trust::parse("site = \"s\"\n[roles.transfer]\nthreshold = 0\nkeys = []\n")
                .unwrap_err()
                .contains("no [roles.release]")
        );
        assert!(
            Trust::parse("site = \"s\"\n[roles.release]\nthreshold = 1\nkeys = []\n")
                .unwrap_err()
                .contains("never be met")
        );
        assert!(
            Trust::parse("site = \"s\"\n[roles.boss]\nthreshold = 0\nkeys = []\n")
                .unwrap_err()
                .contains("unknown role")
        );
        assert!(Trust::parse("site = \"s\"\nextra = 1\n").is_err());
    }
}
