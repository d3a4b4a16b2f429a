//! Signing keys on PKCS#11 tokens (HSMs, smart cards, SoftHSM2), named by RFC 7512 `pkcs11:` URIs,
//! through the maintained `cryptoki` binding (no hand-written FFI; this crate forbids `unsafe`).
//!
//! * [`uri`]: the RFC 7512 parser, fail-closed (`pin-value` refused, unknown attributes refused).
//! * [`pin`]: where a PIN may come from (a PIN file, the URI's `pin-source`, a no-echo prompt on
//!   the terminal; never the command line) and how it is held (zeroised, redacted).
//! * [`token`]: sessions (one module context per process, exactly one `C_Login` per open, never
//!   retried), finding and generating Ed25519 keys (CKM_EDDSA) and ML-DSA keys (PKCS#11 3.2
//!   CKM_ML_DSA), signing.
//! * [`signer`]: what airlock does with them — [`signer::TokenSigner`] behind
//!   `trust::keys::Signer::Token`, `keygen --token`, `keygen --token --export-pub` — and the
//!   mapping of token failures to airlock's errors and exit codes.
//!
//! Ed25519 signatures made on a token are ordinary minisign files (`trust::minisig`), checked
//! against the token's public key before they are returned. The code was developed and hardened
//! in a standalone prototype (notes in `docs/security.md`, "Key custody") and moved here with its
//! tests; the SoftHSM2 fixture its integration tests use is `tests/it/support/softhsm.rs`.
//!
//! A URI selects code to load (`module-path`): it must come from the operator (the command line),
//! never from a bundle, a manifest or a trust file.
pub mod pin;
pub mod signer;
pub mod token;
pub mod uri;

pub use signer::{TokenPublic, TokenSigner, is_token_uri};
