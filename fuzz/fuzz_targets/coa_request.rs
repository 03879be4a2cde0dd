//! CoA and Disconnect-Requests built for one session from values a router
//! reported and attributes the decision (or a radreply row) produced. What
//! is built is a well-formed RADIUS packet a router can take: its length
//! field is its size, at most 4096 octets, every attribute in bounds, and it
//! names exactly the session asked for (a cut User-Name or Acct-Session-Id
//! would name another session, or none).
#![no_main]

use std::net::IpAddr;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use netily_core::coa::{build, Kind, SessionIdentity};
use netily_core::decision::ReplyAttribute;
use netily_core::dictionary::REPLY_ATTRIBUTES;
use netily_core::radius::{
    Builder, ACCT_SESSION_ID, HEADER_LEN, MAX_PACKET, MESSAGE_AUTHENTICATOR, USER_NAME,
};

#[derive(Debug, Arbitrary)]
struct Input {
    disconnect: bool,
    id: u8,
    user_name: String,
    acct_session_id: String,
    framed_ip: Option<IpAddr>,
    nas_ip: Option<IpAddr>,
    /// (index into the reply dictionary, or a name of its own; value)
    attributes: Vec<(Result<u8, String>, String)>,
    event_timestamp: i64,
    secret: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let kind = if input.disconnect {
        Kind::Disconnect
    } else {
        Kind::Coa
    };
    let session = SessionIdentity {
        user_name: input.user_name,
        acct_session_id: input.acct_session_id,
        framed_ip: input.framed_ip,
        nas_ip: input.nas_ip,
    };
    let attributes: Vec<ReplyAttribute> = input
        .attributes
        .into_iter()
        .map(|(name, value)| match name {
            Ok(i) => ReplyAttribute::new(
                REPLY_ATTRIBUTES[usize::from(i) % REPLY_ATTRIBUTES.len()].name,
                value,
            ),
            Err(own) => ReplyAttribute::new(own, value),
        })
        .collect();
    let mut b = Builder::new();
    let Ok(_authenticator) = build(
        &mut b,
        kind,
        input.id,
        &session,
        &attributes,
        input.event_timestamp,
        &input.secret,
    ) else {
        return;
    };
    let p = b.packet();
    assert!(p.len() <= MAX_PACKET, "{} octets", p.len());
    assert_eq!(usize::from(u16::from_be_bytes([p[2], p[3]])), p.len());
    assert_eq!((p[0], p[1]), (kind.code(), input.id));
    let mut rest = &p[HEADER_LEN..];
    let (mut user, mut acct, mut macs) = (Vec::new(), Vec::new(), 0);
    while !rest.is_empty() {
        assert!(rest.len() >= 2, "a dangling octet");
        let len = usize::from(rest[1]);
        assert!(
            len >= 2 && len <= rest.len(),
            "attribute {} length {len}",
            rest[0]
        );
        let value = &rest[2..len];
        match rest[0] {
            USER_NAME => user.push(value.to_vec()),
            ACCT_SESSION_ID => acct.push(value.to_vec()),
            MESSAGE_AUTHENTICATOR => macs += 1,
            _ => {}
        }
        rest = &rest[len..];
    }
    assert_eq!(user, [session.user_name.as_bytes()], "User-Name");
    assert_eq!(
        acct,
        [session.acct_session_id.as_bytes()],
        "Acct-Session-Id"
    );
    assert_eq!(macs, 1, "one Message-Authenticator");
});
