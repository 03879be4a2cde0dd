//! Certificate serial numbers, in every form OpenVPN and the database use.
//!
//! OpenVPN hands the plugin `tls_serial_0` (decimal, OpenSSL's BN_bn2dec) and
//! `tls_serial_hex_0` (lowercase bytes joined by ':'). The canonical form here is
//! the big-endian magnitude without leading zero bytes, so every rendering of the
//! same number compares equal.

use std::fmt;

use ring::rand::{SecureRandom, SystemRandom};

use super::PkiError;

/// A positive certificate serial number.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Serial {
    /// Big-endian magnitude, no leading zero bytes, never empty.
    bytes: Vec<u8>,
}

/// RFC 5280 allows at most 20 octets.
const MAX_SERIAL_BYTES: usize = 20;

impl Serial {
    /// A fresh random 128-bit serial (RFC 5280 wants at least 64 random bits).
    pub fn random() -> Result<Serial, PkiError> {
        let mut bytes = [0u8; 16];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| PkiError::Random)?;
        // Positive (top bit clear) and always 16 bytes long (next bit set), so the
        // DER encoding needs no sign byte and every serial renders the same width.
        bytes[0] = (bytes[0] & 0x7f) | 0x40;
        Ok(Serial {
            bytes: bytes.to_vec(),
        })
    }

    /// From big-endian bytes (leading zeros allowed, as in DER).
    pub fn from_bytes(bytes: &[u8]) -> Result<Serial, PkiError> {
        let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
        let magnitude = &bytes[start..];
        if magnitude.is_empty() {
            return Err(PkiError::field("serial", "a positive number"));
        }
        if magnitude.len() > MAX_SERIAL_BYTES {
            return Err(PkiError::field("serial", "at most 20 bytes"));
        }
        Ok(Serial {
            bytes: magnitude.to_vec(),
        })
    }

    /// Parse OpenVPN's `tls_serial_N`: a decimal number.
    pub fn from_decimal(text: &str) -> Result<Serial, PkiError> {
        if text.is_empty() || !text.bytes().all(|c| c.is_ascii_digit()) {
            return Err(PkiError::field("serial", "decimal digits only"));
        }
        // Schoolbook base conversion: bytes = bytes * 10 + digit.
        let mut bytes: Vec<u8> = Vec::new();
        for digit in text.bytes().map(|c| c - b'0') {
            let mut carry = u32::from(digit);
            for b in bytes.iter_mut().rev() {
                let v = u32::from(*b) * 10 + carry;
                *b = (v & 0xff) as u8;
                carry = v >> 8;
            }
            while carry > 0 {
                bytes.insert(0, (carry & 0xff) as u8);
                carry >>= 8;
            }
            if bytes.len() > MAX_SERIAL_BYTES {
                return Err(PkiError::field("serial", "at most 20 bytes"));
            }
        }
        Serial::from_bytes(&bytes)
    }

    /// Parse hex with or without ':' separators (`tls_serial_hex_N`, or the
    /// database's plain form), either case.
    pub fn from_hex(text: &str) -> Result<Serial, PkiError> {
        let digits: Vec<u8> = text.bytes().filter(|c| *c != b':').collect();
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_hexdigit) {
            return Err(PkiError::field(
                "serial",
                "hexadecimal digits, optionally ':'-separated",
            ));
        }
        let mut padded = Vec::with_capacity(digits.len() + 1);
        if digits.len() % 2 == 1 {
            padded.push(b'0');
        }
        padded.extend_from_slice(&digits);
        let bytes: Vec<u8> = padded
            .chunks(2)
            .map(|pair| (hex_value(pair[0]) << 4) | hex_value(pair[1]))
            .collect();
        Serial::from_bytes(&bytes)
    }

    /// Big-endian magnitude bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Plain lowercase hex: the form the database stores.
    pub fn to_hex(&self) -> String {
        self.bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// OpenVPN's `tls_serial_hex_N`: lowercase bytes joined by ':'.
    pub fn to_colon_hex(&self) -> String {
        let parts: Vec<String> = self.bytes.iter().map(|b| format!("{b:02x}")).collect();
        parts.join(":")
    }

    /// OpenVPN's `tls_serial_N`: decimal.
    pub fn to_decimal(&self) -> String {
        // Repeated division by 10 of the big-endian magnitude.
        let mut n = self.bytes.clone();
        let mut digits = Vec::new();
        while n.iter().any(|b| *b != 0) {
            let mut rem = 0u32;
            for b in n.iter_mut() {
                let v = (rem << 8) | u32::from(*b);
                *b = (v / 10) as u8;
                rem = v % 10;
            }
            digits.push(b'0' + rem as u8);
        }
        if digits.is_empty() {
            digits.push(b'0');
        }
        digits.reverse();
        String::from_utf8_lossy(&digits).into_owned()
    }
}

fn hex_value(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

impl fmt::Debug for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Serial({})", self.to_colon_hex())
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_and_hex_agree() {
        let s = Serial::from_hex("01:00").unwrap();
        assert_eq!(s.to_decimal(), "256");
        assert_eq!(s.to_colon_hex(), "01:00");
        assert_eq!(Serial::from_decimal("256").unwrap(), s);
        let big = Serial::from_hex("7f:ff:ff:ff:ff:ff:ff:ff:ff").unwrap();
        // 2^71 - 1
        assert_eq!(big.to_decimal(), "2361183241434822606847");
        assert_eq!(Serial::from_decimal("2361183241434822606847").unwrap(), big);
    }

    #[test]
    fn random_serials_round_trip_through_every_form() {
        for _ in 0..50 {
            let s = Serial::random().unwrap();
            assert_eq!(s.as_bytes().len(), 16);
            assert!(s.as_bytes()[0] & 0x80 == 0);
            assert_eq!(Serial::from_decimal(&s.to_decimal()).unwrap(), s);
            assert_eq!(Serial::from_hex(&s.to_colon_hex()).unwrap(), s);
            assert_eq!(Serial::from_hex(&s.to_hex().to_uppercase()).unwrap(), s);
        }
    }

    #[test]
    fn leading_zeros_are_not_part_of_the_number() {
        assert_eq!(
            Serial::from_hex("00:0a").unwrap(),
            Serial::from_bytes(&[10]).unwrap()
        );
        assert_eq!(Serial::from_hex("a").unwrap().to_decimal(), "10");
    }

    #[test]
    fn bad_serials_name_the_field() {
        for bad in ["", "12a", "-1", "0"] {
            let e = Serial::from_decimal(bad).unwrap_err();
            assert!(e.to_string().starts_with("invalid serial"), "{bad}: {e}");
        }
        assert!(Serial::from_hex("zz").is_err());
        assert!(Serial::from_hex(&"ff".repeat(21)).is_err());
    }
}
