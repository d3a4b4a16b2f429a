//! Applying the policy to a bundle: loading the policy and safeguard files a bundle carries
//! (from the sources at pack time, from the manifest frame's copies on the receiving side),
//! counting the policy role's signatures, evaluating the rules, and running the content gate.
use crate::error::{Check, Error, Result};
use crate::format::digest::HashAlg;
pub use crate::format::manifest::is_governed;
use crate::format::manifest::{Kind, PolicyRef};
use crate::format::path::BundlePath;
use crate::format::signature::{MinisignFile, MlDsaFile, PolicyStatement, Role, SigAlg};
use crate::format::time::Timestamp;
use crate::trust::gate;
use crate::trust::policy::{self, BundleFacts, Decision, POLICY_FILE, Policy, StrayWeights};
use crate::trust::safeguards::Safeguard;
use crate::trust::trust_file::{
    Authenticated, Claim, SignerStatus, Trust, TrustedKey, TrustedPublic, shortfall, tally,
};
use std::path::Path;

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
    pub fn update(&self, bundle: &Path) -> crate::trust::rotation::TrustUpdate {
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
#[derive(Debug, Clone, Default)]
pub struct Governed {
    /// The policy, if any.
    pub policy: Option<CarriedPolicy>,
    /// Safeguard configs: (bundle path, parsed).
    pub safeguards: Vec<(String, Safeguard)>,
    /// A trust-file update, if any.
    pub trust: Option<CarriedTrust>,
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

/// The facts the policy is evaluated on, on the receiving side: from an authenticated bundle only.
pub fn facts<'a>(auth: &Authenticated<'a>) -> BundleFacts<'a> {
    release_facts(auth.manifest(), auth.governed())
}

/// The facts of a release the packer is building from its own sources (`pack` judges what it is
/// about to sign; the receiving side uses [`facts`]).
pub fn release_facts<'a>(
    manifest: &'a crate::format::manifest::Manifest,
    governed: &Governed,
) -> BundleFacts<'a> {
    BundleFacts {
        target: &manifest.bundle.target,
        models: manifest
            .artifacts
            .iter()
            .filter(|a| a.kind == Kind::Model)
            .map(|a| (a.name.as_str(), a.tree_digest))
            .collect(),
        safeguards: governed.safeguards.clone(),
        notice_given: manifest.bundle.notice_given,
        not_before: manifest.bundle.not_before,
        stray_weights: stray_weights_by_name(manifest, governed),
        suite: manifest.layout.suite,
    }
}

/// The artifact a payload path belongs to, if it is not a `model` artifact.
fn non_model_artifact<'a>(
    manifest: &'a crate::format::manifest::Manifest,
    path: &BundlePath,
) -> Option<&'a crate::format::manifest::Artifact> {
    manifest
        .artifacts
        .iter()
        .find(|a| a.kind != Kind::Model && path.is_below(a.path.as_str()))
}

/// Weight-format files outside `model` artifacts, judged by name from the manifest alone (what
/// `verify` can see without reading the payload); the content gate also judges their bytes.
fn stray_weights_by_name(
    manifest: &crate::format::manifest::Manifest,
    governed: &Governed,
) -> Vec<StrayWeights> {
    let exempt = |p: &BundlePath| {
        governed
            .policy
            .as_ref()
            .is_some_and(|c| c.policy.allows_file(p.as_str()))
    };
    manifest
        .files
        .iter()
        .filter(|f| !exempt(&f.path))
        .filter_map(|f| {
            let artifact = non_model_artifact(manifest, &f.path)?;
            let format = gate::weight_format_by_name(f.path.as_str())?;
            Some(stray(artifact, &f.path, format))
        })
        .collect()
}

fn stray(
    artifact: &crate::format::manifest::Artifact,
    path: &BundlePath,
    format: &'static str,
) -> StrayWeights {
    StrayWeights {
        kind: artifact.kind.as_str(),
        artifact: artifact.name.clone(),
        tree_digest: artifact.tree_digest,
        path: path.to_string(),
        format,
    }
}

