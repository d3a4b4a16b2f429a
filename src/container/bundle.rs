//! Opening a bundle: footer, bounded manifest frame, canonical manifest, checksum file and
//! structurally valid signatures. Nothing here trusts a signer yet; `trust::evaluate` does that.
use crate::error::{Check, Error, IoContext, Result};
use crate::format::digest::{Digest, sha256};
use crate::format::manifest::Manifest;
use crate::format::manifest_frame::ManifestFrame;
use crate::format::signature::ParsedSignature;
use crate::format::{FOOTER_LEN, Footer};
use crate::trust::enforce::{Governed, is_governed, load_governed};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// A bundle whose manifest frame has been read and checked for form (not yet for trust).
pub struct OpenedBundle {
    /// Where it was read from.
    pub path: PathBuf,
    /// The open file.
    pub file: File,
    /// File length.
    pub len: u64,
    /// The footer.
    pub footer: Footer,
    /// The decoded manifest frame.
    pub frame: ManifestFrame,
    /// The parsed manifest.
    pub manifest: Manifest,
    /// sha256 of the manifest bytes.
    pub manifest_sha256: Digest,
    /// Signature files, parsed and bound to this manifest.
    pub signatures: Vec<ParsedSignature>,
    /// The policy and safeguards the bundle carries (from the manifest frame's copies).
    pub governed: Governed,
}

/// Opens and reads the manifest frame of the bundle at `path`.
pub fn open(path: &Path) -> Result<OpenedBundle> {
    if path.as_os_str() == "-" {
        return Err(Error::config(
            "-",
            "reading a bundle from standard input is not supported: airlock checks the manifest at the end of the file before anything else, which needs a seekable file",
            "save the bundle to a file first, then pass its path",
        ));
    }
    let mut file = crate::util::fs::open_input(path, "bundle")?;
    let len = file.metadata().ctx("read", path)?.len();
    let reject = |check: Check, detail: String| Error::rejected(path, check, detail);
    if len < FOOTER_LEN {
        return Err(reject(
            Check::Footer,
            format!("the file is {len} bytes long, too short for a bundle"),
        ));
    }
    let mut footer_bytes = [0u8; FOOTER_LEN as usize];
    file.seek(SeekFrom::Start(len - FOOTER_LEN))
        .ctx("seek in", path)?;
    file.read_exact(&mut footer_bytes).ctx("read", path)?;
    let footer = Footer::decode(&footer_bytes, len).map_err(|e| reject(Check::Footer, e))?;
    let mut compressed = vec![0u8; footer.manifest_len as usize];
    file.seek(SeekFrom::Start(footer.manifest_offset))
        .ctx("seek in", path)?;
    file.read_exact(&mut compressed).ctx("read", path)?;
    let bundle = open_embedded(path, file, len, footer, &compressed)?;
    if bundle.manifest.layout.payload_bytes != footer.manifest_offset {
        return Err(reject(
            Check::Footer,
            format!(
                "the footer places the manifest frame at {}, the manifest says the payload is {} bytes",
                footer.manifest_offset, bundle.manifest.layout.payload_bytes
            ),
        ));
    }
    Ok(bundle)
}

/// The copies of policy and safeguard files must be exactly the manifest's governed files, with
/// the manifest's digests, and parse; the manifest's `[policy]` must describe the carried policy.
fn check_copies(
    manifest: &Manifest,
    frame: &ManifestFrame,
) -> std::result::Result<Governed, (Check, String)> {
    let governed_files: Vec<_> = manifest
        .files
        .iter()
        .filter(|f| is_governed(&f.path))
        .collect();
    if governed_files.len() != frame.copies.len() {
        return Err((
            Check::ManifestFrame,
            format!(
                "the manifest lists {} policy/safeguard files but the manifest frame copies {}",
                governed_files.len(),
                frame.copies.len()
            ),
        ));
    }
    for (f, (path, bytes)) in governed_files.iter().zip(&frame.copies) {
        if f.path != *path || f.sha256 != sha256(bytes) {
            return Err((
                Check::ManifestFrame,
                format!(
                    "the copy of `{path}` does not match the manifest's `{}`",
                    f.path
                ),
            ));
        }
    }
    let governed = load_governed(&frame.copies).map_err(|e| (Check::Policy, e))?;
    if governed.policy.as_ref().map(|p| p.reference()) != manifest.policy {
        return Err((
            Check::Manifest,
            "the manifest's [policy] section does not describe the policy the bundle carries"
                .into(),
        ));
    }
    Ok(governed)
}

/// Reads a manifest frame that sits inside a file that is not a plain bundle — a volume or a delta
/// (`docs/format.md` section 7) — from its already-read compressed bytes `compressed`, found at
/// `footer.manifest_offset` of `file`. Applies every check [`open`] applies to the manifest frame
/// (cap, canonical manifest, mtime, checksum file, signature form) except the one tying the frame's
/// offset to the manifest's `payload_bytes`: in a volume or a delta the payload frames before it are
/// a subset of the bundle's. Callers check the container's own layout.
pub fn open_embedded(
    path: &Path,
    file: File,
    len: u64,
    footer: Footer,
    compressed: &[u8],
) -> Result<OpenedBundle> {
    let reject = |check: Check, detail: String| Error::rejected(path, check, detail);
    let frame = ManifestFrame::decode(compressed).map_err(|e| reject(Check::ManifestFrame, e))?;
    let manifest = Manifest::parse(&frame.manifest).map_err(|e| reject(Check::Manifest, e))?;
    if manifest.bundle.mtime != frame.mtime {
        return Err(reject(
            Check::ManifestFrame,
            "the manifest frame's entries do not carry the manifest's mtime".into(),
        ));
    }
    if frame.sums != manifest.checksum_file().as_bytes() {
        return Err(reject(
            Check::Checksums,
            "airlock/SHA256SUMS differs from the manifest's file list".into(),
        ));
    }
    let governed = check_copies(&manifest, &frame).map_err(|(check, e)| reject(check, e))?;
    let manifest_sha256 = sha256(&frame.manifest);
    let signatures = frame
        .signatures
        .iter()
        .map(|(name, bytes)| {
            ParsedSignature::parse(name, bytes, &manifest.bundle, &manifest_sha256)
        })
        .collect::<std::result::Result<Vec<_>, String>>()
        .map_err(|e| reject(Check::Signature, e))?;
    Ok(OpenedBundle {
        path: path.to_path_buf(),
        file,
        len,
        footer,
        frame,
        manifest,
        manifest_sha256,
        signatures,
        governed,
    })
}
