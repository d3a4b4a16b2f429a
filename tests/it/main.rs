//! airlock's integration tests, one binary: end-to-end runs of the real `airlock` binary, the
//! hostile-input corpus, fault injection, property-based fuzzing, the policy rules, crossing
//! logistics, interoperability with stock tools, the regression tests of issue 9, the
//! command-line contract and shipped documentation of issue 15, and provenance (OpenSSF model
//! signatures, CycloneDX ML-BOMs) against the real Python tools. Shared helpers live in `support/`.
mod support;

/// The binary's clap definitions (`src/cli/`), compiled into the tests so they can walk the real
/// command tree: new subcommands are covered by `docs` and `contract` without editing them.
#[path = "../../src/cli/mod.rs"]
#[allow(dead_code, unused_imports)]
mod airlock_cli;

mod cli;
mod cnsa2;
mod contract;
mod custody;
mod docs;
mod faults;
mod fuzz;
mod hostile;
mod interop;
mod logistics;
mod oci;
mod policy;
mod policy_receiving;
mod provenance;
mod regressions;
mod rotation;
mod tokens;
