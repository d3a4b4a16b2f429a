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
    /// Rebuild the single-file bundle from its volumes (every frame checked; byte-identical to the unsplit bundle).
    #[command(after_help = VOLUME_HELP)]
    Join(JoinArgs),
    /// Rebuild a new bundle from the old one and a delta made by `pack --base` (byte-identical to a full pack).
    #[command(after_help = DELTA_HELP)]
    Patch(PatchArgs),
    /// Compare two bundles' manifests: fields, policy, artifacts, files, signers, frames that would cross.
    #[command(after_help = DIFF_HELP)]
    Diff(DiffArgs),
    /// Sign a policy manifest as the policy role: writes POLICY.minisig beside it.
    #[command(after_help = POLICY_HELP)]
    SignPolicy(SignPolicyArgs),
    /// Audit log tools.
    #[command(subcommand)]
    Audit(AuditCommand),
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

  [roles.policy]               # optional: when threshold >= 1 the bundle must carry a policy
  threshold = 1               # signed by these keys, and every rule of it is enforced
  keys = [\"RWQ...\"]

Signatures by keys the trust file does not know are reported and not counted; a signature by a
pinned key that does not verify rejects the bundle. Rollback: a bundle whose sequence is not above
the last installed one of the same name (see --state) is refused, unless it is that same bundle.

Exit codes: 0 ok, 1 rejected, 2 usage/config (also: --dest exists with other content), 3 I/O.";

const POLICY_HELP: &str = "\
Policy (TOML, signed by the model provider's policy key; put policy.toml and its .minisig files in
the bundle's `policy` artifact directory):
  [policy]
  id = \"acme-deployment-policy\"
  version = 3                       # monotonic
  issued = \"2026-11-01T00:00:00Z\"
  expires = \"2027-11-01T00:00:00Z\"
  [[model]]                         # approved models, by `airlock digest` tree digest
  name = \"acme-7b\"
  tree_digest = \"sha256:...\"
  targets = [\"aws-secret\"]
  [[required_safeguard]]            # target and model default to \"*\"
  kind = \"content_filter\"          # content_filter: min_strength, categories
  min_strength = \"high\"            # audit_logging: min_retention_days (and enabled = true)
                                    # rate_limits: max_requests_per_minute, max_tokens_per_minute
                                    # human_review: actions
  [[sensitive_target]]              # bundles for it need [bundle] notice_given and not_before
  name = \"azure-top-secret\"        # at least notice_days apart; refused before not_before
  notice_days = 14
  [[allowed_file]]                  # exempt an exact bundle path from the content gate
  path = \"data/tools/setup.py\"
  reason = \"reviewed by ...\"

Stock minisign signatures (`minisign -Sm policy.toml`) are accepted too.

Exit codes: 0 ok, 2 usage/config (invalid policy, key), 3 I/O.";

/// `airlock sign-policy`.
#[derive(Debug, Args)]
pub struct SignPolicyArgs {
    /// The policy manifest (policy.toml).
    pub policy: PathBuf,
    /// Signing key (the model provider's policy key).
    #[command(flatten)]
    pub key: KeyArgs,
    /// Signature file [default: POLICY.minisig].
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
}

/// `airlock audit ...`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check an audit log's hash chain: every line's prev_sha256 must be the sha256 of the line before.
    #[command(
        after_help = "Exit codes: 0 chain intact, 1 chain broken (names the line), 3 unreadable."
    )]
    Verify(AuditVerifyArgs),
}

/// `airlock audit verify`.
#[derive(Debug, Args)]
pub struct AuditVerifyArgs {
    /// The audit log (JSON lines).
    pub log: PathBuf,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

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
    /// Write volumes OUT.001, OUT.002, ... of at most SIZE bytes each instead of one file.
    ///
    /// Volumes are cut at frame boundaries; each carries a copy of the signed manifest, so
    /// `airlock verify OUT.002 --trust T` checks one volume alone and names a bad one.
    /// `airlock join OUT.0* -o OUT` rebuilds the exact single-file bundle; `airlock unpack OUT.0*`
    /// takes the volumes directly. SIZE is bytes, or a number (decimals allowed) with K/KiB, M/MiB,
    /// G/GiB, T/TiB (powers of 1024, as in `split -b`) or KB, MB, GB, TB (powers of 1000):
    /// 4GiB, 700MB, 4.7GB. A volume must hold at least one frame (up to 16 MiB of tar data) plus
    /// the manifest copy, so 17MiB is about the smallest that always works; at most 999 volumes.
    #[arg(long, value_name = "SIZE", value_parser = airlock::container::volume::parse_size, conflicts_with = "base")]
    pub max_volume_size: Option<u64>,
    /// Write a delta against OLD_BUNDLE instead of a full bundle.
    ///
    /// The delta holds the new version's full signed manifest plus only the payload frames
    /// OLD_BUNDLE lacks (matched by sha256), and records OLD_BUNDLE's manifest sha256. Default
    /// output: NAME-VERSION.from-OLDVERSION.airlock-delta. Rebuild with
    /// `airlock patch OLD_BUNDLE DELTA -o NEW` or install with `airlock unpack DELTA --base OLD_BUNDLE`.
    /// Every tar header carries the entry mtime (SOURCE_DATE_EPOCH), so pack both versions with the
    /// same SOURCE_DATE_EPOCH, or no frame is shared.
    #[arg(long, value_name = "OLD_BUNDLE")]
    pub base: Option<PathBuf>,
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
    /// Judge the policy's rules at this time instead of now (RFC 3339 UTC).
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
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
    /// State directory holding the highest sequence installed per bundle name (rollback
    /// protection) [default: $AIRLOCK_STATE_DIR, else /var/lib/airlock]. verify reads it; unpack
    /// also records the installed sequence.
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// Append one hash-chained JSON line describing the decision (accepted or rejected) to FILE.
    #[arg(long, value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
}

