//! The reply attributes an override row (radreply / radgroupreply) may set,
//! their FreeRADIUS types, and the check every row passes when it is read.
//!
//! Why: FreeRADIUS sets a reply attribute from text. A row it cannot set
//! (`Session-Timeout := 'abc'`, a name its dictionary lacks) failed the
//! whole login after half the reply was built, and an `ipaddr` value that
//! is not an address literal was looked up in DNS inside the request. So
//! rows are checked once, when they are loaded ([`Dictionary::screen`]):
//! a row that passes is kept in the form FreeRADIUS reads without doubt
//! (canonical name, a number or an address literal, octets in hex); a row
//! that fails is left out of the record with the reason (the snapshot logs
//! it once, `netadmin check` shows it). Both read the same rows through the
//! same check, so they cannot disagree.
//!
//! The table is the reply attributes of FreeRADIUS 3.2's stock dictionaries
//! that a NAS may receive in an Access-Accept (RFC 2865, 2869, 3162, 4675,
//! 4818, 6911) and all of MikroTik's, with the value names of the enumerated
//! ones. netadmin has no FreeRADIUS, so the table is the dictionary it
//! knows; rlm_netily compares it with the running server's dictionary at
//! start, logs any difference and leaves out what does not match
//! ([`Dictionary::only`]), so radiusd never sets what its dictionary lacks.
//!
//! Values, as FreeRADIUS reads them or refused:
//! - integer: a whole number from 0 to 4294967295, or one of the
//!   attribute's value names (any case), sent by its canonical name;
//! - ipaddr: an IPv4 literal (`a.b.c.d`, `/32` allowed); never a host name;
//! - ipv6addr, ipv6prefix: IPv6 literals (`addr/len` for a prefix, whose
//!   host bits FreeRADIUS clears: so does the check);
//! - string: at most 253 bytes; `Mikrotik-Rate-Limit` must also be a rate
//!   limit as RouterOS reads it (a bare number is bit/s), sent canonical;
//! - octets: `0x` and hex digits, or text taken byte for byte, at most 253
//!   bytes, sent as hex;
//! - `Attr-26.14988.N` (a MikroTik attribute newer than the dictionary):
//!   `0x` and hex digits. Other raw forms are refused.
//! - Dates and tagged attributes are not in the table: refused.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

use crate::model::{ReplyOverride, ReplySource, SkippedReply, SubscriberRecord};
use crate::radius::VENDOR_MIKROTIK;
use crate::rate::RateLimit;

/// Longest value one RADIUS attribute carries.
pub const MAX_VALUE: usize = 253;

/// FreeRADIUS's type of an attribute (the subset the table uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    String,
    Octets,
    Integer,
    Ipv4Addr,
    Ipv6Addr,
    Ipv6Prefix,
}

impl AttrType {
    /// The type's name in FreeRADIUS's dictionary files.
    pub fn name(self) -> &'static str {
        match self {
            AttrType::String => "string",
            AttrType::Octets => "octets",
            AttrType::Integer => "integer",
            AttrType::Ipv4Addr => "ipaddr",
            AttrType::Ipv6Addr => "ipv6addr",
            AttrType::Ipv6Prefix => "ipv6prefix",
        }
    }
}

/// One dictionary entry: a reply attribute an override row may set.
#[derive(Debug, PartialEq, Eq)]
pub struct Attribute {
    /// The dictionary's spelling (rows are matched in any case).
    pub name: &'static str,
    /// 0 for the RFC attributes.
    pub vendor: u32,
    pub number: u32,
    pub kind: AttrType,
    /// Value names of an enumerated integer attribute.
    pub values: &'static [(&'static str, u32)],
}

const fn rfc(name: &'static str, number: u32, kind: AttrType) -> Attribute {
    Attribute {
        name,
        vendor: 0,
        number,
        kind,
        values: &[],
    }
}

const fn named(
    name: &'static str,
    number: u32,
    values: &'static [(&'static str, u32)],
) -> Attribute {
    Attribute {
        name,
        vendor: 0,
        number,
        kind: AttrType::Integer,
        values,
    }
}

const fn mikrotik(name: &'static str, number: u32, kind: AttrType) -> Attribute {
    Attribute {
        name,
        vendor: VENDOR_MIKROTIK,
        number,
        kind,
        values: &[],
    }
}

