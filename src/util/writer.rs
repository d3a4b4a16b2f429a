//! Writing extracted files on threads of their own, so the thread that walks and hashes the
//! payload never waits in `write(2)`: on the machines airlock is measured on, copying the bytes
//! into the page cache costs more than hashing them (docs/bench/README.md), and a single thread
//! doing both left one core idle. One writer thread performs every file's writes in the order
//! they were made, then hands the finished file to [`SYNC_THREADS`] fsync threads, so the disk
//! flushes earlier files while the next is written.
//!
//! Files of at least [`DIRECT_MIN`] bytes are written with `O_DIRECT` from 4096-byte-aligned
//! buffers: the bytes go from airlock's buffer to the device without being copied into the page
//! cache, which on this class of machine costs more CPU than hashing them (measured in
//! docs/bench/README.md: `dd oflag=direct` 0.8 s and 0.15 s of CPU for 1 GiB, buffered 1.4-2.7 s
//! and 1-2 s). It is only a faster way to the same bytes: each file is still fsynced, and where
//! the file system refuses `O_DIRECT` (tmpfs before Linux 6.6, some FUSE and network file
//! systems) or a write is
//! not aligned (the last partial block of a file), the rest of that file is written through the
//! page cache as before.
//!
//! Memory is bounded: the bytes in flight live in at most [`BUFFERS`] buffers of
//! [`crate::util::fs::CHUNK`] bytes, recycled between the two threads. Durability is what the
//! callers had before: every file handed to [`Writer::finish`] has been written, had its
//! `finish` step run and been fsynced when [`with_writer`] returns `Ok`.
//!
//! The first I/O error wins and names its file: once the writer thread fails it stops, the
//! walker's next write fails with [`Error::Internal`] ("the writer thread stopped"), and
//! [`with_writer`] returns the writer's own error in its place.
use crate::error::{Error, IoContext, Result, unwrap_io};
use crate::util::fs::CHUNK;
use crossbeam_channel::{Receiver, Sender, bounded};
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// How many buffers of `CHUNK` bytes may be in flight between the walker and the writer thread.
pub const BUFFERS: usize = 8;

/// How many files may be fsynced at once. A small file's fsync is mostly a wait for the file
/// system's journal commit; concurrent fsyncs share commits, so a release of thousands of small
/// files is flushed in a fraction of the time one fsync after another takes (measured in
/// docs/bench/README.md). The threads only wait; they use no CPU to speak of.
pub const SYNC_THREADS: usize = 8;

/// Files this large or larger are written with `O_DIRECT`; smaller ones through the page cache,
/// where a single small write is cheaper than a direct one.
pub const DIRECT_MIN: u64 = CHUNK as u64;

/// The alignment `O_DIRECT` needs of buffer addresses, lengths and file offsets (the logical
/// block size of every Linux block device airlock targets is 512 or 4096).
const ALIGN: usize = 4096;

/// A pooled buffer of `CHUNK` bytes whose first byte sits on an `ALIGN` boundary. Safe Rust
/// cannot ask the allocator for alignment without `unsafe`, so the buffer is over-allocated by
/// `ALIGN` and the aligned window inside it used; a `Vec`'s heap block does not move when the
/// `Vec` is moved, so the window stays aligned for the buffer's life.
struct Chunk {
    bytes: Vec<u8>,
    start: usize,
    len: usize,
}

impl Chunk {
    fn new() -> Chunk {
        let bytes = vec![0u8; CHUNK + ALIGN];
        let start = (ALIGN - bytes.as_ptr() as usize % ALIGN) % ALIGN;
        Chunk {
            bytes,
            start,
            len: 0,
        }
    }

    fn filled(&self) -> &[u8] {
        &self.bytes[self.start..self.start + self.len]
    }

    /// Appends as much of `more` as fits; returns how much did.
    fn fill(&mut self, more: &[u8]) -> usize {
        let n = (CHUNK - self.len).min(more.len());
        let at = self.start + self.len;
        self.bytes[at..at + n].copy_from_slice(&more[..n]);
        self.len += n;
        n
    }
}

/// What to do with a file once all its bytes are written, before it is fsynced (on the writer
/// thread: set its mode and mtime, say, or rename it); returns the path the file now has, which
/// an fsync error names.
pub type FinishFile<'a> = Box<dyn FnOnce(&File, &Path) -> Result<PathBuf> + Send + 'a>;

enum Job<'a> {
    Open(File, PathBuf, u64),
    Data(Chunk),
    Close(FinishFile<'a>),
}

/// The walker's end of the writer thread.
pub struct Writer<'a> {
    jobs: Sender<Job<'a>>,
    buffers: Receiver<Chunk>,
}

