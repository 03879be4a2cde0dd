//! The console: server-rendered pages over the same functions as the API
//! (`crate::api`), so a page and its endpoint never disagree. Forms post
//! back and redirect (post/redirect/get); the CSRF check is in
//! `auth::authenticate`, before any handler.

mod account;
mod actions;
mod charts;
mod lists;
pub mod login;
mod plans;
mod subscriber;
mod view;

use askama::Template;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::auth::Authed;
use crate::error::ApiError;
use crate::state::App;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/", get(lists::dashboard))
        .route("/subscribers", get(lists::subscribers))
        .route("/subscribers/{username}", get(subscriber::page))
        .route("/subscribers/{username}/suspend", post(actions::suspend))
        .route("/subscribers/{username}/resume", post(actions::resume))
        .route(
            "/subscribers/{username}/terminate",
            post(actions::terminate),
        )
        .route(
            "/subscribers/{username}/invoices",
            post(actions::add_invoice),
        )
        .route("/subscribers/{username}/plan", post(actions::change_plan))
        .route("/subscribers/{username}/kick", post(actions::kick))
        .route("/subscribers/{username}/usage.svg", get(charts::usage))
        .route("/charts/logins.svg", get(charts::logins))
        .route("/charts/traffic.svg", get(charts::traffic))
        .route(
            "/routers/{name}/certificate",
            post(actions::issue_certificate),
        )
        .route("/routers/{name}/revoke", post(actions::revoke_certificates))
        .route("/enforcement", get(lists::enforcement))
        .route("/invoices/{number}/pay", post(actions::pay))
        .route("/sessions", get(lists::sessions))
        .route("/routers", get(lists::routers).post(actions::add_router))
        .route("/routers/{name}/remove", post(actions::remove_router))
        .route("/routers/{name}/ovpn", get(actions::ovpn))
        .route("/routers/{name}/script", get(actions::script))
        .route("/plans", get(plans::list).post(plans::add))
        .route("/plans/{name}", get(plans::show).post(plans::save))
        .route("/plans/{name}/remove", post(plans::remove))
        .route("/invoices", get(lists::invoices))
        .route("/auth-log", get(lists::auth_log))
        .route("/audit", get(lists::audit))
        .route("/logout", post(login::logout))
        .route("/account", get(account::page))
        .route("/account/password", post(account::password))
        .route("/account/tokens", post(account::add_token))
        .route("/account/tokens/{id}/revoke", post(account::revoke_token))
        .route(
            "/operators",
            get(account::operators).post(account::add_operator),
        )
        .route("/operators/{name}/role", post(account::set_role))
        .route("/operators/{name}/remove", post(account::remove_operator))
}

/// What every page's header shows.
pub struct Nav {
    pub operator: String,
    pub role: String,
    pub csrf: String,
    pub active: &'static str,
    pub flash: Option<&'static str>,
}

impl Nav {
    pub fn new(who: &Authed, active: &'static str) -> Nav {
        Nav {
            operator: who.operator.name.clone(),
            role: who.operator.role.to_string(),
            csrf: who.csrf_token().to_owned(),
            active,
            flash: None,
        }
    }
}

/// A rendered page, or the error page if the template fails.
pub fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => ([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
        Err(e) => {
            log::error!("a page failed to render: {}", e);
            error_page(ApiError::internal("the page failed to render"))
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    status: String,
    message: String,
}

/// An error as a page, with the API error's status and message.
pub fn error_page(e: ApiError) -> Response {
    let page = ErrorPage {
        status: format!(
            "{} {}",
            e.status.as_u16(),
            e.status.canonical_reason().unwrap_or("")
        ),
        message: e.message,
    };
    let html = page
        .render()
        .unwrap_or_else(|_| "<h1>Error</h1>".to_owned());
    (e.status, Html(html)).into_response()
}

/// A page handler's result: errors become the error page.
pub struct PageError(pub ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> PageError {
        PageError(e)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        error_page(self.0)
    }
}

pub type PageResult = Result<Response, PageError>;

pub async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/app.css"),
    )
        .into_response()
}
