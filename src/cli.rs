//! Command-line interface (clap derive). The names, flags and exit codes here are a contract with
//! users' scripts: extend them, never rename them.
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  the bundle was rejected (signature, threshold, integrity, target, expiry, unsafe content)
  2  usage or configuration error (bad flags; unreadable or invalid spec, trust file or key; destination conflict)
  3  I/O or environment error (disk full, permission denied, missing file)

--json writes one JSON document to stdout (also on failure: {\"ok\": false, ...}); human messages go to stderr.";

/// airlock: signed, deterministic, framed bundles of ML model releases for transfer across an air gap.
#[derive(Debug, Parser)]
#[command(name = "airlock", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a minisign key pair: PREFIX.pub and PREFIX.key.
    #[command(after_help = EXIT_CODES)]
    Keygen(KeygenArgs),
    /// Build a signed bundle NAME-VERSION.airlock.tar.zst from a bundle spec.
    #[command(after_help = SPEC_HELP)]
    Pack(PackArgs),
    /// Print the transfer sheet from the manifest alone (no payload is read).
    #[command(after_help = EXIT_CODES)]
    Inspect(InspectArgs),
    /// Check signatures, thresholds, target, expiry and every payload frame (with --deep, every file).
    #[command(after_help = TRUST_HELP)]
    Verify(VerifyArgs),
    /// Verify, then extract atomically into --dest (staging directory beside it, then one rename).
    #[command(after_help = TRUST_HELP)]
    Unpack(UnpackArgs),
    /// Add a countersignature, rewriting only the manifest frame and footer.
    #[command(after_help = EXIT_CODES)]
    Sign(SignArgs),
    /// Print the tree digest of a file or directory (the value a policy approves a model by).
    #[command(after_help = EXIT_CODES)]
    Digest(DigestArgs),
    /// Run the whole job on the example release: throwaway key, pack, inspect, verify, unpack.
    #[command(after_help = EXIT_CODES)]
    Demo(DemoArgs),
}

const SPEC_HELP: &str = "\
Spec (TOML; paths are relative to the spec file):
  [bundle]
  name = \"acme-7b\"          # A-Z a-z 0-9 . _ + -
  version = \"1.0.0\"
  sequence = 1              # must increase with every release of this name
  target = \"aws-secret\"     # the receiving site's name
  valid_days = 90           # or: expires = \"2027-01-31T00:00:00Z\"; default 90 days
  # created = \"2026-11-01T00:00:00Z\"  optional; SOURCE_DATE_EPOCH wins, else the clock
  [[artifact]]
  kind = \"model\"            # model | safeguard | policy | data
  name = \"acme-7b\"
  path = \"models/acme-7b\"   # a file or a directory

Determinism: set SOURCE_DATE_EPOCH and two packs of the same inputs give identical manifest and
payload bytes (only signatures differ). Without it entries get mtime 0 and `created` comes from the
spec or the clock. The output is written to a temporary file beside it and renamed into place.

Exit codes: 0 ok, 1 rejected, 2 usage/config, 3 I/O.";

const TRUST_HELP: &str = "\
Trust file (TOML):
  site = \"aws-secret\"         # bundles for any other target are refused
  [roles.release]             # required
  threshold = 1               # distinct trusted keys needed
  keys = [\"RWQ...\"]           # minisign public keys (the base64 line of the .pub file)
  [roles.transfer]            # optional: officers' countersignatures
  threshold = 0
  keys = []

Signatures by keys the trust file does not know are reported and not counted; a signature by a
pinned key that does not verify rejects the bundle.

Exit codes: 0 ok, 1 rejected, 2 usage/config (also: --dest exists with other content), 3 I/O.";

/// `airlock keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Write PREFIX.pub and PREFIX.key.
    #[arg(long, value_name = "PREFIX")]
    pub out: PathBuf,
    /// Do not encrypt the secret key (for throwaway keys and tests).
    #[arg(long, conflicts_with = "password_file")]
    pub unencrypted: bool,
    /// Encrypt the secret key with the password on this file's first line.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Untrusted comment stored in the secret key file.
    #[arg(long, value_name = "TEXT")]
    pub comment: Option<String>,
    /// Overwrite existing key files.
    #[arg(long)]
    pub force: bool,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Key and password flags shared by signing commands.
#[derive(Debug, Args)]
pub struct KeyArgs {
    /// minisign secret key (from `airlock keygen` or `minisign -G`).
    #[arg(long, value_name = "KEY")]
    pub key: PathBuf,
    /// File whose first line is the key's password (else a prompt, if stdin is a terminal).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

/// `airlock pack`.
#[derive(Debug, Args)]
pub struct PackArgs {
    /// The bundle spec (TOML).
    pub spec: PathBuf,
    /// Signing key.
    #[command(flatten)]
    pub key: KeyArgs,
    /// Output file [default: NAME-VERSION.airlock.tar.zst in the current directory].
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Compression threads [default: all cores]. Does not change the output.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// zstd level, 1-22. Recorded in the manifest.
    #[arg(long, value_name = "L", default_value_t = airlock::format::DEFAULT_LEVEL)]
    pub level: i32,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Print nothing on success.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `airlock inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The bundle.
    pub bundle: PathBuf,
    /// List every file with its sha256.
    #[arg(long)]
    pub files: bool,
    /// Mark which signers this trust file knows (nothing is verified).
    #[arg(long, value_name = "TRUST.toml")]
    pub trust: Option<PathBuf>,
    /// Print the sheet as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Flags shared by verify and unpack.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The trust file: site name and pinned keys per role.
    #[arg(long, value_name = "TRUST.toml")]
    pub trust: PathBuf,
    /// Judge expiry at this time instead of now (RFC 3339 UTC, e.g. 2027-01-01T00:00:00Z).
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// Worker threads [default: all cores].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Print nothing on success.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `airlock verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The bundle.
    pub bundle: PathBuf,
    /// Shared flags.
    #[command(flatten)]
    pub check: CheckArgs,
    /// Also decompress every frame and check every file's size and sha256 (writes nothing).
    #[arg(long)]
    pub deep: bool,
}

/// `airlock unpack`.
#[derive(Debug, Args)]
pub struct UnpackArgs {
    /// The bundle.
    pub bundle: PathBuf,
    /// Shared flags.
    #[command(flatten)]
    pub check: CheckArgs,
    /// Destination directory; its parent must exist. Holds exactly the bundle's tree afterwards.
    #[arg(long, value_name = "DIR")]
    pub dest: PathBuf,
    /// If DIR holds another tree, swap it for this bundle's atomically.
    #[arg(long)]
    pub replace: bool,
}

/// `airlock sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The bundle (rewritten in place unless -o is given).
    pub bundle: PathBuf,
    /// Signing key.
    #[command(flatten)]
    pub key: KeyArgs,
    /// Role recorded in the trusted comment: transfer, release or policy.
    #[arg(long, default_value = "transfer", value_parser = ["transfer", "release", "policy"])]
    pub role: String,
    /// Write the countersigned bundle here instead of rewriting BUNDLE.
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `airlock digest`.
#[derive(Debug, Args)]
pub struct DigestArgs {
    /// A file or directory.
    pub path: PathBuf,
    /// Print as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `airlock demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The example spec.
    #[arg(long, default_value = "manifests/example/acme-7b.toml")]
    pub spec: PathBuf,
    /// Where to work [default: a temporary directory, removed afterwards].
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
}
