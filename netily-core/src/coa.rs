//! RFC 5176 requests for one online session, as a MikroTik router needs
//! them: the session named by exactly what the router put in accounting
//! (User-Name, Acct-Session-Id, Framed-IP-Address, NAS-IP-Address), an
//! Event-Timestamp, a Message-Authenticator, and for a CoA-Request the new
//! values of the attributes that changed, encoded by the same dictionary
//! that checks override rows.
//!
//! Pure: building and reading packets. The enforcer's sender does the I/O.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::decision::ReplyAttribute;
use crate::dictionary::{AttrType, Dictionary};
use crate::model::UnixTime;
use crate::radius::{self, BadReply, Builder};

/// NAS-IPv6-Address (RFC 3162), for a NAS that reported one.
const NAS_IPV6_ADDRESS: u8 = 95;

/// The attributes [`build`] names the session and signs the request with;
/// none may come again among the changed attributes.
const IDENTITY: [u8; 7] = [
    radius::USER_NAME,
    radius::NAS_IP_ADDRESS,
    radius::FRAMED_IP_ADDRESS,
    radius::ACCT_SESSION_ID,
    radius::EVENT_TIMESTAMP,
    radius::MESSAGE_AUTHENTICATOR,
    NAS_IPV6_ADDRESS,
];

/// Which request (`coa` / `disconnect` in the outcome log and JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// CoA-Request: change attributes of the live session.
    Coa,
    /// Disconnect-Request: end the session.
    Disconnect,
}

impl Kind {
    pub fn code(self) -> u8 {
        match self {
            Kind::Coa => radius::COA_REQUEST,
            Kind::Disconnect => radius::DISCONNECT_REQUEST,
        }
    }

    /// The name the outcome log and netadmin use.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Coa => "coa",
            Kind::Disconnect => "disconnect",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "coa" => Some(Kind::Coa),
            "disconnect" => Some(Kind::Disconnect),
            _ => None,
        }
    }
}

/// The session as the router reported it in accounting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionIdentity {
    pub user_name: String,
    pub acct_session_id: String,
    pub framed_ip: Option<IpAddr>,
    pub nas_ip: Option<IpAddr>,
}

/// What the router answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Ack,
    Nak { error_cause: Option<u32> },
}

impl Answer {
    /// The NAS says it has no such session (Error-Cause 503).
    pub fn session_not_found(self) -> bool {
        matches!(
            self,
            Answer::Nak {
                error_cause: Some(SESSION_CONTEXT_NOT_FOUND)
            }
        )
    }
}

/// Error-Cause 503 (RFC 5176 section 3.5).
pub const SESSION_CONTEXT_NOT_FOUND: u32 = 503;

/// The RFC 5176 name of an Error-Cause value.
pub fn error_cause_name(cause: u32) -> &'static str {
    match cause {
        201 => "Residual-Session-Context-Removed",
        202 => "Invalid-EAP-Packet",
        401 => "Unsupported-Attribute",
        402 => "Missing-Attribute",
        403 => "NAS-Identification-Mismatch",
        404 => "Invalid-Request",
        405 => "Unsupported-Service",
        406 => "Unsupported-Extension",
        407 => "Invalid-Attribute-Value",
        501 => "Administratively-Prohibited",
        502 => "Request-Not-Routable",
        503 => "Session-Context-Not-Found",
        504 => "Session-Context-Not-Removable",
        505 => "Other-Proxy-Processing-Error",
        506 => "Resources-Unavailable",
        507 => "Request-Initiated",
        508 => "Multiple-Session-Selection-Unsupported",
        _ => "unknown",
    }
}

/// Why a reply does not answer the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadAnswer {
    /// Not a well-formed reply signed with the request's authenticator and
    /// the secret.
    Unsigned(BadReply),
    /// Signed, but a Message-Authenticator that does not verify.
    BadMessageAuthenticator,
    /// Signed, but neither this request's ACK nor its NAK.
    UnexpectedCode(u8),
}

impl fmt::Display for BadAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadAnswer::Unsigned(why) => write!(f, "reply not signed with the secret ({why:?})"),
            BadAnswer::BadMessageAuthenticator => write!(f, "reply Message-Authenticator invalid"),
            BadAnswer::UnexpectedCode(c) => write!(f, "reply code {c} does not answer"),
        }
    }
}

