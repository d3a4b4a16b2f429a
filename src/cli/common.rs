//! Flags many subcommands share, declared once and flattened into each: output (`--json`,
//! `--quiet`), worker threads, the judging time, signing keys, and the receiving side's checks.
//! Values are parsed by clap value parsers, so a bad `--threads` or `--now` is a usage error
//! before any work starts.
use airlock::error::Error;
use airlock::format::time::{Timestamp, check_mtime};
use airlock::trust::keys::{self, Signer};
use clap::Args;
use std::path::PathBuf;

/// `--json` and `--quiet`.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Write exactly one JSON document to stdout (also on failure): {"airlock": 1, "command":
    /// ..., "ok": ..., "exit_code": ..., "result" | "error": ...}. Human text is not printed.
    #[arg(long)]
    pub json: bool,
    /// Print nothing on success (errors are still printed, on stderr).
    #[arg(short, long)]
    pub quiet: bool,
}

/// `--threads N`.
#[derive(Debug, Clone, Args)]
pub struct ThreadsArg {
    /// Worker threads for compression, hashing and decompression [default: all cores]. Does not
    /// change any output.
    #[arg(long, value_name = "N", value_parser = parse_threads)]
    pub threads: Option<usize>,
}

impl ThreadsArg {
    /// The number of workers to run.
    pub fn get(&self) -> usize {
        self.threads
            .unwrap_or_else(airlock::util::pipeline::default_threads)
    }
}

