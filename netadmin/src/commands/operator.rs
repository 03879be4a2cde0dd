//! `netadmin operator ...` and `netadmin audit`: the console's and API's
//! operators, their tokens, and the log of who changed what.

use std::io::{BufRead, IsTerminal};

use netily_core::db::audit::{self, AuditFilter};
use netily_core::db::operators as ops;
use netily_core::operators::{self, Role};

use super::Ctx;
use crate::cli::{OperatorCmd, TokenCmd};
use crate::output::{opt_time, print_json, time, Table};
use crate::{Failure, Outcome};

pub fn run(ctx: &Ctx, cmd: OperatorCmd) -> Outcome {
    match cmd {
        OperatorCmd::Add {
            name,
            role,
            generate_password,
        } => {
            let role = Role::parse(&role)?;
            operators::check_name(&name)?;
            let (password, generated) = password(generate_password)?;
            let op = ctx.in_tx(|tx| Ok(ops::add_operator(tx, &name, role, &password)?))?;
            if ctx.json {
                let mut v = serde_json::to_value(&op).unwrap_or_default();
                if let (Some(o), true) = (v.as_object_mut(), generated) {
                    o.insert("password".into(), password.into());
                }
                return print_json(&v);
            }
            println!("Added operator '{}' ({}).", op.name, op.role);
            if generated {
                println!("Password: {password}");
            }
            Ok(())
        }
        OperatorCmd::List => {
            let rows = ctx.in_tx(|tx| Ok(ops::list_operators(tx)?))?;
            if ctx.json {
                return print_json(&rows);
            }
            let mut t = Table::new(&["NAME", "ROLE", "CREATED", "PASSWORD SET"]);
            for o in &rows {
                t.row(vec![
                    o.name.clone(),
                    o.role.to_string(),
                    time(o.created_at),
                    time(o.password_changed_at),
                ]);
            }
            t.print();
            Ok(())
        }
        OperatorCmd::Remove { name } => {
            ctx.in_tx(|tx| Ok(ops::remove_operator(tx, &name)?))?;
            if ctx.json {
                return print_json(&serde_json::json!({ "removed": name }));
            }
            println!("Removed operator '{name}' with their tokens and console sessions.");
            Ok(())
        }
        OperatorCmd::Passwd {
            name,
            generate_password,
        } => {
            let (password, generated) = password(generate_password)?;
            ctx.in_tx(|tx| Ok(ops::set_password(tx, &name, &password)?))?;
            if ctx.json {
                let mut v = serde_json::json!({ "operator": name });
                if generated {
                    v["password"] = password.into();
                }
                return print_json(&v);
            }
            println!("New password set for '{name}'; their console sessions are ended.");
            if generated {
                println!("Password: {password}");
            }
            Ok(())
        }
        OperatorCmd::Role { name, role } => {
            let role = Role::parse(&role)?;
            let op = ctx.in_tx(|tx| Ok(ops::set_role(tx, &name, role)?))?;
            if ctx.json {
                return print_json(&op);
            }
            println!("Operator '{}' is now {}.", op.name, op.role);
            Ok(())
        }
        OperatorCmd::Token(cmd) => token(ctx, cmd),
    }
}

fn token(ctx: &Ctx, cmd: TokenCmd) -> Outcome {
    match cmd {
        TokenCmd::Add {
            operator,
            label,
            expires_days,
        } => {
            let (row, secret) =
                ctx.in_tx(|tx| Ok(ops::add_token(tx, &operator, &label, expires_days)?))?;
            if ctx.json {
                let mut v = serde_json::to_value(&row).unwrap_or_default();
                v["token"] = secret.expose().into();
                return print_json(&v);
            }
            println!(
                "Token {} for '{}' ({}); it is shown only now:",
                row.id, row.operator, row.label
            );
            println!("{}", secret.expose());
            println!("Send it as: Authorization: Bearer <token>");
            Ok(())
        }
        TokenCmd::List { operator } => {
            let rows = ctx.in_tx(|tx| Ok(ops::list_tokens(tx, operator.as_deref())?))?;
            if ctx.json {
                return print_json(&rows);
            }
            let mut t = Table::new(&[
                "ID",
                "OPERATOR",
                "LABEL",
                "PREFIX",
                "CREATED",
                "LAST USED",
                "EXPIRES",
                "REVOKED",
            ]);
            for r in &rows {
                t.row(vec![
                    r.id.to_string(),
                    r.operator.clone(),
                    r.label.clone(),
                    r.prefix.clone(),
                    time(r.created_at),
                    opt_time(r.last_used_at),
                    opt_time(r.expires_at),
                    opt_time(r.revoked_at),
                ]);
            }
            t.print();
            Ok(())
        }
        TokenCmd::Revoke { token } => {
            let row = ctx.in_tx(|tx| Ok(ops::revoke_token(tx, &token)?))?;
            if ctx.json {
                return print_json(&row);
            }
            println!(
                "Revoked token {} ({}, of '{}').",
                row.id, row.label, row.operator
            );
            Ok(())
        }
    }
}

/// The password to set, and whether it was made up here (and must be shown).
fn password(generate: bool) -> Result<(String, bool), Failure> {
    if generate {
        return Ok((operators::generate_password()?, true));
    }
    let stdin = std::io::stdin();
    let password = if stdin.is_terminal() {
        let first = rpassword::prompt_password("Password: ")
            .map_err(|e| Failure(format!("cannot read the password: {e}")))?;
        operators::check_password(&first)?;
        let again = rpassword::prompt_password("Again: ")
            .map_err(|e| Failure(format!("cannot read the password: {e}")))?;
        if first != again {
            return Err(Failure("the two passwords differ".into()));
        }
        first
    } else {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| Failure(format!("cannot read the password from standard input: {e}")))?;
        line.trim_end_matches(['\n', '\r']).to_owned()
    };
    operators::check_password(&password)?;
    Ok((password, false))
}

pub fn audit(
    ctx: &Ctx,
    user: Option<String>,
    operator: Option<String>,
    entity: Option<String>,
    before: Option<i64>,
    limit: i64,
) -> Outcome {
    let filter = AuditFilter {
        subscriber: user,
        actor: operator,
        entity,
        before_id: before,
        limit,
        ..AuditFilter::default()
    };
    let rows = ctx.in_tx(|tx| Ok(audit::list_audit(tx, &filter)?))?;
    if ctx.json {
        return print_json(&rows);
    }
    let mut t = Table::new(&["ID", "WHEN", "WHO", "VIA", "ACTION", "WHAT", "CHANGE"]);
    for e in &rows {
        t.row(vec![
            e.id.to_string(),
            time(e.at),
            e.actor.clone(),
            e.via.clone(),
            e.action.clone(),
            format!("{} {}", e.entity, e.entity_key.as_deref().unwrap_or("")),
            netily_core::audit::describe_change(e.before.as_ref(), e.after.as_ref()),
        ]);
    }
    t.print();
    if rows.len() as i64 == limit {
        if let Some(last) = rows.last() {
            println!("(more: --before {})", last.id);
        }
    }
    Ok(())
}
