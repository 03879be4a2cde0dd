//! A datagram answering a CoA/Disconnect-Request (or any request the load
//! generator and tests send), as `radius::check_reply` and
//! `coa::read_answer` read it. Random bytes almost never carry a valid
//! Response Authenticator, so half the inputs are signed here first, the
//! way a router would sign them: the reader then gets past the MD5 check,
//! must accept the packet, and must judge a Message-Authenticator computed
//! correctly as valid.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use netily_core::coa::{read_answer, Answer, BadAnswer, Kind};
use netily_core::radius::{
    check_reply, hmac_md5, BadReply, MessageAuthenticator, COA_ACK, COA_NAK, DISCONNECT_ACK,
    DISCONNECT_NAK, HEADER_LEN, MESSAGE_AUTHENTICATOR,
};

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    request_authenticator: [u8; 16],
    secret: &'a [u8],
    /// Sign the packet (length, Message-Authenticator, Response Authenticator).
    sign: bool,
    disconnect: bool,
    packet: &'a [u8],
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let kind = if input.disconnect {
        Kind::Disconnect
    } else {
        Kind::Coa
    };
    let mut packet = input.packet.to_vec();
    let mut signed_mac = false;
    if input.sign && packet.len() >= HEADER_LEN && packet.len() <= 4096 {
        signed_mac = sign(&mut packet, &input.request_authenticator, input.secret);
    }
    let auth = &input.request_authenticator;
    let reply = check_reply(&packet, auth, input.secret);
    let answer = read_answer(&packet, kind, auth, input.secret);
    match reply {
        Ok(r) => {
            assert_eq!((r.code, r.id), (packet[0], packet[1]));
            if signed_mac {
                assert_eq!(r.message_authenticator, MessageAuthenticator::Valid);
            }
            let (ack, nak) = match kind {
                Kind::Coa => (COA_ACK, COA_NAK),
                Kind::Disconnect => (DISCONNECT_ACK, DISCONNECT_NAK),
            };
            let expected = match r.message_authenticator {
                MessageAuthenticator::Invalid => Err(BadAnswer::BadMessageAuthenticator),
                _ if r.code == ack => Ok(Answer::Ack),
                _ if r.code == nak => Ok(Answer::Nak {
                    error_cause: r.error_cause,
                }),
                _ => Err(BadAnswer::UnexpectedCode(r.code)),
            };
            assert_eq!(answer, expected);
        }
        Err(why) => {
            assert_eq!(answer, Err(BadAnswer::Unsigned(why)));
            if input.sign && packet.len() >= HEADER_LEN && packet.len() <= 4096 {
                // Signed here: only a broken attribute list may be refused.
                assert_eq!(why, BadReply::Length, "{packet:02x?}");
            }
        }
    }
});

/// Signs `p` as a NAS would: the length field, then (for a reply carrying
/// exactly one 18-octet Message-Authenticator) its HMAC, then the Response
/// Authenticator. True when a Message-Authenticator was computed.
fn sign(p: &mut [u8], request_auth: &[u8; 16], secret: &[u8]) -> bool {
    let len = u16::try_from(p.len()).unwrap_or(u16::MAX);
    p[2..4].copy_from_slice(&len.to_be_bytes());
    let mut mac_at = None;
    let mut macs = 0;
    let mut at = HEADER_LEN;
    while p.len() - at >= 2 {
        let (typ, alen) = (p[at], usize::from(p[at + 1]));
        if alen < 2 || alen > p.len() - at {
            // Malformed: the reader refuses it whatever the MAC.
            mac_at = None;
            macs = 2;
            break;
        }
        if typ == MESSAGE_AUTHENTICATOR {
            macs += 1;
            if alen == 18 {
                mac_at = Some(at + 2);
            }
        }
        at += alen;
    }
    let mac = match (macs, mac_at) {
        (1, Some(at)) => {
            p[4..20].copy_from_slice(request_auth);
            p[at..at + 16].fill(0);
            let mac = hmac_md5(secret, p);
            p[at..at + 16].copy_from_slice(&mac);
            true
        }
        _ => false,
    };
    let mut h = Vec::with_capacity(p.len() + secret.len());
    h.extend_from_slice(&p[..4]);
    h.extend_from_slice(request_auth);
    h.extend_from_slice(&p[20..]);
    h.extend_from_slice(secret);
    let sum = md5(&h);
    p[4..20].copy_from_slice(&sum);
    mac
}

/// The Response Authenticator is plain MD5 (RFC 2865 section 3), which
/// netily-core does not export.
fn md5(data: &[u8]) -> [u8; 16] {
    use md5::{Digest, Md5};
    Md5::digest(data).into()
}