/// One attribute ready for the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Encoded {
    vendor: u32,
    number: u8,
    value: Vec<u8>,
}

/// The wire form of `attribute` by the standard dictionary, or why it has
/// none. The message never repeats the value.
fn encode(attribute: &ReplyAttribute) -> Result<Encoded, String> {
    let name = attribute.name.as_ref();
    let entry = Dictionary::standard()
        .get(name)
        .ok_or_else(|| format!("{name} is not an attribute Netily can send in a CoA-Request"))?;
    let number = u8::try_from(entry.number)
        .map_err(|_| format!("{name} has a number a CoA-Request cannot carry"))?;
    if entry.vendor == 0 && IDENTITY.contains(&number) {
        // A second User-Name or Framed-IP-Address would name another session.
        return Err(format!(
            "{name} identifies the session in a CoA-Request; a CoA cannot change it"
        ));
    }
    let text = attribute.value.trim();
    let value = match entry.kind {
        AttrType::String => attribute.value.as_bytes().to_vec(),
        AttrType::Integer => {
            let n = match text.parse::<u32>() {
                Ok(n) => Some(n),
                Err(_) => entry
                    .values
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(text))
                    .map(|(_, v)| *v),
            };
            n.ok_or_else(|| format!("{name}: not an integer"))?
                .to_be_bytes()
                .to_vec()
        }
        AttrType::Ipv4Addr => text
            .parse::<Ipv4Addr>()
            .map_err(|_| format!("{name}: not an IPv4 address"))?
            .octets()
            .to_vec(),
        AttrType::Ipv6Addr => text
            .parse::<Ipv6Addr>()
            .map_err(|_| format!("{name}: not an IPv6 address"))?
            .octets()
            .to_vec(),
        AttrType::Octets | AttrType::Ipv6Prefix => {
            return Err(format!("{name}: a CoA-Request does not carry this type"))
        }
    };
    if value.len() > crate::dictionary::MAX_VALUE - 6 {
        return Err(format!("{name}: value too long"));
    }
    Ok(Encoded {
        vendor: entry.vendor,
        number,
        value,
    })
}

/// Checks that every attribute can be sent; the first that cannot, why.
pub fn check_attributes(attributes: &[ReplyAttribute]) -> Result<(), String> {
    attributes.iter().try_for_each(|a| encode(a).map(|_| ()))
}

/// Builds the request into `b` with identifier `id`, signed with `secret`;
/// returns its authenticator (the answer is checked against it).
pub fn build(
    b: &mut Builder,
    kind: Kind,
    id: u8,
    session: &SessionIdentity,
    attributes: &[ReplyAttribute],
    event_timestamp: UnixTime,
    secret: &[u8],
) -> Result<[u8; 16], String> {
    // The Builder cuts a value at 253 octets: a cut name is another session.
    for (name, value) in [
        ("User-Name", &session.user_name),
        ("Acct-Session-Id", &session.acct_session_id),
    ] {
        if value.len() > crate::dictionary::MAX_VALUE {
            return Err(format!(
                "the session's {name} is {} octets long; RADIUS carries at most {}",
                value.len(),
                crate::dictionary::MAX_VALUE
            ));
        }
    }
    let encoded = attributes
        .iter()
        .map(encode)
        .collect::<Result<Vec<_>, _>>()?;
    b.start(kind.code(), id, &[0u8; 16]);
    b.attr(radius::USER_NAME, session.user_name.as_bytes());
    b.attr(radius::ACCT_SESSION_ID, session.acct_session_id.as_bytes());
    if let Some(IpAddr::V4(ip)) = session.framed_ip {
        b.attr(radius::FRAMED_IP_ADDRESS, &ip.octets());
    }
    match session.nas_ip {
        Some(IpAddr::V4(ip)) => b.attr(radius::NAS_IP_ADDRESS, &ip.octets()),
        Some(IpAddr::V6(ip)) => b.attr(NAS_IPV6_ADDRESS, &ip.octets()),
        None => {}
    }
    let ts = u32::try_from(event_timestamp.max(0)).unwrap_or(u32::MAX);
    b.attr_u32(radius::EVENT_TIMESTAMP, ts);
    for e in &encoded {
        if e.vendor == 0 {
            b.attr(e.number, &e.value);
        } else {
            b.vsa(e.vendor, e.number, &e.value);
        }
    }
    let (packet, auth) = b.finish_change(secret);
    // RFC 2865 section 3: a router drops a longer packet unanswered.
    if packet.len() > radius::MAX_PACKET {
        return Err(format!(
            "the request would be {} octets; RADIUS allows at most {}",
            packet.len(),
            radius::MAX_PACKET
        ));
    }
    Ok(auth)
}

