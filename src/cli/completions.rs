//! `airlock completions SHELL`: the shell completion script, generated from the same clap
//! definitions the binary parses with (`clap_complete`), so completions cannot drift from the flags.
use super::Done;
use super::common::OutputArgs;
use clap::CommandFactory;

/// The shells a completion script can be generated for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    /// bash (install as /usr/share/bash-completion/completions/airlock).
    Bash,
    /// zsh (install as _airlock in a directory on $fpath, e.g. /usr/share/zsh/vendor-completions).
    Zsh,
    /// fish (install as /usr/share/fish/vendor_completions.d/airlock.fish).
    Fish,
}

impl Shell {
    fn generator(self) -> clap_complete::Shell {
        match self {
            Shell::Bash => clap_complete::Shell::Bash,
            Shell::Zsh => clap_complete::Shell::Zsh,
            Shell::Fish => clap_complete::Shell::Fish,
        }
    }

    /// The shell's name, as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Shell::Bash => "bash",
            Shell::Zsh => "zsh",
            Shell::Fish => "fish",
        }
    }
}

/// `airlock completions`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to write the completion script for.
    #[arg(value_enum)]
    pub shell: Shell,
    /// Output flags (with --json the script is the result's `script` field).
    #[command(flatten)]
    pub output: OutputArgs,
}

/// The completion script for `shell`, as `airlock completions SHELL` prints it.
pub fn script(shell: Shell) -> String {
    let mut cmd = super::Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell.generator(), &mut cmd, "airlock", &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

impl Args {
    /// Prints the script.
    pub fn run(&self) -> anyhow::Result<Done> {
        let script = script(self.shell);
        let result = serde_json::json!({"shell": self.shell.name(), "script": script});
        Done::stdout(&result, script)
    }
}
