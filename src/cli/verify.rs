//! `airlock verify`: a bundle, one volume or a delta against the trust file.
use super::Done;
use super::common::CheckArgs;
use airlock::receive::verify::{VerifyOptions, verify};
use airlock::report::render;
use airlock::trust::Trust;
use std::path::PathBuf;

/// `airlock verify`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The bundle; or one volume (NAME.airlock.tar.zst.002) of a split bundle: its frames are
    /// checked against the signed manifest copy it carries and the files it holds are listed; or a
    /// delta: its signatures and the frames it carries are checked (no base needed).
    pub bundle: PathBuf,
    /// Shared flags.
    #[command(flatten)]
    pub check: CheckArgs,
    /// Also decompress every frame and check every file's size and sha256 (writes nothing).
    #[arg(long)]
    pub deep: bool,
}

impl Args {
    /// Verifies, logging the decision when asked.
    pub fn run(&self) -> anyhow::Result<Done> {
        let trust = Trust::load(&self.check.trust)?;
        let now = self.check.now();
        let opts = VerifyOptions {
            now,
            deep: self.deep,
            threads: self.check.threads.get(),
            state: Some(self.check.state()),
        };
        let r = airlock::receive::logged(
            "verify",
            &self.bundle,
            self.check.audit_log.as_deref(),
            now,
            || airlock::container::open(&self.bundle),
            |o| o.signed(),
            |o| verify(o, &trust, &opts),
            |r| r,
        )?;
        Done::stderr(&r, render::verify(&r))
    }
}
