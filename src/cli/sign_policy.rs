//! `airlock sign-policy`: the model provider's signature on policy.toml.
use super::Done;
use super::common::{KeyArgs, OutputArgs};
use airlock::format::time::Timestamp;
use std::path::PathBuf;

/// `airlock sign-policy`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The policy manifest (policy.toml).
    pub policy: PathBuf,
    /// Signing key (the model provider's policy key).
    #[command(flatten)]
    pub key: KeyArgs,
    /// Signature file [default: POLICY.minisig beside it for a minisign key, policy-KEYID.mldsa87
    /// beside it for an ML-DSA-87 key]. Only with a single --key.
    #[arg(short, long = "output", value_name = "OUT")]
    pub out: Option<PathBuf>,
    /// Output flags.
    #[command(flatten)]
    pub output: OutputArgs,
}

impl Args {
    /// Signs the policy.
    pub fn run(&self) -> anyhow::Result<Done> {
        let keys = self.key.load_all()?;
        if keys.len() > 1 && self.out.is_some() {
            return Err(airlock::Error::config(
                "--output",
                "one --output for several keys",
                "drop --output: each key's signature is written beside the policy under its own name",
            )
            .into());
        }
        let now = Timestamp::now();
        let mut signed = Vec::new();
        let mut text = String::new();
        for key in &keys {
            let out =
                airlock::pack::sign::sign_policy(&self.policy, key, now, self.out.as_deref())?;
            text.push_str(&format!(
                "{}: signed by policy key {} ({}) -> {}\n",
                self.policy.display(),
                key.id(),
                key.algorithm(),
                out.display()
            ));
            signed.push(serde_json::json!({
                "signature_file": out, "key_id": key.id(), "algorithm": key.algorithm(),
            }));
        }
        let first = &signed[0];
        let result = serde_json::json!({
            "policy": self.policy,
            "signature_file": first["signature_file"],
            "key_id": first["key_id"],
            "signatures": signed,
        });
        Done::stderr(&result, text)
    }
}
