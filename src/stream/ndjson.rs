//! A fast path for the common shape of NDJSON events: one flat object a line.
//!
//! Decoding is most of `hazy stream`'s CPU, and arrow-json's general decoder first writes
//! every value to a tape and then reads the tape into arrays. Event streams are nearly always
//! one flat object a line, with keys and strings free of escapes; for those, this module
//! writes the arrays in one pass over the bytes.
//!
//! **Guarantee**: [`decode_flat`] gives `Some(batch)` only when arrow-json, built as
//! `hazy stream` builds it (`with_coerce_primitive(true)`), would give the same batch for the
//! same bytes; anything else gives `None`, and the caller uses arrow-json, so every error,
//! coercion and malformed-record report stays arrow-json's. The fast path reads:
//! - lines holding one JSON object each (blank lines skipped), whose values are strings
//!   without escapes, numbers, `true`, `false` or `null`;
//! - into columns of type BIGINT (integer literals), DOUBLE (numbers), BOOLEAN (`true` or
//!   `false`) and VARCHAR (strings, and numbers or booleans as their text);
//! - keys the schema lacks are skipped when their value is a scalar; a missing key is NULL.
//!
//! Columns the caller marks unread (nullable ones the query never reads) are checked as closely
//! as the others, so the same lines read or fall back, but come out NULL: their values are not
//! copied into arrays no one looks at. [`decode_flat_timed`] also reads the stream's event-time
//! column as instants when every value in it is an RFC 3339 string (else as text, as above).
//!
//! A test compares both decoders on many random records, of the shapes the fast path reads
//! and of those it leaves to arrow-json.
//!
//! ```
//! use arrow::datatypes::{DataType, Field, Schema};
//! use hazy::stream::ndjson::decode_flat;
//! use std::sync::Arc;
//! let schema = Arc::new(Schema::new(vec![
//!     Field::new("ts", DataType::Utf8, true),
//!     Field::new("n", DataType::Int64, true),
//! ]));
//! let batch = decode_flat(b"{\"ts\": \"2026-01-01T00:00:00Z\", \"n\": 7}\n{\"n\": null}\n", &schema, 0)
//!     .expect("flat records");
//! assert_eq!(batch.num_rows(), 2);
//! // An escape is arrow-json's to read.
//! assert!(decode_flat(b"{\"ts\": \"a\\\"b\"}\n", &schema, 0).is_none());
//! ```

use crate::generator::time::Rfc3339Nanos;
use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int64Array, NullBufferBuilder, RecordBatch,
    StringBuilder, StringViewArray, TimestampNanosecondArray, new_null_array,
};
use arrow::buffer::Buffer;
use arrow::datatypes::{DataType, Schema, SchemaRef, TimeUnit};
use std::sync::Arc;

/// The fields one `u64` tracks per line.
const MAX_FIELDS: usize = 64;

/// Decodes `data` (NDJSON) into a batch of `schema`, or `None` when a line is outside the
/// fast path (see the module docs) or there are no records. Nullable fields whose bit is set in
/// `unread` are checked but left NULL.
pub fn decode_flat(data: &[u8], schema: &SchemaRef, unread: u64) -> Option<RecordBatch> {
    decode_flat_timed(data, schema, unread, None)
}

