//! Byte-level layout of a bundle (see `docs/format.md`): the footer, the deterministic frame rule,
//! canonical ustar headers, and the caps every reader enforces.
use crate::bundle_path::{BundlePath, ustar_split};

/// Uncompressed tar bytes per frame, at most.
pub const FRAME_SIZE: u64 = 16 << 20;
/// Files of at least this size start their own frames.
pub const LARGE_FILE: u64 = 1 << 20;
/// Length of the footer (a zstd skippable frame) at the end of every bundle.
pub const FOOTER_LEN: u64 = 40;
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
/// zstd skippable-frame magic used for the footer.
pub const FOOTER_MAGIC: u32 = 0x184D_2A5E;
const FOOTER_TAG: &[u8; 8] = b"AIRLOCK1";
/// A tar block.
pub const BLOCK: u64 = 512;

/// The footer: where the manifest frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footer {
    /// Offset of the manifest frame = length of the payload.
    pub manifest_offset: u64,
    /// Length of the manifest frame in bytes.
    pub manifest_len: u64,
}

/// The 8-byte header of a zstd skippable frame (airlock's magic) with `content_len` bytes of content.
pub fn skippable_header(content_len: u32) -> [u8; 8] {
    let mut out = [0u8; 8];
    out[0..4].copy_from_slice(&FOOTER_MAGIC.to_le_bytes());
    out[4..8].copy_from_slice(&content_len.to_le_bytes());
    out
}

/// A footer of `N` bytes (bundle, volume or delta) being written: skippable-frame header and tag
/// first, then little-endian fields; unwritten bytes stay zero (reserved).
pub struct FooterWriter<const N: usize>(pub [u8; N]);

impl<const N: usize> FooterWriter<N> {
    /// Starts a footer with its 8-byte tag.
    pub fn new(tag: &[u8; 8]) -> Self {
        let mut out = [0u8; N];
        out[0..8].copy_from_slice(&skippable_header((N - 8) as u32));
        out[8..16].copy_from_slice(tag);
        FooterWriter(out)
    }

    /// Writes `bytes` at `offset`.
    pub fn put(mut self, offset: usize, bytes: &[u8]) -> Self {
        self.0[offset..offset + bytes.len()].copy_from_slice(bytes);
        self
    }
}

/// A footer being read: its skippable-frame header, tag and zero reserved tail already checked.
pub struct FooterReader<'a>(&'a [u8]);

impl<'a> FooterReader<'a> {
    /// Checks that `bytes` (the last `bytes.len()` bytes of a `file_len`-byte file) start with the
    /// skippable header and `tag`, and are zero from `reserved_from` on. `what` names the footer.
    pub fn open(
        bytes: &'a [u8],
        file_len: u64,
        tag: &[u8; 8],
        reserved_from: usize,
        what: &str,
    ) -> Result<Self, String> {
        let n = bytes.len();
        if file_len < n as u64 {
            return Err(format!(
                "the file is {file_len} bytes long, too short to hold the {n}-byte {what}"
            ));
        }
        if bytes[0..8] != skippable_header((n - 8) as u32) || &bytes[8..16] != tag {
            return Err(format!(
                "no airlock {what} at the end of the file (is it complete, with nothing appended?)"
            ));
        }
        if bytes[reserved_from..].iter().any(|&b| b != 0) {
            return Err(format!("the {what}'s reserved bytes are not zero"));
        }
        Ok(FooterReader(bytes))
    }

    /// The little-endian u32 at `i`.
    pub fn u32(&self, i: usize) -> u32 {
        u32::from_le_bytes(self.0[i..i + 4].try_into().expect("4 bytes"))
    }

    /// The little-endian u64 at `i`.
    pub fn u64(&self, i: usize) -> u64 {
        u64::from_le_bytes(self.0[i..i + 8].try_into().expect("8 bytes"))
    }

    /// The 32 bytes at `i`.
    pub fn digest(&self, i: usize) -> [u8; 32] {
        self.0[i..i + 32].try_into().expect("32 bytes")
    }
}

