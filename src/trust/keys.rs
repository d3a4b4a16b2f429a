//! Signing keys: minisign (Ed25519) keys in minisign's own file formats and ML-DSA-87 keys in
//! PKCS#8/SPKI (`trust::mldsa`), behind one [`Signer`]; generation, loading secret keys (optionally
//! password-protected, told apart by content), parsing public keys, key ids, and signing a
//! manifest's statement.
use crate::error::{Error, IoContext, Result};
use crate::format::manifest::Manifest;
use crate::format::signature::{Role, SigAlg, file_name};
use crate::format::time::Timestamp;
use crate::trust::mldsa::{MlDsaKey, SecretPemError};
use minisign::{KeyPair, PublicKey, PublicKeyBox, SecretKey, SecretKeyBox};
use std::fs;
use std::io::Cursor;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

pub use crate::format::signature::key_id;

/// The id of a public key.
pub(crate) fn public_key_id(pk: &PublicKey) -> String {
    key_id(pk.keynum())
}

/// The raw 32-byte Ed25519 key of a minisign public key: what makes two keys the same key,
/// whatever key id either is listed or signed under.
pub(crate) fn public_key_bytes(pk: &PublicKey) -> [u8; 32] {
    // minisign's encoding: "Ed" (2) || keynum (8) || key (32).
    pk.to_bytes()[10..42]
        .try_into()
        .expect("a minisign public key is 42 bytes")
}

/// A loaded signing key with its public half.
#[derive(Clone)]
pub struct SigningKey {
    /// Secret key, decrypted.
    pub secret: SecretKey,
    /// Public key derived from it.
    pub public: PublicKey,
    /// Its key id.
    pub id: String,
}

/// What `airlock keygen` wrote.
pub struct GeneratedKey {
    /// Path of the public key file.
    pub public_path: PathBuf,
    /// Path of the secret key file.
    pub secret_path: PathBuf,
    /// The key id.
    pub id: String,
    /// The algorithm.
    pub algorithm: SigAlg,
    /// The key's entry for `keys = [...]` in trust files: minisign's base64 line, or
    /// `ml-dsa-87:` + base64 of the SPKI DER.
    pub public_base64: String,
}

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Generates a minisign key pair and writes `PREFIX.pub` and `PREFIX.key`. `password` `None`
/// writes an unencrypted secret key. Refuses to overwrite unless `force`.
pub fn keygen(
    prefix: &Path,
    password: Option<String>,
    comment: Option<&str>,
    force: bool,
) -> Result<GeneratedKey> {
    keygen_with(prefix, SigAlg::Ed25519, password, comment, force)
}

/// Generates a key pair of `alg` and writes `PREFIX.pub` and `PREFIX.key`: minisign's formats for
/// Ed25519; for ML-DSA-87 a PEM SubjectPublicKeyInfo and a PEM PKCS#8 secret key (encrypted
/// when `password` is given; `comment` does not apply). Refuses to overwrite unless `force`.
pub fn keygen_with(
    prefix: &Path,
    alg: SigAlg,
    password: Option<String>,
    comment: Option<&str>,
    force: bool,
) -> Result<GeneratedKey> {
    let public_path = with_suffix(prefix, ".pub");
    let secret_path = with_suffix(prefix, ".key");
    if !force {
        for p in [&public_path, &secret_path] {
            if p.exists() {
                return Err(Error::config(
                    p,
                    "already exists; airlock keygen will not overwrite a key",
                    "choose another --out prefix, or pass --force to replace it",
                ));
            }
        }
    }
    if alg == SigAlg::MlDsa87 {
        let env = |e: String| Error::Environment(format!("ML-DSA-87 key generation: {e}"));
        let key = MlDsaKey::generate().map_err(env)?;
        let password = password.map(zeroize::Zeroizing::new);
        let secret = key
            .secret_pem(password.as_ref().map(|p| p.as_bytes()))
            .map_err(env)?;
        let public = key.public_pem().map_err(env)?;
        write_new(&secret_path, secret.as_bytes(), 0o600, force)?;
        write_new(&public_path, public.as_bytes(), 0o644, force)?;
        return Ok(GeneratedKey {
            public_path,
            secret_path,
            id: key.id.clone(),
            algorithm: alg,
            public_base64: key.trust_line(),
        });
    }
    let pair = match password {
        Some(pw) => KeyPair::generate_encrypted_keypair(Some(pw)),
        None => KeyPair::generate_unencrypted_keypair(),
    }
    .map_err(|e| Error::Environment(format!("key generation failed: {e}")))?;
    let comment = comment.unwrap_or("airlock secret key");
    let sk_bytes = pair
        .sk
        .to_box(Some(comment))
        .map_err(|e| Error::Environment(format!("cannot encode secret key: {e}")))?
        .to_bytes();
    let pk_box = pair
        .pk
        .to_box()
        .map_err(|e| Error::Environment(format!("cannot encode public key: {e}")))?;
    write_new(&secret_path, &sk_bytes, 0o600, force)?;
    write_new(&public_path, &pk_box.to_bytes(), 0o644, force)?;
    Ok(GeneratedKey {
        public_path,
        secret_path,
        id: public_key_id(&pair.pk),
        algorithm: alg,
        public_base64: pair.pk.to_base64(),
    })
}

