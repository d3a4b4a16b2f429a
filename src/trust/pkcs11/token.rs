//! Ed25519 (and, where a token offers it, ML-DSA) signing with keys on PKCS#11 tokens, through
//! `cryptoki`.
//!
//! [`TokenSession::open`] loads the URI's module, finds exactly one token matching the URI's
//! token attributes, opens a read-only session and logs in **once**. [`TokenSession::find_ed25519`]
//! and [`TokenSession::generate_ed25519`] give a [`TokenKey`], which signs with CKM_EDDSA (pure
//! Ed25519) and implements [`Ed25519Signer`], so [`crate::trust::minisig::sign_prehashed`] turns its
//! signatures into ordinary minisign files.
//!
//! Process-wide facts that shape this module:
//!
//! * **One `Pkcs11` context per module per process.** A second `C_Initialize` of a loaded module
//!   fails with CKR_CRYPTOKI_ALREADY_INITIALIZED, so loaded modules live in a process-wide cache
//!   keyed by the canonical module path (a symlink and its target are one module). Modules are
//!   never finalised: `C_Finalize` would invalidate every other session in the process, and a
//!   CLI process simply exits.
//! * **Login state is per process and token**, not per session. A second `TokenSession` on a
//!   token while another one is open is already logged in: it sends no PIN at all (its own PIN
//!   is not checked), and CKR_USER_ALREADY_LOGGED_IN is accepted. When the last session of the
//!   process on the token closes, the token logs out, and the next open logs in again.
//! * **A module reads its configuration at `C_Initialize`.** SoftHSM2 reads `SOFTHSM2_CONF`
//!   then, so the variable must be set before the first [`TokenSession::open`] of the process;
//!   see `tests/it/support/softhsm.rs` for how tests arrange that without mutating their own environment.
//! * **A module that lost its token may stay broken until the process exits** (observed with
//!   SoftHSM2 2.6.1: after the token directory vanished, restoring it did not help). Such
//!   failures are reported as [`TokenError::TokenGone`] and the hint is to start a new process.
//!
//! PINs: at most one `C_Login` per [`TokenSession::open`]. A wrong PIN is reported as
//! [`TokenError::PinIncorrect`] and never retried, because each wrong PIN uses up one of a smart
//! card's tries (often three) and a locked card needs the SO PIN to recover. SoftHSM2 never locks,
//! which hides retry bugs; [`login_attempts`] counts the `C_Login` calls made, for tests.
//!
//! ML-DSA: [`TokenSession::supports_ml_dsa`] asks the token for CKM_ML_DSA (0x1d, PKCS#11 3.2
//! `pkcs11t.h`; cryptoki 0.12 defines it) with `C_GetMechanismInfo`, because cryptoki's
//! `get_mechanism_list` silently drops mechanism numbers it does not know. [`MlDsaKey::sign`]
//! exists and is written to PKCS#11 3.2 (CKK_ML_DSA, CKA_PARAMETER_SET, CKA_VALUE, pure ML-DSA
//! with an optional context), but no token available here implements ML-DSA, so only the path up
//! to [`TokenError::MechanismUnsupported`] is exercised by tests.
use super::pin::Pin;
use super::uri::{ObjectType, TokenUri};
use crate::trust::minisig::{Ed25519Signer, key_id_for};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::dsa::{HedgeType, SignAdditionalContext};
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{
    Attribute, AttributeType, KeyType, MlDsaParameterSetType, ObjectClass, ObjectHandle,
};
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki::slot::{Slot, TokenInfo};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

/// DER of the OID id-Ed25519, 1.3.101.112 (RFC 8410): the CKA_EC_PARAMS keys are generated with.
pub const EC_PARAMS_ED25519_OID: &[u8] = &[0x06, 0x03, 0x2B, 0x65, 0x70];
/// DER PrintableString "edwards25519": the PKCS#11 3.0 curve-name form (pkcs11-tool uses it).
pub const EC_PARAMS_ED25519_NAME: &[u8] = b"\x13\x0cedwards25519";
/// DER of GnuPG's older Ed25519 OID 1.3.6.1.4.1.11591.15.1, seen on some older tokens.
const EC_PARAMS_ED25519_GNU_OID: &[u8] = &[
    0x06, 0x09, 0x2B, 0x06, 0x01, 0x04, 0x01, 0xDA, 0x47, 0x0F, 0x01,
];
const EC_PARAMS_ED448_OID: &[u8] = &[0x06, 0x03, 0x2B, 0x65, 0x71];
const EC_PARAMS_ED448_NAME: &[u8] = b"\x13\x0aedwards448";
/// The fixed 12-byte prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410), for CKA_PUBLIC_KEY_INFO.
const ED25519_SPKI_PREFIX: &[u8] = &[
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// A PKCS#11 failure, described so that a user can act on it. See [`TokenError::hint`].
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The module could not be loaded or initialised: the path does not exist, is not a shared
    /// library, is not a PKCS#11 module, or `C_Initialize` failed.
    #[error("cannot load the PKCS#11 module {}: {detail}", path.display())]
    ModuleLoad {
        /// The module path from the URI.
        path: PathBuf,
        /// What failed.
        detail: String,
    },
    /// No initialised token matches the URI's token attributes.
    #[error(
        "no token matches {uri}; {}",
        list("tokens present", seen, "the module reports no initialized token")
    )]
    TokenNotFound {
        /// The URI's token part, without PIN information.
        uri: String,
        /// Every token the module reported, described.
        seen: Vec<String>,
    },
    /// Several tokens match.
    #[error("{} tokens match {uri}: {}", matches.len(), matches.join("; "))]
    TokenAmbiguous {
        /// The URI's token part.
        uri: String,
        /// The matching tokens, described.
        matches: Vec<String>,
    },
    /// The URI does not name a key (no `object=` and no `id=`).
    #[error("{uri} does not say which key to use")]
    KeyNotNamed {
        /// The URI.
        uri: String,
    },
    /// No key matches the URI's object attributes.
    #[error(
        "no {what} matches {uri}; {}",
        list("keys on the token", seen, "the token holds no such key")
    )]
    ObjectNotFound {
        /// The URI, without PIN information.
        uri: String,
        /// What was looked for, e.g. "Ed25519 private key".
        what: &'static str,
        /// The keys of that kind that are on the token, described.
        seen: Vec<String>,
    },
    /// Several keys match.
    #[error("{} keys match {uri}: {}", matches.len(), matches.join("; "))]
    KeyAmbiguous {
        /// The URI.
        uri: String,
        /// The matching keys, described.
        matches: Vec<String>,
    },
    /// Key generation refused because objects with the label (or id) exist.
    #[error("token {token} already holds {}: refusing to create another key labelled {label:?}", found.join("; "))]
    ObjectExists {
        /// The token.
        token: String,
        /// The requested label.
        label: String,
        /// The existing objects, described.
        found: Vec<String>,
    },
    /// A key was found but cannot be used to sign here.
    #[error("the key {uri} cannot be used: {reason}")]
    KeyUnusable {
        /// The URI.
        uri: String,
        /// Why not.
        reason: String,
    },
    /// CKR_PIN_INCORRECT. Not retried.
    #[error("token {token} refused the PIN (CKR_PIN_INCORRECT); it was not retried{}", status.map(|s| format!("; the token now reports {s}")).unwrap_or_default())]
    PinIncorrect {
        /// The token.
        token: String,
        /// What the token's flags said afterwards, if anything notable.
        status: Option<&'static str>,
    },
    /// CKR_PIN_LOCKED, or the token reports its user PIN as locked.
    #[error("the user PIN of token {token} is locked")]
    PinLocked {
        /// The token.
        token: String,
    },
    /// CKR_PIN_EXPIRED, or the token requires the user PIN to be changed.
    #[error("the user PIN of token {token} has expired and must be changed")]
    PinExpired {
        /// The token.
        token: String,
    },
    /// CKR_PIN_LEN_RANGE / CKR_PIN_INVALID: the token refused the PIN's form without checking it.
    #[error(
        "token {token} refused the PIN's length or characters (it accepts {min}..={max} characters)"
    )]
    PinFormat {
        /// The token.
        token: String,
        /// Shortest PIN the token accepts.
        min: usize,
        /// Longest PIN the token accepts.
        max: usize,
    },
    /// [`Pin::ProtectedAuthenticationPath`] on a token without a PIN pad.
    #[error("token {token} has no protected authentication path (PIN pad)")]
    NoPinPad {
        /// The token.
        token: String,
    },
    /// The token does not implement a mechanism the operation needs.
    #[error("token {token} does not support {mechanism}")]
    MechanismUnsupported {
        /// The token.
        token: String,
        /// The mechanism's PKCS#11 name, e.g. "CKM_ML_DSA".
        mechanism: &'static str,
    },
    /// The token disappeared or failed mid-way: removed, device error, session or object handle
    /// no longer valid.
    #[error("the token went away during the operation: {detail}")]
    TokenGone {
        /// Which call failed and how.
        detail: String,
    },
    /// Any other PKCS#11 return code.
    #[error("PKCS#11 {function} failed: {}", ckr_name(*rv))]
    Pkcs11 {
        /// The C function, e.g. "C_Sign".
        function: String,
        /// The return value.
        rv: RvError,
    },
    /// A failure inside cryptoki that is not a PKCS#11 return code.
    #[error("{context}: {detail}")]
    Internal {
        /// What was being done.
        context: &'static str,
        /// The error.
        detail: String,
    },
}

