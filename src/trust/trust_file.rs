//! The receiving side's `trust.toml`: its site name, its version, and, per role, pinned public
//! keys (minisign Ed25519 keys and ML-DSA-87 keys), revoked keys (which never count), which
//! algorithms count, and a threshold of distinct signers — for the bundle roles (release,
//! transfer), the policy role, and the `root` role that signs updates of the trust file itself
//! (`trust::rotation`);
//! the evaluation of a bundle's signatures against it; and [`Authenticated`], the proof that a
//! bundle's manifest met the thresholds, which everything that judges a bundle's content requires.
//!
//! "Distinct" means distinct public keys: a key id is an unsigned label in a signature file, so it
//! only selects which pinned key to try; a key counts once per role whatever ids it is listed or
//! signed under, and a trust file that lists one public key twice in a role is refused. In a
//! `hybrid` role a signer is a pair of keys (Ed25519 and ML-DSA-87) and counts only when both of
//! its signatures verify (`docs/format.md` 8.5).
use crate::container::SignedManifest;
use crate::error::{Check, Error, Result};
use crate::format::manifest::{Manifest, Suite};
use crate::format::signature::{ParsedSignature, Role, SigAlg, SignatureBody};
use crate::trust::governed::{Governed, load_governed};
use crate::trust::keys::{parse_public_key, public_key_bytes, public_key_id};
use crate::trust::mldsa;
use minisign::PublicKey;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A pinned public key of either algorithm.
#[derive(Clone)]
pub enum TrustedPublic {
    /// A minisign Ed25519 key.
    Ed25519(PublicKey),
    /// An ML-DSA-87 key, as SubjectPublicKeyInfo DER.
    MlDsa87(Vec<u8>),
}

/// One pinned public key.
#[derive(Clone)]
pub struct TrustedKey {
    /// Its key id (16 upper-case hex digits).
    pub id: String,
    /// Its algorithm.
    pub alg: SigAlg,
    /// The key.
    pub public: TrustedPublic,
    /// The raw public key: the identity thresholds count.
    pub bytes: Vec<u8>,
}

impl TrustedKey {
    /// Parses a trust-file key entry: a minisign public key (base64 line or `.pub` text) or
    /// `ml-dsa-87:` + base64 of an SPKI DER.
    pub fn parse(text: &str) -> std::result::Result<TrustedKey, String> {
        if text.trim().starts_with(mldsa::TRUST_PREFIX) {
            let der = mldsa::parse_public(text)?;
            return Ok(TrustedKey {
                id: crate::format::signature::mldsa_key_id(&der),
                alg: SigAlg::MlDsa87,
                bytes: mldsa::raw_public_key(&der),
                public: TrustedPublic::MlDsa87(der),
            });
        }
        let public = parse_public_key(text)?;
        Ok(TrustedKey {
            id: public_key_id(&public),
            alg: SigAlg::Ed25519,
            bytes: public_key_bytes(&public).to_vec(),
            public: TrustedPublic::Ed25519(public),
        })
    }

    /// Checks `sig` over `manifest_bytes` with this key (the caller picked the key by the
    /// signature's key id and checked the algorithms agree).
    pub fn verify(
        &self,
        sig: &ParsedSignature,
        manifest_bytes: &[u8],
    ) -> std::result::Result<(), String> {
        match (&self.public, &sig.body) {
            (TrustedPublic::Ed25519(pk), SignatureBody::Minisign(file)) => file
                .verify(pk, manifest_bytes)
                .map_err(|e| format!("{}: {e}", sig.file_name)),
            (TrustedPublic::MlDsa87(der), SignatureBody::MlDsa87(file)) => file
                .verify(der)
                .map_err(|e| format!("{}: {e}", sig.file_name)),
            _ => Err(format!(
                "{}: an {} signature names key {}, which is an {} key",
                sig.file_name, sig.algorithm, self.id, self.alg
            )),
        }
    }
}

/// Which signatures count toward a role's threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Counting {
    /// A signature of any of these algorithms, by a pinned key, counts.
    Algorithms(BTreeSet<SigAlg>),
    /// A signer is a pair of keys; it counts when both its Ed25519 and its ML-DSA-87 signatures
    /// verify.
    Hybrid,
}

