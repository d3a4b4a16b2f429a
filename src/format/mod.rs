//! `format/`: the bytes of airlock's files and the validated types they are read into, and nothing
//! else. No trust, no policy, no file-system access: every function here is a pure transformation
//! of bytes, so a reviewer finds everything that touches unauthenticated bytes here and in
//! `container/` (`docs/architecture.md`).
//!
//! * [`path`]: bundle paths and labels, types that cannot hold an escape once built;
//! * [`time`]: bounded timestamps;
//! * [`digest`]: sha256 values and hex;
//! * [`header`]: the one canonical ustar header per file;
//! * [`frame`]: the frame rule and the zstd frame codec with its caps;
//! * [`footer`]: the footers of bundles, volumes and deltas;
//! * [`manifest`], [`manifest_frame`]: the signed manifest and the capped frame that carries it;
//! * [`signature`]: the one minisign signature-file parser and the trusted comment;
//! * [`oci`]: the OCI layout and ModelPack documents of `export`, derived from the manifest.
pub mod digest;
pub mod footer;
pub mod frame;
pub mod header;
pub mod manifest;
pub mod manifest_frame;
pub mod oci;
pub mod path;
pub mod signature;
pub mod time;

pub use footer::{FOOTER_LEN, Footer};
pub use frame::{FrameSpan, entry_len, padding, plan_frames};
pub use header::{Mode, canonical_header, describe_header_difference};

/// Uncompressed tar bytes per frame, at most.
pub const FRAME_SIZE: u64 = 16 << 20;
/// Files of at least this size start their own frames.
pub const LARGE_FILE: u64 = 1 << 20;
/// Cap on the manifest frame, compressed and decompressed.
pub const MANIFEST_FRAME_CAP: u64 = 16 << 20;
/// Cap on the number of files and of frames a manifest may list.
pub const MAX_ENTRIES: usize = 200_000;
/// The largest file a bundle can hold: all [`MAX_ENTRIES`] frames full. A manifest declaring more
/// is refused before any arithmetic on the size.
pub const MAX_FILE_SIZE: u64 = MAX_ENTRIES as u64 * FRAME_SIZE;
/// Cap on the number of signature files.
pub const MAX_SIGNATURES: usize = 64;
/// Cap on one signature file's size.
pub const MAX_SIGNATURE_BYTES: u64 = 4096;
/// The default zstd level.
pub const DEFAULT_LEVEL: i32 = 3;
/// A tar block.
pub const BLOCK: u64 = 512;