/// What the content gate needs to hold the model-approval rule on file contents: the policy that
/// is enforced (on the receiving side, only one whose signatures met the trust file) and the
/// manifest whose artifacts the files belong to.
pub struct WeightsRule<'a> {
    /// The enforced policy.
    pub policy: &'a Policy,
    /// The bundle's manifest.
    pub manifest: &'a crate::format::manifest::Manifest,
}

impl WeightsRule<'_> {
    /// Judges the file at `local` (bundle path `path`) unless `allowed` exempts it.
    pub fn check_file(
        &self,
        bundle: &Path,
        path: &BundlePath,
        local: &Path,
        allowed: &[String],
    ) -> Result<()> {
        if allowed.iter().any(|a| a == path.as_str())
            || non_model_artifact(self.manifest, path).is_none()
        {
            return Ok(());
        }
        let mut file = crate::util::fs::open_input(local, "file")?;
        let size = file
            .metadata()
            .map_err(|e| Error::io("read", local, e))?
            .len();
        self.judge(bundle, path, &mut file, size)
    }

    /// Judges one file's bytes: a weights file in a non-model artifact must be approved.
    fn judge(
        &self,
        bundle: &Path,
        path: &BundlePath,
        file: &mut std::fs::File,
        size: u64,
    ) -> Result<()> {
        let Some(artifact) = non_model_artifact(self.manifest, path) else {
            return Ok(());
        };
        let format = gate::weight_format(path.as_str(), file, size)
            .map_err(|e| Error::io("read", Path::new(path.as_str()), e))?;
        if let Some(format) = format {
            let strays = [stray(artifact, path, format)];
            policy::judge_stray_weights(self.policy, &self.manifest.bundle.target, &strays)
                .map_err(|v| {
                    Error::rejected(
                        bundle,
                        Check::Policy,
                        format!("rule {}: {}", v.rule, v.detail),
                    )
                })?;
        }
        Ok(())
    }
}

/// One policy signature as judged against the trust file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PolicySigner {
    /// Signature file (bundle path).
    pub file: String,
    /// Key id.
    pub key_id: String,
    /// Signature algorithm.
    pub algorithm: SigAlg,
    /// Whether it counts toward the policy threshold.
    pub counted: bool,
    /// How it was judged.
    pub status: SignerStatus,
}

/// A policy's identity.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PolicyId {
    /// Policy id.
    pub id: String,
    /// Policy version.
    pub version: u64,
}

/// What the receiving side concluded about the policy.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PolicyOutcome {
    /// Whether the trust file pins policy keys, so the policy was enforced.
    pub enforced: bool,
    /// Policy id and version, if the bundle carries one.
    pub policy: Option<PolicyId>,
    /// Policy signatures.
    pub signers: Vec<PolicySigner>,
    /// Rules that held.
    pub decisions: Vec<Decision>,
    /// Paths the (enforced) policy exempts from the content gate.
    pub allowed_files: Vec<String>,
}

/// A signature over a carried policy file, parsed but not yet verified.
pub enum PolicySignature {
    /// A minisign signature over the file's bytes (`airlock sign-policy` or stock `minisign -S`).
    Minisign(MinisignFile),
    /// An ML-DSA-87 signature over a [`PolicyStatement`] binding the file's SHA-384; the key id
    /// comes from the file name, `NAME-KEYID.mldsa87`.
    MlDsa87 {
        /// Key id from the file name.
        key_id: String,
        /// The signature file.
        file: MlDsaFile,
        /// Its statement, parsed.
        statement: PolicyStatement,
    },
}