impl Counting {
    /// What a role counts when the trust file does not say: a signature of either algorithm.
    pub fn default_for_keys() -> Counting {
        Counting::Algorithms([SigAlg::Ed25519, SigAlg::MlDsa87].into())
    }

    /// How the trust file spells it.
    pub fn describe(&self) -> String {
        match self {
            Counting::Hybrid => "hybrid (both ed25519 and ml-dsa-87 from each signer)".into(),
            Counting::Algorithms(a) => a.iter().map(|a| a.name()).collect::<Vec<_>>().join(", "),
        }
    }
}

/// One role's pinned keys.
pub struct RoleTrust {
    /// Distinct signers needed.
    pub threshold: usize,
    /// Which signatures count.
    pub counting: Counting,
    /// The pinned keys, each a different public key (for a hybrid role, both keys of every pair).
    pub keys: Vec<TrustedKey>,
    /// For a hybrid role: the pairs, as (Ed25519 key id, ML-DSA-87 key id).
    pub pairs: Vec<(String, String)>,
    /// Revoked keys: a signature by one of them never counts for this role, and is reported
    /// `revoked`.
    pub revoked: Vec<TrustedKey>,
}

impl RoleTrust {
    /// The pinned key with this key id, if any.
    pub fn key(&self, id: &str) -> Option<&TrustedKey> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// Whether the public key `bytes` is revoked for this role.
    pub fn is_revoked(&self, bytes: &[u8]) -> bool {
        self.revoked.iter().any(|k| k.bytes == bytes)
    }

    /// Whether this role requires post-quantum signatures (and so a cnsa2 bundle).
    pub fn requires_ml_dsa(&self) -> bool {
        match &self.counting {
            Counting::Hybrid => true,
            Counting::Algorithms(a) => !a.contains(&SigAlg::Ed25519),
        }
    }
}

