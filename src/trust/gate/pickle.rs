//! Pickle detection by walking the opcode stream the way `pickle.load` reads it.
//!
//! Magic numbers cannot find pickles: protocols 0 and 1 have no header, and most ASCII letters
//! are opcodes, so "starts with an opcode" would refuse Markdown, word lists and configs. The walk
//! instead simulates the unpickler from offset 0: each opcode must be known, its argument must be
//! encoded as the unpickler requires (text lines for protocol 0, little-endian lengths and values
//! for the binary opcodes), and its effect on the stack, the mark stack and the memo must be one
//! the unpickler accepts, down to the kinds of value involved (APPEND needs a list under it,
//! REDUCE a callable, GET a memo entry that was PUT). Text fails that within a few bytes.
//!
//! Where the unpickler's behaviour depends on objects the walk cannot know (what an imported
//! global returns, what a persistent id loads), the walk assumes the unpickler goes on: an
//! uncertain step counts as valid. Being permissive there only makes more files pickles, never
//! fewer.
//!
//! The verdict (see [`scan`]): a pickle is a stream that
//! * reaches STOP validly and declared a protocol (PROTO) or imported (GLOBAL, INST,
//!   STACK_GLOBAL) or called something on the way. A headerless stream of plain data is not
//!   refused: it cannot run anything, and ordinary text such as `N. Smith` (NONE, STOP) is one.
//!   Nor is one whose only object comes from a persistent id or an extension code, which the
//!   default unpickler refuses to resolve: a line starting `P` followed by a line starting `.` is
//!   such a stream;
//! * or, whatever follows, has validly called something: `pickle.load` executes REDUCE, INST,
//!   OBJ, NEWOBJ and BUILD as it reads them, and APPEND, SETITEM and ADDITEMS call methods when
//!   their target came from an import (`os.environ[...] = ...`), so junk or a missing STOP after
//!   the call only makes it raise once the damage is done;
//! * or is still valid after the walk's budgets ([`MAX_OPCODES`] opcodes, [`MAX_STACK`] stack
//!   items, [`MAX_MEMO`] memo entries): no text or ordinary binary data gets that far, and an
//!   attacker must not be able to pad the payload past the point where the walk stops looking.
//!
//! A stream of plain data that ends at STOP does not end the walk: files can hold several pickles
//! one after another, and the next one is judged the same way.
//!
//! There is no read window: binary arguments (strings, bytes, frames) are skipped by seeking,
//! text lines are scanned through a small buffer, and the walk stops at the first invalid opcode,
//! which for non-pickles is within the first bytes. A padding string of any length therefore
//! cannot hide what follows it. Memory is bounded by the budgets: about 5 MiB at most.
use std::collections::HashMap;
use std::io::{self, Read, Seek, SeekFrom};

/// Opcodes the walk follows; a stream still valid after this many is a pickle.
pub const MAX_OPCODES: u64 = 1 << 20;
/// Stack items plus marks the walk simulates; a stream holding more is a pickle.
pub const MAX_STACK: usize = 1 << 16;
/// Memo entries the walk tracks; a stream storing more is a pickle.
pub const MAX_MEMO: usize = 1 << 16;
/// Short strings kept so that STACK_GLOBAL's module and name can be reported.
const MAX_KEPT_STRINGS: usize = 4096;
/// Longest string kept for reporting; longer ones are still followed, just not named.
const KEPT_STRING_LEN: usize = 256;
/// Numeric line arguments up to this length get the full syntax check; longer ones (Python reads
/// them) only a character check.
const NUMBER_LINE_LEN: usize = 4096;
/// Globals named in a finding; the rest are counted.
const MAX_REPORTED_GLOBALS: usize = 8;
const BUFFER_LEN: usize = 16 * 1024;

/// What the walk knows about a value on the stack: enough to reject the operations the
/// unpickler would reject (appending to a string, calling an integer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Anything the walk cannot type: what an import, a call, a persistent id, an extension code
    /// or a buffer produced. May be callable.
    Object,
    /// A string, with its index in `Walk::kept` when it was short enough to keep.
    Str(Option<u32>),
    Bytes,
    ByteArray,
    Int,
    Float,
    Bool,
    NoneValue,
    List,
    Dict,
    Tuple,
    Set,
    FrozenSet,
}

