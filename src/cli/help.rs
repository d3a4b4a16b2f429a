//! The long help texts of the subcommands: schemas, refusals, exit codes and examples, kept in
//! one file so a reader of `--help` and of this source see the same contract.
//!
//! Every subcommand's help ends with an `Examples:` section. Each line of it that starts with
//! `  $ ` is a command that runs as written (`tests/it/help.rs` runs every one, in order, per
//! subcommand) in *the example directory*: a copy of `manifests/example` holding
//!
//! * `provider.key`, `release.key`, `officer.key` (and their `.pub` files): minisign keys of the
//!   model provider (policy role), the release engineer and the transfer officer, each encrypted
//!   with the password on the first line of `provider.pw`, `release.pw`, `officer.pw`;
//! * `policy/policy.toml.minisig`: the provider's signature on the example policy;
//! * `trust.toml`: site `aws-secret`, pinning `release.pub` (release, threshold 1),
//!   `provider.pub` (policy, threshold 1) and `officer.pub` (transfer, threshold 0);
//! * `acme-7b-1.0.0.airlock.tar.zst`: the example release packed with `release.key`;
//! * `AIRLOCK_STATE_DIR` set to a fresh directory (so `unpack` needs no root).
//!
//! A command continues on the next line when it ends with ` \` (the next line is indented six
//! spaces); lines stay under 97 columns so clap's wrapping at 100 never splits one. Lines that
//! start with `  # ` are comments. A new subcommand needs its own `Examples:`.

/// The exit-code table every help text ends its contract with (a macro, so `concat!` can join it
/// with each command's examples into one `&'static str`).
macro_rules! exit_codes {
    () => {
        "\
Exit codes:
  0  success
  1  the bundle was rejected (signature, threshold, integrity, target, expiry, policy, rollback, content gate)
  2  usage or configuration error: bad flags; a missing or invalid input file (bundle, spec, artifact
     path, trust file, key, password file, policy); destination conflict
  3  I/O or environment error (disk full, permission denied, unreadable file, a lock held)

--json writes exactly one JSON document to stdout, also on failure (docs/schema/v1/); human messages
go to stderr."
    };
}

pub const KEYGEN_HELP: &str = concat!(
    exit_codes!(),
    "

Examples:
  # An encrypted key pair for the release engineer: newkey.pub and newkey.key.
  $ airlock keygen --out newkey --password-file release.pw
  # A throwaway key for a test (no password).
  $ airlock keygen --out scratch --unencrypted --comment \"test key\"
  # The public key line for trust.toml, from --json.
  $ airlock keygen --out another --unencrypted --json
  # A post-quantum (CNSA 2.0) key pair: PEM SubjectPublicKeyInfo and encrypted PKCS#8.
  $ airlock keygen --alg ml-dsa-87 --out pq --password-file release.pw"
);

pub const PACK_HELP: &str = concat!(
    "\
Spec (TOML; paths are relative to the spec file):
  [bundle]
  name = \"acme-7b\"          # A-Z a-z 0-9 . _ + -
  version = \"1.0.0\"
  sequence = 1              # must increase with every release of this name
  target = \"aws-secret\"     # the receiving site's name
  valid_days = 90           # or: expires = \"2027-01-31T00:00:00Z\"; default 90 days
  # created = \"2026-11-01T00:00:00Z\"       optional; SOURCE_DATE_EPOCH wins, else the clock
  # notice_given = \"2026-11-01T00:00:00Z\"  for a policy's sensitive target: when advance notice
  # not_before = \"2026-11-15T00:00:00Z\"    was given, and the earliest activation (at least the
  #                                        policy's notice_days later)
  # suite = \"cnsa2\"                        optional: classic (default; SHA-256, Ed25519) or cnsa2
  #                                        (CNSA 2.0: SHA-384, ML-DSA-87); --suite must agree
  [[artifact]]
  kind = \"model\"            # model | safeguard | policy | data | trust (a signed trust update)
  name = \"acme-7b\"
  path = \"models/acme-7b\"   # a file or a directory
  # oms_signature = \"acme-7b.sig\"  model only: the provider's `model_signing sign key` signature,
  #                   packed as model/NAME/model.sig and checked against the policy's oms_keys

Times are RFC 3339 UTC with whole seconds (YYYY-MM-DDTHH:MM:SSZ). A safeguard artifact holds
.toml configs only; a policy artifact holds policy.toml and its signatures
(.minisig, NAME-KEYID.mldsa87).

Determinism: set SOURCE_DATE_EPOCH and two packs of the same inputs give identical manifest and
payload bytes (only signatures differ: ML-DSA-87 signing is randomised, as FIPS 204 recommends). Without it entries get mtime 0 and `created` comes from the
spec or the clock. The output is written to a temporary file beside it and renamed into place.

",
    exit_codes!(),
    "

Examples:
  # A signed bundle: acme-7b-1.0.0.airlock.tar.zst in the current directory (--force: one is
  # there already, and pack never replaces a bundle silently).
  $ SOURCE_DATE_EPOCH=$(date +%s) airlock pack acme-7b.toml --key release.key \\
      --password-file release.pw --force
  # Volumes of at most 4 GiB each (.001, .002, ...) for FAT32 media.
  $ airlock pack acme-7b.toml --key release.key --password-file release.pw \\
      --max-volume-size 4GiB
  # The next release as a delta against the bundle the site already has.
  $ airlock pack acme-7b-1.1.0.toml --key release.key --password-file release.pw \\
      --base acme-7b-1.0.0.airlock.tar.zst"
);