/// A parsed trust file.
pub struct Trust {
    /// The trust file's version (`version = N`; 0 when absent): a signed update must carry a
    /// higher one (`trust::rotation`).
    pub version: u64,
    /// This enclave's target name.
    pub site: String,
    /// Pinned keys per role.
    pub roles: BTreeMap<Role, RoleTrust>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrust {
    version: Option<u64>,
    site: String,
    roles: BTreeMap<String, RawRole>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRole {
    threshold: usize,
    #[serde(default)]
    keys: Vec<String>,
    algorithms: Option<Vec<String>>,
    #[serde(default)]
    pair: Vec<RawPair>,
    #[serde(default)]
    revoked: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPair {
    ed25519: String,
    ml_dsa_87: String,
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
            .field("version", &self.version)
            .field("site", &self.site)
            .field("roles", &roles)
            .finish()
    }
}

const TRUST_HINT: &str = "see the trust file schema in `airlock verify --help` and docs/format.md 8.5 (version, site, [roles.release] threshold, keys, algorithms, revoked; [roles.root])";

fn parse_role(name: &str, role: Role, raw: RawRole) -> std::result::Result<RoleTrust, String> {
    let counting = match raw.algorithms.as_deref() {
        None => Counting::default_for_keys(),
        Some([h]) if h == "hybrid" => Counting::Hybrid,
        Some([]) => return Err(format!("roles.{name}: algorithms is empty")),
        Some(list) => {
            let mut set = BTreeSet::new();
            for a in list {
                let alg = SigAlg::parse(a).ok_or_else(|| {
                    format!(
                        "roles.{name}: algorithm `{a}` is not ed25519, ml-dsa-87, or [\"hybrid\"] alone"
                    )
                })?;
                if !set.insert(alg) {
                    return Err(format!("roles.{name}: algorithm `{a}` is listed twice"));
                }
            }
            Counting::Algorithms(set)
        }
    };
    let mut keys: Vec<TrustedKey> = Vec::new();
    let add = |text: &str, keys: &mut Vec<TrustedKey>| -> std::result::Result<String, String> {
        let key = TrustedKey::parse(text).map_err(|e| format!("roles.{name}: {e}"))?;
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
        let id = key.id.clone();
        keys.push(key);
        Ok(id)
    };
    let mut pairs = Vec::new();
    match &counting {
        Counting::Hybrid => {
            if !raw.keys.is_empty() {
                return Err(format!(
                    "roles.{name}: a hybrid role lists its signers as [[roles.{name}.pair]] (ed25519 = ..., ml_dsa_87 = ...), not keys"
                ));
            }
            for p in &raw.pair {
                let ed = add(&p.ed25519, &mut keys)?;
                let ml = add(&p.ml_dsa_87, &mut keys)?;
                let algs = |id: &str| keys.iter().find(|k| k.id == id).map(|k| k.alg);
                if algs(&ed) != Some(SigAlg::Ed25519) || algs(&ml) != Some(SigAlg::MlDsa87) {
                    return Err(format!(
                        "roles.{name}: a pair needs an Ed25519 (minisign) key as ed25519 and an ML-DSA-87 key as ml_dsa_87"
                    ));
                }
                pairs.push((ed, ml));
            }
        }
        Counting::Algorithms(algs) => {
            if !raw.pair.is_empty() {
                return Err(format!(
                    "roles.{name}: [[roles.{name}.pair]] needs algorithms = [\"hybrid\"]"
                ));
            }
            for text in &raw.keys {
                add(text, &mut keys)?;
            }
            if let Some(k) = keys.iter().find(|k| !algs.contains(&k.alg)) {
                return Err(format!(
                    "roles.{name}: key {} is an {} key, but the role counts only {}: remove the key or the restriction",
                    k.id,
                    k.alg,
                    counting.describe()
                ));
            }
        }
    }
    let signers = match counting {
        Counting::Hybrid => pairs.len(),
        Counting::Algorithms(_) => keys.len(),
    };
    if raw.threshold > signers {
        return Err(format!(
            "roles.{name}: threshold {} can never be met with {signers} distinct signers",
            raw.threshold
        ));
    }
    if role == Role::Release && raw.threshold == 0 {
        return Err("roles.release: threshold must be at least 1".into());
    }
    if role == Role::Root && raw.threshold == 0 {
        return Err(
            "roles.root: threshold must be at least 1 (with 0, anyone could replace this trust file)"
                .into(),
        );
    }
    let mut revoked: Vec<TrustedKey> = Vec::new();
    for text in &raw.revoked {
        let key = TrustedKey::parse(text).map_err(|e| format!("roles.{name}: revoked: {e}"))?;
        if let Some(live) = keys.iter().find(|k| k.bytes == key.bytes) {
            return Err(format!(
                "roles.{name}: key {} is both trusted and revoked; remove it from the role's keys (a revoked key never counts)",
                live.id
            ));
        }
        if revoked.iter().any(|k| k.bytes == key.bytes) {
            return Err(format!(
                "roles.{name}: revoked key {} is listed twice",
                key.id
            ));
        }
        revoked.push(key);
    }
    Ok(RoleTrust {
        threshold: raw.threshold,
        counting,
        keys,
        pairs,
        revoked,
    })
}

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
                format!("unknown role `{name}` (known: policy, release, root, transfer)")
            })?;
            roles.insert(role, parse_role(&name, role, raw_role)?);
        }
        let mut by_id: BTreeMap<&str, &[u8]> = BTreeMap::new();
        for key in roles
            .values()
            .flat_map(|r: &RoleTrust| r.keys.iter().chain(&r.revoked))
        {
            if by_id
                .insert(&key.id, &key.bytes)
                .is_some_and(|b| b != key.bytes.as_slice())
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
        if raw.version.is_some_and(|v| v > i64::MAX as u64) {
            return Err("version: at most 9223372036854775807".into());
        }
        Ok(Trust {
            version: raw.version.unwrap_or(0),
            site: raw.site,
            roles,
        })
    }

    /// The roles whose signatures are on the bundle's manifest (release, transfer); the policy
    /// role signs the policy document instead (see `enforce`), the root role trust-file updates
    /// (see `rotation`).
    pub fn bundle_roles(&self) -> impl Iterator<Item = (&Role, &RoleTrust)> {
        self.roles
            .iter()
            .filter(|(role, _)| !matches!(**role, Role::Policy | Role::Root))
    }

    /// The roles that pin `key_id`.
    pub fn roles_of(&self, key_id: &str) -> Vec<Role> {
        self.roles
            .iter()
            .filter(|(_, r)| r.key(key_id).is_some())
            .map(|(role, _)| *role)
            .collect()
    }

    /// The roles that list `key_id` as revoked.
    pub fn revoked_roles_of(&self, key_id: &str) -> Vec<Role> {
        self.roles
            .iter()
            .filter(|(_, r)| r.revoked.iter().any(|k| k.id == key_id))
            .map(|(role, _)| *role)
            .collect()
    }

    /// The pinned key with this key id, in whichever role (ids are unique across the file).
    pub fn key(&self, key_id: &str) -> Option<&TrustedKey> {
        self.roles.values().find_map(|r| r.key(key_id))
    }

    /// The key with this key id, pinned or revoked, in whichever role.
    pub fn known_key(&self, key_id: &str) -> Option<&TrustedKey> {
        self.key(key_id).or_else(|| {
            self.roles
                .values()
                .find_map(|r| r.revoked.iter().find(|k| k.id == key_id))
        })
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
    /// Valid, but the role does not count signatures of this algorithm.
    AlgorithmNotCounted,
    /// Valid, one half of a hybrid pair whose other half did not verify: the pair does not count.
    IncompletePair,
    /// By a key the trust file does not pin: not verified, not counted.
    UnknownKey,
    /// Valid, but the key is revoked for the role the signature claims: never counted.
    Revoked,
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
            SignerStatus::AlgorithmNotCounted => {
                "valid, but the role does not count this algorithm: not counted"
            }
            SignerStatus::IncompletePair => {
                "valid, but the other key of its hybrid pair did not sign: not counted"
            }
            SignerStatus::UnknownKey => "key not in the trust file: not counted",
            SignerStatus::Revoked => "valid, but the key is revoked for this role: not counted",
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
    /// Signature algorithm.
    pub algorithm: SigAlg,
    /// Role claimed in the statement.
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

/// One signature to be judged against a trust file: who claims to have signed, as which role.
pub(crate) struct Claim {
    /// Signature file name (or bundle path, for a policy signature).
    pub file: String,
    /// The key id it names.
    pub key_id: String,
    /// Its algorithm.
    pub algorithm: SigAlg,
    /// The role it counts for.
    pub role: Role,
    /// Signing time, if the signature states one.
    pub signed: String,
}

/// Judges `claims` against `trust` and counts distinct signers per role: a claim by a pinned key
/// is verified with `verify` (a failure is returned: a pinned key's bad signature rejects), then
/// counted by public key (or, for a hybrid role, by complete pair). Returns one report per claim
/// and the number of distinct signers counted per role. Manifest signatures and policy
/// signatures are both counted here, so the two cannot drift apart.
pub(crate) fn tally(
    trust: &Trust,
    claims: &[Claim],
    verify: impl Fn(usize, &TrustedKey) -> std::result::Result<(), String>,
) -> std::result::Result<(Vec<SignerReport>, BTreeMap<Role, usize>), String> {
    // Per role: the identities counted so far, and for hybrid roles the key ids that verified.
    let mut counted: BTreeMap<Role, BTreeSet<Vec<u8>>> = BTreeMap::new();
    let mut verified: BTreeMap<Role, BTreeSet<String>> = BTreeMap::new();
    let mut reports = Vec::new();
    for (i, claim) in claims.iter().enumerate() {
        let role = claim.role;
        let trusted_for = trust.roles_of(&claim.key_id);
        let status = match trust.known_key(&claim.key_id) {
            None => SignerStatus::UnknownKey,
            Some(key) => {
                verify(i, key)?;
                let revoked = trust
                    .roles
                    .get(&role)
                    .is_some_and(|rt| rt.is_revoked(&key.bytes));
                if revoked {
                    SignerStatus::Revoked
                } else {
                    match trust
                        .roles
                        .get(&role)
                        .filter(|_| trusted_for.contains(&role))
                    {
                        None => SignerStatus::WrongRole,
                        Some(rt) => match &rt.counting {
                            Counting::Algorithms(algs) if !algs.contains(&claim.algorithm) => {
                                SignerStatus::AlgorithmNotCounted
                            }
                            Counting::Algorithms(_) => {
                                if counted.entry(role).or_default().insert(key.bytes.clone()) {
                                    SignerStatus::Counted
                                } else {
                                    SignerStatus::DuplicateKey
                                }
                            }
                            // Judged once every signature is seen, below.
                            Counting::Hybrid => {
                                verified.entry(role).or_default().insert(key.id.clone());
                                SignerStatus::IncompletePair
                            }
                        },
                    }
                }
            }
        };
        reports.push(SignerReport {
            file: claim.file.clone(),
            key_id: claim.key_id.clone(),
            algorithm: claim.algorithm,
            role,
            signed: claim.signed.clone(),
            trusted_for,
            counted: status == SignerStatus::Counted,
            status,
        });
    }
    for (role, rt) in &trust.roles {
        if rt.counting != Counting::Hybrid {
            continue;
        }
        let ids = verified.get(role).cloned().unwrap_or_default();
        for (ed, ml) in &rt.pairs {
            if ids.contains(ed) && ids.contains(ml) {
                counted
                    .entry(*role)
                    .or_default()
                    .insert(format!("{ed}+{ml}").into_bytes());
                for r in reports
                    .iter_mut()
                    .filter(|r| r.role == *role && (r.key_id == *ed || r.key_id == *ml))
                {
                    r.status = SignerStatus::Counted;
                    r.counted = true;
                }
            }
        }
    }
    let counts = counted.into_iter().map(|(r, s)| (r, s.len())).collect();
    Ok((reports, counts))
}

/// Why a role's threshold was not met, in words: what counted, what each signer amounted to,
/// and, when the role needs ML-DSA-87 and the bundle is classic, that a cnsa2 bundle is needed.
pub(crate) fn shortfall(
    role: Role,
    rt: &RoleTrust,
    have: usize,
    reports: &[SignerReport],
    suite: Suite,
    on: &str,
) -> String {
    let signers: Vec<String> = reports
        .iter()
        .map(|r| {
            format!(
                "{} ({} {}: {})",
                r.key_id,
                r.algorithm,
                r.role,
                r.status.describe()
            )
        })
        .collect();
    let missing = if rt.requires_ml_dsa() && suite == Suite::Classic {
        " — this role counts only ML-DSA-87 signatures, which only a CNSA 2.0 bundle carries, and this bundle is classic (SHA-256, Ed25519): ask for a bundle packed with --suite cnsa2 and signed with an ML-DSA-87 key".to_string()
    } else if rt.counting == Counting::default_for_keys() {
        String::new()
    } else {
        format!(" (the role counts {})", rt.counting.describe())
    };
    let (noun, each) = match rt.counting {
        Counting::Hybrid => (
            "distinct trusted signer",
            ", each with both an Ed25519 and an ML-DSA-87 signature",
        ),
        Counting::Algorithms(_) => ("distinct trusted signature", ""),
    };
    format!(
        "role {role} needs {}{each}{on}, found {have}{missing}; signers: {}",
        crate::util::text::count(rt.threshold, noun),
        if signers.is_empty() {
            "none".to_string()
        } else {
            signers.join(", ")
        }
    )
}

/// Checks every manifest signature against the trust file and every bundle role's threshold. A
/// signature by a pinned key that does not verify rejects the bundle; a signature by an unknown
/// key is reported and not counted.
fn evaluate(
    bundle: &Path,
    trust: &Trust,
    signatures: &[ParsedSignature],
    manifest_bytes: &[u8],
    suite: Suite,
) -> Result<Vec<SignerReport>> {
    let claims: Vec<Claim> = signatures
        .iter()
        .map(|sig| Claim {
            file: sig.file_name.clone(),
            key_id: sig.key_id.clone(),
            algorithm: sig.algorithm,
            role: sig.comment.role,
            signed: sig.comment.signed.to_string(),
        })
        .collect();
    let (reports, counts) = tally(trust, &claims, |i, key| {
        key.verify(&signatures[i], manifest_bytes)
    })
    .map_err(|e| Error::rejected(bundle, Check::Signature, e))?;
    for (role, rt) in trust.bundle_roles() {
        let have = counts.get(role).copied().unwrap_or(0);
        if have < rt.threshold {
            return Err(Error::rejected(
                bundle,
                Check::Threshold,
                shortfall(*role, rt, have, &reports, suite, ""),
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
    let signers = evaluate(
        path,
        trust,
        &signed.signatures,
        &signed.frame.manifest,
        signed.manifest.layout.suite,
    )?;
    let governed =
        load_governed(&signed.frame.copies).map_err(|e| Error::rejected(path, Check::Policy, e))?;
    if governed
        .policy
        .as_ref()
        .map(|p| p.reference(signed.manifest.layout.suite.hash()))
        != signed.manifest.policy
    {
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
