//! `airlock sign`: a countersignature, rewriting only the manifest frame and footer.
use super::Done;
use super::common::{KeyArgs, OutputArgs};
use airlock::format::signature::Role;
use airlock::format::time::Timestamp;
use std::path::PathBuf;

/// The role a signature claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RoleArg {
    /// The transfer officer's countersignature.
    Transfer,
    /// A release signature.
    Release,
    /// The policy role (its signatures are on policy.toml; a manifest signature by it counts for nothing).
    Policy,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Transfer => Role::Transfer,
            RoleArg::Release => Role::Release,
            RoleArg::Policy => Role::Policy,
        }
    }
}

/// `airlock sign`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The bundle (rewritten in place unless -o is given). In place, its manifest frame and footer
    /// are first saved to BUNDLE.airlock-sign-undo, removed on success; if a sign is interrupted,
    /// the next one prints the command that restores the bundle from it.
    pub bundle: PathBuf,
    /// Signing keys (one signature each, added in one rewrite).
    #[command(flatten)]
    pub key: KeyArgs,
    /// Role recorded in the trusted comment.
    #[arg(long, value_enum, default_value_t = RoleArg::Transfer)]
    pub role: RoleArg,
    /// Write the countersigned bundle here instead of rewriting BUNDLE.
    #[arg(short, long = "output", value_name = "OUT")]
    pub out: Option<PathBuf>,
    /// Output flags.
    #[command(flatten)]
    pub output: OutputArgs,
}

impl Args {
    /// Countersigns.
    pub fn run(&self) -> anyhow::Result<Done> {
        let keys = self.key.load_all()?;
        let r = airlock::pack::sign::countersign(
            &self.bundle,
            &keys,
            self.role.into(),
            Timestamp::now(),
            self.out.as_deref(),
        )?;
        let text: String = r
            .signatures
            .iter()
            .map(|s| {
                format!(
                    "{}: added {} (key {}, {}, as {})\n",
                    r.output.display(),
                    s.file,
                    s.key_id,
                    s.algorithm,
                    r.role
                )
            })
            .collect();
        Done::stderr(&r, text)
    }
}
