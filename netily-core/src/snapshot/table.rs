//! Every subscriber's compact record in one vector, found by username and by
//! id through two indexes that hold only positions (a username is stored
//! once, in its record), and the plans, one shared copy each.
//!
//! A full load goes into the table in place ([`Table::begin_pass`],
//! [`Table::upsert`], [`Table::end_pass`]): each subscriber's new record
//! replaces its old one as it arrives, and those no longer in the database
//! go at the end, so a resync never holds two copies of the snapshot.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

use hashbrown::HashTable;

use super::compact::Compact;
use crate::model::{OpenSession, Plan, SubscriberRecord};

#[derive(Default)]
pub struct Table {
    records: Vec<Compact>,
    by_name: HashTable<u32>,
    by_id: HashTable<u32>,
    hasher: RandomState,
    plans: HashMap<i64, Arc<Plan>>,
    /// During a pass: which positions it has put in place.
    seen: Option<Vec<bool>>,
}

impl Table {
    pub fn new() -> Table {
        Table::default()
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    fn name_hash(&self, name: &str) -> u64 {
        self.hasher.hash_one(name)
    }

    fn id_hash(&self, id: i64) -> u64 {
        self.hasher.hash_one(id)
    }

    fn position(&self, name: &str) -> Option<usize> {
        let records = &self.records;
        self.by_name
            .find(self.name_hash(name), |&i| {
                records[i as usize].username() == name
            })
            .map(|&i| i as usize)
    }

    fn position_of_id(&self, id: i64) -> Option<usize> {
        let records = &self.records;
        self.by_id
            .find(self.id_hash(id), |&i| records[i as usize].id() == id)
            .map(|&i| i as usize)
    }

    /// The record of `name`, decoded.
    pub fn get(&self, name: &str) -> Option<SubscriberRecord> {
        self.position(name).map(|i| self.records[i].record())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.position(name).is_some()
    }

    /// The shared copy of `plan`: the one held when equal, else this one
    /// (held from now on).
    fn share(&mut self, plan: Option<Plan>) -> Option<Arc<Plan>> {
        let plan = plan?;
        match self.plans.get(&plan.id) {
            Some(held) if **held == plan => Some(Arc::clone(held)),
            _ => {
                let shared = Arc::new(plan);
                self.plans.insert(shared.id, Arc::clone(&shared));
                Some(shared)
            }
        }
    }

    /// Puts `record` in place of the record with its username or its id
    /// (a rename drops the old name), or adds it.
    pub fn upsert(&mut self, mut record: SubscriberRecord) {
        let plan = self.share(record.plan.take());
        let compact = Compact::new(record, plan);
        // A name now another id's: its old holder goes (renamed or gone).
        if let Some(n) = self.position(compact.username()) {
            if self.records[n].id() != compact.id() {
                self.remove_at(n);
            }
        }
        self.upsert_compact(compact);
    }

    fn upsert_compact(&mut self, compact: Compact) {
        let at = match self.position_of_id(compact.id()) {
            Some(i) => {
                if self.records[i].username() != compact.username() {
                    self.unindex_name(i);
                    self.records[i] = compact;
                    self.index_name(i);
                } else {
                    self.records[i] = compact;
                }
                i
            }
            None => {
                let i = self.records.len();
                self.records.push(compact);
                self.index_name(i);
                self.index_id(i);
                i
            }
        };
        if let Some(seen) = &mut self.seen {
            if seen.len() <= at {
                seen.resize(at + 1, false);
            }
            seen[at] = true;
        }
    }

    fn index_name(&mut self, i: usize) {
        let hash = self.name_hash(self.records[i].username());
        let (records, hasher) = (&self.records, &self.hasher);
        self.by_name.insert_unique(hash, i as u32, |&j| {
            hasher.hash_one(records[j as usize].username())
        });
    }

    fn index_id(&mut self, i: usize) {
        let hash = self.id_hash(self.records[i].id());
        let (records, hasher) = (&self.records, &self.hasher);
        self.by_id.insert_unique(hash, i as u32, |&j| {
            hasher.hash_one(records[j as usize].id())
        });
    }

    fn unindex_name(&mut self, i: usize) {
        let hash = self.name_hash(self.records[i].username());
        if let Ok(entry) = self.by_name.find_entry(hash, |&j| j as usize == i) {
            entry.remove();
        }
    }

    fn unindex_id(&mut self, i: usize) {
        let hash = self.id_hash(self.records[i].id());
        if let Ok(entry) = self.by_id.find_entry(hash, |&j| j as usize == i) {
            entry.remove();
        }
    }

    /// Removes position `i`; the last record takes its place.
    fn remove_at(&mut self, i: usize) {
        self.unindex_name(i);
        self.unindex_id(i);
        let last = self.records.len() - 1;
        if i != last {
            // The last record's index entries move with it.
            self.unindex_name(last);
            self.unindex_id(last);
            self.records.swap_remove(i);
            self.index_name(i);
            self.index_id(i);
        } else {
            self.records.pop();
        }
        if let Some(seen) = &mut self.seen {
            if i < seen.len() {
                let moved = seen.get(last).copied().unwrap_or(false);
                seen[i] = moved;
            }
            seen.truncate(last);
        }
    }

    pub fn remove(&mut self, name: &str) {
        if let Some(i) = self.position(name) {
            self.remove_at(i);
        }
    }

    /// Starts a full pass: from here on [`Table::upsert`] marks what the
    /// database still has.
    pub fn begin_pass(&mut self) {
        self.seen = Some(vec![false; self.records.len()]);
    }

    /// Ends a full pass: the records it did not put in place are gone from
    /// the database, and so are plans no record is on. Returns how many
    /// records went.
    pub fn end_pass(&mut self) -> usize {
        let Some(mut seen) = self.seen.take() else {
            return 0;
        };
        seen.resize(self.records.len(), false);
        let gone: Vec<usize> = (0..seen.len()).rev().filter(|&i| !seen[i]).collect();
        drop(seen);
        // Highest first: the record moved into a hole is always a kept one.
        for &i in &gone {
            self.remove_at(i);
        }
        self.plans.retain(|_, p| Arc::strong_count(p) > 1);
        gone.len()
    }

    /// Changes the open sessions of `name`'s record; false when no such
    /// record.
    pub(crate) fn change_sessions(
        &mut self,
        name: &str,
        change: impl FnOnce(&mut Vec<OpenSession>),
    ) -> bool {
        match self.position(name) {
            Some(i) => {
                self.records[i].with_sessions(change);
                true
            }
            None => false,
        }
    }

    /// The open sessions of `name` (empty for an unknown name).
    pub fn open_sessions(&self, name: &str) -> Vec<OpenSession> {
        self.position(name)
            .map(|i| self.records[i].open_sessions())
            .unwrap_or_default()
    }

    /// Swaps in a changed plan for every subscriber on it; the usernames
    /// of those online go to `online`.
    pub fn replace_plan(&mut self, plan: Plan, online: &mut Vec<String>) {
        let shared = Arc::new(plan);
        for rec in &mut self.records {
            if rec.plan().is_some_and(|p| p.id == shared.id) {
                if rec.is_online() {
                    online.push(rec.username().to_owned());
                }
                rec.set_plan(Arc::clone(&shared));
            }
        }
        self.plans.insert(shared.id, shared);
    }

    /// The records of every subscriber with an open session.
    pub fn online(&self) -> impl Iterator<Item = SubscriberRecord> + '_ {
        self.records
            .iter()
            .filter(|r| r.is_online())
            .map(Compact::record)
    }

