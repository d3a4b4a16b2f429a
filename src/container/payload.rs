//! Reading a bundle's payload: frames read from their container, each checked against the signed
//! manifest's sha256 before it reaches the zstd decoder ([`open_frame`]), decompressed on the
//! ordered pipeline, then walked as one tar stream against the manifest ([`walk_payload`]): every
//! header compared with the canonical one, every file's size and sha256 checked as it is written.
use crate::error::{Check, Error, IoContext, Result};
use crate::format::digest::HashingWriter;
use crate::format::frame::{decompress_frame, max_compressed_frame};
use crate::format::manifest::{FileEntry, FrameRecord};
use crate::format::{self, BLOCK};
use crate::util::pipeline;
use crate::util::progress::Progress;

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

/// Recovers a library error carried through an `io::Error` by a reader adapter.
pub(crate) fn unwrap_io(err: io::Error, op: &'static str, path: &Path) -> Error {
    if err.get_ref().is_some_and(|inner| inner.is::<Error>()) {
        *err.into_inner()
            .expect("checked")
            .downcast::<Error>()
            .expect("checked")
    } else {
        Error::io(op, path, err)
    }
}

/// Who is named when a frame is bad: the bundle itself (`""`), or where the frame was read from,
/// e.g. "volume 2 of 3 (re-transfer this volume)" or "the delta (re-transfer it)".
fn prefixed(place: &str, text: String) -> String {
    if place.is_empty() {
        text
    } else {
        format!("{place}: {text}")
    }
}

/// Checks a payload frame's compressed bytes against the signed manifest before any decoding.
pub(crate) fn verify_frame_digest(
    file: &Path,
    place: &str,
    index: usize,
    record: &FrameRecord,
    bytes: &[u8],
) -> Result<()> {
    let digest = record.digest.alg().digest(bytes);
    if digest != record.digest {
        let corrupted = if place.is_empty() {
            String::new()
        } else {
            format!("{place} is corrupted: ")
        };
        return Err(Error::rejected(
            file,
            Check::FrameDigest,
            format!(
                "{corrupted}payload frame {index} at offset {} has {} {}, the signed manifest says {}",
                record.offset,
                digest.alg().name(),
                digest.hex(),
                record.digest.hex()
            ),
        ));
    }
    Ok(())
}

/// Verifies a frame's digest, then decompresses it to exactly the length the manifest gives.
pub(crate) fn open_frame(
    file: &Path,
    place: &str,
    index: usize,
    record: &FrameRecord,
    bytes: &[u8],
) -> Result<Vec<u8>> {
    verify_frame_digest(file, place, index, record, bytes)?;
    let reject = |text: String| Error::rejected(file, Check::FrameDigest, prefixed(place, text));
    let out = decompress_frame(bytes, format::FRAME_SIZE)
        .map_err(|e| reject(format!("payload frame {index}: {e}")))?;
    if out.len() as u64 != record.uncompressed_size {
        return Err(reject(format!(
            "payload frame {index} decompressed to {} bytes, the manifest says {}",
            out.len(),
            record.uncompressed_size
        )));
    }
    Ok(out)
}

/// Reads the next payload frame (`index`, described by `record`) from `reader`, refusing a frame
/// larger than a frame can legitimately be before allocating for it.
pub(crate) fn read_frame(
    file: &Path,
    reader: &mut impl Read,
    index: usize,
    record: &FrameRecord,
) -> Result<Vec<u8>> {
    if record.compressed_size > max_compressed_frame() {
        return Err(Error::rejected(
            file,
            Check::FrameDigest,
            format!(
                "payload frame {index} declares {} compressed bytes, over the cap",
                record.compressed_size
            ),
        ));
    }
    let mut bytes = vec![0u8; record.compressed_size as usize];
    reader.read_exact(&mut bytes).ctx("read", file)?;
    Ok(bytes)
}

