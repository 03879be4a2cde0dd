//! What every request shares: the config, the database pool and the login
//! limiter; and the one way a request reaches the database.
//!
//! Database work is netily-core's synchronous code, run on tokio's blocking
//! threads with a pooled connection, in one transaction per request. The
//! pool waits at most `connect_timeout` for a connection and every
//! statement is bounded by the same (statement_timeout), so a slow or
//! unreachable database answers 503 instead of piling requests up.

use std::sync::Arc;
use std::time::Duration;

use netily_core::config::Config;
use netily_core::db::{self, audit, Transaction};
use r2d2_postgres::postgres::NoTls;
use r2d2_postgres::PostgresConnectionManager;

use crate::auth::Authed;
use crate::error::ApiError;
use crate::login_limit::LoginLimit;

/// Password checks at once (see `App::password_checks`).
const PASSWORD_CHECKS: usize = 2;

pub type Pool = r2d2::Pool<PostgresConnectionManager<NoTls>>;

#[derive(Clone)]
pub struct App {
    pub config: Arc<Config>,
    pub pool: Pool,
    pub login_limit: Arc<LoginLimit>,
    /// Password checks (argon2: 19 MiB and tens of milliseconds each) run
    /// at most this many at once.
    password_checks: Arc<tokio::sync::Semaphore>,
    /// The dashboard's counts, recounted in the background (dashboard.rs).
    pub dashboard: Arc<parking_lot::Mutex<Option<crate::dashboard::Counted>>>,
    /// Woken after each change, so the counts follow it soon (dashboard.rs).
    pub recount: Arc<tokio::sync::Notify>,
}

impl App {
    pub fn new(config: Config) -> Result<App, String> {
        let timeout = Duration::from_secs(config.connect_timeout.into());
        // A page's statements: a few seconds is already slow; 15 s bounds
        // the worst (a year's usage report) without letting a handful of
        // slow requests hold the pool for long.
        let statement = timeout.max(Duration::from_secs(15));
        let pg = db::pool::pooled_config(&config.database_url, statement, "netily-web")
            .map_err(|e| e.to_string())?;
        let manager = PostgresConnectionManager::new(pg, NoTls);
        let pool = r2d2::Pool::builder()
            .max_size(config.pool_size)
            .min_idle(Some(0))
            .connection_timeout(timeout)
            // Started without the database: requests say 503 until it is up.
            .build_unchecked(manager);
        Ok(App {
            config: Arc::new(config),
            pool,
            login_limit: Arc::new(LoginLimit::default()),
            password_checks: Arc::new(tokio::sync::Semaphore::new(PASSWORD_CHECKS)),
            dashboard: Arc::new(parking_lot::Mutex::new(None)),
            recount: Arc::new(tokio::sync::Notify::new()),
        })
    }

    /// Runs `f` in a transaction that changes nothing an operator made
    /// (reads, logins, sessions).
    pub async fn read<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Transaction<'_>) -> Result<T, ApiError> + Send + 'static,
    {
        self.run(None, f).await
    }

    /// Runs `f` in a transaction attributed to `who` doing `action`: the
    /// audit log records each row it changes.
    pub async fn change<T, F>(&self, who: &Authed, action: &str, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Transaction<'_>) -> Result<T, ApiError> + Send + 'static,
    {
        let attribution = (who.operator.name.clone(), who.via, action.to_owned());
        let out = self.run(Some(attribution), f).await?;
        self.recount.notify_one();
        Ok(out)
    }

    /// Runs `f` (argon2: 19 MiB and tens of milliseconds) on one of the
    /// `PASSWORD_CHECKS` password threads, holding no database connection.
    /// None if `f` panicked.
    pub async fn password_work<T, F>(&self, f: F) -> Result<Option<T>, ApiError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let _permit = self
            .password_checks
            .acquire()
            .await
            .map_err(|_| ApiError::internal("the server is stopping"))?;
        Ok(tokio::task::spawn_blocking(f).await.ok())
    }

    /// Runs `f` with a pooled connection outside any transaction: for work
    /// that waits on the network (a kick waits for routers' answers) and
    /// commits as it goes.
    pub async fn with_client<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut postgres::Client) -> Result<T, ApiError> + Send + 'static,
    {
        let pool = self.pool.clone();
        let work = move || {
            let mut conn = pool.get().map_err(|e| {
                log::warn!("no database connection: {}", e);
                ApiError::unavailable("the database is unavailable; try again")
            })?;
            f(&mut conn)
        };
        match tokio::task::spawn_blocking(work).await {
            Ok(out) => out,
            Err(e) => {
                log::error!("a database task failed: {}", e);
                Err(ApiError::internal(
                    "the request failed; the server log has the detail",
                ))
            }
        }
    }

    async fn run<T, F>(
        &self,
        who: Option<(String, audit::Via, String)>,
        f: F,
    ) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Transaction<'_>) -> Result<T, ApiError> + Send + 'static,
    {
        self.with_client(move |conn| {
            let mut tx = conn.transaction().map_err(|e| {
                log::warn!("cannot start a transaction: {}", e);
                ApiError::unavailable("the database is unavailable; try again")
            })?;
            if let Some((actor, via, action)) = &who {
                audit::attribute(&mut tx, actor, *via, action)?;
            }
            let out = f(&mut tx)?;
            tx.commit().map_err(|e| {
                log::warn!("cannot commit: {}", e);
                ApiError::unavailable("the change was not saved: the database is unavailable")
            })?;
            Ok(out)
        })
        .await
    }
}
