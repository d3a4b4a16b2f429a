//! The footers that end every airlock file, in one place (`docs/format.md` sections 1.1 and
//! 7.1–7.3): each is a zstd skippable frame holding an 8-byte tag and little-endian fields, so stock
//! `zstd -d` skips it. A bundle ends with the 40-byte [`Footer`]; volumes and deltas with their own
//! (`container::volume`, `container::delta` hold their field layouts and use the codecs here).
use super::MANIFEST_FRAME_CAP;

/// Length of the footer (a zstd skippable frame) at the end of every bundle.
pub const FOOTER_LEN: u64 = 40;
/// zstd skippable-frame magic used for every footer.
pub const FOOTER_MAGIC: u32 = 0x184D_2A5E;
/// Tag of the bundle footer.
pub const BUNDLE_TAG: &[u8; 8] = b"AIRLOCK1";

/// The footer: where the manifest frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footer {
    /// Offset of the manifest frame = length of the payload.
    pub manifest_offset: u64,
    /// Length of the manifest frame in bytes.
    pub manifest_len: u64,
}

/// The 8-byte header of a zstd skippable frame (airlock's magic) with `content_len` bytes of content.
pub(crate) fn skippable_header(content_len: u32) -> [u8; 8] {
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
pub(crate) fn check_manifest_len(len: u64, what: &str) -> Result<(), String> {
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
        FooterWriter::<{ FOOTER_LEN as usize }>::new(BUNDLE_TAG)
            .put(16, &self.manifest_offset.to_le_bytes())
            .put(24, &self.manifest_len.to_le_bytes())
            .0
    }

    /// Parses and bounds-checks the last 40 bytes of a file of `file_len` bytes.
    pub fn decode(bytes: &[u8], file_len: u64) -> Result<Footer, String> {
        if bytes.len() != FOOTER_LEN as usize {
            return Err(format!("the footer must be {FOOTER_LEN} bytes"));
        }
        let r = FooterReader::open(bytes, file_len, BUNDLE_TAG, 32, "footer")?;
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
}
