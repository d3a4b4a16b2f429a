//! `airlock export`: every check `unpack` makes, then an OCI image layout of ModelPack
//! artifacts, one per model, for the enclave's registry (`skopeo copy oci:DIR:TAG docker://...`).
use super::Done;
use super::common::CheckArgs;
use airlock::container::Payload;
use airlock::receive::export::{ExportOptions, export};
use airlock::report::render;
use airlock::trust::Trust;
use std::path::PathBuf;

/// `airlock export`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The bundle, the first volume of a split bundle (the others are found by number), or a
    /// delta (with --base).
    pub bundle: PathBuf,
    /// More volumes of the same split bundle.
    #[arg(value_name = "MORE_VOLUMES")]
    pub more_volumes: Vec<PathBuf>,
    /// BUNDLE is a delta made against OLD_BUNDLE (as for `unpack --base`).
    #[arg(long, value_name = "OLD_BUNDLE")]
    pub base: Option<PathBuf>,
    /// The OCI image layout to write: absent or empty (its parent must exist). Written in a
    /// staging directory beside it, then renamed into place; a directory that already holds
    /// exactly this export is left as it is.
    #[arg(long, value_name = "DIR")]
    pub oci_layout: PathBuf,
    /// The tag (index.json ref name) of the artifact, for a bundle with one model artifact
    /// [default: NAME:VERSION of each model, e.g. acme-7b:1.0.0].
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,
    /// Shared flags.
    #[command(flatten)]
    pub check: CheckArgs,
}

impl Args {
    /// Exports, logging the decision when asked.
    pub fn run(&self) -> anyhow::Result<Done> {
        let trust = Trust::load(&self.check.trust)?;
        let now = self.check.now();
        let opts = ExportOptions {
            now,
            threads: self.check.threads.get(),
            state: Some(self.check.state()),
            tag: self.tag.clone(),
        };
        let r = airlock::receive::logged(
            "export",
            &self.bundle,
            self.check.audit_log.as_deref(),
            now,
            || Payload::open(&self.bundle, &self.more_volumes, self.base.as_deref()),
            |p| p.signed(),
            |p| export(p, &trust, &self.oci_layout, &opts),
            |r| &r.verify,
        )?;
        Done::stderr(&r, render::export(&r))
    }
}
