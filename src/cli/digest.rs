//! `airlock digest`: the tree digest a policy approves a model by.
use super::Done;
use super::common::OutputArgs;
use std::path::PathBuf;

/// `airlock digest`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A file or directory.
    pub path: PathBuf,
    /// The suite whose hash to use: classic prints `sha256:...`, cnsa2 `sha384:...` (a policy
    /// approving a model for cnsa2 bundles lists its sha384 digest).
    #[arg(long, value_enum, value_name = "SUITE", default_value = "classic")]
    pub suite: super::common::SuiteArg,
    /// Output flags.
    #[command(flatten)]
    pub output: OutputArgs,
}

impl Args {
    /// Prints the digest.
    pub fn run(&self) -> anyhow::Result<Done> {
        let suite: airlock::format::manifest::Suite = self.suite.into();
        let d = airlock::pack::source::tree_digest_of(&self.path, suite.hash())?;
        let text = d.prefixed();
        let result = serde_json::json!({"path": self.path, "tree_digest": text});
        Done::stdout(&result, format!("{text}  {}\n", self.path.display()))
    }
}
