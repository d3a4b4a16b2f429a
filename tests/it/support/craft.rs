//! Bundle crafter for adversarial tests: builds airlock bundles directly from their parts (raw
//! 512-byte tar headers, raw or library-compressed zstd frames, a manifest text the test controls,
//! the manifest frame, the footer) and signs the result with a real test key, so a hostile bundle
//! carries *valid* signatures and only airlock's content checks stand between it and the disk.
//!
//! Include it with `#[path = "support/craft.rs"] mod craft;`.
//!
//! The usual flow:
//! 1. [`Parts::honest`] (or [`Parts::from_tar`] with a hostile uncompressed payload) cuts the tar
//!    stream into frames by the frame rule, compresses them, and writes a consistent manifest whose
//!    frame records claim the lengths the frame rule yields;
//! 2. the test mutates whatever it attacks: `parts.frames` (compressed payload frames),
//!    `parts.manifest` (typed, then [`Parts::seal`] re-renders and re-signs), `parts.manifest_text`
//!    (then [`Parts::sign_text`]), `parts.manifest_tar` / `parts.manifest_frame` (the last frame),
//!    `parts.footer`, `parts.trailing`;
//! 3. [`Parts::bytes`] assembles the file.
#![allow(dead_code)]

use airlock::format::digest::{Digest, HashAlg};
use airlock::format::frame::compress_frame;
use airlock::format::manifest::{
    Artifact, BundleInfo, FileEntry, FrameRecord, Kind, Layout, Manifest, Suite, checksum_file,
    plan_frames_for, tree_digest,
};
use airlock::format::manifest_frame::{MANIFEST_PATH, SIGNATURES_DIR};
use airlock::format::path::BundlePath;
use airlock::format::signature::Role;
use airlock::format::time::Timestamp;
use airlock::format::{self, FOOTER_LEN, Footer, Mode};
use airlock::trust::keys::sign_manifest;
use airlock::trust::keys::{SigningKey, keygen, load_signing_key};
use std::io::Read;
use std::path::Path;
use std::sync::OnceLock;

/// mtime of every crafted entry (a SOURCE_DATE_EPOCH).
pub const MTIME: u64 = 1_700_000_000;
/// `created` of crafted bundles.
pub const CREATED: Timestamp = at(1_700_000_000);
/// `expires` of crafted bundles (2096).
pub const EXPIRES: Timestamp = at(4_000_000_000);
/// The `--now` every test passes.
pub const NOW: &str = "2030-01-01T00:00:00Z";
/// Signing time recorded in trusted comments.
pub const SIGNED: Timestamp = at(1_700_000_100);

/// A time in range (for constants).
pub const fn at(secs: u64) -> Timestamp {
    match Timestamp::from_unix(secs) {
        Some(t) => t,
        None => panic!("time out of range"),
    }
}
/// The site crafted bundles are built for.
pub const SITE: &str = "test-site";

/// A signing key with its public half in trust-file form.
pub struct TestKey {
    /// The loaded key.
    pub key: SigningKey,
    /// The base64 public key line.
    pub public_base64: String,
}

impl TestKey {
    /// Generates a key with `airlock::trust::keys::keygen` and loads it back with `load_signing_key`.
    pub fn generate() -> TestKey {
        let dir = tempfile::tempdir().expect("tempdir");
        let prefix = dir.path().join("release");
        let g = keygen(&prefix, None, Some("airlock test key"), false).expect("keygen");
        let key = load_signing_key(&g.secret_path, None).expect("load key");
        TestKey {
            key,
            public_base64: g.public_base64,
        }
    }

    /// The raw 64-byte ed25519 secret key (seed || public key), from minisign's key layout.
    pub fn ed25519_secret(&self) -> [u8; 64] {
        let bytes = self.key.secret.to_bytes();
        // sig_alg 2, kdf_alg 2, chk_alg 2, salt 32, opslimit 8, memlimit 8, keynum 8, sk 64, chk 32
        let mut sk = [0u8; 64];
        sk.copy_from_slice(&bytes[62..126]);
        sk
    }

