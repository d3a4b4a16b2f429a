//! `airlock keygen`: a key pair, PREFIX.pub and PREFIX.key: minisign (Ed25519) or ML-DSA-87.
use super::Done;
use super::common::OutputArgs;
use airlock::error::Error;
use airlock::trust::keys;
use std::io::IsTerminal;
use std::path::PathBuf;

/// `airlock keygen`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write PREFIX.pub and PREFIX.key (with --token: PREFIX.pub only; the secret key stays on
    /// the token).
    #[arg(long, value_name = "PREFIX", required_unless_present = "export_pub")]
    pub out: Option<PathBuf>,
    /// Signature algorithm. `ed25519`: minisign's key files, usable by stock minisign.
    /// `ml-dsa-87` (FIPS 204, CNSA 2.0): PREFIX.pub is a PEM SubjectPublicKeyInfo and PREFIX.key a
    /// PEM PKCS#8 key (PBES2-encrypted with scrypt and AES-256-CBC), as OpenSSL 3.5+ and
    /// pyca/cryptography read and write them.
    #[arg(long, value_enum, default_value = "ed25519", value_name = "ALG")]
    pub alg: AlgArg,
    /// Generate the key pair on a PKCS#11 token instead (RFC 7512 URI with `object=LABEL` for the
    /// new key, e.g. 'pkcs11:token=airlock;object=release?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin'):
    /// the secret key is created non-extractable on the token and never leaves it.
    #[arg(long, value_name = "URI", conflicts_with_all = ["unencrypted", "password_file", "password_fd", "comment"])]
    pub token: Option<String>,
    /// With --token: do not generate; print (and with --out, write PREFIX.pub) the public key of
    /// the existing token key the URI names.
    #[arg(long, requires = "token")]
    pub export_pub: bool,
    /// File holding the token's PIN (one line, not readable by group or others), instead of the
    /// URI's `pin-source` (not both). Without either, airlock asks once on the terminal.
    #[arg(long, value_name = "FILE", requires = "token")]
    pub pin_file: Option<PathBuf>,
    /// Do not encrypt the secret key (for throwaway keys and tests).
    #[arg(long, conflicts_with_all = ["password_file", "password_fd"])]
    pub unencrypted: bool,
    /// Encrypt the secret key with the password on this file's first line (for scripts; without
    /// it airlock asks twice on the terminal, as `minisign -G` does).
    #[arg(long, value_name = "FILE", conflicts_with = "password_fd")]
    pub password_file: Option<PathBuf>,
    /// Encrypt the secret key with the password read from this open file descriptor (e.g.
    /// `--password-fd 3 3<pwfile`).
    #[arg(long, value_name = "N")]
    pub password_fd: Option<i32>,
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
    /// Generates the key pair (or exports a token key's public half).
    pub fn run(&self) -> anyhow::Result<Done> {
        if let Some(uri) = &self.token {
            return self.run_token(uri);
        }
        let out = self.out.as_deref().ok_or_else(|| {
            Error::config(
                "--out",
                "no --out PREFIX",
                "pass --out PREFIX: airlock writes PREFIX.pub and PREFIX.key",
            )
        })?;
        let password = if self.unencrypted {
            None
        } else if let Some(f) = &self.password_file {
            Some(keys::Password::from_file(f)?)
        } else if let Some(fd) = self.password_fd {
            Some(keys::Password::from_fd(fd)?)
        } else if std::io::stdin().is_terminal() {
            Some(keys::Password::prompt_new(out)?)
        } else {
            return Err(Error::config(
                "airlock keygen",
                "choose how to protect the secret key: standard input is not a terminal, so airlock cannot ask for a passphrase",
                "run it on a terminal to be asked for a passphrase, pass --password-file FILE or --password-fd N to encrypt it, or --unencrypted for a throwaway key",
            )
            .into());
        };
        let g = keys::keygen_with(
            out,
            self.alg.into(),
            password.map(|p| p.as_str().to_string()),
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

    /// `--token URI`: generate on the token, or `--export-pub`.
    fn run_token(&self, uri: &str) -> anyhow::Result<Done> {
        let (public, written) = if self.export_pub {
            keys::export_token_public(
                uri,
                self.pin_file.as_deref(),
                self.out.as_deref(),
                self.force,
            )?
        } else {
            keys::keygen_token(
                uri,
                self.pin_file.as_deref(),
                self.alg.into(),
                self.out.as_deref(),
                self.force,
            )?
        };
        let result = serde_json::json!({
            "key_id": public.key_id, "algorithm": public.algorithm, "public_key": public.public_key,
            "public_key_file": written, "secret_key_file": null, "token_uri": public.uri,
            "generated": !self.export_pub,
        });
        let mut text = format!(
            "key id      {} ({}, on the token)\npublic key  {}  (put this line in trust.toml)\nkey URI     {}\n",
            public.key_id, public.algorithm, public.public_key, public.uri
        );
        if let Some(p) = &written {
            text.push_str(&format!("wrote       {}\n", p.display()));
        }
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
