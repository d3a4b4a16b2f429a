//! Safetensors header validation in bounded memory.
//!
//! A safetensors file is an 8-byte little-endian header length N, N bytes of JSON, and the data
//! section. The header used to be parsed into a `serde_json::Value`, which costs about 1 KiB per
//! tensor: a valid 95 MB header of 1.4 million tensors, 2 MB once compressed in a bundle, needed
//! 1.8 GB to judge. The header is now streamed through `serde_json::Deserializer::from_reader`
//! with visitors that check each entry as it arrives and keep 16 bytes per tensor (its data
//! range, for the overlap check at the end) plus an 8-byte hash of its name (for duplicates).
//!
//! Every allocation has a cap:
//! * tensors: at most [`MAX_TENSORS`] (2^20): 16 MiB of ranges and a hash set of about 19 MiB,
//!   both reserved up front from the header length, so they never reallocate;
//! * any JSON string or number token: at most [`MAX_TOKEN`] bytes (8 MiB), enforced on the raw
//!   bytes before serde_json buffers them; serde_json's scratch buffer holds one string at a time
//!   and grows to at most 1.5 × that while reallocating;
//! * a tensor name: [`MAX_NAME`] bytes; all `__metadata__` keys and values together:
//!   [`MAX_METADATA`] bytes (nothing of it is kept);
//! * read buffer 64 KiB; JSON nesting is bounded by serde_json's recursion limit (128).
//!
//! Peak: 16 + 19 + 12 MiB + small change, under 48 MiB, whatever the header; the test
//! `safetensors_headers_are_judged_in_bounded_memory` measures it (under 64 MiB) in a child
//! process.
//!
//! What is checked is what the `safetensors` crate checks when it loads a file, except that the
//! data section may have gaps: the header is UTF-8 JSON, an object whose `__metadata__` (if
//! present, once) is null or maps strings to strings, and whose every other key is a tensor with
//! a known `dtype`, a `shape` of whole numbers and `data_offsets` `[begin, end]`, with
//! `begin <= end <= ` the data section's length, the shape's element count times the dtype's bit
//! width (checked arithmetic) a whole number of bytes equal to `end - begin`, no tensor name
//! twice, and no two ranges overlapping.
use std::collections::HashSet;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::io::{self, BufReader, Read};

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Largest header (the format's own readers cap it at 100 MB).
pub const MAX_HEADER: u64 = 100_000_000;
/// Most tensors in one file. Real checkpoints shard at a few thousand per file.
pub const MAX_TENSORS: usize = 1 << 20;
/// Longest tensor name, in bytes.
pub const MAX_NAME: usize = 64 * 1024;
/// Longest JSON string or number anywhere in the header, in raw bytes. Metadata values are the
/// long ones (training notes, a thumbnail as a data URI); 8 MiB is far beyond them.
pub const MAX_TOKEN: u64 = 8 << 20;
/// All `__metadata__` keys and values together, in bytes.
pub const MAX_METADATA: u64 = 16 << 20;
/// Shortest possible tensor entry, `"":{"dtype":"U8","shape":[],"data_offsets":[0,0]},`: the
/// header length bounds the tensor count by it, which sizes the reservations.
const MIN_ENTRY: u64 = 49;
const READ_BUFFER: usize = 64 * 1024;
/// Dimensions quoted in a refusal.
const SHAPE_SHOWN: usize = 8;

/// Bits per element, as the safetensors crate defines them.
fn dtype_bits(dtype: &str) -> Option<u64> {
    Some(match dtype {
        "F4" => 4,
        "F6_E2M3" | "F6_E3M2" => 6,
        "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" | "F8_E8M0" | "F8_E4M3FNUZ"
        | "F8_E5M2FNUZ" => 8,
        "I16" | "U16" | "F16" | "BF16" => 16,
        "I32" | "U32" | "F32" => 32,
        "I64" | "U64" | "F64" | "C64" => 64,
        _ => return None,
    })
}

/// Checks a safetensors file's header, reading from the start of the file. Returns why it is
/// malformed, or `None`; I/O errors are errors.
pub fn check(file: &mut impl Read, size: u64) -> io::Result<Option<String>> {
    check_with_cap(file, size, MAX_TENSORS)
}

/// [`check`] with another tensor cap, so that tests can reach it cheaply.
fn check_with_cap(
    file: &mut impl Read,
    size: u64,
    max_tensors: usize,
) -> io::Result<Option<String>> {
    if size < 8 {
        return Ok(Some(format!(
            "{size} bytes is too short for a safetensors header"
        )));
    }
    let mut len = [0u8; 8];
    file.read_exact(&mut len)?;
    let header_len = u64::from_le_bytes(len);
    if header_len > size - 8 {
        return Ok(Some(format!(
            "header length {header_len} runs past the end of the {size}-byte file"
        )));
    }
    if header_len > MAX_HEADER {
        return Ok(Some(format!(
            "header length {header_len} is over the {MAX_HEADER}-byte limit"
        )));
    }
    let data_len = size - 8 - header_len;
    // header_len / MIN_ENTRY + 1 <= 2.05 million, so the cast is lossless.
    let expected = ((header_len / MIN_ENTRY + 1) as usize).min(max_tensors);
    let mut state = State {
        max_tensors,
        data_len,
        ranges: Vec::with_capacity(expected),
        names: HashSet::with_capacity(expected),
        hasher: RandomState::new(),
        metadata_seen: false,
        metadata_bytes: 0,
        problem: None,
        current: None,
    };
    let tokens = Tokens {
        inner: file.take(header_len),
        in_string: false,
        escaped: false,
        run: 0,
        carry: Vec::with_capacity(4),
        problem: None,
    };
    let mut reader = BufReader::with_capacity(READ_BUFFER, tokens);
    let result = {
        let mut de = serde_json::Deserializer::from_reader(&mut reader);
        Header(&mut state)
            .deserialize(&mut de)
            .and_then(|()| de.end())
    };
    if let Err(e) = result {
        if let Some(why) = state.problem.take() {
            return Ok(Some(why));
        }
        if let Some(why) = reader.get_mut().problem.take() {
            return Ok(Some(why));
        }
        if e.is_io() {
            return Err(e.into());
        }
        let context = state
            .current
            .map(|name| format!("tensor `{}`: ", shown(&name)))
            .unwrap_or_default();
        return Ok(Some(format!(
            "{context}header is not a valid safetensors header: {e}"
        )));
    }
    state.ranges.sort_unstable();
    for pair in state.ranges.windows(2) {
        let ([b0, e0], [b1, e1]) = (pair[0], pair[1]);
        if b1 < e0 {
            return Ok(Some(format!(
                "two tensors overlap: data_offsets [{b0}, {e0}] and [{b1}, {e1}]"
            )));
        }
    }
    Ok(None)
}

/// A name as quoted in a refusal: at most 200 characters.
fn shown(name: &str) -> String {
    let mut out: String = name.chars().take(200).collect();
    if out.len() < name.len() {
        out.push('…');
    }
    out
}

/// What the visitors keep while the header streams past.
struct State {
    max_tensors: usize,
    data_len: u64,
    ranges: Vec<[u64; 2]>,
    /// Hashes of the names seen. Distinct names can collide only by chance (the keys are
    /// random per call): under 2^-24 for 2^20 names, and a collision only refuses a file.
    names: HashSet<u64>,
    hasher: RandomState,
    metadata_seen: bool,
    metadata_bytes: u64,
    /// Why the header is refused, when a visitor found it.
    problem: Option<String>,
    /// The tensor being read, for messages about errors inside it.
    current: Option<String>,
}

impl State {
    fn fail<E: de::Error>(&mut self, why: String) -> E {
        self.problem = Some(why);
        E::custom("refused")
    }
}

/// Caps token lengths and checks UTF-8 on the raw header bytes, before serde_json buffers
/// anything: its scratch buffer holds a whole string, so a 99 MB name would otherwise cost 99 MB
/// (or more while growing) before any visitor could refuse it.
struct Tokens<R> {
    inner: R,
    in_string: bool,
    escaped: bool,
    run: u64,
    /// An incomplete UTF-8 sequence at the end of the last read.
    carry: Vec<u8>,
    problem: Option<String>,
}

impl<R: Read> Tokens<R> {
    fn refuse(&mut self, why: String) -> io::Error {
        self.problem = Some(why.clone());
        io::Error::new(io::ErrorKind::InvalidData, why)
    }

    fn check_utf8(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        // Complete a sequence split across reads first.
        while !self.carry.is_empty() {
            let Some((&b, rest)) = bytes.split_first() else {
                return Ok(());
            };
            self.carry.push(b);
            bytes = rest;
            match std::str::from_utf8(&self.carry) {
                Ok(_) => self.carry.clear(),
                Err(e) if e.error_len().is_none() && self.carry.len() < 4 => {}
                Err(_) => return Err(self.refuse("header is not UTF-8".into())),
            }
        }
        match std::str::from_utf8(bytes) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => {
                self.carry.extend_from_slice(&bytes[e.valid_up_to()..]);
                Ok(())
            }
            Err(_) => Err(self.refuse("header is not UTF-8".into())),
        }
    }
}

