//! Typed errors for the library. Every error says what failed and on which file; each maps to one
//! documented exit code (1 rejected, 2 usage/config, 3 I/O/environment) and carries a hint that
//! says what to do next.
use std::io;
use std::path::{Path, PathBuf};

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which check rejected a bundle. The names are stable: they appear in messages and `--json` output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// The footer at the end of the file (magic, bounds).
    Footer,
    /// The manifest frame: size cap, single frame, tar layout of `airlock/` entries.
    ManifestFrame,
    /// The manifest text: schema, canonical form, internal consistency.
    Manifest,
    /// The checksum file agrees with the manifest.
    Checksums,
    /// Signature files: parse, trusted comment, cryptographic validity.
    Signature,
    /// Role thresholds of the trust file.
    Threshold,
    /// The bundle's target against the trust file's site.
    Target,
    /// The bundle's expiry.
    Expiry,
    /// A payload frame's sha256, bounds or decompressed length.
    FrameDigest,
    /// Tar structure of the payload: canonical headers, padding, order, end.
    TarEntry,
    /// A file's size or sha256 after decompression.
    FileDigest,
    /// The policy's rules (approval, target, safeguards, notice, activation time).
    Policy,
    /// The bundle's sequence is not above the last one installed.
    Rollback,
    /// A file's content is of a refused type.
    ContentGate,
    /// The audit log's hash chain.
    AuditLog,
    /// An OCI image layout as OCI content: `oci-layout`, `index.json`, the manifest, config and
    /// blobs against their descriptors' digests and sizes, caps, no links.
    OciLayout,
    /// An OCI artifact against the one airlock derives from the signed manifest it carries:
    /// layers added, dropped or changed, the config or manifest edited, another bundle's proof.
    OciArtifact,
}

impl Check {
    /// Every check, in the order of the JSON contract's enum (`docs/schema/v1/defs.json`).
    pub const ALL: [Check; 17] = [
        Check::Footer,
        Check::ManifestFrame,
        Check::Manifest,
        Check::Checksums,
        Check::Signature,
        Check::Threshold,
        Check::Target,
        Check::Expiry,
        Check::FrameDigest,
        Check::TarEntry,
        Check::FileDigest,
        Check::Policy,
        Check::Rollback,
        Check::ContentGate,
        Check::AuditLog,
        Check::OciLayout,
        Check::OciArtifact,
    ];

    /// The `check` values of errors that are not rejections: `usage` (bad flags, written by the
    /// binary), then [`Error::check_name`]'s `config`, `io`, `environment`, `internal`.
    pub const OTHER_NAMES: [&'static str; 6] = [
        "trust-update",
        "usage",
        "config",
        "io",
        "environment",
        "internal",
    ];

    /// The stable kebab-case name used in messages.
    pub fn name(self) -> &'static str {
        match self {
            Check::Footer => "footer",
            Check::ManifestFrame => "manifest-frame",
            Check::Manifest => "manifest",
            Check::Checksums => "checksums",
            Check::Signature => "signature",
            Check::Threshold => "threshold",
            Check::Target => "target",
            Check::Expiry => "expiry",
            Check::FrameDigest => "frame-digest",
            Check::TarEntry => "tar-entry",
            Check::FileDigest => "file-digest",
            Check::Policy => "policy",
            Check::Rollback => "rollback",
            Check::ContentGate => "content-gate",
            Check::AuditLog => "audit-log",
            Check::OciLayout => "oci-layout",
            Check::OciArtifact => "oci-artifact",
        }
    }

    fn hint(self) -> &'static str {
        match self {
            Check::Footer | Check::ManifestFrame | Check::FrameDigest => {
                "the bundle is truncated, extended or corrupted: transfer it again and compare its sha256 with the sender's"
            }
            Check::Manifest | Check::Checksums | Check::TarEntry | Check::FileDigest => {
                "the bundle's content does not match what was signed: do not use it; ask the release engineer for a fresh pack"
            }
            Check::Signature => {
                "a signature file is malformed or forged: do not use the bundle; report it to the sender"
            }
            Check::Threshold => {
                "check that trust.toml pins the signers' public keys (see `airlock inspect BUNDLE` for who signed)"
            }
            Check::Target => {
                "this bundle was built for another site: ask for a bundle built with this site's target"
            }
            Check::Expiry => "the bundle has expired: ask the release engineer for a fresh pack",
            Check::Policy => {
                "the model provider's policy does not allow this bundle here: ask for a bundle (or policy) that does; `airlock inspect` shows the policy"
            }
            Check::Rollback => {
                "a bundle with this name and an equal or higher sequence is already installed: install a newer release"
            }
            Check::AuditLog => {
                "the audit log was edited, truncated or had lines removed: compare it with its backup and investigate"
            }
            Check::ContentGate => {
                "the bundle holds a file of a refused type: remove it, or have the policy exempt its exact path"
            }
            Check::OciLayout => {
                "the layout is damaged or was changed after export: copy it again from the registry into a fresh directory (skopeo copy docker://... oci:DIR:TAG)"
            }
            Check::OciArtifact => {
                "the artifact is not the one airlock exports from its signed bundle: do not use it; export the verified bundle again and push that"
            }
        }
    }
}

