//! A byte-level scanner that walks the top level of a large JSON document and cuts out
//! one value at a time, so that a FeatureCollection is parsed feature by feature.
//!
//! The scanner only frames values (brackets, strings, escapes); what is inside a value is
//! left to `serde_json`, which parses each cut-out value from a slice. Framing errors
//! (a truncated file, a `]` closing a `{`) are the caller's fatal errors; content errors
//! in one value are not, since the next value can still be framed.
//!
//! May import: nothing from the crate.

use std::io::{self, BufRead};

/// The deepest nesting of arrays and objects accepted in one value.
///
/// `serde_json` refuses more than 128 levels; the scanner stops at the same depth so that
/// a value it frames can also be parsed, and so that its bracket stack stays small.
pub(crate) const MAX_DEPTH: usize = 128;

/// A framing error.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ScanError {
    /// The input ended inside a value or before the end of the document.
    #[error("unexpected end of file")]
    Eof,
    /// The bytes cannot be JSON.
    #[error("{0}")]
    Syntax(String),
    /// Reading failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// What [`JsonScanner::value`] did with a value.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Captured {
    /// The value's bytes were appended to the buffer.
    Whole,
    /// The value was longer than the limit: it was skipped and the buffer left empty.
    TooLong,
}

/// Scans JSON text from a buffered reader, counting the bytes consumed.
pub(crate) struct JsonScanner<R> {
    inner: R,
    /// Bytes consumed so far.
    pub(crate) pos: u64,
}