fn list(what: &str, items: &[String], none: &str) -> String {
    if items.is_empty() {
        none.to_owned()
    } else {
        format!("{what}: {}", items.join("; "))
    }
}

impl TokenError {
    /// What the user should do next, in one sentence.
    pub fn hint(&self) -> &'static str {
        match self {
            TokenError::ModuleLoad { .. } => {
                "check module-path: it must be the token vendor's PKCS#11 library for this machine \
                 (for SoftHSM2 on Debian /usr/lib/softhsm/libsofthsm2.so, with SOFTHSM2_CONF naming \
                 a readable config whose directories.tokendir exists)"
            }
            TokenError::TokenNotFound { .. } => {
                "plug the token in, or change token=/serial= in the URI to one of the tokens listed \
                 (pkcs11-tool --module MODULE --list-token-slots lists them)"
            }
            TokenError::TokenAmbiguous { .. } => {
                "add serial= (or model=, manufacturer=) to the URI so that it names one token"
            }
            TokenError::KeyNotNamed { .. } => "add object=LABEL and/or id=%XX... to the URI",
            TokenError::ObjectNotFound { .. } => {
                "check object=/id= in the URI against the keys listed (pkcs11-tool --module MODULE \
                 --login --list-objects), or generate the key first"
            }
            TokenError::KeyAmbiguous { .. } => {
                "add id=%XX... (as listed) to the URI so that it names one key"
            }
            TokenError::ObjectExists { .. } => {
                "choose another label, or explicitly ask for the existing key pair to be replaced \
                 (that destroys it: signatures made with it can no longer be renewed)"
            }
            TokenError::KeyUnusable { .. } => {
                "use an Ed25519 key made for signing (CKA_SIGN true, no per-signature PIN), or \
                 generate one"
            }
            TokenError::PinIncorrect { .. } => {
                "check the PIN and run again; airlock never retries, because each wrong PIN uses \
                 up one of the token's tries and a locked token needs the SO PIN to unlock"
            }
            TokenError::PinLocked { .. } => {
                "unblock the user PIN with the SO PIN (PUK) using the token vendor's tool, for \
                 example pkcs11-tool --unlock-pin, then run again"
            }
            TokenError::PinExpired { .. } => {
                "change the user PIN with the token vendor's tool (for example pkcs11-tool \
                 --change-pin), then run again"
            }
            TokenError::PinFormat { .. } => {
                "check that the PIN source holds only the PIN (no extra characters or lines)"
            }
            TokenError::NoPinPad { .. } => "give the PIN in a file or type it at the prompt",
            TokenError::MechanismUnsupported { .. } => {
                "use a token that lists the mechanism (pkcs11-tool --module MODULE \
                 --list-mechanisms), or a different algorithm"
            }
            TokenError::TokenGone { .. } => {
                "reconnect the token and run again as a new process: a module that lost its token \
                 may stay unusable until the process exits; no partial signature was written"
            }
            TokenError::Pkcs11 { rv, .. } => match rv {
                RvError::SessionReadOnly | RvError::TokenWriteProtected => {
                    "the token is write-protected; key generation needs a writable token"
                }
                RvError::UserPinNotInitialized => {
                    "initialise the user PIN first (pkcs11-tool --init-pin with the SO PIN)"
                }
                RvError::GeneralError => {
                    "the module gave no detail; SoftHSM2 logs to syslog (journalctl -t softhsm2), \
                     other modules have their own debug logs"
                }
                _ => "look the return code up in the token vendor's documentation",
            },
            TokenError::Internal { .. } => {
                "this is unexpected; report it with the message above and the module used"
            }
        }
    }
}

/// `RvError::PinIncorrect` -> "CKR_PIN_INCORRECT": cryptoki's Display is a paragraph of spec
/// text, its Debug the CamelCase variant, neither of which is what users can look up.
pub fn ckr_name(rv: RvError) -> String {
    match rv {
        RvError::VendorDefined(v) => format!("vendor-defined return code 0x{v:08x}"),
        RvError::UnknownErrorCode(v) => format!("unknown return code 0x{v:08x}"),
        other => {
            let camel = format!("{other:?}");
            let mut s = String::from("CKR");
            for c in camel.chars() {
                if c.is_ascii_uppercase() {
                    s.push('_');
                }
                s.push(c.to_ascii_uppercase());
            }
            s
        }
    }
}