/// One file being written through the [`Writer`]: bytes written to it are buffered in a pooled
/// buffer and shipped to the writer thread a buffer at a time.
pub struct FileSink<'w, 'a> {
    writer: &'w Writer<'a>,
    buf: Option<Chunk>,
    path: PathBuf,
}

/// What the walker sees once the writer thread has stopped (its own error is returned instead).
fn writer_stopped() -> Error {
    Error::Internal("the writer thread stopped".into())
}

fn stopped() -> io::Error {
    io::Error::other(writer_stopped())
}

impl<'a> Writer<'a> {
    /// Starts writing `file` (created by the caller at `path`, empty, opened for writing), which
    /// will hold `size` bytes; the bytes go through the sink.
    pub fn start<'w>(&'w self, file: File, path: PathBuf, size: u64) -> Result<FileSink<'w, 'a>> {
        self.jobs
            .send(Job::Open(file, path.clone(), size))
            .map_err(|_| writer_stopped())?;
        Ok(FileSink {
            writer: self,
            buf: None,
            path,
        })
    }

    /// Ends the file `sink` writes: its last bytes are written, then `finish` runs on the writer
    /// thread, then the file is fsynced on the fsync thread.
    pub fn finish(&self, mut sink: FileSink<'_, 'a>, finish: FinishFile<'a>) -> Result<()> {
        sink.ship().map_err(|e| unwrap_io(e, "write", &sink.path))?;
        self.jobs
            .send(Job::Close(finish))
            .map_err(|_| writer_stopped())
    }

    fn buffer(&self) -> io::Result<Chunk> {
        self.buffers.recv().map_err(|_| stopped())
    }
}

impl FileSink<'_, '_> {
    fn ship(&mut self) -> io::Result<()> {
        match self.buf.take() {
            Some(full) if full.len > 0 => self
                .writer
                .jobs
                .send(Job::Data(full))
                .map_err(|_| stopped()),
            kept => {
                self.buf = kept;
                Ok(())
            }
        }
    }
}

impl Write for FileSink<'_, '_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let buf = match &mut self.buf {
            Some(buf) => buf,
            empty => empty.insert(self.writer.buffer()?),
        };
        let n = buf.fill(bytes);
        if buf.len == CHUNK {
            self.ship()?;
        }
        Ok(n)
    }

    /// Ships the buffered bytes to the writer thread (they are written in order, not yet when
    /// this returns; [`Writer::finish`] is the point after which they are on disk).
    fn flush(&mut self) -> io::Result<()> {
        self.ship()
    }
}

/// Runs `body` with a [`Writer`] whose writer and fsync threads live for the call. Returns the
/// writer's error if it had one (the walker's error is then a consequence of it), else `body`'s.
pub fn with_writer<'a, R>(body: impl FnOnce(&Writer<'a>) -> Result<R>) -> Result<R> {
    let (jobs_tx, jobs_rx) = bounded::<Job<'a>>(BUFFERS + 2);
    let (pool_tx, pool_rx) = bounded::<Chunk>(BUFFERS);
    for _ in 0..BUFFERS {
        pool_tx.send(Chunk::new()).expect("pool has room");
    }
    let (sync_tx, sync_rx) = bounded::<(File, PathBuf)>(64);
    std::thread::scope(|scope| {
        let syncers: Vec<_> = (0..SYNC_THREADS)
            .map(|_| {
                let sync_rx = sync_rx.clone();
                scope.spawn(move || -> Result<()> {
                    for (file, path) in sync_rx {
                        file.sync_all().ctx("sync", &path)?;
                    }
                    Ok(())
                })
            })
            .collect();
        drop(sync_rx);
        let written = scope.spawn(move || write_jobs(jobs_rx, pool_tx, sync_tx));
        let writer = Writer {
            jobs: jobs_tx,
            buffers: pool_rx,
        };
        let result = body(&writer);
        drop(writer);
        let written = written
            .join()
            .unwrap_or_else(|_| Err(Error::Internal("the writer thread panicked".into())));
        let synced = syncers.into_iter().try_for_each(|syncer| {
            syncer
                .join()
                .unwrap_or_else(|_| Err(Error::Internal("an fsync thread panicked".into())))
        });
        // A failed fsync stops the syncer, so the writer's next hand-over fails: the fsync's error
        // names the cause.
        synced?;
        written?;
        result
    })
}

/// The file the writer thread is writing, and whether its writes still go around the page cache.
struct Open {
    file: File,
    path: PathBuf,
    direct: bool,
}

