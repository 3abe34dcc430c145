//! Text helpers shared by the readers: encodings, bounded line reading and line
//! counting.
//!
//! # One rule for the text formats
//! CSV, GeoJSON and GeoJSONSeq are read as UTF-8 ([`Encoding::Utf8`]): a row or a
//! feature that is not valid UTF-8 is rejected with its line (or feature number) and
//! the first bad byte, as any unreadable row is, never guessed at or mangled into
//! U+FFFD. Open data still comes in Latin-1 (CSV exported from spreadsheets), which
//! [`Encoding::Latin1`] (`tessera ingest --encoding latin1`) decodes instead.
//!
//! dBase tables are not text files: their code page is named by a `.cpg` file or the
//! header's language driver byte, and without either, cells that are not valid UTF-8
//! are decoded as Windows-1252 ([`TextEncoding::Auto`]), as GDAL does.
//!
//! May import: nothing from the crate.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::io::{self, BufRead, Read};

/// The encoding of a text source (CSV, GeoJSON, GeoJSONSeq).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// UTF-8, a byte order mark allowed: a row or feature that is not valid UTF-8 is
    /// rejected, naming its line.
    #[default]
    Utf8,
    /// ISO-8859-1 (Latin-1), read as browsers read it: bytes 0x80 to 0x9F are the
    /// printable characters Windows-1252 puts there (`€`, `‘`, `œ`, …) rather than C1
    /// control codes, which no data file means.
    Latin1,
}

impl Encoding {
    /// The name `--encoding` takes.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf-8",
            Encoding::Latin1 => "latin1",
        }
    }
}

impl std::fmt::Display for Encoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Encoding {
    type Err = String;

    /// Parses an `--encoding` value, case-insensitively, with the usual aliases.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "utf-8" | "utf8" => Ok(Encoding::Utf8),
            "latin1" | "latin-1" | "iso-8859-1" | "iso8859-1" | "windows-1252" | "cp1252" => {
                Ok(Encoding::Latin1)
            }
            _ => Err(format!("unknown encoding {s:?}: use utf-8 or latin1")),
        }
    }
}

/// `bytes` as UTF-8: borrowed as they are when `encoding` is UTF-8 (then they may
/// still be invalid: see [`utf8_problem`]), decoded from Latin-1 otherwise.
pub(crate) fn to_utf8(bytes: &[u8], encoding: Encoding) -> Cow<'_, [u8]> {
    match encoding {
        Encoding::Utf8 => Cow::Borrowed(bytes),
        Encoding::Latin1 => Cow::Owned(decode_1252(bytes).into_bytes()),
    }
}

/// `bytes` as text in `encoding`, or the message saying why they are not UTF-8.
pub(crate) fn text(bytes: &[u8], encoding: Encoding) -> Result<Cow<'_, str>, String> {
    match encoding {
        Encoding::Utf8 => std::str::from_utf8(bytes)
            .map(Cow::Borrowed)
            .map_err(|e| not_utf8(bytes, &e)),
        Encoding::Latin1 => Ok(Cow::Owned(decode_1252(bytes))),
    }
}

/// Why `bytes` are not valid UTF-8 (`None` when they are): the first bad byte and its
/// 1-based offset, and the way out.
pub(crate) fn utf8_problem(bytes: &[u8]) -> Option<String> {
    std::str::from_utf8(bytes)
        .err()
        .map(|e| not_utf8(bytes, &e))
}

fn not_utf8(bytes: &[u8], error: &std::str::Utf8Error) -> String {
    let at = error.valid_up_to();
    format!(
        "not valid UTF-8: byte 0x{:02X} at byte {}; for Latin-1 text, ingest with \
         --encoding latin1",
        bytes.get(at).copied().unwrap_or_default(),
        at + 1
    )
}

/// How to decode the bytes of a dBase cell into text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextEncoding {
    /// UTF-8; invalid sequences become U+FFFD.
    Utf8,
    /// Windows-1252 (a superset of the printable ISO-8859-1).
    Windows1252,
    /// UTF-8 when the bytes are valid UTF-8, Windows-1252 otherwise.
    Auto,
}