impl PolicySignature {
    /// Parses the policy signature at bundle path `path`, told apart by extension.
    pub fn parse(path: &BundlePath, bytes: &[u8]) -> std::result::Result<Self, String> {
        if path.as_str().ends_with(".minisig") {
            return MinisignFile::parse(bytes).map(PolicySignature::Minisign);
        }
        let name = path.as_str().rsplit('/').next().unwrap_or("");
        let key_id = name
            .strip_suffix(".mldsa87")
            .and_then(|stem| stem.rsplit_once('-'))
            .map(|(_, id)| id)
            .filter(|id| id.len() == 16 && id.bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)))
            .ok_or("an ML-DSA-87 policy signature is named NAME-KEYID.mldsa87 (KEYID: 16 upper-case hex digits), as `airlock sign-policy` writes it")?
            .to_string();
        let file = MlDsaFile::parse(bytes)?;
        let statement = PolicyStatement::parse(&file.statement)?;
        Ok(PolicySignature::MlDsa87 {
            key_id,
            file,
            statement,
        })
    }

    /// The key id it names.
    pub fn key_id(&self) -> &str {
        match self {
            PolicySignature::Minisign(f) => &f.key_id,
            PolicySignature::MlDsa87 { key_id, .. } => key_id,
        }
    }

    /// Its algorithm.
    pub fn algorithm(&self) -> SigAlg {
        match self {
            PolicySignature::Minisign(_) => SigAlg::Ed25519,
            PolicySignature::MlDsa87 { .. } => SigAlg::MlDsa87,
        }
    }

    /// Verifies it over `carried` with `key`: a minisign signature over the exact bytes; an
    /// ML-DSA-87 signature over its statement, whose SHA-384, id and version must be the policy's.
    pub fn verify(
        &self,
        key: &TrustedKey,
        carried: &CarriedPolicy,
    ) -> std::result::Result<(), String> {
        match (self, &key.public) {
            (PolicySignature::Minisign(f), TrustedPublic::Ed25519(pk)) => {
                f.verify(pk, &carried.bytes)
            }
            (
                PolicySignature::MlDsa87 {
                    file, statement, ..
                },
                TrustedPublic::MlDsa87(der),
            ) => {
                file.verify(der)?;
                if statement.digest != HashAlg::Sha384.digest(&carried.bytes) {
                    return Err(format!(
                        "its statement binds {}, not this policy file's SHA-384",
                        statement.digest.prefixed()
                    ));
                }
                if statement.id != carried.policy.id || statement.version != carried.policy.version
                {
                    return Err(format!(
                        "its statement names policy {} v{}; the file is {} v{}",
                        statement.id, statement.version, carried.policy.id, carried.policy.version
                    ));
                }
                Ok(())
            }
            _ => Err(format!(
                "an {} signature names key {}, which is an {} key",
                self.algorithm(),
                key.id,
                key.alg
            )),
        }
    }
}

/// The key id and algorithm a policy signature names (for display; nothing is verified).
pub fn policy_signature_key(
    path: &BundlePath,
    bytes: &[u8],
) -> std::result::Result<(String, SigAlg), String> {
    PolicySignature::parse(path, bytes).map(|s| (s.key_id().to_string(), s.algorithm()))
}

