//! Mikrotik-Rate-Limit: parse, validate, render.
//!
//! The RouterOS grammar is positional:
//!
//! ```text
//! rx[/tx] [rx-burst[/tx-burst] [rx-threshold[/tx-threshold] [rx-time[/tx-time] [priority] [rx-min[/tx-min]]]]]
//! ```
//!
//! Seen from the router: `rx` is what the router receives from the subscriber
//! (their upload), `tx` what it transmits to them (their download).
//!
//! Input rules (what [`RateLimit::from_str`] accepts):
//! - a rate is a number with an optional unit: `k` = 1,000, `M` = 1,000,000,
//!   `G` = 1,000,000,000 bits/s (case-insensitive), decimals allowed (`1.5M`);
//! - **a bare number is kbps** (`512` = `512k`). RouterOS itself reads a bare
//!   number as bits/s; Netily never sends a bare number, so the router and the
//!   operator cannot disagree about it. A value written for the router
//!   (a radreply/radgroupreply row) is read as the router reads it instead:
//!   [`RateLimit::parse_routeros`], a bare number is bits/s;
//! - rates must be a whole number of kbps (RouterOS does not reliably parse
//!   decimals, and a whole-kbps value always renders exactly);
//! - `a` alone means `a/a` in every pair (as in RouterOS);
//! - burst threshold defaults to the rate and burst time to 1 second when a
//!   burst rate is given (RouterOS's defaults); they are stored explicitly;
//! - a burst rate of 0 means "no burst" for that direction;
//! - times are whole seconds, `10` or `10s`; priority is 1 (highest) to 8.
//!
//! Rendering (Display) is canonical: both directions always (`rx/tx`), each
//! rate in the largest of `M`/`k` that is an exact integer (`10M`, `1500k`,
//! never a decimal, never a bare number), times as plain seconds, trailing
//! absent fields omitted, and `0/0 0/0 0/0` placeholders when a priority is
//! present without a burst. `parse(render(x)) == x` for every valid value.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The grammar, quoted in error messages so an operator can fix the value.
pub const GRAMMAR: &str =
    "rx[/tx] [rx-burst[/tx-burst] [rx-threshold[/tx-threshold] [rx-time[/tx-time] [priority] [rx-min[/tx-min]]]]]";

/// The priority RouterOS assumes when none is given.
pub const DEFAULT_PRIORITY: u8 = 8;

/// One value per direction: `rx` = subscriber's upload, `tx` = download.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Directions {
    pub rx: u64,
    pub tx: u64,
}

impl Directions {
    pub const fn new(rx: u64, tx: u64) -> Self {
        Directions { rx, tx }
    }

    pub const fn both(v: u64) -> Self {
        Directions { rx: v, tx: v }
    }

    fn is_zero(&self) -> bool {
        self.rx == 0 && self.tx == 0
    }
}

/// Burst settings. Rates in bits/s, time in seconds. A zero burst rate in one
/// direction means that direction does not burst (its threshold and time must
/// then be 0 too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Burst {
    pub rate: Directions,
    pub threshold: Directions,
    pub time: Directions,
}

impl Burst {
    /// A burst with RouterOS's defaults: threshold = the plain rate, 1 second.
    /// Directions whose burst rate is 0 get threshold 0 and time 0.
    pub fn with_defaults(rate: Directions, burst_rate: Directions) -> Self {
        let pick = |b: u64, v: u64| if b == 0 { 0 } else { v };
        Burst {
            rate: burst_rate,
            threshold: Directions::new(pick(burst_rate.rx, rate.rx), pick(burst_rate.tx, rate.tx)),
            time: Directions::new(pick(burst_rate.rx, 1), pick(burst_rate.tx, 1)),
        }
    }
}

/// A validated Mikrotik-Rate-Limit. Displays as the canonical RouterOS string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RateLimit {
    rate: Directions,
    burst: Option<Burst>,
    priority: Option<u8>,
    min: Option<Directions>,
    /// The canonical text, rendered once: it is sent on every login.
    text: Box<str>,
}

/// Why a rate limit was refused; the message names the field and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateError(pub String);

impl fmt::Display for RateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RateError {}

fn err(msg: impl Into<String>) -> RateError {
    RateError(format!("Mikrotik-Rate-Limit: {}", msg.into()))
}

impl RateLimit {
    /// The Mikrotik-Rate-Limit text (what `to_string` gives, without
    /// formatting it again).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// A plain rate limit without burst, priority or minimum (bits/s).
    pub fn simple(rx_bps: u64, tx_bps: u64) -> Result<Self, RateError> {
        Self::new(Directions::new(rx_bps, tx_bps), None, None, None)
    }