/// Maps a cryptoki error from `context` (the C function for messages) to a [`TokenError`].
fn ck(context: &'static str, e: CkError) -> TokenError {
    match e {
        CkError::Pkcs11(rv, function) => {
            let function = format!("C_{function:?}");
            match rv {
                RvError::DeviceRemoved
                | RvError::TokenNotPresent
                | RvError::DeviceError
                | RvError::TokenNotRecognized
                | RvError::SessionClosed
                | RvError::SessionHandleInvalid => TokenError::TokenGone {
                    detail: format!("{function} returned {}", ckr_name(rv)),
                },
                // Handles are only ever used after they were found valid in this session.
                RvError::ObjectHandleInvalid | RvError::KeyHandleInvalid => TokenError::TokenGone {
                    detail: format!(
                        "{function} returned {}: the key vanished (token removed, or the key \
                             deleted by another program)",
                        ckr_name(rv)
                    ),
                },
                _ => TokenError::Pkcs11 { function, rv },
            }
        }
        other => TokenError::Internal {
            context,
            detail: other.to_string(),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Module cache
// ---------------------------------------------------------------------------------------------

fn modules() -> &'static Mutex<HashMap<PathBuf, Pkcs11>> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    MODULES.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Loads and initialises `path` once per process, returning the shared context.
fn load_module(path: &Path) -> Result<Pkcs11, TokenError> {
    let fail = |detail: String| TokenError::ModuleLoad {
        path: path.to_owned(),
        detail,
    };
    let canonical = std::fs::canonicalize(path).map_err(|e| fail(e.to_string()))?;
    if !canonical.is_file() {
        return Err(fail("it is not a file".into()));
    }
    // The lock is held across load + C_Initialize so two threads never initialise one module.
    // A poisoned map is still consistent: entries are inserted only after success.
    let mut map = modules().lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(ctx) = map.get(&canonical) {
        return Ok(ctx.clone());
    }
    let ctx = Pkcs11::new(&canonical).map_err(|e| match e {
        CkError::LibraryLoading(le) => fail(format!("the dynamic loader says: {le}")),
        CkError::MissingSymbol(sym) => fail(format!(
            "it is a shared library but not a PKCS#11 module (it has no {sym})"
        )),
        CkError::Pkcs11(rv, f) => fail(format!("C_{f:?} returned {}", ckr_name(rv))),
        other => fail(other.to_string()),
    })?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        // Already initialised by other code in this process (we never initialise twice): it is
        // usable, and since we did not initialise it we must not finalise it either.
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(CkError::Pkcs11(rv, _)) => {
            return Err(fail(format!(
                "C_Initialize returned {}{}",
                ckr_name(rv),
                if rv == RvError::GeneralError {
                    " (SoftHSM2 does this when SOFTHSM2_CONF names a missing or unreadable file, \
                     or its directories.tokendir does not exist)"
                } else {
                    ""
                }
            )));
        }
        Err(other) => return Err(fail(format!("C_Initialize: {other}"))),
    }
    map.insert(canonical, ctx.clone());
    Ok(ctx)
}

static LOGIN_ATTEMPTS: AtomicU64 = AtomicU64::new(0);

/// How many times this process called `C_Login` through p11mod. Tests use it to show that a
/// wrong PIN costs exactly one try.
pub fn login_attempts() -> u64 {
    LOGIN_ATTEMPTS.load(Ordering::SeqCst)
}

// ---------------------------------------------------------------------------------------------
// Descriptions for messages
// ---------------------------------------------------------------------------------------------

fn describe_token(slot: Slot, info: &TokenInfo) -> String {
    format!(
        "{:?} ({} {}, serial {:?}, slot {})",
        info.label(),
        info.manufacturer_id(),
        info.model(),
        info.serial_number(),
        slot.id()
    )
}

fn hex_id(id: &[u8]) -> String {
    id.iter().map(|b| format!("%{b:02X}")).collect()
}

fn describe_object(label: Option<&[u8]>, id: Option<&[u8]>, class: &str) -> String {
    let label = match label {
        Some(l) => format!("{:?}", String::from_utf8_lossy(l)),
        None => "(no label)".into(),
    };
    match id {
        Some(id) if !id.is_empty() => format!("{class} {label} id={}", hex_id(id)),
        _ => format!("{class} {label} (no id)"),
    }
}

/// CKA_EC_POINT for Ed25519 is the raw 32-byte point (PKCS#11 3.0 wording) or a DER OCTET
/// STRING around it, `04 20 || point` (what 2.40-era modules, SoftHSM2 included, return).
pub fn decode_ec_point(raw: &[u8]) -> Option<[u8; 32]> {
    let point = match raw {
        [0x04, 0x20, rest @ ..] if rest.len() == 32 => rest,
        _ if raw.len() == 32 => raw,
        _ => return None,
    };
    point.try_into().ok()
}

fn decode_spki(raw: &[u8]) -> Option<[u8; 32]> {
    raw.strip_prefix(ED25519_SPKI_PREFIX)?.try_into().ok()
}

fn ec_params_kind(p: &[u8]) -> &'static str {
    if p == EC_PARAMS_ED25519_OID || p == EC_PARAMS_ED25519_NAME || p == EC_PARAMS_ED25519_GNU_OID {
        "ed25519"
    } else if p == EC_PARAMS_ED448_OID || p == EC_PARAMS_ED448_NAME {
        "ed448"
    } else {
        "other"
    }
}

// ---------------------------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------------------------

/// What to do when [`TokenSession::generate_ed25519`] finds objects with the requested label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfExists {
    /// Refuse with [`TokenError::ObjectExists`] (the default, and what airlock should use unless
    /// the operator explicitly asked for replacement).
    Refuse,
    /// Generate the new pair, then destroy the old Ed25519 key objects with that label. Objects
    /// of other kinds with the label (certificates, data) still cause a refusal. The new pair is
    /// made first, so a failed generation destroys nothing.
    Replace,
}

/// The kind of signing key a URI names on a token ([`TokenSession::key_algorithm`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// CKK_EC_EDWARDS (Ed25519), signed with CKM_EDDSA.
    Ed25519,
    /// CKK_ML_DSA (PKCS#11 3.2), signed with CKM_ML_DSA.
    MlDsa,
}

/// An open, logged-in, read-only session on one token.
///
/// `Send` but not `Sync` (a PKCS#11 session must not be used by two threads at once).
pub struct TokenSession {
    pkcs11: Pkcs11,
    slot: Slot,
    session: Session,
    /// `"label" (manufacturer model, serial "...", slot N)`, for messages.
    token: String,
    label: String,
    serial: String,
    module_path: PathBuf,
}

impl std::fmt::Debug for TokenSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSession")
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

impl TokenSession {
    /// Loads the URI's module (once per process), finds the one token the URI's token
    /// attributes match, opens a read-only session and logs in as the user with `pin`, once.
    pub fn open(uri: &TokenUri, pin: &Pin) -> Result<TokenSession, TokenError> {
        let pkcs11 = load_module(&uri.module_path)?;
        let (slot, info) = find_token(&pkcs11, uri)?;
        let token = describe_token(slot, &info);
        let label = info.label().to_owned();
        let serial = info.serial_number().to_owned();
        let session = pkcs11
            .open_ro_session(slot)
            .map_err(|e| ck("C_OpenSession", e))?;
        login(&pkcs11, slot, &session, &info, pin, &token)?;
        Ok(TokenSession {
            pkcs11,
            slot,
            session,
            token,
            label,
            serial,
            module_path: uri.module_path.clone(),
        })
    }

    /// The token's label.
    pub fn token_label(&self) -> &str {
        &self.label
    }

    /// The token described for messages: label, manufacturer, model, serial and slot.
    pub fn token_description(&self) -> &str {
        &self.token
    }

    /// Whether the token implements `mechanism` with the sign capability. Asks
    /// `C_GetMechanismInfo` directly: a missing entry in cryptoki's mechanism list proves
    /// nothing, because cryptoki drops mechanism numbers it does not know.
    fn can_sign_with(&self, mechanism: MechanismType) -> Result<bool, TokenError> {
        self.mechanism_flag(mechanism, |i| i.sign())
    }

    fn mechanism_flag(
        &self,
        mechanism: MechanismType,
        flag: impl Fn(&cryptoki::mechanism::MechanismInfo) -> bool,
    ) -> Result<bool, TokenError> {
        match self.pkcs11.get_mechanism_info(self.slot, mechanism) {
            Ok(info) => Ok(flag(&info)),
            Err(CkError::Pkcs11(RvError::MechanismInvalid, _)) => Ok(false),
            Err(e) => Err(ck("C_GetMechanismInfo", e)),
        }
    }

    fn unsupported(&self, mechanism: &'static str) -> TokenError {
        TokenError::MechanismUnsupported {
            token: self.token.clone(),
            mechanism,
        }
    }