impl<R: Read> Read for Tokens<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 {
            if !self.carry.is_empty() {
                return Err(self.refuse("header is not UTF-8".into()));
            }
            return Ok(0);
        }
        for &b in &buf[..n] {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                    self.run = 0;
                    continue;
                }
                self.run += 1;
            } else if b == b'"' {
                self.in_string = true;
                self.run = 0;
            } else if matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') {
                self.run += 1;
            } else {
                self.run = 0;
            }
            if self.run > MAX_TOKEN {
                return Err(self.refuse(format!(
                    "a string or number in the header is longer than {MAX_TOKEN} bytes"
                )));
            }
        }
        self.check_utf8(&buf[..n])?;
        Ok(n)
    }
}

/// The top-level object.
struct Header<'a>(&'a mut State);

impl<'de> DeserializeSeed<'de> for Header<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Header<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let state = self.0;
        while let Some(name) = map.next_key_seed(Name)? {
            let Some(name) = name else {
                return Err(state.fail(format!("a tensor name is longer than {MAX_NAME} bytes")));
            };
            if name == "__metadata__" {
                if state.metadata_seen {
                    return Err(state.fail("`__metadata__` appears twice".into()));
                }
                state.metadata_seen = true;
                map.next_value_seed(Metadata(state))?;
                continue;
            }
            if !state.names.insert(state.hasher.hash_one(&name)) {
                return Err(state.fail(format!("tensor `{}` appears twice", shown(&name))));
            }
            if state.ranges.len() >= state.max_tensors {
                return Err(state.fail(format!("more than {} tensors", state.max_tensors)));
            }
            state.current = Some(name);
            let info = map.next_value_seed(Tensor)?;
            let name = state.current.take().unwrap_or_default();
            if let Err(why) = info.validate(state.data_len) {
                return Err(state.fail(format!("tensor `{}`: {why}", shown(&name))));
            }
            state.ranges.push(info.offsets.unwrap_or_default());
        }
        Ok(())
    }
}