    /// A full rate limit. A burst whose rates are all zero is "no burst"; a
    /// minimum of 0/0 is "no minimum"; a minimum without a priority gets
    /// RouterOS's default priority 8 (the grammar needs one before it).
    pub fn new(
        rate: Directions,
        burst: Option<Burst>,
        priority: Option<u8>,
        min: Option<Directions>,
    ) -> Result<Self, RateError> {
        let burst =
            burst.filter(|b| !(b.rate.is_zero() && b.threshold.is_zero() && b.time.is_zero()));
        let min = min.filter(|m| !m.is_zero());
        let priority = match (priority, min) {
            (None, Some(_)) => Some(DEFAULT_PRIORITY),
            (p, _) => p,
        };
        let mut r = RateLimit {
            rate,
            burst,
            priority,
            min,
            text: Box::default(),
        };
        r.validate()?;
        r.text = Canonical(&r).to_string().into_boxed_str();
        Ok(r)
    }

    /// The subscriber's upload limit, bits/s.
    pub fn rx(&self) -> u64 {
        self.rate.rx
    }

    /// The subscriber's download limit, bits/s.
    pub fn tx(&self) -> u64 {
        self.rate.tx
    }

    pub fn rate(&self) -> Directions {
        self.rate
    }

    pub fn burst(&self) -> Option<&Burst> {
        self.burst.as_ref()
    }

    pub fn priority(&self) -> Option<u8> {
        self.priority
    }

    pub fn min(&self) -> Option<Directions> {
        self.min
    }

    /// The short `rx/tx` form (e.g. `5M/10M`) for human summaries.
    pub fn rate_summary(&self) -> String {
        format!(
            "{}/{}",
            render_rate(self.rate.rx),
            render_rate(self.rate.tx)
        )
    }

    fn validate(&self) -> Result<(), RateError> {
        for (dir, v) in dirs(self.rate) {
            if v == 0 {
                return Err(err(format!(
                    "rate {dir} is 0; a rate must be above 0 (e.g. 10M, 512k; a bare number is kbps)"
                )));
            }
        }
        check_whole_kbps("rate", self.rate)?;
        if let Some(b) = &self.burst {
            check_whole_kbps("burst rate", b.rate)?;
            check_whole_kbps("burst threshold", b.threshold)?;
            let rates = dirs(self.rate);
            let bursts = dirs(b.rate);
            let thresholds = dirs(b.threshold);
            let times = dirs(b.time);
            for i in 0..2 {
                let (dir, rate) = rates[i];
                let burst = bursts[i].1;
                let threshold = thresholds[i].1;
                let time = times[i].1;
                if burst != 0 && burst < rate {
                    return Err(err(format!(
                        "burst rate {dir} {} is below the rate {}; a burst rate must be 0 (no burst) or at least the rate",
                        render_rate(burst),
                        render_rate(rate)
                    )));
                }
                if burst == 0 && threshold != 0 {
                    return Err(err(format!(
                        "burst threshold {dir} {} is set without a burst rate {dir}; set a burst rate or use 0",
                        render_rate(threshold)
                    )));
                }
                if burst == 0 && time != 0 {
                    return Err(err(format!(
                        "burst time {dir} {time}s is set without a burst rate {dir}; set a burst rate or use 0"
                    )));
                }
                if time > u64::from(u32::MAX) {
                    return Err(err(format!("burst time {dir} {time}s is too large")));
                }
            }
        }
        if let Some(p) = self.priority {
            if !(1..=8).contains(&p) {
                return Err(err(format!(
                    "priority {p} is outside 1 (highest) to 8 (lowest)"
                )));
            }
        }
        if let Some(m) = self.min {
            check_whole_kbps("min rate", m)?;
            for ((dir, min), (_, rate)) in dirs(m).into_iter().zip(dirs(self.rate)) {
                if min > rate {
                    return Err(err(format!(
                        "min rate {dir} {} is above the rate {}; a min rate must be at most the rate",
                        render_rate(min),
                        render_rate(rate)
                    )));
                }
            }
        }
        Ok(())
    }
}

fn dirs(d: Directions) -> [(&'static str, u64); 2] {
    [("rx (upload)", d.rx), ("tx (download)", d.tx)]
}

fn check_whole_kbps(field: &str, d: Directions) -> Result<(), RateError> {
    for (dir, v) in dirs(d) {
        if v % 1000 != 0 {
            return Err(err(format!(
                "{field} {dir} {v} bit/s is not a whole number of kbps; RouterOS needs whole k values"
            )));
        }
    }
    Ok(())
}

/// Renders bits/s in the largest unit (M or k) that represents it exactly.
/// `G` is accepted on input but never rendered: RouterOS documents k and M only.
pub fn render_rate(bps: u64) -> String {
    Bps(bps).to_string()
}

/// Bits/s as RouterOS writes them, formatted straight into the caller's
/// output (no string per number).
struct Bps(u64);

impl fmt::Display for Bps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bps = self.0;
        if bps == 0 {
            f.write_str("0")
        } else if bps.is_multiple_of(1_000_000) {
            write!(f, "{}M", bps / 1_000_000)
        } else if bps.is_multiple_of(1000) {
            write!(f, "{}k", bps / 1000)
        } else {
            // Unreachable for validated values (whole kbps); kept exact anyway.
            write!(f, "{bps}")
        }
    }
}

/// `rx/tx`, as in every position of a rate limit.
struct PairText(Directions);

impl fmt::Display for PairText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Bps(self.0.rx), Bps(self.0.tx))
    }
}