use AttrType::{
    Integer, Ipv4Addr as Ip4, Ipv6Addr as Ip6, Ipv6Prefix as Prefix6, Octets, String as Text,
};

const SERVICE_TYPE: &[(&str, u32)] = &[
    ("Login-User", 1),
    ("Framed-User", 2),
    ("Callback-Login-User", 3),
    ("Callback-Framed-User", 4),
    ("Outbound-User", 5),
    ("Administrative-User", 6),
    ("NAS-Prompt-User", 7),
    ("Authenticate-Only", 8),
    ("Callback-NAS-Prompt", 9),
    ("Call-Check", 10),
    ("Callback-Administrative", 11),
];
const FRAMED_PROTOCOL: &[(&str, u32)] = &[
    ("PPP", 1),
    ("SLIP", 2),
    ("ARAP", 3),
    ("Gandalf-SLML", 4),
    ("Xylogics-IPX-SLIP", 5),
    ("X.75-Synchronous", 6),
];
const FRAMED_ROUTING: &[(&str, u32)] = &[
    ("None", 0),
    ("Broadcast", 1),
    ("Listen", 2),
    ("Broadcast-Listen", 3),
];
const FRAMED_COMPRESSION: &[(&str, u32)] = &[
    ("None", 0),
    ("Van-Jacobson-TCP-IP", 1),
    ("IPX-Header-Compression", 2),
    ("Stac-LZS", 3),
];
const LOGIN_SERVICE: &[(&str, u32)] = &[
    ("Telnet", 0),
    ("Rlogin", 1),
    ("TCP-Clear", 2),
    ("PortMaster", 3),
    ("LAT", 4),
    ("X25-PAD", 5),
    ("X25-T3POS", 6),
    ("TCP-Clear-Quiet", 8),
];
const LOGIN_TCP_PORT: &[(&str, u32)] = &[("Telnet", 23), ("Rlogin", 513), ("Rsh", 514)];
const TERMINATION_ACTION: &[(&str, u32)] = &[("Default", 0), ("RADIUS-Request", 1)];
const INGRESS_FILTERS: &[(&str, u32)] = &[("Enabled", 1), ("Disabled", 2)];
const MIKROTIK_ENC_ALGO: &[(&str, u32)] = &[
    ("No-encryption", 0),
    ("40-bit-WEP", 1),
    ("104-bit-WEP", 2),
    ("AES-CCM", 3),
    ("TKIP", 4),
];
const MIKROTIK_VLANID_TYPE: &[(&str, u32)] = &[("802.1q", 0), ("802.1ad", 1)];

const fn mikrotik_named(
    name: &'static str,
    number: u32,
    values: &'static [(&'static str, u32)],
) -> Attribute {
    Attribute {
        name,
        vendor: VENDOR_MIKROTIK,
        number,
        kind: Integer,
        values,
    }
}

