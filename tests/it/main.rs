//! airlock's integration tests, one binary: end-to-end runs of the real `airlock` binary, the
//! hostile-input corpus, fault injection, property-based fuzzing, the policy rules, crossing
//! logistics, interoperability with stock tools, the regression tests of issue 9, and provenance
//! (OpenSSF model signatures, CycloneDX ML-BOMs) against the real Python tools. Shared
//! helpers live in `support/`.
mod support;

mod cli;
mod faults;
mod fuzz;
mod hostile;
mod interop;
mod logistics;
mod policy;
mod policy_receiving;
mod provenance;
mod regressions;
