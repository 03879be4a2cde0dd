//! /api/v1/subscribers/{username}/usage and /api/v1/usage/{top,routers,plans}:
//! the usage reports netadmin prints, with the same periods (today,
//! yesterday, 7d, 30d, month, last-month, 12m, YYYY-MM, YYYY-MM-DD) on the
//! ISP's clock.

use axum::extract::{Path, State};
use axum::Json;
use netily_core::db::usage::{self, PlanUsage, RouterUsage, SubscriberUsage, TopFilter, TopRow};
use netily_core::usage::{Bucket, Period};
use serde::Deserialize;

use super::Params;
use crate::error::ApiError;
use crate::state::App;

#[derive(Deserialize, Default)]
pub struct UsageQuery {
    /// [default: month]
    pub period: Option<String>,
    /// hour, day, month or cycle [default: day]
    pub by: Option<String>,
    /// top: how many [default 20, at most 500]
    pub limit: Option<i64>,
    /// top: only subscribers now on this plan
    pub plan: Option<String>,
}

fn period(q: &UsageQuery) -> Result<Period, ApiError> {
    match q.period.as_deref().filter(|p| !p.is_empty()) {
        None => Ok(Period::ThisMonth),
        Some(p) => {
            Period::parse(p).map_err(|e| ApiError::bad_request(format!("invalid period: {e}")))
        }
    }
}

pub async fn subscriber_report(
    app: &App,
    username: String,
    q: UsageQuery,
) -> Result<SubscriberUsage, ApiError> {
    let period = period(&q)?;
    let by = match q.by.as_deref().filter(|b| !b.is_empty()) {
        None => Bucket::Day,
        Some(b) => Bucket::parse(b).ok_or_else(|| {
            ApiError::bad_request(format!(
                "invalid by \"{b}\": expected hour, day, month or cycle"
            ))
        })?,
    };
    app.read(move |tx| {
        let now = netily_core::clock::now();
        usage::begin_report(tx)?;
        let span = usage::report_span(tx, period, now)?;
        Ok(usage::subscriber_usage(tx, &username, span, by, now)?)
    })
    .await
}

pub async fn subscriber(
    State(app): State<App>,
    Path(username): Path<String>,
    Params(q): Params<UsageQuery>,
) -> Result<Json<SubscriberUsage>, ApiError> {
    Ok(Json(subscriber_report(&app, username, q).await?))
}

pub async fn top(
    State(app): State<App>,
    Params(q): Params<UsageQuery>,
) -> Result<Json<Vec<TopRow>>, ApiError> {
    let period = period(&q)?;
    let limit = match q.limit {
        None => 20,
        Some(n) if (1..=super::MAX_PAGE).contains(&n) => n,
        Some(n) => {
            return Err(ApiError::bad_request(format!(
                "invalid limit {n}: 1 to {}",
                super::MAX_PAGE
            )))
        }
    };
    let f = TopFilter {
        router: None,
        plan: q.plan.filter(|p| !p.is_empty()),
        limit,
    };
    let rows = app
        .read(move |tx| {
            usage::begin_report(tx)?;
            let span = usage::report_span(tx, period, netily_core::clock::now())?;
            Ok(usage::top(tx, &span, &f)?)
        })
        .await?;
    Ok(Json(rows))
}

pub async fn routers(
    State(app): State<App>,
    Params(q): Params<UsageQuery>,
) -> Result<Json<Vec<RouterUsage>>, ApiError> {
    let period = period(&q)?;
    let rows = app
        .read(move |tx| {
            usage::begin_report(tx)?;
            let span = usage::report_span(tx, period, netily_core::clock::now())?;
            Ok(usage::routers(tx, &span)?)
        })
        .await?;
    Ok(Json(rows))
}

pub async fn plans(
    State(app): State<App>,
    Params(q): Params<UsageQuery>,
) -> Result<Json<Vec<PlanUsage>>, ApiError> {
    let period = period(&q)?;
    let rows = app
        .read(move |tx| {
            usage::begin_report(tx)?;
            let span = usage::report_span(tx, period, netily_core::clock::now())?;
            Ok(usage::plans(tx, &span)?)
        })
        .await?;
    Ok(Json(rows))
}