/// What a rate without a unit means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bare {
    /// Netily's reading (plans): `512` = 512 kbps.
    Kbps,
    /// RouterOS's reading (rows written for the router): `512` = 512 bit/s.
    Bps,
}

impl Bare {
    fn multiplier(self) -> u128 {
        match self {
            Bare::Kbps => 1000,
            Bare::Bps => 1,
        }
    }

    /// The end of an error message, saying how a bare number was read.
    fn hint(self) -> &'static str {
        match self {
            Bare::Kbps => "a bare number is kbps",
            Bare::Bps => "a bare number is bit/s, as RouterOS reads it",
        }
    }
}

/// Parses one rate token (`10M`, `512k`, `1.5M`, bare `512` as `bare` says)
/// into bits/s.
fn parse_rate(token: &str, field: &str, bare: Bare) -> Result<u64, RateError> {
    if token.starts_with('-') {
        return Err(err(format!(
            "{field} {token:?} is negative; rates are 0 or more"
        )));
    }
    let split = token
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(token.len());
    let (number, unit) = token.split_at(split);
    if number.is_empty() {
        return Err(err(format!(
            "{field} {token:?} is not a number; write e.g. 10M, 512k, 1.5M ({})",
            bare.hint()
        )));
    }
    let multiplier: u128 = match unit {
        "" => bare.multiplier(),
        "k" | "K" => 1000,
        "m" | "M" => 1_000_000,
        "g" | "G" => 1_000_000_000,
        _ => {
            return Err(err(format!(
                "{field} {token:?} has unit {unit:?}; allowed units are k, M, G ({})",
                bare.hint()
            )))
        }
    };
    let (int_part, frac_part) = match number.split_once('.') {
        Some((i, f)) => (i, f),
        None => (number, ""),
    };
    let digits_ok = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int_part.is_empty() && frac_part.is_empty())
        || !digits_ok(int_part)
        || !digits_ok(frac_part)
    {
        return Err(err(format!(
            "{field} {token:?} is not a number; write e.g. 10M, 512k, 1.5M ({})",
            bare.hint()
        )));
    }
    let overflow = || {
        err(format!(
            "{field} {token:?} is too large; at most {} bit/s",
            u64::MAX
        ))
    };
    let int: u128 = if int_part.is_empty() {
        0
    } else {
        int_part.parse().map_err(|_| overflow())?
    };
    let mut bps = int.checked_mul(multiplier).ok_or_else(overflow)?;
    if !frac_part.is_empty() {
        // Exact decimal arithmetic: value = frac / 10^len * multiplier.
        let frac_len = u32::try_from(frac_part.len()).map_err(|_| overflow())?;
        let scale = 10u128
            .checked_pow(frac_len)
            .ok_or_else(|| err(format!("{field} {token:?} has too many decimals")))?;
        let frac: u128 = frac_part.parse().map_err(|_| overflow())?;
        let scaled = frac.checked_mul(multiplier).ok_or_else(overflow)?;
        if scaled % scale != 0 {
            return Err(err(format!(
                "{field} {token:?} is not a whole number of bit/s"
            )));
        }
        bps = bps.checked_add(scaled / scale).ok_or_else(overflow)?;
    }
    let bps = u64::try_from(bps).map_err(|_| overflow())?;
    if bps % 1000 != 0 {
        return Err(err(format!(
            "{field} {token:?} is not a whole number of kbps; RouterOS needs whole k values"
        )));
    }
    Ok(bps)
}

/// Parses a time token (`10` or `10s`) into seconds.
fn parse_time(token: &str, field: &str) -> Result<u64, RateError> {
    if token.starts_with('-') {
        return Err(err(format!(
            "{field} {token:?} is negative; times are 0 or more seconds"
        )));
    }
    let number = token.strip_suffix('s').unwrap_or(token);
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err(format!(
            "{field} {token:?} is not a whole number of seconds; write e.g. 10 or 10s"
        )));
    }
    let secs: u32 = number.parse().map_err(|_| {
        err(format!(
            "{field} {token:?} is too large; at most {} seconds",
            u32::MAX
        ))
    })?;
    Ok(u64::from(secs))
}

/// Splits `a/b` (or `a`, meaning `a/a`) and parses each half.
fn parse_pair(
    token: &str,
    field: &str,
    one: impl Fn(&str, &str) -> Result<u64, RateError>,
) -> Result<Directions, RateError> {
    let mut halves = token.split('/');
    let rx = halves.next().unwrap_or("");
    let tx = halves.next();
    if halves.next().is_some() {
        return Err(err(format!(
            "{field} {token:?} has more than one '/'; write rx/tx (upload/download)"
        )));
    }
    if rx.is_empty() || tx == Some("") {
        return Err(err(format!(
            "{field} {token:?} has an empty side; write rx/tx (upload/download) or one value for both"
        )));
    }
    let rx_v = one(rx, &format!("{field} rx (upload)"))?;
    let tx_v = match tx {
        Some(t) => one(t, &format!("{field} tx (download)"))?,
        None => rx_v,
    };
    Ok(Directions::new(rx_v, tx_v))
}

