//! The access decision. (STUB — being written by the rules helper.)

use serde::Serialize;

use crate::model::{Policy, SubscriberRecord, UnixTime};

/// What the NAS sent that the decision depends on.
#[derive(Debug, Clone, Default)]
pub struct AccessRequest<'a> {
    pub username: &'a str,
    pub calling_station_id: Option<&'a str>,
}

/// One reply attribute, to be set with replace semantics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplyAttribute {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    Accept {
        #[serde(skip)]
        password: String,
        reply: Vec<ReplyAttribute>,
        walled_garden: bool,
        why: Vec<String>,
    },
    Reject {
        reason: String,
    },
}

pub fn decide(
    record: Option<&SubscriberRecord>,
    request: &AccessRequest<'_>,
    now: UnixTime,
    policy: &Policy,
) -> Decision {
    let _ = (request, now, policy);
    match record {
        None => Decision::Reject {
            reason: "unknown user".into(),
        },
        Some(r) => Decision::Accept {
            password: r.subscriber.password.clone(),
            reply: vec![],
            walled_garden: false,
            why: vec![],
        },
    }
}
