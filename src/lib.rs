//! airlock: signed, deterministic, framed bundles of ML model releases for transfer across an air gap.
//!
//! The library holds all logic; `main.rs` only parses arguments and maps [`Error`] to exit codes.
//! Module map:
//! * format and reading: `bundle_path` (validated paths), `format` (footer, frame rule, canonical
//!   tar headers), `manifest` (canonical manifest), `manifest_frame` (the capped last frame),
//!   `payload` (the tar stream both ways), `reader` (opening a bundle), `hashing`, `timefmt`;
//! * trust: `keys`, `signature` (signature files), `trust` (trust.toml, thresholds), `policy`,
//!   `safeguards`, `gate` (content gate), `enforce` (applying them), `state` (rollback), `audit`;
//! * machinery: `pipeline` (ordered parallel work), `output` (atomic files), `progress`, `error`;
//! * one module per command: `spec` and `pack`, `inspect`, `verify`, `unpack`, `sign`, `digest`,
//!   `volume` (volumes, join), `delta` (deltas, patch), `diff`, `demo`.
#![forbid(unsafe_code)]

pub mod audit;
pub mod bundle_path;
pub mod delta;
pub mod demo;
pub mod diff;
pub mod digest;
pub mod enforce;
pub mod error;
pub mod format;
pub mod fsutil;
pub mod gate;
pub mod hashing;
pub mod inspect;
pub mod keys;
pub mod manifest;
pub mod manifest_frame;
pub mod output;
pub mod pack;
pub mod payload;
pub mod pipeline;
pub mod policy;
pub mod progress;
pub mod reader;
pub mod safeguards;
pub mod sign;
pub mod signature;
pub mod spec;
pub mod state;
pub mod timefmt;
pub mod trust;
pub mod unpack;
pub mod verify;
pub mod volume;

pub use error::{Error, Result};
