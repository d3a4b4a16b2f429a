//! Digests: the hash algorithms a bundle's suite uses (`docs/format.md` section 3.1) — SHA-256 in
//! the `classic` suite, SHA-384 in the `cnsa2` suite — their values, hex text, incremental hashers
//! and a writer that hashes what passes through it. Hashing goes through aws-lc-rs, whose `fips`
//! build is a FIPS 140-3 validated module (`docs/security.md`, "Cryptography").
use aws_lc_rs::digest as lc;
use std::fmt;
use std::io::{self, Write};

/// A hash algorithm airlock uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HashAlg {
    /// SHA-256 (FIPS 180-4), the `classic` suite.
    Sha256,
    /// SHA-384 (FIPS 180-4), the `cnsa2` suite (CNSA 2.0).
    Sha384,
}

impl HashAlg {
    /// `sha256` or `sha384`: the prefix of tree digests and the manifest's field names.
    pub fn name(self) -> &'static str {
        match self {
            HashAlg::Sha256 => "sha256",
            HashAlg::Sha384 => "sha384",
        }
    }

    /// `SHA256` or `SHA384`, as in `SHA256SUMS`.
    pub fn upper(self) -> &'static str {
        match self {
            HashAlg::Sha256 => "SHA256",
            HashAlg::Sha384 => "SHA384",
        }
    }

    /// Length of a digest in bytes.
    pub fn len(self) -> usize {
        match self {
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
        }
    }

    /// Always false: every algorithm yields bytes.
    pub fn is_empty(self) -> bool {
        false
    }

    fn lc(self) -> &'static lc::Algorithm {
        match self {
            HashAlg::Sha256 => &lc::SHA256,
            HashAlg::Sha384 => &lc::SHA384,
        }
    }

    /// The digest of `bytes`.
    pub fn digest(self, bytes: &[u8]) -> Digest {
        let d = lc::digest(self.lc(), bytes);
        Digest::from_slice(self, d.as_ref()).expect("the algorithm's own length")
    }

    /// An incremental hasher.
    pub fn hasher(self) -> Hasher {
        Hasher {
            alg: self,
            context: lc::Context::new(self.lc()),
        }
    }

    /// Parses `2 × len` lowercase hex digits into a digest of this algorithm.
    pub fn parse_hex(self, text: &str) -> Option<Digest> {
        let bytes = text.as_bytes();
        if bytes.len() != 2 * self.len() {
            return None;
        }
        let nibble = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        let mut out = [0u8; 48];
        for (i, pair) in bytes.chunks(2).enumerate() {
            out[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
        }
        Some(Digest {
            alg: self,
            bytes: out,
        })
    }
}

/// A digest value of a known algorithm. Two digests are equal only if their algorithms are.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest {
    alg: HashAlg,
    // Room for the longest algorithm; the bytes past `alg.len()` are always zero.
    bytes: [u8; 48],
}

impl Digest {
    /// A digest of `alg` from exactly `alg.len()` bytes.
    pub fn from_slice(alg: HashAlg, bytes: &[u8]) -> Option<Digest> {
        if bytes.len() != alg.len() {
            return None;
        }
        let mut out = [0u8; 48];
        out[..bytes.len()].copy_from_slice(bytes);
        Some(Digest { alg, bytes: out })
    }

    /// A SHA-256 digest from its 32 bytes.
    pub fn sha256(bytes: [u8; 32]) -> Digest {
        Digest::from_slice(HashAlg::Sha256, &bytes).expect("32 bytes")
    }

    /// Its algorithm.
    pub fn alg(&self) -> HashAlg {
        self.alg
    }

    /// Its bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.alg.len()]
    }

    /// Lowercase hex.
    pub fn hex(&self) -> String {
        hex(self.as_bytes())
    }

    /// `sha256:HEX` or `sha384:HEX`, the form of tree digests.
    pub fn prefixed(&self) -> String {
        format!("{}:{}", self.alg.name(), self.hex())
    }

    /// Parses `ALG:HEX` (`sha256:` or `sha384:`).
    pub fn parse_prefixed(text: &str) -> Option<Digest> {
        let (alg, hex) = text.split_once(':')?;
        match alg {
            "sha256" => HashAlg::Sha256.parse_hex(hex),
            "sha384" => HashAlg::Sha384.parse_hex(hex),
            _ => None,
        }
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.prefixed())
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.prefixed())
    }
}

/// An incremental hash of one algorithm.
#[derive(Clone)]
pub struct Hasher {
    alg: HashAlg,
    context: lc::Context,
}

impl Hasher {
    /// Adds `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        self.context.update(bytes);
    }

    /// The digest of everything added.
    pub fn finish(self) -> Digest {
        let d = self.context.finish();
        Digest::from_slice(self.alg, d.as_ref()).expect("the algorithm's own length")
    }
}

/// The SHA-256 of `bytes`, as raw bytes: the identifier of a manifest in footers and state files,
/// whatever the suite (`docs/format.md` 7.1).
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    HashAlg::Sha256
        .digest(bytes)
        .as_bytes()
        .try_into()
        .expect("32 bytes")
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

/// Parses 64 lowercase hex digits into 32 bytes (a SHA-256 identifier); anything else is `None`.
pub fn parse_hex_sha256(text: &str) -> Option<[u8; 32]> {
    HashAlg::Sha256
        .parse_hex(text)
        .map(|d| d.as_bytes().try_into().expect("32 bytes"))
}

/// A writer that hashes and counts every byte written before passing it on.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Hasher,
    written: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps `inner`, hashing with `alg`.
    pub fn new(inner: W, alg: HashAlg) -> Self {
        HashingWriter {
            inner,
            hasher: alg.hasher(),
            written: 0,
        }
    }

    /// Flushes the inner writer and returns it with the digest and byte count.
    pub fn finish(mut self) -> io::Result<(W, Digest, u64)> {
        self.inner.flush()?;
        Ok((self.inner, self.hasher.finish(), self.written))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_uppercase() {
        let d = HashAlg::Sha256.digest(b"abc");
        let h = d.hex();
        assert_eq!(
            h,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(HashAlg::Sha256.parse_hex(&h), Some(d));
        assert_eq!(HashAlg::Sha256.parse_hex(&h.to_uppercase()), None);
        assert_eq!(HashAlg::Sha256.parse_hex(&h[..62]), None);
        assert_eq!(HashAlg::Sha384.parse_hex(&h), None);
    }

    #[test]
    fn sha384_is_the_fips_value_and_differs_from_sha256_by_algorithm() {
        // FIPS 180-4 example "abc".
        assert_eq!(
            HashAlg::Sha384.digest(b"abc").hex(),
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7"
        );
        let d = HashAlg::Sha384.digest(b"abc");
        assert_eq!(Digest::parse_prefixed(&d.prefixed()), Some(d));
        assert_ne!(
            Digest::parse_prefixed(&format!("sha256:{}", &d.hex()[..64])),
            Some(d)
        );
    }

    #[test]
    fn hashing_writer_matches_one_shot_hash() {
        for alg in [HashAlg::Sha256, HashAlg::Sha384] {
            let mut w = HashingWriter::new(Vec::new(), alg);
            w.write_all(b"ab").unwrap();
            w.write_all(b"c").unwrap();
            let (inner, digest, n) = w.finish().unwrap();
            assert_eq!(inner, b"abc");
            assert_eq!(digest, alg.digest(b"abc"));
            assert_eq!(n, 3);
        }
    }
}
