//! `airlock patch`: old bundle + delta → the new bundle.
use super::Done;
use super::common::{OutputArgs, ThreadsArg};
use airlock::report::render;
use std::path::PathBuf;

/// `airlock patch`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The old bundle the delta was made against.
    pub old: PathBuf,
    /// The delta (from `airlock pack --base OLD`).
    pub delta: PathBuf,
    /// The new bundle to write [default: NAME-VERSION.airlock.tar.zst in the current directory].
    #[arg(short, long = "output", value_name = "NEW")]
    pub out: Option<PathBuf>,
    /// Worker threads.
    #[command(flatten)]
    pub threads: ThreadsArg,
    /// Output flags.
    #[command(flatten)]
    pub output: OutputArgs,
}

impl Args {
    /// Patches.
    pub fn run(&self) -> anyhow::Result<Done> {
        let r = airlock::container::delta::patch(
            &self.old,
            &self.delta,
            self.out.as_deref(),
            self.threads.get(),
        )?;
        Done::stderr(&r, render::patch(&r))
    }
}
