//! Measures the snapshot load and the login hot path on a big database.
//! Ignored by default; run against a database seeded with
//! `netadmin seed synthetic --subscribers 1000000`:
//!
//!   NETILY_BENCH_URL=postgresql://... cargo test --release -p netadmin \
//!       --test snapshot_bench -- --ignored --nocapture

use std::time::Instant;

use netily_core::db;

#[test]
#[ignore]
fn snapshot_and_hot_path_timings() {
    let Ok(url) = std::env::var("NETILY_BENCH_URL") else {
        panic!("set NETILY_BENCH_URL to a seeded database");
    };
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();

    let t = Instant::now();
    let all = db::load_all_subscribers(&mut c).unwrap();
    let secs = t.elapsed().as_secs_f64();
    println!("load_all_subscribers: {} records in {secs:.2} s", all.len());
    assert!(!all.is_empty());

    let names: Vec<String> = all
        .iter()
        .step_by((all.len() / 1000).max(1))
        .map(|r| r.subscriber.username.clone())
        .collect();
    drop(all);
    let t = Instant::now();
    for n in &names {
        assert!(db::load_subscriber(&mut c, n).unwrap().is_some());
    }
    let per = t.elapsed().as_secs_f64() / names.len() as f64;
    println!(
        "load_subscriber: {} lookups, {:.3} ms each (one round trip)",
        names.len(),
        per * 1000.0
    );
}
