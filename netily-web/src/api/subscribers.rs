//! /api/v1/subscribers: search, read, add, change, suspend and resume,
//! plan changes, the access decision explained.

use std::net::IpAddr;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::{Extension, Json};
use netily_core::db::customers::parse_status;
use netily_core::db::subscriber_detail::{self, SubscriberDetail, SubscriberHistory};
use netily_core::db::{self, CustomerFilter, CustomerRow, CustomerUpdate, NewCustomer};
use netily_core::decision::{self, AccessRequest, Decision};
use netily_core::input;
use netily_core::model::SubscriberStatus;
use netily_core::operators::Area;
use serde::{Deserialize, Serialize};

use super::{created, page_size, paged, some, Body, Page, Params};
use crate::auth::Authed;
use crate::error::ApiError;
use crate::state::App;

#[derive(Deserialize)]
pub struct ListQuery {
    /// Text in the username, name, phone or MAC; or an IP address.
    pub q: Option<String>,
    pub status: Option<String>,
    pub plan: Option<String>,
    pub after: Option<String>,
    pub limit: Option<i64>,
}

/// One page of subscribers, by username, for the query.
pub async fn search(app: &App, q: ListQuery) -> Result<Page<CustomerRow>, ApiError> {
    let size = page_size(q.limit)?;
    let filter = CustomerFilter {
        status: q
            .status
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(parse_status)
            .transpose()?,
        plan: q.plan.filter(|s| !s.is_empty()),
        search: q.q,
        after: q.after.filter(|s| !s.is_empty()),
        limit: Some(size + 1),
    };
    let rows = app
        .read(move |tx| Ok(db::list_customers(tx, &filter)?))
        .await?;
    Ok(paged(rows, size, |c| c.username.clone()))
}

pub async fn list(
    State(app): State<App>,
    Params(q): Params<ListQuery>,
) -> Result<Json<Page<CustomerRow>>, ApiError> {
    Ok(Json(search(&app, q).await?))
}

pub async fn show(
    State(app): State<App>,
    Path(username): Path<String>,
) -> Result<Json<SubscriberDetail>, ApiError> {
    Ok(Json(detail(&app, username).await?))
}

pub async fn detail(app: &App, username: String) -> Result<SubscriberDetail, ApiError> {
    app.read(move |tx| {
        Ok(subscriber_detail::subscriber_detail(
            tx,
            &username,
            netily_core::clock::now(),
        )?)
    })
    .await
}

pub async fn history(
    State(app): State<App>,
    Path(username): Path<String>,
) -> Result<Json<SubscriberHistory>, ApiError> {
    let h = app
        .read(move |tx| {
            db::get_customer(tx, &username)?;
            Ok(subscriber_detail::subscriber_history(tx, &username)?)
        })
        .await?;
    Ok(Json(h))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSubscriber {
    username: String,
    password: String,
    #[serde(default)]
    full_name: String,
    phone: Option<String>,
    email: Option<String>,
    mac: Option<String>,
    static_ip: Option<String>,
    plan: Option<String>,
    /// YYYY-MM-DD or RFC 3339; needs `plan`.
    expires: Option<String>,
}

pub async fn add(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Body(n): Body<NewSubscriber>,
) -> Result<Response, ApiError> {
    who.require(Area::Subscribers)?;
    let static_ip = n
        .static_ip
        .as_deref()
        .map(|v| input::ipv4("static IP", v))
        .transpose()?;
    let expires = n
        .expires
        .as_deref()
        .map(|v| input::date("expiry date", v))
        .transpose()?;
    let new = NewCustomer {
        username: n.username,
        password: n.password,
        full_name: n.full_name,
        phone: n.phone,
        email: n.email,
        mac_binding: n.mac,
        static_ip,
    };
    let plan = n.plan;
    let row = app
        .change(&who, "customer add", move |tx| {
            Ok(db::customers::add_with_plan(
                tx,
                &new,
                plan.as_deref(),
                expires,
            )?)
        })
        .await?;
    Ok(created(row))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Changes {
    password: Option<String>,
    full_name: Option<String>,
    #[serde(default, deserialize_with = "some")]
    phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "some")]
    email: Option<Option<String>>,
    #[serde(default, deserialize_with = "some")]
    mac: Option<Option<String>>,
    #[serde(default, deserialize_with = "some")]
    static_ip: Option<Option<String>>,
}

pub async fn update(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Path(username): Path<String>,
    Body(c): Body<Changes>,
) -> Result<Json<CustomerRow>, ApiError> {
    who.require(Area::Subscribers)?;
    let static_ip = match c.static_ip {
        Some(Some(v)) => Some(Some(input::ipv4("static IP", &v)?)),
        Some(None) => Some(None),
        None => None,
    };
    let u = CustomerUpdate {
        password: c.password,
        full_name: c.full_name,
        phone: c.phone,
        email: c.email,
        mac_binding: c.mac,
        static_ip,
    };
    let row = app
        .change(&who, "customer update", move |tx| {
            Ok(db::update_customer(tx, &username, &u)?)
        })
        .await?;
    Ok(Json(row))
}

