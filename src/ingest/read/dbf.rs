//! dBase (`.dbf`) tables, as found beside shapefiles.
//!
//! # Why not the `dbase` crate
//! `shapefile` depends on `dbase` 0.8, but as built here it cannot serve us: it refuses
//! every file whose language driver says Windows-1252 (the code page support sits
//! behind features we do not enable), keeps a field's decimal count private (we need it
//! to tell integer columns from decimal ones), returns records as hash maps (losing
//! column order), and skips deleted rows (losing their alignment with the `.shp`). The
//! format is small: a 32-byte header, 32-byte field descriptors, fixed-width records.
//!
//! Every size here comes from 16-bit header fields, so no allocation exceeds 64 KiB.
//! The 32-bit record count is checked against the file's length at open: a header
//! claiming more records than the file can hold (a truncated copy, or a hostile count
//! such as 2³¹) refuses the file there, naming it, rather than when the shapes outrun
//! the rows, or never (a `.dbf` with more rows than the `.shp` has shapes is read only
//! as far as the shapes go).
//!
//! May import: `model`, `ingest::read`.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use super::text::{TextEncoding, decode};
use super::{Name, PropertyNames, ReadError, Result};
use crate::model::Value;

/// The field descriptor terminator.
const TERMINATOR: u8 = 0x0D;

/// One column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Field {
    /// Name, unique within the table.
    pub(crate) name: String,
    /// dBase type letter (`C`, `N`, `F`, `L`, `D`, ...).
    kind: u8,
    /// Offset in the record, after the deletion flag.
    offset: usize,
    len: usize,
    decimals: u8,
}

/// One record.
#[derive(Debug, PartialEq)]
pub(crate) enum Row {
    /// Marked deleted: not a feature.
    Deleted,
    /// Values in column order (see [`DbfReader::names`]).
    Values(Vec<Value>),
}

/// Reads a `.dbf` file record by record.
pub(crate) struct DbfReader {
    path: PathBuf,
    input: BufReader<File>,
    fields: Vec<Field>,
    /// The field names, shared by every row.
    names: PropertyNames,
    num_records: u64,
    next_record: u64,
    encoding: TextEncoding,
    record: Vec<u8>,
}

impl DbfReader {
    /// Opens `path` and reads its field descriptors. Text is decoded with `encoding`
    /// when given (from a `.cpg` file), else as the language driver byte says, else as
    /// UTF-8 falling back to Windows-1252.
    pub(crate) fn open(path: &Path, encoding: Option<TextEncoding>) -> Result<Self> {
        let io = |e| ReadError::io(path, None, e);
        let truncated = |e: std::io::Error| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                ReadError::corrupt(path, None, "the header is truncated")
            } else {
                ReadError::io(path, None, e)
            }
        };
        let file = File::open(path).map_err(io)?;
        let file_len = file.metadata().map_err(io)?.len();
        let mut input = BufReader::new(file);
        let mut head = [0_u8; 32];
        input.read_exact(&mut head).map_err(truncated)?;
        let num_records = u64::from(u32::from_le_bytes([head[4], head[5], head[6], head[7]]));
        let header_len = usize::from(u16::from_le_bytes([head[8], head[9]]));
        let record_len = usize::from(u16::from_le_bytes([head[10], head[11]]));
        let language_driver = head[29];
        if header_len < 33 || record_len == 0 {
            return Err(ReadError::corrupt(
                path,
                None,
                format!(
                    "impossible header ({header_len} bytes) or record ({record_len} bytes) length"
                ),
            ));
        }
        // u64 arithmetic: 2^32 records of 2^16 bytes do not overflow it.
        let room = file_len.saturating_sub(header_len as u64);
        if num_records.saturating_mul(record_len as u64) > room {
            return Err(ReadError::corrupt(
                path,
                None,
                format!(
                    "the header declares {num_records} records of {record_len} bytes, but the \
                     file holds {room} bytes after its {header_len}-byte header, room for {}: \
                     it is truncated or corrupt",
                    room / record_len as u64
                ),
            ));
        }
        let mut descriptors = vec![0_u8; header_len - 32];
        input.read_exact(&mut descriptors).map_err(truncated)?;

        let mut fields: Vec<Field> = Vec::new();
        let mut offset = 1;
        for descriptor in descriptors.chunks_exact(32) {
            if descriptor[0] == TERMINATOR {
                break;
            }
            let raw_name = &descriptor[..11];
            let name_end = raw_name
                .iter()
                .position(|&b| b == 0)
                .unwrap_or(raw_name.len());
            let name = decode(&raw_name[..name_end], TextEncoding::Auto)
                .trim()
                .to_owned();
            let kind = descriptor[11].to_ascii_uppercase();
            // Clipper and FoxPro store the high byte of long text fields' length in the
            // decimals byte, as GDAL reads it.
            let (len, decimals) = if kind == b'C' {
                (
                    usize::from(u16::from_le_bytes([descriptor[16], descriptor[17]])),
                    0,
                )
            } else {
                (usize::from(descriptor[16]), descriptor[17])
            };
            let name = unique_name(
                &fields,
                if name.is_empty() {
                    format!("field_{}", fields.len() + 1)
                } else {
                    name
                },
            );
            fields.push(Field {
                name,
                kind,
                offset,
                len,
                decimals,
            });
            offset += len;
        }
        if offset > record_len {
            return Err(ReadError::corrupt(
                path,
                None,
                format!("the fields take {offset} bytes but records are {record_len} bytes long"),
            ));
        }
        let encoding = encoding.unwrap_or(match language_driver {
            0x03 | 0x57 => TextEncoding::Windows1252,
            _ => TextEncoding::Auto,
        });
        let names = PropertyNames::new(fields.iter().map(|f| Name::from(f.name.as_str())));
        Ok(Self {
            path: path.to_owned(),
            input,
            fields,
            names,
            num_records,
            next_record: 0,
            encoding,
            record: vec![0; record_len],
        })
    }

    /// The field names, in the order of a row's values.
    pub(crate) fn names(&self) -> &PropertyNames {
        &self.names
    }

    /// The number of records the header declares.
    pub(crate) fn num_records(&self) -> u64 {
        self.num_records
    }

    /// Reads the next record; `None` after the last one.
    pub(crate) fn next_row(&mut self) -> Result<Option<Row>> {
        if self.next_record >= self.num_records {
            return Ok(None);
        }
        if let Err(e) = self.input.read_exact(&mut self.record) {
            return Err(if e.kind() == std::io::ErrorKind::UnexpectedEof {
                ReadError::corrupt(
                    &self.path,
                    None,
                    format!(
                        "the header declares {} records but the file ends in record {}: it is truncated",
                        self.num_records,
                        self.next_record + 1
                    ),
                )
            } else {
                ReadError::io(&self.path, None, e)
            });
        }
        self.next_record += 1;
        if self.record[0] == b'*' {
            return Ok(Some(Row::Deleted));
        }
        let values = self
            .fields
            .iter()
            .map(|field| {
                let raw = &self.record[field.offset..field.offset + field.len];
                value(field, raw, self.encoding)
            })
            .collect();
        Ok(Some(Row::Values(values)))
    }
}