/// [`decode_flat`], with the nullable VARCHAR field `time` read as event times: when every
/// value in it is NULL or an RFC 3339 string that [`Rfc3339Nanos`] reads, it comes out as a
/// nanosecond TIMESTAMP of those instants (and the batch's schema says so), so the stream
/// never builds their text; otherwise it comes out as [`decode_flat`] gives it.
pub fn decode_flat_timed(
    data: &[u8],
    schema: &SchemaRef,
    unread: u64,
    time: Option<usize>,
) -> Option<RecordBatch> {
    let fields = schema.fields();
    if fields.is_empty() || fields.len() > MAX_FIELDS {
        return None;
    }
    let rows = estimated_rows(data);
    let mut columns = fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            if time == Some(i) && f.data_type() == &DataType::Utf8 && f.is_nullable() {
                return Some(Column::Time(TimeColumn::with_capacity(rows)));
            }
            let skip = unread & (1 << i) != 0 && f.is_nullable();
            let column = Column::new(f.data_type(), if skip { 0 } else { rows })?;
            Some(match skip {
                true => Column::Unread(f.data_type().clone(), 0),
                false => column,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    let keys = Keys::new(fields.iter().map(|f| f.name().as_bytes()).collect());
    let nullable: Vec<bool> = fields.iter().map(|f| f.is_nullable()).collect();
    // Validated once, so every string between two quotes is valid UTF-8 too.
    let text = utf8_text(data)?;
    let mut p = Cursor::new(text);
    let every_field = u64::MAX >> (MAX_FIELDS - fields.len());
    let mut records = 0;
    loop {
        p.skip_blank_lines();
        if p.i == data.len() {
            break;
        }
        let seen = read_object(&mut p, &keys, &nullable, &mut columns)?;
        p.skip_ws();
        if !matches!(p.next(), None | Some(b'\n')) {
            return None;
        }
        let mut missing = every_field & !seen;
        while missing != 0 {
            let f = missing.trailing_zeros() as usize;
            columns[f].push(Value::Null, nullable[f])?;
            missing &= missing - 1;
        }
        records += 1;
    }
    if records == 0 {
        return None;
    }
    let arrays = columns
        .into_iter()
        .map(|c| c.finish(text))
        .collect::<Option<Vec<ArrayRef>>>()?;
    let schema = match time {
        Some(t) if arrays[t].data_type() == &TIME_TYPE => {
            let mut fields = fields.to_vec();
            fields[t] = Arc::new(fields[t].as_ref().clone().with_data_type(TIME_TYPE));
            Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
        }
        _ => Arc::clone(schema),
    };
    RecordBatch::try_new(schema, arrays).ok()
}

/// The type of an event-time column read as instants.
const TIME_TYPE: DataType = DataType::Timestamp(TimeUnit::Nanosecond, None);

/// About how many lines `data` holds, from the length of its first: enough for builders'
/// capacity (they grow past it), without a second pass over the bytes to count newlines. A
/// blank or tiny first line does not make it reserve a row per byte.
fn estimated_rows(data: &[u8]) -> usize {
    let probe = &data[..data.len().min(4096)];
    let first_line = memchr::memchr(b'\n', probe).map_or(probe.len(), |n| n + 1);
    data.len() / first_line.max(16) + 16
}

/// Reads one object on one line; returns the fields it set (one bit each).
fn read_object(
    p: &mut Cursor<'_>,
    keys: &Keys,
    nullable: &[bool],
    columns: &mut [Column],
) -> Option<u64> {
    p.expect(b'{')?;
    p.skip_ws();
    let mut seen = 0u64;
    if p.peek() == Some(b'}') {
        p.i += 1;
    } else {
        // Keys usually come in schema order: look there first.
        let mut guess = 0;
        loop {
            let field = match keys.at(p, guess) {
                Some((f, KeyMatch::WithColon)) => Some(f),
                found => {
                    let field = match found {
                        Some((f, _)) => Some(f),
                        None => keys.find(p.string()?.as_bytes()),
                    };
                    p.skip_ws();
                    p.expect(b':')?;
                    field
                }
            };
            p.skip_ws();
            match field {
                Some(f) => {
                    if seen & (1 << f) != 0 {
                        return None;
                    }
                    seen |= 1 << f;
                    columns[f].read(p, nullable[f])?;
                    guess = f + 1;
                }
                None => {
                    p.value()?;
                }
            }
            p.skip_ws();
            match p.next()? {
                b',' => p.skip_ws(),
                b'}' => break,
                _ => return None,
            }
        }
    }
    Some(seen)
}

/// The schema's field names, as they are looked up in each record.
struct Keys<'a> {
    names: Vec<&'a [u8]>,
    /// Each name with its quotes, when a JSON key of the same bytes can only mean that name
    /// (no quote, backslash or control character in it).
    quoted: Vec<Option<QuotedKey>>,
}

/// A name with its quotes and the colon after it, as the bytes a record holds when its key is
/// that name (compact JSON has no white space before the colon).
struct QuotedKey {
    /// `"name":`.
    bytes: Vec<u8>,
    /// The first 16 bytes, zero-padded, and masks of those that belong to the key with and
    /// without its colon: most keys fit, and one masked compare of 16 bytes costs less than a
    /// loop over a few.
    head: u128,
    key_mask: u128,
    colon_mask: u128,
}

/// Where a record's key matched the one expected.
enum KeyMatch {
    /// The key and its colon: the cursor is past the colon.
    WithColon,
    /// The key alone: the cursor is past its closing quote.
    Alone,
}

impl QuotedKey {
    fn new(name: &[u8]) -> Self {
        let bytes = [b"\"", name, b"\":"].concat();
        let mut head = [0u8; 16];
        let n = bytes.len().min(16);
        head[..n].copy_from_slice(&bytes[..n]);
        let low_bytes = |n: usize| match n {
            16.. => u128::MAX,
            n => (1u128 << (8 * n)) - 1,
        };
        Self {
            head: u128::from_le_bytes(head),
            key_mask: low_bytes(bytes.len() - 1),
            colon_mask: low_bytes(bytes.len()),
            bytes,
        }
    }

    /// Whether the bytes at `at` start with this key, and with its colon too.
    fn matches(&self, b: &[u8], at: usize) -> Option<KeyMatch> {
        match b.get(at..at + 16) {
            Some(window) if self.bytes.len() <= 16 => {
                let window = u128::from_le_bytes(window.try_into().expect("16 bytes"));
                let differ = window ^ self.head;
                if differ & self.colon_mask == 0 {
                    Some(KeyMatch::WithColon)
                } else {
                    (differ & self.key_mask == 0).then_some(KeyMatch::Alone)
                }
            }
            _ => {
                let key = &self.bytes[..self.bytes.len() - 1];
                if b.get(at..at + self.bytes.len()) == Some(&self.bytes) {
                    Some(KeyMatch::WithColon)
                } else {
                    (b.get(at..at + key.len()) == Some(key)).then_some(KeyMatch::Alone)
                }
            }
        }
    }
}

impl<'a> Keys<'a> {
    fn new(names: Vec<&'a [u8]>) -> Self {
        let quoted = names
            .iter()
            .map(|n| {
                let plain = n.iter().all(|&c| c >= 0x20 && c != b'"' && c != b'\\');
                plain.then(|| QuotedKey::new(n))
            })
            .collect();
        Self { names, quoted }
    }

    /// Field `guess`, when the key at the cursor is its name as it stands; the cursor is then
    /// past the key, and past its colon when that follows at once. Keys usually come in schema
    /// order, so this skips scanning most of them.
    fn at(&self, p: &mut Cursor<'_>, guess: usize) -> Option<(usize, KeyMatch)> {
        let key = self.quoted.get(guess)?.as_ref()?;
        let matched = key.matches(p.b, p.i)?;
        p.i += match matched {
            KeyMatch::WithColon => key.bytes.len(),
            KeyMatch::Alone => key.bytes.len() - 1,
        };
        Some((guess, matched))
    }

    fn find(&self, key: &[u8]) -> Option<usize> {
        self.names.iter().position(|n| *n == key)
    }
}

/// `data` as text, when it is valid UTF-8. Event streams are nearly all ASCII: with AVX2 the
/// ASCII prefix is checked 128 bytes a step, and the standard check runs from the first
/// block that is not ASCII (a fifth of the standard check's cost over Nexmark's bids).
#[inline(never)] // kept out of the decoder's loop, whose registers it would otherwise share
fn utf8_text(data: &[u8]) -> Option<&str> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the processor has AVX2.
        let ascii = unsafe { ascii_prefix_avx2(data) };
        std::str::from_utf8(&data[ascii..]).ok()?;
        // SAFETY: ASCII bytes, then valid UTF-8 that starts after an ASCII byte: valid UTF-8.
        return Some(unsafe { std::str::from_utf8_unchecked(data) });
    }
    std::str::from_utf8(data).ok()
}

/// A length of `b`'s start that is all ASCII (a multiple of 128 bytes, or all of `b`'s blocks
/// of 128 that are ASCII); the rest is left to the caller.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn ascii_prefix_avx2(b: &[u8]) -> usize {
    use std::arch::x86_64::*;
    let mut i = 0;
    while let Some(block) = b.get(i..i + 128) {
        // SAFETY: each unaligned load reads 32 of the 128 bytes of `block`.
        let at = |k: usize| unsafe { _mm256_loadu_si256(block.as_ptr().add(k).cast()) };
        let any = _mm256_or_si256(
            _mm256_or_si256(at(0), at(32)),
            _mm256_or_si256(at(64), at(96)),
        );
        // A byte at 0x80 or above has its high bit set.
        if _mm256_movemask_epi8(any) != 0 {
            break;
        }
        i += 128;
    }
    i
}

