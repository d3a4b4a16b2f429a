//! The model provider's policy manifest (`policy.toml`, signed by the `policy` role): which models
//! (by tree digest) may go to which targets, which safeguards each deployment must carry and at
//! what minimum settings, which targets need advance notice, and which paths are exempt from the
//! content gate, and the provider's OpenSSF Model Signing keys. `evaluate` applies it to a bundle,
//! at pack time and again on the receiving side (the OMS rules: `trust::oms::judge`).
use crate::format::digest::Digest;
use crate::format::manifest::Suite;
use crate::format::path::check_label;
use crate::format::time::Timestamp;
use crate::trust::oms::OmsKey;
use crate::trust::safeguards::{Safeguard, Strength};
use serde::Deserialize;
use std::collections::BTreeSet;

/// The longest notice period a policy may demand, in days (100 years): a bound on a value the
/// receiving side adds to a date.
pub const MAX_NOTICE_DAYS: u64 = 36_525;

/// File name of the policy inside a policy artifact.
pub const POLICY_FILE: &str = "policy.toml";

/// An approved model.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApprovedModel {
    /// Model (artifact) name.
    pub name: String,
    /// Approved tree digest.
    pub tree_digest: Digest,
    /// Targets it may be deployed to.
    pub targets: BTreeSet<String>,
    /// Whether the model must carry the provider's OpenSSF model signature (`require_oms`),
    /// checked against the policy's `oms_keys` (`trust::oms::judge`).
    pub require_oms: bool,
}

/// A minimum a safeguard must meet.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Minimum {
    /// Content filter at least this strength, covering these categories.
    ContentFilter {
        /// Minimum strength.
        min_strength: Option<Strength>,
        /// Categories that must be filtered.
        categories: BTreeSet<String>,
    },
    /// Audit logging on, kept at least this long.
    AuditLogging {
        /// Minimum retention.
        min_retention_days: Option<u32>,
    },
    /// Rate limits at most these.
    RateLimits {
        /// Maximum requests per minute.
        max_requests_per_minute: Option<u32>,
        /// Maximum tokens per minute.
        max_tokens_per_minute: Option<u64>,
    },
    /// Human review required for at least these actions.
    HumanReview {
        /// Actions that must need review.
        actions: BTreeSet<String>,
    },
}

impl Minimum {
    /// The safeguard kind this minimum applies to.
    pub fn kind(&self) -> &'static str {
        match self {
            Minimum::ContentFilter { .. } => "content_filter",
            Minimum::AuditLogging { .. } => "audit_logging",
            Minimum::RateLimits { .. } => "rate_limits",
            Minimum::HumanReview { .. } => "human_review",
        }
    }

    /// Why `config` falls short of this minimum, if it does.
    pub fn shortfall(&self, config: &Safeguard) -> Option<String> {
        let missing = |need: &BTreeSet<String>, have: &BTreeSet<String>| -> Option<String> {
            let gap: Vec<&String> = need.difference(have).collect();
            (!gap.is_empty()).then(|| {
                gap.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
        };
        match (self, config) {
            (
                Minimum::ContentFilter {
                    min_strength,
                    categories,
                },
                Safeguard::ContentFilter(c),
            ) => {
                if let Some(min) = min_strength
                    && c.strength < *min
                {
                    return Some(
                        format!(
                            "content_filter strength {:?} is below the policy's minimum {:?}",
                            c.strength, min
                        )
                        .to_lowercase(),
                    );
                }
                missing(categories, &c.categories)
                    .map(|g| format!("content_filter does not cover required categories: {g}"))
            }
            (Minimum::AuditLogging { min_retention_days }, Safeguard::AuditLogging(a)) => {
                if !a.enabled {
                    return Some("audit_logging is disabled; the policy requires it on".into());
                }
                match min_retention_days {
                    Some(min) if a.retention_days < *min => Some(format!(
                        "audit_logging retention_days {} is below the policy's minimum {min}",
                        a.retention_days
                    )),
                    _ => None,
                }
            }
            (
                Minimum::RateLimits {
                    max_requests_per_minute,
                    max_tokens_per_minute,
                },
                Safeguard::RateLimits(r),
            ) => {
                if let Some(max) = max_requests_per_minute
                    && r.requests_per_minute > *max
                {
                    return Some(format!(
                        "rate_limits requests_per_minute {} is above the policy's maximum {max}",
                        r.requests_per_minute
                    ));
                }
                match (max_tokens_per_minute, r.tokens_per_minute) {
                    (Some(max), None) => Some(format!(
                        "rate_limits sets no tokens_per_minute; the policy requires at most {max}"
                    )),
                    (Some(max), Some(t)) if t > *max => Some(format!(
                        "rate_limits tokens_per_minute {t} is above the policy's maximum {max}"
                    )),
                    _ => None,
                }
            }
            (Minimum::HumanReview { actions }, Safeguard::HumanReview(h)) => {
                missing(actions, &h.actions)
                    .map(|g| format!("human_review does not cover required actions: {g}"))
            }
            _ => Some(format!(
                "expected a {} config, found {}",
                self.kind(),
                config.kind()
            )),
        }
    }
}

/// A safeguard requirement.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Requirement {
    /// Target it applies to, or `*`.
    pub target: String,
    /// Model it applies to, or `*`.
    pub model: String,
    /// The minimum.
    pub minimum: Minimum,
}

