//! The manifest frame: one capped zstd frame holding `airlock/manifest.toml`, `airlock/SHA256SUMS`,
//! the signature files and the end-of-archive blocks (`docs/format.md` section 1.2). This is the
//! only unauthenticated data airlock decompresses, so decoding is bounded before anything else.
use crate::format::digest::HashAlg;
use crate::format::frame::{compress_frame, decompress_frame};
use crate::format::path::BundlePath;
use crate::format::{self, BLOCK, MANIFEST_FRAME_CAP, MAX_SIGNATURE_BYTES, MAX_SIGNATURES, Mode};

/// Path of the manifest inside the archive.
pub const MANIFEST_PATH: &str = "airlock/manifest.toml";
/// Path of the checksum file inside the archive, classic suite.
pub const SUMS_PATH: &str = "airlock/SHA256SUMS";
/// Path of the checksum file inside the archive, cnsa2 suite.
pub const SUMS384_PATH: &str = "airlock/SHA384SUMS";
/// Cap on one ML-DSA-87 signature file (a 4627-byte signature in base64, and its statement).
pub const MAX_MLDSA_SIGNATURE_BYTES: u64 = 16 << 10;
/// Directory of signature files inside the archive.
pub const SIGNATURES_DIR: &str = "airlock/signatures";
/// Directory of the copies of policy and safeguard files inside the archive.
pub const COPIES_DIR: &str = "airlock/copies";
/// Cap on one copied policy or safeguard file.
pub const MAX_COPY_BYTES: u64 = 1 << 20;

/// The decoded entries of a manifest frame.
#[derive(Debug, Clone)]
pub struct ManifestFrame {
    /// The manifest bytes.
    pub manifest: Vec<u8>,
    /// The checksum file bytes.
    pub sums: Vec<u8>,
    /// Which checksum file it is: `SHA256SUMS` (classic) or `SHA384SUMS` (cnsa2).
    pub sums_alg: HashAlg,
    /// Copies of the payload's policy and safeguard files: (bundle path, bytes), sorted by path.
    pub copies: Vec<(BundlePath, Vec<u8>)>,
    /// Signature files: (file name, bytes), sorted by name.
    pub signatures: Vec<(String, Vec<u8>)>,
    /// mtime of the entries.
    pub mtime: u64,
}

fn push_entry(out: &mut Vec<u8>, path: &str, content: &[u8], mtime: u64) {
    let path = BundlePath::parse(path).expect("airlock/ entry names are valid paths");
    out.extend_from_slice(&format::canonical_header(
        &path,
        content.len() as u64,
        Mode::Regular,
        mtime,
    ));
    out.extend_from_slice(content);
    out.resize(
        out.len() + format::padding(content.len() as u64) as usize,
        0,
    );
}

impl ManifestFrame {
    /// The uncompressed tar bytes of this frame.
    pub fn to_tar(&self) -> Vec<u8> {
        let mut out = Vec::new();
        push_entry(&mut out, MANIFEST_PATH, &self.manifest, self.mtime);
        let sums_path = match self.sums_alg {
            HashAlg::Sha256 => SUMS_PATH,
            HashAlg::Sha384 => SUMS384_PATH,
        };
        push_entry(&mut out, sums_path, &self.sums, self.mtime);
        for (path, bytes) in &self.copies {
            push_entry(&mut out, &format!("{COPIES_DIR}/{path}"), bytes, self.mtime);
        }
        for (name, bytes) in &self.signatures {
            push_entry(
                &mut out,
                &format!("{SIGNATURES_DIR}/{name}"),
                bytes,
                self.mtime,
            );
        }
        out.resize(out.len() + 2 * BLOCK as usize, 0);
        out
    }

    /// The compressed frame.
    pub fn encode(&self, level: i32) -> std::io::Result<Vec<u8>> {
        compress_frame(&self.to_tar(), level)
    }

    /// Decodes a manifest frame: bounded decompression, then a strict walk of its tar entries.
    pub fn decode(compressed: &[u8]) -> Result<ManifestFrame, String> {
        let tar = decompress_frame(compressed, MANIFEST_FRAME_CAP)?;
        Self::from_tar(&tar)
    }

