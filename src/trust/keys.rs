//! Signing keys: minisign (Ed25519) keys in minisign's own file formats, ML-DSA-87 keys in
//! PKCS#8/SPKI (`trust::mldsa`), and keys on PKCS#11 tokens (`trust::pkcs11`), behind one
//! [`Signer`]; generation (key files written 0600 and atomically), loading secret keys (told
//! apart by content, or a `pkcs11:` URI), where a key's password comes from ([`Password`]: a
//! file, a file descriptor, or one prompt on the terminal), parsing public keys, key ids, and
//! signing a manifest's statement.
use crate::error::{Error, IoContext, Result};
use crate::format::manifest::Manifest;
use crate::format::signature::{Role, SigAlg, file_name};
use crate::format::time::Timestamp;
use crate::trust::mldsa::{MlDsaKey, SecretPemError};
use crate::trust::pkcs11::{TokenSigner, is_token_uri};
use minisign::{KeyPair, PublicKey, PublicKeyBox, SecretKey, SecretKeyBox};
use std::io::Cursor;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

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

/// Writes a key file atomically: a temporary file in the same directory created with `mode`
/// (0600 for secret keys; the umask can only narrow it), written and fsynced, then renamed into
/// place — without `force` with a no-clobber link, so an existing key is never replaced, even by
/// a racing writer — and the directory fsynced. A crash leaves the old file or the new one.
fn write_new(path: &Path, bytes: &[u8], mode: u32, force: bool) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = crate::util::output::parent_dir(path);
    let mut temp = tempfile::Builder::new()
        .prefix(".airlock-key-")
        .permissions(std::fs::Permissions::from_mode(mode))
        .tempfile_in(&dir)
        .ctx("create a temporary file in", &dir)?;
    temp.write_all(bytes).ctx("write", temp.path())?;
    temp.as_file().sync_all().ctx("sync", temp.path())?;
    let persisted = if force {
        temp.persist(path)
    } else {
        temp.persist_noclobber(path)
    };
    persisted.map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            already_exists(path)
        } else {
            Error::io("rename into place", path, e.error)
        }
    })?;
    crate::util::output::sync_dir(&dir)
}

fn already_exists(path: &Path) -> Error {
    Error::config(
        path,
        "already exists; airlock keygen will not overwrite a key",
        "choose another --out prefix, or pass --force to replace it",
    )
}

/// Largest password airlock reads from a file or a file descriptor.
const MAX_PASSWORD_BYTES: u64 = 64 << 10;

/// A key's password, and where it came from, so a wrong one can be reported with its source
/// ("the first line of FILE", "file descriptor N", "the prompt"). Held zeroised.
pub struct Password {
    secret: Zeroizing<String>,
    origin: String,
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Password(<redacted>, from {})", self.origin)
    }
}

impl Password {
    /// A password obtained elsewhere; `origin` says where, for messages.
    pub fn new(secret: Zeroizing<String>, origin: impl Into<String>) -> Password {
        Password {
            secret,
            origin: origin.into(),
        }
    }

    /// The first line of `path`, without its line ending.
    pub fn from_file(path: &Path) -> Result<Password> {
        let text = Zeroizing::new(crate::util::fs::read_input_text(
            path,
            "password file",
            MAX_PASSWORD_BYTES,
        )?);
        Password::first_line(
            &text,
            format!("the first line of {}", path.display()),
            path.display().to_string(),
        )
    }

    /// The first line read from the already open file descriptor `fd` (`--password-fd N`, as
    /// `gpg --passphrase-fd`): read through `/proc/self/fd/N`, which needs no unsafe code, up to
    /// end of file or 64 KiB. A pipe is read to its end, so the writer should close it.
    pub fn from_fd(fd: i32) -> Result<Password> {
        let name = format!("--password-fd {fd}");
        if fd < 0 {
            return Err(Error::config(
                &name,
                "a file descriptor is a number from 0 up",
                "pass the number of a descriptor the shell opened, e.g. --password-fd 3 3<pw",
            ));
        }
        let path = PathBuf::from(format!("/proc/self/fd/{fd}"));
        let file = std::fs::File::open(&path).map_err(|e| {
            Error::config(
                &name,
                format!("cannot read file descriptor {fd}: {e}"),
                "open it in the shell that runs airlock, e.g. `airlock ... --password-fd 3 3<password-file` or `3< <(pass show key)`",
            )
        })?;
        let mut bytes = Zeroizing::new(Vec::with_capacity(4096));
        file.take(MAX_PASSWORD_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io("read", &path, e))?;
        if bytes.len() as u64 > MAX_PASSWORD_BYTES {
            return Err(Error::config(
                &name,
                format!("more than {MAX_PASSWORD_BYTES} bytes: that is not a password"),
                "pass a descriptor that holds the password on its first line",
            ));
        }
        let text = Zeroizing::new(String::from_utf8(bytes.to_vec()).map_err(|_| {
            Error::config(&name, "the password is not UTF-8 text", "pass UTF-8 text")
        })?);
        Password::first_line(&text, format!("file descriptor {fd}"), name)
    }