    /// Finds the Ed25519 private key the URI's `object=`/`id=` name (exactly one) and its public
    /// key: from the matching public-key object, else (matched by the private key's CKA_ID) a
    /// public-key object with the same id, else the private key's own CKA_EC_POINT or
    /// CKA_PUBLIC_KEY_INFO.
    pub fn find_ed25519(&self, uri: &TokenUri) -> Result<TokenKey<'_>, TokenError> {
        let shown = uri.without_pin().to_string();
        if uri.object.is_none() && uri.id.is_none() {
            return Err(TokenError::KeyNotNamed { uri: shown });
        }
        match uri.object_type {
            None | Some(ObjectType::Private) | Some(ObjectType::Public) => {}
            Some(other) => {
                return Err(TokenError::KeyUnusable {
                    uri: shown,
                    reason: format!(
                        "type={} does not name a key pair; use type=private or leave type out",
                        other.as_str()
                    ),
                });
            }
        }
        if !self.can_sign_with(MechanismType::EDDSA)? {
            return Err(self.unsupported("CKM_EDDSA"));
        }
        let private = self.find_one(
            ObjectClass::PRIVATE_KEY,
            KeyType::EC_EDWARDS,
            uri,
            &shown,
            "Ed25519 private key",
        )?;
        let attrs = self.attributes(
            private,
            &[
                AttributeType::Sign,
                AttributeType::AlwaysAuthenticate,
                AttributeType::EcParams,
                AttributeType::Id,
                AttributeType::Label,
                AttributeType::EcPoint,
                AttributeType::PublicKeyInfo,
            ],
        )?;
        let mut id = Vec::new();
        let mut label = None;
        let mut own_point = None;
        for a in attrs {
            match a {
                Attribute::Sign(false) => {
                    return Err(TokenError::KeyUnusable {
                        uri: shown,
                        reason: "its CKA_SIGN is false: the token does not allow signing with it"
                            .into(),
                    });
                }
                Attribute::AlwaysAuthenticate(true) => {
                    return Err(TokenError::KeyUnusable {
                        uri: shown,
                        reason: "it needs the PIN again for every signature \
                                 (CKA_ALWAYS_AUTHENTICATE), which is not supported"
                            .into(),
                    });
                }
                Attribute::EcParams(p) => match ec_params_kind(&p) {
                    "ed25519" => {}
                    "ed448" => {
                        return Err(TokenError::KeyUnusable {
                            uri: shown,
                            reason: "it is an Ed448 key; minisign signatures need Ed25519".into(),
                        });
                    }
                    _ => {
                        return Err(TokenError::KeyUnusable {
                            uri: shown,
                            reason: format!("its CKA_EC_PARAMS ({}) is not Ed25519", hex_id(&p)),
                        });
                    }
                },
                Attribute::Id(v) => id = v,
                Attribute::Label(l) => label = Some(String::from_utf8_lossy(&l).into_owned()),
                Attribute::EcPoint(p) => own_point = own_point.or_else(|| decode_ec_point(&p)),
                Attribute::PublicKeyInfo(p) => own_point = own_point.or_else(|| decode_spki(&p)),
                _ => {}
            }
        }
        let public_key = self.ed25519_public_key(uri, &shown, &id, own_point)?;
        Ok(TokenKey {
            session: self,
            private,
            public_key,
            uri: self.key_uri(label.as_deref(), &id),
            label,
            id,
        })
    }

    fn ed25519_public_key(
        &self,
        uri: &TokenUri,
        shown: &str,
        private_id: &[u8],
        own_point: Option<[u8; 32]>,
    ) -> Result<[u8; 32], TokenError> {
        let base = [
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(KeyType::EC_EDWARDS),
        ];
        // Most specific first: the URI's attributes plus the private key's CKA_ID (the
        // convention that ties the halves of a pair together), then the URI alone, then the id
        // alone (the public object labelled differently, or not at all).
        let mut templates = Vec::new();
        let mut by_uri = base.to_vec();
        by_uri.extend(object_filter(uri));
        if !private_id.is_empty() {
            let mut both = by_uri.clone();
            if uri.id.is_none() {
                both.push(Attribute::Id(private_id.to_vec()));
            }
            templates.push(both);
        }
        templates.push(by_uri);
        if !private_id.is_empty() {
            let mut by_id = base.to_vec();
            by_id.push(Attribute::Id(private_id.to_vec()));
            templates.push(by_id);
        }
        let mut found = Vec::new();
        let mut ambiguous = Vec::new();
        for t in &templates {
            match self.find(t)?.as_slice() {
                [] => {}
                [one] => {
                    found = vec![*one];
                    break;
                }
                several => {
                    if ambiguous.is_empty() {
                        ambiguous = several.to_vec();
                    }
                }
            }
        }
        if found.is_empty() {
            found = ambiguous;
        }
        match found.as_slice() {
            [one] => {
                let attrs =
                    self.attributes(*one, &[AttributeType::EcPoint, AttributeType::EcParams])?;
                let mut point = None;
                for a in attrs {
                    match a {
                        Attribute::EcPoint(p) => point = Some(p),
                        Attribute::EcParams(p) if ec_params_kind(&p) != "ed25519" => {
                            return Err(TokenError::KeyUnusable {
                                uri: shown.to_owned(),
                                reason: format!(
                                    "the public key's CKA_EC_PARAMS ({}) is not Ed25519",
                                    hex_id(&p)
                                ),
                            });
                        }
                        _ => {}
                    }
                }
                let raw = point.ok_or_else(|| TokenError::KeyUnusable {
                    uri: shown.to_owned(),
                    reason: "its public-key object has no CKA_EC_POINT".into(),
                })?;
                decode_ec_point(&raw).ok_or_else(|| TokenError::KeyUnusable {
                    uri: shown.to_owned(),
                    reason: format!(
                        "its CKA_EC_POINT is {} bytes ({}), not a 32-byte Ed25519 point",
                        raw.len(),
                        hex_id(&raw)
                    ),
                })
            }
            [] => own_point.ok_or_else(|| TokenError::KeyUnusable {
                uri: shown.to_owned(),
                reason: "no public-key object matches it, and the private key does not expose \
                         its public key (CKA_EC_POINT or CKA_PUBLIC_KEY_INFO)"
                    .into(),
            }),
            several => match own_point {
                Some(p) => Ok(p),
                None => Err(TokenError::KeyAmbiguous {
                    uri: shown.to_owned(),
                    matches: self.describe_all(several, "public key"),
                }),
            },
        }
    }

    /// Generates a persistent Ed25519 key pair on the token: the private half sensitive,
    /// non-extractable and sign-only, the public half verify-only (SoftHSM2 would otherwise
    /// default encrypt/decrypt/wrap/unwrap to true, so they are set to false explicitly).
    ///
    /// `id = None` sets CKA_ID of both halves to the key's minisign keynum
    /// ([`key_id_for`]), so `id=%..` in a URI can be written from the key id; a token that does not
    /// allow changing CKA_ID after generation keeps the random id it was generated with.
    ///
    /// Runs in a short-lived read-write session (login state is shared, so no second login);
    /// the returned key is used through this read-only session.
    pub fn generate_ed25519(
        &self,
        label: &str,
        id: Option<&[u8]>,
        if_exists: IfExists,
    ) -> Result<TokenKey<'_>, TokenError> {
        let shown = format!("object {label:?} on token {}", self.token);
        if label.is_empty() {
            return Err(TokenError::KeyUnusable {
                uri: shown,
                reason: "an empty label cannot be selected by a URI".into(),
            });
        }
        if !self.mechanism_flag(MechanismType::ECC_EDWARDS_KEY_PAIR_GEN, |i| {
            i.generate_key_pair()
        })? {
            return Err(self.unsupported("CKM_EC_EDWARDS_KEY_PAIR_GEN"));
        }
        if !self.can_sign_with(MechanismType::EDDSA)? {
            return Err(self.unsupported("CKM_EDDSA"));
        }

        // Everything carrying the label (any class: a certificate or data object too).
        let existing = self.find(&[Attribute::Label(label.as_bytes().to_vec())])?;
        let mut replaceable = Vec::new();
        let mut blocking = Vec::new();
        for h in &existing {
            let attrs = self.attributes(*h, &[AttributeType::Class, AttributeType::KeyType])?;
            let is_ed_key = attrs.iter().any(|a| {
                matches!(a, Attribute::Class(c) if *c == ObjectClass::PRIVATE_KEY || *c == ObjectClass::PUBLIC_KEY)
            }) && attrs
                .iter()
                .any(|a| matches!(a, Attribute::KeyType(k) if *k == KeyType::EC_EDWARDS));
            if is_ed_key && if_exists == IfExists::Replace {
                replaceable.push(*h);
            } else {
                blocking.push(*h);
            }
        }
        if !blocking.is_empty() {
            return Err(TokenError::ObjectExists {
                token: self.token.clone(),
                label: label.to_owned(),
                found: self.describe_all(&blocking, "object"),
            });
        }
        if let Some(id) = id {
            let same_id: Vec<ObjectHandle> = self
                .find(&[Attribute::Id(id.to_vec())])?
                .into_iter()
                .filter(|h| !replaceable.contains(h))
                .collect();
            if !same_id.is_empty() {
                return Err(TokenError::ObjectExists {
                    token: self.token.clone(),
                    label: label.to_owned(),
                    found: self.describe_all(&same_id, "object with the same id"),
                });
            }
        }

        let rw = self
            .pkcs11
            .open_rw_session(self.slot)
            .map_err(|e| ck("C_OpenSession", e))?;
        // A placeholder id when the keynum is wanted: it is only known once the key exists.
        let initial_id = match id {
            Some(id) => id.to_vec(),
            None => rw
                .generate_random_vec(8)
                .unwrap_or_else(|_| fallback_random_id()),
        };
        let public_tpl = [
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Verify(true),
            Attribute::Encrypt(false),
            Attribute::Wrap(false),
            Attribute::Derive(false),
            Attribute::EcParams(EC_PARAMS_ED25519_OID.to_vec()),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(initial_id.clone()),
        ];
        let private_tpl = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Decrypt(false),
            Attribute::Unwrap(false),
            Attribute::Derive(false),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(initial_id.clone()),
        ];
        let (pub_h, priv_h) = rw
            .generate_key_pair(&Mechanism::EccEdwardsKeyPairGen, &public_tpl, &private_tpl)
            .map_err(|e| ck("C_GenerateKeyPair", e))?;

        // From here on a failure must not leave a half-made key behind.
        let finish = || -> Result<([u8; 32], Vec<u8>), TokenError> {
            // The token must have honoured the protection; a key that is extractable after all
            // is destroyed rather than used.
            let p = rw
                .get_attributes(
                    priv_h,
                    &[AttributeType::Sensitive, AttributeType::Extractable],
                )
                .map_err(|e| ck("C_GetAttributeValue", e))?;
            let honoured = p.contains(&Attribute::Sensitive(true))
                && p.contains(&Attribute::Extractable(false));
            if !honoured {
                return Err(TokenError::KeyUnusable {
                    uri: shown.clone(),
                    reason: format!(
                        "the token did not make the new private key sensitive and non-extractable \
                         (it reports {p:?}); the key was destroyed"
                    ),
                });
            }
            let attrs = rw
                .get_attributes(pub_h, &[AttributeType::EcPoint])
                .map_err(|e| ck("C_GetAttributeValue", e))?;
            let point = attrs.into_iter().find_map(|a| match a {
                Attribute::EcPoint(p) => decode_ec_point(&p),
                _ => None,
            });
            let pk = point.ok_or_else(|| TokenError::KeyUnusable {
                uri: shown.clone(),
                reason:
                    "the new public key has no readable 32-byte CKA_EC_POINT; the key was destroyed"
                        .into(),
            })?;
            let mut final_id = initial_id.clone();
            if id.is_none() {
                let keynum = key_id_for(&pk).to_vec();
                let set = |h| rw.update_attributes(h, &[Attribute::Id(keynum.clone())]);
                // Some tokens do not allow changing CKA_ID; the random id then stays.
                if set(pub_h).is_ok() && set(priv_h).is_ok() {
                    final_id = keynum;
                } else {
                    let _ = rw.update_attributes(pub_h, &[Attribute::Id(initial_id.clone())]);
                }
            }
            Ok((pk, final_id))
        };
        let (public_key, final_id) = match finish() {
            Ok(v) => v,
            Err(e) => {
                let _ = rw.destroy_object(priv_h);
                let _ = rw.destroy_object(pub_h);
                return Err(e);
            }
        };
        for h in replaceable {
            rw.destroy_object(h).map_err(|e| ck("C_DestroyObject", e))?;
        }
        drop(rw);
        Ok(TokenKey {
            session: self,
            private: priv_h,
            public_key,
            uri: self.key_uri(Some(label), &final_id),
            label: Some(label.to_owned()),
            id: final_id,
        })
    }

    /// A complete URI for a key on this token: token by label and serial, key by label and id.
    fn key_uri(&self, label: Option<&str>, id: &[u8]) -> String {
        TokenUri {
            module_path: self.module_path.clone(),
            token: Some(self.label.clone()),
            manufacturer: None,
            model: None,
            serial: Some(self.serial.clone()),
            slot_id: None,
            object: label.map(str::to_owned),
            id: (!id.is_empty()).then(|| id.to_vec()),
            object_type: Some(ObjectType::Private),
            pin_source: None,
        }
        .to_string()
    }

    /// Whether the token implements CKM_ML_DSA (PKCS#11 3.2, mechanism 0x1d) for signing.
    /// Errors asking are reported as "no".
    pub fn supports_ml_dsa(&self) -> bool {
        self.can_sign_with(MechanismType::ML_DSA).unwrap_or(false)
    }

    /// Finds the ML-DSA private key the URI names, and its public key (CKA_VALUE of the matching
    /// public-key object). Returns [`TokenError::MechanismUnsupported`] with `CKM_ML_DSA` on
    /// tokens without ML-DSA, before looking at any object.
    ///
    /// Untested beyond that check: no token available here (SoftHSM2 2.6.1 included) implements
    /// PKCS#11 3.2's ML-DSA.
    pub fn find_ml_dsa(&self, uri: &TokenUri) -> Result<MlDsaKey<'_>, TokenError> {
        if !self.can_sign_with(MechanismType::ML_DSA)? {
            return Err(self.unsupported("CKM_ML_DSA"));
        }
        let shown = uri.without_pin().to_string();
        if uri.object.is_none() && uri.id.is_none() {
            return Err(TokenError::KeyNotNamed { uri: shown });
        }
        let private = self.find_one(
            ObjectClass::PRIVATE_KEY,
            KeyType::ML_DSA,
            uri,
            &shown,
            "ML-DSA private key",
        )?;
        let attrs = self.attributes(
            private,
            &[
                AttributeType::ParameterSet,
                AttributeType::Id,
                AttributeType::Sign,
            ],
        )?;
        let mut parameter_set = None;
        let mut id = Vec::new();
        for a in attrs {
            match a {
                Attribute::ParameterSet(p) => parameter_set = Some(MlDsaParameterSetType::from(p)),
                Attribute::Id(v) => id = v,
                Attribute::Sign(false) => {
                    return Err(TokenError::KeyUnusable {
                        uri: shown,
                        reason: "its CKA_SIGN is false".into(),
                    });
                }
                _ => {}
            }
        }
        let parameter_set = match parameter_set {
            Some(p) if p == MlDsaParameterSetType::ML_DSA_44 => MlDsaParameterSet::MlDsa44,
            Some(p) if p == MlDsaParameterSetType::ML_DSA_65 => MlDsaParameterSet::MlDsa65,
            Some(p) if p == MlDsaParameterSetType::ML_DSA_87 => MlDsaParameterSet::MlDsa87,
            other => {
                return Err(TokenError::KeyUnusable {
                    uri: shown,
                    reason: format!("unknown or missing CKA_PARAMETER_SET ({other:?})"),
                });
            }
        };
        let mut tpl = vec![
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(KeyType::ML_DSA),
        ];
        tpl.extend(object_filter(uri));
        let mut found = self.find(&tpl)?;
        if found.is_empty() && !id.is_empty() {
            found = self.find(&[
                Attribute::Class(ObjectClass::PUBLIC_KEY),
                Attribute::KeyType(KeyType::ML_DSA),
                Attribute::Id(id.clone()),
            ])?;
        }
        let public_key = match found.as_slice() {
            [one] => self
                .attributes(*one, &[AttributeType::Value])?
                .into_iter()
                .find_map(|a| match a {
                    Attribute::Value(v) => Some(v),
                    _ => None,
                }),
            _ => None,
        };
        let public_key = public_key
            .filter(|v| v.len() == parameter_set.public_key_len())
            .ok_or_else(|| TokenError::KeyUnusable {
                uri: shown.clone(),
                reason: format!(
                    "no single matching public-key object with a {}-byte CKA_VALUE",
                    parameter_set.public_key_len()
                ),
            })?;
        Ok(MlDsaKey {
            session: self,
            private,
            parameter_set,
            public_key,
            uri: shown,
        })
    }

    /// Which kind of signing key the URI names: the CKA_KEY_TYPE of the one private key matching
    /// its `object=`/`id=`. A URI that matches no private key, or several, is reported the way
    /// [`TokenSession::find_ed25519`] reports it (with the keys on the token listed); a key of
    /// another type (RSA, ECDSA, ...) is [`TokenError::KeyUnusable`].
    pub fn key_algorithm(&self, uri: &TokenUri) -> Result<KeyAlgorithm, TokenError> {
        let shown = uri.without_pin().to_string();
        if uri.object.is_none() && uri.id.is_none() {
            return Err(TokenError::KeyNotNamed { uri: shown });
        }
        let mut tpl = vec![Attribute::Class(ObjectClass::PRIVATE_KEY)];
        tpl.extend(object_filter(uri));
        let found = self.find(&tpl)?;
        let [one] = found.as_slice() else {
            // None or several: the Ed25519 search names what is there (or that the token has
            // no EdDSA at all).
            return Ok(KeyAlgorithm::Ed25519);
        };
        let key_type = self
            .attributes(*one, &[AttributeType::KeyType])?
            .into_iter()
            .find_map(|a| match a {
                Attribute::KeyType(k) => Some(k),
                _ => None,
            });
        match key_type {
            Some(k) if k == KeyType::EC_EDWARDS => Ok(KeyAlgorithm::Ed25519),
            Some(k) if k == KeyType::ML_DSA => Ok(KeyAlgorithm::MlDsa),
            other => Err(TokenError::KeyUnusable {
                uri: shown,
                reason: format!(
                    "it is a {} key; airlock signs with Ed25519 (minisign) or ML-DSA-87 keys",
                    other.map_or_else(
                        || "(unreadable CKA_KEY_TYPE)".to_string(),
                        |k| k.to_string()
                    )
                ),
            }),
        }
    }

    /// Generates a persistent ML-DSA-87 key pair on the token (PKCS#11 3.2
    /// CKM_ML_DSA_KEY_PAIR_GEN, CKA_PARAMETER_SET = CKP_ML_DSA_87): the private half sensitive,
    /// non-extractable and sign-only. Refuses when any object carries the label. On tokens
    /// without the mechanisms (SoftHSM2 2.6.1) this is [`TokenError::MechanismUnsupported`]
    /// before anything is created.
    ///
    /// **Untested beyond that check**: no token available here implements ML-DSA.
    pub fn generate_ml_dsa_87(&self, label: &str) -> Result<MlDsaKey<'_>, TokenError> {
        let shown = format!("object {label:?} on token {}", self.token);
        if label.is_empty() {
            return Err(TokenError::KeyUnusable {
                uri: shown,
                reason: "an empty label cannot be selected by a URI".into(),
            });
        }
        if !self.mechanism_flag(MechanismType::ML_DSA_KEY_PAIR_GEN, |i| {
            i.generate_key_pair()
        })? {
            return Err(self.unsupported("CKM_ML_DSA_KEY_PAIR_GEN"));
        }
        if !self.can_sign_with(MechanismType::ML_DSA)? {
            return Err(self.unsupported("CKM_ML_DSA"));
        }
        let existing = self.find(&[Attribute::Label(label.as_bytes().to_vec())])?;
        if !existing.is_empty() {
            return Err(TokenError::ObjectExists {
                token: self.token.clone(),
                label: label.to_owned(),
                found: self.describe_all(&existing, "object"),
            });
        }
        let rw = self
            .pkcs11
            .open_rw_session(self.slot)
            .map_err(|e| ck("C_OpenSession", e))?;
        let id = rw
            .generate_random_vec(8)
            .unwrap_or_else(|_| fallback_random_id());
        let set = cryptoki::object::ParameterSetType::from(MlDsaParameterSetType::ML_DSA_87);
        let public_tpl = [
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Verify(true),
            Attribute::ParameterSet(set),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id.clone()),
        ];
        let private_tpl = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id.clone()),
        ];
        let (pub_h, priv_h) = rw
            .generate_key_pair(&Mechanism::MlDsaKeyPairGen, &public_tpl, &private_tpl)
            .map_err(|e| ck("C_GenerateKeyPair", e))?;
        let public_key = rw
            .get_attributes(pub_h, &[AttributeType::Value])
            .map_err(|e| ck("C_GetAttributeValue", e))
            .map(|attrs| {
                attrs.into_iter().find_map(|a| match a {
                    Attribute::Value(v)
                        if v.len() == MlDsaParameterSet::MlDsa87.public_key_len() =>
                    {
                        Some(v)
                    }
                    _ => None,
                })
            });
        let public_key = match public_key {
            Ok(Some(v)) => v,
            other => {
                let _ = rw.destroy_object(priv_h);
                let _ = rw.destroy_object(pub_h);
                other?;
                return Err(TokenError::KeyUnusable {
                    uri: shown,
                    reason: "the new public key has no readable 2592-byte CKA_VALUE; the key was destroyed".into(),
                });
            }
        };
        drop(rw);
        Ok(MlDsaKey {
            session: self,
            private: priv_h,
            parameter_set: MlDsaParameterSet::MlDsa87,
            public_key,
            uri: self.key_uri(Some(label), &id),
        })
    }

    fn find(&self, template: &[Attribute]) -> Result<Vec<ObjectHandle>, TokenError> {
        self.session
            .find_objects(template)
            .map_err(|e| ck("C_FindObjects", e))
    }

    fn attributes(
        &self,
        h: ObjectHandle,
        types: &[AttributeType],
    ) -> Result<Vec<Attribute>, TokenError> {
        // Note: cryptoki omits attributes the token will not reveal instead of failing, so
        // callers treat every attribute as optional.
        self.session
            .get_attributes(h, types)
            .map_err(|e| ck("C_GetAttributeValue", e))
    }

    fn find_one(
        &self,
        class: ObjectClass,
        key_type: KeyType,
        uri: &TokenUri,
        shown: &str,
        what: &'static str,
    ) -> Result<ObjectHandle, TokenError> {
        let mut tpl = vec![Attribute::Class(class), Attribute::KeyType(key_type)];
        tpl.extend(object_filter(uri));
        let found = self.find(&tpl)?;
        match found.as_slice() {
            [one] => Ok(*one),
            [] => {
                let all = self.find(&[Attribute::Class(class), Attribute::KeyType(key_type)])?;
                Err(TokenError::ObjectNotFound {
                    uri: shown.to_owned(),
                    what,
                    seen: self.describe_all(&all, what),
                })
            }
            several => Err(TokenError::KeyAmbiguous {
                uri: shown.to_owned(),
                matches: self.describe_all(several, what),
            }),
        }
    }

    /// Describes objects for messages: class, label and id. `fallback` names objects whose
    /// class cannot be read.
    fn describe_all(&self, handles: &[ObjectHandle], fallback: &str) -> Vec<String> {
        handles
            .iter()
            .map(|h| {
                let attrs = self
                    .session
                    .get_attributes(
                        *h,
                        &[
                            AttributeType::Class,
                            AttributeType::KeyType,
                            AttributeType::Label,
                            AttributeType::Id,
                        ],
                    )
                    .unwrap_or_default();
                let mut label = None;
                let mut id = None;
                let mut class = None;
                let mut ed = false;
                for a in attrs {
                    match a {
                        Attribute::Label(l) => label = Some(l),
                        Attribute::Id(i) => id = Some(i),
                        Attribute::Class(c) => class = Some(c),
                        Attribute::KeyType(k) => ed = k == KeyType::EC_EDWARDS,
                        _ => {}
                    }
                }
                let kind = match class {
                    Some(c) if c == ObjectClass::PRIVATE_KEY && ed => "Ed25519 private key",
                    Some(c) if c == ObjectClass::PUBLIC_KEY && ed => "Ed25519 public key",
                    Some(c) if c == ObjectClass::PRIVATE_KEY => "private key",
                    Some(c) if c == ObjectClass::PUBLIC_KEY => "public key",
                    Some(c) if c == ObjectClass::SECRET_KEY => "secret key",
                    Some(c) if c == ObjectClass::CERTIFICATE => "certificate",
                    Some(c) if c == ObjectClass::DATA => "data object",
                    _ => fallback,
                };
                describe_object(label.as_deref(), id.as_deref(), kind)
            })
            .collect()
    }
}

