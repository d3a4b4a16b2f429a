//! `airlock unpack`: verify, then install atomically into --dest.
use super::Done;
use super::common::CheckArgs;
use airlock::container::Payload;
use airlock::receive::unpack::{UnpackOptions, unpack};
use airlock::report::bom::{Checked, bom_of};
use airlock::report::render;
use airlock::trust::Trust;
use std::path::PathBuf;

/// `airlock unpack`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The bundle, the first volume of a split bundle (the others are found by number), or a
    /// delta (with --base). Not with --oci-layout.
    #[arg(required_unless_present = "oci_layout", conflicts_with = "oci_layout")]
    pub bundle: Option<PathBuf>,
    /// More volumes of the same split bundle, e.g. `unpack NAME.airlock.tar.zst.0* --dest DIR`.
    /// Their frames are read straight from the volumes (no joined copy); a bad one names its volume.
    #[arg(value_name = "MORE_VOLUMES", conflicts_with = "oci_layout")]
    pub more_volumes: Vec<PathBuf>,
    /// BUNDLE is a delta made against OLD_BUNDLE: unpack the new bundle, reading each frame from
    /// the delta or OLD_BUNDLE (no rebuilt copy is written). OLD_BUNDLE must be the exact base
    /// (manifest sha256), every frame of it intact, and carry
    /// signatures that meet the trust file's thresholds; its expiry is not judged.
    #[arg(long, value_name = "OLD_BUNDLE", conflicts_with = "oci_layout")]
    pub base: Option<PathBuf>,
    /// Install the artifact of an OCI image layout instead (see `verify --oci-layout`): DIR then
    /// holds its files at their org.cncf.model.filepath, the model's files at the top.
    #[arg(long, value_name = "LAYOUT")]
    pub oci_layout: Option<PathBuf>,
    /// With --oci-layout: the artifact to install, by its index.json tag.
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
    /// Destination directory; its parent must exist (`mkdir -p` it first). Holds exactly the
    /// bundle's tree afterwards: DEST/KIND/NAME/... for every artifact.
    #[arg(long, value_name = "DIR")]
    pub dest: PathBuf,
    /// If DIR holds another tree, swap it for this bundle's atomically.
    #[arg(long)]
    pub replace: bool,
    /// Apply the trust update the bundle carries (an artifact of kind `trust`) to the --trust
    /// file, only under the rotation rules (`airlock trust update --help`): judged before the
    /// install (a refused update installs nothing, exit 1), applied after it. Without this flag a
    /// carried trust update is reported and never applied.
    #[arg(long)]
    pub apply_trust: bool,
    /// After installing, write the CycloneDX 1.6 ML-BOM of what was installed to FILE (atomically;
    /// outside DIR): what `airlock bom --trust` writes, with model-card facts from each model's
    /// installed config.json.
    #[arg(long, value_name = "FILE")]
    pub bom: Option<PathBuf>,
}

impl Args {
    /// Unpacks, logging the decision when asked.
    pub fn run(&self) -> anyhow::Result<Done> {
        let trust = Trust::load(&self.check.trust)?;
        let now = self.check.now();
        let opts = UnpackOptions {
            now,
            threads: self.check.threads.get(),
            replace: self.replace,
            state: Some(self.check.state()),
            apply_trust: self.apply_trust.then(|| self.check.trust.clone()),
            model_configs: self.bom.is_some(),
        };
        if let Some(bom) = &self.bom {
            airlock::receive::unpack::check_outside_dest(bom, &self.dest)?;
        }
        if let Some(layout) = &self.oci_layout {
            let r = airlock::receive::logged(
                "unpack",
                layout,
                self.check.audit_log.as_deref(),
                now,
                || airlock::container::oci::open_layout(layout, self.tag.as_deref()),
                |l| &l.signed,
                |l| airlock::receive::oci::unpack_layout(l, &trust, &self.dest, &opts),
                |r| &r.verify,
            )?;
            return Done::stderr(&r, render::unpack(&r));
        }
        // clap requires BUNDLE unless --oci-layout is given.
        let bundle = self.bundle.as_deref().unwrap_or(std::path::Path::new("-"));
        let r = airlock::receive::logged(
            "unpack",
            bundle,
            self.check.audit_log.as_deref(),
            now,
            || Payload::open(bundle, &self.more_volumes, self.base.as_deref()),
            |p| p.signed(),
            |p| {
                let mut r = unpack(p, &trust, &self.dest, &opts)?;
                if let Some(path) = &self.bom {
                    // The BOM of what is installed: the checks' conclusions, model cards from
                    // the installed config.json files.
                    let checked = Checked {
                        signers: &r.verify.signers,
                        policy: &r.verify.policy,
                    };
                    let bytes = bom_of(p.signed(), Some(&checked), &r.model_configs, true)?;
                    airlock::util::output::write_atomic(path, &bytes)?;
                    r.bom = Some(path.display().to_string());
                }
                Ok(r)
            },
            |r| &r.verify,
        )?;
        let mut text = render::unpack(&r);
        match &r.trust_update {
            Some(u) => text.push_str(&super::trust::render_update(u)),
            None if r.carries_trust_update => text.push_str(
                "note: the bundle carries a trust update; it was not applied (pass --apply-trust)\n",
            ),
            None => {}
        }
        Done::stderr(&r, text)
    }
}
