//! NumPy `.npy` headers: a numeric array is plain data, an object array is a pickle.
//!
//! An `.npy` file is the magic `\x93NUMPY`, a version (1.0, 2.0 or 3.0), a little-endian header
//! length (2 bytes in version 1, 4 after), and a header that is the text of a Python dict:
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`. When `descr` names the object
//! type (`'|O'`, or a structured dtype with an object field), the data that follows is a pickle,
//! which `numpy.load(allow_pickle=True)` runs.
//!
//! numpy parses the header with `ast.literal_eval`, which accepts far more Python than a header
//! needs. The reader here accepts the literals numpy writes (strings, numbers, booleans, None,
//! tuples, lists, dicts) and nothing else; a header outside that, or longer than
//! [`MAX_HEADER`], cannot be shown to be numeric and is reported as unreadable, which the gate
//! refuses like an object array.
use std::io::{self, Read};

/// The `.npy` magic.
pub const MAGIC: &[u8] = b"\x93NUMPY";
/// Longest header the gate reads. numpy writes a few hundred bytes and by default refuses
/// headers over 10,000 bytes, but not when pickles are allowed, which is the case that matters.
pub const MAX_HEADER: u64 = 65_536;
/// Nesting the header reader follows (structured dtypes nest a few levels at most).
const MAX_DEPTH: usize = 32;

/// What an `.npy` header says.
#[derive(Debug, PartialEq, Eq)]
pub enum Npy {
    /// Not an `.npy` file.
    Absent,
    /// Numeric (or otherwise pickle-free) data.
    Numeric,
    /// Object dtype: the data is a pickle. Holds an excerpt of the header.
    Object(String),
    /// A header the gate cannot read, and why.
    Unreadable(String),
}

/// Reads an `.npy` header from the reader's position; reads at most [`MAX_HEADER`] + 12 bytes.
pub fn read(file: &mut impl Read) -> io::Result<Npy> {
    let mut prefix = [0u8; 8];
    let n = super::read_up_to(file, &mut prefix)?;
    if !prefix[..n].starts_with(MAGIC) {
        return Ok(Npy::Absent);
    }
    if n < 8 {
        return Ok(Npy::Unreadable("truncated before the header length".into()));
    }
    let width = match prefix[6] {
        1 => 2,
        2 | 3 => 4,
        major => {
            return Ok(Npy::Unreadable(format!(
                "format version {major}.{} is unknown",
                prefix[7]
            )));
        }
    };
    let mut len = [0u8; 4];
    if super::read_up_to(file, &mut len[..width])? < width {
        return Ok(Npy::Unreadable("truncated before the header".into()));
    }
    let len = u64::from(u32::from_le_bytes(len));
    if len > MAX_HEADER {
        return Ok(Npy::Unreadable(format!(
            "a {len}-byte header is longer than the {MAX_HEADER} bytes the gate reads"
        )));
    }
    let mut header = vec![0u8; len as usize];
    if super::read_up_to(file, &mut header)? < header.len() {
        return Ok(Npy::Unreadable("the header is truncated".into()));
    }
    Ok(judge_header(&header))
}

/// Judges the header text (the dict literal).
fn judge_header(header: &[u8]) -> Npy {
    let mut parser = Parser {
        s: header,
        at: 0,
        depth: 0,
    };
    let parsed = parser.value().and_then(|v| {
        parser.space();
        if parser.at == parser.s.len() {
            Ok(v)
        } else {
            Err("text after the header dict")
        }
    });
    let unreadable = |why: &str| Npy::Unreadable(why.to_string());
    let dict = match parsed {
        Ok(Lit::Dict(entries)) => entries,
        Ok(_) => return unreadable("the header is not a dict"),
        Err(why) => return unreadable(why),
    };
    let mut keys: Vec<&str> = dict
        .iter()
        .filter_map(|(k, _)| match k {
            Lit::Str(s) => Some(s.as_str()),
            _ => None,
        })
        .collect();
    keys.sort_unstable();
    if keys != ["descr", "fortran_order", "shape"] || dict.len() != 3 {
        return unreadable("the header's keys are not descr, fortran_order and shape");
    }
    let Some((_, descr)) = dict
        .iter()
        .find(|(k, _)| matches!(k, Lit::Str(s) if s == "descr"))
    else {
        return unreadable("no descr");
    };
    match has_object(descr, 0) {
        Ok(false) => Npy::Numeric,
        Ok(true) => {
            let text = String::from_utf8_lossy(header);
            let text = text.trim_end();
            let excerpt: String = text.chars().take(120).collect();
            let more = if excerpt.len() < text.len() {
                "…"
            } else {
                ""
            };
            Npy::Object(format!("{excerpt}{more}"))
        }
        Err(why) => unreadable(why),
    }
}

/// Whether a `descr` value names the object type anywhere: a type string containing `O` (`'|O'`,
/// `'O8'`, comma-separated field lists like `'i4,O'`) or `object`, or a field list `[(name,
/// format[, shape]), ...]` with such a format. Field names are not formats and are ignored.
fn has_object(descr: &Lit, depth: usize) -> Result<bool, &'static str> {
    if depth > MAX_DEPTH {
        return Err("the dtype nests too deep");
    }
    match descr {
        Lit::Str(s) => Ok(s.contains('O') || s.to_ascii_lowercase().contains("object")),
        Lit::List(fields) => {
            for field in fields {
                match field {
                    Lit::Tuple(parts) if parts.len() == 2 || parts.len() == 3 => {
                        if has_object(&parts[1], depth + 1)? {
                            return Ok(true);
                        }
                    }
                    _ => return Err("a structured dtype field is not (name, format[, shape])"),
                }
            }
            Ok(false)
        }
        _ => Err("descr is neither a type string nor a list of fields"),
    }
}

/// A Python literal, as far as the judgement needs it.
#[derive(Debug)]
enum Lit {
    Str(String),
    /// A number, True, False or None.
    Scalar,
    Tuple(Vec<Lit>),
    List(Vec<Lit>),
    Dict(Vec<(Lit, Lit)>),
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    fn space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r' | 0x0c)) {
            self.at += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        self.space();
        if self.peek() == Some(b) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Result<Lit, &'static str> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("the header nests too deep");
        }
        self.space();
        let out = match self.peek() {
            Some(b'{') => {
                self.at += 1;
                let mut entries = Vec::new();
                while !self.eat(b'}') {
                    let key = self.value()?;
                    if !self.eat(b':') {
                        return Err("a dict entry has no `:`");
                    }
                    entries.push((key, self.value()?));
                    if !self.eat(b',') {
                        if !self.eat(b'}') {
                            return Err("a dict is not closed");
                        }
                        break;
                    }
                }
                Lit::Dict(entries)
            }
            Some(open @ (b'[' | b'(')) => {
                self.at += 1;
                let close = if open == b'[' { b']' } else { b')' };
                let mut items = Vec::new();
                let mut comma = false;
                while !self.eat(close) {
                    items.push(self.value()?);
                    comma = self.eat(b',');
                    if !comma {
                        if !self.eat(close) {
                            return Err("a list or tuple is not closed");
                        }
                        break;
                    }
                }
                match (open, items.len(), comma) {
                    (b'[', _, _) => Lit::List(items),
                    // `(x)` is x, not a tuple.
                    (_, 1, false) => items.pop().ok_or("empty parentheses")?,
                    _ => Lit::Tuple(items),
                }
            }
            Some(b'0'..=b'9' | b'-' | b'+') => {
                self.at += 1;
                while matches!(self.peek(), Some(b'0'..=b'9' | b'_')) {
                    self.at += 1;
                }
                // Python 2 wrote longs as `3L`.
                if matches!(self.peek(), Some(b'L' | b'l')) {
                    self.at += 1;
                }
                Lit::Scalar
            }
            Some(b'a'..=b'z' | b'A'..=b'Z') => {
                let start = self.at;
                while matches!(self.peek(), Some(b'a'..=b'z' | b'A'..=b'Z')) {
                    self.at += 1;
                }
                let word = &self.s[start..self.at];
                match word {
                    b"True" | b"False" | b"None" => Lit::Scalar,
                    _ if word.len() <= 2 && matches!(self.peek(), Some(b'\'' | b'"')) => {
                        let raw = word.iter().any(|b| b.eq_ignore_ascii_case(&b'r'));
                        if !word
                            .iter()
                            .all(|b| matches!(b.to_ascii_lowercase(), b'u' | b'b' | b'r'))
                        {
                            return Err("an unknown string prefix");
                        }
                        Lit::Str(self.string(raw)?)
                    }
                    _ => return Err("a name that is not True, False or None"),
                }
            }
            Some(b'\'' | b'"') => Lit::Str(self.string(false)?),
            _ => return Err("not a Python literal numpy writes"),
        };
        self.depth -= 1;
        Ok(out)
    }

    /// A quoted string at the cursor (single-quoted form only: no triple quotes).
    fn string(&mut self, raw: bool) -> Result<String, &'static str> {
        let Some(quote) = self.peek() else {
            return Err("a string is missing");
        };
        self.at += 1;
        let mut out = Vec::new();
        loop {
            let Some(b) = self.peek() else {
                return Err("a string is not closed");
            };
            self.at += 1;
            match b {
                _ if b == quote => break,
                b'\n' => return Err("a string runs over a line"),
                b'\\' if raw => {
                    out.push(b);
                    if let Some(next) = self.peek() {
                        out.push(next);
                        self.at += 1;
                    }
                }
                b'\\' => {
                    let Some(e) = self.peek() else {
                        return Err("a string is not closed");
                    };
                    self.at += 1;
                    match e {
                        b'\\' | b'\'' | b'"' => out.push(e),
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'0' => out.push(0),
                        // Any other escape could spell a type code; refuse to guess.
                        _ => return Err("a string escape the gate does not decode"),
                    }
                }
                _ => out.push(b),
            }
        }
        // Implicit concatenation ('<' 'f4') would change what the string says.
        self.space();
        if matches!(self.peek(), Some(b'\'' | b'"')) {
            return Err("adjacent strings");
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_literals() {
        let numeric = b"{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }   \n";
        assert_eq!(judge_header(numeric), Npy::Numeric);
        let py2 = b"{'descr': '<f8', 'fortran_order': False, 'shape': (3L, 4L)}";
        assert_eq!(judge_header(py2), Npy::Numeric);
        let paren = b"{'descr': ('|O'), 'fortran_order': False, 'shape': ()}";
        assert!(matches!(judge_header(paren), Npy::Object(_)));
        let prefixed = b"{u'descr': u'|O', u'fortran_order': False, u'shape': (1,)}";
        assert!(matches!(judge_header(prefixed), Npy::Object(_)));
        let comma_string = b"{'descr': 'i4,O', 'fortran_order': False, 'shape': (1,)}";
        assert!(matches!(judge_header(comma_string), Npy::Object(_)));
        let escaped = b"{'descr': '\\x4f', 'fortran_order': False, 'shape': (1,)}";
        assert!(matches!(judge_header(escaped), Npy::Unreadable(_)));
        let extra = b"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}";
        assert!(matches!(judge_header(extra), Npy::Unreadable(_)));
        let deep = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        assert!(matches!(judge_header(deep.as_bytes()), Npy::Unreadable(_)));
    }
}