/// Windows-1252 code points for bytes 0x80 to 0x9F; the five unassigned bytes map to
/// the C1 controls of the same value, as browsers do.
const CP1252_HIGH: [char; 32] = [
    '\u{20AC}', '\u{0081}', '\u{201A}', '\u{0192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}',
    '\u{02C6}', '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\u{008D}', '\u{017D}', '\u{008F}',
    '\u{0090}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}',
    '\u{02DC}', '\u{2122}', '\u{0161}', '\u{203A}', '\u{0153}', '\u{009D}', '\u{017E}', '\u{0178}',
];

/// Decodes `bytes` as `encoding`.
pub(crate) fn decode(bytes: &[u8], encoding: TextEncoding) -> Cow<'_, str> {
    match encoding {
        TextEncoding::Utf8 => String::from_utf8_lossy(bytes),
        TextEncoding::Windows1252 => Cow::Owned(decode_1252(bytes)),
        TextEncoding::Auto => match std::str::from_utf8(bytes) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => Cow::Owned(decode_1252(bytes)),
        },
    }
}

fn decode_1252(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            0x80..=0x9F => CP1252_HIGH[usize::from(b - 0x80)],
            _ => char::from(b),
        })
        .collect()
}

/// One line from a [`LineReader`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// The line's bytes are in the buffer, without the line end.
    Complete,
    /// The line was longer than the limit and was skipped; the buffer is empty.
    TooLong,
}

/// Reads lines of at most `max_len` bytes, counting them and the bytes consumed.
///
/// `BufRead::read_until` would grow its buffer to the longest line, which a hostile file
/// makes as long as the file; this reader skips such a line instead.
pub(crate) struct LineReader<R> {
    inner: R,
    max_len: usize,
    /// Lines read so far (the 1-based number of the last line returned).
    pub(crate) line: u64,
    /// Bytes consumed so far.
    pub(crate) bytes: u64,
}

impl<R: BufRead> LineReader<R> {
    pub(crate) fn new(inner: R, max_len: usize) -> Self {
        Self {
            inner,
            max_len,
            line: 0,
            bytes: 0,
        }
    }

    /// Reads the next line into `buf` (cleared first), without its `\n` or `\r\n`.
    /// `Ok(None)` at end of input.
    pub(crate) fn next_line(&mut self, buf: &mut Vec<u8>) -> io::Result<Option<Line>> {
        buf.clear();
        let mut too_long = false;
        let mut any = false;
        loop {
            let available = match self.inner.fill_buf() {
                Ok(available) => available,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                if !any {
                    return Ok(None);
                }
                break;
            }
            any = true;
            let newline = memchr::memchr(b'\n', available);
            let take = newline.unwrap_or(available.len());
            if !too_long {
                if buf.len() + take > self.max_len {
                    too_long = true;
                    buf.clear();
                } else {
                    buf.extend_from_slice(&available[..take]);
                }
            }
            let consumed = newline.map_or(take, |n| n + 1);
            self.inner.consume(consumed);
            self.bytes += consumed as u64;
            if newline.is_some() {
                break;
            }
        }
        self.line += 1;
        if too_long {
            return Ok(Some(Line::TooLong));
        }
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        Ok(Some(Line::Complete))
    }
}

/// Counts the line breaks a parser reads through it, so that a CSV record's line is the
/// line it starts on. (The `csv` crate's record positions point where the previous record
/// ended: a line early after a CRLF or a blank line.)
pub(crate) struct LineTracker<R> {
    inner: R,
    offset: u64,
    /// Offsets and bytes of the `\r` and `\n` read but not yet passed.
    breaks: VecDeque<(u64, u8)>,
    /// `\n` bytes passed.
    lines_passed: u64,
}