/// Reads the payload frames `indices` of `frames`, stored back to back in that order from
/// `offset` of `file`; hands each (index, compressed bytes) to `emit` and stops early when it
/// returns false.
pub(crate) fn read_frames(
    path: &Path,
    file: &File,
    offset: u64,
    frames: &[FrameRecord],
    indices: impl IntoIterator<Item = usize>,
    emit: &mut dyn FnMut(usize, Vec<u8>) -> bool,
) -> Result<()> {
    use std::io::{Seek, SeekFrom};
    let mut handle = file.try_clone().ctx("open", path)?;
    handle.seek(SeekFrom::Start(offset)).ctx("seek in", path)?;
    let mut reader = io::BufReader::with_capacity(1 << 20, handle);
    for index in indices {
        if !emit(index, read_frame(path, &mut reader, index, &frames[index])?) {
            break;
        }
    }
    Ok(())
}

/// Where a bundle's payload frames are read from, in manifest order, and who is named when one
/// is bad: the bundle file itself, a set of volumes, or a delta and its base.
pub trait FrameSource: Sync {
    /// Reads every payload frame in manifest order, handing each (index, compressed bytes) to
    /// `emit`; stops early when `emit` returns false.
    fn read(&self, emit: &mut dyn FnMut(usize, Vec<u8>) -> bool) -> Result<()>;
    /// Checks frame `index`'s sha256 against the signed manifest, then decompresses it.
    fn open(&self, index: usize, bytes: &[u8]) -> Result<Vec<u8>>;
}

/// Checks the payload frames `indices` of `frames`, stored back to back in that order from the
/// start of `file`, on `threads` workers: each frame's sha256 before anything decodes it, and with
/// `deep` its decompressed length too. `place` names the container in messages (`""` for a bundle).
#[allow(clippy::too_many_arguments)]
pub(crate) fn check_frames(
    path: &Path,
    file: &File,
    frames: &[FrameRecord],
    indices: &[usize],
    place: &str,
    deep: bool,
    threads: usize,
) -> Result<()> {
    let progress = Progress::start(
        "verify",
        indices.iter().map(|&i| frames[i].compressed_size).sum(),
    );
    pipeline::run(
        threads,
        threads + 2,
        |emitter| {
            read_frames(
                path,
                file,
                0,
                frames,
                indices.iter().copied(),
                &mut |i, bytes| {
                    progress.advance(bytes.len() as u64);
                    emitter.emit((i, bytes))
                },
            )
        },
        |(i, bytes): (usize, Vec<u8>)| {
            if deep {
                open_frame(path, place, i, &frames[i], &bytes).map(drop)
            } else {
                verify_frame_digest(path, place, i, &frames[i], &bytes)
            }
        },
        |ordered| {
            let mut checked = 0;
            for result in ordered {
                result?;
                checked += 1;
            }
            if checked != indices.len() {
                return Err(Error::Internal(format!(
                    "only {checked} of {} frames were checked",
                    indices.len()
                )));
            }
            Ok(())
        },
    )?;
    progress.finish();
    Ok(())
}

/// Streams the payload of the bundle whose manifest is `manifest` (read from `bundle`): frames
/// from `source`, verified and decompressed on `threads` workers, then walked against the
/// manifest with `begin`/`end` deciding where each file's bytes go.
pub(crate) fn stream_payload<W: Write>(
    bundle: &Path,
    manifest: &crate::format::manifest::Manifest,
    source: &dyn FrameSource,
    threads: usize,
    begin: impl FnMut(&FileEntry) -> Result<W>,
    end: impl FnMut(&FileEntry, W) -> Result<()>,
) -> Result<()> {
    let progress = Progress::start("payload", manifest.layout.payload_bytes);
    pipeline::run(
        threads,
        threads + 2,
        |emitter| {
            source.read(&mut |i, bytes| {
                progress.advance(bytes.len() as u64);
                emitter.emit((i, bytes))
            })
        },
        |(i, bytes): (usize, Vec<u8>)| source.open(i, &bytes),
        |ordered| {
            walk_payload(
                bundle,
                FrameChain::new(ordered),
                &manifest.files,
                manifest.bundle.mtime,
                begin,
                end,
            )
        },
    )?;
    progress.finish();
    Ok(())
}

