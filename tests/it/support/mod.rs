//! Helpers shared by every integration test: `common` runs the real binary, makes keys, specs,
//! trust files and example trees; `schema` checks every `--json` document against
//! `docs/schema/v1/`; `examples` builds the example directory the `--help` examples run in;
//! `craft` builds hostile bundles from their parts and signs them with a real test key; `pytools`
//! finds or creates the venv with the Python tools (pyca/cryptography, model-signing, the CycloneDX
//! validator) the interoperability and provenance tests run.
#![allow(dead_code)]

pub mod common;
pub mod craft;
pub mod examples;
pub mod pytools;
pub mod registry;
pub mod schema;
pub mod softhsm;