fn parse_threads(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1 (omit it to use every core)".into()),
        Ok(n) if n > 1024 => Err("must be at most 1024".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{text}` is not a whole number")),
    }
}

/// Parses `--now`: an RFC 3339 UTC time with whole seconds.
pub fn parse_now(text: &str) -> Result<Timestamp, String> {
    Timestamp::parse(text).ok_or_else(|| {
        format!(
            "`{text}` is not an RFC 3339 UTC time from 1970 to 9999-12-31T23:59:59Z; use the form 2027-01-31T00:00:00Z"
        )
    })
}

/// `SOURCE_DATE_EPOCH`, if set: a whole number of seconds, at most the largest ustar mtime.
pub fn source_date_epoch() -> Result<Option<u64>, Error> {
    let hint = "set it to a unix time, e.g. $(git log -1 --format=%ct)";
    match std::env::var("SOURCE_DATE_EPOCH") {
        Err(_) => Ok(None),
        Ok(v) => {
            let secs: u64 = v.trim().parse().map_err(|_| {
                Error::config(
                    "SOURCE_DATE_EPOCH",
                    format!("`{v}` is not a whole number of seconds"),
                    hint,
                )
            })?;
            check_mtime("SOURCE_DATE_EPOCH", secs)
                .map(Some)
                .map_err(|e| Error::config("SOURCE_DATE_EPOCH", e, hint))
        }
    }
}

/// The signing keys and how to unlock them.
#[derive(Debug, Clone, Args)]
pub struct KeyArgs {
    /// Secret key: a minisign key file (`airlock keygen`, `minisign -G`), an ML-DSA-87 PKCS#8 PEM
    /// key file (`airlock keygen --alg ml-dsa-87`, OpenSSL 3.5+, pyca/cryptography), told apart
    /// by content, or a key on a PKCS#11 token named by an RFC 7512 URI, e.g.
    /// 'pkcs11:token=airlock;object=release?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin'
    /// (quote it; `pin-value` is refused: a PIN never goes on the command line). Repeat it to
    /// sign with several keys at once, e.g. one Ed25519 and one ML-DSA-87 key for a hybrid signer.
    #[arg(long, value_name = "KEY|URI", required = true)]
    pub key: Vec<PathBuf>,
    /// File whose first line is the key file's password (else a prompt, if stdin is a terminal).
    /// Give it once for every encrypted key, or once per --key, in the same order.
    #[arg(long, value_name = "FILE", conflicts_with = "password_fd")]
    pub password_file: Vec<PathBuf>,
    /// Read the key file's password from this open file descriptor (e.g. `--password-fd 3
    /// 3<pwfile`), for every encrypted key.
    #[arg(long, value_name = "N")]
    pub password_fd: Option<i32>,
    /// File holding the PIN of the PKCS#11 token (one line, not readable by group or others);
    /// instead of the URI's `pin-source` (giving both is refused: they could differ, and every
    /// wrong PIN costs one of the token's tries). Without either, airlock asks once on the
    /// terminal; a wrong PIN is never retried.
    #[arg(long, value_name = "FILE")]
    pub pin_file: Option<PathBuf>,
}

impl KeyArgs {
    /// Loads every key, each with its password (file or descriptor) or the token PIN.
    pub fn load_all(&self) -> Result<Vec<Signer>, Error> {
        let passwords = &self.password_file;
        if passwords.len() > 1 && passwords.len() != self.key.len() {
            return Err(Error::config(
                "--password-file",
                format!(
                    "{} password files for {} keys",
                    passwords.len(),
                    self.key.len()
                ),
                "give one --password-file for all keys, or one per --key in the same order",
            ));
        }
        // Read lazily and once each: a descriptor can be read only once, and a token key needs
        // no password at all.
        let from_fd = match self.password_fd {
            Some(fd) if self.key.iter().any(|k| !keys::is_token_key(k)) => {
                Some(keys::Password::from_fd(fd)?)
            }
            _ => None,
        };
        let from_files = passwords
            .iter()
            .map(|p| keys::Password::from_file(p))
            .collect::<Result<Vec<_>, Error>>()?;
        self.key
            .iter()
            .enumerate()
            .map(|(i, key)| {
                let password = from_fd
                    .as_ref()
                    .or_else(|| from_files.get(i).or(from_files.first()));
                keys::load_signer(
                    key,
                    keys::Unlock {
                        password,
                        pin_file: self.pin_file.as_deref(),
                    },
                )
            })
            .collect()
    }
}

/// Flags shared by verify and unpack.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// The trust file: site name and pinned keys per role.
    #[arg(long, value_name = "TRUST.toml")]
    pub trust: PathBuf,
    /// Judge expiry at this time instead of now (RFC 3339 UTC, e.g. 2027-01-01T00:00:00Z).
    #[arg(long, value_name = "TIME", value_parser = parse_now)]
    pub now: Option<Timestamp>,
    /// Worker threads.
    #[command(flatten)]
    pub threads: ThreadsArg,
    /// Output flags.
    #[command(flatten)]
    pub output: OutputArgs,
    /// State directory holding the highest sequence installed per bundle name (rollback
    /// protection) [default: $AIRLOCK_STATE_DIR, else /var/lib/airlock]. verify reads it; unpack
    /// also records the installed sequence.
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// Append one hash-chained JSON line describing the decision (accepted or rejected) to FILE.
    #[arg(long, value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
}

impl CheckArgs {
    /// The judging time: `--now`, else the clock.
    pub fn now(&self) -> Timestamp {
        self.now.unwrap_or_else(Timestamp::now)
    }

    /// The rollback state directory.
    pub fn state(&self) -> airlock::trust::state::StateDir {
        airlock::trust::state::StateDir::resolve(self.state.as_deref())
    }
}

/// `--suite`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SuiteArg {
    /// SHA-256 and Ed25519 (minisign).
    Classic,
    /// CNSA 2.0: SHA-384 and ML-DSA-87.
    Cnsa2,
}

impl From<SuiteArg> for airlock::format::manifest::Suite {
    fn from(s: SuiteArg) -> Self {
        match s {
            SuiteArg::Classic => airlock::format::manifest::Suite::Classic,
            SuiteArg::Cnsa2 => airlock::format::manifest::Suite::Cnsa2,
        }
    }
}
