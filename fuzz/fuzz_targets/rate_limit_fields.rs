//! A Mikrotik-Rate-Limit built from fields (plans and netadmin build them
//! this way): a value `RateLimit::new` accepts renders to text that parses
//! back to the same value, so what is stored is what the router is sent.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use netily_core::rate::{Burst, Directions, RateLimit};

/// (rx, tx)
type Pair = (u64, u64);

#[derive(Debug, Arbitrary)]
struct Fields {
    rate: Pair,
    /// (rate, threshold, time)
    burst: Option<(Pair, Pair, Pair)>,
    priority: Option<u8>,
    min: Option<Pair>,
    /// Keep rates whole kbps most of the time, so validation passes often
    /// enough to reach the renderer.
    kbps: bool,
}

fuzz_target!(|f: Fields| {
    let scale = |v: u64| if f.kbps { v.saturating_mul(1000) } else { v };
    let dirs = |(rx, tx): Pair| Directions::new(scale(rx), scale(tx));
    let burst = f.burst.map(|(rate, threshold, (rx_t, tx_t))| Burst {
        rate: dirs(rate),
        threshold: dirs(threshold),
        time: Directions::new(rx_t, tx_t),
    });
    let Ok(rate) = RateLimit::new(dirs(f.rate), burst, f.priority, f.min.map(dirs)) else {
        return;
    };
    let text = rate.to_string();
    match text.parse::<RateLimit>() {
        Ok(again) => assert_eq!(again, rate, "{text:?}"),
        Err(e) => panic!("{text:?} does not parse back: {e}"),
    }
});
