use std::fs;
use std::path::PathBuf;
use std::sync::atomic::AtomicU32;
use std::time::{Duration, Instant};

use super::*;

/// A fresh directory under the system's temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "netily-journal-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&dir);
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

fn open(dir: &TempDir, options: Options) -> Journal {
    Journal::open(&dir.0, "test", options).unwrap()
}

fn payloads(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| String::from_utf8_lossy(&r.payload).into_owned())
        .collect()
}

/// Reads until `n` records came (or 10 s passed).
fn read_n(reader: &mut Reader, n: usize) -> Vec<Record> {
    let until = soon();
    let mut got = Vec::new();
    while got.len() < n && Instant::now() < until {
        got.extend(
            reader
                .read(n - got.len(), Duration::from_millis(100))
                .unwrap(),
        );
    }
    got
}

#[test]
fn durable_records_are_read_back_in_order_and_resumed_after_the_cursor() {
    let dir = TempDir::new();
    {
        let journal = open(&dir, Options::default());
        for p in ["start a", "interim a", "stop a"] {
            journal
                .append_durable(soon(), |out| out.extend_from_slice(p.as_bytes()))
                .unwrap();
        }
        let mut reader = journal.take_reader().unwrap();
        assert!(journal.take_reader().is_none());
        let got = read_n(&mut reader, 3);
        assert_eq!(payloads(&got), ["start a", "interim a", "stop a"]);
        // Only the first two applied before a restart.
        reader.commit(got[1].end);
        drop(reader);
        assert!(backlog(&dir.0).unwrap() > 0);
    }
    let journal = open(&dir, Options::default());
    let mut reader = journal.take_reader().unwrap();
    let got = read_n(&mut reader, 1);
    assert_eq!(payloads(&got), ["stop a"]);
    reader.commit(got[0].end);
    assert_eq!(backlog(&dir.0).unwrap(), 0);
    // Nothing more, and nothing handed over twice.
    assert!(reader
        .read(10, Duration::from_millis(50))
        .unwrap()
        .is_empty());
}

#[test]
fn a_write_torn_by_a_crash_is_skipped_and_what_follows_is_read() {
    let dir = TempDir::new();
    {
        let journal = open(&dir, Options::default());
        journal
            .append_durable(soon(), |o| o.extend_from_slice(b"whole"))
            .unwrap();
        journal
            .append_durable(soon(), |o| o.extend_from_slice(b"torn by the crash"))
            .unwrap();
    }
    // The crash: the second record's last bytes never reached the disk.
    let (seg, len) = segment::list(&dir.0).unwrap()[0];
    let f = OpenOptions::new()
        .write(true)
        .open(segment::path(&dir.0, seg))
        .unwrap();
    f.set_len(len - 3).unwrap();
    drop(f);
    let journal = open(&dir, Options::default());
    journal
        .append_durable(soon(), |o| o.extend_from_slice(b"after restart"))
        .unwrap();
    let mut reader = journal.take_reader().unwrap();
    let got = read_n(&mut reader, 2);
    assert_eq!(payloads(&got), ["whole", "after restart"]);
}

#[test]
fn a_full_journal_refuses_at_once_and_takes_records_again_once_applied() {
    let dir = TempDir::new();
    let options = Options {
        segment_bytes: 100,
        max_bytes: 300,
        linger: Duration::ZERO,
    };
    let journal = open(&dir, options);
    let record = [7u8; 60];
    let mut kept = 0;
    let refused = loop {
        match journal.append_durable(soon(), |o| o.extend_from_slice(&record)) {
            Ok(()) => kept += 1,
            Err(e) => break e,
        }
        assert!(kept < 100, "never full");
    };
    assert_eq!(refused, AppendError::Full { max_bytes: 300 });
    assert!(refused.to_string().contains("journal is full"), "{refused}");
    assert_eq!(journal.stats().refused, 1);
    assert!(journal.stats().disk_bytes >= 300 - 68);
    let mut reader = journal.take_reader().unwrap();
    let got = read_n(&mut reader, kept);
    assert_eq!(got.len(), kept);
    reader.commit(got[kept - 1].end);
    // The applied segments are deleted: room again.
    assert!(journal.stats().disk_bytes < 100, "{:?}", journal.stats());
    journal
        .append_durable(soon(), |o| o.extend_from_slice(&record))
        .unwrap();
}

