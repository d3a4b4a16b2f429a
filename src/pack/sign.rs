//! `airlock sign`: adds a countersignature (for example the transfer officer's) by rewriting only
//! the manifest frame and the footer; the payload frames are not touched or recompressed.
use crate::container::write::{copy_range, write_tail};
use crate::container::{Container, Opened, open_kind};
use crate::error::{Error, IoContext, Result};
use crate::format::manifest::Suite;
use crate::format::signature::{PolicyStatement, Role, SigAlg, file_name};
use crate::format::{FOOTER_LEN, Footer};
use crate::trust::keys::Signer;
use crate::util::output::AtomicOutput;
use std::fs::OpenOptions;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// One signature `sign` added.
#[derive(Debug, serde::Serialize)]
pub struct AddedSignature {
    /// The signature file under `airlock/signatures/`.
    pub file: String,
    /// The signer's key id.
    pub key_id: String,
    /// The signature algorithm.
    pub algorithm: SigAlg,
}

/// What `sign` did.
#[derive(Debug, serde::Serialize)]
pub struct SignReport {
    /// The bundle written.
    pub output: PathBuf,
    /// The (first) signature file added.
    pub signature: String,
    /// The (first) signer's key id.
    pub key_id: String,
    /// The role signed as.
    pub role: Role,
    /// Every signature added, one per key, in the order the keys were given.
    pub signatures: Vec<AddedSignature>,
}

/// Adds one signature per key in `keys` as `role` to the bundle at `path`, in one rewrite, in place
/// or into `output`.
pub fn countersign(
    path: &Path,
    keys: &[Signer],
    role: Role,
    now: crate::format::time::Timestamp,
    output: Option<&Path>,
) -> Result<SignReport> {
    refuse_after_interrupted_sign(path)?;
    let Opened::Bundle(bundle) = open_kind(
        path,
        Container::Bundle,
        "a signature is added to the single-file bundle, whose manifest frame every volume and delta copies",
        "sign the single-file bundle: `airlock join VOLUMES -o B` (or `airlock patch OLD DELTA -o B`), then `airlock sign B`",
    )?
    else {
        return Err(Error::Internal("open_kind returned another kind".into()));
    };
    let signed = &bundle.signed;
    let suite = signed.manifest.layout.suite;
    let mut frame = signed.frame.clone();
    let mut added = Vec::with_capacity(keys.len());
    for key in keys {
        if key.algorithm() == SigAlg::MlDsa87 && suite != Suite::Cnsa2 {
            return Err(Error::config(
                path,
                format!(
                    "this bundle uses the {} suite; ML-DSA-87 signatures are carried only by cnsa2 bundles (key {})",
                    suite.name(),
                    key.id()
                ),
                "sign with a minisign key, or have the release engineer pack with `--suite cnsa2`",
            ));
        }
        let name = file_name(role, key.id(), key.algorithm());
        if frame.signatures.iter().any(|(n, _)| *n == name) {
            return Err(Error::config(
                path,
                format!("key {} has already signed this bundle as {role}", key.id()),
                "nothing to do for that key; `airlock inspect` lists the signers",
            ));
        }
        let (sig_name, sig_text) =
            key.sign_manifest(&signed.manifest, &signed.frame.manifest, role, now)?;
        frame
            .signatures
            .push((sig_name.clone(), sig_text.into_bytes()));
        added.push(AddedSignature {
            file: sig_name,
            key_id: key.id().to_string(),
            algorithm: key.algorithm(),
        });
    }
    frame.signatures.sort();
    let payload_bytes = bundle.footer.manifest_offset;
    let compressed = frame
        .encode(signed.manifest.layout.zstd_level)
        .ctx("compress the manifest frame for", path)?;
    let target = output.unwrap_or(path).to_path_buf();
    match output {
        None => {
            // The previous manifest frame and footer are saved durably first: an interrupted
            // rewrite then loses nothing (see `refuse_after_interrupted_sign`).
            let undo_path = undo_path(path);
            let mut old_tail = vec![0u8; (bundle.len - payload_bytes) as usize];
            std::os::unix::fs::FileExt::read_exact_at(&bundle.file, &mut old_tail, payload_bytes)
                .ctx("read", path)?;
            let undo = AtomicOutput::create(&undo_path)?;
            undo.handle()?
                .write_all(&old_tail)
                .ctx("write", undo.temp_path())?;
            undo.commit()?;
            let file = OpenOptions::new()
                .write(true)
                .open(path)
                .ctx("open for writing", path)?;
            file.set_len(payload_bytes).ctx("truncate", path)?;
            let mut writer = BufWriter::new(file);
            writer.seek(SeekFrom::End(0)).ctx("seek in", path)?;
            write_tail(&mut writer, &compressed, payload_bytes, path)?;
            let file = writer
                .into_inner()
                .map_err(|e| Error::io("write", path, e.into_error()))?;
            file.sync_all().ctx("sync", path)?;
            std::fs::remove_file(&undo_path).ctx("remove", &undo_path)?;
        }
        Some(out) => {
            let temp = AtomicOutput::create(out)?;
            let mut dest = temp.handle()?;
            copy_range(
                &bundle.file,
                path,
                0,
                payload_bytes,
                &mut dest,
                temp.temp_path(),
            )?;
            let mut writer = BufWriter::new(dest);
            write_tail(&mut writer, &compressed, payload_bytes, temp.temp_path())?;
            writer
                .into_inner()
                .map_err(|e| Error::io("write", out, e.into_error()))?;
            temp.commit()?;
        }
    }
    let first = added
        .first()
        .ok_or_else(|| Error::Internal("countersign called without a key".into()))?;
    Ok(SignReport {
        output: target,
        signature: first.file.clone(),
        key_id: first.key_id.clone(),
        role,
        signatures: added,
    })
}

