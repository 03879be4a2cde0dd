//! radcheck and radgroupcheck rows: what stock rlm_sql tools (daloRADIUS,
//! hand-written SQL) put there, read by one set of rules for `netadmin
//! import` and for every Netily subscriber's login, so a row such a tool
//! writes later is honoured the same way, or reported, never silently
//! ignored.
//!
//! Understood: `Cleartext-Password`/`User-Password` and password hashes
//! (import only: a Netily subscriber's password is Netily's), `Auth-Type :=
//! Reject`, `Simultaneous-Use`, `Expiration` (the formats rlm_sql users
//! write), `Calling-Station-Id` with one MAC address. Anything else is "not
//! understood", with the row named.

use crate::model::UnixTime;

/// Password hash attributes FreeRADIUS's pap module knows.
const HASHES: &[&str] = &[
    "MD5-Password",
    "SMD5-Password",
    "SHA-Password",
    "SHA1-Password",
    "SSHA-Password",
    "SSHA1-Password",
    "SHA2-Password",
    "SHA2-256-Password",
    "SHA2-512-Password",
    "SSHA2-256-Password",
    "SSHA2-512-Password",
    "Crypt-Password",
    "NT-Password",
    "LM-Password",
    "NS-MTA-MD5-Password",
    "Password-With-Header",
];

/// What the check rows of one user (or group) say.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Checks {
    /// `Cleartext-Password` (or `User-Password`).
    pub password: Option<String>,
    /// The name of a password hash attribute, if one is set.
    pub hash: Option<String>,
    /// `Auth-Type := Reject`.
    pub reject: bool,
    pub simultaneous_use: Option<u32>,
    /// `Expiration`: not served from this instant on.
    pub expires_at: Option<UnixTime>,
    /// `Calling-Station-Id` with one MAC address, normalized.
    pub mac: Option<String>,
    /// (row index, text) of each row not understood.
    pub not_understood: Vec<(usize, String)>,
    /// Row indexes of password rows (plain or hashed).
    pub password_rows: Vec<usize>,
}

/// Attribute names and values as FreeRADIUS compares them: any case.
pub fn is(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Reads `rows` (attribute, op, value) of `table` (radcheck or
/// radgroupcheck).
pub fn read<'a>(
    rows: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
    table: &str,
) -> Checks {
    let mut c = Checks::default();
    for (i, (a, op, value)) in rows.into_iter().enumerate() {
        let v = value.trim();
        let plain_op = matches!(op, ":=" | "==" | "=");
        let unknown = |c: &mut Checks| {
            c.not_understood
                .push((i, format!("{table} {a} {op} {value:?}: not understood")));
        };
        if (is(a, "Cleartext-Password") || is(a, "User-Password")) && plain_op {
            c.password = Some(value.to_string());
            c.password_rows.push(i);
        } else if HASHES.iter().any(|h| is(a, h)) {
            c.hash = Some(a.to_string());
            c.password_rows.push(i);
        } else if is(a, "Auth-Type") && plain_op && is(v, "Reject") {
            c.reject = true;
        } else if is(a, "Simultaneous-Use") && plain_op {
            match v.parse::<u32>() {
                Ok(n) if n > 0 => c.simultaneous_use = Some(n),
                _ => unknown(&mut c),
            }
        } else if is(a, "Expiration") && plain_op {
            match parse_expiration(v) {
                Some(t) => c.expires_at = Some(t),
                None => unknown(&mut c),
            }
        } else if is(a, "Calling-Station-Id") && matches!(op, "==" | ":=") {
            match crate::db::customers::normalize_mac(v) {
                Ok(mac) if c.mac.is_none() => c.mac = Some(mac),
                _ => unknown(&mut c),
            }
        } else {
            unknown(&mut c);
        }
    }
    c
}

/// FreeRADIUS `date` values as rlm_sql users write them: "01 Jan 2027",
/// "Jan 01 2027", "January 1 2027 12:30", "2027-01-01"; UTC.
pub fn parse_expiration(text: &str) -> Option<UnixTime> {
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    let (date, rest): ((i32, u8, u8), &[&str]) = match words.as_slice() {
        [iso, rest @ ..] if iso.len() == 10 && iso.as_bytes().get(4) == Some(&b'-') => {
            let mut p = iso.split('-');
            let y = p.next()?.parse().ok()?;
            let m = p.next()?.parse().ok()?;
            let d = p.next()?.parse().ok()?;
            ((y, m, d), rest)
        }
        [a, b, y, rest @ ..] => {
            let (d, m) = match (a.parse::<u8>(), month(a)) {
                (Ok(d), _) => (d, month(b)?),
                (_, Some(m)) => (b.parse().ok()?, m),
                _ => return None,
            };
            ((y.parse().ok()?, m, d), rest)
        }
        _ => return None,
    };
    let (mut h, mut min, mut s) = (0u8, 0u8, 0u8);
    if let [time, ..] = rest {
        let mut p = time.split(':');
        h = p.next()?.parse().ok()?;
        min = p.next().map_or(Some(0), |x| x.parse().ok())?;
        s = p.next().map_or(Some(0), |x| x.parse().ok())?;
    }
    let month = time::Month::try_from(date.1).ok()?;
    let day = time::Date::from_calendar_date(date.0, month, date.2).ok()?;
    let t = day.with_hms(h, min, s).ok()?.assume_utc();
    Some(t.unix_timestamp())
}

fn month(word: &str) -> Option<u8> {
    const NAMES: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let w = word.to_ascii_lowercase();
    let i = NAMES
        .iter()
        .position(|m| w.len() >= 3 && w.starts_with(m))?;
    Some(i as u8 + 1)
}