impl Open {
    fn new(file: File, path: PathBuf, size: u64) -> Open {
        let direct = size >= DIRECT_MIN && set_direct(&file, true).is_ok();
        Open { file, path, direct }
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        if self.direct && !bytes.len().is_multiple_of(ALIGN) {
            self.buffered()?;
        }
        if self.direct {
            match self.file.write_all(bytes) {
                Ok(()) => return Ok(()),
                // Refused as unaligned after all (a device with a larger logical block): nothing
                // was written by the refused call, so write it, and the rest, buffered.
                Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) => {
                    self.buffered()?
                }
                Err(e) => return Err(Error::io("write", &self.path, e)),
            }
        }
        self.file.write_all(bytes).ctx("write", &self.path)
    }

    fn buffered(&mut self) -> Result<()> {
        set_direct(&self.file, false).map_err(|e| Error::io("write", &self.path, e.into()))?;
        self.direct = false;
        Ok(())
    }
}

fn set_direct(file: &File, on: bool) -> rustix::io::Result<()> {
    use rustix::fs::OFlags;
    let mut flags = rustix::fs::fcntl_getfl(file)?;
    flags.set(OFlags::DIRECT, on);
    rustix::fs::fcntl_setfl(file, flags)
}

/// The writer thread: performs the jobs in order; stops at the first error, which it returns.
fn write_jobs(
    jobs: Receiver<Job<'_>>,
    pool: Sender<Chunk>,
    synced: Sender<(File, PathBuf)>,
) -> Result<()> {
    let mut current: Option<Open> = None;
    for job in jobs {
        match job {
            Job::Open(file, path, size) => current = Some(Open::new(file, path, size)),
            Job::Data(mut chunk) => {
                let open = current
                    .as_mut()
                    .ok_or_else(|| Error::Internal("bytes for no open file".into()))?;
                open.write(chunk.filled())?;
                chunk.len = 0;
                // The walker may have stopped; a buffer nobody takes back is simply dropped.
                let _ = pool.try_send(chunk);
            }
            Job::Close(finish) => {
                let Open { file, path, .. } = current
                    .take()
                    .ok_or_else(|| Error::Internal("a close for no open file".into()))?;
                let path = finish(&file, &path)?;
                synced
                    .send((file, path))
                    .map_err(|_| Error::Internal("the fsync thread stopped".into()))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_written_in_full_finished_and_synced() {
        let dir = tempfile::tempdir().unwrap();
        let finished = std::sync::Mutex::new(Vec::new());
        with_writer(|w| {
            for i in 0..5u8 {
                let path = dir.path().join(format!("f{i}"));
                let file = File::create(&path).unwrap();
                let mut sink = w.start(file, path, (CHUNK * 2 + 12345) as u64).unwrap();
                // More than one buffer's worth, in odd-sized writes.
                let bytes = vec![i; CHUNK * 2 + 12345];
                for piece in bytes.chunks(77_777) {
                    sink.write_all(piece).unwrap();
                }
                let finished = &finished;
                w.finish(
                    sink,
                    Box::new(move |_, p| {
                        finished.lock().unwrap().push(p.to_path_buf());
                        Ok(p.to_path_buf())
                    }),
                )?;
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(finished.lock().unwrap().len(), 5);
        for i in 0..5u8 {
            let got = std::fs::read(dir.path().join(format!("f{i}"))).unwrap();
            assert_eq!(got.len(), CHUNK * 2 + 12345);
            assert!(got.iter().all(|&b| b == i));
        }
    }

    #[test]
    fn the_writer_threads_error_wins_and_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("read-only");
        std::fs::write(&path, b"x").unwrap();
        // Opened for reading only: every write(2) fails with EBADF.
        let file = File::open(&path).unwrap();
        let err = with_writer(|w| {
            let mut sink = w.start(file, path.clone(), 1)?;
            for _ in 0..(BUFFERS * 4) {
                if let Err(e) = sink.write_all(&vec![1u8; CHUNK]) {
                    return Err(unwrap_io(e, "write", &path));
                }
            }
            w.finish(sink, Box::new(|_, p| Ok(p.to_path_buf())))
        })
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("read-only"), "{text}");
        assert!(!text.contains("writer thread stopped"), "{text}");
        assert_eq!(err.exit_code(), 3, "{text}");
    }

    #[test]
    fn a_finish_step_error_stops_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let err = with_writer(|w| {
            let path = dir.path().join("a");
            let sink = w.start(File::create(&path).unwrap(), path, 0)?;
            w.finish(
                sink,
                Box::new(|_, p| Err(Error::io("set mode of", p, io::Error::other("refused")))),
            )
        })
        .unwrap_err();
        assert!(err.to_string().contains("refused"), "{err}");
    }
}
