//! Typed safeguard configs: content filter, audit logging, rate limits and human review. Each
//! config file holds exactly one of these tables; unknown keys and wrong types are errors that name
//! the file, the key and the line.
use serde::Deserialize;
use std::collections::BTreeSet;

/// Content filter strengths, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Strength {
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Strict.
    Strict,
}

/// `[content_filter]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ContentFilter {
    /// Categories filtered.
    pub categories: BTreeSet<String>,
    /// Strength.
    pub strength: Strength,
}

/// `[audit_logging]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuditLogging {
    /// Whether audit logging is on.
    pub enabled: bool,
    /// Days logs are kept.
    pub retention_days: u32,
    /// Where logs go.
    pub destination: String,
}

/// `[rate_limits]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimits {
    /// Requests per minute per client.
    pub requests_per_minute: u32,
    /// Tokens per minute per client, if limited.
    pub tokens_per_minute: Option<u64>,
}

/// `[human_review]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct HumanReview {
    /// Actions that need a human reviewer.
    pub actions: BTreeSet<String>,
}

/// One safeguard config.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Safeguard {
    /// Content filter.
    ContentFilter(ContentFilter),
    /// Audit logging.
    AuditLogging(AuditLogging),
    /// Rate limits.
    RateLimits(RateLimits),
    /// Human review.
    HumanReview(HumanReview),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSafeguard {
    content_filter: Option<ContentFilter>,
    audit_logging: Option<AuditLogging>,
    rate_limits: Option<RateLimits>,
    human_review: Option<HumanReview>,
}

/// The safeguard kinds, as policies name them.
pub const KINDS: [&str; 4] = [
    "content_filter",
    "audit_logging",
    "rate_limits",
    "human_review",
];

impl Safeguard {
    /// Parses a safeguard config file's text. `name` is used in messages.
    pub fn parse(name: &str, text: &str) -> Result<Safeguard, String> {
        let raw: RawSafeguard = toml::from_str(text).map_err(|e| format!("{name}: {e}"))?;
        let mut found = Vec::new();
        if let Some(c) = raw.content_filter {
            found.push(Safeguard::ContentFilter(c));
        }
        if let Some(c) = raw.audit_logging {
            found.push(Safeguard::AuditLogging(c));
        }
        if let Some(c) = raw.rate_limits {
            found.push(Safeguard::RateLimits(c));
        }
        if let Some(c) = raw.human_review {
            found.push(Safeguard::HumanReview(c));
        }
        match found.len() {
            1 => Ok(found.pop().expect("one")),
            0 => Err(format!(
                "{name}: no safeguard table; expected one of [{}]",
                KINDS.join("], [")
            )),
            _ => Err(format!(
                "{name}: holds more than one safeguard table; put each in its own file"
            )),
        }
    }

    /// The kind's name.
    pub fn kind(&self) -> &'static str {
        match self {
            Safeguard::ContentFilter(_) => "content_filter",
            Safeguard::AuditLogging(_) => "audit_logging",
            Safeguard::RateLimits(_) => "rate_limits",
            Safeguard::HumanReview(_) => "human_review",
        }
    }

    /// A one-line summary of the settings.
    pub fn summary(&self) -> String {
        let list = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join(",");
        match self {
            Safeguard::ContentFilter(c) => format!(
                "strength={:?} categories={}",
                c.strength,
                list(&c.categories)
            )
            .to_lowercase(),
            Safeguard::AuditLogging(a) => format!(
                "enabled={} retention_days={} destination={}",
                a.enabled, a.retention_days, a.destination
            ),
            Safeguard::RateLimits(r) => format!(
                "requests_per_minute={} tokens_per_minute={}",
                r.requests_per_minute,
                r.tokens_per_minute
                    .map_or("unlimited".to_string(), |t| t.to_string())
            ),
            Safeguard::HumanReview(h) => format!("actions={}", list(&h.actions)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_kind() {
        let s = Safeguard::parse(
            "cf.toml",
            "[content_filter]\ncategories = [\"cbrn\"]\nstrength = \"high\"\n",
        )
        .unwrap();
        assert_eq!(s.kind(), "content_filter");
        let s = Safeguard::parse("rl.toml", "[rate_limits]\nrequests_per_minute = 5\n").unwrap();
        assert_eq!(
            s.summary(),
            "requests_per_minute=5 tokens_per_minute=unlimited"
        );
    }

    #[test]
    fn unknown_keys_and_wrong_types_name_file_key_and_line() {
        let err = Safeguard::parse(
            "cf.toml",
            "[content_filter]\ncategories = []\nstrength = \"high\"\nstrenght = 1\n",
        )
        .unwrap_err();
        assert!(
            err.contains("cf.toml") && err.contains("strenght") && err.contains("line 4"),
            "{err}"
        );
        let err = Safeguard::parse(
            "al.toml",
            "[audit_logging]\nenabled = \"yes\"\nretention_days = 1\ndestination = \"x\"\n",
        )
        .unwrap_err();
        assert!(err.contains("al.toml") && err.contains("line 2"), "{err}");
        let err = Safeguard::parse(
            "cf.toml",
            "[content_filter]\ncategories = []\nstrength = \"extreme\"\n",
        )
        .unwrap_err();
        assert!(err.contains("extreme"), "{err}");
    }

    #[test]
    fn exactly_one_table() {
        assert!(
            Safeguard::parse("x", "")
                .unwrap_err()
                .contains("no safeguard table")
        );
        let two = "[rate_limits]\nrequests_per_minute = 5\n[human_review]\nactions = []\n";
        assert!(
            Safeguard::parse("x", two)
                .unwrap_err()
                .contains("more than one")
        );
    }
}
