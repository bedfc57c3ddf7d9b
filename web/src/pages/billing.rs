//! Billing in the Client Portal: the Billing module (`/billing`, with All Transactions,
//! Outstanding and Since Last Login), an invoice with Pay Now (`/invoices/{id}`), the saved
//! payment methods (`/payment-methods`), the home page's Billing tile and a file's Billing tab.
//!
//! The pages only read (through `portico_payments` with the client's scope from
//! `crate::billing`); paying and managing methods happen in the browser against the JSON API
//! (`/api/v1/portal/…`), because card details must go from the browser to the payment
//! provider (or the mock's `/mock-psp/tokens`) and never through these pages.

use std::collections::HashMap;

use poem::http::{HeaderValue, StatusCode, header};
use poem::web::{Data, Path, Query, Redirect};
use poem::{IntoResponse, Request, Response, Route, get, handler};
use portico_payments::ledger::{self, BillingItem, BillingView, ClientInvoice};
use portico_payments::methods::{self, SavedMethod};
use portico_payments::settings as billing_settings;
use portico_payments::{BillingError, ProviderKind, format_money};
use portico_platform::ids::{FileId, InvoiceId};
use portico_platform::money::Money;
use portico_tenants::portal_access::SharedFile;
use serde::{Deserialize, Serialize};

use super::client::PortalLayout;
use super::firm::billing::major_text;
use super::firm::not_found;
use crate::auth::AuthFailure;
use crate::billing::{client_bills, client_scope_and_files, client_status, method_label};
use crate::client_auth::{ClientCtx, authenticate_client};
use crate::state::AppState;

/// Adds the client's billing pages.
pub fn routes(route: Route) -> Route {
    route
        .at("/billing", get(billing_page))
        .at("/invoices/:id", get(invoice_page))
        .at("/payment-methods", get(methods_page))
}

/// The Content-Security-Policy of the payment methods page in Stripe mode: the site's policy
/// plus Stripe.js (its script, the card field's frames and its API), and nothing else.
const CSP_STRIPE: &str = "default-src 'self'; img-src 'self' data: https://*.stripe.com; \
     style-src 'self'; script-src 'self' https://js.stripe.com; \
     frame-src https://js.stripe.com https://hooks.stripe.com; \
     connect-src 'self' https://api.stripe.com; form-action 'self'; object-src 'none'; \
     base-uri 'none'; frame-ancestors 'none'";

fn internal_error(state: &AppState, cause: impl std::fmt::Display) -> Response {
    state
        .templates
        .server_error("client billing page failed", cause)
}

/// The signed-in client on their firm's host, or where to go instead.
async fn client_of(req: &Request, state: &AppState) -> Result<ClientCtx, Response> {
    match authenticate_client(req, state).await {
        Ok(ctx) => Ok(ctx),
        Err(AuthFailure::NotFound) => Err(not_found(state)),
        Err(_) => Err(Redirect::see_other("/").into_response()),
    }
}

async fn render(
    state: &AppState,
    ctx: &ClientCtx,
    template: &str,
    extra: minijinja::Value,
) -> Response {
    let options = crate::firm_options::options_or_defaults(state, &ctx.tenant).await;
    PortalLayout {
        tenant: &ctx.tenant,
        options: &options,
        ctx: Some(ctx),
        section: "billing",
    }
    .render(state, template, StatusCode::OK, extra)
}

// ---- rows as the client sees them ----------------------------------------------------------

#[derive(Serialize)]
struct ItemRow {
    /// `invoice` or `payment`.
    kind: &'static str,
    id: uuid::Uuid,
    file_number: String,
    file_name: String,
    date: String,
    number: Option<String>,
    description: String,
    amount: String,
    due: Option<String>,
    /// Something is still due on this invoice.
    owing: bool,
    due_date: Option<String>,
    status: String,
    paid: bool,
    confirmation_number: Option<String>,
}

fn item_row(item: &BillingItem, files: &HashMap<FileId, &SharedFile>) -> ItemRow {
    let file = files.get(&item.file_id);
    ItemRow {
        kind: item.kind,
        id: item.id,
        file_number: file.map(|f| f.number.clone()).unwrap_or_default(),
        file_name: file.map(|f| f.name.clone()).unwrap_or_default(),
        date: item.date.format("%Y-%m-%d").to_string(),
        number: item.number.clone(),
        description: item.description.clone(),
        amount: format_money(item.amount),
        due: item.due.map(format_money),
        owing: item.due.is_some_and(|d| d.amount > 0),
        due_date: item.due_date.map(|d| d.format("%Y-%m-%d").to_string()),
        status: item.status.clone(),
        paid: item.paid,
        confirmation_number: item.confirmation_number.clone(),
    }
}

/// The client's bills in `view`, with the balance owing and the files they are on.
async fn load_billing(
    state: &AppState,
    ctx: &ClientCtx,
    view: BillingView,
) -> Result<(Vec<ItemRow>, Money), BillingError> {
    let (billing, shared_files) = client_bills(state, ctx, view).await?;
    let files: HashMap<FileId, &SharedFile> = shared_files.iter().map(|f| (f.id, f)).collect();
    let rows = billing
        .items
        .iter()
        .map(|item| item_row(item, &files))
        .collect();
    Ok((rows, billing.balance_owing))
}

