//! A journal's files and the frame of one record in them.
//!
//! A journal is a directory of segment files named by their number in hex
//! (`0000000000000007.seg`), written in order and never rewritten. A record
//! is framed as its length (u32, little-endian), the CRC-32 of its bytes,
//! then the bytes, so a reader can tell a whole record from the torn end of
//! a write that a crash cut short, or from bytes the disk mangled.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Length and checksum in front of each record.
pub const HEADER: usize = 8;
/// A record larger than this is refused when appended and taken for damage
/// when read (an accounting packet or a login is under 5 KB).
pub const RECORD_MAX: usize = 1 << 20;

/// Where in the journal: a segment and a byte offset in it. Ordered as the
/// journal is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    pub segment: u64,
    pub offset: u64,
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "segment {} offset {}", self.segment, self.offset)
    }
}

pub fn file_name(segment: u64) -> String {
    format!("{segment:016x}.seg")
}

pub fn path(dir: &Path, segment: u64) -> PathBuf {
    dir.join(file_name(segment))
}

fn parse_name(name: &str) -> Option<u64> {
    let hex = name.strip_suffix(".seg")?;
    if hex.len() != 16 {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

/// The segments in `dir`, oldest first, with their sizes.
pub fn list(dir: &Path) -> io::Result<Vec<(u64, u64)>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let Some(n) = entry.file_name().to_str().and_then(parse_name) else {
            continue;
        };
        found.push((n, entry.metadata()?.len()));
    }
    found.sort_unstable();
    Ok(found)
}

/// Appends `payload` framed. The caller keeps it under [`RECORD_MAX`].
pub fn encode(out: &mut Vec<u8>, payload: &[u8]) {
    let start = begin(out);
    out.extend_from_slice(payload);
    finish(out, start);
}

/// Reserves a record's header in `out` and returns where it starts; the
/// payload is then written straight into `out` and [`finish`] seals it
/// (no copy of the payload on the way into the journal).
pub fn begin(out: &mut Vec<u8>) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER]);
    start
}

/// Fills in the header of the record begun at `start`; false (and the
/// record removed) when it is empty or larger than [`RECORD_MAX`].
pub fn finish(out: &mut Vec<u8>, start: usize) -> bool {
    let len = out.len() - start - HEADER;
    if len == 0 || len > RECORD_MAX {
        out.truncate(start);
        return false;
    }
    let crc = crc32fast::hash(&out[start + HEADER..]);
    // len <= RECORD_MAX fits in u32.
    out[start..start + 4].copy_from_slice(&(len as u32).to_le_bytes());
    out[start + 4..start + HEADER].copy_from_slice(&crc.to_le_bytes());
    true
}

/// What the bytes at the start of a buffer hold.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A whole record: its payload; it takes `HEADER + payload.len()` bytes.
    Record(&'a [u8]),
    /// The buffer ends inside a record (more may follow, or a write was cut).
    Incomplete,
    /// Not a record: a zero or impossible length, or a checksum that fails.
    Damaged,
}

pub fn decode(buf: &[u8]) -> Frame<'_> {
    let Some(header) = buf.get(..HEADER) else {
        return Frame::Incomplete;
    };
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if len == 0 || len > RECORD_MAX {
        return Frame::Damaged;
    }
    let Some(payload) = buf.get(HEADER..HEADER + len) else {
        return Frame::Incomplete;
    };
    if crc32fast::hash(payload) != crc {
        return Frame::Damaged;
    }
    Frame::Record(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_whole_and_its_torn_end_is_incomplete() {
        let mut buf = Vec::new();
        encode(&mut buf, b"start alice");
        encode(&mut buf, b"stop alice");
        assert_eq!(decode(&buf), Frame::Record(b"start alice"));
        let second = &buf[HEADER + 11..];
        assert_eq!(decode(second), Frame::Record(b"stop alice"));
        for cut in 0..second.len() {
            assert_eq!(decode(&second[..cut]), Frame::Incomplete, "cut at {cut}");
        }
    }

    #[test]
    fn a_flipped_bit_or_zeroed_space_is_damage_not_a_record() {
        let mut buf = Vec::new();
        encode(&mut buf, b"interim bob");
        buf[HEADER + 3] ^= 1;
        assert_eq!(decode(&buf), Frame::Damaged);
        assert_eq!(decode(&[0; 64]), Frame::Damaged);
        let mut huge = ((RECORD_MAX + 1) as u32).to_le_bytes().to_vec();
        huge.extend_from_slice(&[0; 12]);
        assert_eq!(decode(&huge), Frame::Damaged);
    }

    #[test]
    fn an_empty_or_oversized_record_is_not_framed() {
        let mut buf = b"kept".to_vec();
        let start = begin(&mut buf);
        assert!(!finish(&mut buf, start));
        let start = begin(&mut buf);
        buf.resize(start + HEADER + RECORD_MAX + 1, 7);
        assert!(!finish(&mut buf, start));
        assert_eq!(buf, b"kept");
    }

    #[test]
    fn segments_are_listed_in_order_and_other_files_ignored() {
        let dir = std::env::temp_dir().join(format!("netily-seg-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        fs::write(path(&dir, 0x1f), b"abc").unwrap();
        fs::write(path(&dir, 2), b"").unwrap();
        fs::write(dir.join("cursor"), b"x").unwrap();
        fs::write(dir.join("12.seg"), b"x").unwrap();
        assert_eq!(list(&dir).unwrap(), [(2, 0), (0x1f, 3)]);
        assert_eq!(file_name(0x1f), "000000000000001f.seg");
        fs::remove_dir_all(&dir).unwrap();
    }
}
