//! The console's charts, as SVG images (netily-charts, the same drawing
//! as `netadmin usage --chart`): a subscriber's traffic by day, and the
//! dashboard's last 24 hours.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use netily_charts::{up_down, Chart, Format, Quantity, Series, Style};

use super::PageResult;
use crate::error::ApiError;
use crate::state::App;

fn svg(chart: &Chart) -> PageResult {
    let svg = chart
        .render(Format::Svg)
        .map_err(|e| ApiError::internal(format!("the chart failed: {}", e.0)))?;
    Ok(svg_response(svg))
}

fn svg_response(svg: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "private, max-age=60"),
        ],
        svg,
    )
        .into_response()
}

/// A subscriber's traffic by day over the last 30 days.
pub async fn usage(State(app): State<App>, Path(username): Path<String>) -> PageResult {
    let q = crate::api::usage::UsageQuery {
        period: Some("30d".into()),
        by: Some("day".into()),
        ..Default::default()
    };
    let report = crate::api::usage::subscriber_report(&app, username.clone(), q).await?;
    svg(&Chart {
        title: format!("{username}: traffic by day, last 30 days"),
        quantity: Quantity::Bytes,
        style: Style::Bars,
        labels: report.rows.iter().map(|r| r.label.clone()).collect(),
        series: up_down(
            report.rows.iter().map(|r| r.totals.bytes_up).collect(),
            report.rows.iter().map(|r| r.totals.bytes_down).collect(),
        ),
    })
}

async fn last_24_hours(app: &App) -> Result<Vec<netily_core::db::dashboard::HourCounts>, ApiError> {
    app.read(|tx| Ok(netily_core::db::dashboard::last_24_hours(tx)?))
        .await
}

fn hour_label(t: i64) -> String {
    super::view::time(t).get(11..13).unwrap_or("").to_owned()
}

fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Accepts and rejects per hour, the last 24 hours (UTC hours).
pub async fn logins(State(app): State<App>) -> PageResult {
    let hours = last_24_hours(&app).await?;
    svg(&Chart {
        title: "Logins per hour, last 24 hours (UTC)".into(),
        quantity: Quantity::Count,
        style: Style::Bars,
        labels: hours.iter().map(|h| hour_label(h.hour)).collect(),
        series: vec![
            Series {
                name: "accepts",
                values: hours.iter().map(|h| count(h.accepts)).collect(),
            },
            Series {
                name: "rejects",
                values: hours.iter().map(|h| count(h.rejects)).collect(),
            },
        ],
    })
}

/// Traffic through all routers per hour (average rate), the last 24 hours.
pub async fn traffic(State(app): State<App>) -> PageResult {
    let hours = last_24_hours(&app).await?;
    svg(&Chart {
        title: "Traffic through all routers, last 24 hours (UTC)".into(),
        quantity: Quantity::HourlyRate,
        style: Style::Lines,
        labels: hours.iter().map(|h| hour_label(h.hour)).collect(),
        series: up_down(
            hours.iter().map(|h| count(h.bytes_up)).collect(),
            hours.iter().map(|h| count(h.bytes_down)).collect(),
        ),
    })
}