/// Where an in-place `sign` keeps the bundle's previous manifest frame and footer while it
/// rewrites them.
pub(crate) fn undo_path(bundle: &Path) -> PathBuf {
    let mut name = bundle.as_os_str().to_owned();
    name.push(".airlock-sign-undo");
    PathBuf::from(name)
}

/// An undo file beside the bundle means an earlier in-place `sign` was interrupted: the bundle may
/// lack its manifest frame. Says exactly how to restore it, and refuses until that is done.
fn refuse_after_interrupted_sign(bundle: &Path) -> Result<()> {
    let undo = undo_path(bundle);
    if std::fs::symlink_metadata(&undo).is_err() {
        return Ok(());
    }
    // Bounded: the old tail is a manifest frame (at most 16 MiB) and a footer.
    let tail = crate::util::fs::read_input(
        &undo,
        "sign undo file",
        crate::format::MANIFEST_FRAME_CAP + FOOTER_LEN,
    )?;
    // The undo file is the old tail: manifest frame then footer; the footer says where it began.
    let payload = tail
        .len()
        .checked_sub(FOOTER_LEN as usize)
        .map(|at| &tail[at..])
        .and_then(|bytes| {
            let offset = u64::from_le_bytes(bytes[16..24].try_into().expect("8 bytes"));
            Footer::decode(bytes, offset.checked_add(tail.len() as u64)?).ok()
        })
        .map(|f| f.manifest_offset);
    let hint = match payload {
        Some(n) => format!(
            "restore the previous manifest frame, then sign again: truncate -s {n} '{}' && cat '{}' >> '{}' && rm '{}'",
            bundle.display(),
            undo.display(),
            bundle.display(),
            undo.display()
        ),
        None => format!(
            "{} is damaged: restore the bundle from its source",
            undo.display()
        ),
    };
    Err(Error::config(
        bundle,
        format!(
            "an earlier `airlock sign` was interrupted; {} holds the previous manifest frame",
            undo.display()
        ),
        hint,
    ))
}

/// Signs a policy file as the `policy` role and writes the signature to `output`. A minisign key
/// writes a minisign signature over the file's exact bytes (default `POLICY.minisig`, the same
/// file `minisign -S` writes); an ML-DSA-87 key writes an ML-DSA signature file over a
/// [`PolicyStatement`] binding the file's SHA-384 (default `policy-KEYID.mldsa87` beside it).
/// Returns the signature path.
pub fn sign_policy(
    policy_path: &Path,
    key: &Signer,
    now: crate::format::time::Timestamp,
    output: Option<&Path>,
) -> Result<PathBuf> {
    let bytes = crate::util::fs::read_input(
        policy_path,
        "policy",
        crate::format::manifest_frame::MAX_COPY_BYTES,
    )?;
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        Error::config(
            policy_path,
            "the policy is not UTF-8 text",
            "save it as UTF-8 TOML",
        )
    })?;
    let policy = crate::trust::policy::Policy::parse(text)
        .map_err(|e| Error::config(policy_path, e, "fix the policy before signing it"))?;
    // minisign signs the bytes themselves, so its statement (the trusted comment) is only
    // informative and keeps the SHA-256 it always had; an ML-DSA signature signs the statement,
    // which must bind the file by SHA-384 (CNSA 2.0).
    let statement = |alg: crate::format::digest::HashAlg| {
        PolicyStatement {
            id: policy.id.clone(),
            version: policy.version,
            digest: alg.digest(&bytes),
            signed: now,
        }
        .render()
    };
    let (signature, default_name) = match key.algorithm() {
        SigAlg::Ed25519 => {
            let comment = statement(crate::format::digest::HashAlg::Sha256);
            let sig = key.sign_minisign(&bytes, &comment, "airlock policy signature")?;
            let mut beside = policy_path.as_os_str().to_owned();
            beside.push(".minisig");
            (sig, PathBuf::from(beside))
        }
        SigAlg::MlDsa87 => {
            let sig = key.sign_statement(&statement(crate::format::digest::HashAlg::Sha384))?;
            (
                sig,
                policy_path.with_file_name(format!("policy-{}.mldsa87", key.id())),
            )
        }
    };
    let out = output.map(Path::to_path_buf).unwrap_or(default_name);
    crate::util::output::write_atomic(&out, signature.as_bytes())?;
    Ok(out)
}
