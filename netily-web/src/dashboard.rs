//! The dashboard's counts at a million subscribers take seconds (every
//! subscriber's billing state is counted), too long to make an operator
//! wait on every visit. A background task recounts them every
//! `RECOUNT_EVERY`; pages and the API serve the latest count with its time.
//! Only the first visit after a start waits for a count; every change made
//! here wakes a recount (`App::recount`), at most one per `RECOUNT_GAP`.

use std::collections::BTreeMap;
use std::time::Duration;

use netily_core::db::{self, Dashboard};
use serde::Serialize;

use crate::error::ApiError;
use crate::state::App;

pub const RECOUNT_EVERY: Duration = Duration::from_secs(30);

/// A change asks for a recount, but counts start at least this far apart:
/// a billing system recording a thousand payments costs one count per gap.
pub const RECOUNT_GAP: Duration = Duration::from_secs(10);

/// A count and when it was made.
#[derive(Debug, Clone, Serialize)]
pub struct Counted {
    #[serde(flatten)]
    pub counts: Dashboard,
    /// Active subscribers per plan name (the plans page and /api/v1/plans
    /// show these: counting them on every visit took 150 ms).
    pub plans: BTreeMap<String, i64>,
    pub counted_at: netily_core::model::UnixTime,
}

async fn count(app: &App) -> Result<Counted, ApiError> {
    let policy = app.config.policy();
    let now = netily_core::clock::now();
    let (counts, plans) = app
        .read(move |tx| {
            Ok((
                db::dashboard(tx, &policy, now)?,
                db::plans::subscriber_counts(tx)?,
            ))
        })
        .await?;
    let counted = Counted {
        counts,
        plans,
        counted_at: now,
    };
    *app.dashboard.lock() = Some(counted.clone());
    Ok(counted)
}

/// The latest count, or a fresh one if there is none yet.
pub async fn latest(app: &App) -> Result<Counted, ApiError> {
    let cached = app.dashboard.lock().clone();
    match cached {
        Some(c) => Ok(c),
        None => count(app).await,
    }
}

/// Recounts every `RECOUNT_EVERY`, or `RECOUNT_GAP` after a change, for as
/// long as the server runs; a failed count (the database away) keeps the
/// last one and tries again next time.
pub fn spawn_recounting(app: App) {
    tokio::spawn(async move {
        loop {
            let started = tokio::time::Instant::now();
            if let Err(e) = count(&app).await {
                log::warn!("dashboard count failed: {}", e.message);
            }
            let changed = tokio::time::timeout(RECOUNT_EVERY, app.recount.notified())
                .await
                .is_ok();
            if changed {
                tokio::time::sleep_until(started + RECOUNT_GAP).await;
            }
        }
    });
}