#[test]
fn a_lingering_journal_writes_within_its_linger_and_at_once_when_waited_on() {
    let dir = TempDir::new();
    let options = Options {
        linger: Duration::from_millis(300),
        ..Options::default()
    };
    let journal = open(&dir, options);
    let started = Instant::now();
    let ticket = journal.append(b"login alice").unwrap();
    ticket.wait(soon()).unwrap();
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
    let started = Instant::now();
    journal
        .append_durable(soon(), |o| o.extend_from_slice(b"start alice"))
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn two_processes_cannot_share_a_journal_and_its_id_is_kept() {
    let dir = TempDir::new();
    let first = open(&dir, Options::default());
    let err = Journal::open(&dir.0, "accounting", Options::default())
        .err()
        .expect("the directory is locked");
    assert!(
        err.to_string().contains("in use by another process"),
        "{err}"
    );
    let id = first.id().to_owned();
    assert_eq!(id.len(), 32);
    drop(first);
    assert_eq!(open(&dir, Options::default()).id(), id);
}

#[test]
fn damage_in_a_closed_segment_skips_to_the_next_one() {
    let dir = TempDir::new();
    {
        let journal = open(&dir, Options::default());
        for p in ["one", "two", "three"] {
            journal
                .append_durable(soon(), |o| o.extend_from_slice(p.as_bytes()))
                .unwrap();
        }
    }
    let (seg, _) = segment::list(&dir.0).unwrap()[0];
    let path = segment::path(&dir.0, seg);
    let mut bytes = fs::read(&path).unwrap();
    // A flipped bit in "two".
    let at = segment::HEADER + 3 + segment::HEADER + 1;
    bytes[at] ^= 0x20;
    fs::write(&path, bytes).unwrap();
    let journal = open(&dir, Options::default());
    journal
        .append_durable(soon(), |o| o.extend_from_slice(b"four"))
        .unwrap();
    let mut reader = journal.take_reader().unwrap();
    assert_eq!(payloads(&read_n(&mut reader, 2)), ["one", "four"]);
}

#[test]
fn many_threads_appending_durably_share_flushes_and_lose_nothing() {
    let dir = TempDir::new();
    let journal = open(&dir, Options::default());
    std::thread::scope(|s| {
        for t in 0..8 {
            let journal = &journal;
            s.spawn(move || {
                for i in 0..200 {
                    let p = format!("{t}:{i}");
                    journal
                        .append_durable(soon(), |o| o.extend_from_slice(p.as_bytes()))
                        .unwrap();
                }
            });
        }
    });
    let mut reader = journal.take_reader().unwrap();
    let got = payloads(&read_n(&mut reader, 1600));
    assert_eq!(got.len(), 1600);
    // Each thread's records in its order.
    for t in 0..8 {
        let mine: Vec<&String> = got
            .iter()
            .filter(|p| p.starts_with(&format!("{t}:")))
            .collect();
        let want: Vec<String> = (0..200).map(|i| format!("{t}:{i}")).collect();
        assert_eq!(mine, want.iter().collect::<Vec<_>>());
    }
    // Group commit: far fewer flushes than records (one segment file write each).
    assert_eq!(journal.stats().appended, 1600);
}

#[test]
fn skipping_to_a_position_saved_elsewhere_reads_on_from_there() {
    let dir = TempDir::new();
    let journal = open(&dir, Options::default());
    for p in ["a", "b", "c"] {
        journal
            .append_durable(soon(), |o| o.extend_from_slice(p.as_bytes()))
            .unwrap();
    }
    let mut reader = journal.take_reader().unwrap();
    let all = read_n(&mut reader, 3);
    drop(reader);
    drop(journal);
    // The local cursor was never written (a crash); the database says
    // "a" and "b" are applied.
    let journal = open(&dir, Options::default());
    let mut reader = journal.take_reader().unwrap();
    reader.skip_to(all[1].end);
    assert_eq!(payloads(&read_n(&mut reader, 1)), ["c"]);
    // A position behind the reader's changes nothing.
    reader.skip_to(all[0].end);
    assert!(reader
        .read(10, Duration::from_millis(50))
        .unwrap()
        .is_empty());
    assert!(reader.position() >= all[2].end);
}
