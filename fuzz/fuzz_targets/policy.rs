//! The policy parser (`trust::policy::Policy::parse`) and its evaluation
//! (`trust::policy::evaluate`) against fuzzed bundle facts: targets, models, safeguard configs,
//! notice times, weights outside model artifacts and the clock. Evaluation does arithmetic on
//! signer-controlled values (notice periods, retention days, rate limits), which must never
//! overflow or panic.
//!
//! Input: the policy text, a NUL byte, then the bytes the facts are drawn from. Facts reuse the
//! policy's own names and digests half of the time, so evaluation gets past the approval rules.
#![no_main]

use airlock::format::digest::{Digest, HashAlg};
use airlock::format::manifest::Suite;
use airlock::format::time::{MAX_UNIX, Timestamp};
use airlock::trust::policy::{BundleFacts, Policy, StrayWeights, evaluate, judge_stray_weights};
use airlock::trust::safeguards::{
    AuditLogging, ContentFilter, HumanReview, RateLimits, Safeguard, Strength,
};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeSet;

const WORDS: &[&str] = &[
    "aws-secret",
    "azure-top-secret",
    "acme-7b",
    "*",
    "violence",
    "cbrn",
    "export-weights",
    "fine-tune",
    "",
];

fn word<'b>(u: &mut Unstructured<'_>, own: &[&'b str]) -> Result<&'b str> {
    if !own.is_empty() && u.arbitrary::<bool>()? {
        return u.choose(own).copied();
    }
    u.choose(WORDS).copied()
}

fn digest(u: &mut Unstructured<'_>, own: &[Digest]) -> Result<Digest> {
    if !own.is_empty() && u.arbitrary::<bool>()? {
        return u.choose(own).copied();
    }
    if u.arbitrary::<bool>()? {
        Ok(Digest::sha256(u.arbitrary()?))
    } else {
        let bytes: [u8; 48] = u.arbitrary()?;
        Ok(Digest::from_slice(HashAlg::Sha384, &bytes).expect("48 bytes"))
    }
}

fn time(u: &mut Unstructured<'_>) -> Result<Timestamp> {
    let secs = match u.int_in_range(0u8..=3)? {
        0 => 0,
        1 => MAX_UNIX,
        _ => u.int_in_range(0..=MAX_UNIX)?,
    };
    Ok(Timestamp::from_unix(secs).expect("in range"))
}

fn words(u: &mut Unstructured<'_>, own: &[&str]) -> Result<BTreeSet<String>> {
    let n = u.int_in_range(0..=3)?;
    (0..n).map(|_| word(u, own).map(str::to_string)).collect()
}

fn safeguard(u: &mut Unstructured<'_>, own: &[&str]) -> Result<Safeguard> {
    Ok(match u.int_in_range(0u8..=3)? {
        0 => Safeguard::ContentFilter(ContentFilter {
            categories: words(u, own)?,
            strength: *u.choose(&[
                Strength::Low,
                Strength::Medium,
                Strength::High,
                Strength::Strict,
            ])?,
        }),
        1 => Safeguard::AuditLogging(AuditLogging {
            enabled: u.arbitrary()?,
            retention_days: u.arbitrary()?,
            destination: "syslog://fuzz".into(),
        }),
        2 => Safeguard::RateLimits(RateLimits {
            requests_per_minute: u.arbitrary()?,
            tokens_per_minute: u.arbitrary()?,
        }),
        _ => Safeguard::HumanReview(HumanReview {
            actions: words(u, own)?,
        }),
    })
}

fn facts<'b>(
    u: &mut Unstructured<'_>,
    own: &[&'b str],
    digests: &[Digest],
) -> Result<(BundleFacts<'b>, Timestamp)> {
    let target = word(u, own)?;
    let models = (0..u.int_in_range(0..=3)?)
        .map(|_| Ok((word(u, own)?, digest(u, digests)?)))
        .collect::<Result<Vec<_>>>()?;
    let safeguards = (0..u.int_in_range(0..=5)?)
        .map(|i| Ok((format!("safeguard/s/{i}.toml"), safeguard(u, own)?)))
        .collect::<Result<Vec<_>>>()?;
    let stray_weights = (0..u.int_in_range(0..=2)?)
        .map(|i| {
            Ok(StrayWeights {
                kind: "data",
                artifact: word(u, own)?.to_string(),
                tree_digest: digest(u, digests)?,
                path: format!("data/w/{i}.safetensors"),
                format: "safetensors",
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let notice_given = if u.arbitrary()? { Some(time(u)?) } else { None };
    let not_before = if u.arbitrary()? { Some(time(u)?) } else { None };
    let now = time(u)?;
    Ok((
        BundleFacts {
            target,
            models,
            safeguards,
            notice_given,
            not_before,
            stray_weights,
            suite: if u.arbitrary()? {
                Suite::Cnsa2
            } else {
                Suite::Classic
            },
        },
        now,
    ))
}

fuzz_target!(|data: &[u8]| {
    let (text, rest) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let Ok(policy) = Policy::parse(text) else {
        return;
    };
    let mut own: Vec<&str> = Vec::new();
    for m in &policy.models {
        own.push(&m.name);
        own.extend(m.targets.iter().map(String::as_str));
    }
    own.extend(policy.sensitive_targets.iter().map(|s| s.name.as_str()));
    own.extend(
        policy
            .requirements
            .iter()
            .flat_map(|r| [r.target.as_str(), r.model.as_str()]),
    );
    let digests: Vec<Digest> = policy.models.iter().map(|m| m.tree_digest).collect();
    let mut u = Unstructured::new(rest);
    let Ok((facts, now)) = facts(&mut u, &own, &digests) else {
        return;
    };
    let verdict = evaluate(&policy, &facts, now);
    let strays = judge_stray_weights(&policy, facts.target, &facts.stray_weights);
    // The stray-weights rule is part of the evaluation: a refusal there is a refusal overall.
    if let Err(v) = strays
        && verdict.is_ok()
    {
        panic!("evaluate accepted weights judge_stray_weights refuses: {v:?}");
    }
});
