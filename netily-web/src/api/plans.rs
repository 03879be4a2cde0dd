//! /api/v1/plans: what is sold. Fields are read by netily-core's
//! `input::PlanFields`, as netadmin's `plan add` and `plan update` read
//! their flags: strings like "10M/20M", "29.00", "100G"; "none" clears.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::{Extension, Json};
use netily_core::db::plans::PlanListing;
use netily_core::db::{self};
use netily_core::input::PlanFields;
use netily_core::model::{Plan, UnixTime};
use netily_core::operators::Area;

use super::{created, Body};
use crate::auth::Authed;
use crate::error::ApiError;
use crate::state::App;

/// Every plan, cheapest first, with its active subscribers as last counted
/// (dashboard.rs: at most 30 s old, sooner after a change), and when.
pub async fn list(app: &App) -> Result<(Vec<PlanListing>, UnixTime), ApiError> {
    let counted = crate::dashboard::latest(app).await?;
    let plans = app.read(|tx| Ok(db::all_plans(tx)?)).await?;
    Ok((
        db::plans::with_counts(plans, &counted.plans),
        counted.counted_at,
    ))
}

pub async fn plans(State(app): State<App>) -> Result<Json<Vec<PlanListing>>, ApiError> {
    Ok(Json(list(&app).await?.0))
}

pub async fn show(
    State(app): State<App>,
    Path(name): Path<String>,
) -> Result<Json<Plan>, ApiError> {
    Ok(Json(
        app.read(move |tx| Ok(db::get_plan(tx, &name)?)).await?,
    ))
}

pub async fn add_plan(
    app: &App,
    who: &Authed,
    name: String,
    f: PlanFields,
) -> Result<Plan, ApiError> {
    who.require(Area::Plans)?;
    let plan = f.new_plan(&name)?;
    app.change(who, "plan add", move |tx| Ok(db::add_plan(tx, &plan)?))
        .await
}

/// `{"name": ..., "rate": ..., ...}`: the name and the plan's fields.
pub async fn add(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Body(mut b): Body<serde_json::Map<String, serde_json::Value>>,
) -> Result<Response, ApiError> {
    let name = match b.remove("name") {
        Some(serde_json::Value::String(n)) => n,
        Some(_) => return Err(ApiError::bad_request("invalid name: expected a string")),
        None => return Err(ApiError::bad_request("missing field `name`")),
    };
    let fields: PlanFields = serde_json::from_value(serde_json::Value::Object(b))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(created(add_plan(&app, &who, name, fields).await?))
}

pub async fn update_plan(
    app: &App,
    who: &Authed,
    name: String,
    f: PlanFields,
) -> Result<Plan, ApiError> {
    who.require(Area::Plans)?;
    let u = f.update()?;
    app.change(who, "plan update", move |tx| {
        Ok(db::update_plan(tx, &name, &u)?)
    })
    .await
}

pub async fn update(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Path(name): Path<String>,
    Body(f): Body<PlanFields>,
) -> Result<Json<Plan>, ApiError> {
    Ok(Json(update_plan(&app, &who, name, f).await?))
}

/// Only a plan no subscription (active or past) refers to.
pub async fn remove_plan(app: &App, who: &Authed, name: String) -> Result<(), ApiError> {
    who.require(Area::Plans)?;
    app.change(who, "plan remove", move |tx| {
        Ok(db::remove_plan(tx, &name)?)
    })
    .await
}

pub async fn remove(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    remove_plan(&app, &who, name.clone()).await?;
    Ok(Json(serde_json::json!({ "removed": name })))
}