pub async fn remove(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Path(username): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    // Removing deletes the subscriber's invoices and history with them:
    // admins only (support terminates instead).
    who.require(Area::Plans)?;
    let name = username.clone();
    app.change(&who, "customer remove", move |tx| {
        Ok(db::remove_customer(tx, &name)?)
    })
    .await?;
    Ok(Json(serde_json::json!({ "removed": username })))
}

#[derive(Serialize)]
pub struct StatusChange {
    pub username: String,
    pub previous_status: SubscriberStatus,
    pub status: SubscriberStatus,
}

pub async fn set_status(
    app: &App,
    who: &Authed,
    username: String,
    status: SubscriberStatus,
) -> Result<StatusChange, ApiError> {
    who.require(Area::Subscribers)?;
    let action = match status {
        SubscriberStatus::Active => "customer resume",
        SubscriberStatus::Suspended => "customer suspend",
        SubscriberStatus::Terminated => "customer terminate",
    };
    let name = username.clone();
    let previous = app
        .change(who, action, move |tx| {
            Ok(db::set_customer_status(tx, &name, status)?)
        })
        .await?;
    Ok(StatusChange {
        username,
        previous_status: previous,
        status,
    })
}

pub async fn suspend(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Path(username): Path<String>,
) -> Result<Json<StatusChange>, ApiError> {
    Ok(Json(
        set_status(&app, &who, username, SubscriberStatus::Suspended).await?,
    ))
}

pub async fn resume(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Path(username): Path<String>,
) -> Result<Json<StatusChange>, ApiError> {
    Ok(Json(
        set_status(&app, &who, username, SubscriberStatus::Active).await?,
    ))
}

pub async fn terminate(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Path(username): Path<String>,
) -> Result<Json<StatusChange>, ApiError> {
    Ok(Json(
        set_status(&app, &who, username, SubscriberStatus::Terminated).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanChange {
    pub plan: String,
    /// YYYY-MM-DD or RFC 3339; default now.
    pub starts: Option<String>,
    pub expires: Option<String>,
}

pub async fn change_plan(
    app: &App,
    who: &Authed,
    username: String,
    p: PlanChange,
) -> Result<db::SubscriptionRow, ApiError> {
    who.require(Area::Subscribers)?;
    let starts = p
        .starts
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|v| input::date("start date", v))
        .transpose()?;
    let expires = p
        .expires
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|v| input::date("expiry date", v))
        .transpose()?;
    app.change(who, "customer set-plan", move |tx| {
        Ok(db::set_plan(tx, &username, &p.plan, starts, expires)?)
    })
    .await
}

pub async fn set_plan(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Path(username): Path<String>,
    Body(p): Body<PlanChange>,
) -> Result<Json<db::SubscriptionRow>, ApiError> {
    Ok(Json(change_plan(&app, &who, username, p).await?))
}

#[derive(Deserialize)]
pub struct CheckQuery {
    mac: Option<String>,
    nas: Option<String>,
}

/// The decision rlm_netily would make for a login now, with why.
pub async fn check(
    State(app): State<App>,
    Path(username): Path<String>,
    Params(q): Params<CheckQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(explain(&app, username, q.mac, q.nas).await?))
}

pub async fn explain(
    app: &App,
    username: String,
    mac: Option<String>,
    nas: Option<String>,
) -> Result<serde_json::Value, ApiError> {
    let decision = decide(app, username.clone(), mac, nas).await?;
    let mut v = serde_json::to_value(&decision)
        .map_err(|e| ApiError::internal(format!("cannot render the decision: {e}")))?;
    if let Some(o) = v.as_object_mut() {
        o.insert("username".into(), username.into());
    }
    Ok(v)
}

/// The decision itself (the console words it).
pub async fn decide(
    app: &App,
    username: String,
    mac: Option<String>,
    nas: Option<String>,
) -> Result<Decision, ApiError> {
    let nas_ip = nas
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|n| input::ipv4("NAS address", n))
        .transpose()?;
    let policy = app.config.policy();
    let name = username.clone();
    let record = app
        .read(move |tx| Ok(db::load_subscriber(tx, &name)?))
        .await?;
    let request = AccessRequest {
        username: &username,
        calling_station_id: mac.as_deref().filter(|s| !s.is_empty()),
        nas_ip: nas_ip.map(IpAddr::V4),
    };
    Ok(decision::decide(
        record.as_ref(),
        &request,
        netily_core::clock::now(),
        &policy,
    ))
}
