//! Server-rendered HTML pages and infrastructure routes.

pub mod firm;
pub mod infra;
pub mod operator;
pub mod portal;

use poem::web::Data;
use poem::{Request, Response, handler};

use crate::middleware::RequestHost;
use crate::state::AppState;

/// `/` is the operator console on the base domain and the client login page on a firm's host.
#[handler]
pub async fn home(req: &Request, state: Data<&AppState>, host: Data<&RequestHost>) -> Response {
    match host.0 {
        RequestHost::Operator => operator::console(req, &state, None).await,
        RequestHost::Firm(tenant) => portal::client_login_page(&state, tenant).await,
    }
}
