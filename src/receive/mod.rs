//! `receive/`: the high side — `verify` (everything decided from the signed manifest, then every
//! frame), `unpack` (the same, then an atomic install), `export` (the same checks, then an OCI
//! layout of ModelPack artifacts for the enclave's registry), `verify`/`unpack` of such a layout
//! on an inference host ([`oci`]), and the hash-chained audit log of every decision, written
//! whatever the outcome by [`logged`].
pub mod audit;
pub mod export;
pub mod oci;
pub mod unpack;
pub mod verify;

use crate::container::SignedManifest;
use crate::error::Result;
use crate::format::time::Timestamp;
use std::path::Path;

/// Opens the input with `open`, decides with `decide`, and, if `audit_log` is given, appends one
/// line recording the decision: accepted, rejected (naming the check) or an error — also when the
/// input could not even be opened. `signed_of` names the manifest the line describes and
/// `report_of` the report of an accepted decision.
#[allow(clippy::too_many_arguments)]
pub fn logged<O, R>(
    command: &str,
    file: &Path,
    audit_log: Option<&Path>,
    now: Timestamp,
    open: impl FnOnce() -> Result<O>,
    signed_of: impl Fn(&O) -> &SignedManifest,
    decide: impl FnOnce(&O) -> Result<R>,
    report_of: impl Fn(&R) -> &verify::VerifyReport,
) -> Result<R> {
    let log = |signed: Option<&SignedManifest>, outcome| match audit_log {
        Some(log) => audit::append(log, audit::record(command, file, signed, outcome, now)),
        None => Ok(()),
    };
    match open() {
        Err(e) => {
            log(None, Err(&e))?;
            Err(e)
        }
        Ok(opened) => {
            let result = decide(&opened);
            log(Some(signed_of(&opened)), result.as_ref().map(&report_of))?;
            result
        }
    }
}