    fn first_line(text: &str, origin: String, name: String) -> Result<Password> {
        let line = text.lines().next().unwrap_or("");
        if line.is_empty() {
            return Err(Error::config(
                name,
                "the password is empty",
                "put the key's password on the first line",
            ));
        }
        Ok(Password::new(Zeroizing::new(line.to_string()), origin))
    }

    /// Asks once on the terminal, without echo (`/dev/tty`).
    pub fn prompt(key: &Path) -> Result<Password> {
        let secret = rpassword::prompt_password(format!("password for {}: ", key.display()))
            .map(Zeroizing::new)
            .map_err(|e| {
                Error::config(
                    key,
                    format!("cannot read the password from the terminal: {e}"),
                    "pass --password-file FILE or --password-fd N",
                )
            })?;
        Ok(Password::new(
            secret,
            format!("the password typed at the prompt for {}", key.display()),
        ))
    }

    /// Asks for a new key's passphrase twice on the terminal, without echo, as `minisign -G`
    /// does; refuses an empty one or two that differ (nothing is written then).
    pub fn prompt_new(prefix: &Path) -> Result<Password> {
        let read = |prompt: &str| {
            rpassword::prompt_password(prompt)
                .map(Zeroizing::new)
                .map_err(|e| {
                    Error::config(
                        prefix,
                        format!("cannot read the passphrase from the terminal: {e}"),
                        "pass --password-file FILE or --password-fd N",
                    )
                })
        };
        let first = read(&format!(
            "passphrase for the new key {}.key: ",
            prefix.display()
        ))?;
        if first.is_empty() {
            return Err(Error::config(
                prefix,
                "the passphrase is empty",
                "type a passphrase, or pass --unencrypted for a throwaway key",
            ));
        }
        let second = read("passphrase again: ")?;
        if *first != *second {
            return Err(Error::config(
                prefix,
                "the two passphrases differ; no key was written",
                "run keygen again and type the same passphrase twice",
            ));
        }
        Ok(Password::new(
            first,
            "the passphrase typed at the keygen prompt",
        ))
    }

    /// The password.
    pub fn as_str(&self) -> &str {
        &self.secret
    }

