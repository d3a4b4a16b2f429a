//! The content gate: files are judged by their bytes (and, for formats that are dangerous whatever
//! their content, by their names). Refused unless the policy names the exact path as an exception:
//! Python pickles, Python or shell source, ELF/PE/Mach-O executables, archives, and safetensors
//! files whose header is malformed or whose tensor offsets leave the file. Runs at pack time on the
//! sources and again at unpack time on the staged files.
use std::io::{self, Read, Seek, SeekFrom};

/// Largest safetensors header the gate will read (the format's own readers cap it at 100 MB).
pub const MAX_SAFETENSORS_HEADER: u64 = 100_000_000;

/// Why a file was refused.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// Stable class: pickle, script, executable, archive, safetensors.
    pub class: &'static str,
    /// Details.
    pub detail: String,
}

fn finding(class: &'static str, detail: impl Into<String>) -> Option<Finding> {
    Some(Finding {
        class,
        detail: detail.into(),
    })
}

const PICKLE_NAMES: &[&str] = &[".bin", ".pt", ".pth", ".pkl", ".pickle", ".joblib"];
const SCRIPT_NAMES: &[&str] = &[".py", ".pyc", ".pyw", ".sh", ".bash"];
const ARCHIVE_NAMES: &[&str] = &[
    ".zip", ".tar", ".gz", ".tgz", ".zst", ".xz", ".bz2", ".7z", ".rar", ".whl", ".egg", ".jar",
];
const EXECUTABLE_NAMES: &[&str] = &[".exe", ".dll", ".so", ".dylib"];

