//! The plans page (what is sold, with subscribers as last counted) and a
//! plan's page; admins add, change and remove plans there. The forms call
//! the API's functions, so a field reads the same in both.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use axum::{Extension, Form};
use netily_core::input::{bytes_text, PlanFields};
use netily_core::operators::Area;
use serde::Deserialize;

use super::view::{money, path_segment, time};
use super::{render, Nav, PageResult};
use crate::api::plans;
use crate::auth::Authed;
use crate::error::ApiError;
use crate::state::App;

pub struct PlanLine {
    href: String,
    name: String,
    rate: String,
    price: String,
    data_cap: String,
    fair_use_rate: String,
    cycle: String,
    subscribers: i64,
}

/// One input of the plan form.
pub struct Field {
    name: &'static str,
    label: &'static str,
    value: String,
    hint: &'static str,
}

/// The form's inputs in order, with `f`'s values.
fn fields(f: PlanFields) -> Vec<Field> {
    let v = |o: Option<String>| o.unwrap_or_default();
    vec![
        Field {
            name: "rate",
            label: "Rate (up/down)",
            value: v(f.rate),
            hint: "10M/20M",
        },
        Field {
            name: "price",
            label: "Price per cycle",
            value: v(f.price),
            hint: "29.00",
        },
        Field {
            name: "data_cap",
            label: "Data cap per cycle",
            value: v(f.data_cap),
            hint: "100G, or empty",
        },
        Field {
            name: "fair_use_rate",
            label: "Rate after the cap",
            value: v(f.fair_use_rate),
            hint: "1M/2M",
        },
        Field {
            name: "cycle_days",
            label: "Cycle",
            value: v(f.cycle_days),
            hint: "monthly, or days: 30, 7, 1",
        },
        Field {
            name: "session_timeout",
            label: "Session timeout (s)",
            value: v(f.session_timeout),
            hint: "none",
        },
        Field {
            name: "idle_timeout",
            label: "Idle timeout (s)",
            value: v(f.idle_timeout),
            hint: "none",
        },
        Field {
            name: "interim_interval",
            label: "Interim interval (s)",
            value: v(f.interim_interval),
            hint: "none",
        },
        Field {
            name: "simultaneous_use",
            label: "Simultaneous sessions",
            value: v(f.simultaneous_use),
            hint: "unlimited",
        },
        Field {
            name: "ip_pool",
            label: "IP pool",
            value: v(f.ip_pool),
            hint: "none",
        },
        Field {
            name: "mikrotik_group",
            label: "MikroTik group",
            value: v(f.mikrotik_group),
            hint: "none",
        },
        Field {
            name: "address_list",
            label: "Address list",
            value: v(f.address_list),
            hint: "none",
        },
    ]
}

#[derive(Template)]
#[template(path = "plans.html")]
struct PlansPage {
    nav: Nav,
    rows: Vec<PlanLine>,
    counted_at: String,
    may_change: bool,
    fields: Vec<Field>,
}

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

pub async fn list(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Query(q): Query<Done>,
) -> PageResult {
    let (listings, counted_at) = plans::list(&app).await?;
    let rows = listings
        .into_iter()
        .map(|l| {
            let p = l.plan;
            PlanLine {
                href: format!("/plans/{}", path_segment(&p.name)),
                rate: p.rate.to_string(),
                price: money(p.price_cents),
                data_cap: p
                    .data_cap_bytes
                    .map(bytes_text)
                    .unwrap_or_else(|| "-".into()),
                fair_use_rate: p
                    .fair_use_rate
                    .map(|r| r.to_string())
                    .unwrap_or_else(|| "-".into()),
                cycle: p.cycle_days.map_or_else(
                    || "monthly".into(),
                    |d| {
                        if d == 1 {
                            "1 day".into()
                        } else {
                            format!("{d} days")
                        }
                    },
                ),
                subscribers: l.subscribers,
                name: p.name,
            }
        })
        .collect();
    let mut nav = Nav::new(&who, "plans");
    nav.flash = match q.done.as_deref() {
        Some("removed") => Some("The plan is removed."),
        _ => None,
    };
    Ok(render(&PlansPage {
        nav,
        rows,
        counted_at: time(counted_at),
        may_change: who.may(Area::Plans),
        fields: fields(PlanFields {
            cycle_days: Some("monthly".into()),
            ..PlanFields::default()
        }),
    }))
}

#[derive(Template)]
#[template(path = "plan.html")]
struct PlanPage {
    nav: Nav,
    name: String,
    path: String,
    subscribers: i64,
    may_change: bool,
    fields: Vec<Field>,
}

pub async fn show(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Path(name): Path<String>,
    Query(q): Query<Done>,
) -> PageResult {
    let n = name.clone();
    let plan = app
        .read(move |tx| Ok(netily_core::db::get_plan(tx, &n)?))
        .await?;
    let counted = crate::dashboard::latest(&app).await?;
    let mut nav = Nav::new(&who, "plans");
    nav.flash = match q.done.as_deref() {
        Some("added") => Some("Plan added."),
        Some("saved") => Some("Saved: subscribers on this plan get the change."),
        _ => None,
    };
    Ok(render(&PlanPage {
        nav,
        path: path_segment(&plan.name),
        subscribers: counted.plans.get(&plan.name).copied().unwrap_or(0),
        may_change: who.may(Area::Plans),
        fields: fields(PlanFields::of(&plan)),
        name: plan.name,
    }))
}

/// A posted plan form's fields, as the API reads a JSON body (the CSRF
/// field is the middleware's).
fn posted(mut form: HashMap<String, String>) -> Result<PlanFields, ApiError> {
    form.remove("csrf");
    form.remove("name");
    serde_json::to_value(form)
        .and_then(serde_json::from_value)
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

pub async fn add(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Form(form): Form<HashMap<String, String>>,
) -> PageResult {
    let name = form.get("name").cloned().unwrap_or_default();
    let plan = plans::add_plan(&app, &who, name.trim().to_owned(), posted(form)?).await?;
    let to = format!("/plans/{}?done=added", path_segment(&plan.name));
    Ok(Redirect::to(&to).into_response())
}

pub async fn save(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Path(name): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> PageResult {
    let plan = plans::update_plan(&app, &who, name, posted(form)?).await?;
    let to = format!("/plans/{}?done=saved", path_segment(&plan.name));
    Ok(Redirect::to(&to).into_response())
}

pub async fn remove(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Path(name): Path<String>,
) -> PageResult {
    plans::remove_plan(&app, &who, name).await?;
    Ok(Redirect::to("/plans?done=removed").into_response())
}
