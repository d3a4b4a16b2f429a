//! `airlock inspect`: the transfer sheet, from the manifest frame alone.
use super::Done;
use super::common::{OutputArgs, parse_now};
use airlock::format::time::Timestamp;
use airlock::report::inspect;
use airlock::trust::Trust;
use std::path::PathBuf;

/// `airlock inspect`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The bundle (or one volume, or a delta).
    pub bundle: PathBuf,
    /// List every file with its sha256.
    #[arg(long)]
    pub files: bool,
    /// Mark which signers this trust file knows; when the bundle's and the policy's signatures
    /// meet it, also judge the policy's rules (exactly as verify does). Without it the policy is
    /// shown as carried, not verified.
    #[arg(long, value_name = "TRUST.toml")]
    pub trust: Option<PathBuf>,
    /// Judge the policy's rules at this time instead of now (RFC 3339 UTC).
    #[arg(long, value_name = "TIME", value_parser = parse_now)]
    pub now: Option<Timestamp>,
    /// Output flags.
    #[command(flatten)]
    pub output: OutputArgs,
}

impl Args {
    /// Prints the sheet.
    pub fn run(&self) -> anyhow::Result<Done> {
        let opened = airlock::container::open(&self.bundle)?;
        let trust = self.trust.as_deref().map(Trust::load).transpose()?;
        let now = self.now.unwrap_or_else(Timestamp::now);
        let sheet = inspect::sheet(&opened, trust.as_ref(), self.files, now)?;
        let text = inspect::render(&sheet);
        Done::stdout(&sheet, text)
    }
}