/// Reads the answer to a `kind` request signed with `authenticator`.
pub fn read_answer(
    data: &[u8],
    kind: Kind,
    authenticator: &[u8; 16],
    secret: &[u8],
) -> Result<Answer, BadAnswer> {
    let reply = radius::check_reply(data, authenticator, secret).map_err(BadAnswer::Unsigned)?;
    if reply.message_authenticator == radius::MessageAuthenticator::Invalid {
        return Err(BadAnswer::BadMessageAuthenticator);
    }
    let (ack, nak) = match kind {
        Kind::Coa => (radius::COA_ACK, radius::COA_NAK),
        Kind::Disconnect => (radius::DISCONNECT_ACK, radius::DISCONNECT_NAK),
    };
    match reply.code {
        c if c == ack => Ok(Answer::Ack),
        c if c == nak => Ok(Answer::Nak {
            error_cause: reply.error_cause,
        }),
        c => Err(BadAnswer::UnexpectedCode(c)),
    }
}

/// True when `data` is a VSA of MikroTik's (for tests reading packets).
#[cfg(test)]
fn is_mikrotik_vsa(attr: &[u8], number: u8) -> bool {
    attr.len() >= 8
        && attr[0] == radius::VENDOR_SPECIFIC
        && attr[2..6] == radius::VENDOR_MIKROTIK.to_be_bytes()
        && attr[6] == number
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::{IDLE_TIMEOUT, RATE_LIMIT, SESSION_TIMEOUT};

    fn alice() -> SessionIdentity {
        SessionIdentity {
            user_name: "alice".into(),
            acct_session_id: "81a00001".into(),
            framed_ip: Some("10.0.0.7".parse().unwrap()),
            nas_ip: Some("192.0.2.1".parse().unwrap()),
        }
    }

    /// (type, value) of each attribute of a packet.
    fn attributes(p: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut rest = &p[20..];
        while rest.len() >= 2 {
            let len = rest[1] as usize;
            out.push(rest[..len].to_vec());
            rest = &rest[len..];
        }
        out
    }

    #[test]
    fn a_coa_names_the_session_and_carries_the_new_rate() {
        let mut b = Builder::new();
        let attrs = [
            ReplyAttribute::new(RATE_LIMIT, "2M/4M"),
            ReplyAttribute::new(SESSION_TIMEOUT, "600"),
            ReplyAttribute::new(IDLE_TIMEOUT, "300"),
        ];
        build(&mut b, Kind::Coa, 5, &alice(), &attrs, 1_800_000_000, b"s").unwrap();
        let pkt = b.packet().to_vec();
        assert_eq!(pkt[0], radius::COA_REQUEST);
        let a = attributes(&pkt);
        assert_eq!(a[0], [&[1u8, 7][..], b"alice"].concat());
        assert_eq!(a[1], [&[44u8, 10][..], b"81a00001"].concat());
        assert_eq!(a[2], [8u8, 6, 10, 0, 0, 7]);
        assert_eq!(a[3], [4u8, 6, 192, 0, 2, 1]);
        assert_eq!(a[4][..2], [55u8, 6]);
        assert!(is_mikrotik_vsa(&a[5], 8) && a[5][8..] == *b"2M/4M");
        assert_eq!(a[6], [27u8, 6, 0, 0, 2, 88]);
        assert_eq!(a[7], [28u8, 6, 0, 0, 1, 44]);
        assert_eq!(a[8][..2], [80u8, 18]);
    }

    #[test]
    fn a_disconnect_carries_only_the_identity() {
        let mut b = Builder::new();
        build(&mut b, Kind::Disconnect, 1, &alice(), &[], 1, b"s").unwrap();
        let kinds: Vec<u8> = attributes(b.packet()).iter().map(|a| a[0]).collect();
        assert_eq!(kinds, [1, 44, 8, 4, 55, 80]);
    }

    #[test]
    fn an_attribute_the_dictionary_cannot_encode_is_refused_by_name() {
        let err = check_attributes(&[ReplyAttribute::new("Made-Up", "1")]).unwrap_err();
        assert!(err.contains("Made-Up"), "{err}");
        let err = check_attributes(&[ReplyAttribute::new(SESSION_TIMEOUT, "soon")]).unwrap_err();
        assert!(err.contains("integer") && !err.contains("soon"), "{err}");
    }

    #[test]
    fn an_attribute_that_identifies_the_session_is_refused_as_a_change() {
        // Found by fuzzing (fuzz/corpus/coa_request/user-name-as-a-change):
        // the packet carried two User-Names, naming two sessions.
        for name in ["User-Name", "Framed-IP-Address"] {
            let value = if name == "User-Name" {
                "bob"
            } else {
                "10.0.0.9"
            };
            let mut b = Builder::new();
            let attrs = [ReplyAttribute::new(name, value)];
            let err = build(&mut b, Kind::Coa, 1, &alice(), &attrs, 1, b"s").unwrap_err();
            assert!(
                err.contains(name) && err.contains("identifies the session"),
                "{err}"
            );
            assert!(check_attributes(&attrs).is_err());
        }
    }

    #[test]
    fn a_session_name_too_long_for_radius_is_refused_not_cut() {
        // Found by fuzzing (fuzz/corpus/coa_request/user-name-over-253-octets):
        // the first 253 octets of a User-Name name another session.
        let mut long = alice();
        long.user_name = "a".repeat(254);
        let mut b = Builder::new();
        let err = build(&mut b, Kind::Disconnect, 1, &long, &[], 1, b"s").unwrap_err();
        assert!(err.contains("User-Name is 254 octets"), "{err}");
        long.user_name = "a".repeat(253);
        long.acct_session_id = "1".repeat(300);
        let err = build(&mut b, Kind::Disconnect, 1, &long, &[], 1, b"s").unwrap_err();
        assert!(err.contains("Acct-Session-Id is 300 octets"), "{err}");
        long.acct_session_id = "1".repeat(253);
        build(&mut b, Kind::Disconnect, 1, &long, &[], 1, b"s").unwrap();
    }

    #[test]
    fn a_request_larger_than_radius_allows_is_refused() {
        let mut b = Builder::new();
        let attrs: Vec<ReplyAttribute> = (0..17)
            .map(|_| ReplyAttribute::new("Mikrotik-Address-List", "x".repeat(240)))
            .collect();
        let err = build(&mut b, Kind::Coa, 1, &alice(), &attrs, 1, b"s").unwrap_err();
        assert!(err.contains("at most 4096"), "{err}");
        build(&mut b, Kind::Coa, 1, &alice(), &attrs[..15], 1, b"s").unwrap();
    }

    fn answer(code: u8, attrs: &[u8], req: &[u8; 16]) -> Vec<u8> {
        let len = (20 + attrs.len()) as u16;
        let mut p = vec![code, 1];
        p.extend_from_slice(&len.to_be_bytes());
        let mut h = md5::Md5::default();
        md5::Digest::update(&mut h, &p);
        md5::Digest::update(&mut h, req);
        md5::Digest::update(&mut h, attrs);
        md5::Digest::update(&mut h, b"s");
        let ra: [u8; 16] = md5::Digest::finalize(h).into();
        p.extend_from_slice(&ra);
        p.extend_from_slice(attrs);
        p
    }

    #[test]
    fn answers_are_read_by_kind_and_error_cause() {
        let req = [3u8; 16];
        let ack = answer(radius::DISCONNECT_ACK, &[], &req);
        assert_eq!(
            read_answer(&ack, Kind::Disconnect, &req, b"s"),
            Ok(Answer::Ack)
        );
        assert_eq!(
            read_answer(&ack, Kind::Coa, &req, b"s"),
            Err(BadAnswer::UnexpectedCode(radius::DISCONNECT_ACK))
        );
        let nak = answer(radius::COA_NAK, &[101, 6, 0, 0, 1, 247], &req);
        let a = read_answer(&nak, Kind::Coa, &req, b"s").unwrap();
        assert!(a.session_not_found());
        assert!(read_answer(&nak, Kind::Coa, &req, b"wrong").is_err());
    }
}