/// Refuses a manifest frame length outside 1..=cap.
pub fn check_manifest_len(len: u64, what: &str) -> Result<(), String> {
    if len == 0 || len > MANIFEST_FRAME_CAP {
        return Err(format!(
            "the {what} declares a manifest frame of {len} bytes; it must be 1 to {MANIFEST_FRAME_CAP}"
        ));
    }
    Ok(())
}

impl Footer {
    /// The 40 footer bytes.
    pub fn encode(&self) -> [u8; FOOTER_LEN as usize] {
        FooterWriter::<{ FOOTER_LEN as usize }>::new(FOOTER_TAG)
            .put(16, &self.manifest_offset.to_le_bytes())
            .put(24, &self.manifest_len.to_le_bytes())
            .0
    }

    /// Parses and bounds-checks the last 40 bytes of a file of `file_len` bytes.
    pub fn decode(bytes: &[u8], file_len: u64) -> Result<Footer, String> {
        if bytes.len() != FOOTER_LEN as usize {
            return Err(format!("the footer must be {FOOTER_LEN} bytes"));
        }
        let r = FooterReader::open(bytes, file_len, FOOTER_TAG, 32, "footer")?;
        let footer = Footer {
            manifest_offset: r.u64(16),
            manifest_len: r.u64(24),
        };
        check_manifest_len(footer.manifest_len, "footer")?;
        let end = footer
            .manifest_offset
            .checked_add(footer.manifest_len)
            .and_then(|e| e.checked_add(FOOTER_LEN));
        if end != Some(file_len) {
            return Err(format!(
                "the footer places the manifest frame at {}..+{} but the file is {file_len} bytes long (truncated, appended to, or a forged footer)",
                footer.manifest_offset, footer.manifest_len
            ));
        }
        Ok(footer)
    }
}

/// Bytes of zero padding after `size` bytes of content.
pub fn padding(size: u64) -> u64 {
    (BLOCK - size % BLOCK) % BLOCK
}

/// Length of one tar entry: header, content, padding (saturating: a hostile manifest may declare
/// any `u64` size).
pub fn entry_len(size: u64) -> u64 {
    BLOCK.saturating_add(size).saturating_add(padding(size))
}

/// A frame as a range of the uncompressed payload tar stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameSpan {
    /// Offset in the tar stream.
    pub start: u64,
    /// Uncompressed length.
    pub len: u64,
}

/// Applies the frame rule of `docs/format.md` 1.3 to the file sizes, in manifest order.
///
/// The sizes may come from an unauthenticated manifest, so the plan is bounded: it stops after
/// [`MAX_ENTRIES`]` + 1` frames (a plan that long is refused by every reader anyway, and a packer
/// following it finds its stream longer than the plan), and arithmetic saturates. Without the
/// bound a single declared size of 2^60 bytes would make the plan 2^36 frames long.
pub fn plan_frames(sizes: impl IntoIterator<Item = u64>) -> Vec<FrameSpan> {
    const LIMIT: usize = MAX_ENTRIES + 1;
    let mut frames = Vec::new();
    let mut current = FrameSpan { start: 0, len: 0 };
    let mut offset = 0u64;
    for size in sizes {
        if frames.len() >= LIMIT {
            frames.truncate(LIMIT);
            return frames;
        }
        let len = entry_len(size);
        if size >= LARGE_FILE {
            if current.len > 0 {
                frames.push(current);
            }
            // The header gets a frame of its own, so the content frames of an unchanged file are
            // identical whatever its path or mtime: delta bundles reuse them across releases.
            frames.push(FrameSpan {
                start: offset,
                len: BLOCK,
            });
            let mut cut = BLOCK;
            while cut < len && frames.len() < LIMIT {
                let piece = (len - cut).min(FRAME_SIZE);
                frames.push(FrameSpan {
                    start: offset.saturating_add(cut),
                    len: piece,
                });
                cut += piece;
            }
            current = FrameSpan {
                start: offset.saturating_add(len),
                len: 0,
            };
        } else {
            if current.len + len > FRAME_SIZE {
                frames.push(current);
                current = FrameSpan {
                    start: offset,
                    len: 0,
                };
            }
            current.len += len;
        }
        offset = offset.saturating_add(len);
    }
    if current.len > 0 {
        frames.push(current);
    }
    frames.truncate(LIMIT);
    frames
}