    /// The records whose override rows were screened out (for the log).
    pub fn with_skipped_rows(&self) -> impl Iterator<Item = SubscriberRecord> + '_ {
        self.records
            .iter()
            .filter(|r| r.rare().is_some_and(|r| !r.skipped_replies.is_empty()))
            .map(Compact::record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: i64, name: &str) -> SubscriberRecord {
        serde_json::from_value(serde_json::json!({
            "subscriber": {"id": id, "username": name, "password": format!("{name}-pw"),
                           "full_name": "", "status": "active", "mac_binding": null,
                           "static_ip": null},
            "plan": null, "subscription": null, "unpaid_invoices": [], "cycle_usage_bytes": 0,
            "usage_cycle_start": null, "open_sessions": [], "group_replies": [],
            "user_replies": []
        }))
        .expect("a valid record")
    }

    fn names(t: &Table) -> Vec<String> {
        let mut v: Vec<String> = t.records.iter().map(|r| r.username().to_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn records_are_found_by_name_after_adds_renames_and_removals() {
        let mut t = Table::new();
        for i in 0..100 {
            t.upsert(rec(i, &format!("u{i}")));
        }
        t.upsert(rec(5, "renamed"));
        assert!(!t.contains("u5"));
        assert_eq!(t.get("renamed").map(|r| r.subscriber.id), Some(5));
        t.remove("u0");
        t.remove("u50");
        assert_eq!(t.len(), 98);
        for i in (1..100).filter(|&i| i != 5 && i != 50) {
            let r = t.get(&format!("u{i}")).expect("still there");
            assert_eq!(r.subscriber.id, i);
        }
        // A name taken over by another id: the old holder goes.
        t.upsert(rec(7, "u8"));
        assert_eq!(t.get("u8").map(|r| r.subscriber.id), Some(7));
        assert!(!t.contains("u7"));
        assert_eq!(t.len(), 97);
    }

    #[test]
    fn a_pass_keeps_what_it_saw_and_drops_the_rest() {
        let mut t = Table::new();
        for i in 0..10 {
            t.upsert(rec(i, &format!("u{i}")));
        }
        t.begin_pass();
        for i in [9, 2, 4, 11] {
            t.upsert(rec(i, &format!("u{i}")));
        }
        // Served throughout: the old records until the end of the pass.
        assert!(t.contains("u0") && t.contains("u11"));
        assert_eq!(t.end_pass(), 7);
        assert_eq!(names(&t), ["u11", "u2", "u4", "u9"]);
        for n in ["u11", "u2", "u4", "u9"] {
            assert!(t.get(n).is_some(), "{n}");
        }
    }

    #[test]
    fn equal_plans_are_shared_and_a_changed_plan_replaces_them() {
        let plan: Plan = serde_json::from_str(
            r#"{"id": 3, "name": "gold", "rate": "10M/20M", "data_cap_bytes": null,
                "fair_use_rate": null, "session_timeout": null, "idle_timeout": null,
                "interim_interval": null, "ip_pool": null, "mikrotik_group": null,
                "address_list": null, "simultaneous_use": null, "price_cents": 100}"#,
        )
        .expect("a plan");
        let mut t = Table::new();
        for i in 0..3 {
            let mut r = rec(i, &format!("u{i}"));
            r.plan = Some(plan.clone());
            t.upsert(r);
        }
        assert_eq!(Arc::strong_count(&t.plans[&3]), 4);
        let mut changed = plan.clone();
        changed.name = "platinum".into();
        let mut online = vec![];
        t.replace_plan(changed, &mut online);
        assert!(online.is_empty());
        assert_eq!(
            t.get("u1").and_then(|r| r.plan).map(|p| p.name),
            Some("platinum".into())
        );
        assert_eq!(Arc::strong_count(&t.plans[&3]), 4);
    }
}
