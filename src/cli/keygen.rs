//! `airlock keygen`: a key pair, PREFIX.pub and PREFIX.key: minisign (Ed25519) or ML-DSA-87.
use super::Done;
use super::common::OutputArgs;
use airlock::error::Error;
use airlock::trust::keys;
use std::path::PathBuf;

/// `airlock keygen`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write PREFIX.pub and PREFIX.key.
    #[arg(long, value_name = "PREFIX")]
    pub out: PathBuf,
    /// Signature algorithm. `ed25519`: minisign's key files, usable by stock minisign.
    /// `ml-dsa-87` (FIPS 204, CNSA 2.0): PREFIX.pub is a PEM SubjectPublicKeyInfo and PREFIX.key a
    /// PEM PKCS#8 key (PBES2-encrypted with scrypt and AES-256-CBC), as OpenSSL 3.5+ and
    /// pyca/cryptography read and write them.
    #[arg(long, value_enum, default_value = "ed25519", value_name = "ALG")]
    pub alg: AlgArg,
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
    /// Output flags.
    #[command(flatten)]
    pub output: OutputArgs,
}

impl Args {
    /// Generates the key pair.
    pub fn run(&self) -> anyhow::Result<Done> {
        let password = self
            .password_file
            .as_deref()
            .map(keys::read_password_file)
            .transpose()?;
        if password.is_none() && !self.unencrypted {
            return Err(Error::config(
                "airlock keygen",
                "choose how to protect the secret key",
                "pass --password-file FILE to encrypt it, or --unencrypted for a throwaway key",
            )
            .into());
        }
        let g = keys::keygen_with(
            &self.out,
            self.alg.into(),
            password,
            self.comment.as_deref(),
            self.force,
        )?;
        let result = serde_json::json!({
            "key_id": g.id, "algorithm": g.algorithm, "public_key": g.public_base64,
            "public_key_file": g.public_path, "secret_key_file": g.secret_path,
        });
        let text = format!(
            "key id      {} ({})\npublic key  {}  (put this line in trust.toml)\nwrote       {} and {}\n",
            g.id,
            g.algorithm,
            g.public_base64,
            g.public_path.display(),
            g.secret_path.display()
        );
        Done::stdout(&result, text)
    }
}

/// `--alg`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AlgArg {
    /// Ed25519, minisign key files.
    Ed25519,
    /// ML-DSA-87 (FIPS 204), PKCS#8 / SPKI PEM files.
    #[value(name = "ml-dsa-87")]
    MlDsa87,
}

impl From<AlgArg> for airlock::format::signature::SigAlg {
    fn from(a: AlgArg) -> Self {
        match a {
            AlgArg::Ed25519 => airlock::format::signature::SigAlg::Ed25519,
            AlgArg::MlDsa87 => airlock::format::signature::SigAlg::MlDsa87,
        }
    }
}