    /// The 8-byte key number.
    pub fn keynum(&self) -> [u8; 8] {
        let bytes = self.key.secret.to_bytes();
        let mut k = [0u8; 8];
        k.copy_from_slice(&bytes[54..62]);
        k
    }
}

/// The test release key, generated once per test binary.
pub fn key() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(TestKey::generate)
}

/// A second, equally trusted-looking key that the trust file does not pin.
pub fn stranger() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(TestKey::generate)
}

/// A trust file for `SITE` that pins [`key`] for the release role.
pub fn trust_toml() -> String {
    format!(
        "site = \"{SITE}\"\n\n[roles.release]\nthreshold = 1\nkeys = [\"{}\"]\n",
        key().public_base64
    )
}

/// One payload file.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Bundle path.
    pub path: String,
    /// Content.
    pub content: Vec<u8>,
    /// Mode.
    pub mode: Mode,
}

/// A regular (0644) file.
pub fn file(path: &str, content: impl Into<Vec<u8>>) -> Entry {
    Entry {
        path: path.to_string(),
        content: content.into(),
        mode: Mode::Regular,
    }
}

impl Entry {
    /// The manifest entry for this file.
    pub fn manifest_entry(&self) -> FileEntry {
        FileEntry {
            path: BundlePath::parse(&self.path).expect("crafted manifest paths are valid"),
            size: self.content.len() as u64,
            mode: self.mode,
            digest: digest(&self.content),
        }
    }

    /// The canonical tar entry (header, content, padding).
    pub fn canonical_tar(&self) -> Vec<u8> {
        let e = self.manifest_entry();
        let mut out = format::canonical_header(&e.path, e.size, e.mode, MTIME).to_vec();
        out.extend_from_slice(&self.content);
        pad(&mut out);
        out
    }
}

/// A canonical regular-file tar entry (header, content, padding) for `path` with mode 0644.
pub fn regular_entry(path: &str, content: &[u8], mtime: u64) -> Vec<u8> {
    let p = BundlePath::parse(path).expect("valid path");
    let mut out = format::canonical_header(&p, content.len() as u64, Mode::Regular, mtime).to_vec();
    out.extend_from_slice(content);
    pad(&mut out);
    out
}

/// Zero-pads `buf` to a multiple of 512 bytes.
pub fn pad(buf: &mut Vec<u8>) {
    let len = buf.len() as u64;
    buf.resize((len + format::padding(len)) as usize, 0);
}

/// The canonical payload tar stream of `files`, in the given order.
pub fn canonical_tar(files: &[Entry]) -> Vec<u8> {
    files.iter().flat_map(|f| f.canonical_tar()).collect()
}

/// A small honest bundle's files: two text files of one data artifact.
pub fn small_files() -> Vec<Entry> {
    vec![
        file("data/d/a.txt", b"alpha alpha alpha\n".to_vec()),
        file("data/d/b.txt", b"bravo bravo\n".to_vec()),
    ]
}

/// Deterministic pseudo-random bytes (xorshift64*), incompressible for zstd.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        out.extend_from_slice(&s.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// All the parts of a bundle, each open to mutation.
#[derive(Clone)]
pub struct Parts {
    /// The typed manifest the text is rendered from.
    pub manifest: Manifest,
    /// The exact manifest bytes that get signed and stored.
    pub manifest_text: String,
    /// The checksum file stored in the manifest frame.
    pub sums: Vec<u8>,
    /// Signature files `(name, bytes)` stored in the manifest frame.
    pub signatures: Vec<(String, Vec<u8>)>,
    /// Compressed payload frames, in file order.
    pub frames: Vec<Vec<u8>>,
    /// If set, the uncompressed manifest-frame tar used instead of the canonical one.
    pub manifest_tar: Option<Vec<u8>>,
    /// If set, the compressed manifest frame used instead of compressing the tar.
    pub manifest_frame: Option<Vec<u8>>,
    /// If set, the 40 (or any number of) footer bytes used instead of the correct footer.
    pub footer: Option<Vec<u8>>,
    /// Bytes appended after the footer.
    pub trailing: Vec<u8>,
    /// Copies of the policy and safeguard files for the manifest frame (`airlock/copies/`):
    /// [`Parts::honest`] fills them from the files it is given.
    pub copies: Vec<(String, Vec<u8>)>,
    /// zstd level of payload and manifest frames.
    pub level: i32,
}

