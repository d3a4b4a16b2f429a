//! Applying the policy to a bundle (the files it carries are parsed by `governed`): counting the
//! policy role's signatures, evaluating the rules (the provider's OpenSSF model signatures among
//! them: `trust::oms`), and running the content gate.
use crate::error::{Check, Error, Result};
use crate::format::digest::HashAlg;
use crate::format::manifest::Kind;
pub use crate::format::manifest::is_governed;
use crate::format::path::BundlePath;
use crate::format::signature::{MinisignFile, MlDsaFile, PolicyStatement, Role, SigAlg};
use crate::format::time::Timestamp;
use crate::trust::gate;
pub use crate::trust::governed::{CarriedPolicy, Governed, load_governed};
use crate::trust::oms;
use crate::trust::policy::{self, BundleFacts, Decision, Policy, StrayWeights};
use crate::trust::trust_file::{
    Authenticated, Claim, SignerStatus, Trust, TrustedKey, TrustedPublic, shortfall, tally,
};
use std::path::Path;

/// The facts the policy is evaluated on, on the receiving side: from an authenticated bundle only.
pub fn facts<'a>(auth: &Authenticated<'a>) -> BundleFacts<'a> {
    release_facts(auth.manifest(), auth.governed())
}

/// The facts of a release the packer is building from its own sources (`pack` judges what it is
/// about to sign; the receiving side uses [`facts`]).
pub(crate) fn release_facts<'a>(
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
        if is_allowed(allowed, path) || non_model_artifact(self.manifest, path).is_none() {
            return Ok(());
        }
        let (mut file, size) = open_sized(local)?;
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
    /// Paths the (enforced) policy exempts from the content gate, with the policy's reasons (the
    /// same objects `inspect` lists).
    pub allowed_files: Vec<policy::AllowedFile>,
    /// The OMS check of every model artifact; when the policy is not enforced, only the carried
    /// signatures, each `not-checked`.
    pub oms: Vec<crate::trust::oms::OmsCheck>,
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
        oms: Vec::new(),
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
        // The provider's model signatures, against the keys of the policy just authenticated;
        // first, so that a model changed since the provider signed it is refused naming the file
        // rather than by its unapproved tree digest.
        outcome.oms = oms::judge(&carried.policy, manifest, &governed.oms_signatures, &|a| {
            oms::model_files(manifest, a)
        })
        .map_err(reject)?;
        outcome.decisions = policy::evaluate(&carried.policy, &facts(auth), now).map_err(reject)?;
        outcome.decisions.extend(oms::decisions(&outcome.oms));
        outcome.allowed_files = carried.policy.allowed_files.clone();
    } else {
        // Carried, not judged: the keys to judge them with come from a policy not authenticated.
        outcome.oms = governed
            .oms_signatures
            .iter()
            .map(|(path, _)| {
                oms::OmsCheck::not_checked(
                    path.as_str().split('/').nth(1).unwrap_or_default(),
                    path.as_str(),
                    "the trust file pins no policy keys, so the policy's oms_keys are not authenticated",
                )
            })
            .collect();
    }
    policy::check_not_before(manifest.bundle.not_before, now).map_err(reject)?;
    Ok(outcome)
}

/// Whether a policy's `[[allowed_file]]` paths exempt `path` (exact bundle paths only).
fn is_allowed(allowed: &[String], path: &BundlePath) -> bool {
    allowed.iter().any(|a| a == path.as_str())
}

/// Opens a file the gate judges (a source at pack time, a staged file at unpack time), with its
/// length.
fn open_sized(local: &Path) -> Result<(std::fs::File, u64)> {
    let file = crate::util::fs::open_input(local, "file")?;
    let size = file
        .metadata()
        .map_err(|e| Error::io("read", local, e))?
        .len();
    Ok((file, size))
}

/// Runs the content gate on one file unless `allowed` exempts its path, and with `weights` the
/// model-approval rule on its bytes (a weights file outside a `model` artifact).
pub(crate) fn gate_file(
    bundle: &Path,
    path: &BundlePath,
    local: &Path,
    allowed: &[String],
    weights: Option<&WeightsRule<'_>>,
) -> Result<()> {
    if is_allowed(allowed, path) {
        return Ok(());
    }
    let (mut file, size) = open_sized(local)?;
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
