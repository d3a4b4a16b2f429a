//! The single-file bundle (`docs/format.md` section 1): footer, then the bounded manifest frame it
//! points at. Nothing here trusts a signer; `trust::authenticate` does that.
use super::payload::{FrameSource, open_frame, read_frames};
use super::{SignedManifest, read_region, refuse_stdin};
use crate::error::{Check, Error, IoContext, Result};
use crate::format::{FOOTER_LEN, Footer};
use crate::util::pipeline::BufferPool;
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
    let footer = Footer::decode(&footer_bytes, len).map_err(|e| {
        if footer_bytes[0..8] == crate::format::footer::skippable_header((FOOTER_LEN - 8) as u32)
        {
            return reject(Check::Footer, e);
        }
        // No airlock footer at all: say what the file is instead, so a plain tar.zst is called
        // what it is, and a cut-short bundle too.
        match walk_zstd(&file, len) {
            Walk::Complete => reject(
                Check::Footer,
                "not an airlock bundle: the file is a complete zstd stream (a plain .tar.zst?) with no airlock footer at its end".into(),
            )
            .with_hint(
                "an airlock bundle is the file `airlock pack` writes (NAME-VERSION.airlock.tar.zst); ask the sender for it. A plain tar.zst carries no signed manifest, so airlock cannot verify it",
            ),
            Walk::NotZstd => reject(
                Check::Footer,
                "not an airlock bundle: the file is not zstd-compressed (an airlock bundle is a sequence of zstd frames ending with an airlock footer)".into(),
            )
            .with_hint(
                "pass the NAME-VERSION.airlock.tar.zst file `airlock pack` wrote (or a volume .001 ... or a .airlock-delta)",
            ),
            Walk::Truncated => reject(
                Check::Footer,
                format!("{e}: the file ends inside a zstd frame, so it was cut short"),
            ),
            Walk::Trailing | Walk::Unknown => reject(Check::Footer, e),
        }
    })?;
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

/// What a file without an airlock footer turned out to be, from its zstd frame and block headers
/// (`walk_zstd`).
#[derive(Debug, PartialEq, Eq)]
enum Walk {
    /// Whole zstd (and skippable) frames, back to back, ending exactly at the end of the file.
    Complete,
    /// Zstd frames, but the last one runs past the end of the file.
    Truncated,
    /// Zstd frames followed by bytes that are neither a frame nor a skippable frame.
    Trailing,
    /// Not a zstd frame at offset 0.
    NotZstd,
    /// Not decided within the bound (or unreadable).
    Unknown,
}

/// Walks the zstd frame and block headers of `file` (RFC 8878 sections 3.1.1-3.1.2) without
/// decompressing anything, only to word the refusal of a file with no airlock footer. Only
/// headers are read (3 bytes per block), at most `MAX_BLOCKS` of them, so a hostile file costs
/// at most a few million small reads.
fn walk_zstd(file: &File, len: u64) -> Walk {
    const ZSTD_MAGIC: u32 = 0xFD2F_B528;
    const MAX_BLOCKS: u32 = 1 << 22;
    let read = |pos: u64, buf: &mut [u8]| -> Option<()> {
        let end = pos.checked_add(buf.len() as u64)?;
        (end <= len).then_some(())?;
        file.read_exact_at(buf, pos).ok()
    };
    let mut pos = 0u64;
    let mut blocks = 0u32;
    loop {
        if pos == len {
            return if pos == 0 {
                Walk::NotZstd
            } else {
                Walk::Complete
            };
        }
        let mut magic = [0u8; 4];
        if read(pos, &mut magic).is_none() {
            return if pos == 0 {
                Walk::NotZstd
            } else {
                Walk::Trailing
            };
        }
        let magic = u32::from_le_bytes(magic);
        if magic & 0xFFFF_FFF0 == 0x184D_2A50 {
            let mut size = [0u8; 4];
            if read(pos + 4, &mut size).is_none() {
                return Walk::Truncated;
            }
            pos = pos + 8 + u64::from(u32::from_le_bytes(size));
            if pos > len {
                return Walk::Truncated;
            }
            continue;
        }
        if magic != ZSTD_MAGIC {
            return if pos == 0 {
                Walk::NotZstd
            } else {
                Walk::Trailing
            };
        }
        let mut fhd = [0u8; 1];
        if read(pos + 4, &mut fhd).is_none() {
            return Walk::Truncated;
        }
        let fhd = fhd[0];
        if fhd & 0x08 != 0 {
            // The reserved bit: not a frame this walk understands.
            return if pos == 0 {
                Walk::NotZstd
            } else {
                Walk::Trailing
            };
        }
        let single_segment = fhd & 0x20 != 0;
        let fcs = match fhd >> 6 {
            0 if single_segment => 1,
            0 => 0,
            1 => 2,
            2 => 4,
            _ => 8,
        };
        let dict = [0u64, 1, 2, 4][usize::from(fhd & 3)];
        pos += 4 + 1 + u64::from(!single_segment) + dict + fcs;
        loop {
            let mut bh = [0u8; 3];
            if read(pos, &mut bh).is_none() {
                return Walk::Truncated;
            }
            let bh = u32::from(bh[0]) | u32::from(bh[1]) << 8 | u32::from(bh[2]) << 16;
            let content = match (bh >> 1) & 3 {
                1 => 1,
                3 => return Walk::Unknown,
                _ => u64::from(bh >> 3),
            };
            pos += 3 + content;
            blocks += 1;
            if pos > len {
                return Walk::Truncated;
            }
            if blocks > MAX_BLOCKS {
                return Walk::Unknown;
            }
            if bh & 1 == 1 {
                break;
            }
        }
        if fhd & 0x04 != 0 {
            pos += 4;
        }
        if pos > len {
            return Walk::Truncated;
        }
    }
}

/// Default file name of a bundle: `NAME-VERSION.airlock.tar.zst`.
pub fn default_output_name(name: &str, version: &str) -> String {
    format!("{name}-{version}.airlock.tar.zst")
}

/// The payload frames of a single-file bundle, back to back from its start.
pub struct BundleFrames<'a>(pub &'a OpenedBundle);

impl FrameSource for BundleFrames<'_> {
    fn read(&self, pool: &BufferPool, emit: &mut dyn FnMut(usize, Vec<u8>) -> bool) -> Result<()> {
        let b = self.0;
        let frames = &b.signed.manifest.frames;
        read_frames(
            &b.signed.path,
            &b.file,
            0,
            frames,
            0..frames.len(),
            pool,
            emit,
        )
    }

    fn open(&self, index: usize, bytes: &[u8], into: Vec<u8>) -> Result<Vec<u8>> {
        let b = self.0;
        open_frame(
            &b.signed.path,
            "",
            index,
            &b.signed.manifest.frames[index],
            bytes,
            into,
        )
    }
}
