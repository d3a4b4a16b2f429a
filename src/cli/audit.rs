//! `airlock audit`: tools for the hash-chained audit log.
use super::Done;
use super::common::OutputArgs;
use std::path::PathBuf;

/// `airlock audit ...`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Check an audit log's hash chain: every line's prev_sha256 must be the sha256 of the line before.
    #[command(after_help = super::help::AUDIT_VERIFY_HELP)]
    Verify(VerifyArgs),
}

/// `airlock audit verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The audit log (JSON lines).
    pub log: PathBuf,
    /// Output flags.
    #[command(flatten)]
    pub output: OutputArgs,
}

impl VerifyArgs {
    /// Checks the chain.
    pub fn run(&self) -> anyhow::Result<Done> {
        let r = airlock::receive::audit::verify_chain(&self.log)?;
        let text = format!(
            "{}: chain intact, {} lines, head sha256:{}\n",
            self.log.display(),
            r.lines,
            r.head_sha256
        );
        Done::stderr(&r, text)
    }
}
