//! `airlock bom`: the CycloneDX 1.6 ML-BOM of a bundle, from its signed manifest frame alone.
use super::Done;
use super::common::{OutputArgs, parse_now};
use airlock::format::time::Timestamp;
use airlock::receive::verify::check_authenticity;
use airlock::report::bom::{Checked, Configs, bom_of};
use airlock::trust::Trust;
use std::path::PathBuf;

/// `airlock bom`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The bundle (or one volume, or a delta): only its manifest frame is read, so this is
    /// instant whatever the bundle's size.
    pub bundle: PathBuf,
    /// Check the bundle against this trust file first, as `verify` does from the manifest frame
    /// (signatures and thresholds, target, expiry, the policy with its OMS signature checks; not
    /// the payload frames, not rollback); the BOM then records how each signature was judged.
    /// Without it, the BOM says that the signatures were not checked.
    #[arg(long, value_name = "TRUST.toml")]
    pub trust: Option<PathBuf>,
    /// Judge expiry and the policy at this time instead of now (RFC 3339 UTC).
    #[arg(long, value_name = "TIME", value_parser = parse_now)]
    pub now: Option<Timestamp>,
    /// Write the BOM to FILE (atomically) instead of stdout.
    #[arg(short, long = "output", value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Output flags.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// What `bom` wrote.
#[derive(Debug, serde::Serialize)]
struct BomReport {
    bundle: String,
    /// The file written, or `None` for stdout.
    output: Option<PathBuf>,
    serial_number: String,
    signatures_checked: bool,
    bytes: usize,
    /// The BOM itself, when it is not written to a file (`--json` without `-o`).
    #[serde(skip_serializing_if = "Option::is_none")]
    bom: Option<serde_json::Value>,
}

impl Args {
    /// Writes the BOM.
    pub fn run(&self) -> anyhow::Result<Done> {
        let opened = airlock::container::open(&self.bundle)?;
        let signed = opened.signed();
        let configs = Configs::new();
        let bytes = match &self.trust {
            None => bom_of(signed, None, &configs, false)?,
            Some(path) => {
                let trust = Trust::load(path)?;
                let now = self.now.unwrap_or_else(Timestamp::now);
                let accepted = check_authenticity(signed, &trust, now, None)?;
                let checked = Checked {
                    signers: accepted.auth.signers(),
                    policy: &accepted.policy,
                };
                bom_of(signed, Some(&checked), &configs, false)?
            }
        };
        let doc: serde_json::Value = serde_json::from_slice(&bytes)?;
        let mut report = BomReport {
            bundle: self.bundle.display().to_string(),
            output: self.out.clone(),
            serial_number: doc["serialNumber"].as_str().unwrap_or_default().to_string(),
            signatures_checked: self.trust.is_some(),
            bytes: bytes.len(),
            bom: None,
        };
        match &self.out {
            Some(out) => {
                airlock::util::output::write_atomic(out, &bytes)?;
                let text = format!(
                    "wrote CycloneDX 1.6 ML-BOM {} ({} bytes) to {}{}\n",
                    report.serial_number,
                    report.bytes,
                    out.display(),
                    if report.signatures_checked {
                        ""
                    } else {
                        "; signatures not checked (no --trust)"
                    }
                );
                Done::stderr(&report, text)
            }
            None => {
                report.bom = Some(doc);
                Done::stdout(&report, String::from_utf8(bytes)?)
            }
        }
    }
}
