//! airlock's use of a token key: [`TokenSigner`] opens the token once per invocation (one login),
//! finds the one key the URI names — Ed25519 or ML-DSA, told apart by the key object's type — and
//! signs with it behind `trust::keys::Signer::Token`, so `pack`, `sign`, `sign-policy` and
//! `trust sign` treat it like a key file. [`generate`] and [`export`] are `keygen --token` and
//! `keygen --token --export-pub`.
//!
//! Exit codes of token failures (`docs/security.md`, "Key custody"): everything the operator fixes
//! by changing the command — a URI that does not parse, a module path that does not load, no such
//! token or key, a wrong, locked or expired PIN, a token that lacks a mechanism (ML-DSA on
//! SoftHSM2) — is a configuration error, exit 2; a token that goes away or fails during the
//! operation (removed, session lost, CKR_DEVICE_ERROR, any other return code) is exit 3.
use super::pin::{PinError, resolve_pin};
use super::token::{
    KeyAlgorithm, KeyRef, MlDsaKeyRef, MlDsaParameterSet, TokenError, TokenSession,
};
use super::uri::{TokenUri, UriError};
use crate::error::{Error, Result};
use crate::format::signature::{MlDsaFile, SigAlg, key_id, mldsa_key_id};
use crate::trust::minisig::{self, SignError};
use crate::trust::mldsa;
use std::ffi::OsStr;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

/// Whether a `--key` argument is a PKCS#11 URI rather than a file: it starts with `pkcs11:`
/// (RFC 7512 matches the scheme case-insensitively). A key file of that name is written
/// `./pkcs11:...`.
pub fn is_token_uri(arg: &OsStr) -> bool {
    arg.as_encoded_bytes()
        .get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"pkcs11:"))
}

const URI_HINT: &str = "write the key as pkcs11:token=LABEL;object=KEY?module-path=/ABSOLUTE/PATH/module.so&pin-source=file:/ABSOLUTE/PATH/pin (RFC 7512; `airlock pack --help`), and quote it in the shell";

fn parse(text: &str) -> Result<TokenUri> {
    TokenUri::parse(text).map_err(|e: UriError| {
        // The text itself may hold a refused pin-value: it is never echoed.
        Error::config("--key pkcs11:...", e.to_string(), URI_HINT)
    })
}

/// A token failure as an airlock error: exit 2 for what the operator fixes in the command or the
/// token's configuration, exit 3 for a token that failed or went away mid-way.
pub fn token_error(uri: &str, e: TokenError) -> Error {
    let hint = e.hint();
    match &e {
        TokenError::TokenGone { .. } | TokenError::Pkcs11 { .. } | TokenError::Internal { .. } => {
            Error::Device {
                detail: format!("PKCS#11 key {uri}: {e}"),
                hint: hint.to_string(),
            }
        }
        TokenError::MechanismUnsupported { mechanism, .. } if mechanism.contains("ML_DSA") => {
            Error::config(
                uri,
                format!(
                    "{e}: ML-DSA-87 on a token needs PKCS#11 3.2's {mechanism}, which this token does not offer"
                ),
                "keep the ML-DSA-87 key in a file (`airlock keygen --alg ml-dsa-87`) or on a token that lists CKM_ML_DSA (pkcs11-tool --module MODULE --list-mechanisms); an Ed25519 key on this token still works",
            )
        }
        _ => Error::config(uri, e.to_string(), hint),
    }
}

fn pin_error(e: PinError) -> Error {
    let file = match &e {
        PinError::Read { path, .. }
        | PinError::NotAFile { path }
        | PinError::Permissions { path, .. }
        | PinError::TooLarge { path }
        | PinError::NotOneLine { path } => path.display().to_string(),
        PinError::Conflict { pin_file, .. } => pin_file.display().to_string(),
        _ => "PIN".to_string(),
    };
    Error::config(file, e.to_string(), e.hint())
}

/// Opens a logged-in session on the token `uri` names: the PIN from `pin_file`, else the URI's
/// `pin-source`, else a no-echo prompt when standard input is a terminal. Exactly one `C_Login`.
fn open_session(uri: &TokenUri, pin_file: Option<&Path>) -> Result<TokenSession> {
    let pin = resolve_pin(uri, pin_file, std::io::stdin().is_terminal()).map_err(pin_error)?;
    TokenSession::open(uri, &pin).map_err(|e| token_error(&uri.without_pin().to_string(), e))
}

enum KeyKind {
    Ed25519 {
        key: KeyRef,
        keynum: [u8; 8],
        public: [u8; 32],
    },
    MlDsa87 {
        key: MlDsaKeyRef,
        spki_der: Vec<u8>,
    },
}