/// The reply attributes override rows may set (FreeRADIUS 3.2's
/// dictionary.rfc2865, .rfc2869, .rfc3162, .rfc4675, .rfc4818, .rfc6911 and
/// .mikrotik, aliases included).
pub const REPLY_ATTRIBUTES: &[Attribute] = &[
    rfc("User-Name", 1, Text),
    named("Service-Type", 6, SERVICE_TYPE),
    named("Framed-Protocol", 7, FRAMED_PROTOCOL),
    rfc("Framed-IP-Address", 8, Ip4),
    rfc("Framed-IP-Netmask", 9, Ip4),
    named("Framed-Routing", 10, FRAMED_ROUTING),
    rfc("Filter-Id", 11, Text),
    rfc("Framed-MTU", 12, Integer),
    named("Framed-Compression", 13, FRAMED_COMPRESSION),
    rfc("Login-IP-Host", 14, Ip4),
    named("Login-Service", 15, LOGIN_SERVICE),
    named("Login-TCP-Port", 16, LOGIN_TCP_PORT),
    rfc("Reply-Message", 18, Text),
    rfc("Callback-Number", 19, Text),
    rfc("Callback-Id", 20, Text),
    rfc("Framed-Route", 22, Text),
    rfc("Class", 25, Octets),
    rfc("Session-Timeout", 27, Integer),
    rfc("Idle-Timeout", 28, Integer),
    named("Termination-Action", 29, TERMINATION_ACTION),
    rfc("Egress-VLANID", 56, Integer),
    named("Ingress-Filters", 57, INGRESS_FILTERS),
    rfc("Egress-VLAN-Name", 58, Text),
    rfc("Port-Limit", 62, Integer),
    rfc("Acct-Interim-Interval", 85, Integer),
    rfc("Framed-Pool", 88, Text),
    rfc("Framed-IPv6-Prefix", 97, Prefix6),
    rfc("Login-IPv6-Host", 98, Ip6),
    rfc("Framed-IPv6-Route", 99, Text),
    rfc("Framed-IPv6-Pool", 100, Text),
    rfc("Delegated-IPv6-Prefix", 123, Prefix6),
    rfc("Framed-IPv6-Address", 168, Ip6),
    rfc("DNS-Server-IPv6-Address", 169, Ip6),
    rfc("Route-IPv6-Information", 170, Prefix6),
    rfc("Delegated-IPv6-Prefix-Pool", 171, Text),
    rfc("Stateful-IPv6-Address-Pool", 172, Text),
    mikrotik("Mikrotik-Recv-Limit", 1, Integer),
    mikrotik("Mikrotik-Xmit-Limit", 2, Integer),
    mikrotik("Mikrotik-Group", 3, Text),
    mikrotik("Mikrotik-Wireless-Forward", 4, Integer),
    mikrotik("Mikrotik-Wireless-Skip-Dot1x", 5, Integer),
    mikrotik_named("Mikrotik-Wireless-Enc-Algo", 6, MIKROTIK_ENC_ALGO),
    mikrotik("Mikrotik-Wireless-Enc-Key", 7, Text),
    mikrotik("Mikrotik-Rate-Limit", 8, Text),
    mikrotik("Mikrotik-Realm", 9, Text),
    mikrotik("Mikrotik-Host-IP", 10, Ip4),
    mikrotik("Mikrotik-Mark-Id", 11, Text),
    mikrotik("Mikrotik-Advertise-URL", 12, Text),
    mikrotik("Mikrotik-Advertise-Interval", 13, Integer),
    mikrotik("Mikrotik-Recv-Limit-Gigawords", 14, Integer),
    mikrotik("Mikrotik-Xmit-Limit-Gigawords", 15, Integer),
    mikrotik("Mikrotik-Wireless-PSK", 16, Text),
    mikrotik("Mikrotik-Total-Limit", 17, Integer),
    mikrotik("Mikrotik-Total-Limit-Gigawords", 18, Integer),
    mikrotik("Mikrotik-Address-List", 19, Text),
    mikrotik("Mikrotik-Wireless-MPKey", 20, Text),
    mikrotik("Mikrotik-Wireless-Comment", 21, Text),
    mikrotik("Mikrotik-Delegated-IPv6-Pool", 22, Text),
    mikrotik("Mikrotik-DHCP-Option-Set", 23, Text),
    mikrotik("Mikrotik-DHCP-Option-Param-STR1", 24, Text),
    mikrotik("Mikrotik-DHCP-Option-Param-STR2", 25, Text),
    mikrotik("Mikrotik-DHCP-Option-ParamSTR2", 25, Text),
    mikrotik("Mikrotik-Wireless-VLANID", 26, Integer),
    mikrotik_named("Mikrotik-Wireless-VLANIDtype", 27, MIKROTIK_VLANID_TYPE),
    mikrotik_named("Mikrotik-Wireless-VLANID-Type", 27, MIKROTIK_VLANID_TYPE),
    mikrotik("Mikrotik-Wireless-Minsignal", 28, Text),
    mikrotik("Mikrotik-Wireless-Maxsignal", 29, Text),
    mikrotik("Mikrotik-Switching-Filter", 30, Text),
];

/// How a MikroTik attribute the dictionary does not name is written.
const RAW_MIKROTIK: &str = "Attr-26.14988.";

/// The attributes override rows may set, looked up by name in any case.
#[derive(Debug, Clone)]
pub struct Dictionary {
    /// Lower-case name -> entry.
    by_name: HashMap<Box<str>, &'static Attribute>,
}