/// The index of the quote that closes a string starting at `start`, or `None` when a backslash
/// or a control character comes first (or no quote does). Many bytes at a time: strings are
/// most of an event's bytes.
/// `avx2`: whether the processor has AVX2 (see [`Cursor::new`]).
#[inline(always)]
fn plain_string_end(b: &[u8], start: usize, avx2: bool) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: the caller has found that the processor has AVX2.
        return unsafe { plain_string_end_avx2(b, start) };
    }
    plain_string_end_by_blocks(b, start)
}

/// [`plain_string_end`] 32 bytes a step, then as [`plain_string_end_by_blocks`]: the long
/// strings of an event that a query does not read (Nexmark's URLs and free text, 60 to 90
/// bytes) take half the steps.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn plain_string_end_avx2(b: &[u8], start: usize) -> Option<usize> {
    use std::arch::x86_64::*;
    let mut i = start;
    while let Some(block) = b.get(i..i + 32) {
        // SAFETY: the unaligned load reads the 32 bytes of `block`.
        let v = unsafe { _mm256_loadu_si256(block.as_ptr().cast()) };
        let quote = _mm256_cmpeq_epi8(v, _mm256_set1_epi8(b'"' as i8));
        let backslash = _mm256_cmpeq_epi8(v, _mm256_set1_epi8(b'\\' as i8));
        // Unsigned c < 0x20 is max(c, 0x1F) == 0x1F.
        let below = _mm256_set1_epi8(0x1F);
        let control = _mm256_cmpeq_epi8(_mm256_max_epu8(v, below), below);
        let stops =
            _mm256_movemask_epi8(_mm256_or_si256(_mm256_or_si256(quote, backslash), control));
        if stops != 0 {
            let at = i + stops.trailing_zeros() as usize;
            return (b[at] == b'"').then_some(at);
        }
        i += 32;
    }
    plain_string_end_by_blocks(b, i)
}

/// [`plain_string_end`] 16 bytes a step, then eight.
#[inline(always)]
fn plain_string_end_by_blocks(b: &[u8], start: usize) -> Option<usize> {
    let mut i = start;
    // Long strings (URLs, free text) 16 bytes a step; the 8-byte words finish the string.
    while let Some(block) = b.get(i..i + STOP_BLOCK) {
        let stops = block_stops(block.try_into().ok()?);
        if stops != 0 {
            let at = i + stops.trailing_zeros() as usize;
            return (b[at] == b'"').then_some(at);
        }
        i += STOP_BLOCK;
    }
    while let Some(word) = b.get(i..i + 8) {
        let stops = stop_bytes(u64::from_le_bytes(word.try_into().ok()?));
        if stops != 0 {
            let at = i + stops.trailing_zeros() as usize / 8;
            return (b[at] == b'"').then_some(at);
        }
        i += 8;
    }
    let at = i + b[i..]
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
    (b[at] == b'"').then_some(at)
}

const STOP_BLOCK: usize = 16;

/// A mask of `block` whose lowest set bit is its first byte that stops a plain string (see
/// [`stop_bytes`]); 0 when none does. On x86-64, three vector compares give a bit for each
/// such byte.
#[cfg(target_arch = "x86_64")]
fn block_stops(block: &[u8; STOP_BLOCK]) -> u32 {
    use std::arch::x86_64::*;
    // SAFETY: SSE2 is part of x86-64, and the unaligned load reads the 16 bytes of `block`.
    unsafe {
        let v = _mm_loadu_si128(block.as_ptr().cast());
        let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
        let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
        // Unsigned c < 0x20 is max(c, 0x1F) == 0x1F.
        let below = _mm_set1_epi8(0x1F);
        let control = _mm_cmpeq_epi8(_mm_max_epu8(v, below), below);
        _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control)) as u32
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn block_stops(block: &[u8; STOP_BLOCK]) -> u32 {
    block_stops_by_words(block)
}

