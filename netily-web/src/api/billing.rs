//! /api/v1/invoices: what is owed, and payments.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::{Extension, Json};
use netily_core::db::{self, InvoiceFilter, InvoiceRow, NewInvoice, Payment};
use netily_core::input;
use netily_core::operators::Area;
use serde::Deserialize;

use super::{after_position, created, page_size, paged, Body, Page, Params};
use crate::auth::Authed;
use crate::error::ApiError;
use crate::state::App;

#[derive(Deserialize)]
pub struct InvoiceQuery {
    pub user: Option<String>,
    /// unpaid, paid or void
    pub status: Option<String>,
    /// The `next` of the page before.
    pub after: Option<String>,
    pub limit: Option<i64>,
}

pub async fn list_invoices(app: &App, q: InvoiceQuery) -> Result<Page<InvoiceRow>, ApiError> {
    let size = page_size(q.limit)?;
    let filter = InvoiceFilter {
        username: q.user.filter(|s| !s.is_empty()),
        status: q.status.filter(|s| !s.is_empty()),
        after: after_position(q.after.as_deref())?,
        limit: Some(size + 1),
    };
    let rows = app
        .read(move |tx| Ok(db::list_invoices(tx, &filter)?))
        .await?;
    Ok(paged(rows, size, |i| i.position.to_string()))
}

pub async fn invoices(
    State(app): State<App>,
    Params(q): Params<InvoiceQuery>,
) -> Result<Json<Page<InvoiceRow>>, ApiError> {
    Ok(Json(list_invoices(&app, q).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewInvoiceBody {
    pub username: String,
    /// e.g. "29.00"
    pub amount: String,
    /// [default: the next INV-000123]
    pub number: Option<String>,
    /// YYYY-MM-DD [default: 14 days from now]
    pub due: Option<String>,
}

pub async fn add_invoice(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Body(b): Body<NewInvoiceBody>,
) -> Result<Response, ApiError> {
    Ok(created(issue_invoice(&app, &who, b).await?))
}

pub async fn issue_invoice(
    app: &App,
    who: &Authed,
    b: NewInvoiceBody,
) -> Result<InvoiceRow, ApiError> {
    who.require(Area::Subscribers)?;
    let inv = NewInvoice {
        username: b.username,
        number: b.number.filter(|n| !n.is_empty()),
        amount_cents: input::money("amount", &b.amount)?,
        issued_at: None,
        due_at: b
            .due
            .as_deref()
            .filter(|d| !d.is_empty())
            .map(|d| input::date("due date", d))
            .transpose()?,
    };
    app.change(who, "invoice add", move |tx| Ok(db::add_invoice(tx, &inv)?))
        .await
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PaymentBody {
    /// cash, bank, mobile, card... [default: cash]
    pub method: Option<String>,
    pub reference: Option<String>,
    /// YYYY-MM-DD or RFC 3339 [default: now]
    pub paid_at: Option<String>,
}

pub async fn record_payment(
    app: &App,
    who: &Authed,
    number: String,
    b: PaymentBody,
) -> Result<InvoiceRow, ApiError> {
    who.require(Area::Subscribers)?;
    let p = Payment {
        method: b
            .method
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| "cash".into()),
        reference: b.reference.filter(|r| !r.is_empty()),
        paid_at: b
            .paid_at
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|d| input::date("payment date", d))
            .transpose()?,
    };
    app.change(who, "invoice pay", move |tx| {
        Ok(db::pay_invoice(tx, &number, &p)?)
    })
    .await
}

/// Records the payment of an invoice in full (a subscriber past due is let
/// in again at once: the RADIUS module's snapshot follows the change).
pub async fn pay(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Path(number): Path<String>,
    Body(b): Body<PaymentBody>,
) -> Result<Json<InvoiceRow>, ApiError> {
    Ok(Json(record_payment(&app, &who, number, b).await?))
}

pub async fn void(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Path(number): Path<String>,
) -> Result<Json<InvoiceRow>, ApiError> {
    who.require(Area::Subscribers)?;
    let row = app
        .change(&who, "invoice void", move |tx| {
            Ok(db::void_invoice(tx, &number)?)
        })
        .await?;
    Ok(Json(row))
}
