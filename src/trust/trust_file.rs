//! The receiving side's `trust.toml`: its site name and, per role, pinned minisign public keys
//! with a threshold of distinct keys; the evaluation of a bundle's signatures against it; and
//! [`Authenticated`], the proof that a bundle's manifest met the thresholds, which everything that
//! judges a bundle's content requires.
//!
//! "Distinct" means distinct public keys: a key id is an unsigned label in a signature file, so it
//! only selects which pinned key to try; a key counts once per role whatever ids it is listed or
//! signed under, and a trust file that lists one public key twice in a role is refused.
use crate::container::SignedManifest;
use crate::error::{Check, Error, Result};
use crate::format::manifest::Manifest;
use crate::format::signature::{ParsedSignature, Role};
use crate::trust::enforce::{Governed, load_governed};
use crate::trust::keys::{parse_public_key, public_key_bytes, public_key_id};
use minisign::PublicKey;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// One pinned public key.
pub struct TrustedKey {
    /// Its minisign key id (16 upper-case hex digits).
    pub id: String,
    /// The key.
    pub public: PublicKey,
    /// The raw Ed25519 key: the identity thresholds count.
    pub bytes: [u8; 32],
}

/// One role's pinned keys.
pub struct RoleTrust {
    /// Distinct valid signatures needed.
    pub threshold: usize,
    /// The pinned keys, each a different public key.
    pub keys: Vec<TrustedKey>,
}