impl<R: BufRead> JsonScanner<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self { inner, pos: 0 }
    }

    fn fill(&mut self) -> io::Result<&[u8]> {
        loop {
            match self.inner.fill_buf() {
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, n: usize) {
        self.inner.consume(n);
        self.pos += n as u64;
    }

    /// Skips a UTF-8 byte order mark at the current position.
    pub(crate) fn skip_bom(&mut self) -> io::Result<()> {
        if self.fill()?.starts_with(b"\xEF\xBB\xBF") {
            self.consume(3);
        }
        Ok(())
    }

    /// Skips whitespace and returns the next byte without consuming it; `None` at end.
    pub(crate) fn peek_token(&mut self) -> io::Result<Option<u8>> {
        loop {
            let buf = self.fill()?;
            if buf.is_empty() {
                return Ok(None);
            }
            match buf
                .iter()
                .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
            {
                Some(i) => {
                    let byte = buf[i];
                    self.consume(i);
                    return Ok(Some(byte));
                }
                None => {
                    let n = buf.len();
                    self.consume(n);
                }
            }
        }
    }

    /// Consumes the next non-whitespace byte, which must be one of `expected`.
    pub(crate) fn expect(&mut self, expected: &[u8], what: &str) -> Result<u8, ScanError> {
        match self.peek_token()? {
            Some(b) if expected.contains(&b) => {
                self.consume(1);
                Ok(b)
            }
            Some(b) => Err(ScanError::Syntax(format!(
                "expected {what} at byte {}, found '{}'",
                self.pos,
                char::from(b).escape_default()
            ))),
            None => Err(ScanError::Eof),
        }
    }

    /// Reads an object key (a JSON string) of at most `max_len` bytes of JSON text;
    /// longer keys come back as `None`.
    pub(crate) fn key(&mut self, max_len: usize) -> Result<Option<String>, ScanError> {
        match self.peek_token()? {
            Some(b'"') => {}
            None => return Err(ScanError::Eof),
            Some(_) => {
                return Err(ScanError::Syntax(format!(
                    "expected an object key at byte {}",
                    self.pos
                )));
            }
        }
        let mut raw = Vec::new();
        if self.value(Some(&mut raw), max_len)? == Captured::TooLong {
            return Ok(None);
        }
        serde_json::from_slice(&raw)
            .map(Some)
            .map_err(|e| ScanError::Syntax(format!("bad object key: {e}")))
    }

    /// Reads the next value (after whitespace). Its bytes are appended to `out` when
    /// given and when they fit in `max_len`; otherwise the value is skipped.
    ///
    /// Strings and containers are framed exactly; a scalar ends at the next delimiter or
    /// whitespace and is not checked here.
    pub(crate) fn value(
        &mut self,
        mut out: Option<&mut Vec<u8>>,
        max_len: usize,
    ) -> Result<Captured, ScanError> {
        let first = self.peek_token()?.ok_or(ScanError::Eof)?;
        let scalar = !matches!(first, b'{' | b'[' | b'"');
        // Closing brackets still expected, innermost last.
        let mut closers: Vec<u8> = Vec::new();
        let mut in_string = false;
        let mut escaped = false;
        let mut started = false;
        let mut len: usize = 0;
        let mut too_long = false;
        loop {
            let buf = self.fill()?;
            if buf.is_empty() {
                if scalar && started {
                    break;
                }
                return Err(ScanError::Eof);
            }
            let mut end = None;
            for (i, &b) in buf.iter().enumerate() {
                if !started {
                    started = true;
                    match b {
                        b'{' => closers.push(b'}'),
                        b'[' => closers.push(b']'),
                        b'"' => in_string = true,
                        _ => {}
                    }
                    if scalar && matches!(b, b',' | b'}' | b']' | b':') {
                        return Err(ScanError::Syntax(format!(
                            "expected a value at byte {}, found '{}'",
                            self.pos,
                            char::from(b)
                        )));
                    }
                    continue;
                }
                if scalar {
                    if matches!(b, b',' | b'}' | b']' | b':' | b' ' | b'\t' | b'\n' | b'\r') {
                        end = Some(i);
                        break;
                    }
                    continue;
                }
                if in_string {
                    if escaped {
                        escaped = false;
                    } else if b == b'\\' {
                        escaped = true;
                    } else if b == b'"' {
                        in_string = false;
                        if closers.is_empty() {
                            end = Some(i + 1);
                            break;
                        }
                    }
                    continue;
                }
                match b {
                    b'"' => in_string = true,
                    b'{' | b'[' => {
                        if closers.len() >= MAX_DEPTH {
                            return Err(ScanError::Syntax(format!(
                                "nesting deeper than {MAX_DEPTH} levels at byte {}",
                                self.pos + i as u64
                            )));
                        }
                        closers.push(if b == b'{' { b'}' } else { b']' });
                    }
                    b'}' | b']' => {
                        if closers.pop() != Some(b) {
                            return Err(ScanError::Syntax(format!(
                                "unexpected '{}' at byte {}",
                                char::from(b),
                                self.pos + i as u64
                            )));
                        }
                        if closers.is_empty() {
                            end = Some(i + 1);
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let n = end.unwrap_or(buf.len());
            if let Some(out) = out.as_deref_mut()
                && !too_long
            {
                if len + n > max_len {
                    too_long = true;
                    out.clear();
                } else {
                    out.extend_from_slice(&buf[..n]);
                }
            }
            len = len.saturating_add(n);
            self.consume(n);
            if end.is_some() {
                break;
            }
        }
        Ok(if too_long {
            Captured::TooLong
        } else {
            Captured::Whole
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    /// A scanner over `text` with a tiny buffer, so that values straddle refills.
    fn scanner(text: &str) -> JsonScanner<BufReader<&[u8]>> {
        JsonScanner::new(BufReader::with_capacity(3, text.as_bytes()))
    }

    fn captured(scan: &mut JsonScanner<BufReader<&[u8]>>, max: usize) -> (Captured, String) {
        let mut out = Vec::new();
        let result = scan.value(Some(&mut out), max).expect("value");
        (result, String::from_utf8(out).expect("utf-8"))
    }

    #[test]
    fn frames_values_across_buffer_refills() {
        let mut scan = scanner(r#"  {"a": "x}\"]", "b": [1, {"c": null}]} , 42, "s" ]"#);
        assert_eq!(
            captured(&mut scan, 1000),
            (
                Captured::Whole,
                r#"{"a": "x}\"]", "b": [1, {"c": null}]}"#.to_owned()
            )
        );
        assert_eq!(scan.expect(b",", "','").ok(), Some(b','));
        assert_eq!(
            captured(&mut scan, 1000),
            (Captured::Whole, "42".to_owned())
        );
        assert_eq!(scan.expect(b",", "','").ok(), Some(b','));
        assert_eq!(
            captured(&mut scan, 1000),
            (Captured::Whole, "\"s\"".to_owned())
        );
        assert_eq!(scan.expect(b"]", "']'").ok(), Some(b']'));
        assert_eq!(scan.peek_token().ok(), Some(None));
    }

    #[test]
    fn skips_values_over_the_limit() {
        let mut scan = scanner(r#"[1,2,3,4,5], {"k": 1}"#);
        assert_eq!(captured(&mut scan, 4), (Captured::TooLong, String::new()));
        assert_eq!(scan.expect(b",", "','").ok(), Some(b','));
        assert!(
            matches!(scan.key(100), Err(ScanError::Syntax(_))),
            "not a key"
        );
    }

    #[test]
    fn reports_truncation_and_mismatched_brackets() {
        assert!(matches!(
            scanner(r#"{"a": [1, 2"#).value(None, 100),
            Err(ScanError::Eof)
        ));
        assert!(matches!(
            scanner(r#"{"a": [1, 2}"#).value(None, 100),
            Err(ScanError::Syntax(_))
        ));
        let deep = "[".repeat(MAX_DEPTH + 1);
        assert!(matches!(
            scanner(&deep).value(None, usize::MAX),
            Err(ScanError::Syntax(_))
        ));
        assert!(matches!(scanner("").value(None, 10), Err(ScanError::Eof)));
    }

    #[test]
    fn reads_keys() {
        let mut scan = scanner(r#" "fe\u0061tures" : ["#);
        assert_eq!(scan.key(100).ok(), Some(Some("features".to_owned())));
        assert_eq!(scan.expect(b":", "':'").ok(), Some(b':'));
    }
}