/// `name`, suffixed `_2`, `_3`, ... until no field has it.
fn unique_name(fields: &[Field], name: String) -> String {
    let mut unique = name.clone();
    let mut n = 2;
    while fields.iter().any(|f| f.name == unique) {
        unique = format!("{name}_{n}");
        n += 1;
    }
    unique
}

/// Decodes one cell. Memo, general and timestamp fields are not read (null).
fn value(field: &Field, raw: &[u8], encoding: TextEncoding) -> Value {
    let text = || {
        let trimmed = raw.trim_ascii_end();
        let trimmed = match trimmed.iter().rposition(|&b| b != 0) {
            Some(end) => &trimmed[..=end],
            None => &[],
        };
        decode(trimmed, encoding).trim().to_owned()
    };
    match field.kind {
        b'C' | b'V' => {
            let text = text();
            if text.is_empty() {
                Value::Null
            } else {
                Value::String(text)
            }
        }
        b'N' | b'F' => {
            let text = text();
            if text.is_empty() || text.bytes().all(|b| b == b'*') {
                Value::Null
            } else if field.kind == b'N' && field.decimals == 0 {
                text.parse::<i64>()
                    .map_or_else(|_| float(&text), Value::Int)
            } else {
                float(&text)
            }
        }
        b'L' => match raw.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'T' | b't' | b'Y' | b'y') => Value::Bool(true),
            Some(b'F' | b'f' | b'N' | b'n') => Value::Bool(false),
            _ => Value::Null,
        },
        b'D' => {
            let text = text();
            if text.is_empty() || text.bytes().all(|b| b == b'0') {
                Value::Null
            } else if text.len() == 8 && text.bytes().all(|b| b.is_ascii_digit()) {
                Value::String(format!("{}-{}-{}", &text[..4], &text[4..6], &text[6..]))
            } else {
                Value::String(text)
            }
        }
        b'I' | b'+' if raw.len() == 4 => Value::Int(i64::from(i32::from_le_bytes([
            raw[0], raw[1], raw[2], raw[3],
        ]))),
        b'O' | b'B' if raw.len() == 8 => {
            let mut bytes = [0_u8; 8];
            bytes.copy_from_slice(raw);
            let value = f64::from_le_bytes(bytes);
            if value.is_finite() {
                Value::Float(value)
            } else {
                Value::Null
            }
        }
        _ => Value::Null,
    }
}

fn float(text: &str) -> Value {
    text.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .map_or(Value::Null, Value::Float)
}