impl Kind {
    fn callable(self) -> bool {
        self == Kind::Object
    }
    /// APPEND and APPENDS use the target's `append`/`extend`.
    fn appendable(self) -> bool {
        matches!(self, Kind::Object | Kind::List | Kind::ByteArray)
    }
    /// SETITEM and SETITEMS use `__setitem__`.
    fn settable(self) -> bool {
        matches!(
            self,
            Kind::Object | Kind::Dict | Kind::List | Kind::ByteArray
        )
    }
}

/// How one opcode ended.
enum Step {
    Go,
    Stop,
    /// The unpickler would raise here.
    Invalid,
    /// The file ended inside the stream.
    Eof,
    /// A budget ran out with the stream still valid.
    Limit(&'static str),
}

/// Result of reading an argument.
enum Arg<T> {
    Ok(T),
    Bad,
    Eof,
}

/// A text-line argument, without its `\n`.
struct Line {
    kept: Vec<u8>,
    len: u64,
    first: Option<u8>,
    last: Option<u8>,
}

impl Line {
    fn whole(&self) -> Option<&[u8]> {
        (self.kept.len() as u64 == self.len).then_some(&self.kept[..])
    }
}

/// Sequential reading with a small buffer; long binary arguments are skipped by seeking.
struct Input<'a, R> {
    file: &'a mut R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// File offset of `buf[start]`.
    offset: u64,
    size: u64,
}

impl<R: Read + Seek> Input<'_, R> {
    fn fill(&mut self) -> io::Result<bool> {
        if self.start < self.end {
            return Ok(true);
        }
        let n = loop {
            match self.file.read(&mut self.buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        self.start = 0;
        self.end = n;
        Ok(n > 0)
    }

    fn byte(&mut self) -> io::Result<Option<u8>> {
        if !self.fill()? {
            return Ok(None);
        }
        let b = self.buf[self.start];
        self.start += 1;
        self.offset += 1;
        Ok(Some(b))
    }

    fn array<const N: usize>(&mut self) -> io::Result<Option<[u8; N]>> {
        let mut out = [0u8; N];
        for slot in &mut out {
            match self.byte()? {
                Some(b) => *slot = b,
                None => return Ok(None),
            }
        }
        Ok(Some(out))
    }

    /// Skips `n` bytes; `false` when the file ends first.
    fn skip(&mut self, n: u64) -> io::Result<bool> {
        let buffered = (self.end - self.start) as u64;
        if n <= buffered {
            // n fits in the buffer, so it fits in usize.
            self.start += n as usize;
            self.offset += n;
            return Ok(true);
        }
        let target = match self.offset.checked_add(n) {
            Some(t) if t <= self.size => t,
            _ => return Ok(false),
        };
        self.file.seek(SeekFrom::Start(target))?;
        self.start = 0;
        self.end = 0;
        self.offset = target;
        Ok(true)
    }

    /// A binary argument of `n` bytes: read when short enough to keep, else skipped.
    fn blob(&mut self, n: u64) -> io::Result<Arg<Option<Vec<u8>>>> {
        if n > KEPT_STRING_LEN as u64 {
            return Ok(if self.skip(n)? {
                Arg::Ok(None)
            } else {
                Arg::Eof
            });
        }
        let mut out = Vec::with_capacity(n as usize);
        for _ in 0..n {
            match self.byte()? {
                Some(b) => out.push(b),
                None => return Ok(Arg::Eof),
            }
        }
        Ok(Arg::Ok(Some(out)))
    }

    /// A text line up to `\n`, checking each byte with `ok` and keeping the first `keep` bytes.
    /// A line the file ends inside is `Eof`: the C unpickler refuses it ("truncated").
    fn line(&mut self, keep: usize, ok: impl Fn(u8) -> bool) -> io::Result<Arg<Line>> {
        let mut line = Line {
            kept: Vec::new(),
            len: 0,
            first: None,
            last: None,
        };
        loop {
            if !self.fill()? {
                return Ok(Arg::Eof);
            }
            let chunk = &self.buf[self.start..self.end];
            let newline = chunk.iter().position(|&b| b == b'\n');
            let body = &chunk[..newline.unwrap_or(chunk.len())];
            if body.iter().any(|&b| !ok(b)) {
                return Ok(Arg::Bad);
            }
            let room = keep.saturating_sub(line.kept.len());
            line.kept.extend_from_slice(&body[..body.len().min(room)]);
            line.len += body.len() as u64;
            if line.first.is_none() {
                line.first = body.first().copied();
            }
            if let Some(&b) = body.last() {
                line.last = Some(b);
            }
            let used = body.len() + usize::from(newline.is_some());
            self.start += used;
            self.offset += used as u64;
            if newline.is_some() {
                return Ok(Arg::Ok(line));
            }
        }
    }
}

/// Everything the walk tracks.
struct Walk {
    stack: Vec<Kind>,
    /// Stack lengths at each MARK.
    marks: Vec<usize>,
    memo: HashMap<u64, Kind>,
    kept: Vec<String>,
    globals: Vec<String>,
    more_globals: usize,
    /// Notable opcodes in order of first appearance.
    notable: Vec<&'static str>,
    imports: bool,
    calls: bool,
    persistent: bool,
    declared: Option<u8>,
    highest: u8,
    opcodes: u64,
}

/// Lowest protocol each opcode belongs to, as pickletools lists it; `None` for a byte that is no
/// opcode.
fn protocol_of(op: u8) -> Option<u8> {
    Some(match op {
        b'(' | b'.' | b'0' | b'2' | b'F' | b'I' | b'L' | b'N' | b'P' | b'R' | b'S' | b'V'
        | b'a' | b'b' | b'c' | b'd' | b'g' | b'i' | b'l' | b'p' | b's' | b't' => 0,
        b'1' | b'G' | b'J' | b'K' | b'M' | b'Q' | b'T' | b'U' | b'X' | b']' | b'e' | b'h'
        | b'j' | b'o' | b'q' | b'r' | b'u' | b'}' | b')' => 1,
        0x80..=0x8b => 2,
        b'B' | b'C' => 3,
        0x8c..=0x95 => 4,
        0x96..=0x98 => 5,
        _ => return None,
    })
}

/// Whether a byte is an opcode of some protocol.
pub(crate) fn is_opcode(b: u8) -> bool {
    protocol_of(b).is_some()
}

/// Python identifiers joined by dots, as a module or attribute path; non-ASCII bytes are allowed
/// (identifiers may be Unicode) when `unicode`.
fn name_byte(b: u8, unicode: bool) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || (unicode && b >= 0x80)
}