/// A key on a PKCS#11 token, with the logged-in session it signs through. The session is behind
/// a mutex because a PKCS#11 session must not be used by two threads at once.
pub struct TokenSigner {
    session: Mutex<TokenSession>,
    key: KeyKind,
    /// The key id: the minisign key id of the Ed25519 key (first 8 bytes of SHA-256 of the
    /// public key), or the ML-DSA-87 key id (first 8 bytes of SHA-384 of its SPKI DER).
    pub id: String,
    /// The key's URI without PIN information, for messages.
    pub uri: String,
}

/// The public half of a token key, as `keygen --token` prints and writes it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenPublic {
    /// A URI naming the key (token label and serial, key label and id), without PIN information.
    pub uri: String,
    /// Key id.
    pub key_id: String,
    /// Algorithm.
    pub algorithm: SigAlg,
    /// The `.pub` file's text: minisign format (Ed25519) or PEM SubjectPublicKeyInfo (ML-DSA-87).
    pub public_file: String,
    /// The trust-file line: minisign's base64 line, or `ml-dsa-87:` + base64 of the SPKI DER.
    pub public_key: String,
}

fn ed25519_public(uri: String, keynum: &[u8; 8], pk: &[u8; 32]) -> TokenPublic {
    TokenPublic {
        uri,
        key_id: key_id(keynum),
        algorithm: SigAlg::Ed25519,
        public_file: minisig::public_key_file(keynum, pk, None),
        public_key: minisig::public_key_line(keynum, pk),
    }
}

fn ml_dsa_public(shown: &str, uri: String, raw: &[u8]) -> Result<(TokenPublic, Vec<u8>)> {
    let spki_der = mldsa::spki_from_raw(raw).map_err(|e| {
        Error::config(
            shown,
            format!("the token's ML-DSA-87 public key is unusable: {e}"),
            "check the key on the token",
        )
    })?;
    let pem = pem_rfc7468::encode_string("PUBLIC KEY", pem_rfc7468::LineEnding::LF, &spki_der)
        .map_err(|e| Error::Internal(format!("PEM encoding: {e}")))?;
    Ok((
        TokenPublic {
            uri,
            key_id: mldsa_key_id(&spki_der),
            algorithm: SigAlg::MlDsa87,
            public_file: pem,
            public_key: mldsa::trust_line(&spki_der),
        },
        spki_der,
    ))
}

fn require_87(shown: &str, set: MlDsaParameterSet) -> Result<()> {
    if set == MlDsaParameterSet::MlDsa87 {
        return Ok(());
    }
    Err(Error::config(
        shown,
        format!("the key is {set:?}; airlock signs with ML-DSA-87 only (CNSA 2.0)"),
        "generate an ML-DSA-87 key on the token (`airlock keygen --token URI --alg ml-dsa-87`)",
    ))
}