/// Every error the library returns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bundle failed a check: exit code 1.
    #[error("{}: bundle rejected by the {} check: {detail}", file.display(), check.name())]
    Rejected {
        /// The bundle (or volume, delta) that was rejected.
        file: PathBuf,
        /// Which check failed.
        check: Check,
        /// What exactly was wrong.
        detail: String,
        /// What to do about it, where the site knows better than the check's general hint.
        hint: Option<String>,
    },
    /// A spec, trust file, key or flag is invalid: exit code 2.
    #[error("{}: {detail}", file.display())]
    Config {
        /// The file at fault, or the flag or variable (`--threads`, `SOURCE_DATE_EPOCH`).
        file: PathBuf,
        /// What is wrong with it.
        detail: String,
        /// What to do about it.
        hint: String,
    },
    /// Reading or writing a file failed: exit code 3.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// What was being done ("read", "create", ...).
        op: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The environment prevents the operation (a lock, an unsupported platform feature): exit code 3.
    #[error("{0}")]
    Environment(String),
    /// A device failed during the operation — a PKCS#11 token removed, a session lost, a module
    /// error — with what to do about it: exit code 3.
    #[error("{detail}")]
    Device {
        /// What failed.
        detail: String,
        /// What to do about it.
        hint: String,
    },
    /// A signed trust-file update broke one of the rotation rules (`docs/format.md` 8.9): exit
    /// code 1. The current trust file is untouched.
    #[error("{}: trust update refused by rule {rule}: {detail}", file.display())]
    TrustRefused {
        /// The refused trust file (or the bundle path of one carried in a bundle).
        file: PathBuf,
        /// The rule it broke: `site`, `version`, `current-root`, `new-root`, `signature`.
        rule: &'static str,
        /// What exactly was wrong.
        detail: String,
    },
    /// An invariant of airlock itself was broken: a bug, reported rather than hidden (exit 3).
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// A rejection of `file` by `check`.
    pub fn rejected(file: impl AsRef<Path>, check: Check, detail: impl Into<String>) -> Self {
        Error::Rejected {
            file: file.as_ref().to_path_buf(),
            check,
            detail: detail.into(),
            hint: None,
        }
    }

    /// The same error with a hint that fits this site better than the check's general one (a
    /// missing volume is not "transfer the bundle again"; a wrong base is not "ask for a pack").
    pub fn with_hint(self, hint: impl Into<String>) -> Self {
        match self {
            Error::Rejected {
                file,
                check,
                detail,
                ..
            } => Error::Rejected {
                file,
                check,
                detail,
                hint: Some(hint.into()),
            },
            Error::Config { file, detail, .. } => Error::Config {
                file,
                detail,
                hint: hint.into(),
            },
            other => other,
        }
    }

    /// A configuration error in `file`, with a hint on how to fix it.
    pub fn config(
        file: impl AsRef<Path>,
        detail: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Error::Config {
            file: file.as_ref().to_path_buf(),
            detail: detail.into(),
            hint: hint.into(),
        }
    }

    /// Wraps an I/O error with the operation and path it concerned.
    pub fn io(op: &'static str, path: impl AsRef<Path>, source: io::Error) -> Self {
        Error::Io {
            op,
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// The documented exit code: 1 rejected, 2 usage/config, 3 I/O/environment.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Rejected { .. } | Error::TrustRefused { .. } => 1,
            Error::Config { .. } => 2,
            Error::Io { .. }
            | Error::Environment(_)
            | Error::Device { .. }
            | Error::Internal(_) => 3,
        }
    }

    /// The check that rejected the bundle, if this is a rejection.
    pub fn check(&self) -> Option<Check> {
        match self {
            Error::Rejected { check, .. } => Some(*check),
            _ => None,
        }
    }

    /// The stable name of what failed, as `--json` and the audit log report it: the rejecting
    /// check (`frame-digest`, ...), or `config`, `io`, `environment`, `internal`.
    pub fn check_name(&self) -> &'static str {
        match self {
            Error::Rejected { check, .. } => check.name(),
            Error::Config { .. } => "config",
            Error::Io { .. } => "io",
            Error::Environment(_) | Error::Device { .. } => "environment",
            Error::TrustRefused { .. } => "trust-update",
            Error::Internal(_) => "internal",
        }
    }

    /// The file (or flag) an error concerns, if it names one.
    pub fn file(&self) -> Option<&Path> {
        match self {
            Error::Rejected { file, .. }
            | Error::Config { file, .. }
            | Error::TrustRefused { file, .. } => Some(file),
            Error::Io { path, .. } => Some(path),
            Error::Environment(_) | Error::Device { .. } | Error::Internal(_) => None,
        }
    }

    /// What the user should do next.
    pub fn hint(&self) -> String {
        match self {
            Error::Rejected {
                hint: Some(hint), ..
            } => hint.clone(),
            Error::Rejected { check, .. } => check.hint().to_string(),
            Error::Config { hint, .. } => hint.clone(),
            Error::Io { source, .. } => match source.kind() {
                io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => {
                    "free disk space on that file system, or choose another destination".into()
                }
                io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
                    "check the file's permissions and ownership, and that the file system is writable".into()
                }
                io::ErrorKind::NotFound => "check the path".into(),
                io::ErrorKind::FileTooLarge => {
                    "the file system or a resource limit (ulimit -f) refuses a file this large".into()
                }
                _ => "check the path, the disk and the permissions, then run the command again"
                    .into(),
            },
            Error::Environment(_) => "see the message above".into(),
            Error::Device { hint, .. } => hint.clone(),
            Error::TrustRefused { rule, .. } => match *rule {
                "version" => "the update is not newer than the trust file in place (a rollback or a replay): ask the root key holders for the current update".into(),
                "site" => "this trust update is for another site: ask for the one signed for this site".into(),
                "current-root" => "a trust update must be signed by a threshold of the root keys in the trust file in place: collect more root signatures (`airlock trust sign`)".into(),
                "new-root" => "a trust update must also be signed by a threshold of its own root keys (so the new root holders agree): collect their signatures (`airlock trust sign`)".into(),
                _ => "a root signature is malformed or forged: do not apply this update; report it to the root key holders".into(),
            },
            Error::Internal(_) => {
                "this is a bug in airlock: report it with the command line and its output".into()
            }
        }
    }
}

/// Attaches an operation and path to `std::io::Result`s.
pub trait IoContext<T> {
    /// Maps the error to [`Error::Io`] naming `op` and `path`.
    fn ctx(self, op: &'static str, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, op: &'static str, path: &Path) -> Result<T> {
        self.map_err(|e| Error::io(op, path, e))
    }
}

/// Recovers a library error carried through an `io::Error` by a reader adapter.
pub fn unwrap_io(err: io::Error, op: &'static str, path: &Path) -> Error {
    if err.get_ref().is_some_and(|inner| inner.is::<Error>()) {
        *err.into_inner()
            .expect("checked")
            .downcast::<Error>()
            .expect("checked")
    } else {
        Error::io(op, path, err)
    }
}
