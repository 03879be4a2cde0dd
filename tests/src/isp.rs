//! One small ISP for end-to-end tests: its own database in a private
//! PostgreSQL cluster and the netily.conf that both the real `netadmin` and
//! rlm_netily read. Dropping the guard stops the cluster and removes the
//! config's directory.
//!
//! The database starts empty: a test migrates it the way it means to test
//! (`isp.netadmin(&["migrate"])`, or [`seed_alice_and_bob`] through
//! netily-core) and adds the plans it needs.

use std::path::{Path, PathBuf};

use netily_core::db::{self, NewCustomer, NewPlan};
use netily_core::model::SubscriberStatus;

use crate::freeradius::{self, Radiusd, RadiusdOptions};
use crate::netadmin::run_netadmin;
use crate::postgres::PgCluster;

pub struct Isp {
    cluster: PgCluster,
    url: String,
    dir: PathBuf,
    config: PathBuf,
}

impl Isp {
    /// A database `name` in a new cluster, and a config file naming it.
    pub fn new(name: &str) -> Isp {
        Isp::with_config(name, "")
    }

    /// As [`Isp::new`], with `extra_config` lines appended to netily.conf.
    pub fn with_config(name: &str, extra_config: &str) -> Isp {
        let cluster = PgCluster::start();
        let url = cluster.create_database(name).unwrap();
        let dir = freeradius::workspace()
            .join(format!("target/radius-tests/{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("netily.conf");
        std::fs::write(
            &config,
            format!("database_url = {url}\nconnect_timeout = 2\n{extra_config}"),
        )
        .unwrap();
        Isp {
            cluster,
            url,
            dir,
            config,
        }
    }

    /// [`Isp::with_config`] with a CA key seal file and `vpn_remote`: what
    /// issuing router certificates and profiles needs.
    pub fn with_ca_seal(name: &str) -> Isp {
        use std::os::unix::fs::PermissionsExt;
        let dir = freeradius::workspace().join(format!(
            "target/radius-tests/{name}-seal-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let seal = dir.join("seal");
        std::fs::write(&seal, "7".repeat(64)).unwrap();
        std::fs::set_permissions(&seal, std::fs::Permissions::from_mode(0o600)).unwrap();
        Isp::with_config(
            name,
            &format!(
                "vpn_remote = 127.0.0.1:1194\nca_key_seal_file = {}\n",
                seal.display()
            ),
        )
    }

    /// [`Isp::new`] migrated by `netadmin migrate`, with one plan `plan` at
    /// `rate` from `netadmin plan add`.
    pub fn with_plan(name: &str, plan: &str, rate: &str) -> Isp {
        let isp = Isp::new(name);
        isp.netadmin(&["migrate"]);
        isp.netadmin(&["plan", "add", plan, "--rate", rate]);
        isp
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn config(&self) -> &Path {
        &self.config
    }

    /// The cluster, e.g. to stop the database in the middle of a test.
    pub fn cluster(&mut self) -> &mut PgCluster {
        &mut self.cluster
    }

    pub fn sql(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).unwrap()
    }

    /// Runs `netadmin --config <ours> args...`; panics with its output on failure.
    pub fn netadmin(&self, args: &[&str]) -> String {
        run_netadmin(&self.config, args)
    }

    /// `netadmin customer add` on `plan`.
    pub fn customer(&self, user: &str, password: &str, plan: &str) {
        self.netadmin(&[
            "customer",
            "add",
            user,
            "--password",
            password,
            "--plan",
            plan,
        ]);
    }

    /// A private radiusd whose rlm_netily reads our config, started whatever
    /// state the database is in (it may be down on purpose).
    pub fn start_radiusd(&self) -> Radiusd {
        Radiusd::start_with(self.radiusd_options()).unwrap()
    }

    /// The options [`Isp::start_radiusd`] uses, to add to.
    pub fn radiusd_options(&self) -> RadiusdOptions {
        RadiusdOptions {
            config_file: Some(self.config.clone()),
            ..Default::default()
        }
    }

    /// [`Isp::start_radiusd`], checked to have loaded the subscribers.
    pub fn radiusd(&self) -> Radiusd {
        let server = self.start_radiusd();
        assert!(
            server.log().contains("rlm_netily: loaded"),
            "{}",
            server.log()
        );
        server
    }
}

impl Drop for Isp {
    fn drop(&mut self) {
        let _ = self.cluster.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Straight through netily-core (no netadmin): the schema, `plan`, a paying
/// `alice` (password `alice-secret`) and a suspended `bob` (`bob-secret`),
/// both on `plan`.
pub fn seed_alice_and_bob(conn: &mut postgres::Client, plan: &NewPlan) {
    db::migrate(conn).unwrap();
    db::add_plan(conn, plan).unwrap();
    for (user, password) in [("alice", "alice-secret"), ("bob", "bob-secret")] {
        subscribe(conn, user, password, &plan.name);
    }
    db::set_customer_status(conn, "bob", SubscriberStatus::Suspended).unwrap();
}

/// Straight through netily-core: subscriber `user` ("`user` subscriber",
/// nothing else set) with `password`, on `plan` from now. Panics when the
/// database refuses (a test set-up that cannot go on).
pub fn subscribe(conn: &mut postgres::Client, user: &str, password: &str, plan: &str) {
    db::add_customer(
        conn,
        &NewCustomer {
            username: user.into(),
            password: password.into(),
            full_name: format!("{user} subscriber"),
            phone: None,
            email: None,
            mac_binding: None,
            static_ip: None,
        },
    )
    .unwrap();
    db::set_plan(conn, user, plan, None, None).unwrap();
}
