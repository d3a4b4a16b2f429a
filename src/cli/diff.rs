//! `airlock diff`: what changes between two bundles' manifests.
use super::Done;
use super::common::OutputArgs;
use std::path::PathBuf;

/// `airlock diff`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The old bundle (or volume, or delta).
    pub old: PathBuf,
    /// The new bundle (or volume, or delta).
    pub new: PathBuf,
    /// Output flags.
    #[command(flatten)]
    pub output: OutputArgs,
}

impl Args {
    /// Compares.
    pub fn run(&self) -> anyhow::Result<Done> {
        let d = airlock::report::diff::diff_files(&self.old, &self.new)?;
        let text = airlock::report::diff::render(&d);
        Done::stdout(&d, text)
    }
}
