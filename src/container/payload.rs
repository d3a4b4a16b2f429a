//! The payload tar stream, both ways: `PayloadStream` produces it from source files for packing,
//! hashing each file in the one pass that reads it; `walk_payload` consumes it when verifying or
//! unpacking, comparing every header with the canonical one and every file with its manifest entry.
use crate::error::{Check, Error, IoContext, Result};
use crate::format::digest::{HashingWriter, hex, sha256};
use crate::format::frame::{decompress_frame, max_compressed_frame};
use crate::format::manifest::{FileEntry, FrameRecord};
use crate::format::{self, BLOCK};
use sha2::{Digest as _, Sha256};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// A file to pack: its manifest entry (digest filled in as it is read) and where to read it.
pub struct PackFile {
    /// The manifest entry; `sha256` is set when the file has been streamed.
    pub entry: FileEntry,
    /// Source path.
    pub source: PathBuf,
}

enum StreamState {
    Header {
        bytes: Box<[u8; 512]>,
        pos: usize,
    },
    Content {
        file: File,
        remaining: u64,
        hasher: Sha256,
    },
    Padding {
        remaining: u64,
    },
    Next,
}

/// The payload tar stream of `files`, read once from disk; file digests are recorded as it goes.
pub struct PayloadStream<'a> {
    files: &'a mut [PackFile],
    mtime: u64,
    index: usize,
    state: StreamState,
}

impl<'a> PayloadStream<'a> {
    /// A stream over `files` (already sorted) with entry mtime `mtime`.
    pub fn new(files: &'a mut [PackFile], mtime: u64) -> Self {
        PayloadStream {
            files,
            mtime,
            index: 0,
            state: StreamState::Next,
        }
    }

    fn advance(&mut self) -> Result<bool> {
        let state = std::mem::replace(&mut self.state, StreamState::Next);
        self.state = match state {
            StreamState::Next => {
                let Some(f) = self.files.get(self.index) else {
                    return Ok(false);
                };
                let header =
                    format::canonical_header(&f.entry.path, f.entry.size, f.entry.mode, self.mtime);
                StreamState::Header {
                    bytes: Box::new(header),
                    pos: 0,
                }
            }
            StreamState::Header { .. } => {
                let f = &self.files[self.index];
                let file = crate::util::fs::open_input(&f.source, "artifact file")?;
                let len = file.metadata().ctx("read", &f.source)?.len();
                if len != f.entry.size {
                    return Err(changed(&f.source));
                }
                StreamState::Content {
                    file,
                    remaining: f.entry.size,
                    hasher: Sha256::new(),
                }
            }
            StreamState::Content { file, hasher, .. } => {
                let f = &mut self.files[self.index];
                if file.metadata().ctx("read", &f.source)?.len() != f.entry.size {
                    return Err(changed(&f.source));
                }
                f.entry.sha256 = hasher.finalize().into();
                StreamState::Padding {
                    remaining: format::padding(f.entry.size),
                }
            }
            StreamState::Padding { .. } => {
                self.index += 1;
                StreamState::Next
            }
        };
        Ok(true)
    }

    fn read_inner(&mut self, buf: &mut [u8]) -> Result<usize> {
        loop {
            match &mut self.state {
                StreamState::Header { bytes, pos } if *pos < 512 => {
                    let n = buf.len().min(512 - *pos);
                    buf[..n].copy_from_slice(&bytes[*pos..*pos + n]);
                    *pos += n;
                    return Ok(n);
                }
                StreamState::Content {
                    file,
                    remaining,
                    hasher,
                } if *remaining > 0 => {
                    let want = buf
                        .len()
                        .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                    let source = &self.files[self.index].source;
                    let n = file.read(&mut buf[..want]).ctx("read", source)?;
                    if n == 0 {
                        return Err(changed(source));
                    }
                    hasher.update(&buf[..n]);
                    *remaining -= n as u64;
                    return Ok(n);
                }
                StreamState::Padding { remaining } if *remaining > 0 => {
                    let n = buf.len().min(*remaining as usize);
                    buf[..n].fill(0);
                    *remaining -= n as u64;
                    return Ok(n);
                }
                _ => {
                    if !self.advance()? {
                        return Ok(0);
                    }
                }
            }
        }
    }
}

fn changed(path: &Path) -> Error {
    Error::config(
        path,
        "the file changed size while it was being packed",
        "stop whatever is writing to the artifact directory, then pack again",
    )
}

impl Read for PayloadStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.read_inner(buf).map_err(io::Error::other)
    }
}

/// Recovers a library error carried through an `io::Error` by a reader adapter.
pub fn unwrap_io(err: io::Error, op: &'static str, path: &Path) -> Error {
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
pub fn verify_frame_digest(
    file: &Path,
    place: &str,
    index: usize,
    record: &FrameRecord,
    bytes: &[u8],
) -> Result<()> {
    let digest = sha256(bytes);
    if digest != record.sha256 {
        let corrupted = if place.is_empty() {
            String::new()
        } else {
            format!("{place} is corrupted: ")
        };
        return Err(Error::rejected(
            file,
            Check::FrameDigest,
            format!(
                "{corrupted}payload frame {index} at offset {} has sha256 {}, the signed manifest says {}",
                record.offset,
                hex(&digest),
                hex(&record.sha256)
            ),
        ));
    }
    Ok(())
}

/// Verifies a frame's digest, then decompresses it to exactly the length the manifest gives.
pub fn open_frame(
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
pub fn read_frame(
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

/// Reads the payload frames `indices` of `frames`, stored back to back in that order from where
/// `reader` stands; stops early when `emit` returns false.
pub fn read_frames(
    file: &Path,
    mut reader: impl Read,
    frames: &[FrameRecord],
    indices: impl IntoIterator<Item = usize>,
    mut emit: impl FnMut(usize, Vec<u8>) -> bool,
) -> Result<()> {
    for index in indices {
        if !emit(index, read_frame(file, &mut reader, index, &frames[index])?) {
            break;
        }
    }
    Ok(())
}

/// Walks the decompressed payload stream against the manifest: for each file in order, the header
/// must be the canonical one, the content goes to the writer `begin` returns (hashed on the way),
/// the padding must be zero; `end` receives the writer once size and sha256 match. After the last
/// file the stream must end.
pub fn walk_payload<R: Read, W: Write>(
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
        let sink = HashingWriter::new(begin(entry)?);
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
        if digest != entry.sha256 {
            return Err(Error::rejected(
                bundle,
                Check::FileDigest,
                format!(
                    "`{}` has sha256 {}, the signed manifest says {}",
                    entry.path,
                    hex(&digest),
                    hex(&entry.sha256)
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
    let mut buf = vec![0u8; crate::pack::source::CHUNK];
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
