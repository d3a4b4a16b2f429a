//! The three footer decoders: bundle (`format::footer::Footer`), volume
//! (`container::volume::VolumeFooter`) and delta (`container::delta::DeltaFooter`). They read the
//! last bytes of any file a user hands over, before anything else.
//!
//! Input: 8 bytes of file length (u64 LE), then the bytes the file ends with. Each decoder gets
//! its own length's worth from the end (and the whole rest, for the length check). Anything a
//! decoder accepts must re-encode to the same bytes and satisfy the bounds the readers rely on.
#![no_main]

use airlock::container::delta::{DELTA_FOOTER_LEN, DeltaFooter};
use airlock::container::volume::{VOLUME_FOOTER_LEN, VolumeFooter};
use airlock::format::MANIFEST_FRAME_CAP;
use airlock::format::footer::{FOOTER_LEN, Footer};
use libfuzzer_sys::fuzz_target;

fn tail(bytes: &[u8], len: u64) -> Option<&[u8]> {
    bytes.len().checked_sub(len as usize).map(|at| &bytes[at..])
}

fuzz_target!(|data: &[u8]| {
    let Some((len, rest)) = data.split_first_chunk::<8>() else {
        return;
    };
    let file_len = u64::from_le_bytes(*len);

    let _ = Footer::decode(rest, file_len);
    if let Some(bytes) = tail(rest, FOOTER_LEN)
        && let Ok(f) = Footer::decode(bytes, file_len)
    {
        assert_eq!(
            &f.encode()[..],
            bytes,
            "a bundle footer re-encodes to its bytes"
        );
        assert!((1..=MANIFEST_FRAME_CAP).contains(&f.manifest_len));
        assert_eq!(f.manifest_offset + f.manifest_len + FOOTER_LEN, file_len);
    }

    let _ = VolumeFooter::decode(rest, file_len);
    if let Some(bytes) = tail(rest, VOLUME_FOOTER_LEN)
        && let Ok(f) = VolumeFooter::decode(bytes, file_len)
    {
        assert_eq!(
            &f.encode()[..],
            bytes,
            "a volume footer re-encodes to its bytes"
        );
        assert!(1 <= f.number && f.number <= f.count && f.frame_count >= 1);
        assert_eq!(
            f.manifest_offset + f.manifest_len + VOLUME_FOOTER_LEN,
            file_len
        );
        // The payload length the readers derive must not underflow.
        assert!(f.payload_len() <= f.manifest_offset);
    }

    let _ = DeltaFooter::decode(rest, file_len);
    if let Some(bytes) = tail(rest, DELTA_FOOTER_LEN)
        && let Ok(f) = DeltaFooter::decode(bytes, file_len)
    {
        assert_eq!(
            &f.encode()[..],
            bytes,
            "a delta footer re-encodes to its bytes"
        );
        assert!(f.index_offset() <= file_len);
        assert_eq!(
            f.index_offset() + 8 + 8 * f.carried + DELTA_FOOTER_LEN,
            file_len
        );
    }
});