// ---- the home tile and the file tab --------------------------------------------------------

/// The home page's Billing tile: it opens Outstanding when anything is due, else All.
pub async fn home_tile(state: &AppState, ctx: &ClientCtx) -> minijinja::Value {
    match load_billing(state, ctx, BillingView::Outstanding).await {
        Ok((rows, balance)) => {
            let owing = balance.amount > 0 || !rows.is_empty();
            minijinja::context! {
                href => if owing { "/billing?view=outstanding" } else { "/billing?view=all" },
                owing => owing,
                balance_owing => format_money(balance),
                outstanding => rows.len(),
            }
        }
        Err(err) => {
            tracing::error!(error = %err, "loading the Billing tile failed");
            minijinja::context! { href => "/billing", failed => true }
        }
    }
}

/// A file's Billing tab: the bills of that file only.
pub async fn client_file_section(
    state: &AppState,
    ctx: &ClientCtx,
    file: FileId,
) -> minijinja::Value {
    match client_bills(state, ctx, BillingView::All).await {
        Ok((billing, _)) => {
            let files = HashMap::new();
            let mine: Vec<&BillingItem> =
                billing.items.iter().filter(|i| i.file_id == file).collect();
            let due: i64 = mine
                .iter()
                .filter_map(|i| i.due)
                .filter(|d| d.currency == billing.balance_owing.currency)
                .map(|d| d.amount)
                .sum();
            minijinja::context! {
                items => mine.iter().map(|i| item_row(i, &files)).collect::<Vec<_>>(),
                balance_owing => format_money(Money::new(due, billing.balance_owing.currency)),
                owing => due > 0,
            }
        }
        Err(err) => {
            tracing::error!(error = %err, "loading a file's bills failed");
            minijinja::context! { failed => "Your bills could not be loaded." }
        }
    }
}

// ---- the Billing module --------------------------------------------------------------------

#[derive(Deserialize, Default)]
pub struct BillingQuery {
    #[serde(default)]
    view: String,
}

#[derive(Serialize)]
struct ViewTab {
    id: &'static str,
    label: &'static str,
}

const VIEWS: [ViewTab; 3] = [
    ViewTab {
        id: "all",
        label: "All Transactions",
    },
    ViewTab {
        id: "outstanding",
        label: "Outstanding",
    },
    ViewTab {
        id: "since_last_login",
        label: "Since Last Login",
    },
];

#[handler]
async fn billing_page(
    req: &Request,
    state: Data<&AppState>,
    Query(query): Query<BillingQuery>,
) -> Response {
    let ctx = match client_of(req, &state).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    // An unknown view is the default one rather than an error: it only ever comes from a link.
    let view_id = VIEWS
        .iter()
        .find(|v| v.id == query.view)
        .map(|v| v.id)
        .unwrap_or("all");
    let view = BillingView::parse(view_id).unwrap_or(BillingView::All);
    let (rows, balance) = match load_billing(&state, &ctx, view).await {
        Ok(loaded) => loaded,
        Err(err) => return internal_error(&state, err),
    };
    let since = ctx
        .client
        .previous_login_at
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string());
    render(
        &state,
        &ctx,
        "client_billing.html",
        minijinja::context! {
            view => view_id,
            views => VIEWS,
            items => rows,
            balance_owing => format_money(balance),
            owing => balance.amount > 0,
            since => since,
        },
    )
    .await
}

// ---- one invoice and Pay Now ---------------------------------------------------------------

#[derive(Serialize)]
struct PaymentRow {
    date: String,
    amount: String,
    method: &'static str,
    confirmation_number: Option<String>,
    reference: String,
}

#[derive(Serialize)]
struct InvoiceView {
    id: InvoiceId,
    number: String,
    status: &'static str,
    paid: bool,
    total: String,
    paid_amount: String,
    due: String,
    due_major: String,
    owing: bool,
    due_date: Option<String>,
    memo: String,
    currency: String,
    issued_on: Option<String>,
    lines: Vec<(String, String)>,
    payments: Vec<PaymentRow>,
}

fn invoice_view(c: &ClientInvoice) -> InvoiceView {
    let i = &c.invoice;
    let status = client_status(c);
    InvoiceView {
        id: i.id,
        number: i.number.clone(),
        status,
        paid: c.paid,
        total: format_money(i.money(i.total)),
        paid_amount: format_money(i.money(c.paid_visible)),
        due: format_money(i.money(c.due)),
        due_major: major_text(c.due),
        owing: c.due > 0 && status != "void",
        due_date: i.due_date.map(|d| d.format("%Y-%m-%d").to_string()),
        memo: i.memo.clone(),
        currency: i.currency.as_str().to_owned(),
        issued_on: i.finalized_at.map(|t| t.format("%Y-%m-%d").to_string()),
        lines: i
            .lines
            .iter()
            .map(|l| (l.description.clone(), format_money(i.money(l.amount))))
            .collect(),
        payments: c
            .payments
            .iter()
            .map(|p| PaymentRow {
                date: p.received_at.format("%Y-%m-%d").to_string(),
                amount: format_money(p.amount),
                method: method_label(&p.method),
                confirmation_number: p.confirmation_number.clone(),
                reference: p.reference.clone(),
            })
            .collect(),
    }
}

