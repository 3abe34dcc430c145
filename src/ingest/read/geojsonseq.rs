//! GeoJSONSeq: one GeoJSON Feature per line, as newline-delimited GeoJSON or as RFC 8142
//! text sequences (each record opened by the record separator `\x1e`).
//!
//! Every line is parsed on its own, so a broken line is a per-feature error that names
//! its line and reading goes on; so is a line that is not valid UTF-8, unless the file
//! is read as Latin-1 ([`Encoding`]). Blank lines are skipped. A bare Geometry on a line
//! is read as a feature without properties.
//!
//! Since lines stand alone, a large file can also be read in parts on several threads:
//! [`split`] cuts it at line starts and [`GeoJsonSeqReader::open_range`] reads one part.
//!
//! May import: `model`, `ingest::read`.

use std::fs::File;
use std::io::{BufReader, Read as _, Seek as _, SeekFrom, Take};
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::geojson_fast::FeatureParser;
use super::text::{Encoding, Line, LineReader, to_utf8, utf8_problem};
use super::{MAX_FEATURE_BYTES, Progress, RawFeature, ReadError, Result, SourceReader};
use crate::model::quality::SourcePosition;

/// The RFC 8142 record separator.
const RS: u8 = 0x1e;

/// Read buffer size: large enough that lines rarely straddle a refill and reads are
/// few (the default 8 KiB costs a system call every ~16 parcels).
const BUFFER_BYTES: usize = 256 * 1024;

/// Reads a GeoJSONSeq file. See the module documentation.
pub struct GeoJsonSeqReader {
    path: PathBuf,
    lines: Option<LineReader<BufReader<Take<File>>>>,
    bytes_total: u64,
    /// The current line.
    buf: Vec<u8>,
    /// Records of the current line not yet returned, as ranges of `buf`.
    pending: std::collections::VecDeque<std::ops::Range<usize>>,
    /// The 1-based index of the next feature.
    next_feature: u64,
    parser: FeatureParser,
    encoding: Encoding,
}

impl GeoJsonSeqReader {
    /// Opens `path`, whose text is in `encoding`.
    ///
    /// # Errors
    /// [`ReadError::Io`] when the file cannot be opened.
    pub fn open(path: &Path, encoding: Encoding) -> Result<Self> {
        Self::open_range(path, 0..u64::MAX, encoding)
    }

    /// Opens the lines of `path` in the byte range `range`, as [`split`] gives it (it
    /// must start at the start of the file or of a line). Positions name the lines of
    /// the whole file, but features are numbered from 1 within the range: a caller
    /// that joins the parts adds the count of the features before.
    ///
    /// The lines before the range are counted here, which reads them.
    ///
    /// # Errors
    /// [`ReadError::Io`] when the file cannot be opened or read up to the range.
    pub fn open_range(path: &Path, range: Range<u64>, encoding: Encoding) -> Result<Self> {
        let io = |e| ReadError::io(path, None, e);
        let mut file = File::open(path).map_err(io)?;
        let bytes_total = file.metadata().map_err(io)?.len();
        let lines_before = if range.start == 0 {
            0
        } else {
            let lines = count_lines((&mut file).take(range.start)).map_err(io)?;
            file.seek(SeekFrom::Start(range.start)).map_err(io)?;
            lines
        };
        let mut lines = LineReader::new(
            BufReader::with_capacity(BUFFER_BYTES, file.take(range.end - range.start)),
            MAX_FEATURE_BYTES,
        );
        lines.line = lines_before;
        lines.bytes = range.start;
        Ok(Self {
            path: path.to_owned(),
            lines: Some(lines),
            bytes_total,
            buf: Vec::new(),
            pending: std::collections::VecDeque::new(),
            next_feature: 1,
            parser: FeatureParser::new(),
            encoding,
        })
    }

    fn position(&mut self) -> SourcePosition {
        let line = self.lines.as_ref().map(|l| l.line);
        let at = SourcePosition {
            feature: self.next_feature,
            line,
        };
        self.next_feature += 1;
        at
    }
}