impl Dictionary {
    /// Every attribute of [`REPLY_ATTRIBUTES`].
    pub fn standard() -> &'static Dictionary {
        static STANDARD: OnceLock<Dictionary> = OnceLock::new();
        STANDARD.get_or_init(|| Dictionary::of(REPLY_ATTRIBUTES.iter()))
    }

    fn of(attributes: impl Iterator<Item = &'static Attribute>) -> Dictionary {
        Dictionary {
            by_name: attributes
                .map(|a| (a.name.to_ascii_lowercase().into_boxed_str(), a))
                .collect(),
        }
    }

    /// The table restricted to the entries `keep` confirms (rlm_netily:
    /// those the running server's dictionary has, alike).
    pub fn only(keep: impl Fn(&Attribute) -> bool) -> Dictionary {
        Dictionary::of(REPLY_ATTRIBUTES.iter().filter(|a| keep(a)))
    }

    /// How many attributes it holds.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// The entry named `name`, in any case.
    pub fn get(&self, name: &str) -> Option<&'static Attribute> {
        self.by_name
            .get(name.to_ascii_lowercase().as_str())
            .copied()
    }

    /// The row as it is sent (canonical name and value), or why it cannot
    /// be. The message never repeats the value: it may be a key.
    pub fn check(&self, row: &ReplyOverride) -> Result<ReplyOverride, String> {
        let name = row.attribute.trim();
        let op = row.op.trim();
        if name.is_empty() {
            return Err("no attribute name".into());
        }
        if !matches!(op, ":=" | "=" | "+=") {
            return Err(format!(
                "operator {op} does not apply to a reply (only :=, = and +=)"
            ));
        }
        let (name, value) = match self.get(name) {
            Some(a) => (a.name.to_owned(), value_of(a, &row.value)?),
            None => (name.to_owned(), self.raw_value(name, &row.value)?),
        };
        Ok(ReplyOverride {
            attribute: name,
            op: op.to_owned(),
            value,
        })
    }

    /// A name that is not in this dictionary: a raw MikroTik attribute
    /// (`Attr-26.14988.N`, hex value), or refused.
    fn raw_value(&self, name: &str, value: &str) -> Result<String, String> {
        if Dictionary::standard().get(name).is_some() {
            return Err(
                "this radiusd's FreeRADIUS dictionary does not have the attribute \
                 as Netily knows it (its start-up log says how they differ)"
                    .into(),
            );
        }
        let number = name
            .get(..RAW_MIKROTIK.len())
            .filter(|p| p.eq_ignore_ascii_case(RAW_MIKROTIK))
            .and_then(|_| name.get(RAW_MIKROTIK.len()..))
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|n| (1..=255).contains(n));
        let Some(number) = number else {
            return Err(
                "unknown attribute: not a reply attribute of FreeRADIUS's dictionary that \
                 Netily sends (RFC 2865, 2869, 3162, 4675, 4818, 6911, MikroTik), nor \
                 Attr-26.14988.N"
                    .into(),
            );
        };
        if let Some(known) = REPLY_ATTRIBUTES
            .iter()
            .find(|a| a.vendor == VENDOR_MIKROTIK && a.number == number)
        {
            return Err(format!("write it as {}", known.name));
        }
        match hex(value.trim()) {
            Some(bytes) if !bytes.is_empty() => octets(&bytes),
            _ => Err("a raw attribute's value is 0x and hex digits, 1 to 253 bytes".into()),
        }
    }

    /// Leaves the rows this dictionary refuses out of `record`'s replies,
    /// into its `skipped_replies` with the reason, and puts the others in
    /// the form they are sent. Idempotent.
    pub fn screen(&self, record: &mut SubscriberRecord) {
        for (source, rows) in [
            (ReplySource::Group, &mut record.group_replies),
            (ReplySource::User, &mut record.user_replies),
        ] {
            let mut kept = Vec::with_capacity(rows.len());
            for row in rows.drain(..) {
                match self.check(&row) {
                    Ok(sent) => kept.push(sent),
                    Err(reason) => record.skipped_replies.push(SkippedReply {
                        source,
                        row,
                        reason,
                    }),
                }
            }
            *rows = kept;
        }
    }
}