/// The encoding a `.cpg` file names, if it is one we decode.
pub(crate) fn cpg_encoding(cpg: &str) -> Option<TextEncoding> {
    let name = cpg
        .trim()
        .trim_start_matches('\u{feff}')
        .to_ascii_uppercase();
    let name = name.replace(['-', '_', ' '], "");
    match name.as_str() {
        "UTF8" | "65001" => Some(TextEncoding::Utf8),
        "1252" | "CP1252" | "WINDOWS1252" | "ANSI1252" | "88591" | "ISO88591" | "LATIN1" => {
            Some(TextEncoding::Windows1252)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(kind: u8, len: usize, decimals: u8) -> Field {
        Field {
            name: "f".into(),
            kind,
            offset: 1,
            len,
            decimals,
        }
    }

    #[test]
    fn decodes_cells_by_type() {
        let auto = TextEncoding::Auto;
        assert_eq!(
            value(&field(b'C', 8, 0), b"  abc   ", auto),
            Value::String("abc".into())
        );
        assert_eq!(value(&field(b'C', 4, 0), b"    ", auto), Value::Null);
        assert_eq!(
            value(&field(b'C', 4, 0), b"\xe9t\xe9\0", auto),
            Value::String("été".into())
        );
        assert_eq!(value(&field(b'N', 6, 0), b"   -42", auto), Value::Int(-42));
        assert_eq!(
            value(&field(b'N', 6, 2), b"  3.50", auto),
            Value::Float(3.5)
        );
        assert_eq!(value(&field(b'N', 6, 0), b"******", auto), Value::Null);
        assert_eq!(value(&field(b'N', 6, 0), b"  junk", auto), Value::Null);
        assert_eq!(
            value(&field(b'F', 6, 1), b"   2.5", auto),
            Value::Float(2.5)
        );
        assert_eq!(value(&field(b'L', 1, 0), b"T", auto), Value::Bool(true));
        assert_eq!(value(&field(b'L', 1, 0), b"n", auto), Value::Bool(false));
        assert_eq!(value(&field(b'L', 1, 0), b"?", auto), Value::Null);
        assert_eq!(
            value(&field(b'D', 8, 0), b"20240229", auto),
            Value::String("2024-02-29".into())
        );
        assert_eq!(value(&field(b'D', 8, 0), b"        ", auto), Value::Null);
        assert_eq!(
            value(&field(b'I', 4, 0), &7_i32.to_le_bytes(), auto),
            Value::Int(7)
        );
        assert_eq!(value(&field(b'M', 10, 0), b"         1", auto), Value::Null);
    }

    /// A table with one 5-byte text column `NAME`, the rows `names`, and a header
    /// declaring `declared` records.
    fn table(declared: u32, names: &[&str]) -> Vec<u8> {
        let mut bytes = vec![0_u8; 32];
        bytes[0] = 0x03;
        bytes[4..8].copy_from_slice(&declared.to_le_bytes());
        bytes[8..10].copy_from_slice(&65_u16.to_le_bytes());
        bytes[10..12].copy_from_slice(&6_u16.to_le_bytes());
        let mut field = [0_u8; 32];
        field[..4].copy_from_slice(b"NAME");
        field[11] = b'C';
        field[16] = 5;
        bytes.extend_from_slice(&field);
        bytes.push(TERMINATOR);
        for name in names {
            bytes.push(b' ');
            bytes.extend_from_slice(format!("{name:<5}").as_bytes());
        }
        bytes.push(0x1A);
        bytes
    }

    /// Regression test: a header claiming 2^31 records in a file of two was believed,
    /// and the shapefile read as far as its shapes went.
    #[test]
    fn a_header_claiming_more_records_than_the_file_holds_is_refused_at_open() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("t.dbf");
        std::fs::write(&path, table(2, &["a", "b"])).expect("write");
        let mut reader = DbfReader::open(&path, None).expect("open");
        assert_eq!(reader.num_records(), 2);
        for name in ["a", "b"] {
            assert_eq!(
                reader.next_row().expect("row"),
                Some(Row::Values(vec![Value::String(name.into())]))
            );
        }
        assert_eq!(reader.next_row().expect("end"), None);
        for declared in [1 << 31, u32::MAX, 3] {
            std::fs::write(&path, table(declared, &["a", "b"])).expect("write");
            let error = DbfReader::open(&path, None).err().expect("refused");
            assert!(error.is_fatal());
            assert_eq!(
                error.to_string(),
                format!(
                    "{}: the header declares {declared} records of 6 bytes, but the file \
                     holds 13 bytes after its 65-byte header, room for 2: it is truncated \
                     or corrupt",
                    path.display()
                )
            );
        }
    }

    #[test]
    fn reads_cpg_names() {
        assert_eq!(cpg_encoding("UTF-8\r\n"), Some(TextEncoding::Utf8));
        assert_eq!(cpg_encoding("1252"), Some(TextEncoding::Windows1252));
        assert_eq!(cpg_encoding("ISO-8859-1"), Some(TextEncoding::Windows1252));
        assert_eq!(cpg_encoding("CP437"), None);
    }
}