impl RoleTrust {
    /// The pinned key with this key id, if any.
    pub fn key(&self, id: &str) -> Option<&TrustedKey> {
        self.keys.iter().find(|k| k.id == id)
    }
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
            .map(|(r, t)| {
                (
                    r.as_str(),
                    (t.threshold, t.keys.iter().map(|k| &k.id).collect()),
                )
            })
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
        let text =
            crate::util::fs::read_input_text(path, "trust file", crate::util::fs::CONFIG_CAP)?;
        Trust::parse(&text).map_err(|detail| Error::config(path, detail, TRUST_HINT))
    }

    /// Parses trust file text.
    pub fn parse(text: &str) -> std::result::Result<Trust, String> {
        let raw: RawTrust = toml::from_str(text).map_err(|e| format!("invalid trust file: {e}"))?;
        crate::format::path::check_label(&raw.site).map_err(|e| format!("site: {e}"))?;
        let mut roles = BTreeMap::new();
        for (name, raw_role) in raw.roles {
            let role = Role::parse(&name).ok_or_else(|| {
                format!("unknown role `{name}` (known: policy, release, transfer)")
            })?;
            let mut keys: Vec<TrustedKey> = Vec::new();
            for text in &raw_role.keys {
                let public = parse_public_key(text).map_err(|e| format!("roles.{name}: {e}"))?;
                let key = TrustedKey {
                    id: public_key_id(&public),
                    bytes: public_key_bytes(&public),
                    public,
                };
                if let Some(same) = keys.iter().find(|k| k.bytes == key.bytes) {
                    return Err(format!(
                        "roles.{name}: keys {} and {} are the same public key (listed twice, under {}); a key counts once toward a threshold, so list it once",
                        same.id,
                        key.id,
                        if same.id == key.id {
                            "the same key id"
                        } else {
                            "two key ids"
                        }
                    ));
                }
                keys.push(key);
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
        let mut by_id: BTreeMap<&str, [u8; 32]> = BTreeMap::new();
        for key in roles.values().flat_map(|r: &RoleTrust| &r.keys) {
            if by_id
                .insert(&key.id, key.bytes)
                .is_some_and(|b| b != key.bytes)
            {
                return Err(format!(
                    "two different public keys share the key id {}: a signature names its key by id, so ids must be unique",
                    key.id
                ));
            }
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
            .filter(|(_, r)| r.key(key_id).is_some())
            .map(|(role, _)| *role)
            .collect()
    }

    /// The pinned key with this key id, in whichever role (ids are unique across the file).
    pub fn key(&self, key_id: &str) -> Option<&TrustedKey> {
        self.roles.values().find_map(|r| r.key(key_id))
    }
}

/// How one signature was judged: a stable value scripts can test (`--json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignerStatus {
    /// Valid, by a key pinned for the role it claims: counts toward that role's threshold.
    Counted,
    /// Valid, but its public key was already counted for this role.
    DuplicateKey,
    /// Valid, but the key is pinned for another role than the one the signature claims.
    WrongRole,
    /// By a key the trust file does not pin: not verified, not counted.
    UnknownKey,
}

impl SignerStatus {
    /// In words, for human output.
    pub fn describe(self) -> &'static str {
        match self {
            SignerStatus::Counted => "valid",
            SignerStatus::DuplicateKey => "valid, same key already counted",
            SignerStatus::WrongRole => {
                "valid, but the key is not trusted for this role: not counted"
            }
            SignerStatus::UnknownKey => "key not in the trust file: not counted",
        }
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
    /// How it was judged.
    pub status: SignerStatus,
}

/// Checks every signature against the trust file and every role's threshold. A signature by a
/// pinned key that does not verify rejects the bundle; a signature by an unknown key is reported
/// and not counted.
fn evaluate(
    bundle: &Path,
    trust: &Trust,
    signatures: &[ParsedSignature],
    manifest_bytes: &[u8],
) -> Result<Vec<SignerReport>> {
    let mut counted: BTreeMap<Role, BTreeSet<[u8; 32]>> = BTreeMap::new();
    let mut reports = Vec::new();
    for sig in signatures {
        let role = sig.comment.role;
        let trusted_for = trust.roles_of(&sig.key_id);
        let status = match trust.key(&sig.key_id) {
            None => SignerStatus::UnknownKey,
            Some(key) => {
                sig.verify(&key.public, manifest_bytes)
                    .map_err(|e| Error::rejected(bundle, Check::Signature, e))?;
                if !trusted_for.contains(&role) {
                    SignerStatus::WrongRole
                } else if counted.entry(role).or_default().insert(key.bytes) {
                    SignerStatus::Counted
                } else {
                    SignerStatus::DuplicateKey
                }
            }
        };
        let is_counted = status == SignerStatus::Counted;
        reports.push(SignerReport {
            file: sig.file_name.clone(),
            key_id: sig.key_id.clone(),
            role,
            signed: sig.comment.signed.to_string(),
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
                .map(|r| format!("{} ({}: {})", r.key_id, r.role, r.status.describe()))
                .collect();
            return Err(Error::rejected(
                bundle,
                Check::Threshold,
                format!(
                    "role {role} needs {}, found {have}; signers: {}",
                    crate::util::text::count(rt.threshold, "distinct trusted signature"),
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

/// A bundle whose manifest signatures met every role threshold of a trust file. The only way to
/// obtain one is [`authenticate`]; the policy, safeguards, content gate and rollback checks take
/// it, so judging the content of an unauthenticated bundle does not compile.
pub struct Authenticated<'a> {
    signed: &'a SignedManifest,
    signers: Vec<SignerReport>,
    governed: Governed,
}

impl<'a> Authenticated<'a> {
    /// The signed manifest, now authenticated (payload frames are checked against it as they are
    /// read).
    pub fn signed(&self) -> &'a SignedManifest {
        self.signed
    }

    /// The authenticated manifest.
    pub fn manifest(&self) -> &'a Manifest {
        &self.signed.manifest
    }

    /// The policy and safeguard configs the bundle carries, parsed once the manifest that pins
    /// their digests is authenticated.
    pub fn governed(&self) -> &Governed {
        &self.governed
    }

    /// Every manifest signature and how it was judged.
    pub fn signers(&self) -> &[SignerReport] {
        &self.signers
    }
}

/// Checks a signed manifest's signatures against `trust` and every role's threshold; then parses
/// the policy and safeguard copies it carries (their bytes already match the manifest's digests)
/// and checks that the manifest's `[policy]` describes the policy carried.
pub fn authenticate<'a>(signed: &'a SignedManifest, trust: &Trust) -> Result<Authenticated<'a>> {
    let path = &signed.path;
    let signers = evaluate(path, trust, &signed.signatures, &signed.frame.manifest)?;
    let governed =
        load_governed(&signed.frame.copies).map_err(|e| Error::rejected(path, Check::Policy, e))?;
    if governed.policy.as_ref().map(|p| p.reference()) != signed.manifest.policy {
        return Err(Error::rejected(
            path,
            Check::Manifest,
            "the manifest's [policy] section does not describe the policy the bundle carries",
        ));
    }
    Ok(Authenticated {
        signed,
        signers,
        governed,
    })
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

    #[test]
    fn one_public_key_under_two_ids_is_refused() {
        let pair = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
        let line = pair.pk.to_base64();
        let mut raw = pair.pk.to_bytes();
        raw[2] ^= 1;
        use base64::Engine as _;
        let renamed = base64::engine::general_purpose::STANDARD.encode(&raw);
        for keys in [
            format!("\"{line}\", \"{renamed}\""),
            format!("\"{line}\", \"{line}\""),
        ] {
            let err = Trust::parse(&format!(
                "site = \"s\"\n[roles.release]\nthreshold = 1\nkeys = [{keys}]\n"
            ))
            .unwrap_err();
            assert!(err.contains("same public key"), "{err}");
        }
    }
}
