//! netily.conf.example is what `make install` copies to /etc/netily: it must
//! parse, and (as its header promises) show exactly the defaults.

use std::path::Path;

use netily_core::config::Config;

#[test]
fn example_config_parses_and_shows_the_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../netily.conf.example");
    let parsed = match Config::load(&path) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(parsed, Config::default());
}

#[test]
fn example_config_mentions_every_key_once() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../netily.conf.example");
    let text = std::fs::read_to_string(path).unwrap();
    let keys: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && l.contains('='))
        .map(|l| l.split('=').next().unwrap().trim())
        .collect();
    for key in [
        "database_url",
        "pool_size",
        "connect_timeout",
        "grace_days",
        "walled_garden",
        "walled_garden_address_list",
        "walled_garden_rate",
        "walled_garden_session_timeout",
        "vpn_network",
        "stale_session_margin",
        "default_interim_interval",
        "coa_per_router",
        "coa_timeout",
        "coa_tries",
        "coa_retry_after",
        "stale_session_check_interval",
    ] {
        assert_eq!(
            keys.iter().filter(|k| **k == key).count(),
            1,
            "{key} in netily.conf.example"
        );
    }
}