fn fallback_random_id() -> Vec<u8> {
    // Only used when the token has no RNG: uniqueness, not secrecy, is what matters for a
    // placeholder CKA_ID that is replaced by the keynum right after generation.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mixed = (nanos as u64) ^ (u64::from(std::process::id()) << 32);
    mixed.to_le_bytes().to_vec()
}

/// The CKA_LABEL / CKA_ID (and CKA_CLASS for `type=`) part of a search template.
fn object_filter(uri: &TokenUri) -> Vec<Attribute> {
    let mut t = Vec::new();
    if let Some(label) = &uri.object {
        t.push(Attribute::Label(label.as_bytes().to_vec()));
    }
    if let Some(id) = &uri.id {
        t.push(Attribute::Id(id.clone()));
    }
    t
}

fn find_token(pkcs11: &Pkcs11, uri: &TokenUri) -> Result<(Slot, TokenInfo), TokenError> {
    let shown = uri.token_part().to_string();
    let slots = pkcs11
        .get_slots_with_token()
        .map_err(|e| ck("C_GetSlotList", e))?;
    let mut seen = Vec::new();
    let mut matches = Vec::new();
    for slot in slots {
        let info = match pkcs11.get_token_info(slot) {
            Ok(i) => i,
            Err(e) => {
                // One unreadable slot (a token pulled out between the two calls) must not hide
                // the others; it is listed.
                seen.push(format!(
                    "slot {}: unreadable ({})",
                    slot.id(),
                    ck("C_GetTokenInfo", e)
                ));
                continue;
            }
        };
        if !info.token_initialized() {
            continue;
        }
        let desc = describe_token(slot, &info);
        let want = |w: &Option<String>, have: &str| w.as_deref().is_none_or(|w| w == have);
        if uri.slot_id.is_none_or(|id| id == slot.id())
            && want(&uri.token, info.label())
            && want(&uri.manufacturer, info.manufacturer_id())
            && want(&uri.model, info.model())
            && want(&uri.serial, info.serial_number())
        {
            matches.push((slot, info, desc.clone()));
        }
        seen.push(desc);
    }
    match matches.len() {
        0 => Err(TokenError::TokenNotFound { uri: shown, seen }),
        1 => {
            let (slot, info, _) = matches.remove(0);
            Ok((slot, info))
        }
        _ => Err(TokenError::TokenAmbiguous {
            uri: shown,
            matches: matches.into_iter().map(|m| m.2).collect(),
        }),
    }
}

