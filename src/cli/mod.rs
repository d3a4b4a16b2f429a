//! The command line (clap derive): one module per subcommand, each with its `Args` and a `run`
//! that calls the library and returns what to print. The names, flags, file schemas and exit codes
//! here are a contract with users' scripts: extend them, never rename them.
//!
//! Output: `run` returns a [`Done`] — the result as JSON and the human rendering. `main` prints the
//! human text (unless `--quiet` or `--json`) or, with `--json`, exactly one envelope on stdout
//! (`docs/format.md` section 9): `{"airlock": 1, "command": ..., "ok": true, "exit_code": 0,
//! "result": {...}}`, or on failure `"ok": false` with an `error` object.
pub mod audit;
pub mod bom;
pub mod common;
pub mod completions;
pub mod demo;
pub mod diff;
pub mod digest;
pub mod export;
pub mod help;
pub mod inspect;
pub mod join;
pub mod keygen;
pub mod manpage;
pub mod pack;
pub mod patch;
pub mod sign;
pub mod sign_policy;
pub mod trust;
pub mod unpack;
pub mod verify;

use clap::{Parser, Subcommand};
use common::OutputArgs;

/// airlock: signed, deterministic, framed bundles of ML model releases for transfer across an air gap.
#[derive(Debug, Parser)]
#[command(name = "airlock", version, about, after_help = help::TOP_HELP)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a key pair: PREFIX.pub and PREFIX.key (minisign Ed25519, or --alg ml-dsa-87).
    #[command(after_help = help::KEYGEN_HELP)]
    Keygen(keygen::Args),
    /// Build a signed bundle NAME-VERSION.airlock.tar.zst from a bundle spec.
    #[command(after_help = help::PACK_HELP)]
    Pack(pack::Args),
    /// Print the transfer sheet from the manifest alone (no payload is read).
    #[command(after_help = help::INSPECT_HELP)]
    Inspect(inspect::Args),
    /// Check signatures, thresholds, target, expiry and every payload frame (with --deep, every file).
    #[command(after_help = help::VERIFY_HELP)]
    Verify(verify::Args),
    /// Verify, then extract atomically into --dest (staging directory beside it, then one rename).
    #[command(after_help = help::UNPACK_HELP)]
    Unpack(unpack::Args),
    /// Verify like unpack, then write an OCI image layout of ModelPack artifacts (one per model) for a registry.
    #[command(after_help = help::EXPORT_HELP)]
    Export(export::Args),
    /// Add a countersignature, rewriting only the manifest frame and footer.
    #[command(after_help = help::SIGN_HELP)]
    Sign(sign::Args),
    /// Print the tree digest of a file or directory (the value a policy approves a model by).
    #[command(after_help = help::DIGEST_HELP)]
    Digest(digest::Args),
    /// Write the CycloneDX 1.6 ML-BOM of a bundle, from its signed manifest frame alone.
    #[command(after_help = help::BOM_HELP)]
    Bom(bom::Args),
    /// Rebuild the single-file bundle from its volumes (every frame checked; byte-identical to the unsplit bundle).
    #[command(after_help = help::JOIN_HELP)]
    Join(join::Args),
    /// Rebuild a new bundle from the old one and a delta made by `pack --base` (byte-identical to a full pack).
    #[command(after_help = help::PATCH_HELP)]
    Patch(patch::Args),
    /// Compare two bundles' manifests: fields, policy, artifacts, files, signers, frames that would cross.
    #[command(after_help = help::DIFF_HELP)]
    Diff(diff::Args),
    /// Sign a policy manifest as the policy role: writes POLICY.minisig beside it.
    #[command(after_help = help::POLICY_HELP)]
    SignPolicy(sign_policy::Args),
    /// Signed trust-file updates: key rotation and revocation (`trust sign`, `trust update`).
    #[command(subcommand, after_help = help::TRUST_HELP)]
    Trust(trust::Command),
    /// Audit log tools.
    #[command(subcommand, after_help = help::AUDIT_HELP)]
    Audit(audit::Command),
    /// Run the whole job on the example release: throwaway keys, pack, inspect, verify, unpack.
    #[command(after_help = help::DEMO_HELP)]
    Demo(demo::Args),
    /// Print a shell completion script (bash, zsh, fish) generated from these definitions.
    #[command(after_help = help::COMPLETIONS_HELP)]
    Completions(completions::Args),
    /// Write the manual pages (airlock.1 and one per subcommand) into a directory.
    #[command(after_help = help::MANPAGE_HELP)]
    Manpage(manpage::Args),
}