fn python_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | 0x0b | 0x0c)
}

fn number_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.') || python_space(b)
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| !python_space(b)).unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|&b| !python_space(b))
        .map_or(start, |i| i + 1);
    &s[start..end]
}

fn unsigned(s: &[u8]) -> (bool, &[u8]) {
    match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    }
}

/// `int(s, 0)` would accept `s` (permissive about underscores and leading zeros).
fn python_int(s: &[u8]) -> bool {
    let (_, s) = unsigned(trim(s));
    let (digits, radix) = match s {
        [b'0', p, rest @ ..] if matches!(p | 0x20, b'x' | b'o' | b'b') => (
            rest,
            match p | 0x20 {
                b'x' => 16,
                b'o' => 8,
                _ => 2,
            },
        ),
        _ => (s, 10),
    };
    digits.iter().any(|&b| b != b'_')
        && digits
            .iter()
            .all(|&b| b == b'_' || char::from(b).is_digit(radix))
}

/// `float(s)` would accept `s` (permissive).
fn python_float(s: &[u8]) -> bool {
    let (_, s) = unsigned(trim(s));
    let lower = s.to_ascii_lowercase();
    matches!(&lower[..], b"inf" | b"infinity" | b"nan")
        || (s.iter().any(u8::is_ascii_digit)
            && s.iter().all(|&b| {
                b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-' | b'_')
            }))
}

/// `int(s)` in base 10, as GET and PUT read their index; saturates, as no memo that large exists.
fn python_decimal(s: &[u8]) -> Option<(bool, u64)> {
    let (negative, digits) = unsigned(trim(s));
    if !digits.iter().any(u8::is_ascii_digit)
        || !digits.iter().all(|&b| b.is_ascii_digit() || b == b'_')
    {
        return None;
    }
    let value = digits
        .iter()
        .filter(|b| b.is_ascii_digit())
        .fold(0u64, |v, &d| {
            v.saturating_mul(10).saturating_add(u64::from(d - b'0'))
        });
    Some((negative && value != 0, value))
}

