//! `airlock digest`: the tree digest a policy approves a model by, and the OpenSSF Model
//! Signing root digest the provider's signature states for the same directory.
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
    /// Also print the OMS root digest of the directory, as `model_signing sign key` computes it
    /// (SHA-256 over the files' SHA-256 digests in path order; git paths and a `model.sig` at
    /// the root left out): the subject digest of the provider's signature, to cross-check.
    #[arg(long)]
    pub oms: bool,
    /// The provider's OMS signature file the spec names for this model (`oms_signature`): print
    /// the tree digest of PATH with it added as `model.sig`, as `pack` adds it, which is the
    /// digest the policy approves.
    #[arg(long, value_name = "SIG")]
    pub oms_signature: Option<PathBuf>,
    /// Output flags.
    #[command(flatten)]
    pub output: OutputArgs,
}

impl Args {
    /// Prints the digest.
    pub fn run(&self) -> anyhow::Result<Done> {
        let suite: airlock::format::manifest::Suite = self.suite.into();
        let d = airlock::pack::source::tree_digests_of(
            &self.path,
            self.oms_signature.as_deref(),
            suite.hash(),
        )?;
        let text = d.tree_digest.prefixed();
        let mut result = serde_json::json!({"path": self.path, "tree_digest": text});
        let mut human = format!("{text}  {}\n", self.path.display());
        if self.oms {
            let Some((root, files)) = d.oms_root else {
                return Err(airlock::Error::config(
                    &self.path,
                    "is a single file; OMS signatures of a model cover a directory",
                    "pass the model directory",
                )
                .into());
            };
            let root = format!("sha256:{}", airlock::format::digest::hex(&root));
            human.push_str(&format!(
                "{root}  {} (OMS root digest of {files} files)\n",
                self.path.display()
            ));
            result["oms_root_digest"] = root.into();
            result["oms_files"] = files.into();
        }
        Done::stdout(&result, human)
    }
}