impl Iterator for GeoJsonSeqReader {
    type Item = Result<RawFeature>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(range) = self.pending.pop_front() {
                let at = self.position();
                let text = to_utf8(&self.buf[range], self.encoding);
                return Some(self.parser.parse(&text, at).map_err(|e| {
                    // Checked only once parsing failed: valid text pays nothing for it.
                    match utf8_problem(&text) {
                        Some(problem) => {
                            ReadError::feature(&self.path, at, format!("the line is {problem}"))
                        }
                        None => e.at(&self.path, at),
                    }
                }));
            }
            let lines = self.lines.as_mut()?;
            match lines.next_line(&mut self.buf) {
                Ok(None) => {
                    self.lines = None;
                    return None;
                }
                Ok(Some(Line::TooLong)) => {
                    let at = self.position();
                    return Some(Err(ReadError::feature(
                        &self.path,
                        at,
                        format!("the line is longer than {MAX_FEATURE_BYTES} bytes"),
                    )));
                }
                Ok(Some(Line::Complete)) => {
                    let mut start = 0;
                    let buf = &self.buf;
                    let first_line = lines.line == 1;
                    if first_line && buf.starts_with(b"\xEF\xBB\xBF") {
                        start = 3;
                    }
                    let separators = memchr::memchr_iter(RS, &buf[start..]).map(|i| start + i);
                    let mut begin = start;
                    for end in separators.chain(std::iter::once(buf.len())) {
                        if buf[begin..end].iter().any(|b| !b.is_ascii_whitespace()) {
                            self.pending.push_back(begin..end);
                        }
                        begin = end + 1;
                    }
                }
                Err(e) => {
                    let at = SourcePosition {
                        feature: self.next_feature,
                        line: Some(lines.line + 1),
                    };
                    self.lines = None;
                    return Some(Err(ReadError::io(&self.path, Some(at), e)));
                }
            }
        }
    }
}

/// Cuts `path` into at most `parts` byte ranges of about the same size, each starting
/// at the start of the file or of a line, to be read with
/// [`GeoJsonSeqReader::open_range`]. Fewer when lines are longer than a part.
///
/// # Errors
/// [`ReadError::Io`] when the file cannot be read.
pub fn split(path: &Path, parts: usize) -> Result<Vec<Range<u64>>> {
    let io = |e| ReadError::io(path, None, e);
    let mut file = File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let parts = u64::try_from(parts.max(1)).unwrap_or(1);
    let mut starts = vec![0];
    for k in 1..parts {
        let target = len / parts * k;
        let &previous = starts.last().unwrap_or(&0);
        if target <= previous {
            continue;
        }
        // The line start at or after `target`: after the first line end from the byte
        // before it on.
        file.seek(SeekFrom::Start(target - 1)).map_err(io)?;
        let Some(end) = find_line_end(&mut file).map_err(io)? else {
            break;
        };
        let start = target + end;
        if start >= len {
            break;
        }
        if start > previous {
            starts.push(start);
        }
    }
    let mut ranges: Vec<Range<u64>> = starts.windows(2).map(|w| w[0]..w[1]).collect();
    ranges.push(starts.last().copied().unwrap_or(0)..len);
    Ok(ranges)
}

/// The offset of the first line end in `input`, if any.
fn find_line_end(input: &mut impl std::io::Read) -> std::io::Result<Option<u64>> {
    let mut buf = vec![0; 64 * 1024];
    let mut offset = 0;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => return Ok(None),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if let Some(i) = memchr::memchr(b'\n', &buf[..n]) {
            return Ok(Some(offset + i as u64));
        }
        offset += n as u64;
    }
}

/// The number of line ends in `input`.
fn count_lines(mut input: impl std::io::Read) -> std::io::Result<u64> {
    let mut buf = vec![0; BUFFER_BYTES];
    let mut lines = 0;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => return Ok(lines),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        lines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
    }
}

impl SourceReader for GeoJsonSeqReader {
    fn declared_crs(&self) -> Option<String> {
        None
    }

