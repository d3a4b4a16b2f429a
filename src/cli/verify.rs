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
    /// delta: its signatures and the frames it carries are checked (no base needed). Not with
    /// --oci-layout.
    #[arg(required_unless_present = "oci_layout", conflicts_with = "oci_layout")]
    pub bundle: Option<PathBuf>,
    /// Verify an OCI image layout instead (`airlock export`'s, or one pulled from a registry with
    /// `skopeo copy docker://REGISTRY/REPO:TAG oci:DIR:TAG`): the signed manifest its proof layer
    /// carries, then every layer against it (every layer is hashed; --deep changes nothing).
    #[arg(long, value_name = "DIR")]
    pub oci_layout: Option<PathBuf>,
    /// With --oci-layout: the artifact to verify, by its index.json tag (needed when the layout
    /// holds several).
    #[arg(
        long,
        value_name = "TAG",
        requires = "oci_layout",
        conflicts_with = "bundle"
    )]
    pub tag: Option<String>,
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
        if let Some(dir) = &self.oci_layout {
            let r = airlock::receive::logged(
                "verify",
                dir,
                self.check.audit_log.as_deref(),
                now,
                || airlock::container::oci::open_layout(dir, self.tag.as_deref()),
                |l| &l.signed,
                |l| airlock::receive::oci::verify_layout(l, &trust, &opts),
                |r| r,
            )?;
            return Done::stderr(&r, render::verify(&r));
        }
        // clap requires BUNDLE unless --oci-layout is given.
        let bundle = self.bundle.as_deref().unwrap_or(std::path::Path::new("-"));
        let r = airlock::receive::logged(
            "verify",
            bundle,
            self.check.audit_log.as_deref(),
            now,
            || airlock::container::open(bundle),
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