    /// Where it came from, for messages.
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

/// Reads a password file: its first line, without the line ending.
pub fn read_password_file(path: &Path) -> Result<String> {
    Password::from_file(path).map(|p| p.as_str().to_string())
}

fn no_password(path: &Path) -> Error {
    Error::config(
        path,
        "the secret key is encrypted and no password was given",
        "pass --password-file FILE or --password-fd N (standard input is not a terminal, so airlock cannot prompt)",
    )
}

fn wrong_password(path: &Path, detail: String, password: &Password) -> Error {
    Error::config(
        path,
        format!("cannot decrypt the secret key: {detail}"),
        format!(
            "the password came from {}: check it (or pass the right one with --password-file/--password-fd)",
            password.origin()
        ),
    )
}

/// Loads a minisign secret key, decrypting it with the password file, or by prompting when
/// standard input is a terminal.
pub fn load_signing_key(path: &Path, password_file: Option<&Path>) -> Result<SigningKey> {
    let password = password_file.map(Password::from_file).transpose()?;
    let text = crate::util::fs::read_input_text(path, "secret key", 64 << 10)?;
    load_minisign(path, &text, password.as_ref())
}

fn load_minisign(path: &Path, text: &str, password: Option<&Password>) -> Result<SigningKey> {
    let key_box = SecretKeyBox::from_string(text).map_err(|e| {
        Error::config(
            path,
            format!(
                "not a secret key (neither a minisign nor an ML-DSA-87 PKCS#8 secret key): {e}"
            ),
            "pass the .key file written by `airlock keygen` or `minisign -G`",
        )
    })?;
    let encrypted = key_box
        .clone()
        .into_unencrypted_secret_key()
        .map(|k| k.is_encrypted())
        .unwrap_or(true);
    let secret = if !encrypted {
        key_box.into_unencrypted_secret_key().map_err(|e| {
            Error::config(
                path,
                format!("cannot read the secret key: {e}"),
                "check the key file",
            )
        })?
    } else if let Some(key) = stock_unencrypted_key(text) {
        key
    } else {
        let prompted;
        let password = match password {
            Some(p) => p,
            None if std::io::stdin().is_terminal() => {
                prompted = Password::prompt(path)?;
                &prompted
            }
            None => return Err(no_password(path)),
        };
        key_box
            .into_secret_key(Some(password.as_str().to_string()))
            .map_err(|e| wrong_password(path, e.to_string(), password))?
    };
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

/// Signs `manifest_bytes` (the manifest `manifest`) as `role` with a minisign key file's key;
/// returns the file name and the signature file's text. (What [`Signer::sign_manifest`] does for
/// a [`Signer::Minisign`]; kept for callers that hold a bare [`SigningKey`], such as the tests'
/// bundle crafter.)
pub fn sign_manifest(
    key: &SigningKey,
    manifest: &Manifest,
    manifest_bytes: &[u8],
    role: Role,
    now: Timestamp,
) -> std::result::Result<(String, String), String> {
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

/// A key airlock can sign with: a minisign (Ed25519) key file, an ML-DSA-87 key file, or a key
/// on a PKCS#11 token (either algorithm). Every command that signs takes a `Signer`, so a token
/// key needs no special case anywhere.
pub enum Signer {
    /// A minisign secret key.
    Minisign(SigningKey),
    /// An ML-DSA-87 secret key.
    MlDsa87(MlDsaKey),
    /// A key on a PKCS#11 token, with its logged-in session.
    Token(Box<TokenSigner>),
}

impl Signer {
    /// The key id (16 hex digits).
    pub fn id(&self) -> &str {
        match self {
            Signer::Minisign(k) => &k.id,
            Signer::MlDsa87(k) => &k.id,
            Signer::Token(t) => &t.id,
        }
    }

    /// The signature algorithm.
    pub fn algorithm(&self) -> SigAlg {
        match self {
            Signer::Minisign(_) => SigAlg::Ed25519,
            Signer::MlDsa87(_) => SigAlg::MlDsa87,
            Signer::Token(t) => t.algorithm(),
        }
    }

    /// A minisign signature file over `message` (Ed25519 keys only): prehashed, with the given
    /// trusted and untrusted comments.
    pub fn sign_minisign(&self, message: &[u8], trusted: &str, untrusted: &str) -> Result<String> {
        match self {
            Signer::Minisign(k) => minisign::sign(
                Some(&k.public),
                &k.secret,
                Cursor::new(message),
                Some(trusted),
                Some(untrusted),
            )
            .map(|s| s.into_string())
            .map_err(|e| Error::Environment(format!("signing failed: {e}"))),
            Signer::Token(t) => t.sign_minisign(message, trusted, untrusted),
            Signer::MlDsa87(k) => Err(Error::Internal(format!(
                "ML-DSA-87 key {} asked for a minisign signature",
                k.id
            ))),
        }
    }

    /// An ML-DSA-87 signature file over `statement` (ML-DSA-87 keys only).
    pub fn sign_statement(&self, statement: &str) -> Result<String> {
        match self {
            Signer::MlDsa87(k) => k.sign_statement(statement).map_err(Error::Environment),
            Signer::Token(t) => t.sign_statement(statement),
            Signer::Minisign(k) => Err(Error::Internal(format!(
                "minisign key {} asked for an ML-DSA-87 signature",
                k.id
            ))),
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
    ) -> Result<(String, String)> {
        let comment = statement(manifest, manifest_bytes, role, now).render();
        let alg = self.algorithm();
        let text = match alg {
            SigAlg::Ed25519 => self.sign_minisign(
                manifest_bytes,
                &comment,
                &format!("airlock {role} signature"),
            )?,
            SigAlg::MlDsa87 => self.sign_statement(&comment)?,
        };
        Ok((file_name(role, self.id(), alg), text))
    }
}

/// How keys are unlocked: a password for encrypted key files (else one prompt per key, when
/// standard input is a terminal), a PIN file for token keys (else the URI's `pin-source`, else a
/// prompt).
#[derive(Debug, Default, Clone, Copy)]
pub struct Unlock<'a> {
    /// The password for encrypted key files.
    pub password: Option<&'a Password>,
    /// `--pin-file`: the PIN of a PKCS#11 token.
    pub pin_file: Option<&'a Path>,
}

/// Whether a `--key` argument names a key on a PKCS#11 token (`pkcs11:...`) rather than a file.
pub fn is_token_key(key: &Path) -> bool {
    is_token_uri(key.as_os_str())
}

/// Loads a secret key of any kind: `key` is a PKCS#11 URI (`pkcs11:...`, RFC 7512), or a file
/// told apart by content — a minisign secret key (`untrusted comment:` ... as `airlock keygen`
/// or `minisign -G` write it) or an ML-DSA-87 PKCS#8 PEM (`PRIVATE KEY` / `ENCRYPTED PRIVATE
/// KEY`). A public key of either kind is refused as such.
pub fn load_signer(key: &Path, unlock: Unlock<'_>) -> Result<Signer> {
    if is_token_uri(key.as_os_str()) {
        let text = key.to_str().ok_or_else(|| {
            Error::config(
                "--key pkcs11:...",
                "the PKCS#11 URI is not UTF-8 text",
                "percent-encode non-ASCII bytes (RFC 7512)",
            )
        })?;
        return TokenSigner::open(text, unlock.pin_file).map(|t| Signer::Token(Box::new(t)));
    }
    let path = key;
    let text = crate::util::fs::read_input_text(path, "secret key", 64 << 10)?;
    let public_hint =
        "pass the .key file written by `airlock keygen` (or a pkcs11: URI), not the .pub file";
    if parse_public_key(&text).is_ok() || crate::trust::mldsa::parse_public(&text).is_ok() {
        return Err(Error::config(
            path,
            "this is a public key, not a secret key; signing needs the secret key",
            public_hint,
        ));
    }
    if text.contains("-----BEGIN") {
        let attempt = |pw: Option<&Password>| {
            MlDsaKey::from_secret_pem(&text, pw.map(|p| p.as_str().as_bytes()))
        };
        let mut used = unlock.password;
        let prompted;
        let loaded = match attempt(used) {
            Err(SecretPemError::NeedsPassword) if std::io::stdin().is_terminal() => {
                prompted = Password::prompt(path)?;
                used = Some(&prompted);
                attempt(used)
            }
            other => other,
        };
        return loaded.map(Signer::MlDsa87).map_err(|e| match e {
            SecretPemError::IsPublic => Error::config(
                path,
                "this is a public key (PEM PUBLIC KEY), not a secret key; signing needs the secret key",
                public_hint,
            ),
            SecretPemError::NeedsPassword => no_password(path),
            SecretPemError::WrongPassword => match used {
                Some(p) => wrong_password(path, "wrong password".into(), p),
                None => no_password(path),
            },
            SecretPemError::Malformed(e) => Error::config(
                path,
                format!("not a secret key (neither a minisign nor an ML-DSA-87 PKCS#8 secret key): {e}"),
                "pass a key written by `airlock keygen --alg ml-dsa-87` (PKCS#8 PEM, as OpenSSL 3.5+ and pyca/cryptography write them)",
            ),
        });
    }
    load_minisign(path, &text, unlock.password).map(Signer::Minisign)
}

/// `airlock keygen --token URI`: generates the key pair on the token (the secret never leaves it)
/// and, when `out` is given, writes `OUT.pub` (minisign format for Ed25519, PEM for ML-DSA-87).
pub fn keygen_token(
    uri: &str,
    pin_file: Option<&Path>,
    alg: SigAlg,
    out: Option<&Path>,
    force: bool,
) -> Result<(crate::trust::pkcs11::TokenPublic, Option<PathBuf>)> {
    let public_path = out.map(|p| with_suffix(p, ".pub"));
    if let Some(p) = &public_path
        && !force
        && std::fs::symlink_metadata(p).is_ok()
    {
        return Err(already_exists(p));
    }
    let public = crate::trust::pkcs11::signer::generate(uri, pin_file, alg)?;
    if let Some(p) = &public_path {
        write_new(p, public.public_file.as_bytes(), 0o644, force)?;
    }
    Ok((public, public_path))
}

/// `airlock keygen --token URI --export-pub`: the public half of the token key the URI names,
/// and, when `out` is given, `OUT.pub` written with it.
pub fn export_token_public(
    uri: &str,
    pin_file: Option<&Path>,
    out: Option<&Path>,
    force: bool,
) -> Result<(crate::trust::pkcs11::TokenPublic, Option<PathBuf>)> {
    let public_path = out.map(|p| with_suffix(p, ".pub"));
    if let Some(p) = &public_path
        && !force
        && std::fs::symlink_metadata(p).is_ok()
    {
        return Err(already_exists(p));
    }
    let public = crate::trust::pkcs11::signer::export(uri, pin_file)?;
    if let Some(p) = &public_path {
        write_new(p, public.public_file.as_bytes(), 0o644, force)?;
    }
    Ok((public, public_path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

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