fn count_policy_signers(
    bundle: &Path,
    trust: &Trust,
    carried: &CarriedPolicy,
    suite: crate::format::manifest::Suite,
) -> Result<Vec<PolicySigner>> {
    let mut parsed = Vec::new();
    let mut claims = Vec::new();
    for (path, bytes) in &carried.signatures {
        let sig = PolicySignature::parse(path, bytes).map_err(|d| {
            Error::rejected(
                bundle,
                Check::Signature,
                format!("policy signature `{path}`: {d}"),
            )
        })?;
        claims.push(Claim {
            file: path.to_string(),
            key_id: sig.key_id().to_string(),
            algorithm: sig.algorithm(),
            role: Role::Policy,
            signed: match &sig {
                PolicySignature::MlDsa87 { statement, .. } => statement.signed.to_string(),
                PolicySignature::Minisign(_) => String::new(),
            },
        });
        parsed.push(sig);
    }
    let (reports, counts) = tally(trust, &claims, |i, key| {
        parsed[i]
            .verify(key, carried)
            .map_err(|d| format!("policy signature `{}`: {d}", claims[i].file))
    })
    .map_err(|e| Error::rejected(bundle, Check::Signature, e))?;
    if let Some(rt) = trust.roles.get(&Role::Policy) {
        let have = counts.get(&Role::Policy).copied().unwrap_or(0);
        if have < rt.threshold {
            return Err(Error::rejected(
                bundle,
                Check::Threshold,
                shortfall(
                    Role::Policy,
                    rt,
                    have,
                    &reports,
                    suite,
                    &format!(" on {}", carried.path),
                ),
            ));
        }
    }
    Ok(reports
        .into_iter()
        .map(|r| PolicySigner {
            file: r.file,
            key_id: r.key_id,
            algorithm: r.algorithm,
            counted: r.counted,
            status: r.status,
        })
        .collect())
}

/// Enforces the policy on the receiving side: the trust file's policy threshold, then every rule,
/// then `not_before`. With no policy keys pinned, the policy is reported but not enforced.
pub fn enforce(auth: &Authenticated<'_>, trust: &Trust, now: Timestamp) -> Result<PolicyOutcome> {
    let bundle = &auth.signed().path;
    let manifest = auth.manifest();
    let governed = auth.governed();
    let reject = |v: policy::Violation| {
        Error::rejected(
            bundle,
            Check::Policy,
            format!("rule {}: {}", v.rule, v.detail),
        )
    };
    let threshold = trust.roles.get(&Role::Policy).map_or(0, |r| r.threshold);
    let mut outcome = PolicyOutcome {
        enforced: threshold > 0,
        policy: governed.policy.as_ref().map(|p| PolicyId {
            id: p.policy.id.clone(),
            version: p.policy.version,
        }),
        signers: Vec::new(),
        decisions: Vec::new(),
        allowed_files: Vec::new(),
    };
    if threshold > 0 {
        let Some(carried) = &governed.policy else {
            return Err(Error::rejected(
                bundle,
                Check::Policy,
                "rule policy-present: the trust file pins policy keys, but the bundle carries no policy",
            ));
        };
        outcome.signers = count_policy_signers(bundle, trust, carried, manifest.layout.suite)?;
        outcome.decisions = policy::evaluate(&carried.policy, &facts(auth), now).map_err(reject)?;
        outcome.allowed_files = carried
            .policy
            .allowed_files
            .iter()
            .map(|a| a.path.clone())
            .collect();
    }
    policy::check_not_before(manifest.bundle.not_before, now).map_err(reject)?;
    Ok(outcome)
}

/// Runs the content gate on one file unless `allowed` exempts its path, and with `weights` the
/// model-approval rule on its bytes (a weights file outside a `model` artifact).
pub fn gate_file(
    bundle: &Path,
    path: &BundlePath,
    local: &Path,
    allowed: &[String],
    weights: Option<&WeightsRule<'_>>,
) -> Result<()> {
    if allowed.iter().any(|a| a == path.as_str()) {
        return Ok(());
    }
    let mut file = crate::util::fs::open_input(local, "file")?;
    let size = file
        .metadata()
        .map_err(|e| Error::io("read", local, e))?
        .len();
    if let Some(f) =
        gate::judge(path.as_str(), &mut file, size).map_err(|e| Error::io("read", local, e))?
    {
        return Err(Error::rejected(
            bundle,
            Check::ContentGate,
            format!(
                "`{path}` is refused as {}: {} (a policy may exempt this exact path with [[allowed_file]])",
                f.class, f.detail
            ),
        ));
    }
    match weights {
        Some(rule) => rule.judge(bundle, path, &mut file, size),
        None => Ok(()),
    }
}