    fn progress(&self) -> Option<Progress> {
        Some(Progress {
            bytes_read: self.lines.as_ref().map_or(self.bytes_total, |l| l.bytes),
            bytes_total: self.bytes_total,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{fixture, prop, read_checked};
    use super::*;
    use crate::model::Value;
    use geo_types::{Geometry, point};

    #[test]
    fn split_cuts_at_line_starts_and_ranges_keep_line_numbers() {
        let text = "{\"type\":\"Point\",\"coordinates\":[1,2]}\n\n".repeat(50);
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("split.geojsonl");
        std::fs::write(&path, &text).expect("write");
        for parts in [1, 2, 5, 1000] {
            let ranges = split(&path, parts).expect("split");
            assert!(ranges.len() <= parts);
            assert_eq!(ranges[0].start, 0);
            assert_eq!(ranges.last().map(|r| r.end), Some(text.len() as u64));
            for pair in ranges.windows(2) {
                assert_eq!(pair[0].end, pair[1].start);
                assert!(pair[0].start < pair[0].end);
                let cut = usize::try_from(pair[1].start).expect("small");
                assert_eq!(text.as_bytes()[cut - 1], b'\n', "{parts} parts");
            }
            let lines: Vec<Option<u64>> = ranges
                .into_iter()
                .flat_map(|range| {
                    GeoJsonSeqReader::open_range(&path, range, Encoding::Utf8).expect("open")
                })
                .map(|item| item.expect("feature").at.line)
                .collect();
            let expected: Vec<Option<u64>> = (0..50).map(|i| Some(2 * i + 1)).collect();
            assert_eq!(lines, expected, "{parts} parts");
        }
    }

    #[test]
    fn a_line_that_is_not_utf8_is_rejected_unless_read_as_latin1() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("latin1.geojsonl");
        let line = |name: &[u8]| {
            [
                &br#"{"type":"Feature","geometry":{"type":"Point","coordinates":[2,41]},"properties":{"name":""#[..],
                name,
                b"\"}}\n",
            ]
            .concat()
        };
        std::fs::write(&path, [line(b"Paris"), line(b"Soci\xe9t\xe9")].concat()).expect("write");
        let items = read_checked(Box::new(
            GeoJsonSeqReader::open(&path, Encoding::Utf8).expect("open"),
        ));
        assert_eq!(items.len(), 2);
        let error = items[1].as_ref().expect_err("line 2 is Latin-1");
        assert!(!error.is_fatal());
        assert_eq!(
            error.to_string(),
            format!(
                "{} line 2: the line is not valid UTF-8: byte 0xE9 at byte 94; for Latin-1 \
                 text, ingest with --encoding latin1",
                path.display()
            )
        );
        let items = read_checked(Box::new(
            GeoJsonSeqReader::open(&path, Encoding::Latin1).expect("open"),
        ));
        let names: Vec<Option<&Value>> = items
            .iter()
            .map(|item| prop(item.as_ref().expect("feature"), "name"))
            .collect();
        assert_eq!(
            names,
            [
                Some(&Value::String("Paris".into())),
                Some(&Value::String("Société".into()))
            ]
        );
    }

    #[test]
    fn a_bad_line_is_reported_with_its_number_and_reading_goes_on() {
        let reader =
            GeoJsonSeqReader::open(&fixture("features.geojsonl"), Encoding::Utf8).expect("open");
        let items = read_checked(Box::new(reader));
        assert_eq!(items.len(), 5);

        let first = items[0].as_ref().expect("line 1");
        assert_eq!(
            first.at,
            SourcePosition {
                feature: 1,
                line: Some(1)
            }
        );
        assert_eq!(
            first.geometry,
            Some(Geometry::Point(point!(x: 2.3522, y: 48.8566)))
        );
        assert_eq!(prop(first, "name"), Some(&Value::String("Paris".into())));
        assert_eq!(prop(first, "population"), Some(&Value::Int(2_102_650)));

        let second = items[1].as_ref().expect("line 2");
        assert_eq!(second.at.line, Some(2));
        assert_eq!(prop(second, "name"), Some(&Value::String("Lyon".into())));

        let error = items[2].as_ref().expect_err("line 3 is broken");
        assert!(!error.is_fatal());
        assert_eq!(
            error.position(),
            Some(SourcePosition {
                feature: 3,
                line: Some(3)
            })
        );
        assert!(
            error
                .to_string()
                .contains("features.geojsonl line 3: invalid GeoJSON"),
            "{error}"
        );

        // Line 4 is blank; line 5 holds two RFC 8142 records.
        let fourth = items[3].as_ref().expect("line 5, first record");
        assert_eq!(
            fourth.at,
            SourcePosition {
                feature: 4,
                line: Some(5)
            }
        );
        assert_eq!(
            prop(fourth, "name"),
            Some(&Value::String("Marseille".into()))
        );
        let fifth = items[4].as_ref().expect("line 5, second record");
        assert_eq!(
            fifth.at,
            SourcePosition {
                feature: 5,
                line: Some(5)
            }
        );
        assert_eq!(
            fifth.geometry,
            Some(Geometry::Point(point!(x: 1.4442, y: 43.6047)))
        );
        assert!(fifth.properties.is_empty(), "a bare geometry");
    }
}