/// The value as it is sent for attribute `a`, or why it cannot be.
fn value_of(a: &Attribute, value: &str) -> Result<String, String> {
    match a.kind {
        AttrType::String if a.vendor == VENDOR_MIKROTIK && a.number == 8 => {
            RateLimit::parse_routeros(value)
                .map(|r| r.to_string())
                .map_err(|e| e.to_string())
        }
        AttrType::String => {
            if value.len() > MAX_VALUE {
                Err(format!(
                    "{} bytes long; a RADIUS attribute holds at most {MAX_VALUE}",
                    value.len()
                ))
            } else if value.contains('\0') {
                Err("contains a NUL byte".into())
            } else {
                Ok(value.to_owned())
            }
        }
        AttrType::Octets => match value.get(..2) {
            Some(p) if p.eq_ignore_ascii_case("0x") => match hex(value) {
                Some(bytes) => octets(&bytes),
                None => Err("0x must be followed by pairs of hex digits".into()),
            },
            _ => octets(value.as_bytes()),
        },
        AttrType::Integer => integer(a, value.trim()),
        AttrType::Ipv4Addr => {
            let v = value.trim();
            v.strip_suffix("/32")
                .unwrap_or(v)
                .parse::<Ipv4Addr>()
                .map(|ip| ip.to_string())
                .map_err(|_| "not an IPv4 address (a.b.c.d; host names are not looked up)".into())
        }
        AttrType::Ipv6Addr => {
            let v = value.trim();
            v.strip_suffix("/128")
                .unwrap_or(v)
                .parse::<Ipv6Addr>()
                .map(|ip| ip.to_string())
                .map_err(|_| "not an IPv6 address (host names are not looked up)".into())
        }
        AttrType::Ipv6Prefix => ipv6_prefix(value.trim()),
    }
}

/// A whole number in range, or a value name sent by its canonical spelling.
fn integer(a: &Attribute, v: &str) -> Result<String, String> {
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        let n: u32 = v.parse().map_err(|_| {
            format!(
                "{v} is out of range; an integer attribute holds 0 to {}",
                u32::MAX
            )
        })?;
        // The dictionary's name, as FreeRADIUS shows the value.
        let name = a.values.iter().find(|(_, value)| *value == n);
        return Ok(name.map_or_else(|| n.to_string(), |(name, _)| (*name).to_owned()));
    }
    if let Some((name, _)) = a
        .values
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(v))
    {
        return Ok((*name).to_owned());
    }
    let mut why = format!("not a whole number from 0 to {}", u32::MAX);
    if !a.values.is_empty() {
        why.push_str(" nor one of ");
        for (i, (name, _)) in a.values.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            let _ = write!(why, "{sep}{name}");
        }
    }
    Err(why)
}

/// `addr/len` (or `addr`, /128), host bits cleared as FreeRADIUS does.
fn ipv6_prefix(v: &str) -> Result<String, String> {
    let bad = || "not an IPv6 prefix (addr/len, len 0 to 128; host names are not looked up)";
    let (addr, len) = v.split_once('/').unwrap_or((v, "128"));
    let addr: Ipv6Addr = addr.parse().map_err(|_| bad())?;
    let len: u32 = if !len.is_empty() && len.bytes().all(|b| b.is_ascii_digit()) {
        len.parse().map_err(|_| bad())?
    } else {
        return Err(bad().into());
    };
    if len > 128 {
        return Err(bad().into());
    }
    let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
    Ok(format!("{}/{len}", Ipv6Addr::from(u128::from(addr) & mask)))
}

/// `0x` and pairs of hex digits as bytes.
fn hex(v: &str) -> Option<Vec<u8>> {
    let digits = v
        .get(2..)
        .filter(|_| v.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("0x")))?;
    if digits.len() % 2 != 0 {
        return None;
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| {
            digits
                .get(i..i + 2)
                .and_then(|d| u8::from_str_radix(d, 16).ok())
        })
        .collect()
}

