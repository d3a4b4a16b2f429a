//! `airlock join`: volumes → the single-file bundle.
use super::Done;
use super::common::{OutputArgs, ThreadsArg};
use airlock::report::render;
use std::path::PathBuf;

/// `airlock join`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The volumes, in any order (e.g. NAME-VERSION.airlock.tar.zst.0*), or just the first.
    #[arg(required = true, value_name = "VOLUMES")]
    pub volumes: Vec<PathBuf>,
    /// The bundle to write [default: NAME-VERSION.airlock.tar.zst in the current directory].
    #[arg(short, long = "output", value_name = "BUNDLE")]
    pub out: Option<PathBuf>,
    /// Worker threads.
    #[command(flatten)]
    pub threads: ThreadsArg,
    /// Output flags.
    #[command(flatten)]
    pub output: OutputArgs,
}

impl Args {
    /// Joins.
    pub fn run(&self) -> anyhow::Result<Done> {
        let r = airlock::container::volume::join(
            &self.volumes,
            self.out.as_deref(),
            self.threads.get(),
        )?;
        Done::stderr(&r, render::join(&r))
    }
}
