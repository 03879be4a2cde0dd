//! Invoices and payments.

use postgres::{GenericClient, Row};
use serde::Serialize;

use super::customers::customer_id;
use super::epoch;
use super::error::{q, sql, Error, Result};
use super::page::{after_position, position_micros, Position};
use crate::model::{UnixTime, SECONDS_PER_DAY};

/// Days from issue to due date when none is given.
pub const DEFAULT_TERMS_DAYS: i64 = 14;

/// The largest invoice amount or plan price: 1,000,000,000.00 in the
/// currency. Far above any real bill, and so far below bigint's limit that
/// sums of amounts cannot come near it (they saturate in SQL all the same,
/// for rows written by hand).
pub const MAX_AMOUNT_CENTS: i64 = 100_000_000_000;

/// Cents as the currency amount an operator types: `29.00`, `-0.07`.
pub fn cents_text(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let c = cents.unsigned_abs();
    format!("{sign}{}.{:02}", c / 100, c % 100)
}

/// Refuses an amount above [`MAX_AMOUNT_CENTS`]; `field` names it.
pub(crate) fn check_max_amount(field: &str, cents: i64) -> Result<()> {
    if cents > MAX_AMOUNT_CENTS {
        return Err(Error::invalid(
            field,
            format!(
                "\"{}\": at most {}",
                cents_text(cents),
                cents_text(MAX_AMOUNT_CENTS)
            ),
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize)]
pub struct InvoiceRow {
    pub id: i64,
    pub number: String,
    pub username: String,
    pub amount_cents: i64,
    pub paid_cents: i64,
    pub issued_at: UnixTime,
    pub due_at: UnixTime,
    /// unpaid, paid or void.
    pub status: String,
    /// Where it stands in a list (by due date, newest first).
    #[serde(skip)]
    pub position: Position,
}

const INVOICE_SELECT: &str = concat!(
    "SELECT i.id, i.number, c.username, i.amount_cents,
            least(coalesce((SELECT sum(amount_cents) FROM payments WHERE invoice_id = i.id), 0),
                  9223372036854775807)::bigint, ",
    epoch!("i.issued_at"),
    ", ",
    epoch!("i.due_at"),
    ", i.status, ",
    position_micros!("i.due_at"),
    " FROM invoices i JOIN customers c ON c.id = i.customer_id"
);

fn from_row(r: &Row) -> InvoiceRow {
    InvoiceRow {
        id: r.get(0),
        number: r.get(1),
        username: r.get(2),
        amount_cents: r.get(3),
        paid_cents: r.get(4),
        issued_at: r.get(5),
        due_at: r.get(6),
        status: r.get(7),
        position: Position {
            micros: r.get(8),
            id: r.get(0),
        },
    }
}

#[derive(Debug, Clone, Default)]
pub struct NewInvoice {
    pub username: String,
    /// None: the next `INV-000123` number.
    pub number: Option<String>,
    pub amount_cents: i64,
    /// None: now.
    pub issued_at: Option<UnixTime>,
    /// None: issued + 14 days.
    pub due_at: Option<UnixTime>,
}

#[derive(Debug, Clone, Default)]
pub struct InvoiceFilter {
    pub username: Option<String>,
    /// unpaid, paid or void.
    pub status: Option<String>,
    /// Only invoices after this one (newest due first).
    pub after: Option<Position>,
    pub limit: Option<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct Payment {
    /// cash, bank, mobile, card...
    pub method: String,
    pub reference: Option<String>,
    /// None: now.
    pub paid_at: Option<UnixTime>,
}

fn now(conn: &mut impl GenericClient) -> Result<UnixTime> {
    Ok(conn
        .query_one("SELECT floor(extract(epoch from now()))::bigint", &[])
        .map_err(q("reading the clock"))?
        .get(0))
}

pub fn add_invoice(conn: &mut impl GenericClient, inv: &NewInvoice) -> Result<InvoiceRow> {
    let customer = customer_id(conn, &inv.username)?;
    if inv.amount_cents <= 0 {
        return Err(Error::invalid("amount", "must be more than 0"));
    }
    check_max_amount("amount", inv.amount_cents)?;
    let issued = match inv.issued_at {
        Some(t) => t,
        None => now(conn)?,
    };
    let due = inv
        .due_at
        .unwrap_or(issued + DEFAULT_TERMS_DAYS * SECONDS_PER_DAY);
    if due < issued {
        return Err(Error::invalid(
            "due date",
            "must not be before the issue date",
        ));
    }
    let id: i64 = conn
        .query_one(
            "SELECT nextval(pg_get_serial_sequence('invoices', 'id'))",
            &[],
        )
        .map_err(q("numbering an invoice"))?
        .get(0);
    let number = match &inv.number {
        Some(n) => {
            super::plans::check_name("invoice number", n)?;
            n.clone()
        }
        None => format!("INV-{id:06}"),
    };
    conn.execute(
        "INSERT INTO invoices (id, number, customer_id, amount_cents, issued_at, due_at)
         VALUES ($1, $2, $3, $4, to_timestamp($5), to_timestamp($6))",
        &[
            &id,
            &number,
            &customer,
            &inv.amount_cents,
            &(issued as f64),
            &(due as f64),
        ],
    )
    .map_err(sql("adding an invoice", &format!("invoice '{number}'")))?;
    get_invoice(conn, &number)
}

pub fn get_invoice(conn: &mut impl GenericClient, number: &str) -> Result<InvoiceRow> {
    let row = conn
        .query_opt(&format!("{INVOICE_SELECT} WHERE i.number = $1"), &[&number])
        .map_err(q("reading an invoice"))?
        .ok_or_else(|| Error::not_found(format!("invoice '{number}'")))?;
    Ok(from_row(&row))
}

pub fn list_invoices(conn: &mut impl GenericClient, f: &InvoiceFilter) -> Result<Vec<InvoiceRow>> {
    if let Some(st) = f.status.as_deref() {
        if !["unpaid", "paid", "void"].contains(&st) {
            return Err(Error::invalid(
                "invoice status",
                format!("\"{st}\": expected unpaid, paid or void"),
            ));
        }
    }
    if let Some(u) = &f.username {
        customer_id(conn, u)?;
    }
    let (micros, id) = Position::params(f.after);
    let rows = conn
        .query(
            &format!(
                "{INVOICE_SELECT}
                 WHERE ($1::text IS NULL OR c.username = $1) AND ($2::text IS NULL OR i.status = $2)
                   AND {}
                 ORDER BY i.due_at DESC, i.id DESC LIMIT $3",
                after_position!("i.due_at", "i.id", "$4", "$5")
            ),
            &[
                &f.username,
                &f.status,
                &f.limit.unwrap_or(i64::MAX),
                &micros,
                &id,
            ],
        )
        .map_err(q("listing invoices"))?;
    Ok(rows.iter().map(from_row).collect())
}

/// Records a payment of the outstanding amount and marks the invoice paid.
pub fn pay_invoice(conn: &mut impl GenericClient, number: &str, p: &Payment) -> Result<InvoiceRow> {
    let inv = get_invoice(conn, number)?;
    if inv.status != "unpaid" {
        return Err(Error::Refused {
            what: format!("pay invoice '{number}'"),
            why: format!("it is {}", inv.status),
        });
    }
    let method = if p.method.trim().is_empty() {
        "cash"
    } else {
        p.method.trim()
    };
    let paid_at = match p.paid_at {
        Some(t) => t,
        None => now(conn)?,
    };
    let outstanding = inv.amount_cents - inv.paid_cents;
    if outstanding > 0 {
        conn.execute(
            "INSERT INTO payments (invoice_id, amount_cents, paid_at, method, reference)
             VALUES ($1, $2, to_timestamp($3), $4, $5)",
            &[
                &inv.id,
                &outstanding,
                &(paid_at as f64),
                &method,
                &p.reference,
            ],
        )
        .map_err(q("recording a payment"))?;
    }
    conn.execute(
        "UPDATE invoices SET status = 'paid' WHERE id = $1",
        &[&inv.id],
    )
    .map_err(q("marking an invoice paid"))?;
    get_invoice(conn, number)
}

pub fn void_invoice(conn: &mut impl GenericClient, number: &str) -> Result<InvoiceRow> {
    let inv = get_invoice(conn, number)?;
    if inv.status != "unpaid" {
        return Err(Error::Refused {
            what: format!("void invoice '{number}'"),
            why: format!("it is {}", inv.status),
        });
    }
    conn.execute(
        "UPDATE invoices SET status = 'void' WHERE id = $1",
        &[&inv.id],
    )
    .map_err(q("voiding an invoice"))?;
    get_invoice(conn, number)
}