/// Octets as sent: lower-case hex, as FreeRADIUS prints them.
fn octets(bytes: &[u8]) -> Result<String, String> {
    if bytes.len() > MAX_VALUE {
        return Err(format!(
            "{} bytes long; a RADIUS attribute holds at most {MAX_VALUE}",
            bytes.len()
        ));
    }
    let mut out = String::with_capacity(2 + 2 * bytes.len());
    out.push_str("0x");
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    Ok(out)
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

    fn sent(attribute: &str, value: &str) -> (String, String) {
        match Dictionary::standard().check(&row(attribute, ":=", value)) {
            Ok(r) => (r.attribute, r.value),
            Err(e) => panic!("{attribute} := {value:?} refused: {e}"),
        }
    }

    fn refused(attribute: &str, value: &str) -> String {
        match Dictionary::standard().check(&row(attribute, ":=", value)) {
            Ok(r) => panic!("{attribute} := {value:?} accepted as {r:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn integers_are_whole_numbers_in_range_or_value_names() {
        assert_eq!(sent("session-timeout", " 0600 ").1, "600");
        assert_eq!(sent("Session-Timeout", "4294967295").1, "4294967295");
        for (bad, why) in [
            ("abc", "not a whole number"),
            ("12x", "not a whole number"),
            ("-1", "not a whole number"),
            ("", "not a whole number"),
            ("4294967296", "out of range"),
        ] {
            let e = refused("Session-Timeout", bad);
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert_eq!(sent("Service-Type", "framed-user").1, "Framed-User");
        assert_eq!(sent("Service-Type", "2").1, "Framed-User");
        assert_eq!(sent("Service-Type", "99").1, "99");
        assert_eq!(sent("Mikrotik-Wireless-VLANIDtype", "802.1AD").1, "802.1ad");
        let e = refused("Framed-Protocol", "PPPoE");
        assert!(e.contains("nor one of PPP, SLIP"), "{e}");
    }

    #[test]
    fn addresses_are_literals_and_never_looked_up() {
        assert_eq!(sent("Framed-IP-Address", " 10.0.0.9/32").1, "10.0.0.9");
        for bad in [
            "not-an-ip",
            "localhost",
            "10.0.0.256",
            "10.0.0.1/24",
            "167772161",
            "::1",
        ] {
            let e = refused("Framed-IP-Address", bad);
            assert!(e.contains("host names are not looked up"), "{bad}: {e}");
        }
        assert_eq!(
            sent("Framed-IPv6-Address", "2001:DB8::0001").1,
            "2001:db8::1"
        );
        assert!(refused("Framed-IPv6-Address", "ip6-localhost").contains("IPv6"));
        assert_eq!(
            sent("Framed-IPv6-Prefix", "2001:db8:1::5/48").1,
            "2001:db8:1::/48"
        );
        assert_eq!(
            sent("Delegated-IPv6-Prefix", "2001:db8::1").1,
            "2001:db8::1/128"
        );
        assert_eq!(sent("Delegated-IPv6-Prefix", "::/0").1, "::/0");
        for bad in ["2001:db8::/129", "2001:db8::/", "2001:db8::/x", "host/64"] {
            refused("Framed-IPv6-Prefix", bad);
        }
    }

    #[test]
    fn strings_and_octets_fit_one_attribute() {
        assert_eq!(sent("reply-message", " hi \\ ").1, " hi \\ ");
        assert_eq!(sent("Reply-Message", "").1, "");
        sent("Reply-Message", &"x".repeat(253));
        assert!(refused("Reply-Message", &"x".repeat(254)).contains("254 bytes"));
        assert!(refused("Filter-Id", "a\0b").contains("NUL"));
        assert_eq!(sent("Class", "0x0A0b").1, "0x0a0b");
        assert_eq!(sent("Class", "ab").1, "0x6162");
        assert!(refused("Class", "0x123").contains("pairs of hex digits"));
        assert!(refused("Class", "0xzz").contains("pairs of hex digits"));
        assert!(refused("Class", &format!("0x{}", "00".repeat(254))).contains("254 bytes"));
    }

    #[test]
    fn an_override_rate_limit_is_read_as_routeros_reads_it() {
        assert_eq!(sent("Mikrotik-Rate-Limit", "10000/20000").1, "10k/20k");
        assert_eq!(sent("Mikrotik-Rate-Limit", "5M/10M").1, "5M/10M");
        assert_eq!(sent("Mikrotik-Rate-Limit", "20M").1, "20M/20M");
        let e = refused("Mikrotik-Rate-Limit", "fast please");
        assert!(e.starts_with("Mikrotik-Rate-Limit:"), "{e}");
    }

    #[test]
    fn unknown_names_operators_and_raw_forms() {
        for (name, value) in [
            ("No-Such-Attribute", "x"),
            ("Tunnel-Type", "VLAN"),
            ("User-Password", "x"),
            ("Attr-27", "0x01"),
            ("Attr-26.14988.256", "0x01"),
            ("Attr-26.9.1", "0x01"),
        ] {
            let e = refused(name, value);
            assert!(e.starts_with("unknown attribute"), "{name}: {e}");
        }
        assert!(refused("  ", "x").contains("no attribute name"));
        let d = Dictionary::standard();
        for op in ["==", "-=", "!*", "<=", ""] {
            let e = d
                .check(&row("Reply-Message", op, "x"))
                .map_or_else(|e| e, |r| panic!("{op}: {r:?}"));
            assert!(e.contains("only :=, = and +="), "{op}: {e}");
        }
        let appended = d.check(&row(" Mikrotik-Address-List ", " += ", "vip"));
        assert_eq!(appended, Ok(row("Mikrotik-Address-List", "+=", "vip")));
        assert_eq!(
            sent("attr-26.14988.99", "0X4142"),
            ("attr-26.14988.99".into(), "0x4142".into())
        );
        assert!(refused("Attr-26.14988.99", "AB").contains("0x and hex digits"));
        assert!(refused("Attr-26.14988.99", "0x").contains("0x and hex digits"));
        assert_eq!(
            refused("Attr-26.14988.8", "0x01"),
            "write it as Mikrotik-Rate-Limit"
        );
    }

    #[test]
    fn a_sent_row_checks_again_unchanged() {
        let d = Dictionary::standard();
        for (a, v) in [
            ("Mikrotik-Rate-Limit", "10000/20000 0/30000"),
            ("Service-Type", "2"),
            ("Class", "text"),
            ("Framed-IPv6-Prefix", "2001:db8:1::5/48"),
            ("Attr-26.14988.99", "0x4142"),
            ("framed-ip-address", "10.0.0.1/32"),
        ] {
            let once = d.check(&row(a, ":=", v)).map_err(|e| format!("{a}: {e}"));
            let twice = once
                .clone()
                .and_then(|r| d.check(&r).map_err(|e| format!("{a}: {e}")));
            assert_eq!(once, twice);
        }
    }

    #[test]
    fn a_record_keeps_good_rows_and_names_the_skipped_ones() {
        let mut r: SubscriberRecord = serde_json::from_str(
            r#"{"subscriber": {"id": 1, "username": "alice", "password": "pw", "full_name": "A",
                               "status": "active", "mac_binding": null, "static_ip": null},
                "plan": null, "subscription": null, "unpaid_invoices": [], "cycle_usage_bytes": 0,
                "open_sessions": [],
                "group_replies": [{"attribute": "Session-Timeout", "op": ":=", "value": "abc"},
                                  {"attribute": "Mikrotik-Rate-Limit", "op": ":=", "value": "10000"}],
                "user_replies": [{"attribute": "Framed-IP-Address", "op": ":=", "value": "not-an-ip"}]}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let d = Dictionary::standard();
        d.screen(&mut r);
        assert_eq!(
            r.group_replies,
            [row("Mikrotik-Rate-Limit", ":=", "10k/10k")]
        );
        assert!(r.user_replies.is_empty());
        let skipped: Vec<_> = r
            .skipped_replies
            .iter()
            .map(|s| (s.source, s.row.attribute.as_str(), s.row.value.as_str()))
            .collect();
        assert_eq!(
            skipped,
            [
                (ReplySource::Group, "Session-Timeout", "abc"),
                (ReplySource::User, "Framed-IP-Address", "not-an-ip")
            ]
        );
        let before = r.clone();
        d.screen(&mut r);
        assert_eq!(r, before, "screening twice changes nothing");
    }

    #[test]
    fn a_dictionary_without_an_attribute_skips_its_rows_and_says_why() {
        let d = Dictionary::only(|a| a.name != "Framed-IPv6-Prefix");
        assert_eq!(d.len(), REPLY_ATTRIBUTES.len() - 1);
        let e = d
            .check(&row("Framed-IPv6-Prefix", ":=", "2001:db8::/64"))
            .map_or_else(|e| e, |r| panic!("{r:?}"));
        assert!(e.contains("this radiusd's FreeRADIUS dictionary"), "{e}");
    }

    #[test]
    fn the_table_has_each_name_once_with_the_dictionary_numbers() {
        assert_eq!(Dictionary::standard().len(), REPLY_ATTRIBUTES.len());
        let rate = Dictionary::standard().get("MIKROTIK-RATE-LIMIT");
        assert_eq!(rate.map(|a| (a.vendor, a.number)), Some((14988, 8)));
        for a in REPLY_ATTRIBUTES {
            assert!(
                a.values.is_empty() || a.kind == AttrType::Integer,
                "{}",
                a.name
            );
            assert!(a.number >= 1 && a.number <= 255, "{}", a.name);
        }
    }
}