/// What a command produced: its result for `--json`, and its human rendering.
pub struct Done {
    /// The `result` of the JSON envelope.
    pub result: serde_json::Value,
    /// The human text, and where it goes.
    pub human: Human,
}

/// Where a command's human text goes.
pub enum Human {
    /// Results a user reads or pipes (inspect, digest, diff).
    Stdout(String),
    /// Progress-style summaries of what was done (pack, verify, unpack, ...).
    Stderr(String),
}

impl Done {
    /// A result and its human text for stdout.
    pub fn stdout(result: &impl serde::Serialize, text: String) -> anyhow::Result<Done> {
        Ok(Done {
            result: serde_json::to_value(result)?,
            human: Human::Stdout(text),
        })
    }

    /// A result and its human text for stderr.
    pub fn stderr(result: &impl serde::Serialize, text: String) -> anyhow::Result<Done> {
        Ok(Done {
            result: serde_json::to_value(result)?,
            human: Human::Stderr(text),
        })
    }
}

impl Command {
    /// The command's name in the JSON envelope and the audit log.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Keygen(_) => "keygen",
            Command::Pack(_) => "pack",
            Command::Inspect(_) => "inspect",
            Command::Verify(_) => "verify",
            Command::Unpack(_) => "unpack",
            Command::Export(_) => "export",
            Command::Sign(_) => "sign",
            Command::Digest(_) => "digest",
            Command::Bom(_) => "bom",
            Command::Join(_) => "join",
            Command::Patch(_) => "patch",
            Command::Diff(_) => "diff",
            Command::SignPolicy(_) => "sign-policy",
            Command::Audit(audit::Command::Verify(_)) => "audit verify",
            Command::Trust(trust::Command::Sign(_)) => "trust sign",
            Command::Trust(trust::Command::Update(_)) => "trust update",
            Command::Demo(_) => "demo",
            Command::Completions(_) => "completions",
            Command::Manpage(_) => "manpage",
        }
    }

    /// The output flags every command shares.
    pub fn output(&self) -> &OutputArgs {
        match self {
            Command::Keygen(a) => &a.output,
            Command::Pack(a) => &a.output,
            Command::Inspect(a) => &a.output,
            Command::Verify(a) => &a.check.output,
            Command::Unpack(a) => &a.check.output,
            Command::Export(a) => &a.check.output,
            Command::Sign(a) => &a.output,
            Command::Digest(a) => &a.output,
            Command::Bom(a) => &a.output,
            Command::Join(a) => &a.output,
            Command::Patch(a) => &a.output,
            Command::Diff(a) => &a.output,
            Command::SignPolicy(a) => &a.output,
            Command::Audit(audit::Command::Verify(a)) => &a.output,
            Command::Trust(trust::Command::Sign(a)) => &a.output,
            Command::Trust(trust::Command::Update(a)) => &a.output,
            Command::Demo(a) => &a.output,
            Command::Completions(a) => &a.output,
            Command::Manpage(a) => &a.output,
        }
    }

    /// Runs the command.
    pub fn run(&self) -> anyhow::Result<Done> {
        match self {
            Command::Keygen(a) => a.run(),
            Command::Pack(a) => a.run(),
            Command::Inspect(a) => a.run(),
            Command::Verify(a) => a.run(),
            Command::Unpack(a) => a.run(),
            Command::Export(a) => a.run(),
            Command::Sign(a) => a.run(),
            Command::Digest(a) => a.run(),
            Command::Bom(a) => a.run(),
            Command::Join(a) => a.run(),
            Command::Patch(a) => a.run(),
            Command::Diff(a) => a.run(),
            Command::SignPolicy(a) => a.run(),
            Command::Audit(audit::Command::Verify(a)) => a.run(),
            Command::Trust(trust::Command::Sign(a)) => a.run(),
            Command::Trust(trust::Command::Update(a)) => a.run(),
            Command::Demo(a) => a.run(),
            Command::Completions(a) => a.run(),
            Command::Manpage(a) => a.run(),
        }
    }
}