/// Artifacts for `files`: one per `KIND/NAME` prefix whose kind is known, with matching
/// counts and tree digests.
pub fn artifacts_for(files: &[FileEntry]) -> Vec<Artifact> {
    let mut roots: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let mut it = f.path.as_str().splitn(3, '/');
            let (k, n) = (it.next()?, it.next()?);
            it.next()?;
            Kind::parse(k).map(|_| format!("{k}/{n}"))
        })
        .collect();
    roots.sort();
    roots.dedup();
    roots
        .into_iter()
        .map(|root| {
            let (k, n) = root.split_once('/').unwrap();
            let under: Vec<&FileEntry> = files.iter().filter(|f| f.path.is_below(&root)).collect();
            Artifact {
                kind: Kind::parse(k).unwrap(),
                name: n.to_string(),
                path: BundlePath::parse(&root).unwrap(),
                tree_digest: tree_digest(
                    HashAlg::Sha256,
                    under
                        .iter()
                        .map(|f| (&f.path.as_str()[root.len() + 1..], f.size, f.mode, f.digest)),
                ),
                files: under.len() as u64,
                bytes: under.iter().map(|f| f.size).sum(),
            }
        })
        .collect()
}

/// Cuts `tar` at the frame rule's boundaries for `entries`; the last frame takes whatever is left
/// (more or less than the rule says, for hostile streams).
pub fn cut_by_rule(entries: &[FileEntry], tar: &[u8]) -> Vec<Vec<u8>> {
    let spans = plan_frames_for(entries);
    let mut out = Vec::new();
    for (i, s) in spans.iter().enumerate() {
        let start = (s.start as usize).min(tar.len());
        let end = if i + 1 == spans.len() {
            tar.len()
        } else {
            ((s.start + s.len) as usize).min(tar.len())
        };
        out.push(tar[start..end].to_vec());
    }
    out
}

/// The bundle identity used by crafted bundles.
pub fn bundle_info(name: &str) -> BundleInfo {
    BundleInfo {
        name: name.to_string(),
        version: "1.0.0".into(),
        sequence: 1,
        target: SITE.into(),
        created: CREATED,
        expires: EXPIRES,
        mtime: MTIME,
        notice_given: None,
        not_before: None,
    }
}

impl Parts {
    /// An honest, valid bundle of `files` (sorted by the caller or not: they are sorted here).
    pub fn honest(files: &[Entry]) -> Parts {
        let mut files = files.to_vec();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let entries: Vec<FileEntry> = files.iter().map(Entry::manifest_entry).collect();
        let mut parts = Parts::from_tar(entries, &canonical_tar(&files));
        parts.copies = files
            .iter()
            .filter(|f| airlock::trust::enforce::is_governed(&BundlePath::parse(&f.path).unwrap()))
            .map(|f| (f.path.clone(), f.content.clone()))
            .collect();
        if !parts.copies.is_empty() {
            let governed: Vec<(BundlePath, Vec<u8>)> = parts
                .copies
                .iter()
                .map(|(p, b)| (BundlePath::parse(p).unwrap(), b.clone()))
                .collect();
            if let Ok(g) = airlock::trust::enforce::load_governed(&governed) {
                parts.manifest.policy = g.policy.map(|p| p.reference(HashAlg::Sha256));
            }
            parts.seal();
        }
        parts
    }

    /// A bundle whose manifest lists `entries` (in this order, unchecked) and whose payload is
    /// the uncompressed tar stream `tar`, cut by the frame rule. Frame records claim the rule's
    /// lengths, as an honest signer's manifest would.
    pub fn from_tar(entries: Vec<FileEntry>, tar: &[u8]) -> Parts {
        let plain = cut_by_rule(&entries, tar);
        Parts::from_frames(entries, &plain)
    }

