//! airlock: signed, deterministic, framed bundles of ML model releases for transfer across an air
//! gap, verified and unpacked on the receiving side.
//!
//! The layers show the trust boundary (`docs/architecture.md`); imports only ever point down:
//!
//! * [`format`]: bytes and the validated types they are read into (paths, times, headers, frames,
//!   footers, the manifest, the manifest frame, signature files). Pure; no trust, no policy.
//! * [`container`]: the only place that tells a bundle from a volume set or a delta. `open`
//!   yields an *unverified* signed manifest and a source of payload frames, each frame checked
//!   against that manifest before it is decoded. Also the writers of those containers, and the
//!   OCI layout reader (hostile input) and writer of `export`.
//! * [`trust`]: keys, the trust file and its thresholds, the policy, safeguards, the content gate,
//!   rollback state. [`trust::Authenticated`] is built only by [`trust::authenticate`], and
//!   everything that judges a bundle's content takes it.
//! * [`pack`] (low side), [`receive`] (verify, unpack, export, the fleet's OCI checks, audit),
//!   [`report`] (inspect, diff, every human and JSON rendering): the commands' logic, over the
//!   layers above.
//! * [`util`]: the ordered pipeline, atomic output, progress, file-system and size helpers.
//!
//! `format` and `container` never import `trust`, `pack`, `receive` or `report`
//! (`scripts/check-layers.sh` enforces it in CI). The binary (`src/main.rs`, `src/cli/`) only
//! parses arguments, calls these, renders, and maps [`Error`] to the exit code.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod container;
pub mod demo;
pub mod error;
pub mod format;
pub mod pack;
pub mod receive;
pub mod report;
pub mod trust;
pub mod util;

pub use error::{Error, Result};
