//! Payload frames (`docs/format.md` section 1.3): the deterministic rule that cuts the payload tar
//! stream into frames, and the zstd codec with the caps every reader enforces before allocating.
use super::{BLOCK, FRAME_SIZE, LARGE_FILE, MAX_ENTRIES};

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

/// Largest compressed frame a reader will buffer: zstd's bound for a full frame, plus slack.
pub(crate) fn max_compressed_frame() -> u64 {
    zstd::zstd_safe::compress_bound(FRAME_SIZE as usize) as u64 + 4096
}

/// Compresses one independent frame with airlock's fixed parameters.
pub fn compress_frame(data: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    use std::cell::RefCell;
    use zstd::zstd_safe::CParameter;
    thread_local! {
        // One compression context per worker thread and level, reused for every frame: a fresh
        // context per 16 MiB frame costs megabytes of allocation and page faults each time.
        static CONTEXT: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> = const { RefCell::new(None) };
    }
    CONTEXT.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|(l, _)| *l != level) {
            let mut c = zstd::bulk::Compressor::new(level)?;
            c.set_parameter(CParameter::ChecksumFlag(true))?;
            c.set_parameter(CParameter::ContentSizeFlag(true))?;
            c.set_parameter(CParameter::NbWorkers(0))?;
            *slot = Some((level, c));
        }
        let (_, c) = slot.as_mut().expect("just set");
        c.compress(data)
    })
}

/// Largest window a frame may declare: 128 MiB, the `WindowLogMax(27)` the decoder is set to.
/// Decoding is single-shot into a buffer of the declared content size, so a larger declared window
/// would not cost memory; it is refused anyway because no frame airlock writes needs one
/// (`docs/security.md`).
pub const MAX_WINDOW: u64 = 1 << 27;

/// Checks the frame header: a zstd data frame (not a skippable frame) whose declared window, if
/// any, is at most [`MAX_WINDOW`].
fn check_frame_header(compressed: &[u8]) -> Result<(), String> {
    if compressed.get(..4) != Some(&[0x28, 0xB5, 0x2F, 0xFD][..]) {
        return Err("not a zstd data frame (wrong magic number, or a skippable frame)".into());
    }
    let descriptor = *compressed
        .get(4)
        .ok_or("the zstd frame header is truncated")?;
    if descriptor & 0x20 == 0 {
        // Not single-segment: a window descriptor follows (RFC 8878, 3.1.1.1.2).
        let wd = *compressed
            .get(5)
            .ok_or("the zstd frame header is truncated")?;
        let base = 1u64 << (10 + u32::from(wd >> 3));
        let window = base + (base / 8) * u64::from(wd & 7);
        if window > MAX_WINDOW {
            return Err(format!(
                "the zstd frame declares a window of {window} bytes, over the cap of {MAX_WINDOW}"
            ));
        }
    }
    Ok(())
}

/// Decompresses `compressed`, which must be exactly one zstd frame declaring a content size of at
/// most `cap` bytes and a window of at most [`MAX_WINDOW`]. Memory use is bounded by the cap,
/// whatever the frame claims.
pub fn decompress_frame(compressed: &[u8], cap: u64) -> Result<Vec<u8>, String> {
    decompress_frame_into(compressed, cap, Vec::new())
}

/// [`decompress_frame`] into `out`, whose capacity is reused (its contents are discarded).
pub fn decompress_frame_into(
    compressed: &[u8],
    cap: u64,
    mut out: Vec<u8>,
) -> Result<Vec<u8>, String> {
    let frame_len = zstd::zstd_safe::find_frame_compressed_size(compressed).map_err(|code| {
        format!(
            "not a zstd frame ({})",
            zstd::zstd_safe::get_error_name(code)
        )
    })?;
    if frame_len != compressed.len() {
        return Err(format!(
            "expected exactly one zstd frame of {} bytes, the first frame is {frame_len} bytes",
            compressed.len()
        ));
    }
    check_frame_header(compressed)?;
    let declared = match zstd::zstd_safe::get_frame_content_size(compressed) {
        Ok(Some(n)) => n,
        _ => return Err("the zstd frame does not declare its content size".into()),
    };
    if declared > cap {
        return Err(format!(
            "the zstd frame declares {declared} bytes, over the cap of {cap}"
        ));
    }
    out.clear();
    out.reserve(declared as usize);
    let mut d = zstd::bulk::Decompressor::new().map_err(|e| e.to_string())?;
    d.set_parameter(zstd::zstd_safe::DParameter::WindowLogMax(27))
        .map_err(|e| e.to_string())?;
    d.decompress_to_buffer(compressed, &mut out)
        .map_err(|e| format!("zstd decompression failed: {e}"))?;
    if out.len() as u64 != declared {
        return Err(format!(
            "the frame decompressed to {} bytes, not the {declared} it declares",
            out.len()
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn hostile_sizes_give_a_bounded_plan() {
        let plan = plan_frames([u64::MAX, 5, u64::MAX]);
        assert_eq!(plan.len(), MAX_ENTRIES + 1);
        assert_eq!(entry_len(u64::MAX), u64::MAX);
        let plan = plan_frames([1 << 60]);
        assert_eq!(plan.len(), MAX_ENTRIES + 1);
    }
}
