//! The console's forms: each calls the API's function (same checks, same
//! transaction, same audit entry, via "console") and redirects back.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};
use axum::{Extension, Form};
use netily_core::model::SubscriberStatus;
use serde::Deserialize;

use super::PageResult;
use crate::api::{billing, network, routers, subscribers};
use crate::auth::Authed;
use crate::state::App;

fn back_to(username: &str, done: &str) -> PageResult {
    let q = serde_urlencoded::to_string([("done", done)]).unwrap_or_default();
    let path = super::view::path_segment(username);
    Ok(Redirect::to(&format!("/subscribers/{path}?{q}")).into_response())
}

pub async fn suspend(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Path(username): Path<String>,
) -> PageResult {
    subscribers::set_status(&app, &who, username.clone(), SubscriberStatus::Suspended).await?;
    back_to(&username, "suspended")
}

pub async fn resume(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Path(username): Path<String>,
) -> PageResult {
    subscribers::set_status(&app, &who, username.clone(), SubscriberStatus::Active).await?;
    back_to(&username, "resumed")
}

#[derive(Deserialize)]
pub struct TerminateForm {
    confirm: Option<String>,
}

/// Ends a subscriber's contract: only with the confirmation ticked (the
/// browser asks for it; a form posted without it is refused here too).
pub async fn terminate(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Path(username): Path<String>,
    Form(f): Form<TerminateForm>,
) -> PageResult {
    if f.confirm.as_deref() != Some("on") {
        return Err(crate::error::ApiError::bad_request(
            "tick \"the contract ended\" to terminate",
        )
        .into());
    }
    subscribers::set_status(&app, &who, username.clone(), SubscriberStatus::Terminated).await?;
    back_to(&username, "terminated")
}

#[derive(Deserialize)]
pub struct InvoiceForm {
    amount: String,
    due: Option<String>,
    number: Option<String>,
}

pub async fn add_invoice(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Path(username): Path<String>,
    Form(f): Form<InvoiceForm>,
) -> PageResult {
    let body = billing::NewInvoiceBody {
        username: username.clone(),
        amount: f.amount.trim().to_owned(),
        number: f.number.map(|n| n.trim().to_owned()),
        due: f.due,
    };
    billing::issue_invoice(&app, &who, body).await?;
    back_to(&username, "invoiced")
}

#[derive(Deserialize)]
pub struct PlanForm {
    plan: String,
}

pub async fn change_plan(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Path(username): Path<String>,
    Form(f): Form<PlanForm>,
) -> PageResult {
    let change = subscribers::PlanChange {
        plan: f.plan,
        starts: None,
        expires: None,
    };
    subscribers::change_plan(&app, &who, username.clone(), change).await?;
    back_to(&username, "plan")
}

#[derive(Deserialize)]
pub struct PayForm {
    method: Option<String>,
    reference: Option<String>,
}

pub async fn pay(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Path(number): Path<String>,
    Form(f): Form<PayForm>,
) -> PageResult {
    let body = billing::PaymentBody {
        method: f.method,
        reference: f.reference,
        paid_at: None,
    };
    let row = billing::record_payment(&app, &who, number, body).await?;
    back_to(&row.username, "paid")
}

pub async fn ovpn(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Path(name): Path<String>,
) -> PageResult {
    Ok(network::router_profile(&app, &who, name).await?)
}

pub async fn script(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Path(name): Path<String>,
) -> PageResult {
    Ok(network::router_script(&app, &who, name).await?)
}

pub async fn kick(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Path(username): Path<String>,
) -> PageResult {
    network::kick_sessions(&app, &who, username.clone()).await?;
    back_to(&username, "kicked")
}

pub async fn issue_certificate(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Path(name): Path<String>,
) -> PageResult {
    let body = network::IssueBody {
        replace: true,
        days: None,
    };
    network::issue(&app, &who, name, body).await?;
    Ok(Redirect::to("/routers?done=issued").into_response())
}

pub async fn revoke_certificates(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Path(name): Path<String>,
) -> PageResult {
    network::revoke_certificates(&app, &who, name).await?;
    Ok(Redirect::to("/routers?done=revoked").into_response())
}

#[derive(Deserialize)]
pub struct RouterForm {
    name: String,
    ip: String,
    secret: String,
    description: Option<String>,
}

pub async fn add_router(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Form(f): Form<RouterForm>,
) -> PageResult {
    let body = routers::NewRouterBody {
        name: f.name.trim().to_owned(),
        ip: f.ip.trim().to_owned(),
        secret: f.secret,
        description: f.description,
    };
    routers::add_router(&app, &who, body).await?;
    Ok(Redirect::to("/routers?done=added").into_response())
}

pub async fn remove_router(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Path(name): Path<String>,
) -> PageResult {
    routers::remove_router(&app, &who, name).await?;
    Ok(Redirect::to("/routers?done=removed").into_response())
}
