//! The content gate's safetensors header check (`trust::gate::check_safetensors`): the length
//! prefix, the streamed JSON header, dtypes, shapes, offsets and the caps that bound its memory
//! (`docs/security.md`, "Bounded resources"). Also through `judge`, as unpack calls it.
//!
//! Input: the whole file.
#![no_main]

use airlock::trust::gate::{check_safetensors, judge};
use libfuzzer_sys::fuzz_target;
use std::io::Cursor;

fuzz_target!(|data: &[u8]| {
    let size = data.len() as u64;
    let direct = check_safetensors(&mut Cursor::new(data), size).expect("reading memory");
    let judged =
        judge("model/m/model.safetensors", &mut Cursor::new(data), size).expect("reading memory");
    // A header the check refuses is never waved through by the gate.
    if direct.is_some() {
        assert!(
            judged.is_some(),
            "check_safetensors refused it but judge passed it"
        );
    }
});
