//! The dashboard's counts at a million subscribers take seconds (every
//! subscriber's billing state is counted), too long to make an operator
//! wait on every visit. A background task recounts them every
//! `RECOUNT_EVERY`; pages and the API serve the latest count with its time.
//! Only the first visit after a start waits for a count.

use std::time::Duration;

use netily_core::db::{self, Dashboard};
use serde::Serialize;

use crate::error::ApiError;
use crate::state::App;

pub const RECOUNT_EVERY: Duration = Duration::from_secs(30);

/// A count and when it was made.
#[derive(Debug, Clone, Serialize)]
pub struct Counted {
    #[serde(flatten)]
    pub counts: Dashboard,
    pub counted_at: netily_core::model::UnixTime,
}

async fn count(app: &App) -> Result<Counted, ApiError> {
    let policy = app.config.policy();
    let now = netily_core::clock::now();
    let counts = app
        .read(move |tx| Ok(db::dashboard(tx, &policy, now)?))
        .await?;
    let counted = Counted {
        counts,
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

/// Recounts every `RECOUNT_EVERY` for as long as the server runs; a failed
/// count (the database away) keeps the last one and tries again next time.
pub fn spawn_recounting(app: App) {
    tokio::spawn(async move {
        loop {
            if let Err(e) = count(&app).await {
                log::warn!("dashboard count failed: {}", e.message);
            }
            tokio::time::sleep(RECOUNT_EVERY).await;
        }
    });
}
