//! netily-web: the operators' console (server-rendered pages) and the JSON
//! API for integrations, over netily-core. Reads /etc/netily/netily.conf
//! like netadmin; listens on `web_listen` (loopback by default).
//!
//! Failure behaviour: a database that is down or slow answers 503 (API) or
//! an error page, each request bounded by `connect_timeout` for a pool
//! connection and statement_timeout for its statements; the server keeps
//! running and serves again once the database is back. SIGTERM or SIGINT
//! stops it after the requests in flight.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod api;
mod auth;
mod client;
mod dashboard;
mod error;
mod login_limit;
mod pages;
mod routes;
mod state;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use netily_core::config::Config;

#[derive(Debug, Parser)]
#[command(
    name = "netily-web",
    version,
    about = "Netily's web console and HTTP API"
)]
struct Args {
    /// Config file [default: /etc/netily/netily.conf if it exists]
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// PostgreSQL URL; overrides the config file and NETILY_DATABASE_URL
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Address and port to listen on; overrides web_listen
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    netily_core::stderr_log::init();
    let mut config = match Config::resolve(args.config.as_deref(), args.database_url.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("netily-web: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The CA key seal opens router keys for profile downloads.
    if let Err(e) = config.read_seal_file() {
        eprintln!("netily-web: {e}");
        return ExitCode::FAILURE;
    }
    if let Some(listen) = args.listen {
        config.web.listen = listen;
    }
    // The pool's connections are synchronous clients, each with its own
    // small runtime; one must never be dropped on a thread driving tokio
    // (it would block inside the runtime and abort). So the last handle on
    // the pool is this one, dropped after the runtime is gone.
    let app = match state::App::new(config) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("netily-web: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("netily-web")
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("netily-web: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let served = runtime.block_on(serve(app.clone()));
    drop(runtime);
    drop(app);
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("netily-web: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(app: state::App) -> Result<(), String> {
    let listen = app.config.web.listen;
    dashboard::spawn_recounting(app.clone());
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    log::info!("netily-web listening on http://{}", listen);
    axum::serve(
        listener,
        routes::router(app).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown())
    .await
    .map_err(|e| format!("the server failed: {e}"))?;
    log::info!("netily-web stopped");
    Ok(())
}

async fn shutdown() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            // Without signal handlers the process still stops on SIGTERM
            // (the default action), only without finishing requests.
            std::future::pending::<()>().await;
        }
    }
}