pub const INSPECT_HELP: &str = concat!(
    exit_codes!(),
    "

Examples:
  # The transfer sheet: signers, artifacts, safeguards, the policy (not judged without --trust).
  $ airlock inspect acme-7b-1.0.0.airlock.tar.zst
  # Mark which signers the site trusts and judge the policy as verify would.
  $ airlock inspect acme-7b-1.0.0.airlock.tar.zst --trust trust.toml
  # Every file with its sha256, as JSON.
  $ airlock inspect acme-7b-1.0.0.airlock.tar.zst --files --json"
);

/// The trust file schema, shared by verify and unpack.
macro_rules! trust_help {
    () => {
        "\
Trust file (TOML):
  site = \"aws-secret\"         # bundles for any other target are refused
  [roles.release]             # required
  threshold = 1               # distinct trusted keys needed
  keys = [\"RWQ...\"]           # minisign public keys (the base64 line of the .pub file), or
                              # \"ml-dsa-87:MIIK...\" (what `airlock keygen --alg ml-dsa-87` prints)
  # algorithms = [\"ml-dsa-87\"] # which signatures count (default both): [\"ml-dsa-87\"] is the
                              # CNSA 2.0 setting (classic bundles are then refused), [\"ed25519\"],
                              # or [\"hybrid\"]: each signer is a pair, counted only when both its
                              # signatures verify, listed instead of keys:
  # [[roles.release.pair]]    #   one table per signer
  # ed25519 = \"RWQ...\"
  # ml_dsa_87 = \"ml-dsa-87:...\"
  [roles.transfer]            # optional: officers' countersignatures
  threshold = 0
  keys = []

  [roles.policy]               # optional: when threshold >= 1 the bundle must carry a policy
  threshold = 1               # signed by these keys, and every rule of it is enforced
  keys = [\"RWQ...\"]
  # revoked = [\"RWQ...\"]     # any role: keys whose signatures never count (shown `revoked`)

  # version = 3               # top level, optional (default 0): a signed update must be higher
  # [roles.root]              # optional: the keys that sign updates of this file
  # threshold = 2             #   (`airlock trust sign`, `airlock trust update`); at least 1
  # keys = [\"RWQ...\", \"RWQ...\", \"RWQ...\"]

Signatures by keys the trust file does not know are reported and not counted; a signature by a
pinned key that does not verify rejects the bundle. Rollback: a bundle whose sequence is not above
the last installed one of the same name (see --state) is refused, unless it is that same bundle.

"
    };
}

pub const VERIFY_HELP: &str = concat!(
    trust_help!(),
    exit_codes!(),
    "

Examples:
  # Signatures, thresholds, target, expiry, rollback, policy and every frame's sha256.
  $ airlock verify acme-7b-1.0.0.airlock.tar.zst --trust trust.toml
  # Also decompress and hash every file; the report on stdout, a line in the audit log.
  $ airlock verify acme-7b-1.0.0.airlock.tar.zst --trust trust.toml --deep --report - \\
      --audit-log audit.jsonl
  # As an install script would: one JSON document, the exit code says what happened.
  $ airlock verify acme-7b-1.0.0.airlock.tar.zst --trust trust.toml --json"
);

pub const UNPACK_HELP: &str = concat!(
    trust_help!(),
    "\
The installed tree is DEST/KIND/NAME/... (for example DEST/model/acme-7b/config.json): every
artifact under its kind and name, exactly as `airlock inspect --files` lists the bundle paths.

",
    exit_codes!(),
    "

Examples:
  # Install into site/acme-7b (its parent must exist); a second run is a no-op.
  $ mkdir -p site
  $ airlock unpack acme-7b-1.0.0.airlock.tar.zst --trust trust.toml --dest site/acme-7b
  $ airlock unpack acme-7b-1.0.0.airlock.tar.zst --trust trust.toml --dest site/acme-7b \\
      --audit-log audit.jsonl --json"
);

pub const EXPORT_HELP: &str = concat!(
    trust_help!(),
    "\
The layout is an OCI image layout (image-spec 1.1) with one ModelPack artifact per model artifact:
one layer per file, the safeguards and policy that govern the model, and the bundle's signed
manifest frame as a layer of its own, so the proof travels with every copy (docs/format.md 11).
The same bundle gives byte-identical blobs and manifests; the layout appears atomically.

",
    exit_codes!(),
    "

Examples:
  # Every check unpack makes, then the layout for the enclave's registry.
  $ airlock export acme-7b-1.0.0.airlock.tar.zst --trust trust.toml --oci-layout acme-oci
  # Push it with stock skopeo; each host then runs `airlock verify --oci-layout`.
  $ airlock export acme-7b-1.0.0.airlock.tar.zst --trust trust.toml --oci-layout acme-oci --json"
);

pub const SIGN_HELP: &str = concat!(
    exit_codes!(),
    "

Examples:
  # The transfer officer's countersignature into a new file, leaving the original as it was.
  $ airlock sign acme-7b-1.0.0.airlock.tar.zst --key officer.key --password-file officer.pw \\
      -o countersigned.airlock.tar.zst
  # In place: only the manifest frame and footer are rewritten, nothing is recompressed.
  $ airlock sign acme-7b-1.0.0.airlock.tar.zst --key officer.key --password-file officer.pw"
);

pub const DIGEST_HELP: &str = concat!(
    exit_codes!(),
    "

Examples:
  # The tree digest a policy's [[model]] tree_digest approves.
  $ airlock digest models/acme-7b
  $ airlock digest safeguards/content-filter.toml --json"
);

pub const JOIN_HELP: &str = concat!(
    "\
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

",
    exit_codes!(),
    "

Examples:
  $ airlock pack acme-7b.toml --key release.key --password-file release.pw \\
      --max-volume-size 4GiB -o split.airlock.tar.zst
  # Rebuild the single-file bundle from its volumes, then verify one volume alone.
  $ airlock join split.airlock.tar.zst.0* -o joined.airlock.tar.zst
  $ airlock verify split.airlock.tar.zst.001 --trust trust.toml"
);

pub const PATCH_HELP: &str = concat!(
    "\
A delta comes from `airlock pack SPEC --base OLD_BUNDLE`: the new version's full signed
manifest plus only the payload frames OLD_BUNDLE lacks, and OLD_BUNDLE's manifest sha256.

patch refuses, with exit 1: a base whose manifest sha256 differs from the one the delta
records, a delta frame or base frame whose sha256 differs from its signed manifest (all of
the base's frames are checked). NEW is written to a temporary file beside it and renamed
into place; its manifest frame and payload frames are exactly those of a full pack of the
new spec, signatures included. patch needs no trust file: verify NEW (or `airlock unpack
DELTA --base OLD_BUNDLE`, which checks both against the trust file).

",
    exit_codes!(),
    "

Examples:
  $ airlock pack acme-7b-1.1.0.toml --key release.key --password-file release.pw \\
      --base acme-7b-1.0.0.airlock.tar.zst
  # Rebuild 1.1.0 from the bundle the site has and the delta (byte-identical to a full pack).
  $ airlock patch acme-7b-1.0.0.airlock.tar.zst acme-7b-1.1.0.from-1.0.0.airlock-delta \\
      -o acme-7b-1.1.0.airlock.tar.zst
  # Or install the delta directly, reading unchanged frames from the base.
  $ mkdir -p site
  $ airlock unpack acme-7b-1.1.0.from-1.0.0.airlock-delta --base \\
      acme-7b-1.0.0.airlock.tar.zst --trust trust.toml --dest site/acme-7b"
);

pub const BOM_HELP: &str = concat!(
    "\
Writes a CycloneDX 1.6 JSON ML-BOM of the bundle from its signed manifest frame alone (no payload
is read): the bundle as metadata.component (name, version, sequence, target, created, expires,
suite, manifest digest, signers with roles and key ids), each model artifact as a
machine-learning-model component (tree digest, files with hashes, a model card with the approved
targets and required safeguards, its OMS signature status), data artifacts, safeguards and the
policy as data components. The same bundle gives the same bytes. Without --trust, the document
says the signatures were not checked; with it, they are checked first (exit 1 if the bundle would
be refused) and each signature's status is recorded. `unpack --bom FILE` writes the BOM of what it
installed, with model-card facts from each model's config.json.

",
    exit_codes!(),
    "

Examples:
  # The inventory of a bundle, checked against the site's trust file first.
  $ airlock bom acme-7b-1.0.0.airlock.tar.zst --trust trust.toml -o acme-7b.cdx.json"
);

pub const DIFF_HELP: &str = concat!(
    "\
OLD and NEW may each be a bundle, one volume of a split bundle, or a delta: only the signed
manifest frame is read (nothing is extracted, verified or trusted). Reported: changed
[bundle], [layout] and [policy] fields (version, sequence, target, created, expires, notice,
policy id/version/digest...), artifacts added, removed or changed by tree digest (model,
safeguard, policy, data), files added, removed or changed (size, mode, sha256), signers
added or removed (by role and key id), and how many of NEW's payload frames OLD lacks (what
`pack --base OLD` would carry across). Exit 0 whether or not they differ.

",
    exit_codes!(),
    "

Examples:
  $ airlock pack acme-7b-1.1.0.toml --key release.key --password-file release.pw
  # What changes between the installed release and the next one, and what would cross.
  $ airlock diff acme-7b-1.0.0.airlock.tar.zst acme-7b-1.1.0.airlock.tar.zst"
);

pub const POLICY_HELP: &str = concat!(
    "\
Policy (TOML, signed by the model provider's policy key; put policy.toml and its .minisig files in
the bundle's `policy` artifact directory):
  [policy]
  id = \"acme-deployment-policy\"
  version = 3                       # monotonic
  issued = \"2026-11-01T00:00:00Z\"
  expires = \"2027-11-01T00:00:00Z\"
  oms_keys = [\"MFkwEwYH...\"]        # optional: the provider's OpenSSF Model Signing public keys
                                    # (base64 body of `openssl ec -pubout`, ECDSA P-256/P-384)
  [[model]]                         # approved models, by `airlock digest` tree digest
  name = \"acme-7b\"
  tree_digest = \"sha256:...\"       # covers model.sig when the model carries one; a cnsa2
  targets = [\"aws-secret\"]         # bundle needs the sha384 one (`airlock digest --suite
                                    # cnsa2`): list the model once per digest
  require_oms = true                # optional: the model must carry a signature by an oms_key
  [[target_suite]]                  # bundles for this target must use this suite
  target = \"azure-top-secret\"
  suite = \"cnsa2\"
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

Stock minisign signatures (`minisign -Sm policy.toml`) are accepted too. An ML-DSA-87 policy key
writes policy-KEYID.mldsa87 beside policy.toml: a statement line (`airlock-policy/1 id=.. version=..
sha384=.. signed=..`) and the signature over it (docs/format.md 8.1).

",
    exit_codes!(),
    "

Examples:
  # Writes policy/policy.toml.minisig beside the policy.
  $ airlock sign-policy policy/policy.toml --key provider.key --password-file provider.pw"
);

pub const AUDIT_VERIFY_HELP: &str = concat!(
    "\
Exit 0: the chain is intact; exit 1: it is broken (the line is named); exit 2: the log does not
exist; exit 3: it cannot be read.

",
    exit_codes!(),
    "

Examples:
  $ airlock verify acme-7b-1.0.0.airlock.tar.zst --trust trust.toml --audit-log audit.jsonl
  $ airlock audit verify audit.jsonl"
);

pub const DEMO_HELP: &str = concat!(
    exit_codes!(),
    "

Examples:
  # From the repository root: `airlock demo` (the spec defaults to manifests/example).
  # Keep the work directory to look at the bundle and the installed tree afterwards.
  $ airlock demo --spec acme-7b.toml --workdir demo-run
  $ ls demo-run/installed/model/acme-7b"
);

pub const COMPLETIONS_HELP: &str = concat!(
    exit_codes!(),
    "

Examples:
  $ airlock completions bash > airlock.bash
  $ airlock completions zsh > _airlock
  $ airlock completions fish > airlock.fish"
);

pub const MANPAGE_HELP: &str = concat!(
    exit_codes!(),
    "

Examples:
  # airlock.1 and one page per subcommand; read one without installing it.
  $ airlock manpage man/man1
  $ MANPAGER=cat man -l man/man1/airlock-pack.1 > /dev/null"
);

pub const TOP_HELP: &str = concat!(
    exit_codes!(),
    "

Examples:
  $ airlock --version
  $ airlock inspect acme-7b-1.0.0.airlock.tar.zst
  # Each command's --help ends with its own examples; `man airlock-pack` once installed."
);

pub const AUDIT_HELP: &str = concat!(
    exit_codes!(),
    "

Examples:
  $ airlock verify acme-7b-1.0.0.airlock.tar.zst --trust trust.toml --audit-log audit.jsonl
  $ airlock audit verify audit.jsonl --json"
);

/// The rules of a signed trust update, shared by `trust sign` and `trust update`.
macro_rules! trust_update_help {
    () => {
        "\
Signed trust updates (TUF-style root rotation; docs/format.md 8.9):
  1. write NEW.toml: the same site, a higher `version`, [roles.root] (it may list new root keys)
  2. each root key holder runs `airlock trust sign NEW.toml --key ROOT_KEY` (a file or a pkcs11:
     URI); the signatures are NEW.toml.root-KEYID.minisig (or .mldsa87) beside NEW.toml
  3. the site runs `airlock trust update NEW.toml --trust CURRENT.toml`, or the update travels in
     a bundle as an artifact of kind `trust` (the directory of NEW.toml and its signatures) and
     `airlock unpack --apply-trust` applies it.
The update replaces the trust file in place (atomically, under a lock) only if it is for the same
site, its version is higher, and valid root signatures meet the threshold of the CURRENT root keys
and of the NEW root keys. Revoked keys never count. Otherwise exit 1 naming the rule (site,
version, current-root, new-root, signature) and nothing is written.

"
    };
}

pub const TRUST_HELP: &str = concat!(
    trust_update_help!(),
    exit_codes!(),
    "

Examples:
  $ airlock trust sign --help
  $ airlock trust update --help"
);

pub const TRUST_SIGN_HELP: &str = concat!(
    trust_update_help!(),
    exit_codes!(),
    "

Examples:
  # A root key and a version 2 of the site's trust file that adds a root role for it.
  $ airlock keygen --out root --unencrypted
  $ { echo 'version = 2'; cat trust.toml; echo '[roles.root]'; echo 'threshold = 1'; \\
      echo \"keys = [\\\"$(sed -n 2p root.pub)\\\"]\"; } > trust-v2.toml
  # Writes trust-v2.toml.root-KEYID.minisig beside it.
  $ airlock trust sign trust-v2.toml --key root.key --json"
);

pub const TRUST_UPDATE_HELP: &str = concat!(
    trust_update_help!(),
    exit_codes!(),
    "

Examples:
  # The site's trust file (version 1, with a root role) and a signed version 2 of it.
  $ airlock keygen --out root --unencrypted
  $ { echo 'version = 1'; cat trust.toml; echo '[roles.root]'; echo 'threshold = 1'; \\
      echo \"keys = [\\\"$(sed -n 2p root.pub)\\\"]\"; } > site.toml
  $ sed 's/^version = 1$/version = 2/' site.toml > site-v2.toml
  $ airlock trust sign site-v2.toml --key root.key
  # Judge only, then replace site.toml atomically.
  $ airlock trust update site-v2.toml --trust site.toml --dry-run
  $ airlock trust update site-v2.toml --trust site.toml --json"
);