/// File mode in a bundle: the only two allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mode {
    /// `0644`
    Regular,
    /// `0755`
    Executable,
}

impl Mode {
    /// The numeric mode.
    pub fn bits(self) -> u32 {
        match self {
            Mode::Regular => 0o644,
            Mode::Executable => 0o755,
        }
    }

    /// `"0644"` or `"0755"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Regular => "0644",
            Mode::Executable => "0755",
        }
    }

    /// Parses `"0644"` or `"0755"`.
    pub fn parse(text: &str) -> Option<Mode> {
        match text {
            "0644" => Some(Mode::Regular),
            "0755" => Some(Mode::Executable),
            _ => None,
        }
    }

    /// Normalises a source file's permission bits: executable if any execute bit is set.
    pub fn from_source_bits(bits: u32) -> Mode {
        if bits & 0o111 != 0 {
            Mode::Executable
        } else {
            Mode::Regular
        }
    }
}

/// The one canonical ustar header for a regular file (`docs/format.md` 2.2).
pub fn canonical_header(path: &BundlePath, size: u64, mode: Mode, mtime: u64) -> [u8; 512] {
    let mut header = tar::Header::new_ustar();
    let (prefix, name) = ustar_split(path.as_str()).expect("BundlePath always fits ustar");
    {
        let ustar = header.as_ustar_mut().expect("ustar header");
        ustar.prefix = [0; 155];
        ustar.prefix[..prefix.len()].copy_from_slice(prefix.as_bytes());
        ustar.name = [0; 100];
        ustar.name[..name.len()].copy_from_slice(name.as_bytes());
    }
    header.set_mode(mode.bits());
    header.set_uid(0);
    header.set_gid(0);
    header.set_size(size);
    header.set_mtime(mtime);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_device_major(0).expect("ustar has device fields");
    header.set_device_minor(0).expect("ustar has device fields");
    header.set_cksum();
    let mut out = [0u8; 512];
    out.copy_from_slice(header.as_bytes());
    out
}