fn write_new(path: &Path, bytes: &[u8], mode: u32, force: bool) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = fs::OpenOptions::new();
    options.write(true).mode(mode);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = options.open(path).ctx("create", path)?;
    file.write_all(bytes).ctx("write", path)?;
    file.sync_all().ctx("sync", path)?;
    Ok(())
}

/// Reads a password file: its first line, without the line ending.
pub fn read_password_file(path: &Path) -> Result<String> {
    let text = crate::util::fs::read_input_text(path, "password file", 64 << 10)?;
    let line = text.lines().next().unwrap_or("");
    if line.is_empty() {
        return Err(Error::config(
            path,
            "the password file is empty",
            "put the key's password on the first line",
        ));
    }
    Ok(line.to_string())
}

/// Loads a minisign secret key, decrypting it with the password file, or by prompting when
/// standard input is a terminal.
pub fn load_signing_key(path: &Path, password_file: Option<&Path>) -> Result<SigningKey> {
    let text = crate::util::fs::read_input_text(path, "secret key", 64 << 10)?;
    // A password file named on the command line is always read, so a wrong path is reported
    // even when the key turns out not to need it.
    let password = password_file.map(read_password_file).transpose()?;
    let key_box = SecretKeyBox::from_string(&text).map_err(|e| {
        Error::config(
            path,
            format!("not a minisign secret key: {e}"),
            "pass the .key file written by `airlock keygen` or `minisign -G`",
        )
    })?;
    let encrypted = key_box
        .clone()
        .into_unencrypted_secret_key()
        .map(|k| k.is_encrypted())
        .unwrap_or(true);
    let secret = if !encrypted {
        key_box.into_unencrypted_secret_key()
    } else if let Some(key) = stock_unencrypted_key(&text) {
        Ok(key)
    } else if let Some(password) = password {
        key_box.into_secret_key(Some(password))
    } else if std::io::stdin().is_terminal() {
        key_box.into_secret_key(None)
    } else {
        return Err(Error::config(
            path,
            "the secret key is encrypted and no password was given",
            "pass --password-file FILE (standard input is not a terminal, so airlock cannot prompt)",
        ));
    }
    .map_err(|e| {
        Error::config(
            path,
            format!("cannot decrypt the secret key: {e}"),
            "check the password (first line of --password-file)",
        )
    })?;
    let public = PublicKey::from_secret_key(&secret).map_err(|e| {
        Error::config(
            path,
            format!("cannot derive the public key: {e}"),
            "check the key file",
        )
    })?;
    let id = public_key_id(&public);
    Ok(SigningKey { secret, public, id })
}

