//! Reading a bundle's payload: frames read from their container, each checked against the signed
//! manifest's sha256 before it reaches the zstd decoder ([`open_frame`]), decompressed on the
//! ordered pipeline, then walked as one tar stream against the manifest ([`walk_payload`]): every
//! header compared with the canonical one, every file's size and sha256 checked as it is written.
use crate::error::{Check, Error, IoContext, Result};
use crate::format::digest::HashingWriter;
use crate::format::frame::{decompress_frame_into, max_compressed_frame};
use crate::format::manifest::{FileEntry, FrameRecord};
use crate::format::{self, BLOCK};
use crate::util::pipeline::{self, BufferPool};
use crate::util::progress::Progress;

use std::fs::File;
use std::io::{self, BufRead, Read, Write};
use std::path::Path;

pub(crate) use crate::error::unwrap_io;

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
    compare_frame_digest(
        file,
        place,
        index,
        record,
        record.digest.alg().digest(bytes),
    )
}

/// Compares a payload frame's computed digest with the one the signed manifest gives.
fn compare_frame_digest(
    file: &Path,
    place: &str,
    index: usize,
    record: &FrameRecord,
    digest: crate::format::digest::Digest,
) -> Result<()> {
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
    into: Vec<u8>,
) -> Result<Vec<u8>> {
    verify_frame_digest(file, place, index, record, bytes)?;
    let reject = |text: String| Error::rejected(file, Check::FrameDigest, prefixed(place, text));
    let out = decompress_frame_into(bytes, format::FRAME_SIZE, into)
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

/// Reads the next payload frame (`index`, described by `record`) from `reader` into `bytes` (a
/// pooled buffer; its old contents are overwritten), refusing a frame larger than a frame can
/// legitimately be before allocating for it.
pub(crate) fn read_frame(
    file: &Path,
    reader: &mut impl Read,
    index: usize,
    record: &FrameRecord,
    mut bytes: Vec<u8>,
) -> Result<Vec<u8>> {
    // Only growth is zero-filled; every byte is then overwritten by the read.
    bytes.resize(frame_len(file, index, record)?, 0);
    reader.read_exact(&mut bytes).ctx("read", file)?;
    Ok(bytes)
}

/// A payload frame's compressed length, refused before anything is allocated for it if it is
/// larger than a frame can legitimately be.
fn frame_len(file: &Path, index: usize, record: &FrameRecord) -> Result<usize> {
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
    Ok(record.compressed_size as usize)
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
    pool: &BufferPool,
    emit: &mut dyn FnMut(usize, Vec<u8>) -> bool,
) -> Result<()> {
    use std::io::{Seek, SeekFrom};
    let mut handle = file.try_clone().ctx("open", path)?;
    handle.seek(SeekFrom::Start(offset)).ctx("seek in", path)?;
    let mut reader = io::BufReader::with_capacity(1 << 20, handle);
    for index in indices {
        let bytes = read_frame(path, &mut reader, index, &frames[index], pool.take())?;
        if !emit(index, bytes) {
            break;
        }
    }
    Ok(())
}

/// Where a bundle's payload frames are read from, in manifest order, and who is named when one
/// is bad: the bundle file itself, a set of volumes, or a delta and its base.
pub trait FrameSource: Sync {
    /// Reads every payload frame in manifest order into buffers from `pool`, handing each
    /// (index, compressed bytes) to `emit`; stops early when `emit` returns false.
    fn read(&self, pool: &BufferPool, emit: &mut dyn FnMut(usize, Vec<u8>) -> bool) -> Result<()>;
    /// Checks frame `index`'s sha256 against the signed manifest, then decompresses it into
    /// `into` (a pooled buffer whose capacity is reused).
    fn open(&self, index: usize, bytes: &[u8], into: Vec<u8>) -> Result<Vec<u8>>;
}

/// Checks the payload frames `indices` of `frames`, stored back to back in that order from the
/// start of `file`, on `threads` workers: each frame's sha256 before anything decodes it, and with
/// `deep` its decompressed length too. `place` names the container in messages (`""` for a bundle).
///
/// Each worker reads its own frames at their offsets (`pread`), so reading and hashing run on
/// every core with no hand-over between threads. Without `deep` a frame is hashed as it is read,
/// [`CHUNK`](crate::util::fs::CHUNK) bytes at a time through one reused buffer per worker, so the
/// bytes are hashed while they are still in the core's cache and nothing is allocated per frame;
/// with `deep` the whole frame must be in memory (its digest is checked before zstd sees a byte),
/// in one reused buffer per worker, and so must its decompressed bytes, in another. Memory: at
/// most two frame-sized buffers per worker, whatever the bundle's size.
pub(crate) fn check_frames(
    path: &Path,
    file: &File,
    frames: &[FrameRecord],
    indices: &[usize],
    place: &str,
    deep: bool,
    threads: usize,
) -> Result<()> {
    use std::os::unix::fs::FileExt;
    let mut offsets = Vec::with_capacity(indices.len());
    let mut end = 0u64;
    for &i in indices {
        offsets.push(end);
        end = end.checked_add(frames[i].compressed_size).ok_or_else(|| {
            Error::rejected(
                path,
                Check::FrameDigest,
                format!("payload frame {i} ends past the largest possible file offset"),
            )
        })?;
    }
    let progress = Progress::start("verify", end);
    // Per worker: the read buffer and, with `deep`, the decompression buffer, both reused.
    let buffers = || (Vec::new(), Vec::new());
    pipeline::for_each_index(threads, indices.len(), buffers, |k, (buf, out)| {
        let (index, record, offset) = (indices[k], &frames[indices[k]], offsets[k]);
        let len = frame_len(path, index, record)?;
        if deep {
            buf.resize(len, 0);
            file.read_exact_at(buf, offset).ctx("read", path)?;
            *out = open_frame(path, place, index, record, buf, std::mem::take(out))?;
        } else {
            buf.resize(crate::util::fs::CHUNK.min(len), 0);
            let mut hasher = record.digest.alg().hasher();
            let mut done = 0usize;
            while done < len {
                let n = (len - done).min(buf.len());
                file.read_exact_at(&mut buf[..n], offset + done as u64)
                    .ctx("read", path)?;
                hasher.update(&buf[..n]);
                done += n;
            }
            compare_frame_digest(path, place, index, record, hasher.finish())?;
        }
        progress.advance(len as u64);
        Ok(())
    })?;
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
    // Every buffer in flight comes back: compressed ones once decompressed, decompressed ones
    // once walked.
    let compressed = BufferPool::for_run(threads);
    let decompressed = BufferPool::for_run(threads);
    pipeline::run(
        threads,
        threads + 2,
        |emitter| {
            source.read(&compressed, &mut |i, bytes| {
                progress.advance(bytes.len() as u64);
                emitter.emit((i, bytes))
            })
        },
        |(i, bytes): (usize, Vec<u8>)| {
            let opened = source.open(i, &bytes, decompressed.take());
            compressed.give(bytes);
            opened
        },
        |ordered| {
            walk_payload(
                bundle,
                FrameChain::new(ordered).recycling(&decompressed),
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
pub(crate) fn walk_payload<R: BufRead, W: Write>(
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

/// Copies everything `reader` holds to `writer` straight from the reader's buffer (for the
/// payload, the decompressed frame itself), so no byte is copied on the way to the hasher and
/// the file.
fn copy_chunked(
    reader: &mut impl BufRead,
    writer: &mut impl Write,
) -> std::result::Result<u64, CopyError> {
    let mut total = 0u64;
    loop {
        let n = match reader.fill_buf() {
            Ok([]) => return Ok(total),
            Ok(bytes) => {
                writer.write_all(bytes).map_err(CopyError::Write)?;
                bytes.len()
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        reader.consume(n);
        total += n as u64;
    }
}

/// A reader over decompressed frames delivered in order by the pipeline.
pub struct FrameChain<'p, I> {
    frames: I,
    current: Vec<u8>,
    pos: usize,
    recycle: Option<&'p BufferPool>,
}

impl<'p, I: Iterator<Item = Result<Vec<u8>>>> FrameChain<'p, I> {
    /// Reads the frames `frames` yields, one after the other.
    pub fn new(frames: I) -> Self {
        FrameChain {
            frames,
            current: Vec::new(),
            pos: 0,
            recycle: None,
        }
    }

    /// Hands each frame to `pool` once it has been read.
    pub fn recycling(self, pool: &'p BufferPool) -> FrameChain<'p, I> {
        FrameChain {
            recycle: Some(pool),
            ..self
        }
    }
}

impl<I: Iterator<Item = Result<Vec<u8>>>> Read for FrameChain<'_, I> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = buf.len().min(available.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<I: Iterator<Item = Result<Vec<u8>>>> BufRead for FrameChain<'_, I> {
    /// The rest of the current frame (the next one once it is used up); empty at the end.
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos == self.current.len() {
            match self.frames.next() {
                None => break,
                Some(Ok(frame)) => {
                    let used = std::mem::replace(&mut self.current, frame);
                    if let Some(pool) = self.recycle {
                        pool.give(used);
                    }
                    self.pos = 0;
                }
                Some(Err(e)) => return Err(io::Error::other(e)),
            }
        }
        Ok(&self.current[self.pos..])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.current.len());
    }
}
