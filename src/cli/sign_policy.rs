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
    /// Signature file [default: POLICY.minisig].
    #[arg(short, long = "output", value_name = "OUT")]
    pub out: Option<PathBuf>,
    /// Output flags.
    #[command(flatten)]
    pub output: OutputArgs,
}

impl Args {
    /// Signs the policy.
    pub fn run(&self) -> anyhow::Result<Done> {
        let key = self.key.load()?;
        let out = airlock::pack::sign::sign_policy(
            &self.policy,
            &key,
            Timestamp::now(),
            self.out.as_deref(),
        )?;
        let result = serde_json::json!({
            "policy": self.policy, "signature_file": out, "key_id": key.id,
        });
        let text = format!(
            "{}: signed by policy key {} -> {}\n",
            self.policy.display(),
            key.id,
            out.display()
        );
        Done::stderr(&result, text)
    }
}