/// Walks the decompressed payload stream against the manifest: for each file in order, the header
/// must be the canonical one, the content goes to the writer `begin` returns (hashed on the way),
/// the padding must be zero; `end` receives the writer once size and sha256 match. After the last
/// file the stream must end.
pub(crate) fn walk_payload<R: Read, W: Write>(
    bundle: &Path,
    mut reader: R,
    files: &[FileEntry],
    mtime: u64,
    mut begin: impl FnMut(&FileEntry) -> Result<W>,
    mut end: impl FnMut(&FileEntry, W) -> Result<()>,
) -> Result<()> {
    let reject = |detail: String| Error::rejected(bundle, Check::TarEntry, detail);
    let read_err = |e: io::Error| unwrap_io(e, "read", bundle);
    let mut header = [0u8; 512];
    for entry in files {
        read_full(&mut reader, &mut header)
            .map_err(read_err)?
            .then_some(())
            .ok_or_else(|| {
                reject(format!(
                    "the payload ends before the entry for `{}`",
                    entry.path
                ))
            })?;
        let canonical = format::canonical_header(&entry.path, entry.size, entry.mode, mtime);
        if header != canonical {
            return Err(reject(format!(
                "entry for `{}`: {}",
                entry.path,
                format::describe_header_difference(&header, &canonical)
            )));
        }
        let sink = HashingWriter::new(begin(entry)?, entry.digest.alg());
        let mut limited = (&mut reader).take(entry.size);
        let mut sink = sink;
        let copied = copy_chunked(&mut limited, &mut sink).map_err(|e| match e {
            CopyError::Read(e) => read_err(e),
            CopyError::Write(e) => unwrap_io(e, "write", Path::new(entry.path.as_str())),
        })?;
        let (writer, digest, _) = sink
            .finish()
            .map_err(|e| unwrap_io(e, "write", Path::new(entry.path.as_str())))?;
        if copied != entry.size {
            return Err(reject(format!(
                "`{}` is truncated: {copied} of {} bytes",
                entry.path, entry.size
            )));
        }
        if digest != entry.digest {
            return Err(Error::rejected(
                bundle,
                Check::FileDigest,
                format!(
                    "`{}` has {} {}, the signed manifest says {}",
                    entry.path,
                    digest.alg().name(),
                    digest.hex(),
                    entry.digest.hex()
                ),
            ));
        }
        let pad = format::padding(entry.size) as usize;
        let mut padding = [0u8; BLOCK as usize];
        if !read_full(&mut reader, &mut padding[..pad]).map_err(read_err)?
            || padding.iter().any(|&b| b != 0)
        {
            return Err(reject(format!(
                "padding after `{}` is missing or not zero",
                entry.path
            )));
        }
        end(entry, writer)?;
    }
    let mut extra = [0u8; 1];
    if read_full(&mut reader, &mut extra).map_err(read_err)? {
        return Err(reject(
            "the payload holds data after the last file the manifest lists".into(),
        ));
    }
    Ok(())
}

/// Fills `buf` completely; `Ok(false)` if the stream ended first (at any point).
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => return Ok(false),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

enum CopyError {
    Read(io::Error),
    Write(io::Error),
}

fn copy_chunked(
    reader: &mut impl Read,
    writer: &mut impl Write,
) -> std::result::Result<u64, CopyError> {
    let mut buf = vec![0u8; crate::util::fs::CHUNK];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        writer.write_all(&buf[..n]).map_err(CopyError::Write)?;
        total += n as u64;
    }
}

/// A reader over decompressed frames delivered in order by the pipeline.
pub struct FrameChain<I> {
    frames: I,
    current: Vec<u8>,
    pos: usize,
}

impl<I: Iterator<Item = Result<Vec<u8>>>> FrameChain<I> {
    /// Reads the frames `frames` yields, one after the other.
    pub fn new(frames: I) -> Self {
        FrameChain {
            frames,
            current: Vec::new(),
            pos: 0,
        }
    }
}

impl<I: Iterator<Item = Result<Vec<u8>>>> Read for FrameChain<I> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.current.len() {
            match self.frames.next() {
                None => return Ok(0),
                Some(Ok(frame)) => {
                    self.current = frame;
                    self.pos = 0;
                }
                Some(Err(e)) => return Err(io::Error::other(e)),
            }
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
