//! `trust/`: everything that decides whether a bundle may be accepted once its bytes are read —
//! keys, the site's trust file and its thresholds ([`trust_file`]), the model provider's policy
//! and the deployment's safeguards, the provider's OpenSSF model signatures ([`oms`]), the
//! content gate, the rollback state — and the binding of a policy to a bundle ([`enforce`]). Judging content requires an [`Authenticated`] bundle, which
//! only [`authenticate`] builds.
pub mod enforce;
pub mod gate;
pub mod governed;
pub mod keys;
pub mod minisig;
pub mod mldsa;
pub mod oms;
pub mod pkcs11;
pub mod policy;
pub mod rotation;
pub mod safeguards;
pub mod state;
pub mod trust_file;

pub use trust_file::{Authenticated, Trust, authenticate};