#[handler]
async fn invoice_page(req: &Request, state: Data<&AppState>, Path(id): Path<String>) -> Response {
    let ctx = match client_of(req, &state).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let Ok(id) = id.parse::<InvoiceId>() else {
        return not_found(&state);
    };
    let loaded = async {
        let tx = ctx.db.read().await?;
        let (scope, files) = client_scope_and_files(&state, &ctx, &tx).await?;
        let invoice = ledger::client_invoice_detail(&tx, &scope, id).await?;
        let file = files.into_iter().find(|f| f.id == invoice.invoice.file_id);
        let saved = methods::list(&tx, ctx.client.contact_id).await?;
        let settings = billing_settings::get(&tx).await?;
        tx.commit().await?;
        Ok::<_, BillingError>((invoice, file, saved, settings))
    }
    .await;
    let (invoice, file, saved, settings) = match loaded {
        Ok(loaded) => loaded,
        // Another client's, another firm's, an unshared or a missing invoice: one answer.
        Err(BillingError::NotFound) => return not_found(&state),
        Err(err) => return internal_error(&state, err),
    };
    render(
        &state,
        &ctx,
        "client_invoice.html",
        minijinja::context! {
            invoice => invoice_view(&invoice),
            file => file,
            methods => saved.iter().map(method_view).collect::<Vec<_>>(),
            provider => settings.provider.as_str(),
            // Card details are typed in the dialog only with the mock provider; Stripe's card
            // field lives on the payment methods page, the one page allowed to load Stripe.js.
            inline_add => settings.provider == ProviderKind::Mock,
        },
    )
    .await
}

// ---- saved payment methods -----------------------------------------------------------------

#[derive(Serialize)]
struct MethodView<'a> {
    #[serde(flatten)]
    method: &'a SavedMethod,
    label: String,
    expiry: Option<String>,
}

fn method_view(m: &SavedMethod) -> MethodView<'_> {
    let brand = match m.brand.as_str() {
        "visa" => "Visa".to_owned(),
        "mastercard" => "Mastercard".to_owned(),
        "amex" => "American Express".to_owned(),
        "discover" => "Discover".to_owned(),
        "" | "unknown" => match m.kind {
            portico_payments::provider::MethodKind::Card => "Card".to_owned(),
            portico_payments::provider::MethodKind::BankAccount => "Bank account".to_owned(),
        },
        other => other.to_owned(),
    };
    MethodView {
        method: m,
        label: format!("{brand} ending in {}", m.last4),
        expiry: match (m.exp_month, m.exp_year) {
            (Some(month), Some(year)) => Some(format!("{month:02}/{year}")),
            _ => None,
        },
    }
}

#[derive(Deserialize, Default)]
pub struct MethodsQuery {
    #[serde(default)]
    done: String,
    /// Came from this invoice's Pay Now: offer the way back.
    #[serde(default)]
    invoice: String,
}

fn methods_notice(done: &str) -> Option<&'static str> {
    Some(match done {
        "added" => "Payment method added.",
        "updated" => "Payment method updated.",
        "default" => "Default payment method changed.",
        "removed" => "Payment method removed.",
        _ => return None,
    })
}

#[handler]
async fn methods_page(
    req: &Request,
    state: Data<&AppState>,
    Query(query): Query<MethodsQuery>,
) -> Response {
    let ctx = match client_of(req, &state).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let loaded = async {
        let tx = ctx.db.read().await?;
        let saved = methods::list(&tx, ctx.client.contact_id).await?;
        let settings = billing_settings::get(&tx).await?;
        tx.commit().await?;
        Ok::<_, BillingError>((saved, settings))
    }
    .await;
    let (saved, settings) = match loaded {
        Ok(loaded) => loaded,
        Err(err) => return internal_error(&state, err),
    };
    let stripe = settings.provider == ProviderKind::Stripe;
    let publishable_key = &state.settings.payments.stripe.publishable_key;
    // Stripe.js is loaded only when it can work: Stripe mode with a key and a connected account.
    let stripe_js = stripe && !publishable_key.is_empty() && settings.stripe_account_id.is_some();
    let back_to = query.invoice.parse::<InvoiceId>().ok();
    let mut response = render(
        &state,
        &ctx,
        "client_payment_methods.html",
        minijinja::context! {
            methods => saved.iter().map(method_view).collect::<Vec<_>>(),
            provider => settings.provider.as_str(),
            stripe_js => stripe_js,
            stripe_unavailable => stripe && !stripe_js,
            publishable_key => stripe_js.then_some(publishable_key.as_str()),
            stripe_account => settings.stripe_account_id.as_deref().filter(|_| stripe_js),
            notice => methods_notice(&query.done),
            back_to => back_to,
        },
    )
    .await;
    if stripe_js {
        response.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP_STRIPE),
        );
    }
    response
}