/// Judges one file. `name` is its bundle path, `size` its length.
pub fn judge<R: Read + Seek>(name: &str, file: &mut R, size: u64) -> io::Result<Option<Finding>> {
    let lower = name.to_ascii_lowercase();
    let ends = |list: &[&'static str]| -> Option<&'static str> {
        list.iter().find(|e| lower.ends_with(*e)).copied()
    };
    let mut head = [0u8; 512];
    let n = read_up_to(file, &mut head)?;
    let head = &head[..n];
    if head.len() >= 2 && head[0] == 0x80 && (2..=5).contains(&head[1]) {
        return Ok(finding(
            "pickle",
            format!("starts with a pickle protocol {} header", head[1]),
        ));
    }
    if let Some(ext) = ends(PICKLE_NAMES) {
        return Ok(finding(
            "pickle",
            format!("`{ext}` files are Python pickles by convention"),
        ));
    }
    if head.starts_with(b"#!") {
        return Ok(finding("script", "starts with a `#!` interpreter line"));
    }
    if let Some(ext) = ends(SCRIPT_NAMES) {
        return Ok(finding(
            "script",
            format!("`{ext}` is Python or shell source"),
        ));
    }
    const MAGICS: &[(&[u8], &str, &str)] = &[
        (b"\x7fELF", "executable", "ELF"),
        (b"MZ", "executable", "PE (Windows)"),
        (b"\xfe\xed\xfa\xce", "executable", "Mach-O"),
        (b"\xfe\xed\xfa\xcf", "executable", "Mach-O"),
        (b"\xce\xfa\xed\xfe", "executable", "Mach-O"),
        (b"\xcf\xfa\xed\xfe", "executable", "Mach-O"),
        (b"\xca\xfe\xba\xbe", "executable", "Mach-O universal"),
        (b"PK\x03\x04", "archive", "zip"),
        (b"\x1f\x8b", "archive", "gzip"),
        (b"\x28\xb5\x2f\xfd", "archive", "zstd"),
        (b"\xfd7zXZ\x00", "archive", "xz"),
        (b"BZh", "archive", "bzip2"),
        (b"7z\xbc\xaf\x27\x1c", "archive", "7z"),
        (b"Rar!", "archive", "rar"),
    ];
    if let Some((_, class, what)) = MAGICS.iter().find(|(m, _, _)| head.starts_with(m)) {
        return Ok(finding(class, format!("{what} content")));
    }
    if head.len() >= 262 && &head[257..262] == b"ustar" {
        return Ok(finding("archive", "tar content"));
    }
    if let Some(ext) = ends(EXECUTABLE_NAMES) {
        return Ok(finding(
            "executable",
            format!("`{ext}` is a native library or program"),
        ));
    }
    if let Some(ext) = ends(ARCHIVE_NAMES) {
        return Ok(finding("archive", format!("`{ext}` is an archive")));
    }
    if lower.ends_with(".safetensors") {
        file.seek(SeekFrom::Start(0))?;
        return Ok(check_safetensors(file, size)?.map(|d| Finding {
            class: "safetensors",
            detail: d,
        }));
    }
    Ok(None)
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

fn dtype_size(dtype: &str) -> Option<u64> {
    Some(match dtype {
        "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" => 1,
        "I16" | "U16" | "F16" | "BF16" => 2,
        "I32" | "U32" | "F32" => 4,
        "I64" | "U64" | "F64" => 8,
        _ => return None,
    })
}

/// Checks a safetensors file's header: length inside the file, JSON object, known dtypes, each
/// tensor's byte range inside the data section, matching its shape, and no overlaps.
/// Returns why it is malformed, or `None`.
pub fn check_safetensors(file: &mut impl Read, size: u64) -> io::Result<Option<String>> {
    if size < 8 {
        return Ok(Some(format!(
            "{size} bytes is too short for a safetensors header"
        )));
    }
    let mut len = [0u8; 8];
    file.read_exact(&mut len)?;
    let header_len = u64::from_le_bytes(len);
    if header_len > size - 8 || header_len > MAX_SAFETENSORS_HEADER {
        return Ok(Some(format!(
            "header length {header_len} runs past the end of the {size}-byte file"
        )));
    }
    let mut header = vec![0u8; header_len as usize];
    file.read_exact(&mut header)?;
    let data_len = size - 8 - header_len;
    let json: serde_json::Value = match serde_json::from_slice(&header) {
        Ok(v) => v,
        Err(e) => return Ok(Some(format!("header is not JSON: {e}"))),
    };
    let Some(object) = json.as_object() else {
        return Ok(Some("header is not a JSON object".into()));
    };
    let mut ranges = Vec::new();
    for (name, tensor) in object {
        if name == "__metadata__" {
            continue;
        }
        let bad = |why: &str| Ok(Some(format!("tensor `{name}`: {why}")));
        let Some(dtype) = tensor.get("dtype").and_then(|d| d.as_str()) else {
            return bad("no dtype");
        };
        let Some(width) = dtype_size(dtype) else {
            return bad(&format!("unknown dtype `{dtype}`"));
        };
        let shape: Option<Vec<u64>> = tensor
            .get("shape")
            .and_then(|s| s.as_array())
            .and_then(|a| a.iter().map(|d| d.as_u64()).collect());
        let Some(shape) = shape else {
            return bad("shape is not a list of whole numbers");
        };
        let offsets: Option<Vec<u64>> = tensor
            .get("data_offsets")
            .and_then(|s| s.as_array())
            .and_then(|a| a.iter().map(|d| d.as_u64()).collect());
        let Some([begin, end]) = offsets
            .as_deref()
            .and_then(|o| <[u64; 2]>::try_from(o).ok())
        else {
            return bad("data_offsets is not [begin, end]");
        };
        if begin > end || end > data_len {
            return bad(&format!(
                "data_offsets [{begin}, {end}] leave the {data_len}-byte data section"
            ));
        }
        let elements = shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
        if elements.and_then(|e| e.checked_mul(width)) != Some(end - begin) {
            return bad(&format!(
                "shape {shape:?} of {dtype} does not fill data_offsets [{begin}, {end}]"
            ));
        }
        ranges.push((begin, end, name.clone()));
    }
    ranges.sort();
    for pair in ranges.windows(2) {
        if pair[1].0 < pair[0].1 {
            return Ok(Some(format!(
                "tensors `{}` and `{}` overlap",
                pair[0].2, pair[1].2
            )));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn safetensors(header: &str, data_len: usize) -> Vec<u8> {
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(header.as_bytes());
        out.extend(std::iter::repeat_n(0u8, data_len));
        out
    }

    fn run(name: &str, bytes: &[u8]) -> Option<Finding> {
        judge(name, &mut Cursor::new(bytes), bytes.len() as u64).unwrap()
    }

    #[test]
    fn good_safetensors_and_json_pass() {
        let h = r#"{"__metadata__":{"format":"pt"},"w":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]}}"#;
        assert_eq!(run("m/model.safetensors", &safetensors(h, 8)), None);
        assert_eq!(run("m/config.json", b"{\"a\": 1}"), None);
    }

    #[test]
    fn bad_safetensors_are_refused() {
        let past_end = r#"{"w":{"dtype":"BF16","shape":[4],"data_offsets":[0,8]}}"#;
        assert_eq!(
            run("x.safetensors", &safetensors(past_end, 4))
                .unwrap()
                .class,
            "safetensors"
        );
        let mut huge = u64::MAX.to_le_bytes().to_vec();
        huge.extend_from_slice(b"{}");
        assert!(
            run("x.safetensors", &huge)
                .unwrap()
                .detail
                .contains("past the end")
        );
        let overlap = r#"{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}"#;
        assert!(
            run("x.safetensors", &safetensors(overlap, 6))
                .unwrap()
                .detail
                .contains("overlap")
        );
    }

    #[test]
    fn pickles_scripts_executables_archives_are_refused_by_content() {
        assert_eq!(
            run("model.safetensors", b"\x80\x04\x95\x10\x00\x00")
                .unwrap()
                .class,
            "pickle"
        );
        assert_eq!(run("weights.pt", b"anything").unwrap().class, "pickle");
        assert_eq!(
            run("notes.txt", b"#!/bin/sh\nrm -rf /\n").unwrap().class,
            "script"
        );
        assert_eq!(run("tool.py", b"print(1)\n").unwrap().class, "script");
        assert_eq!(
            run("config.json", b"\x7fELF\x02\x01").unwrap().class,
            "executable"
        );
        assert_eq!(
            run("data.json", b"PK\x03\x04rest").unwrap().class,
            "archive"
        );
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(run("plain", &tar).unwrap().class, "archive");
    }
}