/// A target that needs advance notice.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SensitiveTarget {
    /// Target name.
    pub name: String,
    /// Days between notice and activation.
    pub notice_days: u64,
}

/// A target whose bundles must be packed under a given suite (`[[target_suite]]`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TargetSuite {
    /// Target name.
    pub target: String,
    /// The suite its bundles must use.
    pub suite: Suite,
}

/// A path exempt from the content gate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AllowedFile {
    /// Bundle path.
    pub path: String,
    /// Why it is allowed.
    pub reason: String,
}

/// A parsed policy.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Policy {
    /// Policy id.
    pub id: String,
    /// Monotonic version.
    pub version: u64,
    /// Issue time.
    pub issued: Timestamp,
    /// Expiry.
    pub expires: Timestamp,
    /// Approved models.
    pub models: Vec<ApprovedModel>,
    /// Safeguard requirements.
    pub requirements: Vec<Requirement>,
    /// Sensitive targets.
    pub sensitive_targets: Vec<SensitiveTarget>,
    /// Content gate exceptions.
    pub allowed_files: Vec<AllowedFile>,
    /// Suites required per target.
    pub target_suites: Vec<TargetSuite>,
    /// The model provider's OpenSSF Model Signing verification keys (`[policy] oms_keys`).
    pub oms_keys: Vec<OmsKey>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    policy: RawHeader,
    #[serde(default)]
    model: Vec<RawModel>,
    #[serde(default)]
    required_safeguard: Vec<RawRequirement>,
    #[serde(default)]
    sensitive_target: Vec<SensitiveRaw>,
    #[serde(default)]
    allowed_file: Vec<RawAllowed>,
    #[serde(default)]
    target_suite: Vec<RawTargetSuite>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTargetSuite {
    target: String,
    suite: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeader {
    id: String,
    version: u64,
    issued: String,
    expires: String,
    #[serde(default)]
    oms_keys: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    name: String,
    tree_digest: String,
    targets: BTreeSet<String>,
    #[serde(default)]
    require_oms: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequirement {
    #[serde(default = "star")]
    target: String,
    #[serde(default = "star")]
    model: String,
    kind: String,
    min_strength: Option<Strength>,
    categories: Option<BTreeSet<String>>,
    min_retention_days: Option<u32>,
    max_requests_per_minute: Option<u32>,
    max_tokens_per_minute: Option<u64>,
    actions: Option<BTreeSet<String>>,
}

fn star() -> String {
    "*".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SensitiveRaw {
    name: String,
    notice_days: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAllowed {
    path: String,
    reason: String,
}

impl RawRequirement {
    fn into_minimum(self) -> Result<Requirement, String> {
        let kind = self.kind.as_str();
        let stray = |allowed: &[&str]| -> Result<(), String> {
            let set = [
                ("min_strength", self.min_strength.is_some()),
                ("categories", self.categories.is_some()),
                ("min_retention_days", self.min_retention_days.is_some()),
                (
                    "max_requests_per_minute",
                    self.max_requests_per_minute.is_some(),
                ),
                (
                    "max_tokens_per_minute",
                    self.max_tokens_per_minute.is_some(),
                ),
                ("actions", self.actions.is_some()),
            ];
            match set
                .iter()
                .find(|(k, present)| *present && !allowed.contains(k))
            {
                Some((k, _)) => Err(format!(
                    "required_safeguard of kind {kind}: `{k}` does not apply to this kind"
                )),
                None => Ok(()),
            }
        };
        let minimum = match kind {
            "content_filter" => {
                stray(&["min_strength", "categories"])?;
                Minimum::ContentFilter {
                    min_strength: self.min_strength,
                    categories: self.categories.clone().unwrap_or_default(),
                }
            }
            "audit_logging" => {
                stray(&["min_retention_days"])?;
                Minimum::AuditLogging {
                    min_retention_days: self.min_retention_days,
                }
            }
            "rate_limits" => {
                stray(&["max_requests_per_minute", "max_tokens_per_minute"])?;
                Minimum::RateLimits {
                    max_requests_per_minute: self.max_requests_per_minute,
                    max_tokens_per_minute: self.max_tokens_per_minute,
                }
            }
            "human_review" => {
                stray(&["actions"])?;
                Minimum::HumanReview {
                    actions: self.actions.clone().unwrap_or_default(),
                }
            }
            other => {
                return Err(format!(
                    "required_safeguard kind `{other}` is not one of {}",
                    crate::trust::safeguards::KINDS.join(", ")
                ));
            }
        };
        Ok(Requirement {
            target: self.target,
            model: self.model,
            minimum,
        })
    }
}

impl Policy {
    /// Parses policy text; errors name the key and line.
    pub fn parse(text: &str) -> Result<Policy, String> {
        let raw: RawPolicy = toml::from_str(text).map_err(|e| format!("invalid policy: {e}"))?;
        check_label(&raw.policy.id).map_err(|e| format!("policy id: {e}"))?;
        let time = |what: &str, t: &str| {
            Timestamp::parse(t).ok_or_else(|| {
                format!("policy {what} `{t}` is not an RFC 3339 UTC time from 1970 to 9999-12-31T23:59:59Z")
            })
        };
        let models = raw
            .model
            .into_iter()
            .map(|m| {
                let digest = m
                    .tree_digest
                    .as_str();
                let digest = Digest::parse_prefixed(digest)
                    .ok_or_else(|| format!("model `{}`: tree_digest `{}` is not sha256:<64 hex digits> or sha384:<96 hex digits> (see `airlock digest`, `airlock digest --suite cnsa2`)", m.name, m.tree_digest))?;
                Ok(ApprovedModel { name: m.name, tree_digest: digest, targets: m.targets, require_oms: m.require_oms })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let oms_keys = parse_oms_keys(&raw.policy.oms_keys)?;
        if oms_keys.is_empty()
            && let Some(m) = models.iter().find(|m| m.require_oms)
        {
            return Err(format!(
                "model `{}`: require_oms = true, but [policy] names no oms_keys to check the signature with",
                m.name
            ));
        }
        let policy = Policy {
            oms_keys,
            id: raw.policy.id,
            version: raw.policy.version,
            issued: time("issued", &raw.policy.issued)?,
            expires: time("expires", &raw.policy.expires)?,
            models,
            requirements: raw
                .required_safeguard
                .into_iter()
                .map(RawRequirement::into_minimum)
                .collect::<Result<_, _>>()?,
            sensitive_targets: raw
                .sensitive_target
                .into_iter()
                .map(|s| {
                    if s.notice_days > MAX_NOTICE_DAYS {
                        return Err(format!(
                            "sensitive_target `{}`: notice_days = {} is more than {MAX_NOTICE_DAYS} (100 years)",
                            s.name, s.notice_days
                        ));
                    }
                    Ok(SensitiveTarget {
                        name: s.name,
                        notice_days: s.notice_days,
                    })
                })
                .collect::<Result<_, String>>()?,
            allowed_files: raw
                .allowed_file
                .into_iter()
                .map(|a| AllowedFile {
                    path: a.path,
                    reason: a.reason,
                })
                .collect(),
            target_suites: Vec::new(),
        };
        let mut policy = policy;
        for t in raw.target_suite {
            let suite = Suite::parse(&t.suite).ok_or_else(|| {
                format!(
                    "target_suite `{}`: suite `{}` is not classic or cnsa2",
                    t.target, t.suite
                )
            })?;
            if policy.target_suites.iter().any(|x| x.target == t.target) {
                return Err(format!("target_suite `{}` is listed twice", t.target));
            }
            policy.target_suites.push(TargetSuite {
                target: t.target,
                suite,
            });
        }
        if policy.issued >= policy.expires {
            return Err("policy `expires` is not after `issued`".into());
        }
        Ok(policy)
    }

    /// The `[policy] oms_keys` entry a key fingerprint belongs to, if any.
    pub fn oms_key_index(&self, fingerprint: &str) -> Option<usize> {
        self.oms_keys
            .iter()
            .position(|k| k.fingerprint() == fingerprint)
    }

    /// Whether the content gate exempts `path`.
    pub fn allows_file(&self, path: &str) -> bool {
        self.allowed_files.iter().any(|a| a.path == path)
    }
}

/// Parses `[policy] oms_keys`, refusing a key listed twice (by its public key, whatever its
/// encoding): one key is one signer.
fn parse_oms_keys(texts: &[String]) -> Result<Vec<OmsKey>, String> {
    let mut keys: Vec<OmsKey> = Vec::with_capacity(texts.len());
    for (i, text) in texts.iter().enumerate() {
        let key = OmsKey::from_base64(i, text).map_err(|e| format!("[policy] {e}"))?;
        if let Some(j) = keys
            .iter()
            .position(|k| k.fingerprint() == key.fingerprint())
        {
            return Err(format!(
                "[policy] oms_keys[{j}] and oms_keys[{i}] are the same public key (fingerprint {}); list it once",
                key.fingerprint()
            ));
        }
        keys.push(key);
    }
    Ok(keys)
}

/// What the policy is applied to.
pub struct BundleFacts<'a> {
    /// The bundle's target.
    pub target: &'a str,
    /// The bundle's cryptographic suite.
    pub suite: Suite,
    /// Model artifacts: (name, tree digest).
    pub models: Vec<(&'a str, Digest)>,
    /// Safeguard configs: (bundle path, parsed config).
    pub safeguards: Vec<(String, Safeguard)>,
    /// When notice was given, if the bundle says.
    pub notice_given: Option<Timestamp>,
    /// Earliest activation, if the bundle says.
    pub not_before: Option<Timestamp>,
    /// Weight-format files outside `model` artifacts (and not exempted by `[[allowed_file]]`).
    pub stray_weights: Vec<StrayWeights>,
}

/// A weight-format file (safetensors, GGUF, ONNX, PyTorch, NumPy, HDF5/Keras, ...) found in an
/// artifact that is not of kind `model`: the model-approval rule must not be sidestepped by
/// shipping the same shards as `data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrayWeights {
    /// The artifact's kind (`data`, ...).
    pub kind: &'static str,
    /// The artifact's name.
    pub artifact: String,
    /// The artifact's tree digest.
    pub tree_digest: Digest,
    /// The file's bundle path.
    pub path: String,
    /// Its format, one of `gate::WEIGHT_FORMATS`.
    pub format: &'static str,
}

/// The model-approval rule for weights outside `model` artifacts: each such artifact must be
/// approved by a `[[model]]` entry with its name and tree digest, for the target.
pub fn judge_stray_weights(
    policy: &Policy,
    target: &str,
    strays: &[StrayWeights],
) -> Result<Vec<Decision>, Violation> {
    let pid = format!("policy {} v{}", policy.id, policy.version);
    let mut out = Vec::new();
    for w in strays {
        let approved = policy
            .models
            .iter()
            .find(|m| m.name == w.artifact && m.tree_digest == w.tree_digest);
        match approved {
            None => {
                return Err(Violation {
                    rule: "model-approval",
                    detail: format!(
                        "{} artifact `{}` holds `{}`, a {} weights file, and {pid} does not approve that artifact: weights travel as a `model` artifact the policy approves, as an artifact approved by tree digest ([[model]] name = \"{}\" tree_digest = \"{}\"), or as a file the policy names in [[allowed_file]]",
                        w.kind,
                        w.artifact,
                        w.path,
                        w.format,
                        w.artifact,
                        w.tree_digest.prefixed()
                    ),
                });
            }
            Some(m) if !m.targets.contains(target) => {
                return Err(Violation {
                    rule: "model-target",
                    detail: format!(
                        "{} artifact `{}` (weights in `{}`) is approved by {pid} for {} only, not for target `{target}`",
                        w.kind,
                        w.artifact,
                        w.path,
                        m.targets.iter().cloned().collect::<Vec<_>>().join(", ")
                    ),
                });
            }
            Some(_) => out.push(Decision {
                rule: "model-approval",
                detail: format!(
                    "{} artifact `{}` (weights in `{}`) {} approved for `{target}` by {pid}",
                    w.kind,
                    w.artifact,
                    w.path,
                    w.tree_digest.prefixed()
                ),
            }),
        }
    }
    Ok(out)
}

/// A rule that held.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Decision {
    /// Stable rule name.
    pub rule: &'static str,
    /// What held.
    pub detail: String,
}

/// A rule that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Stable rule name: policy-expiry, model-approval, model-target, suite, safeguard-missing,
    /// safeguard-minimum, notice-period, not-before.
    pub rule: &'static str,
    /// What failed.
    pub detail: String,
}

/// Applies `policy` to a bundle. `now` is the time to judge expiry and `not_before` against
/// (the packer passes its clock too: packing for an expired policy is refused).
pub fn evaluate(
    policy: &Policy,
    facts: &BundleFacts<'_>,
    now: Timestamp,
) -> Result<Vec<Decision>, Violation> {
    let fail = |rule: &'static str, detail: String| Err(Violation { rule, detail });
    let mut out = Vec::new();
    let pid = format!("policy {} v{}", policy.id, policy.version);
    if now >= policy.expires {
        return fail(
            "policy-expiry",
            format!("{pid} expired at {}", policy.expires),
        );
    }
    out.push(Decision {
        rule: "policy-expiry",
        detail: format!("{pid} valid until {}", policy.expires),
    });
    if let Some(t) = policy
        .target_suites
        .iter()
        .find(|t| t.target == facts.target)
    {
        if t.suite != facts.suite {
            return fail(
                "suite",
                format!(
                    "{pid} requires the {} suite for target `{}`; this bundle is {}",
                    t.suite.name(),
                    t.target,
                    facts.suite.name()
                ),
            );
        }
        out.push(Decision {
            rule: "suite",
            detail: format!(
                "{} suite required for `{}` by {pid}",
                t.suite.name(),
                t.target
            ),
        });
    }
    for (name, digest) in &facts.models {
        let approved: Vec<&ApprovedModel> =
            policy.models.iter().filter(|m| m.name == *name).collect();
        let Some(model) = approved.iter().find(|m| m.tree_digest == *digest) else {
            let other_algorithm = !approved.is_empty()
                && approved.iter().all(|m| m.tree_digest.alg() != digest.alg());
            return fail(
                "model-approval",
                format!(
                    "model `{name}` with tree digest {} is not approved by {pid}{}",
                    digest.prefixed(),
                    if other_algorithm {
                        format!(
                            " (the policy approves `{name}` by {} digest only; for a {} bundle it must list the model's {} tree digest too, from `airlock digest --suite {}`)",
                            approved[0].tree_digest.alg().name(),
                            facts.suite.name(),
                            digest.alg().name(),
                            facts.suite.name()
                        )
                    } else {
                        String::new()
                    }
                ),
            );
        };
        if !model.targets.contains(facts.target) {
            return fail(
                "model-target",
                format!(
                    "model `{name}` is approved by {pid} for {} only, not for target `{}`",
                    model.targets.iter().cloned().collect::<Vec<_>>().join(", "),
                    facts.target
                ),
            );
        }
        out.push(Decision {
            rule: "model-approval",
            detail: format!(
                "model `{name}` {} approved for `{}` by {pid}",
                digest.prefixed(),
                facts.target
            ),
        });
    }
    out.extend(judge_stray_weights(
        policy,
        facts.target,
        &facts.stray_weights,
    )?);
    for req in &policy.requirements {
        let applies_target = req.target == "*" || req.target == facts.target;
        let applies_model = req.model == "*" || facts.models.iter().any(|(n, _)| *n == req.model);
        if !(applies_target && applies_model) {
            continue;
        }
        let kind = req.minimum.kind();
        let candidates: Vec<&(String, Safeguard)> = facts
            .safeguards
            .iter()
            .filter(|(_, s)| s.kind() == kind)
            .collect();
        if candidates.is_empty() {
            return fail(
                "safeguard-missing",
                format!(
                    "{pid} requires a {kind} safeguard for target `{}`; the bundle has none",
                    facts.target
                ),
            );
        }
        let mut reasons = Vec::new();
        let mut met = None;
        for (path, config) in &candidates {
            match req.minimum.shortfall(config) {
                None => {
                    met = Some(path.clone());
                    break;
                }
                Some(r) => reasons.push(format!("{path}: {r}")),
            }
        }
        match met {
            Some(path) => out.push(Decision {
                rule: "safeguard-minimum",
                detail: format!("{kind} in {path} meets {pid}"),
            }),
            None => return fail("safeguard-minimum", reasons.join("; ")),
        }
    }
    if let Some(s) = policy
        .sensitive_targets
        .iter()
        .find(|s| s.name == facts.target)
    {
        let (Some(given), Some(not_before)) = (facts.notice_given, facts.not_before) else {
            return fail(
                "notice-period",
                format!(
                    "target `{}` needs {} days' notice under {pid}; the bundle carries no notice_given and not_before",
                    s.name, s.notice_days
                ),
            );
        };
        // notice_days is bounded at parse time; the checked sum is the second line of defence,
        // so no value, however large, can wrap around to an early date.
        let Some(earliest) = given.checked_add_days(s.notice_days) else {
            return fail(
                "notice-period",
                format!(
                    "target `{}` needs {} days' notice (notice_days): from notice given {given} that ends after 9999-12-31, so no not_before can meet it",
                    s.name, s.notice_days
                ),
            );
        };
        if not_before < earliest {
            return fail(
                "notice-period",
                format!(
                    "target `{}` needs {} days' notice: notice given {} allows activation from {}, but not_before is {}",
                    s.name, s.notice_days, given, earliest, not_before
                ),
            );
        }
        out.push(Decision {
            rule: "notice-period",
            detail: format!("notice given {given}, not before {not_before}"),
        });
    }
    Ok(out)
}

/// Checks `not_before` on the receiving side.
pub(crate) fn check_not_before(
    not_before: Option<Timestamp>,
    now: Timestamp,
) -> Result<(), Violation> {
    match not_before {
        Some(t) if now < t => Err(Violation {
            rule: "not-before",
            detail: format!("the bundle may not be activated before {t} (now {now})"),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::safeguards::Safeguard;

    const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    fn policy() -> Policy {
        Policy::parse(&format!(
            "[policy]\nid = \"p\"\nversion = 1\nissued = \"2026-01-01T00:00:00Z\"\nexpires = \"2027-01-01T00:00:00Z\"\n\
             [[model]]\nname = \"m\"\ntree_digest = \"{DIGEST}\"\ntargets = [\"a\", \"s\"]\n\
             [[required_safeguard]]\nkind = \"content_filter\"\nmin_strength = \"high\"\n\
             [[sensitive_target]]\nname = \"s\"\nnotice_days = 14\n"
        ))
        .unwrap()
    }

    fn facts<'a>(target: &'a str, strength: &str) -> BundleFacts<'a> {
        BundleFacts {
            target,
            suite: Suite::Classic,
            models: vec![("m", Digest::sha256([0x11; 32]))],
            safeguards: vec![(
                "safeguard/cf/cf.toml".into(),
                Safeguard::parse(
                    "cf",
                    &format!("[content_filter]\ncategories = []\nstrength = \"{strength}\"\n"),
                )
                .unwrap(),
            )],
            notice_given: None,
            not_before: None,
            stray_weights: Vec::new(),
        }
    }

    fn at(secs: u64) -> Timestamp {
        Timestamp::from_unix(secs).unwrap()
    }

    const NOW_SECS: u64 = 1_780_000_000;
    const NOW: Timestamp = match Timestamp::from_unix(NOW_SECS) {
        Some(t) => t,
        None => panic!("in range"),
    };

    #[test]
    fn allowed_bundle_passes() {
        assert!(evaluate(&policy(), &facts("a", "high"), NOW).is_ok());
    }

    #[test]
    fn each_rule_fails_with_its_name() {
        let p = policy();
        assert_eq!(
            evaluate(&p, &facts("b", "high"), NOW).unwrap_err().rule,
            "model-target"
        );
        assert_eq!(
            evaluate(&p, &facts("a", "medium"), NOW).unwrap_err().rule,
            "safeguard-minimum"
        );
        let mut f = facts("a", "high");
        f.safeguards.clear();
        assert_eq!(evaluate(&p, &f, NOW).unwrap_err().rule, "safeguard-missing");
        let mut f = facts("a", "high");
        f.models[0].1 = Digest::sha256([0x22; 32]);
        assert_eq!(evaluate(&p, &f, NOW).unwrap_err().rule, "model-approval");
        assert_eq!(
            evaluate(&p, &facts("a", "high"), at(1_900_000_000))
                .unwrap_err()
                .rule,
            "policy-expiry"
        );
        let mut f = facts("s", "high");
        assert_eq!(evaluate(&p, &f, NOW).unwrap_err().rule, "notice-period");
        f.notice_given = Some(NOW);
        f.not_before = NOW.checked_add_days(13);
        assert_eq!(evaluate(&p, &f, NOW).unwrap_err().rule, "notice-period");
        f.not_before = NOW.checked_add_days(14);
        assert!(evaluate(&p, &f, NOW).is_ok());
        assert_eq!(
            check_not_before(f.not_before, NOW).unwrap_err().rule,
            "not-before"
        );
    }

    #[test]
    fn requirement_fields_must_fit_the_kind() {
        let err = Policy::parse(
            "[policy]\nid = \"p\"\nversion = 1\nissued = \"2026-01-01T00:00:00Z\"\nexpires = \"2027-01-01T00:00:00Z\"\n\
             [[required_safeguard]]\nkind = \"rate_limits\"\nmin_strength = \"high\"\n",
        )
        .unwrap_err();
        assert!(err.contains("does not apply"), "{err}");
    }
}
