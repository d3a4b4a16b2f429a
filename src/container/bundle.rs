//! The single-file bundle (`docs/format.md` section 1): footer, then the bounded manifest frame it
//! points at. Nothing here trusts a signer; `trust::authenticate` does that.
use super::payload::{FrameSource, open_frame, read_frames};
use super::{SignedManifest, read_region, refuse_stdin};
use crate::error::{Check, Error, IoContext, Result};
use crate::format::{FOOTER_LEN, Footer};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// A bundle whose manifest frame has been read and checked for form (not yet for trust).
pub struct OpenedBundle {
    /// The manifest frame it carries.
    pub signed: SignedManifest,
    /// The open file.
    pub file: File,
    /// File length.
    pub len: u64,
    /// The footer.
    pub footer: Footer,
}

/// Opens the bundle at `path` and reads its manifest frame.
pub fn open(path: &Path) -> Result<OpenedBundle> {
    refuse_stdin(path)?;
    let file = crate::util::fs::open_input(path, "bundle")?;
    let len = file.metadata().ctx("read", path)?.len();
    let reject = |check: Check, detail: String| Error::rejected(path, check, detail);
    if len < FOOTER_LEN {
        return Err(reject(
            Check::Footer,
            format!("the file is {len} bytes long, too short for a bundle"),
        ));
    }
    let mut footer_bytes = [0u8; FOOTER_LEN as usize];
    file.read_exact_at(&mut footer_bytes, len - FOOTER_LEN)
        .ctx("read", path)?;
    let footer = Footer::decode(&footer_bytes, len).map_err(|e| reject(Check::Footer, e))?;
    let compressed = read_region(&file, path, footer.manifest_offset, footer.manifest_len)?;
    let signed = SignedManifest::decode(path, compressed)?;
    if signed.manifest.layout.payload_bytes != footer.manifest_offset {
        return Err(reject(
            Check::Footer,
            format!(
                "the footer places the manifest frame at {}, the manifest says the payload is {} bytes",
                footer.manifest_offset, signed.manifest.layout.payload_bytes
            ),
        ));
    }
    Ok(OpenedBundle {
        signed,
        file,
        len,
        footer,
    })
}

/// Default file name of a bundle: `NAME-VERSION.airlock.tar.zst`.
pub fn default_output_name(name: &str, version: &str) -> String {
    format!("{name}-{version}.airlock.tar.zst")
}

/// The payload frames of a single-file bundle, back to back from its start.
pub struct BundleFrames<'a>(pub &'a OpenedBundle);

impl FrameSource for BundleFrames<'_> {
    fn read(&self, emit: &mut dyn FnMut(usize, Vec<u8>) -> bool) -> Result<()> {
        let b = self.0;
        let frames = &b.signed.manifest.frames;
        read_frames(&b.signed.path, &b.file, 0, frames, 0..frames.len(), emit)
    }

    fn open(&self, index: usize, bytes: &[u8]) -> Result<Vec<u8>> {
        let b = self.0;
        open_frame(
            &b.signed.path,
            "",
            index,
            &b.signed.manifest.frames[index],
            bytes,
        )
    }
}
