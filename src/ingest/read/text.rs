//! Text helpers shared by the readers: bounded line reading.
//!
//! May import: nothing from the crate.

use std::io::{self, BufRead};

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
            let newline = available.iter().position(|&b| b == b'\n');
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

#[cfg(test)]
mod tests {
    use super::*;

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
