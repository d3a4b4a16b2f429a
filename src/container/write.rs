//! The write side's primitives, once for bundles, volumes and deltas: the tail every bundle ends
//! with (manifest frame, then footer) and the copy of a run of payload frames from one file into
//! another. Files appear atomically through `util::output::AtomicOutput`.
use crate::error::{Error, IoContext, Result};
use crate::format::MANIFEST_FRAME_CAP;
use crate::format::footer::{FOOTER_LEN, Footer};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Writes a bundle's tail after `payload_bytes` of payload: the compressed manifest frame, then
/// the footer pointing at it. Returns the bundle's length.
pub fn write_tail(
    writer: &mut impl Write,
    manifest_frame: &[u8],
    payload_bytes: u64,
    path: &Path,
) -> Result<u64> {
    let len = manifest_frame.len() as u64;
    if len > MANIFEST_FRAME_CAP {
        return Err(Error::config(
            path,
            "the manifest frame exceeds its 16 MiB cap",
            "split the release into several bundles",
        ));
    }
    let footer = Footer {
        manifest_offset: payload_bytes,
        manifest_len: len,
    };
    writer.write_all(manifest_frame).ctx("write", path)?;
    writer.write_all(&footer.encode()).ctx("write", path)?;
    writer.flush().ctx("write", path)?;
    Ok(payload_bytes + len + FOOTER_LEN)
}

/// Copies the `len` bytes at `offset` of `source` (a run of whole payload frames) to `dest`.
/// `std::io::copy` between files uses `copy_file_range` where the kernel offers it.
pub fn copy_range(
    source: &File,
    source_path: &Path,
    offset: u64,
    len: u64,
    dest: &mut File,
    dest_path: &Path,
) -> Result<()> {
    let mut from = source.try_clone().ctx("open", source_path)?;
    from.seek(SeekFrom::Start(offset))
        .ctx("seek in", source_path)?;
    let copied = std::io::copy(&mut from.take(len), dest).ctx("write", dest_path)?;
    if copied != len {
        return Err(Error::io(
            "read",
            source_path,
            std::io::ErrorKind::UnexpectedEof.into(),
        ));
    }
    Ok(())
}