impl RateLimit {
    /// Parses a rate limit an operator types (netadmin's `--rate`): as
    /// [`FromStr`], except that a rate without a unit is refused with a hint
    /// to add one. A MikroTik operator means bits/s by `10000/20000`
    /// (RouterOS's reading), so a bare number at the prompt is ambiguous.
    /// Zero needs no unit (no burst, `0/0` placeholders); burst times and the
    /// priority are plain numbers. Stored rates (plans, reply rows) keep
    /// [`FromStr`]'s reading.
    pub fn parse_with_units(s: &str) -> Result<Self, RateError> {
        // The grammar's rate positions; times (3) and priority (4) are not rates.
        const RATES: [(usize, &str); 4] = [
            (0, "rate"),
            (1, "burst rate"),
            (2, "burst threshold"),
            (5, "min rate"),
        ];
        let directions = dirs(Directions::both(0)).map(|(name, _)| name);
        let fields: Vec<&str> = s.split_whitespace().collect();
        for (at, field) in RATES {
            let Some(pair) = fields.get(at) else { continue };
            for (token, dir) in pair.split('/').zip(directions) {
                let bare = token.bytes().all(|b| b.is_ascii_digit() || b == b'.');
                let zero = token.bytes().all(|b| b == b'0' || b == b'.');
                if !token.is_empty() && bare && !zero {
                    return Err(err(format!(
                        "{field} {dir} {token:?} has no unit; add k, M or G \
                         (e.g. {token}k or 10M): RouterOS reads a bare number as bit/s"
                    )));
                }
            }
        }
        s.parse()
    }
}

impl RateLimit {
    /// Parses a rate limit written for the router (a radreply or
    /// radgroupreply row) as RouterOS reads it: the grammar of
    /// [`FromStr`], except that a bare number is bits/s (`10000/20000` is
    /// 10 kbps up, 20 kbps down, rendered `10k/20k`). Rates must still be
    /// whole kbps.
    pub fn parse_routeros(s: &str) -> Result<Self, RateError> {
        parse_fields(s, Bare::Bps)
    }
}

impl FromStr for RateLimit {
    type Err = RateError;

    /// Parses the RouterOS grammar (see the module docs; a bare number is kbps).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_fields(s, Bare::Kbps)
    }
}

/// The grammar's six fields, a bare rate read as `bare` says.
fn parse_fields(s: &str, bare: Bare) -> Result<RateLimit, RateError> {
    let rate_of = |token: &str, field: &str| parse_rate(token, field, bare);
    let fields: Vec<&str> = s.split_whitespace().collect();
    if fields.is_empty() {
        return Err(err(format!("empty; expected {GRAMMAR}, e.g. 5M/10M")));
    }
    if fields.len() > 6 {
        // The fields, not the text: a newline in it would start a log line.
        return Err(err(format!(
            "{:?} has {} fields; at most 6 are allowed: {GRAMMAR}",
            fields.join(" "),
            fields.len()
        )));
    }
    let rate = parse_pair(fields[0], "rate", rate_of)?;
    let burst = match fields.get(1) {
        None => None,
        Some(b) => {
            let burst_rate = parse_pair(b, "burst rate", rate_of)?;
            let mut burst = Burst::with_defaults(rate, burst_rate);
            if let Some(t) = fields.get(2) {
                burst.threshold = parse_pair(t, "burst threshold", rate_of)?;
            }
            if let Some(t) = fields.get(3) {
                burst.time = parse_pair(t, "burst time", parse_time)?;
            }
            Some(burst)
        }
    };
    let priority = match fields.get(4) {
        None => None,
        Some(p) => {
            let n: u8 = if p.bytes().all(|b| b.is_ascii_digit()) {
                p.parse().unwrap_or(u8::MAX)
            } else {
                return Err(err(format!(
                    "priority {p:?} is not a number; allowed 1 (highest) to 8 (lowest)"
                )));
            };
            if !(1..=8).contains(&n) {
                return Err(err(format!(
                    "priority {p:?} is outside 1 (highest) to 8 (lowest)"
                )));
            }
            Some(n)
        }
    };
    let min = match fields.get(5) {
        None => None,
        Some(m) => Some(parse_pair(m, "min rate", rate_of)?),
    };
    RateLimit::new(rate, burst, priority, min)
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Renders a rate limit's fields as RouterOS writes them (once, at
/// construction; `Display` then shows the stored text).
struct Canonical<'a>(&'a RateLimit);

impl fmt::Display for Canonical<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.0;
        let pair = PairText;
        write!(f, "{}", pair(r.rate))?;
        if r.burst.is_none() && r.priority.is_none() {
            return Ok(());
        }
        match &r.burst {
            Some(b) => write!(
                f,
                " {} {} {}/{}",
                pair(b.rate),
                pair(b.threshold),
                b.time.rx,
                b.time.tx
            )?,
            // RouterOS: a burst rate of 0 is "no burst"; the placeholders
            // keep the priority in its position.
            None => f.write_str(" 0/0 0/0 0/0")?,
        }
        if let Some(p) = r.priority {
            write!(f, " {p}")?;
        }
        if let Some(m) = r.min {
            write!(f, " {}", pair(m))?;
        }
        Ok(())
    }
}

