//! airlock's integration tests, one binary: end-to-end runs of the real `airlock` binary, the
//! hostile-input corpus, fault injection, property-based fuzzing, the policy rules, crossing
//! logistics, interoperability with stock tools, and the regression tests of issue 9. Shared
//! helpers live in `support/`.
mod support;

mod cli;
mod cnsa2;
mod custody;
mod faults;
mod fuzz;
mod hostile;
mod interop;
mod logistics;
mod policy;
mod policy_receiving;
mod regressions;
mod rotation;
mod tokens;