fn login(
    pkcs11: &Pkcs11,
    slot: Slot,
    session: &Session,
    info: &TokenInfo,
    pin: &Pin,
    token: &str,
) -> Result<(), TokenError> {
    if info.user_pin_locked() {
        return Err(TokenError::PinLocked {
            token: token.to_owned(),
        });
    }
    if !info.login_required() {
        // Nothing to unlock, so no try to spend.
        return Ok(());
    }
    let secret = match pin {
        Pin::Secret(s) => Some(s),
        Pin::ProtectedAuthenticationPath if info.protected_authentication_path() => None,
        Pin::ProtectedAuthenticationPath => {
            return Err(TokenError::NoPinPad {
                token: token.to_owned(),
            });
        }
    };
    // Login state is per process and token: if another session of this process is already
    // logged in, this one is too, and sending the PIN again would only risk a try.
    if let Ok(si) = session.get_session_info()
        && matches!(
            si.session_state(),
            SessionState::RoUser | SessionState::RwUser
        )
    {
        return Ok(());
    }
    LOGIN_ATTEMPTS.fetch_add(1, Ordering::SeqCst);
    match session.login(UserType::User, secret) {
        // Another session of this process is logged in to this token: login state is shared.
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
        Err(CkError::Pkcs11(RvError::PinIncorrect, _)) => {
            // Read the flags afterwards (no second login) to tell the user how close to a
            // lockout the token now is.
            let status = pkcs11.get_token_info(slot).ok().and_then(|i| {
                if i.user_pin_locked() {
                    Some("the user PIN as locked")
                } else if i.user_pin_final_try() {
                    Some("one try left before the user PIN locks")
                } else if i.user_pin_count_low() {
                    Some("that wrong PINs have been entered (few tries may remain)")
                } else {
                    None
                }
            });
            return Err(TokenError::PinIncorrect {
                token: token.to_owned(),
                status,
            });
        }
        Err(CkError::Pkcs11(RvError::PinLocked, _)) => {
            return Err(TokenError::PinLocked {
                token: token.to_owned(),
            });
        }
        Err(CkError::Pkcs11(RvError::PinExpired, _)) => {
            return Err(TokenError::PinExpired {
                token: token.to_owned(),
            });
        }
        Err(CkError::Pkcs11(RvError::PinLenRange | RvError::PinInvalid, _)) => {
            return Err(TokenError::PinFormat {
                token: token.to_owned(),
                min: info.min_pin_length(),
                max: info.max_pin_length(),
            });
        }
        Err(e) => return Err(ck("C_Login", e)),
    }
    if info.user_pin_to_be_changed() {
        return Err(TokenError::PinExpired {
            token: token.to_owned(),
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

/// An Ed25519 private key on a token, with its public key, usable through the session that
/// found it.
pub struct TokenKey<'s> {
    session: &'s TokenSession,
    private: ObjectHandle,
    public_key: [u8; 32],
    label: Option<String>,
    id: Vec<u8>,
    uri: String,
}

impl std::fmt::Debug for TokenKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKey")
            .field("uri", &self.uri)
            .field("key_id", &crate::trust::minisig::key_id_hex(&self.keynum()))
            .finish_non_exhaustive()
    }
}

impl TokenKey<'_> {
    /// The 32-byte Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.public_key
    }

    /// The minisign keynum: [`key_id_for`] of the public key.
    pub fn keynum(&self) -> [u8; 8] {
        key_id_for(&self.public_key)
    }

    /// The private key's CKA_LABEL, if it has one.
    pub fn label(&self) -> Option<&str> {
        self.label.as_deref()
    }

    /// The private key's CKA_ID (empty if it has none).
    pub fn id(&self) -> &[u8] {
        &self.id
    }

    /// A URI naming this key (token by label and serial, key by label and id), without PIN.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// Pure Ed25519 (CKM_EDDSA without parameters) over `msg`, on the token.
    pub fn sign(&self, msg: &[u8]) -> Result<[u8; 64], TokenError> {
        let mech = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure));
        let sig = self
            .session
            .session
            .sign(&mech, self.private, msg)
            .map_err(|e| ck("C_Sign", e))?;
        sig.as_slice()
            .try_into()
            .map_err(|_| TokenError::KeyUnusable {
                uri: self.uri.clone(),
                reason: format!("the token returned a {}-byte Ed25519 signature", sig.len()),
            })
    }
}

