//! `airlock trust sign` and `airlock trust update`: signed updates of the receiving side's trust
//! file (key rotation and revocation, `docs/format.md` 8.9, `trust::rotation`).
use super::Done;
use super::common::{KeyArgs, OutputArgs};
use airlock::format::time::Timestamp;
use airlock::trust::rotation::{self, TrustUpdate, UpdateOutcome, UpdateReport};
use std::path::PathBuf;

/// `airlock trust ...`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Add one root signature to a trust update: writes NEW.root-KEYID.minisig (or .mldsa87)
    /// beside NEW. Run it once per root key holder.
    #[command(after_help = super::help::TRUST_SIGN_HELP)]
    Sign(SignArgs),
    /// Replace the trust file in place with a signed update, atomically, only under the rotation
    /// rules (same site, higher version, a threshold of the current and of the new root keys).
    #[command(after_help = super::help::TRUST_UPDATE_HELP)]
    Update(UpdateArgs),
}

/// `airlock trust sign`.
#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// The new trust file (with `version` and `[roles.root]`).
    pub trust_file: PathBuf,
    /// Root signing key(s): key files or pkcs11: URIs.
    #[command(flatten)]
    pub key: KeyArgs,
    /// Output flags.
    #[command(flatten)]
    pub output: OutputArgs,
}

impl SignArgs {
    /// Signs.
    pub fn run(&self) -> anyhow::Result<Done> {
        let keys = self.key.load_all()?;
        let now = Timestamp::now();
        let mut signed = Vec::new();
        let mut text = String::new();
        for key in &keys {
            let out = rotation::sign(&self.trust_file, key, now)?;
            text.push_str(&format!(
                "{}: signed by root key {} ({}) -> {}\n",
                self.trust_file.display(),
                key.id(),
                key.algorithm(),
                out.display()
            ));
            signed.push(serde_json::json!({
                "signature_file": out, "key_id": key.id(), "algorithm": key.algorithm(),
            }));
        }
        let result = serde_json::json!({ "trust_file": self.trust_file, "signatures": signed });
        Done::stderr(&result, text)
    }
}

/// `airlock trust update`.
#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    /// The signed trust update (its NEW.root-*.minisig / .mldsa87 signatures beside it).
    pub new_trust_file: PathBuf,
    /// The trust file in place, replaced atomically if every rule holds.
    #[arg(long, value_name = "TRUST.toml")]
    pub trust: PathBuf,
    /// Judge the update and report, but write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Output flags.
    #[command(flatten)]
    pub output: OutputArgs,
}

impl UpdateArgs {
    /// Judges and applies.
    pub fn run(&self) -> anyhow::Result<Done> {
        let update = TrustUpdate::load(&self.new_trust_file)?;
        let r = rotation::apply(&self.trust, &update, self.dry_run)?;
        let text = render_update(&r);
        Done::stderr(&r, text)
    }
}

/// The human text of a trust update's report (also used by `unpack --apply-trust`).
pub fn render_update(r: &UpdateReport) -> String {
    let what = match r.outcome {
        UpdateOutcome::Applied => "replaced",
        UpdateOutcome::AlreadyCurrent => "already is this update; nothing written",
        UpdateOutcome::WouldApply => "would be replaced (dry run; nothing written)",
    };
    let mut text = format!(
        "{}: site {} version {} -> {}: {what}\n",
        r.trust.display(),
        r.site,
        r.from_version,
        r.to_version
    );
    for (which, count) in [("current", &r.current_root), ("new", &r.new_root)] {
        if let Some(c) = count {
            text.push_str(&format!(
                "  ok  {which}-root  {} of {} required\n",
                c.counted, c.threshold
            ));
            for s in &c.signers {
                text.push_str(&format!(
                    "  signer {} ({}): {}\n",
                    s.key_id,
                    s.algorithm,
                    s.status.describe()
                ));
            }
        }
    }
    text
}
