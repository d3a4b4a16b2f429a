//! The content gate's detectors (`trust::gate::judge`): the pickle opcode walk, NumPy headers,
//! zip central directories, HDF5, magic numbers and name rules, on a file named like a pickle and
//! on one with a neutral name; and the weight-format detector (`trust::gate::weight_format`,
//! `weight_format_by_name`), which the model-approval rule for weights outside `model` artifacts
//! relies on.
//!
//! Input: the whole file.
#![no_main]

use airlock::trust::gate::{WEIGHT_FORMATS, judge, weight_format, weight_format_by_name};
use libfuzzer_sys::fuzz_target;
use std::io::Cursor;

const NAMES: &[&str] = &[
    "model/m/weights.pkl",
    "data/d/weights.dat",
    "data/d/arrays.npz",
    "model/m/pytorch_model.bin",
];

fuzz_target!(|data: &[u8]| {
    let size = data.len() as u64;
    for name in NAMES {
        let finding = judge(name, &mut Cursor::new(data), size).expect("reading memory");
        if let Some(f) = &finding {
            assert!(
                ["pickle", "script", "executable", "archive", "safetensors"].contains(&f.class),
                "unknown finding class {}",
                f.class
            );
        }
        if name.ends_with(".pkl") {
            assert!(
                finding.is_some(),
                "a .pkl name is refused whatever its content"
            );
        }
        let format = weight_format(name, &mut Cursor::new(data), size).expect("reading memory");
        if let Some(f) = format {
            assert!(WEIGHT_FORMATS.contains(&f), "unknown weight format {f}");
        }
        if let Some(by_name) = weight_format_by_name(name) {
            assert!(
                format.is_some(),
                "{name} is {by_name} by name but not by name and content"
            );
        }
    }
    // Any bytes as a name.
    if let Ok(name) = std::str::from_utf8(data) {
        let _ = weight_format_by_name(name);
    }
});