/// A map key: the name, or `None` when it is longer than [`MAX_NAME`].
struct Name;

impl<'de> DeserializeSeed<'de> for Name {
    type Value = Option<String>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for Name {
    type Value = Option<String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a tensor name")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok((v.len() <= MAX_NAME).then(|| v.to_owned()))
    }
}

/// `__metadata__`: null, or an object of strings to strings; only their length is kept.
struct Metadata<'a>(&'a mut State);

impl<'de> DeserializeSeed<'de> for Metadata<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for Metadata<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("null or an object of strings for __metadata__")
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let state = self.0;
        while let Some(key) = map.next_key_seed(StrLen)? {
            let value = map.next_value_seed(StrLen)?;
            state.metadata_bytes = state.metadata_bytes.saturating_add(key + value);
            if state.metadata_bytes > MAX_METADATA {
                return Err(state.fail(format!("`__metadata__` is over {MAX_METADATA} bytes")));
            }
        }
        Ok(())
    }
}

/// A string, of which only the length is kept.
struct StrLen;

impl<'de> DeserializeSeed<'de> for StrLen {
    type Value = u64;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for StrLen {
    type Value = u64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        Ok(v.len() as u64)
    }
}

/// One tensor entry as read; validated once complete.
#[derive(Default)]
struct Info {
    dtype: Option<Result<(&'static str, u64), String>>,
    shape: Option<Shape>,
    offsets: Option<[u64; 2]>,
}

impl Info {
    fn validate(&self, data_len: u64) -> Result<(), String> {
        let (dtype, bits) = match &self.dtype {
            None => return Err("no dtype".into()),
            Some(Err(unknown)) => return Err(format!("unknown dtype `{unknown}`")),
            Some(Ok(known)) => *known,
        };
        let Some(shape) = &self.shape else {
            return Err("no shape".into());
        };
        let Some([begin, end]) = self.offsets else {
            return Err("no data_offsets".into());
        };
        if begin > end || end > data_len {
            return Err(format!(
                "data_offsets [{begin}, {end}] leave the {data_len}-byte data section"
            ));
        }
        let Some(bits_total) = shape.elements.and_then(|e| e.checked_mul(bits)) else {
            return Err(format!("shape {shape} of {dtype} overflows"));
        };
        if bits_total % 8 != 0 {
            return Err(format!(
                "shape {shape} of {dtype} ({bits}-bit elements) does not end on a byte boundary"
            ));
        }
        if bits_total / 8 != end - begin {
            return Err(format!(
                "shape {shape} of {dtype} does not fill data_offsets [{begin}, {end}]"
            ));
        }
        Ok(())
    }
}

struct Tensor;

impl<'de> DeserializeSeed<'de> for Tensor {
    type Value = Info;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Info, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Tensor {
    type Value = Info;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a tensor object with dtype, shape and data_offsets")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Info, A::Error> {
        let mut info = Info::default();
        while let Some(field) = map.next_key_seed(FieldName)? {
            let twice = || de::Error::custom(format!("`{field}` appears twice"));
            match field {
                "dtype" if info.dtype.is_some() => return Err(twice()),
                "dtype" => info.dtype = Some(map.next_value_seed(Dtype)?),
                "shape" if info.shape.is_some() => return Err(twice()),
                "shape" => info.shape = Some(map.next_value_seed(ShapeSeed)?),
                "data_offsets" if info.offsets.is_some() => return Err(twice()),
                "data_offsets" => info.offsets = Some(map.next_value_seed(Offsets)?),
                // The safetensors crate ignores other fields; so does the gate.
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(info)
    }
}

/// A tensor field name: one of the three, or "other".
struct FieldName;

impl<'de> DeserializeSeed<'de> for FieldName {
    type Value = &'static str;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for FieldName {
    type Value = &'static str;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(match v {
            "dtype" => "dtype",
            "shape" => "shape",
            "data_offsets" => "data_offsets",
            _ => "other",
        })
    }
}