fn lossy(bytes: &[u8], complete: bool) -> String {
    let mut s = String::from_utf8_lossy(bytes).into_owned();
    if !complete {
        s.push('…');
    }
    s
}

impl Walk {
    fn new() -> Self {
        Walk {
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            kept: Vec::new(),
            globals: Vec::new(),
            more_globals: 0,
            notable: Vec::new(),
            imports: false,
            calls: false,
            persistent: false,
            declared: None,
            highest: 0,
            opcodes: 0,
        }
    }

    fn fence(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    /// Pops above the current mark, as the unpickler does.
    fn pop(&mut self) -> Option<Kind> {
        if self.stack.len() > self.fence() {
            self.stack.pop()
        } else {
            None
        }
    }

    fn top(&self) -> Option<Kind> {
        if self.stack.len() > self.fence() {
            self.stack.last().copied()
        } else {
            None
        }
    }

    fn push(&mut self, kind: Kind) -> Step {
        if self.stack.len() + self.marks.len() >= MAX_STACK {
            return Step::Limit("stack");
        }
        self.stack.push(kind);
        Step::Go
    }

    fn replace_top(&mut self, kind: Kind) -> Step {
        match self.stack.last_mut() {
            Some(top) => {
                *top = kind;
                Step::Go
            }
            None => Step::Invalid,
        }
    }

    /// Pops back to the last MARK, handing the items above it to `f`.
    fn pop_mark<T>(&mut self, f: impl FnOnce(&[Kind]) -> T) -> Option<T> {
        let mark = self.marks.pop()?;
        let out = f(self.stack.get(mark..).unwrap_or_default());
        self.stack.truncate(mark);
        Some(out)
    }

    fn note(&mut self, op: &'static str) {
        if !self.notable.contains(&op) {
            self.notable.push(op);
        }
    }

    /// Records a global. `find_class` counts for the verdict; an extension code does not: the
    /// registry is empty unless the loading program fills it, so alone it fails to load.
    fn import(&mut self, op: &'static str, global: String, find_class: bool) {
        self.imports |= find_class;
        self.note(op);
        if self.globals.contains(&global) {
            return;
        }
        if self.globals.len() < MAX_REPORTED_GLOBALS {
            self.globals.push(global);
        } else {
            self.more_globals += 1;
        }
    }

    /// APPEND, SETITEM and the like: the top item must accept them; on an object from an import
    /// or a call they run that object's methods, so they count as calls.
    fn mutate(&mut self, accepts: impl Fn(Kind) -> bool, op: &'static str) -> Step {
        match self.top() {
            Some(target) if accepts(target) => {
                if target == Kind::Object {
                    self.call(op);
                }
                Step::Go
            }
            _ => Step::Invalid,
        }
    }

    fn call(&mut self, op: &'static str) {
        self.calls = true;
        self.note(op);
    }

    fn keep(&mut self, bytes: Option<&[u8]>) -> Kind {
        match bytes {
            Some(b) if self.kept.len() < MAX_KEPT_STRINGS && b.len() <= KEPT_STRING_LEN => {
                self.kept.push(String::from_utf8_lossy(b).into_owned());
                Kind::Str(Some((self.kept.len() - 1) as u32))
            }
            _ => Kind::Str(None),
        }
    }

    fn kept_string(&self, kind: Kind) -> String {
        match kind {
            Kind::Str(Some(i)) => self
                .kept
                .get(i as usize)
                .cloned()
                .unwrap_or_else(|| "?".into()),
            _ => "?".into(),
        }
    }

    fn memo_put(&mut self, index: u64) -> Step {
        let Some(top) = self.top() else {
            return Step::Invalid;
        };
        if self.memo.len() >= MAX_MEMO && !self.memo.contains_key(&index) {
            return Step::Limit("memo");
        }
        self.memo.insert(index, top);
        Step::Go
    }

    fn memo_get(&mut self, index: u64) -> Step {
        match self.memo.get(&index).copied() {
            Some(kind) => self.push(kind),
            None => Step::Invalid,
        }
    }

    /// Pushes the string (or bytes) an opcode read.
    fn string(&mut self, arg: Arg<Option<Vec<u8>>>, bytes: bool) -> Step {
        match arg {
            Arg::Ok(_) if bytes => self.push(Kind::Bytes),
            Arg::Ok(kept) => {
                let kind = self.keep(kept.as_deref());
                self.push(kind)
            }
            Arg::Bad => Step::Invalid,
            Arg::Eof => Step::Eof,
        }
    }

    /// Reads GLOBAL's or INST's two lines: `module\nname\n`.
    fn global<R: Read + Seek>(
        &mut self,
        input: &mut Input<'_, R>,
        unicode: bool,
    ) -> io::Result<Arg<String>> {
        let mut parts = Vec::with_capacity(2);
        for _ in 0..2 {
            match input.line(KEPT_STRING_LEN, |b| name_byte(b, unicode))? {
                Arg::Ok(line) if line.len > 0 => {
                    let complete = line.whole().is_some();
                    parts.push(lossy(&line.kept, complete));
                }
                Arg::Ok(_) | Arg::Bad => return Ok(Arg::Bad),
                Arg::Eof => return Ok(Arg::Eof),
            }
        }
        Ok(Arg::Ok(parts.join(".")))
    }

    /// Executes one opcode.
    fn step<R: Read + Seek>(&mut self, input: &mut Input<'_, R>) -> io::Result<Step> {
        let Some(op) = input.byte()? else {
            return Ok(Step::Eof);
        };
        let Some(protocol) = protocol_of(op) else {
            return Ok(Step::Invalid);
        };
        self.opcodes += 1;
        if self.opcodes > MAX_OPCODES {
            return Ok(Step::Limit("opcode"));
        }
        self.highest = self.highest.max(protocol);
        macro_rules! arg {
            ($e:expr) => {
                match $e {
                    Some(v) => v,
                    None => return Ok(Step::Eof),
                }
            };
        }
        macro_rules! line {
            ($keep:expr, $ok:expr) => {
                match input.line($keep, $ok)? {
                    Arg::Ok(line) => line,
                    Arg::Bad => return Ok(Step::Invalid),
                    Arg::Eof => return Ok(Step::Eof),
                }
            };
        }
        macro_rules! need {
            ($cond:expr) => {
                if !$cond {
                    return Ok(Step::Invalid);
                }
            };
        }
        Ok(match op {
            // MARK
            b'(' => {
                if self.stack.len() + self.marks.len() >= MAX_STACK {
                    return Ok(Step::Limit("stack"));
                }
                self.marks.push(self.stack.len());
                Step::Go
            }
            // STOP: the unpickler returns the top item.
            b'.' => {
                need!(self.pop().is_some());
                Step::Stop
            }
            // POP: an item, or else the mark above an empty frame.
            b'0' => {
                need!(self.pop().is_some() || self.marks.pop().is_some());
                Step::Go
            }
            // POP_MARK
            b'1' => {
                need!(self.pop_mark(|_| ()).is_some());
                Step::Go
            }
            // DUP
            b'2' => {
                let Some(top) = self.top() else {
                    return Ok(Step::Invalid);
                };
                self.push(top)
            }
            // FLOAT
            b'F' => {
                let line = line!(NUMBER_LINE_LEN, number_byte);
                need!(line.whole().is_none_or(python_float));
                self.push(Kind::Float)
            }
            // INT: "00" and "01" are False and True.
            b'I' => {
                let line = line!(NUMBER_LINE_LEN, number_byte);
                let kind = match line.whole() {
                    Some(b"00" | b"01") => Kind::Bool,
                    Some(s) if !python_int(s) => return Ok(Step::Invalid),
                    _ => Kind::Int,
                };
                self.push(kind)
            }
            // LONG: an optional trailing L.
            b'L' => {
                let line = line!(NUMBER_LINE_LEN, number_byte);
                if let Some(s) = line.whole() {
                    need!(python_int(s.strip_suffix(b"L").unwrap_or(s)));
                }
                self.push(Kind::Int)
            }
            // BININT, BININT1, BININT2
            b'J' => {
                arg!(input.array::<4>()?);
                self.push(Kind::Int)
            }
            b'K' => {
                arg!(input.array::<1>()?);
                self.push(Kind::Int)
            }
            b'M' => {
                arg!(input.array::<2>()?);
                self.push(Kind::Int)
            }
            // BINFLOAT
            b'G' => {
                arg!(input.array::<8>()?);
                self.push(Kind::Float)
            }
            b'N' => self.push(Kind::NoneValue),
            0x88 | 0x89 => self.push(Kind::Bool),
            // PERSID: an ASCII line handed to persistent_load.
            b'P' => {
                line!(0, |b: u8| b.is_ascii());
                self.persistent = true;
                self.note("PERSID");
                self.push(Kind::Object)
            }
            // BINPERSID
            b'Q' => {
                need!(self.pop().is_some());
                self.persistent = true;
                self.note("BINPERSID");
                self.push(Kind::Object)
            }
            // REDUCE: callable(*args), the result replacing the callable.
            b'R' => {
                need!(self.pop().is_some());
                need!(self.top().is_some_and(Kind::callable));
                self.call("REDUCE");
                self.replace_top(Kind::Object)
            }
            // STRING: a quoted repr, quotes matching.
            b'S' => {
                let line = line!(KEPT_STRING_LEN, |_| true);
                need!(
                    line.len >= 2
                        && matches!(line.first, Some(b'\'' | b'"'))
                        && line.first == line.last
                );
                let inner = line
                    .whole()
                    .and_then(|s| s.get(1..s.len().saturating_sub(1)));
                let kind = self.keep(inner);
                self.push(kind)
            }
            // UNICODE: raw-unicode-escape text.
            b'V' => {
                let line = line!(KEPT_STRING_LEN, |_| true);
                let kind = self.keep(line.whole());
                self.push(kind)
            }
            // BINSTRING: a signed length; Python 3 decodes it to str.
            b'T' => {
                let n = i32::from_le_bytes(arg!(input.array::<4>()?));
                need!(n >= 0);
                let blob = input.blob(n as u64)?;
                self.string(blob, false)
            }
            b'U' => {
                let [n] = arg!(input.array::<1>()?);
                let blob = input.blob(u64::from(n))?;
                self.string(blob, false)
            }
            b'X' => {
                let n = u32::from_le_bytes(arg!(input.array::<4>()?));
                let blob = input.blob(u64::from(n))?;
                self.string(blob, false)
            }
            0x8c => {
                let [n] = arg!(input.array::<1>()?);
                let blob = input.blob(u64::from(n))?;
                self.string(blob, false)
            }
            0x8d => {
                let n = u64::from_le_bytes(arg!(input.array::<8>()?));
                need!(n <= i64::MAX as u64);
                let blob = input.blob(n)?;
                self.string(blob, false)
            }
            // BINBYTES, SHORT_BINBYTES, BINBYTES8
            b'B' => {
                let n = u32::from_le_bytes(arg!(input.array::<4>()?));
                let blob = input.blob(u64::from(n))?;
                self.string(blob, true)
            }
            b'C' => {
                let [n] = arg!(input.array::<1>()?);
                let blob = input.blob(u64::from(n))?;
                self.string(blob, true)
            }
            0x8e => {
                let n = u64::from_le_bytes(arg!(input.array::<8>()?));
                need!(n <= i64::MAX as u64);
                let blob = input.blob(n)?;
                self.string(blob, true)
            }
            // BYTEARRAY8
            0x96 => {
                let n = u64::from_le_bytes(arg!(input.array::<8>()?));
                need!(n <= i64::MAX as u64);
                match input.blob(n)? {
                    Arg::Ok(_) => self.push(Kind::ByteArray),
                    Arg::Bad => Step::Invalid,
                    Arg::Eof => Step::Eof,
                }
            }
            // LONG1, LONG4
            0x8a => {
                let [n] = arg!(input.array::<1>()?);
                arg!(input.skip(u64::from(n))?.then_some(()));
                self.push(Kind::Int)
            }
            0x8b => {
                let n = i32::from_le_bytes(arg!(input.array::<4>()?));
                need!(n >= 0);
                arg!(input.skip(n as u64)?.then_some(()));
                self.push(Kind::Int)
            }
            // APPEND, APPENDS: the target's append/extend, which on an imported object is a call.
            b'a' => {
                need!(self.pop().is_some());
                self.mutate(Kind::appendable, "APPEND")
            }
            b'e' => {
                need!(self.pop_mark(|_| ()).is_some());
                self.mutate(Kind::appendable, "APPENDS")
            }
            // BUILD: __setstate__ or attribute updates on the object under the state.
            b'b' => {
                need!(self.pop().is_some());
                let Some(target) = self.top() else {
                    return Ok(Step::Invalid);
                };
                if target == Kind::Object {
                    self.call("BUILD");
                }
                Step::Go
            }
            // GLOBAL: `module\nname\n`, UTF-8.
            b'c' => match self.global(input, true)? {
                Arg::Ok(global) => {
                    self.import("GLOBAL", global, true);
                    self.push(Kind::Object)
                }
                Arg::Bad => Step::Invalid,
                Arg::Eof => Step::Eof,
            },
            // INST: `module\nname\n`, ASCII; imports, then calls with the items above the mark.
            b'i' => match self.global(input, false)? {
                Arg::Ok(global) => {
                    need!(self.pop_mark(|_| ()).is_some());
                    self.import("INST", global, true);
                    self.call("INST");
                    self.push(Kind::Object)
                }
                Arg::Bad => Step::Invalid,
                Arg::Eof => Step::Eof,
            },
            // STACK_GLOBAL: module and name are the two strings on top.
            0x93 => {
                let (Some(name), Some(module)) = (self.pop(), self.pop()) else {
                    return Ok(Step::Invalid);
                };
                let stringish = |k: Kind| matches!(k, Kind::Str(_) | Kind::Object);
                need!(stringish(name) && stringish(module));
                let global = format!("{}.{}", self.kept_string(module), self.kept_string(name));
                self.import("STACK_GLOBAL", global, true);
                self.push(Kind::Object)
            }
            // EXT1, EXT2, EXT4: a code in copyreg's extension registry, resolved by find_class.
            0x82..=0x84 => {
                let code = match op {
                    0x82 => u32::from(arg!(input.array::<1>()?)[0]),
                    0x83 => u32::from(u16::from_le_bytes(arg!(input.array::<2>()?))),
                    _ => u32::from_le_bytes(arg!(input.array::<4>()?)),
                };
                need!(code != 0);
                let name = match op {
                    0x82 => "EXT1",
                    0x83 => "EXT2",
                    _ => "EXT4",
                };
                self.import(name, format!("extension code {code}"), false);
                self.push(Kind::Object)
            }
            // OBJ: the first item above the mark is called with the rest.
            b'o' => {
                let first = self.pop_mark(|items| items.first().copied());
                need!(matches!(first, Some(Some(k)) if k.callable()));
                self.call("OBJ");
                self.push(Kind::Object)
            }
            // NEWOBJ: cls.__new__(cls, *args)
            0x81 => {
                need!(self.pop().is_some());
                need!(self.pop().is_some_and(Kind::callable));
                self.call("NEWOBJ");
                self.push(Kind::Object)
            }
            // NEWOBJ_EX: cls.__new__(cls, *args, **kwargs)
            0x92 => {
                need!(self.pop().is_some() && self.pop().is_some());
                need!(self.pop().is_some_and(Kind::callable));
                self.call("NEWOBJ_EX");
                self.push(Kind::Object)
            }
            // DICT: key/value pairs above the mark.
            b'd' => {
                need!(self.pop_mark(|items| items.len() % 2 == 0) == Some(true));
                self.push(Kind::Dict)
            }
            b'}' => self.push(Kind::Dict),
            // LIST, EMPTY_LIST
            b'l' => {
                need!(self.pop_mark(|_| ()).is_some());
                self.push(Kind::List)
            }
            b']' => self.push(Kind::List),
            // TUPLE, EMPTY_TUPLE, TUPLE1..3
            b't' => {
                need!(self.pop_mark(|_| ()).is_some());
                self.push(Kind::Tuple)
            }
            b')' => self.push(Kind::Tuple),
            0x85..=0x87 => {
                for _ in 0..(op - 0x84) {
                    need!(self.pop().is_some());
                }
                self.push(Kind::Tuple)
            }
            // EMPTY_SET, ADDITEMS, FROZENSET
            0x8f => self.push(Kind::Set),
            0x90 => {
                need!(self.pop_mark(|_| ()).is_some());
                need!(
                    self.top()
                        .is_some_and(|k| matches!(k, Kind::Set | Kind::Object))
                );
                Step::Go
            }
            0x91 => {
                need!(self.pop_mark(|_| ()).is_some());
                self.push(Kind::FrozenSet)
            }
            // SETITEM, SETITEMS: `__setitem__`, on an imported object a call (os.environ[...]).
            b's' => {
                need!(self.pop().is_some() && self.pop().is_some());
                self.mutate(Kind::settable, "SETITEM")
            }
            b'u' => {
                need!(self.pop_mark(|items| items.len() % 2 == 0) == Some(true));
                self.mutate(Kind::settable, "SETITEMS")
            }
            // GET, BINGET, LONG_BINGET
            b'g' => {
                let line = line!(NUMBER_LINE_LEN, number_byte);
                match line.whole().map(python_decimal) {
                    Some(Some((false, i))) => self.memo_get(i),
                    _ => Step::Invalid,
                }
            }
            b'h' => {
                let [i] = arg!(input.array::<1>()?);
                self.memo_get(u64::from(i))
            }
            b'j' => {
                let i = u32::from_le_bytes(arg!(input.array::<4>()?));
                self.memo_get(u64::from(i))
            }
            // PUT, BINPUT, LONG_BINPUT, MEMOIZE
            b'p' => {
                let line = line!(NUMBER_LINE_LEN, number_byte);
                match line.whole().map(python_decimal) {
                    Some(Some((false, i))) => self.memo_put(i),
                    // Longer than the kept prefix: an index past any memo the walk tracks.
                    None => self.memo_put(u64::MAX),
                    _ => Step::Invalid,
                }
            }
            b'q' => {
                let [i] = arg!(input.array::<1>()?);
                self.memo_put(u64::from(i))
            }
            b'r' => {
                let i = u32::from_le_bytes(arg!(input.array::<4>()?));
                self.memo_put(u64::from(i))
            }
            0x94 => {
                let next = self.memo.len() as u64;
                self.memo_put(next)
            }
            // PROTO
            0x80 => {
                let [p] = arg!(input.array::<1>()?);
                need!(p <= 5);
                self.declared.get_or_insert(p);
                Step::Go
            }
            // FRAME: the unpickler reads the whole frame up front, so it must fit in the file.
            0x95 => {
                let n = u64::from_le_bytes(arg!(input.array::<8>()?));
                need!(n <= i64::MAX as u64);
                arg!((input.size.saturating_sub(input.offset) >= n).then_some(()));
                Step::Go
            }
            // NEXT_BUFFER: an out-of-band buffer (the unpickler raises unless given buffers).
            0x97 => self.push(Kind::Object),
            // READONLY_BUFFER: a read-only view of the top item.
            0x98 => {
                need!(self.top().is_some());
                self.replace_top(Kind::Object)
            }
            // protocol_of lists exactly the bytes matched above.
            _ => Step::Invalid,
        })
    }

    fn describe(&self) -> String {
        let protocol = self.declared.unwrap_or(self.highest);
        let mut out = format!("protocol {protocol} pickle");
        if !self.globals.is_empty() {
            out.push_str(" importing ");
            out.push_str(&self.globals.join(", "));
            if self.more_globals > 0 {
                out.push_str(&format!(" and {} more", self.more_globals));
            }
        } else if !self.calls && !self.persistent {
            out.push_str(" of plain data");
        }
        if !self.notable.is_empty() {
            out.push_str(&format!(" ({})", self.notable.join(", ")));
        }
        out
    }
}

/// Walks the stream from the reader's current position (the caller seeks to 0) and says why it
/// is a pickle, or `None`. `size` bounds skips over binary arguments.
pub(crate) fn scan<R: Read + Seek>(file: &mut R, size: u64) -> io::Result<Option<String>> {
    let mut input = Input {
        file,
        buf: vec![0; BUFFER_LEN],
        start: 0,
        end: 0,
        offset: 0,
        size,
    };
    let mut walk = Walk::new();
    loop {
        let at = input.offset;
        match walk.step(&mut input)? {
            Step::Go => {}
            Step::Stop => {
                if walk.declared.is_some() || walk.imports || walk.calls {
                    return Ok(Some(walk.describe()));
                }
                // Plain data so far. A loader may call pickle.load again on what follows (torch's
                // legacy format does), so the next stream is judged too; the memo carries over,
                // as it does within one Unpickler.
                walk.stack.clear();
                walk.marks.clear();
            }
            Step::Invalid | Step::Eof => {
                return Ok(walk.calls.then(|| {
                    format!(
                        "{}, not a valid pickle from byte {at} on, but pickle.load runs the calls before it gets there",
                        walk.describe()
                    )
                }));
            }
            Step::Limit(what) => {
                return Ok(Some(format!(
                    "{}, still valid where the gate stops following it (its {what} limit)",
                    walk.describe()
                )));
            }
        }
    }
}