    /// A bundle from already-cut uncompressed frames.
    pub fn from_frames(entries: Vec<FileEntry>, plain: &[Vec<u8>]) -> Parts {
        let level = 3;
        let frames: Vec<Vec<u8>> = plain
            .iter()
            .map(|p| compress_frame(p, level).expect("compress"))
            .collect();
        let spans = plan_frames_for(&entries);
        let manifest = Manifest {
            bundle: bundle_info("crafted"),
            layout: Layout {
                suite: Suite::Classic,
                zstd_level: level,
                payload_bytes: 0,
                checksums: digest(&[]),
            },
            policy: None,
            artifacts: artifacts_for(&entries),
            frames: frames
                .iter()
                .zip(plain)
                .enumerate()
                .map(|(i, (_, p))| FrameRecord {
                    offset: 0,
                    compressed_size: 0,
                    uncompressed_size: spans.get(i).map_or(p.len() as u64, |s| s.len),
                    digest: digest(&[]),
                })
                .collect(),
            files: entries,
        };
        let mut parts = Parts {
            manifest,
            manifest_text: String::new(),
            sums: Vec::new(),
            signatures: Vec::new(),
            frames,
            manifest_tar: None,
            manifest_frame: None,
            footer: None,
            trailing: Vec::new(),
            copies: Vec::new(),
            level,
        };
        parts.seal();
        parts
    }

    /// Recomputes the frame records' offsets, sizes and digests from `self.frames` (keeping each
    /// record's `uncompressed_size`), the payload length, checksum file, then renders the manifest
    /// and signs it with the test release key.
    pub fn seal(&mut self) {
        let mut offset = 0u64;
        for (record, frame) in self.manifest.frames.iter_mut().zip(&self.frames) {
            record.offset = offset;
            record.compressed_size = frame.len() as u64;
            record.digest = self.manifest.layout.suite.hash().digest(frame);
            offset += frame.len() as u64;
        }
        self.manifest.layout.payload_bytes = offset;
        let sums = checksum_file(&self.manifest.files);
        self.manifest.layout.checksums = self.manifest.layout.suite.hash().digest(sums.as_bytes());
        self.sums = sums.into_bytes();
        self.manifest_text = self.manifest.to_canonical();
        self.sign_text();
    }

    /// Signs `self.manifest_text` exactly as it is (one release signature by the test key).
    pub fn sign_text(&mut self) {
        self.signatures = vec![self.signature_by(key(), Role::Release)];
    }

    /// A valid signature file over `self.manifest_text` by `k` in `role`.
    pub fn signature_by(&self, k: &TestKey, role: Role) -> (String, Vec<u8>) {
        let (name, text) = sign_manifest(
            &k.key,
            &self.manifest,
            self.manifest_text.as_bytes(),
            role,
            SIGNED,
        )
        .expect("sign");
        (name, text.into_bytes())
    }

    /// The manifest frame's uncompressed tar (the override, or the canonical one).
    pub fn manifest_frame_tar(&self) -> Vec<u8> {
        self.manifest_tar.clone().unwrap_or_else(|| {
            let mtime = self.manifest.bundle.mtime;
            let mut out = Vec::new();
            out.extend(regular_entry(
                MANIFEST_PATH,
                self.manifest_text.as_bytes(),
                mtime,
            ));
            out.extend(regular_entry(
                self.manifest.layout.suite.sums_path(),
                &self.sums,
                mtime,
            ));
            for (path, bytes) in &self.copies {
                out.extend(regular_entry(
                    &format!("{}/{path}", airlock::format::manifest_frame::COPIES_DIR),
                    bytes,
                    mtime,
                ));
            }
            for (name, bytes) in &self.signatures {
                out.extend(regular_entry(
                    &format!("{SIGNATURES_DIR}/{name}"),
                    bytes,
                    mtime,
                ));
            }
            out.resize(out.len() + 1024, 0);
            out
        })
    }

    /// The compressed manifest frame (the override, or the compressed tar).
    pub fn manifest_frame_bytes(&self) -> Vec<u8> {
        self.manifest_frame
            .clone()
            .unwrap_or_else(|| compress_frame(&self.manifest_frame_tar(), self.level).unwrap())
    }

