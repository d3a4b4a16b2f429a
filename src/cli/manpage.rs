//! `airlock manpage DIR`: the manual pages — `airlock.1` and one `airlock-COMMAND.1` per
//! subcommand (`airlock-audit-verify.1` for nested ones) — generated from the same clap
//! definitions the binary parses with (`clap_mangen`), so the pages cannot drift from the flags.
//! The Debian package is built from this output (`scripts/build-deb.sh`).
use super::Done;
use super::common::OutputArgs;
use airlock::error::{Error, IoContext};
use clap::CommandFactory;
use std::path::PathBuf;

/// `airlock manpage`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory to write the pages into (created if missing; existing pages are replaced).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Output flags.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Every page: its file name (`airlock-pack.1`) and roff text, the top-level page first, then
/// the subcommands depth first in definition order. Hidden commands and clap's `help` get none.
pub fn pages() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let mut cmd = super::Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut out = Vec::new();
    collect(&cmd, &mut out)?;
    Ok(out)
}

fn collect(cmd: &clap::Command, out: &mut Vec<(String, Vec<u8>)>) -> std::io::Result<()> {
    let man = clap_mangen::Man::new(cmd.clone()).manual("airlock manual");
    let mut roff = Vec::new();
    man.render(&mut roff)?;
    out.push((man.get_filename(), roff));
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        collect(sub, out)?;
    }
    Ok(())
}

impl Args {
    /// Writes the pages.
    pub fn run(&self) -> anyhow::Result<Done> {
        let pages = pages().map_err(|e| Error::Internal(format!("rendering a man page: {e}")))?;
        std::fs::create_dir_all(&self.dir).ctx("create", &self.dir)?;
        let mut written = Vec::new();
        for (name, roff) in &pages {
            let path = self.dir.join(name);
            airlock::util::output::write_atomic(&path, roff)?;
            written.push(path);
        }
        let text = format!(
            "wrote {} to {}\n",
            airlock::report::render::count_of(written.len(), "man page"),
            self.dir.display()
        );
        let result = serde_json::json!({"dir": self.dir, "pages": written});
        Done::stderr(&result, text)
    }
}
