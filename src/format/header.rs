//! The one canonical ustar header of a bundled file (`docs/format.md` section 2.2). Readers never
//! interpret a header: they rebuild this one from the signed manifest and compare all 512 bytes.
use super::path::{BundlePath, ustar_split};

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
    fn canonical_header_is_ustar_and_deterministic() {
        let p = BundlePath::parse("model/x/config.json").unwrap();
        let h = canonical_header(&p, 10, Mode::Regular, 0);
        assert_eq!(&h[257..263], b"ustar\0");
        assert_eq!(h, canonical_header(&p, 10, Mode::Regular, 0));
        let other = canonical_header(&p, 11, Mode::Regular, 0);
        assert!(describe_header_difference(&other, &h).contains("`size`"));
    }
    #[test]
    fn huge_sizes_use_base256() {
        let p = BundlePath::parse("a").unwrap();
        let h = canonical_header(&p, 10 << 30, Mode::Regular, 0);
        assert_eq!(h[124], 0x80);
    }
}