/// Stock `minisign -G -W` (0.11) writes unencrypted secret keys whose checksum is all zero, which
/// the minisign crate rejects as corrupted. Such a key is accepted only if its key pair proves
/// itself: a test signature must verify under the public key it carries.
fn stock_unencrypted_key(text: &str) -> Option<SecretKey> {
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(text.lines().nth(1)?.trim())
        .ok()?;
    // sig_alg 2, kdf_alg 2 (0 = none), chk_alg 2, salt 32, limits 16, keynum 8, sk 64, chk 32.
    if raw.len() != 158 || raw[2..4] != [0, 0] || raw[126..].iter().any(|&b| b != 0) {
        return None;
    }
    let secret = SecretKey::from_bytes(&raw).ok()?;
    let public = PublicKey::from_secret_key(&secret).ok()?;
    minisign::sign(
        Some(&public),
        &secret,
        &b"airlock key check"[..],
        None,
        None,
    )
    .ok()?;
    Some(secret)
}

/// Parses a public key given as minisign's base64 line or as a whole `.pub` file's text.
pub fn parse_public_key(text: &str) -> std::result::Result<PublicKey, String> {
    let trimmed = text.trim();
    let result = if trimmed.starts_with("untrusted comment:") {
        PublicKeyBox::from_string(trimmed).and_then(|b| b.into_public_key())
    } else {
        PublicKey::from_base64(trimmed)
    };
    result.map_err(|e| format!("`{trimmed}` is not a minisign public key: {e}"))
}

/// The statement a manifest signature by `role` binds: the bundle's identity, the manifest's
/// digest (the suite's algorithm), the role and the signing time.
pub fn statement(
    manifest: &Manifest,
    manifest_bytes: &[u8],
    role: Role,
    now: Timestamp,
) -> crate::format::signature::TrustedComment {
    let bundle = &manifest.bundle;
    crate::format::signature::TrustedComment {
        name: bundle.name.clone(),
        version: bundle.version.clone(),
        sequence: bundle.sequence,
        target: bundle.target.clone(),
        manifest_digest: manifest.digest_of(manifest_bytes),
        role,
        signed: now,
    }
}

/// Signs `manifest_bytes` (the manifest `manifest`) as `role` with a minisign key; returns the
/// file name and the signature file's text.
pub fn sign_manifest(
    key: &SigningKey,
    manifest: &Manifest,
    manifest_bytes: &[u8],
    role: Role,
    now: Timestamp,
) -> Result<(String, String), String> {
    let comment = statement(manifest, manifest_bytes, role, now);
    let sig = minisign::sign(
        Some(&key.public),
        &key.secret,
        Cursor::new(manifest_bytes),
        Some(&comment.render()),
        Some(&format!("airlock {role} signature")),
    )
    .map_err(|e| format!("signing failed: {e}"))?;
    Ok((file_name(role, &key.id, SigAlg::Ed25519), sig.into_string()))
}

/// A key airlock can sign with: minisign (Ed25519) or ML-DSA-87.
pub enum Signer {
    /// A minisign secret key.
    Minisign(SigningKey),
    /// An ML-DSA-87 secret key.
    MlDsa87(MlDsaKey),
}

impl Signer {
    /// The key id (16 hex digits).
    pub fn id(&self) -> &str {
        match self {
            Signer::Minisign(k) => &k.id,
            Signer::MlDsa87(k) => &k.id,
        }
    }

    /// The signature algorithm.
    pub fn algorithm(&self) -> SigAlg {
        match self {
            Signer::Minisign(_) => SigAlg::Ed25519,
            Signer::MlDsa87(_) => SigAlg::MlDsa87,
        }
    }

    /// The manifest signature file `(name, text)` for `role`: a minisign file over the manifest
    /// bytes with the statement as trusted comment, or an ML-DSA-87 file over the statement.
    pub fn sign_manifest(
        &self,
        manifest: &Manifest,
        manifest_bytes: &[u8],
        role: Role,
        now: Timestamp,
    ) -> Result<(String, String), String> {
        match self {
            Signer::Minisign(k) => sign_manifest(k, manifest, manifest_bytes, role, now),
            Signer::MlDsa87(k) => {
                let comment = statement(manifest, manifest_bytes, role, now);
                Ok((
                    file_name(role, &k.id, SigAlg::MlDsa87),
                    k.sign_statement(&comment.render())?,
                ))
            }
        }
    }
}

