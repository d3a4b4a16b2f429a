//! Provenance in, at pack time: the model provider's OpenSSF Model Signing (OMS) signature of a
//! model artifact travels in the bundle as `model/NAME/model.sig` (named in the spec with
//! `oms_signature`, or already there because the provider signed the directory in place), and
//! `pack` checks it against the policy's `oms_keys` exactly as `model_signing verify key` would —
//! first the signature and the file set, before any compression work, then, once every file has
//! been hashed on its way into the bundle, every file's SHA-256.
use crate::error::{Check, Error, IoContext, Result};
use crate::format::Mode;
use crate::format::manifest::{Kind, Manifest, OMS_SIGNATURE_FILE};
use crate::format::manifest_frame::MAX_COPY_BYTES;
use crate::pack::ArtifactRoot;
use crate::pack::source::{PackFile, SourceFile};
use crate::pack::spec::{ArtifactSpec, Spec};
use crate::trust::enforce::Governed;
use crate::trust::oms::{self, OmsCheck, OmsFiles, OmsStatus};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Adds the artifact's `oms_signature` to its listed files as `model.sig` at the artifact root,
/// where `model_signing verify key` finds it after unpack. A `model.sig` already in the directory
/// must be that same file (the provider signed in place); any other is refused, since it would
/// be taken for the signature.
pub fn add_signature(listed: &mut Vec<SourceFile>, artifact: &ArtifactSpec) -> Result<()> {
    let Some(sig) = &artifact.oms_signature else {
        return Ok(());
    };
    let meta = fs::metadata(&artifact.source).ctx("read", &artifact.source)?;
    if !meta.is_dir() {
        return Err(Error::config(
            &artifact.source,
            format!(
                "model `{}` is a single file; an OMS signature (oms_signature) covers a model directory",
                artifact.name
            ),
            "put the model in a directory and have the provider sign the directory",
        ));
    }
    let file = crate::util::fs::open_input(sig, "OMS signature file (oms_signature)")?;
    let sig_meta = file.metadata().ctx("read", sig)?;
    if sig_meta.len() > MAX_COPY_BYTES {
        return Err(Error::config(
            sig,
            format!(
                "the OMS signature is {} bytes; it is copied into the manifest frame, which takes at most {MAX_COPY_BYTES} bytes per file",
                sig_meta.len()
            ),
            "this is not a `model_signing sign key` signature of a model directory (those take about 230 bytes per file)",
        ));
    }
    if let Some(existing) = listed.iter().find(|f| f.relative == OMS_SIGNATURE_FILE) {
        let same = match (fs::canonicalize(&existing.source), fs::canonicalize(sig)) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
        if same {
            return Ok(());
        }
        return Err(Error::config(
            &existing.source,
            format!(
                "model `{}` already holds a {OMS_SIGNATURE_FILE}, and oms_signature names another file ({})",
                artifact.name,
                sig.display()
            ),
            "remove the stale model.sig from the model directory, or point oms_signature at it",
        ));
    }
    listed.push(SourceFile {
        relative: OMS_SIGNATURE_FILE.to_string(),
        source: sig.clone(),
        size: sig_meta.len(),
        mode: Mode::from_source_bits(sig_meta.permissions().mode()),
    });
    Ok(())
}

fn refusal(spec: &Path, rule: &str, detail: String) -> Error {
    Error::rejected(
        spec,
        Check::Policy,
        format!("rule {rule}: {detail} (refusing to pack)"),
    )
    .with_hint(
        "pack the model exactly as the provider signed it (`airlock digest DIR --oms` prints the root digest its signature must state), with the signature the provider sent and a policy whose oms_keys name the provider's key",
    )
}

/// Before any compression work: every carried OMS signature verifies with the policy's
/// `oms_keys`, and its model's file set is exactly the signed one. A signature the spec names
/// (`oms_signature`) with no `oms_keys` to check it against is a configuration error.
pub fn check_before_packing(
    spec: &Spec,
    governed: &Governed,
    roots: &[ArtifactRoot],
    files: &[PackFile],
) -> Result<()> {
    let keys = governed
        .policy
        .as_ref()
        .map_or(&[][..], |p| &p.policy.oms_keys[..]);
    for (_, name, root) in roots.iter().filter(|(k, _, _)| *k == Kind::Model) {
        let path = format!("{root}/{OMS_SIGNATURE_FILE}");
        let Some((_, bytes)) = governed
            .oms_signatures
            .iter()
            .find(|(p, _)| p.as_str() == path)
        else {
            continue;
        };
        if keys.is_empty() {
            let named = spec
                .artifacts
                .iter()
                .any(|a| a.kind == Kind::Model && a.name == *name && a.oms_signature.is_some());
            if named {
                return Err(Error::config(
                    &spec.path,
                    format!(
                        "artifact `{name}`: oms_signature is set, but {} to verify it with",
                        match &governed.policy {
                            Some(p) => format!("the policy `{}` names no oms_keys", p.path),
                            None => "the bundle carries no policy, so there are no oms_keys".into(),
                        }
                    ),
                    "the model provider lists its OMS public keys in `oms_keys` of the [policy] table of policy.toml (the base64 body of `openssl ec -pubout`), and the policy travels as the bundle's policy artifact",
                ));
            }
            continue;
        }
        let prefix = format!("{root}/");
        let names: Vec<String> = files
            .iter()
            .filter_map(|f| f.entry.path.as_str().strip_prefix(&prefix))
            .map(str::to_string)
            .collect();
        oms::check_signature(name, &path, bytes, keys, &OmsFiles::Names(names))
            .map_err(|d| refusal(&spec.path, "oms-signature", d))?;
    }
    Ok(())
}

/// Once every file is hashed: the policy's OMS rules on the manifest being signed, exactly as the
/// receiving side applies them (`trust::oms::judge`); without a policy, what is carried unchecked.
pub fn check_packed(
    spec: &Spec,
    governed: &Governed,
    manifest: &Manifest,
) -> Result<Vec<OmsCheck>> {
    match &governed.policy {
        Some(p) => oms::judge(&p.policy, manifest, &governed.oms_signatures, &|a| {
            oms::model_files(manifest, a)
        })
        .map_err(|v| refusal(&spec.path, v.rule, v.detail)),
        None => Ok(manifest
            .artifacts
            .iter()
            .filter(|a| a.kind == Kind::Model)
            .filter_map(|a| {
                let path = oms::signature_path(a);
                governed
                    .oms_signatures
                    .iter()
                    .any(|(p, _)| p.as_str() == path)
                    .then(|| OmsCheck::not_checked(&a.name, &path, "the bundle carries no policy"))
            })
            .collect()),
    }
}

/// The checks worth a line in a report: the models that carry a signature.
pub fn carried(checks: &[OmsCheck]) -> impl Iterator<Item = &OmsCheck> {
    checks.iter().filter(|c| c.status != OmsStatus::Absent)
}