impl Serialize for RateLimit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RateLimit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> RateLimit {
        match s.parse() {
            Ok(r) => r,
            Err(e) => panic!("{s:?} should parse: {e}"),
        }
    }

    fn e(s: &str) -> String {
        match s.parse::<RateLimit>() {
            Ok(r) => panic!("{s:?} should be refused, got {r}"),
            Err(e) => e.to_string(),
        }
    }

    fn canon(s: &str) -> String {
        p(s).to_string()
    }

    #[test]
    fn single_value_means_both_directions() {
        let r = p("10M");
        assert_eq!((r.rx(), r.tx()), (10_000_000, 10_000_000));
        assert_eq!(r.to_string(), "10M/10M");
        assert!(r.burst().is_none() && r.priority().is_none() && r.min().is_none());
    }

    #[test]
    fn rx_is_upload_tx_is_download() {
        let r = p("5M/10M");
        assert_eq!(r.rx(), 5_000_000);
        assert_eq!(r.tx(), 10_000_000);
        assert_eq!(r.rate(), Directions::new(5_000_000, 10_000_000));
        assert_eq!(r.rate_summary(), "5M/10M");
    }

    #[test]
    fn units_k_m_g_and_case() {
        assert_eq!(p("512k").rx(), 512_000);
        assert_eq!(p("512K").rx(), 512_000);
        assert_eq!(p("10M").rx(), 10_000_000);
        assert_eq!(p("10m").rx(), 10_000_000);
        assert_eq!(p("1G").rx(), 1_000_000_000);
        assert_eq!(p("2g").rx(), 2_000_000_000);
    }

    #[test]
    fn bare_number_is_kbps() {
        assert_eq!(p("512").rx(), 512_000);
        assert_eq!(canon("512"), "512k/512k");
        assert_eq!(canon("1000/2000"), "1M/2M");
    }

    #[test]
    fn a_row_written_for_the_router_reads_a_bare_number_as_bits_per_second() {
        let routeros = |s: &str| match RateLimit::parse_routeros(s) {
            Ok(r) => r.to_string(),
            Err(e) => panic!("{s:?} should parse: {e}"),
        };
        assert_eq!(routeros("10000/20000"), "10k/20k");
        assert_eq!(routeros("2000000/4M 0/8000000"), "2M/4M 0/8M 0/4M 0/1");
        assert_eq!(routeros("512k"), "512k/512k");
        // Units mean what they always mean; the result parses back the same.
        assert_eq!(
            routeros("5M/10M 20M/40M 8M/16M 16/16 8"),
            canon("5M/10M 20M/40M 8M/16M 16/16 8")
        );
        let r = routeros("64000/128000");
        assert_eq!(p(&r).to_string(), r);
        // RouterOS takes 1500 bit/s; Netily's rates are whole kbps.
        let e = RateLimit::parse_routeros("1500/2000").map(|r| r.to_string());
        assert!(
            e.as_ref()
                .is_err_and(|e| e.0.contains("whole number of kbps")),
            "{e:?}"
        );
        let e = RateLimit::parse_routeros("fast").map(|r| r.to_string());
        assert!(
            e.as_ref()
                .is_err_and(|e| e.0.contains("a bare number is bit/s, as RouterOS reads it")),
            "{e:?}"
        );
    }

    #[test]
    fn decimals_are_accepted_and_never_rendered() {
        assert_eq!(p("1.5M").rx(), 1_500_000);
        assert_eq!(canon("1.5M"), "1500k/1500k");
        assert_eq!(canon("0.5M"), "500k/500k");
        assert_eq!(canon(".5M"), "500k/500k");
        assert_eq!(canon("2.M"), "2M/2M");
        assert_eq!(canon("1.25G"), "1250M/1250M");
        assert_eq!(canon("1.000M"), "1M/1M");
    }

    #[test]
    fn render_uses_largest_exact_unit() {
        assert_eq!(render_rate(1_500_000), "1500k");
        assert_eq!(render_rate(10_000_000), "10M");
        assert_eq!(render_rate(512_000), "512k");
        assert_eq!(render_rate(1_000_000_000), "1000M");
        assert_eq!(render_rate(1_001_000), "1001k");
        assert_eq!(render_rate(0), "0");
    }

    #[test]
    fn full_grammar_round_trips_verbatim() {
        let s = "5M/10M 10M/20M 4M/8M 10/10 8";
        let r = p(s);
        assert_eq!(r.to_string(), s);
        let b = r.burst().copied().unwrap_or_else(|| panic!("burst"));
        assert_eq!(b.rate, Directions::new(10_000_000, 20_000_000));
        assert_eq!(b.threshold, Directions::new(4_000_000, 8_000_000));
        assert_eq!(b.time, Directions::new(10, 10));
        assert_eq!(r.priority(), Some(8));
        let s6 = "5M/10M 10M/20M 4M/8M 10/10 1 1M/2M";
        assert_eq!(canon(s6), s6);
        assert_eq!(p(s6).min(), Some(Directions::new(1_000_000, 2_000_000)));
    }

    #[test]
    fn burst_defaults_threshold_to_rate_and_time_to_one_second() {
        assert_eq!(canon("10M 20M"), "10M/10M 20M/20M 10M/10M 1/1");
        assert_eq!(canon("5M/10M 10M/20M"), "5M/10M 10M/20M 5M/10M 1/1");
        assert_eq!(canon("10M 20M 8M"), "10M/10M 20M/20M 8M/8M 1/1");
        assert_eq!(canon("10M 20M 8M 10s"), "10M/10M 20M/20M 8M/8M 10/10");
        assert_eq!(canon("10M 20M 8M 10/20s"), "10M/10M 20M/20M 8M/8M 10/20");
    }

    #[test]
    fn burst_in_one_direction_only() {
        assert_eq!(canon("1M/2M 0/4M"), "1M/2M 0/4M 0/2M 0/1");
        assert_eq!(canon("1M/2M 0/4M 0/3M 0/10"), "1M/2M 0/4M 0/3M 0/10");
    }

    #[test]
    fn zero_burst_is_no_burst() {
        let r = p("10M 0/0");
        assert!(r.burst().is_none());
        assert_eq!(r.to_string(), "10M/10M");
        assert_eq!(canon("10M 0 0 0"), "10M/10M");
    }

    #[test]
    fn priority_without_burst_renders_placeholders() {
        let r = p("10M/10M 0/0 0/0 0/0 5");
        assert!(r.burst().is_none());
        assert_eq!(r.priority(), Some(5));
        assert_eq!(r.to_string(), "10M/10M 0/0 0/0 0/0 5");
        assert_eq!(canon("10M 0 0 0 5"), "10M/10M 0/0 0/0 0/0 5");
        assert_eq!(canon("10M 0 0 0 8 5M/5M"), "10M/10M 0/0 0/0 0/0 8 5M/5M");
    }

    #[test]
    fn min_rate_zero_is_no_min_and_per_direction_zero_allowed() {
        let r = p("10M 0/0 0/0 0/0 8 0/0");
        assert_eq!(r.min(), None);
        assert_eq!(r.to_string(), "10M/10M 0/0 0/0 0/0 8");
        assert_eq!(canon("1M/2M 0 0 0 8 0/1M"), "1M/2M 0/0 0/0 0/0 8 0/1M");
    }

    #[test]
    fn min_equal_to_rate_is_allowed() {
        assert_eq!(canon("2M 0 0 0 8 2M"), "2M/2M 0/0 0/0 0/0 8 2M/2M");
    }

    #[test]
    fn burst_equal_to_rate_is_allowed() {
        assert_eq!(canon("2M 2M"), "2M/2M 2M/2M 2M/2M 1/1");
    }

    #[test]
    fn constructors() {
        let r = RateLimit::simple(5_000_000, 10_000_000).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.to_string(), "5M/10M");
        assert_eq!(r, p("5M/10M"));
        assert!(RateLimit::simple(0, 1_000_000).is_err());
        assert!(RateLimit::simple(1_500, 1_000_000).is_err());
        // A min without a priority gets RouterOS's default priority 8.
        let m = RateLimit::new(
            Directions::both(2_000_000),
            None,
            None,
            Some(Directions::both(1_000_000)),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.priority(), Some(DEFAULT_PRIORITY));
        assert_eq!(m.to_string(), "2M/2M 0/0 0/0 0/0 8 1M/1M");
        assert_eq!(p(&m.to_string()), m);
        let b = Burst::with_defaults(Directions::both(1_000_000), Directions::new(0, 4_000_000));
        let r = RateLimit::new(Directions::both(1_000_000), Some(b), Some(3), None)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.to_string(), "1M/1M 0/4M 0/1M 0/1 3");
        // Validation applies to constructors too.
        assert!(RateLimit::new(Directions::both(1_000_000), None, Some(9), None).is_err());
    }

    #[test]
    fn whitespace_is_flexible() {
        assert_eq!(canon("  5M/10M \t 10M/20M  "), "5M/10M 10M/20M 5M/10M 1/1");
    }

    #[test]
    fn error_zero_rate() {
        let m = e("0");
        assert!(m.contains("rate rx (upload) is 0"), "{m}");
        let m = e("10M/0");
        assert!(m.contains("rate tx (download) is 0"), "{m}");
        assert!(m.starts_with("Mikrotik-Rate-Limit: "), "{m}");
    }

    #[test]
    fn error_burst_below_rate_per_direction() {
        let m = e("10M 5M");
        assert!(
            m.contains("burst rate rx (upload) 5M is below the rate 10M"),
            "{m}"
        );
        let m = e("10M/10M 20M/5M");
        assert!(
            m.contains("burst rate tx (download) 5M is below the rate 10M"),
            "{m}"
        );
    }

    #[test]
    fn error_threshold_or_time_without_burst() {
        let m = e("10M 0/20M 5M/5M");
        assert!(
            m.contains("burst threshold rx (upload) 5M is set without a burst rate"),
            "{m}"
        );
        let m = e("10M 0 5M");
        assert!(m.contains("burst threshold"), "{m}");
        let m = e("10M 0 0 5");
        assert!(
            m.contains("burst time rx (upload) 5s is set without a burst rate"),
            "{m}"
        );
        let m = e("10M 0/20M 0/5M 3/3");
        assert!(m.contains("burst time rx (upload)"), "{m}");
    }

    #[test]
    fn error_min_above_rate() {
        let m = e("10M 0 0 0 8 20M");
        assert!(
            m.contains("min rate rx (upload) 20M is above the rate 10M"),
            "{m}"
        );
        let m = e("10M/5M 0 0 0 8 1M/6M");
        assert!(
            m.contains("min rate tx (download) 6M is above the rate 5M"),
            "{m}"
        );
    }

    #[test]
    fn error_priority_outside_1_to_8() {
        for bad in ["0", "9", "255", "256", "99999"] {
            let m = e(&format!("10M 0 0 0 {bad}"));
            assert!(
                m.contains("outside 1 (highest) to 8 (lowest)"),
                "{bad}: {m}"
            );
        }
        for bad in ["x", "-1", "1.5", "8s"] {
            let m = e(&format!("10M 0 0 0 {bad}"));
            assert!(m.contains("priority"), "{bad}: {m}");
        }
        assert_eq!(p("10M 0 0 0 1").priority(), Some(1));
        assert_eq!(p("10M 0 0 0 8").priority(), Some(8));
    }

    #[test]
    fn error_garbage_units() {
        for bad in ["10X", "10Mbps", "10 Mb", "10kb", "10T"] {
            let m = e(bad);
            assert!(
                m.contains("allowed units are k, M, G (a bare number is kbps)")
                    || m.contains("not a number"),
                "{bad}: {m}"
            );
        }
        let m = e("10X");
        assert!(m.contains("unit \"X\""), "{m}");
        for bad in ["abc", "M", ".", "1.2.3M", "1,5M", "+5M"] {
            let m = e(bad);
            assert!(m.contains("rate rx (upload)"), "{bad}: {m}");
        }
    }

    #[test]
    fn error_negative() {
        let m = e("-5M");
        assert!(m.contains("is negative"), "{m}");
        let m = e("10M/-5M");
        assert!(m.contains("rate tx (download) \"-5M\" is negative"), "{m}");
        let m = e("10M 20M 5M -1");
        assert!(
            m.contains("burst time rx (upload) \"-1\" is negative"),
            "{m}"
        );
    }

    #[test]
    fn error_too_many_fields_and_empty() {
        let m = e("1M 2M 1M 1 8 1M 7");
        assert!(m.contains("7 fields; at most 6"), "{m}");
        assert!(m.contains(GRAMMAR), "{m}");
        assert!(e("").contains("empty"));
        assert!(e("   ").contains("empty"));
    }

    #[test]
    fn error_overflow() {
        let max_k = u64::MAX / 1000; // 18446744073709551
        assert_eq!(p(&format!("{max_k}k")).rx(), max_k * 1000);
        let m = e(&format!("{}k", max_k + 1));
        assert!(m.contains("too large"), "{m}");
        assert!(e("99999999999999999999999999999999999999999G").contains("too large"));
        assert!(e("18446744073709552M").contains("too large"));
        let m = e("10M 20M 5M 4294967296");
        assert!(m.contains("burst time") && m.contains("too large"), "{m}");
        assert_eq!(
            p("10M 20M 5M 4294967295").burst().map(|b| b.time.rx),
            Some(4_294_967_295)
        );
    }

    #[test]
    fn error_not_whole_kbps() {
        for bad in ["1.5k", "1.5", "1.0005M", "0.0000001G"] {
            let m = e(bad);
            assert!(m.contains("whole number"), "{bad}: {m}");
        }
    }

    #[test]
    fn error_malformed_pairs() {
        assert!(e("10M//5M").contains("more than one '/'"));
        assert!(e("10M/5M/1M").contains("more than one '/'"));
        assert!(e("10M/").contains("empty side"));
        assert!(e("/5M").contains("empty side"));
    }

    #[test]
    fn error_bad_times() {
        for bad in ["10x", "1.5", "s", "10ss", "1m"] {
            let m = e(&format!("10M 20M 5M {bad}"));
            assert!(
                m.contains("burst time") && m.contains("seconds"),
                "{bad}: {m}"
            );
        }
    }

    #[test]
    fn canonical_strings_round_trip() {
        for s in [
            "10M",
            "5M/10M",
            "512",
            "1.5M/3.5M",
            "10M 20M",
            "1M/2M 0/4M",
            "10M 0 0 0 5",
            "10M 0 0 0 8 5M",
            "5M/10M 10M/20M 4M/8M 10/10 8",
            "5M/10M 10M/20M 4M/8M 10/10 1 1M/2M",
            "1G/1.5G 2G/3G",
        ] {
            let once = p(s);
            let rendered = once.to_string();
            let twice = p(&rendered);
            assert_eq!(once, twice, "{s}");
            assert_eq!(twice.to_string(), rendered, "{s}");
            assert!(!rendered.contains('.'), "{rendered}");
        }
    }

    /// parse(render(x)) == x over many generated valid limits.
    #[test]
    fn generated_limits_round_trip() {
        let values = [
            0u64,
            1_000,
            64_000,
            512_000,
            1_000_000,
            1_500_000,
            10_000_000,
            123_456_000,
            1_000_000_000,
        ];
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let mut valid = 0;
        for _ in 0..20_000 {
            let mut v = || values[next(values.len())];
            let rate = Directions::new(v(), v());
            let burst = Burst {
                rate: Directions::new(v(), v()),
                threshold: Directions::new(v(), v()),
                time: Directions::new(v() % 60, v() % 60),
            };
            let burst = if next(2) == 0 { Some(burst) } else { None };
            let priority = if next(2) == 0 {
                Some(next(10) as u8)
            } else {
                None
            };
            let min = if next(2) == 0 {
                Some(Directions::new(values[next(9)], values[next(9)]))
            } else {
                None
            };
            if let Ok(x) = RateLimit::new(rate, burst, priority, min) {
                valid += 1;
                let s = x.to_string();
                assert_eq!(p(&s), x, "{s}");
                assert!(!s.contains('.'), "{s}");
            }
        }
        assert!(valid > 1000, "only {valid} valid cases generated");
    }

    #[test]
    fn serde_as_canonical_string() {
        let r = p("5M/10M 10M/20M");
        let json = serde_json::to_string(&r).unwrap_or_default();
        assert_eq!(json, "\"5M/10M 10M/20M 5M/10M 1/1\"");
        let back: RateLimit = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, r);
        let lenient: RateLimit = serde_json::from_str("\"10M\"").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(lenient.to_string(), "10M/10M");
        let bad = serde_json::from_str::<RateLimit>("\"10X\"");
        assert!(bad.is_err_and(|e| e.to_string().contains("unit")));
        assert!(serde_json::from_str::<RateLimit>("5").is_err());
    }

    #[test]
    fn operator_input_needs_units_except_for_zero_times_and_priority() {
        let ok = |s: &str| match RateLimit::parse_with_units(s) {
            Ok(r) => r.to_string(),
            Err(e) => panic!("{s:?} should parse: {e}"),
        };
        let refused = |s: &str| match RateLimit::parse_with_units(s) {
            Ok(r) => panic!("{s:?} should be refused, got {r}"),
            Err(e) => e.to_string(),
        };
        assert_eq!(ok("10M/20M"), "10M/20M");
        assert_eq!(ok("512k"), "512k/512k");
        assert_eq!(ok("10M/20M 0/0 0/0 0/0 8"), "10M/20M 0/0 0/0 0/0 8");
        assert_eq!(
            ok("1M 2M 1M 16/16 8 0.5M"),
            "1M/1M 2M/2M 1M/1M 16/16 8 500k/500k"
        );
        assert_eq!(ok("1M 2M 1M 16s 3"), "1M/1M 2M/2M 1M/1M 16/16 3");
        // The same text as stored rows read it, whatever a bare number means there.
        assert_eq!(
            RateLimit::parse_with_units("10M/20M 20M/40M 8M/16M 16/16 8"),
            "10M/20M 20M/40M 8M/16M 16/16 8".parse()
        );
        assert_eq!(
            refused("10000/20000"),
            "Mikrotik-Rate-Limit: rate rx (upload) \"10000\" has no unit; add k, M or G \
             (e.g. 10000k or 10M): RouterOS reads a bare number as bit/s"
        );
        assert!(refused("512").contains("rate rx (upload) \"512\""));
        assert!(refused("1M/1.5").contains("rate tx (download) \"1.5\""));
        assert!(refused("1M 2000").contains("burst rate rx (upload) \"2000\""));
        assert!(refused("1M 2M 1000/1M").contains("burst threshold rx (upload)"));
        assert!(refused("1M 2M 1M 1 8 100").contains("min rate rx (upload) \"100\""));
        // Anything else is FromStr's error.
        assert_eq!(refused("10X"), e("10X"));
        assert_eq!(refused(""), e(""));
    }

    #[test]
    fn a_refused_rate_is_named_on_one_line_with_control_characters_escaped() {
        // Found by fuzzing (fuzz/corpus/rate_limit/seven-fields-with-a-newline):
        // a radreply row's value reaches the log through this message.
        let many = e("2G 1G 16 0/ 9G\n\0 10s");
        assert!(
            many.contains("\"2G 1G 16 0/ 9G \\0 10s\" has 7 fields"),
            "{many}"
        );
        let unit = e("10M\u{1b}[31m");
        assert!(unit.contains("\"10M\\u{1b}[31m\""), "{unit}");
        for refused in [many, unit, e("1M/2M \u{7}")] {
            assert!(!refused.contains(char::is_control), "{refused:?}");
        }
    }

    #[test]
    fn error_is_std_error() {
        let err: Box<dyn std::error::Error> = Box::new(RateError("x".into()));
        assert_eq!(err.to_string(), "x");
    }
}
