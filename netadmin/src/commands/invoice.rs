use netily_core::db::{self, InvoiceFilter, InvoiceRow, NewInvoice, Payment};

use super::Ctx;
use crate::cli::InvoiceCmd;
use crate::output::{money, print_json, time, Table};
use crate::parse;
use crate::Outcome;

pub fn table(rows: &[InvoiceRow]) -> Table {
    let mut t = Table::new(&[
        "NUMBER", "USERNAME", "AMOUNT", "PAID", "ISSUED", "DUE", "STATUS",
    ]);
    for i in rows {
        t.row(vec![
            i.number.clone(),
            i.username.clone(),
            money(i.amount_cents),
            money(i.paid_cents),
            time(i.issued_at),
            time(i.due_at),
            i.status.clone(),
        ]);
    }
    t
}

pub fn run(ctx: &Ctx, cmd: InvoiceCmd) -> Outcome {
    match cmd {
        InvoiceCmd::Add {
            username,
            amount,
            due,
            issued,
            number,
        } => {
            let inv = NewInvoice {
                username,
                number,
                amount_cents: parse::money("amount", &amount)?,
                issued_at: issued
                    .as_deref()
                    .map(|v| parse::date("issue date", v))
                    .transpose()?,
                due_at: due
                    .as_deref()
                    .map(|v| parse::date("due date", v))
                    .transpose()?,
            };
            let row = ctx.in_tx(|tx| Ok(db::add_invoice(tx, &inv)?))?;
            if ctx.json {
                return print_json(&row);
            }
            println!(
                "Issued invoice {} to '{}' for {}, due {}.",
                row.number,
                row.username,
                money(row.amount_cents),
                time(row.due_at)
            );
            Ok(())
        }
        InvoiceCmd::List {
            user,
            status,
            limit,
        } => {
            let f = InvoiceFilter {
                username: user,
                status,
                limit,
                ..InvoiceFilter::default()
            };
            let rows = ctx.in_tx(|tx| Ok(db::list_invoices(tx, &f)?))?;
            if ctx.json {
                return print_json(&rows);
            }
            table(&rows).print();
            Ok(())
        }
        InvoiceCmd::Pay {
            number,
            method,
            reference,
            paid_at,
        } => {
            let p = Payment {
                method,
                reference,
                paid_at: paid_at
                    .as_deref()
                    .map(|v| parse::date("payment date", v))
                    .transpose()?,
            };
            let row = ctx.in_tx(|tx| Ok(db::pay_invoice(tx, &number, &p)?))?;
            if ctx.json {
                return print_json(&row);
            }
            println!(
                "Invoice {} of '{}' is paid ({}).",
                row.number,
                row.username,
                money(row.paid_cents)
            );
            Ok(())
        }
        InvoiceCmd::Void { number } => {
            let row = ctx.in_tx(|tx| Ok(db::void_invoice(tx, &number)?))?;
            if ctx.json {
                return print_json(&row);
            }
            println!("Invoice {} of '{}' is void.", row.number, row.username);
            Ok(())
        }
    }
}
