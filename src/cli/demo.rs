//! `airlock demo`: the whole job on the example release, as each role sees it.
use super::Done;
use super::common::OutputArgs;
use airlock::error::Error;
use std::path::PathBuf;

/// `airlock demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The example spec.
    #[arg(long, default_value = "manifests/example/acme-7b.toml")]
    pub spec: PathBuf,
    /// Where to work [default: a temporary directory, removed afterwards].
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
    /// Output flags.
    #[command(flatten)]
    pub output: OutputArgs,
}

impl Args {
    /// Runs the demo.
    pub fn run(&self) -> anyhow::Result<Done> {
        let temp;
        let workdir = match &self.workdir {
            Some(d) => {
                std::fs::create_dir_all(d).map_err(|e| Error::io("create", d, e))?;
                d.clone()
            }
            None => {
                temp = tempfile::tempdir()
                    .map_err(|e| Error::io("create", std::env::temp_dir(), e))?;
                temp.path().to_path_buf()
            }
        };
        let mut text = Vec::new();
        airlock::demo::run(&self.spec, &workdir, self.workdir.is_some(), &mut text)?;
        let result = serde_json::json!({"workdir": workdir, "kept": self.workdir.is_some()});
        Done::stdout(&result, String::from_utf8_lossy(&text).into_owned())
    }
}
