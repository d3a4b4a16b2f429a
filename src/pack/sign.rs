//! `airlock sign`: adds a countersignature (for example the transfer officer's) by rewriting only
//! the manifest frame and the footer; the payload frames are not touched or recompressed.
use crate::container::write::{copy_range, write_tail};
use crate::container::{Container, Opened, open_kind};
use crate::error::{Error, IoContext, Result};
use crate::format::signature::{Role, file_name};
use crate::format::{FOOTER_LEN, Footer};
use crate::trust::keys::{SigningKey, sign_manifest};
use crate::util::output::AtomicOutput;
use std::fs::OpenOptions;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// What `sign` did.
#[derive(Debug, serde::Serialize)]
pub struct SignReport {
    /// The bundle written.
    pub output: PathBuf,
    /// The signature file added.
    pub signature: String,
    /// The signer's key id.
    pub key_id: String,
    /// The role signed as.
    pub role: Role,
}

/// Adds `key`'s signature as `role` to the bundle at `path`, in place or into `output`.
pub fn countersign(
    path: &Path,
    key: &SigningKey,
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
    let name = file_name(role, &key.id);
    if signed.frame.signatures.iter().any(|(n, _)| *n == name) {
        return Err(Error::config(
            path,
            format!("key {} has already signed this bundle as {role}", key.id),
            "nothing to do; `airlock inspect` lists the signers",
        ));
    }
    let (sig_name, sig_text) = sign_manifest(
        key,
        &signed.frame.manifest,
        &signed.manifest.bundle,
        role,
        now,
    )
    .map_err(Error::Environment)?;
    let mut frame = signed.frame.clone();
    frame
        .signatures
        .push((sig_name.clone(), sig_text.into_bytes()));
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
    Ok(SignReport {
        output: target,
        signature: sig_name,
        key_id: key.id.clone(),
        role,
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

/// Signs a policy file as the `policy` role: writes a minisign signature over its exact bytes to
/// `output` (default: beside it, `POLICY.minisig`). Returns the signature path.
pub fn sign_policy(
    policy_path: &Path,
    key: &SigningKey,
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
    let comment = format!(
        "airlock-policy/1 id={} version={} sha256={} signed={}",
        policy.id,
        policy.version,
        crate::format::digest::hex(&crate::format::digest::sha256(&bytes)),
        now
    );
    let sig = minisign::sign(
        Some(&key.public),
        &key.secret,
        std::io::Cursor::new(&bytes),
        Some(&comment),
        Some("airlock policy signature"),
    )
    .map_err(|e| Error::Environment(format!("signing failed: {e}")))?;
    let out = output.map(Path::to_path_buf).unwrap_or_else(|| {
        let mut p = policy_path.as_os_str().to_owned();
        p.push(".minisig");
        PathBuf::from(p)
    });
    crate::util::output::write_atomic(&out, sig.into_string().as_bytes())?;
    Ok(out)
}
