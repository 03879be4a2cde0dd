//! Mikrotik-Rate-Limit text, in all three readings (plans, rows written for
//! the router, the operator's `--rate`). Whatever is accepted is a valid
//! value whose canonical text is plain RouterOS and reads back as the same
//! value in every reading.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netily_core::rate::RateLimit;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for parsed in [
        text.parse::<RateLimit>(),
        RateLimit::parse_routeros(text),
        RateLimit::parse_with_units(text),
    ] {
        match parsed {
            Ok(rate) => check(&rate),
            // An error names the field, on one line without control
            // characters: it is logged, and printed to a terminal.
            Err(e) => assert!(
                e.0.starts_with("Mikrotik-Rate-Limit: ") && !e.0.contains(char::is_control),
                "{e:?}"
            ),
        }
    }
});

fn check(rate: &RateLimit) {
    let canonical = rate.to_string();
    assert_eq!(canonical, rate.as_str());
    // What the router is sent: printable ASCII words, at most the grammar's six.
    assert!(
        canonical.bytes().all(|b| b.is_ascii_graphic() || b == b' '),
        "{canonical:?}"
    );
    assert!(canonical.split(' ').count() <= 6, "{canonical:?}");
    assert!(canonical.split(' ').all(|w| !w.is_empty()), "{canonical:?}");
    // The invariants the decision and the enforcer rely on.
    assert!(rate.rx() > 0 && rate.tx() > 0);
    assert!(rate.rx().is_multiple_of(1000) && rate.tx().is_multiple_of(1000));
    if let Some(p) = rate.priority() {
        assert!((1..=8).contains(&p));
    }
    if let Some(m) = rate.min() {
        assert!(m.rx <= rate.rx() && m.tx <= rate.tx());
    }
    // The canonical text has units everywhere, so every reading agrees.
    for (how, again) in [
        ("FromStr", canonical.parse::<RateLimit>()),
        ("parse_routeros", RateLimit::parse_routeros(&canonical)),
        ("parse_with_units", RateLimit::parse_with_units(&canonical)),
    ] {
        match again {
            Ok(again) => assert_eq!(&again, rate, "{how} of {canonical:?}"),
            Err(e) => panic!("{how} refuses the canonical {canonical:?}: {e}"),
        }
    }
}
