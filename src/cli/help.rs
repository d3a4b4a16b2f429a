//! The long help texts of the subcommands: schemas, refusals and exit codes, kept in one file so
//! a reader of `--help` and of this source see the same contract.

pub const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  the bundle was rejected (signature, threshold, integrity, target, expiry, unsafe content)
  2  usage or configuration error (bad flags; unreadable or invalid spec, trust file or key; destination conflict)
  3  I/O or environment error (disk full, permission denied, missing file)

--json writes one JSON document to stdout (also on failure: {\"ok\": false, ...}); human messages go to stderr.";

pub const SPEC_HELP: &str = "\
Spec (TOML; paths are relative to the spec file):
  [bundle]
  name = \"acme-7b\"          # A-Z a-z 0-9 . _ + -
  version = \"1.0.0\"
  sequence = 1              # must increase with every release of this name
  target = \"aws-secret\"     # the receiving site's name
  valid_days = 90           # or: expires = \"2027-01-31T00:00:00Z\"; default 90 days
  # created = \"2026-11-01T00:00:00Z\"  optional; SOURCE_DATE_EPOCH wins, else the clock
  # suite = \"cnsa2\"        optional: classic (default; SHA-256, Ed25519) or cnsa2 (CNSA 2.0:
  #                         SHA-384, ML-DSA-87); --suite must agree with it
  [[artifact]]
  kind = \"model\"            # model | safeguard | policy | data | trust (a signed trust.toml update)
  name = \"acme-7b\"
  path = \"models/acme-7b\"   # a file or a directory

Determinism: set SOURCE_DATE_EPOCH and two packs of the same inputs give identical manifest and
payload bytes (only signatures differ: ML-DSA-87 signing is randomised, as FIPS 204 recommends). Without it entries get mtime 0 and `created` comes from the
spec or the clock. The output is written to a temporary file beside it and renamed into place.

Exit codes: 0 ok, 1 rejected, 2 usage/config, 3 I/O.";

pub const TRUST_HELP: &str = "\
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

  # version = 3               # optional (default 0): a signed update must carry a higher one
  # [roles.root]              # optional: the keys that sign updates of this file
  # threshold = 2             #   (`airlock trust sign`, `airlock trust update`); at least 1
  # keys = [\"RWQ...\", \"RWQ...\", \"RWQ...\"]

Signatures by keys the trust file does not know are reported and not counted; a signature by a
pinned key that does not verify rejects the bundle. Rollback: a bundle whose sequence is not above
the last installed one of the same name (see --state) is refused, unless it is that same bundle.

Exit codes: 0 ok, 1 rejected, 2 usage/config (also: --dest exists with other content), 3 I/O.";

pub const POLICY_HELP: &str = "\
Policy (TOML, signed by the model provider's policy key; put policy.toml and its .minisig files in
the bundle's `policy` artifact directory):
  [policy]
  id = \"acme-deployment-policy\"
  version = 3                       # monotonic
  issued = \"2026-11-01T00:00:00Z\"
  expires = \"2027-11-01T00:00:00Z\"
  [[model]]                         # approved models, by `airlock digest` tree digest
  name = \"acme-7b\"
  tree_digest = \"sha256:...\"       # a cnsa2 bundle needs the sha384 one (`airlock digest
  targets = [\"aws-secret\"]         # --suite cnsa2`): list the model once per digest
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

Exit codes: 0 ok, 2 usage/config (invalid policy, key), 3 I/O.";

pub const VOLUME_HELP: &str = "\
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

pub const DELTA_HELP: &str = "\
A delta comes from `airlock pack SPEC --base OLD_BUNDLE`: the new version's full signed
manifest plus only the payload frames OLD_BUNDLE lacks, and OLD_BUNDLE's manifest sha256.

patch refuses, with exit 1: a base whose manifest sha256 differs from the one the delta
records, a delta frame or base frame whose sha256 differs from its signed manifest (all of
the base's frames are checked). NEW is written to a temporary file beside it and renamed
into place; its manifest frame and payload frames are exactly those of a full pack of the
new spec, signatures included. patch needs no trust file: verify NEW (or `airlock unpack
DELTA --base OLD_BUNDLE`, which checks both against the trust file).

Exit codes: 0 ok, 1 rejected, 2 usage (e.g. DELTA is not a delta), 3 I/O.";

pub const DIFF_HELP: &str = "\
OLD and NEW may each be a bundle, one volume of a split bundle, or a delta: only the signed
manifest frame is read (nothing is extracted, verified or trusted). Reported: changed
[bundle], [layout] and [policy] fields (version, sequence, target, created, expires, notice,
policy id/version/digest...), artifacts added, removed or changed by tree digest (model,
safeguard, policy, data), files added, removed or changed (size, mode, sha256), signers
added or removed (by role and key id), and how many of NEW's payload frames OLD lacks (what
`pack --base OLD` would carry across).

Exit codes: 0 compared (whether or not they differ), 1 a file is not a valid bundle, 2
usage, 3 I/O.";

pub const TRUST_UPDATE_HELP: &str = "\
Signed trust updates (TUF-style root rotation; docs/format.md 8.8):
  1. write NEW.toml: the same site, a higher `version`, [roles.root] (it may list new root keys)
  2. each root key holder runs `airlock trust sign NEW.toml --key ROOT_KEY` (a file or a pkcs11:
     URI); the signatures are NEW.toml.root-KEYID.minisig (or .mldsa87) beside NEW.toml
  3. the site runs `airlock trust update NEW.toml --trust /etc/airlock/trust.toml`, or the update
     travels in a bundle as an artifact of kind `trust` (the directory holding NEW.toml and its
     signatures) and `airlock unpack --apply-trust` applies it.
The update replaces the trust file in place (atomically, under a lock) only if it is for the same
site, its version is higher, and valid root signatures meet the threshold of the CURRENT root
keys and of the NEW root keys. Revoked keys never count. Otherwise nothing is written.

Exit codes: 0 applied (or already current), 1 refused (the rule is named), 2 usage/config, 3 I/O.";