impl<R> LineTracker<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self {
            inner,
            offset: 0,
            breaks: VecDeque::new(),
            lines_passed: 0,
        }
    }

    /// The 1-based line of the first byte at or after `start` that is not a line break
    /// (a record never starts with one). Offsets must not decrease between calls.
    pub(crate) fn line_at(&mut self, start: u64) -> u64 {
        while let Some(&(offset, byte)) = self.breaks.front() {
            if offset >= start {
                break;
            }
            if byte == b'\n' {
                self.lines_passed += 1;
            }
            self.breaks.pop_front();
        }
        let skipped = (start..)
            .zip(&self.breaks)
            .take_while(|(expected, (offset, _))| offset == expected)
            .filter(|(_, (_, byte))| *byte == b'\n')
            .count();
        self.lines_passed + 1 + skipped as u64
    }
}

impl<R: Read> Read for LineTracker<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for (i, &b) in buf[..n].iter().enumerate() {
            if b == b'\n' || b == b'\r' {
                self.breaks.push_back((self.offset + i as u64, b));
            }
        }
        self.offset += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_utf8_and_falls_back_to_windows_1252() {
        assert_eq!(decode("Société".as_bytes(), TextEncoding::Auto), "Société");
        assert_eq!(
            decode(b"Soci\xe9t\xe9 \x80", TextEncoding::Auto),
            "Société €"
        );
        assert_eq!(decode(b"\x9c", TextEncoding::Windows1252), "œ");
        assert_eq!(decode(b"a\xff", TextEncoding::Utf8), "a\u{FFFD}");
    }

    #[test]
    fn text_is_strict_utf8_or_latin1() {
        assert_eq!(
            text("Société".as_bytes(), Encoding::Utf8).as_deref(),
            Ok("Société")
        );
        assert_eq!(
            text(b"Soci\xe9t\xe9", Encoding::Utf8),
            Err(
                "not valid UTF-8: byte 0xE9 at byte 5; for Latin-1 text, ingest with \
                 --encoding latin1"
                    .to_owned()
            )
        );
        assert_eq!(
            text(b"Soci\xe9t\xe9 \x80", Encoding::Latin1).as_deref(),
            Ok("Société €")
        );
        assert_eq!(utf8_problem("€".as_bytes()), None);
        assert_eq!(
            utf8_problem(b"\"a\":\"\xff\""),
            Some(
                "not valid UTF-8: byte 0xFF at byte 6; for Latin-1 text, ingest with \
                 --encoding latin1"
                    .to_owned()
            )
        );
        assert_eq!(&*to_utf8(b"\xe9", Encoding::Latin1), "é".as_bytes());
        assert_eq!(&*to_utf8(b"\xe9", Encoding::Utf8), b"\xe9");
        for (name, encoding) in [
            ("utf-8", Encoding::Utf8),
            ("UTF8", Encoding::Utf8),
            ("latin1", Encoding::Latin1),
            ("ISO-8859-1", Encoding::Latin1),
            ("windows_1252", Encoding::Latin1),
        ] {
            assert_eq!(name.parse::<Encoding>(), Ok(encoding), "{name}");
        }
        assert_eq!(
            "ebcdic".parse::<Encoding>(),
            Err("unknown encoding \"ebcdic\": use utf-8 or latin1".to_owned())
        );
    }

    #[test]
    fn reads_bounded_lines() {
        let input = b"one\r\n\ntoolongline\nlast";
        let mut reader = LineReader::new(&input[..], 5);
        let mut buf = Vec::new();
        let mut lines = Vec::new();
        while let Some(line) = reader.next_line(&mut buf).expect("read") {
            lines.push((
                reader.line,
                line,
                String::from_utf8_lossy(&buf).into_owned(),
            ));
        }
        assert_eq!(
            lines,
            vec![
                (1, Line::Complete, "one".to_owned()),
                (2, Line::Complete, String::new()),
                (3, Line::TooLong, String::new()),
                (4, Line::Complete, "last".to_owned()),
            ]
        );
        assert_eq!(reader.bytes, input.len() as u64);
    }
}
