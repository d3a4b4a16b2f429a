//! The manifest frame (`format::manifest_frame::ManifestFrame::decode`) and everything
//! `container::SignedManifest::decode` checks on it before any signature is verified: the only
//! unauthenticated data airlock decompresses and parses.
//!
//! Input: one mode byte, then the frame. Mode 0: the bytes are the compressed frame as stored
//! (bounded decompression, frame-header checks). Mode 1: the bytes are the frame's tar, which the
//! target compresses first, so mutations reach the tar walk, the manifest, the checksum file, the
//! copies and the signature files rather than failing zstd's checksum.
#![no_main]

use airlock::container::SignedManifest;
use airlock::format::MANIFEST_FRAME_CAP;
use airlock::format::frame::compress_frame;
use airlock::format::manifest_frame::ManifestFrame;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let compressed = match mode {
        0 => rest.to_vec(),
        1 if rest.len() as u64 <= MANIFEST_FRAME_CAP => {
            compress_frame(rest, 1).expect("compressing in memory cannot fail")
        }
        _ => return,
    };
    if let Ok(frame) = ManifestFrame::decode(&compressed) {
        // What decoded re-encodes to a frame that decodes to the same entries.
        let again = ManifestFrame::decode(&frame.encode(1).expect("compresses"))
            .expect("a re-encoded frame decodes");
        assert_eq!(again.manifest, frame.manifest);
        assert_eq!(again.sums, frame.sums);
        assert_eq!(again.copies, frame.copies);
        assert_eq!(again.signatures, frame.signatures);
        assert_eq!(again.mtime, frame.mtime);
        if mode == 1 {
            assert_eq!(frame.to_tar(), rest, "an accepted tar is the canonical one");
        }
    }
    let _ = SignedManifest::decode(Path::new("fuzz.airlock.tar.zst"), compressed);
});