/// `airlock verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The bundle; or one volume (NAME.airlock.tar.zst.002) of a split bundle: its frames are
    /// checked against the signed manifest copy it carries and the files it holds are listed; or a
    /// delta: its signatures and the frames it carries are checked (no base needed).
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
    /// The bundle, the first volume of a split bundle (the others are found by number), or a
    /// delta (with --base).
    pub bundle: PathBuf,
    /// More volumes of the same split bundle, e.g. `unpack NAME.airlock.tar.zst.0* --dest DIR`.
    /// Their frames are read straight from the volumes (no joined copy); a bad one names its volume.
    #[arg(value_name = "MORE_VOLUMES")]
    pub more_volumes: Vec<PathBuf>,
    /// BUNDLE is a delta made against OLD_BUNDLE: unpack the new bundle, reading each frame from
    /// the delta or OLD_BUNDLE (no rebuilt copy is written). OLD_BUNDLE must be the exact base
    /// (manifest sha256), every frame of it intact, and carry
    /// signatures that meet the trust file's thresholds; its expiry is not judged.
    #[arg(long, value_name = "OLD_BUNDLE")]
    pub base: Option<PathBuf>,
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
    /// The bundle (rewritten in place unless -o is given). In place, its manifest frame and footer
    /// are first saved to BUNDLE.airlock-sign-undo, removed on success; if a sign is interrupted,
    /// the next one prints the command that restores the bundle from it.
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

const VOLUME_HELP: &str = "\
Volumes come from `airlock pack SPEC --max-volume-size SIZE` and are named
NAME-VERSION.airlock.tar.zst.001, .002, ... Each ends with a volume footer (number, count,
frame range) and carries a copy of the signed manifest frame, so `airlock verify VOLUME
--trust T` checks one volume alone.

join refuses, with exit 1 and the volume named: a missing volume, a duplicate (two files
with the same number), a foreign volume (another bundle's manifest), volumes of different
cuts, and any frame whose sha256 differs from the signed manifest. It checks integrity, not
trust: verify the result (or the volumes) with a trust file. Given only the .001 volume, the
others are found by number beside it.

Stock tools: `cat NAME.airlock.tar.zst.0* | zstd -d | tar -x` also extracts the release (the
manifest copies in all but the last volume are zstd skippable frames).

Exit codes: 0 ok, 1 rejected (missing, duplicate, foreign or corrupted volume), 2 usage, 3
I/O.";

const DELTA_HELP: &str = "\
A delta comes from `airlock pack SPEC --base OLD_BUNDLE`: the new version's full signed
manifest plus only the payload frames OLD_BUNDLE lacks, and OLD_BUNDLE's manifest sha256.

patch refuses, with exit 1: a base whose manifest sha256 differs from the one the delta
records, a delta frame or base frame whose sha256 differs from its signed manifest (all of
the base's frames are checked). NEW is written to a temporary file beside it and renamed
into place; its manifest frame and payload frames are exactly those of a full pack of the
new spec, signatures included. patch needs no trust file: verify NEW (or `airlock unpack
DELTA --base OLD_BUNDLE`, which checks both against the trust file).

Exit codes: 0 ok, 1 rejected, 2 usage (e.g. DELTA is not a delta), 3 I/O.";

const DIFF_HELP: &str = "\
OLD and NEW may each be a bundle, one volume of a split bundle, or a delta: only the signed
manifest frame is read (nothing is extracted, verified or trusted). Reported: changed
[bundle], [layout] and [policy] fields (version, sequence, target, created, expires, notice,
policy id/version/digest...), artifacts added, removed or changed by tree digest (model,
safeguard, policy, data), files added, removed or changed (size, mode, sha256), signers
added or removed (by role and key id), and how many of NEW's payload frames OLD lacks (what
`pack --base OLD` would carry across).

Exit codes: 0 compared (whether or not they differ), 1 a file is not a valid bundle, 2
usage, 3 I/O.";

/// `airlock join`.
#[derive(Debug, Args)]
pub struct JoinArgs {
    /// The volumes, in any order (e.g. NAME-VERSION.airlock.tar.zst.0*), or just the first.
    #[arg(required = true, value_name = "VOLUMES")]
    pub volumes: Vec<PathBuf>,
    /// The bundle to write [default: NAME-VERSION.airlock.tar.zst in the current directory].
    #[arg(short, long, value_name = "BUNDLE")]
    pub output: Option<PathBuf>,
    /// Worker threads for checking frames [default: all cores].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Print nothing on success.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `airlock patch`.
#[derive(Debug, Args)]
pub struct PatchArgs {
    /// The old bundle the delta was made against.
    pub old: PathBuf,
    /// The delta (from `airlock pack --base OLD`).
    pub delta: PathBuf,
    /// The new bundle to write [default: NAME-VERSION.airlock.tar.zst in the current directory].
    #[arg(short, long, value_name = "NEW")]
    pub output: Option<PathBuf>,
    /// Worker threads for checking frames [default: all cores].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Print nothing on success.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `airlock diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The old bundle (or volume, or delta).
    pub old: PathBuf,
    /// The new bundle (or volume, or delta).
    pub new: PathBuf,
    /// Print the comparison as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}