    /// The whole bundle file.
    pub fn bytes(&self) -> Vec<u8> {
        let mut out: Vec<u8> = self.frames.concat();
        let offset = out.len() as u64;
        let mf = self.manifest_frame_bytes();
        out.extend_from_slice(&mf);
        match &self.footer {
            Some(f) => out.extend_from_slice(f),
            None => out.extend_from_slice(
                &Footer {
                    manifest_offset: offset,
                    manifest_len: mf.len() as u64,
                }
                .encode(),
            ),
        }
        out.extend_from_slice(&self.trailing);
        out
    }

    /// Writes the bundle to `path`.
    pub fn write(&self, path: &Path) {
        std::fs::write(path, self.bytes()).expect("write bundle");
    }

    /// Offset of the manifest frame in [`Parts::bytes`].
    pub fn manifest_offset(&self) -> u64 {
        self.frames.iter().map(|f| f.len() as u64).sum()
    }
}

// ---------------------------------------------------------------------------------------------
// Raw tar headers

/// Recomputes a raw header's checksum field (as `tar` does: six octal digits, NUL, space).
pub fn fix_checksum(h: &mut [u8; 512]) {
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let text = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(text.as_bytes());
}

/// The canonical header for `path` (which must be a valid bundle path) with `edit` applied to its
/// raw bytes, then the checksum recomputed: a header that differs in exactly what `edit` changes.
pub fn edited_header(path: &str, size: u64, edit: impl FnOnce(&mut [u8; 512])) -> [u8; 512] {
    let p = BundlePath::parse(path).expect("valid path");
    let mut h = format::canonical_header(&p, size, Mode::Regular, MTIME);
    edit(&mut h);
    fix_checksum(&mut h);
    h
}

/// A ustar header with arbitrary name bytes (at most 100), type flag and link name; everything
/// else canonical (mode 0644, owner 0, mtime [`MTIME`]).
pub fn raw_header(name: &[u8], size: u64, typeflag: u8, link: &[u8]) -> [u8; 512] {
    let mut h =
        format::canonical_header(&BundlePath::parse("x").unwrap(), size, Mode::Regular, MTIME);
    assert!(name.len() <= 100 && link.len() <= 100);
    h[0..100].fill(0);
    h[..name.len()].copy_from_slice(name);
    h[156] = typeflag;
    h[157..257].fill(0);
    h[157..157 + link.len()].copy_from_slice(link);
    fix_checksum(&mut h);
    h
}

/// Sets the octal `mode` field of a raw header (checksum not fixed).
pub fn set_mode(h: &mut [u8; 512], mode: u32) {
    let text = format!("{mode:07o}\0");
    h[100..108].copy_from_slice(text.as_bytes());
}

/// Sets the octal device fields of a raw header (checksum not fixed).
pub fn set_device(h: &mut [u8; 512], major: u32, minor: u32) {
    h[329..337].copy_from_slice(format!("{major:07o}\0").as_bytes());
    h[337..345].copy_from_slice(format!("{minor:07o}\0").as_bytes());
}

/// A PAX extended-header entry ('x') carrying `records` (key, value), padded.
pub fn pax_entry(records: &[(&str, &str)]) -> Vec<u8> {
    let mut body = String::new();
    for (k, v) in records {
        // "LEN key=value\n" where LEN counts itself.
        let rest = k.len() + v.len() + 3;
        let mut len = rest + 1;
        while len != rest + len.to_string().len() {
            len = rest + len.to_string().len();
        }
        body.push_str(&format!("{len} {k}={v}\n"));
    }
    let mut out = raw_header(b"PaxHeaders.0/entry", body.len() as u64, b'x', b"").to_vec();
    out.extend_from_slice(body.as_bytes());
    pad(&mut out);
    out
}

/// A GNU long-name entry ('L') for `name`, padded.
pub fn gnu_long_name(name: &[u8]) -> Vec<u8> {
    let mut content = name.to_vec();
    content.push(0);
    let mut h = raw_header(b"././@LongLink", content.len() as u64, b'L', b"");
    h[257..265].copy_from_slice(b"ustar  \0");
    fix_checksum(&mut h);
    let mut out = h.to_vec();
    out.extend_from_slice(&content);
    pad(&mut out);
    out
}

