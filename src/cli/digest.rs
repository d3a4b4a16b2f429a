//! `airlock digest`: the tree digest a policy approves a model by.
use super::Done;
use super::common::OutputArgs;
use std::path::PathBuf;

/// `airlock digest`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A file or directory.
    pub path: PathBuf,
    /// Output flags.
    #[command(flatten)]
    pub output: OutputArgs,
}

impl Args {
    /// Prints the digest.
    pub fn run(&self) -> anyhow::Result<Done> {
        let d = airlock::pack::source::tree_digest_of(&self.path)?;
        let text = format!("sha256:{}", airlock::format::digest::hex(&d));
        let result = serde_json::json!({"path": self.path, "tree_digest": text});
        Done::stdout(&result, format!("{text}  {}\n", self.path.display()))
    }
}