    /// Decodes the uncompressed tar of a manifest frame, strictly: the entries in the order
    /// above, each with its canonical header and zero padding, then exactly two zero blocks.
    /// So [`ManifestFrame::to_tar`] gives back exactly the bytes accepted (the proof layer of
    /// an OCI export carries this tar).
    pub fn from_tar(tar: &[u8]) -> Result<ManifestFrame, String> {
        let mut pos = 0usize;
        let mut next =
            |expect_name: Option<&str>| -> Result<Option<(String, Vec<u8>, u64)>, String> {
                let header: &[u8; 512] = tar
                    .get(pos..pos + 512)
                    .ok_or("the manifest frame ends inside a tar header")?
                    .try_into()
                    .expect("512 bytes");
                if header.iter().all(|&b| b == 0) {
                    return Ok(None);
                }
                let parsed = tar::Header::from_byte_slice(header);
                let name = String::from_utf8_lossy(&parsed.path_bytes()).to_string();
                let size = parsed
                    .entry_size()
                    .map_err(|e| format!("entry `{name}`: bad size: {e}"))?;
                let mtime = parsed
                    .mtime()
                    .map_err(|e| format!("entry `{name}`: bad mtime: {e}"))?;
                let path = BundlePath::parse(&name)
                    .map_err(|e| format!("entry `{}`: {e}", name.escape_debug()))?;
                let canonical = format::canonical_header(&path, size, Mode::Regular, mtime);
                if header != &canonical {
                    return Err(format!(
                        "entry `{name}`: {}",
                        format::describe_header_difference(header, &canonical)
                    ));
                }
                if let Some(expected) = expect_name
                    && name != expected
                {
                    return Err(format!("expected entry `{expected}`, found `{name}`"));
                }
                let start = pos + 512;
                let end = start
                    .checked_add(usize::try_from(size).map_err(|_| "entry too large")?)
                    .filter(|&e| e <= tar.len())
                    .ok_or_else(|| {
                        format!("entry `{name}` runs past the end of the manifest frame")
                    })?;
                let padded = end + format::padding(size) as usize;
                if padded > tar.len() || tar[end..padded].iter().any(|&b| b != 0) {
                    return Err(format!("entry `{name}` has missing or non-zero padding"));
                }
                pos = padded;
                Ok(Some((name, tar[start..end].to_vec(), mtime)))
            };
        let (_, manifest, mtime) =
            next(Some(MANIFEST_PATH))?.ok_or("the manifest frame holds no manifest")?;
        let (sums_name, sums, sums_mtime) =
            next(None)?.ok_or("the manifest frame holds no checksum file")?;
        let sums_alg = match sums_name.as_str() {
            SUMS_PATH => HashAlg::Sha256,
            SUMS384_PATH => HashAlg::Sha384,
            other => {
                return Err(format!(
                    "expected entry `{SUMS_PATH}` or `{SUMS384_PATH}`, found `{other}`"
                ));
            }
        };
        let mut signatures: Vec<(String, Vec<u8>)> = Vec::new();
        let mut copies: Vec<(BundlePath, Vec<u8>)> = Vec::new();
        let mut mtimes = vec![sums_mtime];
        while let Some((name, bytes, m)) = next(None)? {
            if let Some(copied) = name
                .strip_prefix(COPIES_DIR)
                .and_then(|n| n.strip_prefix('/'))
            {
                let path =
                    BundlePath::parse(copied).map_err(|e| format!("copy `{copied}`: {e}"))?;
                if !signatures.is_empty() || copies.last().is_some_and(|(last, _)| *last >= path) {
                    return Err(format!("copy `{copied}` is duplicated or out of order"));
                }
                if bytes.len() as u64 > MAX_COPY_BYTES {
                    return Err(format!(
                        "copy `{copied}` is larger than {MAX_COPY_BYTES} bytes"
                    ));
                }
                mtimes.push(m);
                copies.push((path, bytes));
                continue;
            }
            let file = name
                .strip_prefix(SIGNATURES_DIR)
                .and_then(|n| n.strip_prefix('/'))
                .filter(|n| {
                    (n.ends_with(".minisig") || n.ends_with(".mldsa87")) && !n.contains('/')
                })
                .ok_or_else(|| format!("unexpected entry `{name}` in the manifest frame"))?;
            if signatures.len() >= MAX_SIGNATURES {
                return Err(format!("more than {MAX_SIGNATURES} signature files"));
            }
            let cap = if file.ends_with(".mldsa87") {
                MAX_MLDSA_SIGNATURE_BYTES
            } else {
                MAX_SIGNATURE_BYTES
            };
            if bytes.len() as u64 > cap {
                return Err(format!(
                    "signature file `{file}` is larger than {cap} bytes"
                ));
            }
            if let Some((last, _)) = signatures.last()
                && last.as_str() >= file
            {
                return Err(format!(
                    "signature files are duplicated or out of order at `{file}`"
                ));
            }
            mtimes.push(m);
            signatures.push((file.to_string(), bytes));
        }
        if mtimes.iter().any(|&m| m != mtime) {
            return Err("the manifest frame's entries have differing mtimes".into());
        }
        // `next` consumed the first zero block; exactly one more must follow, then nothing.
        let rest = &tar[pos..];
        if rest.len() != 2 * BLOCK as usize || rest.iter().any(|&b| b != 0) {
            return Err(format!(
                "the manifest frame must end with exactly two zero blocks; found {} trailing bytes",
                rest.len()
            ));
        }
        Ok(ManifestFrame {
            manifest,
            sums,
            sums_alg,
            copies,
            signatures,
            mtime,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ManifestFrame {
        ManifestFrame {
            manifest: b"format = \"x\"\n".to_vec(),
            sums: b"".to_vec(),
            sums_alg: HashAlg::Sha256,
            copies: vec![(
                BundlePath::parse("policy/p/policy.toml").unwrap(),
                b"[policy]".to_vec(),
            )],
            signatures: vec![("release-0000000000000001.minisig".into(), b"sig".to_vec())],
            mtime: 7,
        }
    }

    #[test]
    fn round_trip() {
        let f = sample();
        let back = ManifestFrame::decode(&f.encode(3).unwrap()).unwrap();
        assert_eq!(back.manifest, f.manifest);
        assert_eq!(back.signatures, f.signatures);
        assert_eq!(back.copies, f.copies);
        assert_eq!(back.mtime, 7);
    }

    #[test]
    fn trailing_data_and_two_frames_are_refused() {
        let f = sample();
        let mut tar = f.to_tar();
        tar.extend_from_slice(&[0; 512]);
        assert!(
            ManifestFrame::from_tar(&tar)
                .unwrap_err()
                .contains("two zero blocks")
        );
        let mut two = f.encode(3).unwrap();
        two.extend(f.encode(3).unwrap());
        assert!(
            ManifestFrame::decode(&two)
                .unwrap_err()
                .contains("exactly one zstd frame")
        );
    }

    #[test]
    fn content_size_cap_holds_before_decompression() {
        let big = compress_frame(&vec![0u8; 1 << 20], 3).unwrap();
        assert!(
            decompress_frame(&big, 1000)
                .unwrap_err()
                .contains("over the cap")
        );
    }
}