/// A GNU sparse header ('S') for `name`: `stored` data bytes at offset 0 of a file whose real
/// size is `real_size`. The data (zeros) follows, padded.
pub fn gnu_sparse_entry(name: &[u8], stored: u64, real_size: u64) -> Vec<u8> {
    let mut h = raw_header(name, stored, b'S', b"");
    h[257..265].copy_from_slice(b"ustar  \0");
    // GNU layout: sparse map at 386 (4 × (offset 12, numbytes 12)), isextended 482, realsize 483.
    h[329..345].fill(0); // GNU headers have no device fields in the ustar sense here
    h[345..500].fill(0);
    let octal12 = |v: u64| format!("{v:011o}\0");
    h[386..398].copy_from_slice(octal12(real_size - stored).as_bytes());
    h[398..410].copy_from_slice(octal12(stored).as_bytes());
    h[482] = 0;
    h[483..495].copy_from_slice(octal12(real_size).as_bytes());
    fix_checksum(&mut h);
    let mut out = h.to_vec();
    out.resize(out.len() + stored as usize, 0);
    pad(&mut out);
    out
}

/// What a stock tar reader sees in an uncompressed stream: (path, type flag, size, mode,
/// link name) of each entry, as the `tar` crate interprets it (PAX and GNU extensions applied).
pub fn stock_tar_view(tar: &[u8]) -> Vec<(String, u8, u64, u32, String)> {
    let mut archive = tar::Archive::new(tar);
    let mut out = Vec::new();
    for entry in archive.entries().expect("tar entries") {
        let Ok(entry) = entry else { break };
        let h = entry.header();
        out.push((
            String::from_utf8_lossy(&entry.path_bytes()).to_string(),
            h.entry_type().as_byte(),
            entry.size(),
            h.mode().unwrap_or(0),
            entry
                .link_name_bytes()
                .map(|l| String::from_utf8_lossy(&l).to_string())
                .unwrap_or_default(),
        ));
    }
    out
}

/// Decompresses a whole bundle the way `zstd -d` does (all frames, skippable frames skipped).
pub fn zstd_d(bundle: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    zstd::stream::read::Decoder::new(bundle)
        .expect("decoder")
        .read_to_end(&mut out)
        .expect("zstd -d");
    out
}

// ---------------------------------------------------------------------------------------------
// Raw zstd frames (RFC 8878), built by hand so a test controls every header field.

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
/// Largest block a frame with a window of at least 128 KiB may hold.
pub const MAX_BLOCK: u64 = 128 << 10;

fn frame_header(declared: Option<u64>, window_log: Option<u8>) -> Vec<u8> {
    let mut out = ZSTD_MAGIC.to_vec();
    let single_segment = window_log.is_none();
    let fcs_flag: u8 = if declared.is_some() { 3 } else { 0 };
    assert!(!single_segment || declared.is_some());
    out.push((fcs_flag << 6) | (u8::from(single_segment) << 5));
    if let Some(log) = window_log {
        assert!((10..=41).contains(&log));
        out.push((log - 10) << 3);
    }
    if let Some(n) = declared {
        out.extend_from_slice(&n.to_le_bytes());
    }
    out
}

fn block_header(last: bool, kind: u8, size: u64) -> [u8; 3] {
    let v = u32::from(last) | (u32::from(kind) << 1) | ((size as u32) << 3);
    let b = v.to_le_bytes();
    [b[0], b[1], b[2]]
}

/// A frame of raw (stored) blocks holding `data`, declaring `declared` as content size (or none)
/// and, unless `window_log` is `None` (single segment), a window of `2^window_log` bytes.
pub fn raw_frame(data: &[u8], declared: Option<u64>, window_log: Option<u8>) -> Vec<u8> {
    let mut out = frame_header(declared, window_log);
    let chunks: Vec<&[u8]> = if data.is_empty() {
        vec![&[][..]]
    } else {
        data.chunks(MAX_BLOCK as usize).collect()
    };
    for (i, c) in chunks.iter().enumerate() {
        out.extend_from_slice(&block_header(i + 1 == chunks.len(), 0, c.len() as u64));
        out.extend_from_slice(c);
    }
    out
}