/// A token key's object handle and public half without the borrow of the session that found it:
/// what an owner of both the session and the key keeps (airlock's `Signer::Token`), binding it
/// back with [`KeyRef::bind`] to sign. The handle is valid only in that session.
#[derive(Debug, Clone)]
pub struct KeyRef {
    private: ObjectHandle,
    public_key: [u8; 32],
    label: Option<String>,
    id: Vec<u8>,
    uri: String,
}

impl TokenKey<'_> {
    /// The key without its borrow of the session (see [`KeyRef`]).
    pub fn to_ref(&self) -> KeyRef {
        KeyRef {
            private: self.private,
            public_key: self.public_key,
            label: self.label.clone(),
            id: self.id.clone(),
            uri: self.uri.clone(),
        }
    }
}

impl KeyRef {
    /// The key again, through `session`, which must be the session that found it.
    pub fn bind<'s>(&self, session: &'s TokenSession) -> TokenKey<'s> {
        TokenKey {
            session,
            private: self.private,
            public_key: self.public_key,
            label: self.label.clone(),
            id: self.id.clone(),
            uri: self.uri.clone(),
        }
    }
}

impl Ed25519Signer for TokenKey<'_> {
    type Error = TokenError;

    fn public_key(&self) -> [u8; 32] {
        self.public_key
    }

    fn sign(&self, msg: &[u8]) -> Result<[u8; 64], TokenError> {
        TokenKey::sign(self, msg)
    }
}

