//! radcheck and radgroupcheck rows: what stock rlm_sql tools (daloRADIUS,
//! hand-written SQL) put there, read by one set of rules for `netadmin
//! import` and for every Netily subscriber's login, so a row such a tool
//! writes later is honoured the same way, or reported, never silently
//! ignored.
//!
//! Understood, with rlm_sql's operator meanings: a value put in the control
//! list (`:=`, `=`) for `Cleartext-Password`/`User-Password` and password
//! hashes (import only: a Netily subscriber's password is Netily's),
//! `Auth-Type := Reject`, `Simultaneous-Use` and `Expiration` (the formats
//! rlm_sql users write, read as UTC: FreeRADIUS reads the server's local
//! time, the same on a server kept in UTC); a comparison (`==`) for
//! `Calling-Station-Id` with one MAC address (`:=` there would only set the
//! request's attribute, which binds nothing). Where rows repeat a setting
//! (a user's, then their groups' by priority), the first one counts.
//! Anything else is "not understood", with the row named.

use crate::model::{
    CheckRules, ReplyOverride, ReplySource, SkippedReply, SubscriberRecord, UnixTime,
};

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
    /// A password hash row: (attribute, value).
    pub hash: Option<(String, String)>,
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

/// A hash row in FreeRADIUS's Password-With-Header form, which pap turns
/// back into the hash attribute (hex or base64 digests alike); None for a
/// hash pap cannot check from a header (LM-Password).
pub fn password_with_header(attribute: &str, value: &str) -> Option<String> {
    const HEADERS: &[(&str, &str)] = &[
        ("MD5-Password", "{md5}"),
        ("SMD5-Password", "{smd5}"),
        ("SHA-Password", "{sha}"),
        ("SHA1-Password", "{sha}"),
        ("SSHA-Password", "{ssha}"),
        ("SSHA1-Password", "{ssha}"),
        ("SHA2-Password", "{sha2}"),
        ("SHA2-256-Password", "{sha256}"),
        ("SHA2-512-Password", "{sha512}"),
        ("SSHA2-256-Password", "{ssha256}"),
        ("SSHA2-512-Password", "{ssha512}"),
        ("Crypt-Password", "{crypt}"),
        ("NT-Password", "{nt}"),
        ("NS-MTA-MD5-Password", "{ns-mta-md5}"),
    ];
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if is(attribute, "Password-With-Header") {
        return Some(value.to_string());
    }
    HEADERS
        .iter()
        .find(|(a, _)| is(a, attribute))
        .map(|(_, h)| format!("{h}{value}"))
}