/// A zstd bomb: RLE blocks regenerating `total` bytes of `byte` (4 bytes per 128 KiB), declaring
/// `declared` (or no) content size, with a 2^`window_log` window (at least 17).
pub fn rle_bomb(total: u64, byte: u8, declared: Option<u64>, window_log: u8) -> Vec<u8> {
    assert!(window_log >= 17);
    let mut out = frame_header(declared, Some(window_log));
    let mut left = total;
    loop {
        let n = left.min(MAX_BLOCK);
        left -= n;
        out.extend_from_slice(&block_header(left == 0, 1, n));
        out.push(byte);
        if left == 0 {
            break;
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Minisign signature files built by hand.

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn b64(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A minisign signature file from its parts: `sig_alg` (`ED` prehashed, `Ed` legacy), the
/// 64-byte signature, the trusted comment line (without its prefix) or `None` to omit the line,
/// and the global signature.
pub fn minisig_text(
    untrusted: &str,
    sig_alg: &[u8; 2],
    keynum: &[u8; 8],
    sig: &[u8],
    trusted: Option<&str>,
    global: &[u8],
) -> String {
    let mut line2 = sig_alg.to_vec();
    line2.extend_from_slice(keynum);
    line2.extend_from_slice(sig);
    let mut s = format!("untrusted comment: {untrusted}\n{}\n", b64(&line2));
    if let Some(t) = trusted {
        s.push_str(&format!("trusted comment: {t}\n"));
    }
    s.push_str(&b64(global));
    s.push('\n');
    s
}

/// A legacy (`Ed`, non-prehashed) minisign signature file by `k` over `message` itself, with a
/// genuine global signature over `trusted`: built with a plain ed25519 implementation from the
/// key's raw secret, since minisign 0.10 only writes prehashed signatures.
pub fn legacy_minisig(k: &TestKey, message: &[u8], trusted: &str) -> String {
    let sk = ed25519_compact::SecretKey::from_slice(&k.ed25519_secret()).expect("sk");
    let sig = sk.sign(message, None);
    let mut sig_and_comment = sig.to_vec();
    sig_and_comment.extend_from_slice(trusted.as_bytes());
    let global = sk.sign(&sig_and_comment, None);
    minisig_text(
        "airlock release signature",
        b"Ed",
        &k.keynum(),
        sig.as_ref(),
        Some(trusted),
        global.as_ref(),
    )
}

/// Signs a new trusted comment over an existing valid signature's `sig` bytes, producing a
/// signature file whose data signature is valid and whose global signature is valid for the new
/// comment: a trusted comment the signer really signed, but that disagrees with the manifest.
pub fn resign_comment(k: &TestKey, valid_minisig: &str, trusted: &str) -> String {
    let line2 = valid_minisig.lines().nth(1).expect("signature line");
    let decoded = unb64(line2);
    let (alg, rest) = decoded.split_at(2);
    let (keynum, sig) = rest.split_at(8);
    let sk = ed25519_compact::SecretKey::from_slice(&k.ed25519_secret()).expect("sk");
    let mut sig_and_comment = sig.to_vec();
    sig_and_comment.extend_from_slice(trusted.as_bytes());
    let global = sk.sign(&sig_and_comment, None);
    minisig_text(
        "airlock release signature",
        alg.try_into().unwrap(),
        keynum.try_into().unwrap(),
        sig,
        Some(trusted),
        global.as_ref(),
    )
}

/// Standard base64 decoding (padding tolerated, invalid characters skipped).
pub fn unb64(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.trim().bytes() {
        let Some(v) = B64.iter().position(|&x| x == c) else {
            continue;
        };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// Footer bytes for an arbitrary offset and length.
pub fn footer(offset: u64, len: u64) -> Vec<u8> {
    Footer {
        manifest_offset: offset,
        manifest_len: len,
    }
    .encode()
    .to_vec()
}

/// The footer length, for tests.
pub const FOOTER: u64 = FOOTER_LEN;

/// The classic suite's (SHA-256) digest, as crafted bundles use it.
pub fn digest(bytes: &[u8]) -> Digest {
    HashAlg::Sha256.digest(bytes)
}
