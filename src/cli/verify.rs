//! `airlock verify`: a bundle, one volume or a delta against the trust file.
use super::Done;
use super::common::CheckArgs;
use airlock::error::Error;
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
    /// Write the human report (every check, every signer) to FILE, or to stdout with `-`,
    /// instead of stderr. Written only when the bundle is accepted; not with `--json` and `-`.
    #[arg(long, value_name = "FILE|-")]
    pub report: Option<PathBuf>,
}

impl Args {
    /// Verifies, logging the decision when asked.
    pub fn run(&self) -> anyhow::Result<Done> {
        let to_stdout = self.report.as_deref() == Some(std::path::Path::new("-"));
        if to_stdout && self.check.output.json {
            return Err(Error::config(
                "--report",
                "`--report -` and `--json` would both write to stdout",
                "pass --report FILE to keep the human report beside the JSON document",
            )
            .into());
        }
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
        let text = render::verify(&r);
        match &self.report {
            None => Done::stderr(&r, text),
            Some(_) if to_stdout => Done::stdout(&r, text),
            Some(file) => {
                airlock::util::output::write_atomic(file, text.as_bytes())?;
                Done::stderr(
                    &r,
                    format!("{}: report written to {}\n", r.bundle, file.display()),
                )
            }
        }
    }
}
