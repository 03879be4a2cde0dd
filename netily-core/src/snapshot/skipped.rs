//! The log's side of screened override rows: each row FreeRADIUS could not
//! send is named once, not at every load or for every member of its group.

use std::collections::{HashMap, HashSet};

use crate::model::{ReplyOverride, ReplySource, SkippedReply, SubscriberRecord};

/// At most this many skipped override rows are named per load; the rest
/// are counted in one line.
pub(super) const MAX_SKIPPED_LINES: usize = 10;

/// The skipped override rows the log has named, so each is named once:
/// per username for its radreply rows, under None for radgroupreply rows
/// (one row reaches every member of the group).
#[derive(Default)]
pub(super) struct SkippedRows {
    said: HashMap<Option<String>, HashSet<ReplyOverride>>,
}

impl SkippedRows {
    /// The log lines for the skipped rows of `records` not named before: on
    /// a full load (`full`), those not skipped in the previous load; on a
    /// reload of some users, those not named yet. At most
    /// [`MAX_SKIPPED_LINES`] rows are named, the rest counted exactly.
    pub(super) fn note<'a>(
        &mut self,
        records: impl IntoIterator<Item = &'a SubscriberRecord>,
        full: bool,
    ) -> Vec<String> {
        let mut before = if full {
            std::mem::take(&mut self.said)
        } else {
            HashMap::new()
        };
        let mut lines = Vec::new();
        let mut unnamed = 0u64;
        for r in records {
            let user = &r.subscriber.username;
            if !full {
                // A reloaded user's rows are all here: they replace what was said.
                if let Some(old) = self.said.remove(&Some(user.clone())) {
                    before.insert(Some(user.clone()), old);
                }
            }
            for s in &r.skipped_replies {
                let owner = match s.source {
                    ReplySource::User | ReplySource::UserCheck => Some(user.clone()),
                    ReplySource::Group | ReplySource::GroupCheck => None,
                };
                let said = before.get(&owner).is_some_and(|b| b.contains(&s.row));
                let new = self.said.entry(owner).or_default().insert(s.row.clone());
                if said || !new {
                    continue;
                }
                if lines.len() < MAX_SKIPPED_LINES {
                    lines.push(skipped_line(user, s));
                } else {
                    unnamed += 1;
                }
            }
        }
        if unnamed > 0 {
            lines.push(format!(
                "{unnamed} more reply rows skipped (not named here); \
                 netadmin check USER names a subscriber's"
            ));
        }
        lines
    }
}

/// One skipped row, for the log: never its value (a row may hold a key);
/// `netadmin check` shows it.
fn skipped_line(user: &str, s: &SkippedReply) -> String {
    let (attribute, op) = (s.row.attribute.escape_debug(), s.row.op.escape_debug());
    let user = user.escape_debug();
    match s.source {
        ReplySource::User => format!(
            "reply row skipped for user \"{user}\": {attribute} {op} (value not logged): {}; \
             netadmin check {user} shows it",
            s.reason
        ),
        ReplySource::Group => format!(
            "reply row skipped: {attribute} {op} (a group row of user \"{user}\" and maybe \
             others; value not logged): {}; netadmin check {user} shows it",
            s.reason
        ),
        ReplySource::UserCheck | ReplySource::GroupCheck => format!(
            "{} row of user \"{user}\" not used: {attribute} {op} (value not logged): {}; \
             netadmin check {user} shows it",
            s.source.table(),
            s.reason
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dictionary::Dictionary;

    fn alice() -> SubscriberRecord {
        serde_json::from_str(
            r#"{"subscriber": {"id": 1, "username": "alice", "password": "pw", "full_name": "Alice",
                               "status": "active", "mac_binding": null, "static_ip": null},
                "plan": null, "subscription": null, "unpaid_invoices": [], "cycle_usage_bytes": 0,
                "usage_cycle_start": null,
                "open_sessions": [], "group_replies": [], "user_replies": []}"#,
        )
        .expect("a valid record")
    }

    /// `user` with radreply rows `user_rows` and radgroupreply rows
    /// `group_rows` (attribute, value), screened as a load screens them.
    fn with_rows(
        user: &str,
        user_rows: &[(&str, &str)],
        group_rows: &[(&str, &str)],
    ) -> SubscriberRecord {
        let mut rec = alice();
        rec.subscriber.username = user.into();
        let rows = |rows: &[(&str, &str)]| -> Vec<ReplyOverride> {
            rows.iter()
                .map(|(a, v)| ReplyOverride {
                    attribute: (*a).into(),
                    op: ":=".into(),
                    value: (*v).into(),
                })
                .collect()
        };
        rec.user_replies = rows(user_rows);
        rec.group_replies = rows(group_rows);
        Dictionary::standard().screen(&mut rec);
        rec
    }

    #[test]
    fn a_skipped_row_is_logged_once_not_per_load_or_member() {
        let bad_group = [("Session-Timeout", "abc")];
        let alice = with_rows("alice", &[("Framed-IP-Address", "not-an-ip")], &bad_group);
        let bob = with_rows("bob", &[], &bad_group);
        let mut said = SkippedRows::default();
        let lines = said.note([&alice, &bob], true);
        assert_eq!(lines.len(), 2, "{lines:#?}");
        assert!(lines[1].starts_with(
            "reply row skipped for user \"alice\": Framed-IP-Address := (value not logged): not an IPv4"
        ), "{lines:#?}");
        assert!(lines[0].starts_with(
            "reply row skipped: Session-Timeout := (a group row of user \"alice\" and maybe others"
        ), "{lines:#?}");
        assert!(
            !lines.concat().contains("not-an-ip"),
            "values are not logged"
        );

        // The same rows again: a full reload, or alice's record reloaded.
        assert!(said.note([&alice, &bob], true).is_empty());
        assert!(said.note([&alice], false).is_empty());
        // Fixed, then broken again: named again.
        let fixed = with_rows("alice", &[], &bad_group);
        assert!(said.note([&fixed], false).is_empty());
        assert_eq!(said.note([&alice], false).len(), 1);
        // A new bad row of another user is named.
        let carol = with_rows("carol", &[("Idle-Timeout", "x")], &[]);
        assert_eq!(said.note([&carol], false).len(), 1);
    }

    #[test]
    fn a_load_names_a_few_skipped_rows_and_counts_the_rest() {
        let users: Vec<SubscriberRecord> = (0..25)
            .map(|i| with_rows(&format!("u{i}"), &[("No-Such-Attribute", "x")], &[]))
            .collect();
        let lines = SkippedRows::default().note(&users, true);
        assert_eq!(lines.len(), MAX_SKIPPED_LINES + 1);
        assert_eq!(
            lines[MAX_SKIPPED_LINES],
            "15 more reply rows skipped (not named here); netadmin check USER names a subscriber's"
        );
    }
}