impl TokenSigner {
    /// Opens the token the URI names and finds its key (Ed25519 or ML-DSA-87).
    pub fn open(text: &str, pin_file: Option<&Path>) -> Result<TokenSigner> {
        let uri = parse(text)?;
        let shown = uri.without_pin().to_string();
        let err = |e| token_error(&shown, e);
        let session = open_session(&uri, pin_file)?;
        let (key, id) = match session.key_algorithm(&uri).map_err(err)? {
            KeyAlgorithm::Ed25519 => {
                let key = session.find_ed25519(&uri).map_err(err)?;
                let (keynum, public) = (key.keynum(), key.public_key());
                (
                    KeyKind::Ed25519 {
                        key: key.to_ref(),
                        keynum,
                        public,
                    },
                    key_id(&keynum),
                )
            }
            KeyAlgorithm::MlDsa => {
                let key = session.find_ml_dsa(&uri).map_err(err)?;
                require_87(&shown, key.parameter_set())?;
                let (public, spki_der) = ml_dsa_public(&shown, shown.clone(), key.public_key())?;
                (
                    KeyKind::MlDsa87 {
                        key: key.to_ref(),
                        spki_der,
                    },
                    public.key_id,
                )
            }
        };
        Ok(TokenSigner {
            session: Mutex::new(session),
            key,
            id,
            uri: shown,
        })
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> SigAlg {
        match self.key {
            KeyKind::Ed25519 { .. } => SigAlg::Ed25519,
            KeyKind::MlDsa87 { .. } => SigAlg::MlDsa87,
        }
    }

    fn session(&self) -> std::sync::MutexGuard<'_, TokenSession> {
        // A poisoned lock only means another signature panicked; the session itself is intact.
        self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A prehashed minisign signature file over `message` made on the token (two C_Sign calls),
    /// checked against the key's public half before it is returned.
    pub fn sign_minisign(&self, message: &[u8], trusted: &str, untrusted: &str) -> Result<String> {
        let KeyKind::Ed25519 { key, keynum, .. } = &self.key else {
            return Err(Error::Internal(format!(
                "{} is an ML-DSA-87 key, asked for a minisign signature",
                self.uri
            )));
        };
        let session = self.session();
        let bound = key.bind(&session);
        minisig::sign_prehashed(&bound, keynum, message, trusted, untrusted).map_err(|e| match e {
            SignError::Signer(t) => token_error(&self.uri, t),
            other => {
                let hint = other.hint();
                Error::Device {
                    detail: format!("signing with {}: {other}", self.uri),
                    hint: hint.to_string(),
                }
            }
        })
    }

    /// An `.mldsa87` signature file over `statement` (pure ML-DSA-87, empty context) made on the
    /// token, verified under the key's public half before it is returned.
    pub fn sign_statement(&self, statement: &str) -> Result<String> {
        let KeyKind::MlDsa87 { key, spki_der } = &self.key else {
            return Err(Error::Internal(format!(
                "{} is an Ed25519 key, asked for an ML-DSA-87 signature",
                self.uri
            )));
        };
        let message = format!("{statement}\n");
        let session = self.session();
        let signature = key
            .bind(&session)
            .sign(message.as_bytes(), None)
            .map_err(|e| token_error(&self.uri, e))?;
        let file = MlDsaFile::render(statement, &signature);
        MlDsaFile::parse(file.as_bytes())
            .and_then(|f| f.verify(spki_der))
            .map_err(|e| Error::Device {
                detail: format!(
                    "the ML-DSA-87 signature {} made does not verify under its public key: {e}",
                    self.uri
                ),
                hint: "check that the token's public-key object belongs to its private key; no signature was written".into(),
            })?;
        Ok(file)
    }

    /// The public half, as `keygen --token --export-pub` prints it.
    pub fn public(&self) -> Result<TokenPublic> {
        match &self.key {
            KeyKind::Ed25519 { keynum, public, .. } => {
                Ok(ed25519_public(self.uri.clone(), keynum, public))
            }
            KeyKind::MlDsa87 { spki_der, .. } => ml_dsa_public(
                &self.uri,
                self.uri.clone(),
                &mldsa::raw_public_key(spki_der),
            )
            .map(|(p, _)| p),
        }
    }
}

/// `airlock keygen --token URI`: generates a key pair of `alg` on the token, labelled with the
/// URI's `object=` (and, for Ed25519, with its `id=` if given, else the key number), and returns
/// its public half. The secret key is generated on the token, sensitive and never extractable;
/// a label that is already taken is refused (airlock never deletes a key on a token).
pub fn generate(text: &str, pin_file: Option<&Path>, alg: SigAlg) -> Result<TokenPublic> {
    let uri = parse(text)?;
    let shown = uri.without_pin().to_string();
    let Some(label) = uri.object.clone() else {
        return Err(Error::config(
            &shown,
            "the URI names no object= label for the new key",
            "add ;object=LABEL to the URI: the key pair is created with that label",
        ));
    };
    let session = open_session(&uri, pin_file)?;
    let err = |e| token_error(&shown, e);
    match alg {
        SigAlg::Ed25519 => {
            let key = session
                .generate_ed25519(&label, uri.id.as_deref(), super::token::IfExists::Refuse)
                .map_err(err)?;
            Ok(ed25519_public(
                key.uri().to_string(),
                &key.keynum(),
                &key.public_key(),
            ))
        }
        SigAlg::MlDsa87 => {
            let key = session.generate_ml_dsa_87(&label).map_err(err)?;
            ml_dsa_public(&shown, key.uri().to_string(), key.public_key()).map(|(p, _)| p)
        }
    }
}

/// `airlock keygen --token URI --export-pub`: the public half of the key the URI names.
pub fn export(text: &str, pin_file: Option<&Path>) -> Result<TokenPublic> {
    TokenSigner::open(text, pin_file)?.public()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_uris_are_told_from_files() {
        assert!(is_token_uri(OsStr::new("pkcs11:token=a")));
        assert!(is_token_uri(OsStr::new("PKCS11:token=a")));
        assert!(!is_token_uri(OsStr::new("./pkcs11:token=a")));
        assert!(!is_token_uri(OsStr::new("release.key")));
        assert!(!is_token_uri(OsStr::new("pkcs1")));
    }

    #[test]
    fn errors_map_to_exit_codes() {
        let gone = token_error(
            "pkcs11:token=t",
            TokenError::TokenGone {
                detail: "C_Sign returned CKR_DEVICE_REMOVED".into(),
            },
        );
        assert_eq!(gone.exit_code(), 3);
        let pin = token_error(
            "pkcs11:token=t",
            TokenError::PinIncorrect {
                token: "t".into(),
                status: None,
            },
        );
        assert_eq!(pin.exit_code(), 2);
        assert!(pin.hint().contains("never retries"), "{}", pin.hint());
        let mech = token_error(
            "pkcs11:token=t",
            TokenError::MechanismUnsupported {
                token: "t".into(),
                mechanism: "CKM_ML_DSA",
            },
        );
        assert_eq!(mech.exit_code(), 2);
        assert!(mech.to_string().contains("PKCS#11 3.2"), "{mech}");
        let e = parse("pkcs11:token=t?module-path=/x.so&pin-value=123456").unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(!e.to_string().contains("123456"), "{e}");
    }
}