/// Explains how `got` differs from the canonical header `want`, naming the first differing field.
/// The entry type is compared first (a link, device or extension header is the finding, not its
/// name) and the checksum last (it differs whenever anything else does).
pub fn describe_header_difference(got: &[u8; 512], want: &[u8; 512]) -> String {
    const FIELDS: &[(&str, usize, usize)] = &[
        ("type", 156, 1),
        ("name", 0, 100),
        ("mode", 100, 8),
        ("uid", 108, 8),
        ("gid", 116, 8),
        ("size", 124, 12),
        ("mtime", 136, 12),
        ("link name", 157, 100),
        ("magic", 257, 6),
        ("version", 263, 2),
        ("user name", 265, 32),
        ("group name", 297, 32),
        ("device major", 329, 8),
        ("device minor", 337, 8),
        ("prefix", 345, 155),
        ("padding", 500, 12),
        ("checksum", 148, 8),
    ];
    if got.iter().all(|&b| b == 0) {
        return "found an end-of-archive block where a file entry was expected".into();
    }
    for &(field, start, len) in FIELDS {
        let (g, w) = (&got[start..start + len], &want[start..start + len]);
        if g != w {
            let show = |b: &[u8]| {
                String::from_utf8_lossy(b)
                    .trim_end_matches('\0')
                    .escape_debug()
                    .to_string()
            };
            let extra = if field == "type" {
                match got[156] {
                    b'1' => " (hardlink)",
                    b'2' => " (symlink)",
                    b'3' => " (character device)",
                    b'4' => " (block device)",
                    b'5' => " (directory)",
                    b'6' => " (FIFO)",
                    b'x' | b'g' => " (PAX extended header)",
                    b'L' | b'K' => " (GNU long name)",
                    b'S' => " (GNU sparse file)",
                    _ => "",
                }
            } else {
                ""
            };
            return format!(
                "tar header field `{field}` is `{}`{extra}, the manifest requires `{}`",
                show(g),
                show(w)
            );
        }
    }
    "tar header differs from the canonical header".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footer_round_trip_and_bounds() {
        let f = Footer {
            manifest_offset: 1000,
            manifest_len: 200,
        };
        let bytes = f.encode();
        assert_eq!(Footer::decode(&bytes, 1240), Ok(f));
        assert!(Footer::decode(&bytes, 1241).is_err(), "appended byte");
        assert!(Footer::decode(&bytes, 1239).is_err(), "truncated");
        let huge = Footer {
            manifest_offset: 0,
            manifest_len: MANIFEST_FRAME_CAP + 1,
        };
        assert!(Footer::decode(&huge.encode(), MANIFEST_FRAME_CAP + 41).is_err());
        let mut reserved = bytes;
        reserved[39] = 1;
        assert!(Footer::decode(&reserved, 1240).is_err());
    }

    #[test]
    fn frame_rule_groups_small_and_splits_large() {
        let small = 1000u64;
        let large = 40 << 20;
        let frames = plan_frames([small, small, large, small]);
        let e_small = entry_len(small);
        let e_large = entry_len(large);
        assert_eq!(
            frames[0],
            FrameSpan {
                start: 0,
                len: 2 * e_small
            }
        );
        assert_eq!(
            frames[1],
            FrameSpan {
                start: 2 * e_small,
                len: BLOCK
            }
        );
        assert_eq!(
            frames[2],
            FrameSpan {
                start: 2 * e_small + BLOCK,
                len: FRAME_SIZE
            }
        );
        assert_eq!(frames[3].len, FRAME_SIZE);
        assert_eq!(frames[4].len, e_large - BLOCK - 2 * FRAME_SIZE);
        assert_eq!(
            frames[5],
            FrameSpan {
                start: 2 * e_small + e_large,
                len: e_small
            }
        );
        let total: u64 = frames.iter().map(|f| f.len).sum();
        assert_eq!(total, 3 * e_small + e_large);
    }

    #[test]
    fn an_unchanged_large_file_has_the_same_content_frames_under_another_name() {
        // Same content length after different small files: content frames have equal lengths
        // and start right after a header frame of their own.
        let a = plan_frames([5 << 20]);
        let b = plan_frames([1000, 3000, 5 << 20]);
        assert_eq!(a.len() + 1, b.len());
        let lens = |f: &[FrameSpan]| f.iter().map(|s| s.len).collect::<Vec<_>>();
        assert_eq!(lens(&a), lens(&b[1..]));
        assert_eq!(a[0].len, BLOCK);
    }

    #[test]
    fn many_small_files_fill_frames_up_to_the_cap() {
        let sizes = vec![LARGE_FILE - 1; 40];
        let frames = plan_frames(sizes);
        assert!(frames.iter().all(|f| f.len <= FRAME_SIZE));
        assert_eq!(frames.len(), 3);
    }

    #[test]
    fn canonical_header_is_ustar_and_deterministic() {
        let p = BundlePath::parse("model/x/config.json").unwrap();
        let h = canonical_header(&p, 10, Mode::Regular, 0);
        assert_eq!(&h[257..263], b"ustar\0");
        assert_eq!(h, canonical_header(&p, 10, Mode::Regular, 0));
        let other = canonical_header(&p, 11, Mode::Regular, 0);
        assert!(describe_header_difference(&other, &h).contains("`size`"));
    }

    #[test]
    fn hostile_sizes_give_a_bounded_plan() {
        let plan = plan_frames([u64::MAX, 5, u64::MAX]);
        assert_eq!(plan.len(), MAX_ENTRIES + 1);
        assert_eq!(entry_len(u64::MAX), u64::MAX);
        let plan = plan_frames([1 << 60]);
        assert_eq!(plan.len(), MAX_ENTRIES + 1);
    }

    #[test]
    fn huge_sizes_use_base256() {
        let p = BundlePath::parse("a").unwrap();
        let h = canonical_header(&p, 10 << 30, Mode::Regular, 0);
        assert_eq!(h[124], 0x80);
    }
}