/// Loads a secret key of either kind from `path`, told apart by content: a minisign secret key
/// (`untrusted comment:` ... as `airlock keygen` or `minisign -G` write it) or an ML-DSA-87
/// PKCS#8 PEM (`PRIVATE KEY` / `ENCRYPTED PRIVATE KEY`). A public key is refused as such.
pub fn load_signer(path: &Path, password_file: Option<&Path>) -> Result<Signer> {
    let text = crate::util::fs::read_input_text(path, "secret key", 64 << 10)?;
    let public_hint = "pass the .key file written by `airlock keygen`, not the .pub file";
    if text.contains("-----BEGIN") {
        let password = password_file.map(read_password_file).transpose()?;
        let attempt = |pw: Option<&str>| MlDsaKey::from_secret_pem(&text, pw.map(str::as_bytes));
        let loaded = match attempt(password.as_deref()) {
            Err(SecretPemError::NeedsPassword) if std::io::stdin().is_terminal() => {
                let pw = prompt_password(path)?;
                attempt(Some(&pw))
            }
            other => other,
        };
        return loaded.map(Signer::MlDsa87).map_err(|e| match e {
            SecretPemError::IsPublic => Error::config(
                path,
                "this is a public key (PEM PUBLIC KEY); signing needs the secret key",
                public_hint,
            ),
            SecretPemError::NeedsPassword => Error::config(
                path,
                "the secret key is encrypted and no password was given",
                "pass --password-file FILE (standard input is not a terminal, so airlock cannot prompt)",
            ),
            SecretPemError::WrongPassword => Error::config(
                path,
                "cannot decrypt the secret key: wrong password",
                match password_file {
                    Some(f) => format!("check the password on the first line of {}", f.display()),
                    None => "check the password you typed".to_string(),
                },
            ),
            SecretPemError::Malformed(e) => Error::config(
                path,
                format!("not an ML-DSA-87 secret key: {e}"),
                "pass a key written by `airlock keygen --alg ml-dsa-87` (PKCS#8 PEM, as OpenSSL 3.5+ and pyca/cryptography write them)",
            ),
        });
    }
    if text.lines().nth(1).is_some_and(|l| l.trim().len() == 56) && parse_public_key(&text).is_ok()
    {
        return Err(Error::config(
            path,
            "this is a minisign public key; signing needs the secret key",
            public_hint,
        ));
    }
    load_signing_key(path, password_file).map(Signer::Minisign)
}

/// Asks for a key's password on the terminal, without echo.
fn prompt_password(path: &Path) -> Result<String> {
    rpassword::prompt_password(format!("password for {}: ", path.display())).map_err(|e| {
        Error::config(
            path,
            format!("cannot read the password from the terminal: {e}"),
            "pass --password-file FILE",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keygen_writes_loadable_keys_and_refuses_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("k");
        let g = keygen(&prefix, None, None, false).unwrap();
        let loaded = load_signing_key(&g.secret_path, None).unwrap();
        assert_eq!(loaded.id, g.id);
        let pk = parse_public_key(&fs::read_to_string(&g.public_path).unwrap()).unwrap();
        assert_eq!(public_key_id(&pk), g.id);
        assert_eq!(
            public_key_id(&parse_public_key(&g.public_base64).unwrap()),
            g.id
        );
        assert!(matches!(
            keygen(&prefix, None, None, false),
            Err(Error::Config { .. })
        ));
        assert!(keygen(&prefix, None, None, true).is_ok());
    }

    #[test]
    fn encrypted_keys_need_the_right_password() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("k");
        let g = keygen(&prefix, Some("hunter2".into()), None, false).unwrap();
        let good = dir.path().join("pw");
        fs::write(&good, "hunter2\n").unwrap();
        assert_eq!(
            load_signing_key(&g.secret_path, Some(&good)).unwrap().id,
            g.id
        );
        let bad = dir.path().join("bad");
        fs::write(&bad, "nope\n").unwrap();
        assert!(load_signing_key(&g.secret_path, Some(&bad)).is_err());
    }
}