/// A password attribute (cleartext or hashed): its value is a secret.
pub fn is_password(attribute: &str) -> bool {
    is(attribute, "Cleartext-Password")
        || is(attribute, "User-Password")
        || HASHES.iter().any(|h| is(attribute, h))
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
        // rlm_sql puts `:=` and `=` check items in the control list; `==`
        // compares with the request instead.
        let sets = matches!(op, ":=" | "=");
        let unknown = |c: &mut Checks| {
            // A password's value is a secret: named, never repeated.
            let shown = if is_password(a) {
                "(value hidden)".to_string()
            } else {
                format!("{value:?}")
            };
            c.not_understood
                .push((i, format!("{table} {a} {op} {shown}: not understood")));
        };
        if (is(a, "Cleartext-Password") || is(a, "User-Password")) && sets {
            c.password.get_or_insert_with(|| value.to_string());
            c.password_rows.push(i);
        } else if HASHES.iter().any(|h| is(a, h)) && sets {
            c.hash
                .get_or_insert_with(|| (a.to_string(), value.to_string()));
            c.password_rows.push(i);
        } else if is(a, "Auth-Type") && sets && is(v, "Reject") {
            c.reject = true;
        } else if is(a, "Simultaneous-Use") && sets {
            match v.parse::<u32>() {
                Ok(n) if n > 0 => {
                    c.simultaneous_use.get_or_insert(n);
                }
                _ => unknown(&mut c),
            }
        } else if is(a, "Expiration") && sets {
            match parse_expiration(v) {
                Some(t) => {
                    c.expires_at.get_or_insert(t);
                }
                None => unknown(&mut c),
            }
        } else if is(a, "Calling-Station-Id") && op == "==" {
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

/// FreeRADIUS `date` values as rlm_sql users write them, read as UTC: "01 Jan 2027",
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

/// The row as it may be kept and shown: a password's value is a secret,
/// named and never kept (`netadmin check --json` prints skipped rows).
fn without_secret(row: &ReplyOverride) -> ReplyOverride {
    if is_password(&row.attribute) {
        ReplyOverride {
            value: String::new(),
            ..row.clone()
        }
    } else {
        row.clone()
    }
}

fn triples(rows: &[ReplyOverride]) -> impl Iterator<Item = (&str, &str, &str)> {
    rows.iter()
        .map(|r| (r.attribute.as_str(), r.op.as_str(), r.value.as_str()))
}

/// Turns a loaded record's check rows into its `check_rules`; rows the
/// rules do not use go to `skipped_replies` with why (never their value: a
/// row may hold a password). A password row is not used: a Netily
/// subscriber's password is Netily's. Idempotent (the rows are consumed).
pub fn screen(record: &mut SubscriberRecord) {
    if record.user_checks.is_empty() && record.group_checks.is_empty() {
        return;
    }
    let user = read(triples(&record.user_checks), "radcheck");
    let group = read(triples(&record.group_checks), "radgroupcheck");
    record.check_rules = CheckRules {
        reject: if user.reject {
            Some("radcheck".into())
        } else if group.reject {
            Some("radgroupcheck".into())
        } else {
            None
        },
        simultaneous_use: user.simultaneous_use.or(group.simultaneous_use),
        expires_at: user.expires_at.or(group.expires_at),
        mac: user.mac.clone().or(group.mac.clone()),
    };
    for (source, rows, c) in [
        (
            ReplySource::UserCheck,
            std::mem::take(&mut record.user_checks),
            &user,
        ),
        (
            ReplySource::GroupCheck,
            std::mem::take(&mut record.group_checks),
            &group,
        ),
    ] {
        for (i, _) in &c.not_understood {
            if let Some(row) = rows.get(*i) {
                record.skipped_replies.push(SkippedReply {
                    source,
                    row: without_secret(row),
                    reason: "not understood, so not used".into(),
                });
            }
        }
        for i in &c.password_rows {
            if let Some(row) = rows.get(*i) {
                record.skipped_replies.push(SkippedReply {
                    source,
                    row: without_secret(row),
                    reason: "a Netily subscriber's password is Netily's \
                             (netadmin customer update --password); this row is not used"
                        .into(),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(attribute: &str, op: &str, value: &str) -> ReplyOverride {
        ReplyOverride {
            attribute: attribute.into(),
            op: op.into(),
            value: value.into(),
        }
    }

    #[test]
    fn understood_rows_become_rules_and_the_rest_is_reported_without_values() {
        let mut r: SubscriberRecord = serde_json::from_value(serde_json::json!({
            "subscriber": {"id": 1, "username": "alice", "password": "p", "full_name": "",
                           "status": "active", "mac_binding": null, "static_ip": null},
            "plan": null, "subscription": null, "unpaid_invoices": [],
            "cycle_usage_bytes": 0, "usage_cycle_start": null, "open_sessions": [],
            "group_replies": [], "user_replies": []
        }))
        .unwrap();
        r.user_checks = vec![
            row("Simultaneous-Use", ":=", "3"),
            row("Login-Time", ":=", "Wk0800-1800"),
            row("Cleartext-Password", ":=", "hunter2"),
            row("Cleartext-Password", "+=", "hunter3"),
        ];
        r.group_checks = vec![
            row("Auth-Type", ":=", "Reject"),
            row("Simultaneous-Use", ":=", "1"),
            row("Expiration", ":=", "01 Jan 2027"),
        ];
        screen(&mut r);
        assert_eq!(
            r.check_rules,
            CheckRules {
                reject: Some("radgroupcheck".into()),
                simultaneous_use: Some(3),
                expires_at: Some(1_798_761_600),
                mac: None,
            }
        );
        let skipped: Vec<_> = r
            .skipped_replies
            .iter()
            .map(|s| (s.source.table(), s.row.attribute.as_str()))
            .collect();
        assert_eq!(
            skipped,
            [
                ("radcheck", "Login-Time"),
                ("radcheck", "Cleartext-Password"),
                ("radcheck", "Cleartext-Password")
            ]
        );
        let shown = format!("{:?}", r.skipped_replies);
        assert!(
            !shown.contains("hunter2") && !shown.contains("hunter3"),
            "{shown}"
        );
        let again = r.clone();
        screen(&mut r);
        assert_eq!(r, again, "idempotent");
    }

    #[test]
    fn operators_keep_their_rlm_sql_meaning_and_the_first_setting_counts() {
        let c = read(
            [
                ("Calling-Station-Id", ":=", "aa:bb:cc:dd:ee:ff"),
                ("Cleartext-Password", "==", "compared-not-set"),
                ("Simultaneous-Use", ":=", "2"),
                ("Simultaneous-Use", ":=", "5"),
            ],
            "radcheck",
        );
        // `:=` on Calling-Station-Id sets the request's attribute: no binding.
        assert_eq!(c.mac, None);
        assert_eq!(c.password, None);
        assert_eq!(c.simultaneous_use, Some(2));
        let texts: Vec<_> = c.not_understood.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(texts.len(), 2, "{texts:?}");
        assert!(texts[1].contains("(value hidden)"), "{texts:?}");
    }
}