/// A dtype name: known (with its bit width) or the unknown name, cut short.
struct Dtype;

impl<'de> DeserializeSeed<'de> for Dtype {
    type Value = Result<(&'static str, u64), String>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for Dtype {
    type Value = Result<(&'static str, u64), String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a dtype name")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        const KNOWN: &[&str] = &[
            "BOOL",
            "F4",
            "F6_E2M3",
            "F6_E3M2",
            "U8",
            "I8",
            "F8_E5M2",
            "F8_E4M3",
            "F8_E8M0",
            "F8_E4M3FNUZ",
            "F8_E5M2FNUZ",
            "I16",
            "U16",
            "F16",
            "BF16",
            "I32",
            "U32",
            "F32",
            "C64",
            "F64",
            "I64",
            "U64",
        ];
        Ok(match KNOWN.iter().find(|k| **k == v) {
            Some(k) => Ok((*k, dtype_bits(k).unwrap_or(0))),
            None => Err(shown(v)),
        })
    }
}

/// A shape: its element count (`None` on overflow) and its first dimensions, for messages.
struct Shape {
    elements: Option<u64>,
    shown: Vec<u64>,
    rank: u64,
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let dims: Vec<String> = self.shown.iter().map(u64::to_string).collect();
        let more = if self.rank > self.shown.len() as u64 {
            ", …"
        } else {
            ""
        };
        write!(f, "[{}{more}]", dims.join(", "))
    }
}

struct ShapeSeed;

impl<'de> DeserializeSeed<'de> for ShapeSeed {
    type Value = Shape;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Shape, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ShapeSeed {
    type Value = Shape;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a shape: a list of whole numbers")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
        let mut shape = Shape {
            elements: Some(1),
            shown: Vec::new(),
            rank: 0,
        };
        while let Some(dim) = seq.next_element::<u64>()? {
            shape.elements = shape.elements.and_then(|e| e.checked_mul(dim));
            shape.rank += 1;
            if shape.shown.len() < SHAPE_SHOWN {
                shape.shown.push(dim);
            }
        }
        Ok(shape)
    }
}

struct Offsets;

impl<'de> DeserializeSeed<'de> for Offsets {
    type Value = [u64; 2];
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<[u64; 2], D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Offsets {
    type Value = [u64; 2];
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("data_offsets: [begin, end]")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<[u64; 2], A::Error> {
        let wrong = || de::Error::custom("data_offsets is not [begin, end]");
        let begin = seq.next_element::<u64>()?.ok_or_else(wrong)?;
        let end = seq.next_element::<u64>()?.ok_or_else(wrong)?;
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(wrong());
        }
        Ok([begin, end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(tensors: usize) -> Vec<u8> {
        let entries: Vec<String> = (0..tensors)
            .map(|i| {
                format!(
                    r#""t{i}":{{"dtype":"U8","shape":[1],"data_offsets":[{i},{}]}}"#,
                    i + 1
                )
            })
            .collect();
        let header = format!("{{{}}}", entries.join(","));
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(header.as_bytes());
        out.extend(std::iter::repeat_n(0, tensors));
        out
    }

    #[test]
    fn the_tensor_cap_is_exact() {
        let at_cap = file(3);
        assert_eq!(
            check_with_cap(&mut &at_cap[..], at_cap.len() as u64, 3).unwrap(),
            None
        );
        let over = file(4);
        let why = check_with_cap(&mut &over[..], over.len() as u64, 3).unwrap();
        assert_eq!(why.as_deref(), Some("more than 3 tensors"));
    }
}
