//! Lowercase hexadecimal text of bytes: SHA-256 sums, API key hashes, secrets.

use std::fmt::Write as _;

/// `bytes` as lowercase hex, two digits a byte.
#[must_use]
pub fn encode(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(2 * bytes.len());
    for b in bytes {
        let _ = write!(text, "{b:02x}");
    }
    text
}

/// The bytes of hex `text`; `None` unless it is an even number of hex digits.
#[must_use]
pub fn decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len() / 2)
        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_what_is_not_hex() {
        assert_eq!(encode(&[0, 15, 255]), "000fff");
        assert_eq!(decode("000fff"), Some(vec![0, 15, 255]));
        assert_eq!(decode("0fF0"), Some(vec![15, 240]));
        for bad in ["abc", "zz", "é1"] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
