//! Versioned schema migrations, embedded in the binary.
//!
//! Each migration runs in its own transaction under a transaction-scoped
//! advisory lock, so two nodes migrating at once serialize: the second sees
//! the first's row in `schema_migrations` and skips.

use postgres::Client;
use serde::Serialize;

use super::error::{q, Result};

pub struct Migration {
    pub version: i32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration, in order. Append only: never edit one that has shipped.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "freeradius",
        sql: include_str!("../../migrations/0001_freeradius.sql"),
    },
    Migration {
        version: 2,
        name: "subscribers",
        sql: include_str!("../../migrations/0002_subscribers.sql"),
    },
    Migration {
        version: 3,
        name: "routers_vpn",
        sql: include_str!("../../migrations/0003_routers_vpn.sql"),
    },
    Migration {
        version: 4,
        name: "notify",
        sql: include_str!("../../migrations/0004_notify.sql"),
    },
    Migration {
        version: 5,
        name: "usage",
        sql: include_str!("../../migrations/0005_usage.sql"),
    },
    Migration {
        version: 6,
        name: "session_notify",
        sql: include_str!("../../migrations/0006_session_notify.sql"),
    },
    Migration {
        version: 7,
        name: "subscriber_record",
        sql: include_str!("../../migrations/0007_subscriber_record.sql"),
    },
    Migration {
        version: 8,
        name: "pki_store",
        sql: include_str!("../../migrations/0008_pki_store.sql"),
    },
    Migration {
        version: 9,
        name: "postauth_nas",
        sql: include_str!("../../migrations/0009_postauth_nas.sql"),
    },
    Migration {
        version: 10,
        name: "accounting_triggers",
        sql: include_str!("../../migrations/0010_accounting_triggers.sql"),
    },
    Migration {
        version: 11,
        name: "lean_indexes",
        sql: include_str!("../../migrations/0011_lean_indexes.sql"),
    },
    Migration {
        version: 12,
        name: "postauth_brin",
        sql: include_str!("../../migrations/0012_postauth_brin.sql"),
    },
    Migration {
        version: 13,
        name: "postauth_rejects_index",
        sql: include_str!("../../migrations/0013_postauth_rejects_index.sql"),
    },
    Migration {
        version: 14,
        name: "radacct_fillfactor",
        sql: include_str!("../../migrations/0014_radacct_fillfactor.sql"),
    },
    Migration {
        version: 15,
        name: "postauth_statistics",
        sql: include_str!("../../migrations/0015_postauth_statistics.sql"),
    },
    Migration {
        version: 16,
        name: "usage_saturates",
        sql: include_str!("../../migrations/0016_usage_saturates.sql"),
    },
    Migration {
        version: 17,
        name: "usage_cycles",
        sql: include_str!("../../migrations/0017_usage_cycles.sql"),
    },
    Migration {
        version: 18,
        name: "radcheck_honoured",
        sql: include_str!("../../migrations/0018_radcheck_honoured.sql"),
    },
    Migration {
        version: 19,
        name: "rlm_sql_imported",
        sql: include_str!("../../migrations/0019_rlm_sql_imported.sql"),
    },
    Migration {
        version: 20,
        name: "password_hashes",
        sql: include_str!("../../migrations/0020_password_hashes.sql"),
    },
    Migration {
        version: 21,
        name: "plan_cycle_days",
        sql: include_str!("../../migrations/0021_plan_cycle_days.sql"),
    },
    Migration {
        version: 22,
        name: "enforcement",
        sql: include_str!("../../migrations/0022_enforcement.sql"),
    },
    Migration {
        version: 23,
        name: "login_grants",
        sql: include_str!("../../migrations/0023_login_grants.sql"),
    },
    Migration {
        version: 24,
        name: "login_grants_index",
        sql: include_str!("../../migrations/0024_login_grants_index.sql"),
    },
    Migration {
        version: 25,
        name: "journal_positions",
        sql: include_str!("../../migrations/0025_journal_positions.sql"),
    },
    Migration {
        version: 26,
        name: "cycle_start_inline",
        sql: include_str!("../../migrations/0026_cycle_start_inline.sql"),
    },
    Migration {
        version: 27,
        name: "login_grants_hot",
        sql: include_str!("../../migrations/0027_login_grants_hot.sql"),
    },
    Migration {
        version: 28,
        name: "login_grants_text",
        sql: include_str!("../../migrations/0028_login_grants_text.sql"),
    },
    Migration {
        version: 29,
        name: "usage_rollups",
        sql: include_str!("../../migrations/0029_usage_rollups.sql"),
    },
    Migration {
        version: 30,
        name: "radacct_partitions",
        sql: include_str!("../../migrations/0030_radacct_partitions.sql"),
    },
    Migration {
        version: 31,
        name: "operators_audit",
        sql: include_str!("../../migrations/0031_operators_audit.sql"),
    },
    Migration {
        version: 32,
        name: "subscriber_search",
        sql: include_str!("../../migrations/0032_subscriber_search.sql"),
    },
    Migration {
        version: 33,
        name: "audit_review",
        sql: include_str!("../../migrations/0033_audit_review.sql"),
    },
    Migration {
        version: 34,
        name: "phone_search",
        sql: include_str!("../../migrations/0034_phone_search.sql"),
    },
    Migration {
        version: 35,
        name: "token_expiry",
        sql: include_str!("../../migrations/0035_token_expiry.sql"),
    },
    Migration {
        version: 36,
        name: "audit_removals",
        sql: include_str!("../../migrations/0036_audit_removals.sql"),
    },
];

/// Key of the advisory lock taken by every migration ("netily" in ASCII).
const LOCK_KEY: i64 = 0x6e65_7469_6c79;

#[derive(Debug, Clone, Serialize)]
pub struct MigrationReport {
    /// Migrations this run applied, as "0003_routers_vpn".
    pub applied: Vec<String>,
    /// The schema version after this run.
    pub version: i32,
}

impl MigrationReport {
    pub fn is_noop(&self) -> bool {
        self.applied.is_empty()
    }
}

/// Brings the schema up to date.
pub fn migrate(client: &mut Client) -> Result<MigrationReport> {
    let mut applied = Vec::new();
    for m in MIGRATIONS {
        let mut tx = client.transaction().map_err(q("starting a migration"))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
            .map_err(q("waiting for the migration lock"))?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version    integer PRIMARY KEY,
                name       text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )",
        )
        .map_err(q("creating schema_migrations"))?;
        let done = tx
            .query_opt(
                "SELECT 1 FROM schema_migrations WHERE version = $1",
                &[&m.version],
            )
            .map_err(q("reading schema_migrations"))?
            .is_some();
        if done {
            tx.commit().map_err(q("finishing a migration"))?;
            continue;
        }
        let label = format!("{:04}_{}", m.version, m.name);
        tx.batch_execute(m.sql)
            .map_err(q(&format!("applying migration {label}")))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[&m.version, &m.name],
        )
        .map_err(q("recording a migration"))?;
        tx.commit()
            .map_err(q(&format!("committing migration {label}")))?;
        log::info!("applied migration {label}");
        applied.push(label);
    }
    let version = current_version(client)?;
    Ok(MigrationReport { applied, version })
}

/// The highest applied version, 0 on an empty database.
pub fn current_version(client: &mut Client) -> Result<i32> {
    let row = client
        .query_one(
            "SELECT coalesce((SELECT max(version) FROM schema_migrations), 0)",
            &[],
        )
        .map_err(q("reading the schema version"))?;
    Ok(row.get(0))
}
