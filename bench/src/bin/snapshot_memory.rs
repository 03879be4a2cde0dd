//! `make bench-memory`, in process: the bytes the subscriber snapshot's
//! table allocates for N subscribers shaped as `netadmin seed synthetic`
//! makes them (two plans, every tenth with an unpaid invoice), counted by
//! a global allocator; quicker to iterate on than a real radiusd.
//!
//! Environment: BENCH_SUBSCRIBERS [1000000], BENCH_ONLINE [0] percent of
//! them with one open session (as RouterOS reports it).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use netily_core::model::{OpenSession, Plan, SubscriberRecord, SubscriberStatus, UnpaidInvoice};
use netily_core::snapshot::Table;

/// The system allocator, counting the bytes in use and their peak.
struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed through to the system allocator unchanged;
// the counters are only arithmetic on the sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = IN_USE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let now = IN_USE.fetch_add(new_size, Ordering::Relaxed) + new_size;
        PEAK.fetch_max(now, Ordering::Relaxed);
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Subscriber 0 as `seed synthetic` makes them, on plan 1.
fn template() -> SubscriberRecord {
    serde_json::from_value(serde_json::json!({
        "subscriber": {"id": 0, "username": "", "password": "", "full_name": "",
                       "status": "active", "mac_binding": null, "static_ip": null},
        "plan": {"id": 1, "name": "synthetic-10M", "rate": "5M/10M", "data_cap_bytes": null,
                 "fair_use_rate": null, "session_timeout": null, "idle_timeout": null,
                 "interim_interval": 300, "ip_pool": null, "mikrotik_group": null,
                 "address_list": null, "simultaneous_use": null, "price_cents": 1500},
        "subscription": {"id": 0, "plan_id": 1, "starts_at": 1_700_000_000, "expires_at": null,
                         "active": true, "cycle_start": 1_700_000_000},
        "unpaid_invoices": [], "cycle_usage_bytes": 0, "usage_cycle_start": 1_700_000_000,
        "open_sessions": [], "group_replies": [], "user_replies": []
    }))
    .expect("a valid record")
}

/// Subscriber `i` as `seed synthetic` makes it: every fourth on plan 2,
/// every tenth with an unpaid invoice, every hundredth suspended.
fn synthetic(i: i64, template: &SubscriberRecord, plan2: &Plan, online: i64) -> SubscriberRecord {
    let mut r = template.clone();
    let s = &mut r.subscriber;
    s.id = i;
    s.username = format!("synth{i:07}");
    s.password = format!("{:032x}", (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    s.full_name = format!("Synthetic Subscriber {i}");
    if i % 100 == 0 {
        s.status = SubscriberStatus::Suspended;
    }
    if let Some(sub) = r.subscription.as_mut() {
        sub.id = i;
    }
    if i % 4 == 0 {
        r.plan = Some(plan2.clone());
    }
    if i % 10 == 0 {
        r.unpaid_invoices.push(UnpaidInvoice {
            id: i,
            number: format!("SYN-{i:07}"),
            amount_cents: 1500,
            due_at: 1_700_000_000,
        });
    }
    if i % 100 < online {
        r.open_sessions.push(OpenSession {
            // 32 lowercase hex digits, as the stock acct_unique md5 (and
            // rlm_netily's) gives.
            acct_unique_id: format!(
                "{:016x}{:016x}",
                (i as u64).wrapping_mul(0x2545_f491_4f6c_dd1d),
                (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ),
            nas_ip: format!("10.0.{}.{}", i / 256 % 256, i % 256),
            calling_station_id: Some(format!(
                "AA:BB:CC:{:02X}:{:02X}:{:02X}",
                i >> 16 & 255,
                i >> 8 & 255,
                i & 255
            )),
            started_at: 1_700_000_000 + i,
        });
    }
    r
}

fn main() {
    let n: i64 = std::env::var("BENCH_SUBSCRIBERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let online: i64 = std::env::var("BENCH_ONLINE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let template = template();
    let mut plan2 = template.plan.clone().expect("a plan");
    plan2.id = 2;
    plan2.name = "synthetic-50M-fair".into();
    plan2.rate = "25M/50M 50M/100M 20M/40M 16/16 8".parse().expect("a rate");
    let base = IN_USE.load(Ordering::Relaxed);
    let started = Instant::now();
    let mut table = Table::new();
    for i in 1..=n {
        table.upsert(synthetic(i, &template, &plan2, online));
    }
    let load = started.elapsed();
    let held = IN_USE.load(Ordering::Relaxed) - base;
    let load_peak = PEAK.load(Ordering::Relaxed) - base;

    // A full pass over the same subscribers, as a resync does it.
    PEAK.store(IN_USE.load(Ordering::Relaxed), Ordering::Relaxed);
    let started = Instant::now();
    table.begin_pass();
    for i in 1..=n {
        table.upsert(synthetic(i, &template, &plan2, online));
    }
    table.end_pass();
    let pass = started.elapsed();
    let pass_peak = PEAK.load(Ordering::Relaxed) - base;

    // What a login pays: find the record and decode it.
    let lookups = 1_000_000.min(n);
    let started = Instant::now();
    let mut found = 0;
    for k in 0..lookups {
        // Spread over the table, as logins are.
        let i = 1 + (k * 7919) % n;
        found += usize::from(table.get(&format!("synth{i:07}")).is_some());
    }
    let lookup_ns = started.elapsed().as_nanos() as f64 / lookups as f64;
    assert_eq!(found, lookups as usize);

    let per = |b: usize| b as f64 / n as f64;
    println!(
        "snapshot table, {n} synthetic subscribers ({online}% online): {:.0} B/subscriber allocated \
         ({:.1} MiB), peak while loading {:.0} B/subscriber, during a full pass {:.0} \
         B/subscriber; load {:.2} s, pass {:.2} s, a lookup {:.0} ns (one thread, \
         no database)",
        per(held),
        held as f64 / 1048576.0,
        per(load_peak),
        per(pass_peak),
        load.as_secs_f64(),
        pass.as_secs_f64(),
        lookup_ns
    );
    assert_eq!(table.len(), n as usize);
}