/// [`block_stops`] two words at a time, for other processors (and tested against it).
#[cfg(any(not(target_arch = "x86_64"), test))]
fn block_stops_by_words(block: &[u8; STOP_BLOCK]) -> u32 {
    let (low, high) = block.split_at(8);
    let first_stop = |w: &[u8]| {
        let stops = stop_bytes(u64::from_le_bytes(w.try_into().expect("8 bytes")));
        // The lowest flagged byte is exact (see bytes_below); the others may not be.
        if stops == 0 {
            0
        } else {
            1u32 << (stops.trailing_zeros() / 8)
        }
    };
    match first_stop(low) {
        0 => first_stop(high) << 8,
        first => first,
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `word` below `n` (`n` ≤ 0x80). Exact up to the lowest flagged
/// byte; a byte above it may be flagged falsely (a borrow), which the callers never look at.
fn bytes_below(word: u64, n: u8) -> u64 {
    word.wrapping_sub(ONES * n as u64) & !word & HIGHS
}

/// The bytes of `word` that stop a plain string: a quote, a backslash, a control character.
fn stop_bytes(word: u64) -> u64 {
    bytes_below(word ^ (ONES * b'"' as u64), 1)
        | bytes_below(word ^ (ONES * b'\\' as u64), 1)
        | bytes_below(word, 0x20)
}

const POWERS_OF_TEN: [u64; 9] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
];

/// How many of `word`'s bytes (its first in memory, the lowest) are ASCII digits before the
/// first that is not.
fn leading_digits(word: u64) -> usize {
    // A byte's high bit is set below b'0' (the subtraction) or above b'9' (the addition carries
    // it to 0x80 from 0x3A on). A borrow or carry only reaches the bytes after the first
    // non-digit, which are not counted.
    let below = word.wrapping_sub(ONES * u64::from(b'0'));
    let above = word.wrapping_add(ONES * u64::from(0x80 - 0x3A_u8));
    let non_digits = (below | above) & HIGHS;
    non_digits.trailing_zeros() as usize / 8
}

/// The value of the first `n` (at most 8) bytes of `word`, all ASCII digits, the first the most
/// significant.
fn digits_value(word: u64, n: usize) -> u64 {
    if n == 0 {
        return 0;
    }
    // The n digits to the top bytes, zeros (leading zero digits) below: an 8-digit number.
    let d = word.wrapping_sub(ONES * u64::from(b'0')) << (8 * (8 - n));
    // Byte i holds digit i, the most significant in byte 0. Each step joins neighbours, in
    // lanes twice as wide, without a carry between lanes (99, 9,999 and 99,999,999 fit).
    let pairs = (d.wrapping_mul(10) + (d >> 8)) & 0x00FF_00FF_00FF_00FF;
    let quads = (pairs.wrapping_mul(100) + (pairs >> 16)) & 0x0000_FFFF_0000_FFFF;
    (quads.wrapping_mul(10_000) + (quads >> 32)) & 0xFFFF_FFFF
}

/// A JSON scalar as it stands in the input.
#[derive(Clone, Copy)]
enum Value<'a> {
    /// A string's bytes between its quotes: valid UTF-8, no escape, no control character.
    Str(&'a str),
    /// A number's text, checked against JSON's grammar, and its value when it is an integer
    /// literal within `i64`.
    Num(&'a str, Option<i64>),
    Bool(bool),
    Null,
}

/// The reading position. Its small steps (`string`, `value`, `number`) are inlined into the
/// decoder's loop, as are the columns' appends: called, each cost more than its work (callgrind).
struct Cursor<'a> {
    /// The input's bytes, valid UTF-8 as a whole (see [`Cursor::text`]).
    b: &'a [u8],
    i: usize,
    /// Whether the processor has AVX2 (strings are scanned 32 bytes a step), looked up once
    /// per cursor rather than once per string.
    avx2: bool,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            b: text.as_bytes(),
            i: 0,
            #[cfg(target_arch = "x86_64")]
            avx2: std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(not(target_arch = "x86_64"))]
            avx2: false,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn expect(&mut self, c: u8) -> Option<()> {
        (self.next()? == c).then_some(())
    }

    /// JSON white space between records: blank lines are skipped, as arrow-json skips them.
    fn skip_blank_lines(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.i += 1;
        }
    }

    /// JSON white space within a line (a `\r` before the newline included).
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r')) {
            self.i += 1;
        }
    }

    #[inline(always)]
    fn string(&mut self) -> Option<&'a str> {
        self.expect(b'"')?;
        let start = self.i;
        let end = plain_string_end(self.b, start, self.avx2)?;
        self.i = end + 1;
        Some(self.text(start, end))
    }

    /// The input's text from `start` to `end`, both at ASCII bytes (a quote, a digit, a
    /// delimiter), so both are character boundaries: the slice needs no check of its own.
    fn text(&self, start: usize, end: usize) -> &'a str {
        let bytes = &self.b[start..end];
        debug_assert!(std::str::from_utf8(bytes).is_ok());
        // SAFETY: `b` is valid UTF-8 as a whole (every cursor is made over a `&str`'s bytes),
        // and a slice of valid UTF-8 between two character boundaries is valid UTF-8; the
        // callers' ends are ASCII.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }

    #[inline(always)]
    fn value(&mut self) -> Option<Value<'a>> {
        match self.peek()? {
            b'"' => self.string().map(Value::Str),
            b't' => self.word(b"true", Value::Bool(true)),
            b'f' => self.word(b"false", Value::Bool(false)),
            b'n' => self.word(b"null", Value::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn word(&mut self, word: &[u8], value: Value<'a>) -> Option<Value<'a>> {
        let end = self.i + word.len();
        let next_is_delimiter = !self.b.get(end).is_some_and(u8::is_ascii_alphanumeric);
        (self.b.get(self.i..end)? == word && next_is_delimiter).then(|| {
            self.i = end;
            value
        })
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, ending at a delimiter; the
    /// integer part is read as it is scanned.
    #[inline(always)]
    fn number(&mut self) -> Option<Value<'a>> {
        let start = self.i;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.i += 1;
        }
        let integer_start = self.i;
        let mut magnitude = 0u64;
        match self.next()? {
            b'0' => {}
            b'1'..=b'9' => {
                self.i = integer_start;
                magnitude = self.integer_digits();
            }
            _ => return None,
        }
        // Nineteen digits cannot wrap a u64.
        let mut integer = (self.i - integer_start <= 19)
            .then(|| signed(magnitude, negative))
            .flatten();
        if self.peek() == Some(b'.') {
            self.i += 1;
            self.one_or_more_digits()?;
            integer = None;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            self.one_or_more_digits()?;
            integer = None;
        }
        if !matches!(self.peek(), None | Some(b',' | b'}' | b' ' | b'\t' | b'\r')) {
            return None;
        }
        Some(Value::Num(self.text(start, self.i), integer))
    }

    /// Reads the digits at the cursor as a decimal number (wrapping past `u64`), eight at a
    /// time where eight bytes are left.
    fn integer_digits(&mut self) -> u64 {
        let mut magnitude = 0u64;
        while let Some(word) = self.b.get(self.i..self.i + 8) {
            let word = u64::from_le_bytes(word.try_into().expect("8 bytes"));
            let n = leading_digits(word);
            magnitude = magnitude
                .wrapping_mul(POWERS_OF_TEN[n])
                .wrapping_add(digits_value(word, n));
            self.i += n;
            if n < 8 {
                return magnitude;
            }
        }
        while let Some(d @ b'0'..=b'9') = self.peek() {
            magnitude = magnitude.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
            self.i += 1;
        }
        magnitude
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
    }

    fn one_or_more_digits(&mut self) -> Option<()> {
        let start = self.i;
        self.digits();
        (self.i > start).then_some(())
    }
}

/// A column being built, of one of the types the fast path writes.
enum Column {
    Int64(Int64Column),
    Float64(Float64Builder),
    Boolean(BooleanBuilder),
    Utf8(StringBuilder),
    Utf8View(StringViewColumn),
    /// A column no one reads: its values are checked as they would be read, and counted.
    Unread(DataType, usize),
    /// The stream's event times (see [`decode_flat_timed`]).
    Time(TimeColumn),
}

impl Column {
    fn new(data_type: &DataType, rows: usize) -> Option<Self> {
        Some(match data_type {
            DataType::Int64 => Column::Int64(Int64Column::with_capacity(rows)),
            DataType::Float64 => Column::Float64(Float64Builder::with_capacity(rows)),
            DataType::Boolean => Column::Boolean(BooleanBuilder::with_capacity(rows)),
            DataType::Utf8 => Column::Utf8(StringBuilder::with_capacity(rows, rows * 16)),
            DataType::Utf8View => Column::Utf8View(StringViewColumn::with_capacity(rows)),
            _ => return None,
        })
    }

    /// Reads the value at the cursor into this column (see [`Column::push`]). An integer
    /// column reads its integers without going through [`Value`]: most numeric fields are.
    #[inline(always)]
    fn read(&mut self, p: &mut Cursor<'_>, nullable: bool) -> Option<()> {
        match self {
            Column::Int64(b) if p.peek() != Some(b'n') => {
                b.append_value(as_integer(p.number()?)?);
                Some(())
            }
            Column::Time(t) => t.read(p),
            _ => self.push(p.value()?, nullable),
        }
    }

    /// Appends a value the way arrow-json reads it into this type, or `None` where arrow-json
    /// would read it otherwise (or not at all).
    #[inline(always)]
    fn push(&mut self, value: Value<'_>, nullable: bool) -> Option<()> {
        if let Value::Null = value {
            if !nullable {
                return None;
            }
            match self {
                Column::Int64(b) => b.append_null(),
                Column::Float64(b) => b.append_null(),
                Column::Boolean(b) => b.append_null(),
                Column::Utf8(b) => b.append_null(),
                Column::Utf8View(b) => b.append_null(),
                Column::Unread(_, rows) => *rows += 1,
                Column::Time(t) => t.append_null(),
            }
            return Some(());
        }
        match self {
            Column::Int64(b) => b.append_value(as_integer(value)?),
            Column::Float64(b) => b.append_value(as_finite(value)?),
            Column::Boolean(b) => b.append_value(as_bool(value)?),
            Column::Utf8(b) => b.append_value(as_text(value)?),
            Column::Utf8View(b) => b.append_value(as_text(value)?)?,
            // Only a missing time (NULL) comes here: times are read by `read`.
            Column::Time(_) => return None,
            Column::Unread(data_type, rows) => {
                let ok = match data_type {
                    DataType::Int64 => as_integer(value).is_some(),
                    DataType::Float64 => as_finite(value).is_some(),
                    DataType::Boolean => as_bool(value).is_some(),
                    _ => as_text(value).is_some(),
                };
                ok.then_some(())?;
                *rows += 1;
            }
        }
        Some(())
    }

    /// The column's array; `text` is the input, which a time column's text is taken from.
    fn finish(self, text: &str) -> Option<ArrayRef> {
        Some(match self {
            Column::Int64(b) => Arc::new(b.finish()),
            Column::Float64(mut b) => Arc::new(b.finish()),
            Column::Boolean(mut b) => Arc::new(b.finish()),
            Column::Utf8(mut b) => Arc::new(b.finish()),
            Column::Utf8View(b) => Arc::new(b.finish()),
            Column::Unread(data_type, rows) => new_null_array(&data_type, rows),
            Column::Time(t) => t.finish(text)?,
        })
    }
}

/// An Int64 column being built. Arrow's builder is not inlined into the decoder's loop, and
/// its call cost more than the append; this one appends to a vector in place.
struct Int64Column {
    values: Vec<i64>,
    valid: NullBufferBuilder,
}

impl Int64Column {
    fn with_capacity(rows: usize) -> Self {
        Self {
            values: Vec::with_capacity(rows),
            valid: NullBufferBuilder::new(rows),
        }
    }

    #[inline(always)]
    fn append_value(&mut self, v: i64) {
        self.values.push(v);
        self.valid.append_non_null();
    }

    fn append_null(&mut self) {
        self.values.push(0);
        self.valid.append_null();
    }

    fn finish(mut self) -> Int64Array {
        Int64Array::new(self.values.into(), self.valid.finish())
    }
}

/// A Utf8View column being built, inlined into the decoder's loop like [`Int64Column`]: a
/// string of up to 12 bytes is its view; a longer one is copied to the one data buffer.
struct StringViewColumn {
    views: Vec<u128>,
    data: Vec<u8>,
    valid: NullBufferBuilder,
}

impl StringViewColumn {
    fn with_capacity(rows: usize) -> Self {
        Self {
            views: Vec::with_capacity(rows),
            data: Vec::new(),
            valid: NullBufferBuilder::new(rows),
        }
    }

    /// `None` past the 4 GiB a view's offset can name (a micro-batch is far less).
    #[inline(always)]
    fn append_value(&mut self, s: &str) -> Option<()> {
        let b = s.as_bytes();
        let mut view = [0u8; 16];
        if b.len() <= 12 {
            view[..4].copy_from_slice(&(b.len() as u32).to_le_bytes());
            view[4..4 + b.len()].copy_from_slice(b);
        } else {
            // The string's end fits, so do its length and its start.
            let end = u32::try_from(self.data.len() + b.len()).ok()?;
            let len = b.len() as u32;
            view[..4].copy_from_slice(&len.to_le_bytes());
            view[4..8].copy_from_slice(&b[..4]);
            // Buffer 0, the only one.
            view[12..].copy_from_slice(&(end - len).to_le_bytes());
            self.data.extend_from_slice(b);
        }
        self.views.push(u128::from_le_bytes(view));
        self.valid.append_non_null();
        Some(())
    }

    fn append_null(&mut self) {
        self.views.push(0);
        self.valid.append_null();
    }

    fn finish(mut self) -> StringViewArray {
        let buffers = match self.data.is_empty() {
            true => vec![],
            false => vec![Buffer::from_vec(self.data)],
        };
        // SAFETY: each view is built above from a `&str` (valid UTF-8): its length and inline
        // bytes, or its length, first four bytes and offset into buffer 0, which holds it.
        unsafe { StringViewArray::new_unchecked(self.views.into(), buffers, self.valid.finish()) }
    }
}

/// An event-time column being read. RFC 3339 strings are parsed as they are read; where each
/// value's text stands in the input is kept too, so that a column holding any other value
/// (a number since the epoch, another form of time) comes out as the text [`decode_flat`]
/// gives, for the caller's general parser.
struct TimeColumn {
    rfc3339: Rfc3339Nanos,
    nanos: Vec<i64>,
    valid: NullBufferBuilder,
    /// Each value's text, as a range of the input (empty for NULL).
    spans: Vec<(u32, u32)>,
    /// Whether every non-NULL value so far is an RFC 3339 string read into `nanos`.
    all_instants: bool,
}

impl TimeColumn {
    fn with_capacity(rows: usize) -> Self {
        Self {
            rfc3339: Rfc3339Nanos::default(),
            nanos: Vec::with_capacity(rows),
            valid: NullBufferBuilder::new(rows),
            spans: Vec::with_capacity(rows),
            all_instants: true,
        }
    }

    fn read(&mut self, p: &mut Cursor<'_>) -> Option<()> {
        let start = p.i;
        let value = p.value()?;
        // A string's text is between its quotes; a number's or a boolean's is its literal.
        let (text, instant) = match value {
            Value::Null => {
                self.append_null();
                return Some(());
            }
            Value::Str(s) => ((start + 1, p.i - 1), self.rfc3339.parse(s)),
            Value::Num(..) | Value::Bool(_) => ((start, p.i), None),
        };
        self.all_instants &= instant.is_some();
        self.nanos.push(instant.unwrap_or(0));
        self.valid.append_non_null();
        // Chunks are far below 4 GiB (a micro-batch is at most a few MiB).
        self.spans
            .push((u32::try_from(text.0).ok()?, u32::try_from(text.1).ok()?));
        Some(())
    }

    fn append_null(&mut self) {
        self.nanos.push(0);
        self.valid.append_null();
        self.spans.push((0, 0));
    }

    /// The instants, or the values' text when one is not an RFC 3339 string; `None` only if
    /// a range were not at character boundaries of `input` (the cursor's ranges always are).
    fn finish(mut self, input: &str) -> Option<ArrayRef> {
        let valid = self.valid.finish();
        if self.all_instants {
            return Some(Arc::new(TimestampNanosecondArray::new(
                self.nanos.into(),
                valid,
            )));
        }
        let mut text = StringBuilder::with_capacity(self.spans.len(), 0);
        for (row, &(start, end)) in self.spans.iter().enumerate() {
            match valid.as_ref().is_some_and(|v| v.is_null(row)) {
                true => text.append_null(),
                false => text.append_value(input.get(start as usize..end as usize)?),
            }
        }
        Some(Arc::new(text.finish()))
    }
}

/// An integer literal within `i64` (arrow-json reads others through `f64`: left to it).
fn as_integer(value: Value<'_>) -> Option<i64> {
    match value {
        Value::Num(_, integer) => integer,
        _ => None,
    }
}

/// `magnitude` with its sign, when that fits in `i64`.
fn signed(magnitude: u64, negative: bool) -> Option<i64> {
    match negative {
        false => i64::try_from(magnitude).ok(),
        true => 0i64.checked_sub_unsigned(magnitude),
    }
}

/// A number within the range of `f64`.
fn as_finite(value: Value<'_>) -> Option<f64> {
    match value {
        Value::Num(text, _) => finite(text),
        _ => None,
    }
}

fn as_bool(value: Value<'_>) -> Option<bool> {
    match value {
        Value::Bool(v) => Some(v),
        _ => None,
    }
}

/// A number within the range of `f64` (an overflow to infinity is left to arrow-json).
fn finite(text: &str) -> Option<f64> {
    text.parse().ok().filter(|v: &f64| v.is_finite())
}

/// A string column's text of a value: a string's own, a number's literal, `true`/`false`
/// (arrow-json's `coerce_primitive`).
#[inline(always)]
fn as_text<'a>(value: Value<'a>) -> Option<&'a str> {
    match value {
        Value::Str(s) | Value::Num(s, _) => Some(s),
        Value::Bool(true) => Some("true"),
        Value::Bool(false) => Some("false"),
        Value::Null => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{Field, Schema};

    #[test]
    fn text_is_accepted_exactly_when_it_is_utf8() {
        // Invalid sequences and valid multi-byte characters at each place around the 128-byte
        // blocks: before, across and after a block's end.
        let cases: [&[u8]; 6] = [
            b"\xC3\xA9",
            b"\xE2\x82\xAC",
            b"\xF0\x9F\x98\x80",
            b"\xC3",
            b"\x80",
            b"\xED\xA0\x80",
        ];
        for len in [0usize, 1, 100, 126, 127, 128, 129, 255, 256, 300] {
            for case in cases {
                for at in [0, len / 2, len.saturating_sub(1), len] {
                    let mut data = vec![b'a'; len];
                    data.splice(at..at, case.iter().copied());
                    let expected = std::str::from_utf8(&data).ok();
                    assert_eq!(utf8_text(&data), expected, "{len} bytes, {case:?} at {at}");
                }
            }
        }
    }

    #[test]
    fn a_plain_string_ends_at_its_first_stop_byte_wherever_it_falls() {
        let reference = |b: &[u8], start: usize| {
            let at = start
                + b[start..]
                    .iter()
                    .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
            (b[at] == b'"').then_some(at)
        };
        // Bytes above 0x7F (UTF-8 continuations) and 0x20 itself never stop a string.
        let fillers = [b'a', b' ', 0x7F, 0x80, 0xC3, 0xFF];
        for len in 0..70 {
            for stop in [b'"', b'\\', 0x00, 0x1F, b'\n'] {
                for (k, &fill) in fillers.iter().enumerate() {
                    let mut b = vec![fill; len];
                    b.push(stop);
                    b.extend_from_slice(b"xyz\"");
                    let start = k % 3;
                    if let Some(block) = b.get(start..start + STOP_BLOCK) {
                        let block = block.try_into().unwrap();
                        let (fast, words) = (block_stops(block), block_stops_by_words(block));
                        assert_eq!(fast.trailing_zeros(), words.trailing_zeros());
                    }
                    let (start, want) = (start.min(b.len()), reference(&b, start.min(b.len())));
                    let case = format!("{len} bytes of {fill:#x}, then {stop:#x}");
                    let avx2 = Cursor::new("").avx2;
                    assert_eq!(plain_string_end(&b, start, avx2), want, "{case}");
                    assert_eq!(plain_string_end_by_blocks(&b, start), want, "{case}");
                }
            }
        }
    }

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("ts", DataType::Utf8, true),
            Field::new("auction", DataType::Int64, true),
            Field::new("price", DataType::Float64, true),
            Field::new("channel", DataType::Utf8View, true),
            Field::new("ok", DataType::Boolean, true),
            // Longer than the 16 bytes a key is matched in at once.
            Field::new("a_rather_long_field_name", DataType::Int64, true),
        ]))
    }

    fn arrow_json(data: &[u8], schema: &SchemaRef) -> Option<RecordBatch> {
        let mut d = arrow::json::ReaderBuilder::new(Arc::clone(schema))
            .with_coerce_primitive(true)
            .with_batch_size(data.len() + 1)
            .build_decoder()
            .ok()?;
        d.decode(data).ok()?;
        d.flush().ok()?
    }

    /// `batch` with the columns of `unread` set to NULL.
    fn without(batch: &RecordBatch, unread: u64) -> RecordBatch {
        let columns = batch
            .columns()
            .iter()
            .enumerate()
            .map(|(i, c)| match unread & (1 << i) != 0 {
                true => new_null_array(c.data_type(), c.len()),
                false => Arc::clone(c),
            })
            .collect();
        RecordBatch::try_new(batch.schema(), columns).unwrap()
    }

    /// A small random generator (xorshift), so the test needs no crate.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }

        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len() as u64) as usize]
        }
    }

    /// Values of each column's type, inside the fast path.
    const TEXTS: &[&str] = &[
        "\"\"",
        "\"2026-01-01T00:00:00.123Z\"",
        "\"channel-7\"",
        "\"a longer string than twelve bytes\"",
        "\"caf\u{e9}\"",
        "\"12\"",
        "\"true\"",
        "1767225600",
        "-1.5e3",
        "true",
        "null",
    ];
    const INTEGERS: &[&str] = &[
        "0",
        "-0",
        "7",
        "-42",
        "1000",
        "12345678",
        "-987654321",
        "1234567890123456",
        "1000000000000000000",
        "9223372036854775807",
        "-9223372036854775808",
        "null",
    ];
    const FLOATS: &[&str] = &[
        "0",
        "-0",
        "1.5",
        "-2.25e3",
        "1E2",
        "0.1",
        "123456789012345678901234567890",
        "4.9e-324",
        "null",
    ];
    const BOOLEANS: &[&str] = &["true", "false", "null"];

    /// Values of every kind, many of them outside the fast path or of another column's type.
    const ANY: &[&str] = &[
        "9223372036854775808",
        "1e400",
        "1.",
        "01",
        "-",
        "+1",
        ".5",
        "nul",
        "truex",
        "\"esc\\\"aped\"",
        "\"tab\there\"",
        "\"0123456789\tafter a word\"",
        "\"012345678\\\"quoted after a word\"",
        "\"0123456\u{e9}8\"",
        "18446744073709551616",
        "-9223372036854775809",
        "12345678901234567890",
        "123456789x",
        "12345678.5",
        "00000000",
        "1234567890123456789012345",
        "\"1.5\"",
        "[1, 2]",
        "{\"x\": 1}",
        "1.5",
        "true",
        "\"x\"",
    ];

    /// The schema's keys with their values, and keys it does not have.
    const KEYS: &[(&str, &[&str])] = &[
        ("ts", TEXTS),
        ("auction", INTEGERS),
        ("price", FLOATS),
        ("channel", TEXTS),
        ("ok", BOOLEANS),
        ("a_rather_long_field_name", INTEGERS),
        ("a_rather_long_field_name_too", INTEGERS),
        ("a_rather_long_field", INTEGERS),
        ("extra", TEXTS),
        ("Ts", TEXTS),
        ("auctions", INTEGERS),
    ];

    fn random_line(rng: &mut Rng) -> String {
        match rng.below(60) {
            0 => return String::new(),
            1 => return "   ".into(),
            2 => return "not json".into(),
            3 => return "{\"auction\": 1} {\"auction\": 2}".into(),
            4 => return "{\"auction\": 1".into(),
            // Junk between the expected key and its colon.
            5 => return "{\"ts\"x:1}".into(),
            6 => return "{\"ts\":1,\"auction\":2,\"price\":3,\"channel\":4,\"ok\":true,\"a_rather_long_field_name\" x: 1}".into(),
            _ => {}
        }
        let mut parts = Vec::new();
        // Half the records start with some of the schema's keys in its order (how producers
        // write them; the first six KEYS), then go on with keys in any order.
        let in_order = if rng.below(2) == 0 { rng.below(7) } else { 0 };
        for k in 0..in_order + rng.below(7) {
            let (key, values) = match k < in_order {
                true => KEYS[k as usize],
                false => KEYS[rng.below(KEYS.len() as u64) as usize],
            };
            let value = if rng.below(30) == 0 {
                rng.pick(ANY)
            } else {
                rng.pick(values)
            };
            let space = if rng.below(4) == 0 { " " } else { "" };
            parts.push(format!("\"{key}\"{space}:{space}{value}"));
        }
        let end = if rng.below(10) == 0 { " \r" } else { "" };
        format!("{{{}}}{end}", parts.join(","))
    }

    #[test]
    fn integers_read_eight_digits_at_a_time_as_one_at_a_time() {
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        for _ in 0..20_000 {
            let digits = 1 + rng.below(21) as usize;
            let mut text: String = (0..digits)
                .map(|_| char::from(b'0' + rng.below(10) as u8))
                .collect();
            let tail = rng.pick(&["", ",", "}", " ", ".5", "e3", "x", "\u{e9}", "/", ":"]);
            text.push_str(tail);
            let expected = text
                .bytes()
                .take_while(u8::is_ascii_digit)
                .fold(0u64, |m, d| {
                    m.wrapping_mul(10).wrapping_add(u64::from(d - b'0'))
                });
            let mut p = Cursor::new(&text);
            assert_eq!(p.integer_digits(), expected, "{text}");
            assert_eq!(p.i, digits, "{text}");
        }
        for byte in 0..=255u8 {
            let word = u64::from_le_bytes([b'7', byte, b'1', b'2', b'3', b'4', b'5', b'6']);
            assert_eq!(
                leading_digits(word),
                if byte.is_ascii_digit() { 8 } else { 1 }
            );
        }
    }

    /// `timed` (the time column `ts` read as instants) against `plain`, the same chunk read
    /// without: the same text, or the instants of that text.
    fn assert_times_agree(timed: &RecordBatch, plain: &RecordBatch, data: &str) {
        use crate::generator::time::parse_rfc3339_nanos;
        use arrow::array::{Array, AsArray};
        use arrow::datatypes::TimestampNanosecondType;
        if timed.column(0).data_type() == &DataType::Utf8 {
            assert_eq!(timed, plain, "{data}");
            return;
        }
        assert_eq!(timed.schema().field(0).data_type(), &TIME_TYPE);
        let text = plain.column(0).as_string::<i32>();
        let instants = timed.column(0).as_primitive::<TimestampNanosecondType>();
        for row in 0..plain.num_rows() {
            let expected = text
                .is_valid(row)
                .then(|| parse_rfc3339_nanos(text.value(row)).expect("an RFC 3339 time"));
            let got = instants.is_valid(row).then(|| instants.value(row));
            assert_eq!(got, expected, "row {row} of {data}");
        }
        for c in 1..plain.num_columns() {
            assert_eq!(timed.column(c), plain.column(c), "{data}");
        }
    }

    #[test]
    fn event_times_are_read_as_instants_unless_one_is_not_rfc3339() {
        let schema = schema();
        let data = "{\"ts\":\"2026-01-01T00:00:00.123Z\",\"auction\":1}\n{\"auction\":2}\n\
                    {\"ts\":null}\n{\"ts\" : \"2026-01-01T00:01:00+01:00\"}";
        let timed = decode_flat_timed(data.as_bytes(), &schema, 0, Some(0)).unwrap();
        assert_eq!(timed.column(0).data_type(), &TIME_TYPE);
        assert_eq!(timed.column(0).null_count(), 2);
        assert_times_agree(
            &timed,
            &decode_flat(data.as_bytes(), &schema, 0).unwrap(),
            data,
        );
        // A number, a boolean, another form of time or no time at all: the column is text.
        for other in [
            "1767225600",
            "-1.5e3",
            "true",
            "\"2026-01-01 00:00:00\"",
            "\"soon\"",
        ] {
            let data = format!("{{\"ts\":\"2026-01-01T00:00:00Z\"}}\n{{\"ts\":{other}}}\n");
            let timed = decode_flat_timed(data.as_bytes(), &schema, 0, Some(0)).unwrap();
            assert_eq!(timed.column(0).data_type(), &DataType::Utf8, "{other}");
            assert_eq!(
                Some(timed),
                decode_flat(data.as_bytes(), &schema, 0),
                "{other}"
            );
        }
    }

    #[test]
    fn agrees_with_arrow_json_on_random_records() {
        let schema = schema();
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let (mut fast, mut chunks, mut instants) = (0, 0, 0);
        for _ in 0..20_000 {
            let lines = 1 + rng.below(4);
            let data: Vec<String> = (0..lines).map(|_| random_line(&mut rng)).collect();
            let data = data.join("\n");
            chunks += 1;
            let batch = decode_flat(data.as_bytes(), &schema, 0);
            if let Some(batch) = &batch {
                fast += 1;
                let reference = arrow_json(data.as_bytes(), &schema);
                assert_eq!(Some(batch), reference.as_ref(), "{data}");
            }
            // Times read as instants where every one is an RFC 3339 string, and as text
            // otherwise, in the same chunks.
            let timed = decode_flat_timed(data.as_bytes(), &schema, 0, Some(0));
            assert_eq!(timed.is_some(), batch.is_some(), "{data}");
            if let (Some(timed), Some(batch)) = (&timed, &batch) {
                instants += (timed.column(0).data_type() == &TIME_TYPE) as usize;
                assert_times_agree(timed, batch, &data);
            }
            // Unread columns change what comes out of them, never which chunks read.
            let unread = rng.below(1 << schema.fields().len());
            let partly = decode_flat(data.as_bytes(), &schema, unread);
            assert_eq!(partly.is_some(), batch.is_some(), "{data}");
            if let (Some(partly), Some(batch)) = (partly, batch) {
                assert_eq!(partly, without(&batch, unread), "{data}");
            }
        }
        // The comparison means something only if the fast path took a fair share.
        assert!(
            fast > chunks / 10,
            "fast path took {fast} of {chunks} chunks"
        );
        assert!(
            instants > fast / 20,
            "{instants} of {fast} chunks as instants"
        );
    }

    #[test]
    fn records_in_schema_order_with_white_space_stay_on_the_fast_path() {
        let schema = schema();
        for line in [
            r#"{"ts":"a","auction":1,"price":2.5,"channel":"c","ok":true}"#,
            r#"{"ts" : "a" , "auction":1 ,"price": 2.5,"channel":"c" ,"ok":true }"#,
            r#"{ "ts":"a",	"auction":1,"price":2.5,"channel":"c","ok":true,"extra":"x"}"#,
            r#"{"ts":"a","auction":1,"ok":true,"price":2.5,"channel":"c"}"#,
        ] {
            let data = format!("{line}\n{line}");
            let fast = decode_flat(data.as_bytes(), &schema, 0);
            assert!(fast.is_some(), "{line}");
            assert_eq!(fast, arrow_json(data.as_bytes(), &schema), "{line}");
        }
    }

    #[test]
    fn reads_the_usual_event_shape() {
        let mut fields = schema().fields().to_vec();
        fields.push(Arc::new(Field::new("strict", DataType::Int64, false)));
        let schema = Arc::new(Schema::new(fields));
        let data = b"{\"ts\":\"2026-01-01T00:00:00Z\",\"auction\":1000,\"price\":12.5,\"channel\":\"Google\",\"ok\":true,\"strict\":1}\n\
                     \n{\"strict\": 2, \"ts\": 1767225600, \"extra\": [1], \"channel\": null}\n";
        // A nested value, even under an unknown key, is arrow-json's.
        assert!(decode_flat(data, &schema, 0).is_none());
        let data = b"{\"ts\":\"2026-01-01T00:00:00Z\",\"auction\":1000,\"price\":12.5,\"channel\":\"Google\",\"ok\":true,\"strict\":1}\n\
                     \n{\"strict\": 2, \"ts\": 1767225600, \"extra\": \"x\", \"channel\": null}";
        let batch = decode_flat(data, &schema, 0).expect("flat records");
        assert_eq!(Some(&batch), arrow_json(data, &schema).as_ref());
        // A field that may not be NULL is read even when marked unread.
        let partly = decode_flat(data, &schema, u64::MAX).expect("flat records");
        assert_eq!(
            partly.column_by_name("strict"),
            batch.column_by_name("strict")
        );
        assert_eq!(partly.column_by_name("auction").unwrap().null_count(), 2);
        // Keys that start with a schema key, before or after it, with or without white space
        // before the colon, and longer than 16 bytes: read here, as arrow-json reads them.
        // (In schema order, so that each is compared with the key expected there.)
        let data = b"{\"ts\":\"x\",\"auctions\":2,\"auction\" :3,\"price\":1.5,\"channel\":\"c\",\"ok\":true,\
                     \"a_rather_long_field_name_too\":4,\"a_rather_long_field_name\":5,\"strict\":1}\n\
                     {\"ts\":\"y\",\"a_rather_long_field\":5,\"a_rather_long_field_name\" :6,\"strict\":2}";
        let batch = decode_flat(data, &schema, 0).expect("flat records");
        assert_eq!(Some(&batch), arrow_json(data, &schema).as_ref());
        // A missing non-nullable field, a duplicate key: left to arrow-json.
        assert!(decode_flat(b"{\"ts\": \"x\"}", &schema, 0).is_none());
        assert!(decode_flat(b"{\"strict\": null}", &schema, 0).is_none());
        assert!(decode_flat(b"{\"strict\": 1, \"strict\": 2}", &schema, 0).is_none());
        assert!(decode_flat(b"\n \n", &schema, 0).is_none());
    }
}