/// ML-DSA parameter sets (FIPS 204).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MlDsaParameterSet {
    /// ML-DSA-44.
    MlDsa44,
    /// ML-DSA-65.
    MlDsa65,
    /// ML-DSA-87.
    MlDsa87,
}

impl MlDsaParameterSet {
    /// Encoded public key size (FIPS 204 table 2).
    pub fn public_key_len(self) -> usize {
        match self {
            MlDsaParameterSet::MlDsa44 => 1312,
            MlDsaParameterSet::MlDsa65 => 1952,
            MlDsaParameterSet::MlDsa87 => 2592,
        }
    }

    /// Signature size (FIPS 204 table 2).
    pub fn signature_len(self) -> usize {
        match self {
            MlDsaParameterSet::MlDsa44 => 2420,
            MlDsaParameterSet::MlDsa65 => 3309,
            MlDsaParameterSet::MlDsa87 => 4627,
        }
    }
}

/// An ML-DSA private key on a token (PKCS#11 3.2). **Untested**: see the module documentation.
pub struct MlDsaKey<'s> {
    session: &'s TokenSession,
    private: ObjectHandle,
    parameter_set: MlDsaParameterSet,
    public_key: Vec<u8>,
    uri: String,
}

impl std::fmt::Debug for MlDsaKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MlDsaKey")
            .field("uri", &self.uri)
            .field("parameter_set", &self.parameter_set)
            .finish_non_exhaustive()
    }
}

/// An ML-DSA token key without the borrow of its session (see [`KeyRef`]).
#[derive(Debug, Clone)]
pub struct MlDsaKeyRef {
    private: ObjectHandle,
    parameter_set: MlDsaParameterSet,
    public_key: Vec<u8>,
    uri: String,
}

impl MlDsaKeyRef {
    /// The key again, through `session`, which must be the session that found it.
    pub fn bind<'s>(&self, session: &'s TokenSession) -> MlDsaKey<'s> {
        MlDsaKey {
            session,
            private: self.private,
            parameter_set: self.parameter_set,
            public_key: self.public_key.clone(),
            uri: self.uri.clone(),
        }
    }
}

impl MlDsaKey<'_> {
    /// The parameter set (CKA_PARAMETER_SET).
    pub fn parameter_set(&self) -> MlDsaParameterSet {
        self.parameter_set
    }

    /// The encoded public key (CKA_VALUE of the public-key object).
    pub fn public_key(&self) -> &[u8] {
        &self.public_key
    }

    /// A URI naming the key, without PIN information.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The key without its borrow of the session (see [`KeyRef`]).
    pub fn to_ref(&self) -> MlDsaKeyRef {
        MlDsaKeyRef {
            private: self.private,
            parameter_set: self.parameter_set,
            public_key: self.public_key.clone(),
            uri: self.uri.clone(),
        }
    }

    /// Pure ML-DSA (CKM_ML_DSA) over `msg` with an optional context string of at most 255 bytes
    /// (FIPS 204). Hedged or deterministic is the token's choice (CKH_HEDGE_PREFERRED).
    pub fn sign(&self, msg: &[u8], context: Option<&[u8]>) -> Result<Vec<u8>, TokenError> {
        if context.is_some_and(|c| c.len() > 255) {
            return Err(TokenError::KeyUnusable {
                uri: self.uri.clone(),
                reason: "an ML-DSA context string is at most 255 bytes".into(),
            });
        }
        let mech = Mechanism::MlDsa(SignAdditionalContext::new(HedgeType::Preferred, context));
        let sig = self
            .session
            .session
            .sign(&mech, self.private, msg)
            .map_err(|e| ck("C_Sign", e))?;
        if sig.len() != self.parameter_set.signature_len() {
            return Err(TokenError::KeyUnusable {
                uri: self.uri.clone(),
                reason: format!(
                    "the token returned a {}-byte signature, expected {}",
                    sig.len(),
                    self.parameter_set.signature_len()
                ),
            });
        }
        Ok(sig)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cryptoki::context::Function;

    #[test]
    fn ec_point_both_forms() {
        let raw = [7u8; 32];
        let mut der = vec![0x04, 0x20];
        der.extend_from_slice(&raw);
        assert_eq!(decode_ec_point(&raw), Some(raw));
        assert_eq!(decode_ec_point(&der), Some(raw));
        assert_eq!(decode_ec_point(&der[..33]), None);
        assert_eq!(decode_ec_point(&[0x04, 0x41, 0x04]), None);
        assert_eq!(decode_ec_point(&[]), None);
        let mut wrong_tag = der.clone();
        wrong_tag[0] = 0x03;
        assert_eq!(decode_ec_point(&wrong_tag), None);
        let mut spki = ED25519_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(&raw);
        assert_eq!(decode_spki(&spki), Some(raw));
        assert_eq!(decode_spki(&spki[1..]), None);
    }

    #[test]
    fn ec_params_forms() {
        assert_eq!(ec_params_kind(EC_PARAMS_ED25519_OID), "ed25519");
        assert_eq!(ec_params_kind(EC_PARAMS_ED25519_NAME), "ed25519");
        assert_eq!(EC_PARAMS_ED25519_NAME.len(), 14);
        assert_eq!(ec_params_kind(EC_PARAMS_ED25519_GNU_OID), "ed25519");
        assert_eq!(ec_params_kind(EC_PARAMS_ED448_OID), "ed448");
        assert_eq!(ec_params_kind(EC_PARAMS_ED448_NAME), "ed448");
        assert_eq!(ec_params_kind(&[0x06, 0x08, 0x2a]), "other");
    }

    #[test]
    fn return_code_names() {
        assert_eq!(ckr_name(RvError::PinIncorrect), "CKR_PIN_INCORRECT");
        assert_eq!(
            ckr_name(RvError::CryptokiAlreadyInitialized),
            "CKR_CRYPTOKI_ALREADY_INITIALIZED"
        );
        assert_eq!(
            ckr_name(RvError::ObjectHandleInvalid),
            "CKR_OBJECT_HANDLE_INVALID"
        );
        assert_eq!(ckr_name(RvError::GeneralError), "CKR_GENERAL_ERROR");
        assert_eq!(
            ckr_name(RvError::VendorDefined(0x8000_0001)),
            "vendor-defined return code 0x80000001"
        );
    }

    #[test]
    fn errors_map_to_what_a_user_can_act_on() {
        let gone = ck(
            "C_Sign",
            CkError::Pkcs11(RvError::ObjectHandleInvalid, Function::SignInit),
        );
        assert!(matches!(gone, TokenError::TokenGone { .. }), "{gone}");
        assert!(
            gone.to_string()
                .contains("C_SignInit returned CKR_OBJECT_HANDLE_INVALID")
        );
        let gone = ck(
            "C_Sign",
            CkError::Pkcs11(RvError::DeviceRemoved, Function::Sign),
        );
        assert!(matches!(gone, TokenError::TokenGone { .. }));
        let other = ck(
            "C_Sign",
            CkError::Pkcs11(RvError::FunctionFailed, Function::Sign),
        );
        assert_eq!(
            other.to_string(),
            "PKCS#11 C_Sign failed: CKR_FUNCTION_FAILED"
        );
        let e = TokenError::PinIncorrect {
            token: "\"t\"".into(),
            status: Some("one try left before the user PIN locks"),
        };
        assert!(
            e.to_string()
                .contains("was not retried; the token now reports one try left")
        );
        assert!(e.hint().contains("never retries"));
        let e = TokenError::TokenNotFound {
            uri: "pkcs11:token=x?module-path=/m.so".into(),
            seen: vec![],
        };
        assert!(
            e.to_string()
                .ends_with("the module reports no initialized token"),
            "{e}"
        );
    }
}
