//! The isolation matrix: every operation of the OpenAPI document that takes an id, replayed with
//! another firm's and another client's ids, answers exactly as it does for an id that never
//! existed — and nothing is written.
//!
//! Two firms, A and B, are seeded alike through the public API (members, a pending member,
//! contacts, two clients on two files, a pending invitation, documents, notes, appointments,
//! tasks, a custom field with a value, finalized shared invoices, an offline payment, saved
//! cards, a card setup left open, unused setup/reset/invitation/email-change links). Each GET
//! route first answers 200 to the owners of those ids (so they are real, and the refusals below
//! are about visibility), then the ids of firm A and of its client 1 are replayed:
//!
//! * (a) `/firm/…` as firm B's administrator on firm B's host;
//! * (b) `/portal/…` as client 2 of firm A (on firm A's host) and as firm B's client;
//! * (c) with firm A's session, as a bearer token and as a cookie, sent to firm B's host;
//! * (d) with a session of the other kind (a client's on `/firm/…`, a member's on `/portal/…`);
//! * link-token routes (setup, reset, invitation, email change) anonymously on firm B's host;
//! * operator routes (`/platform/tenants/{slug}`) with firm sessions on the base domain, and on
//!   a firm host, where they do not exist.
//!
//! Each answer must be byte-identical (status, content type, body) to the same request with a
//! never-existing id of the same shape, and have the status the tables expect. Routes with two
//! ids are also replayed with the caller's own id in one place and the foreign one in the other,
//! and every id a request body refers to is probed the same way on the caller's own resource.
//! List routes read by firm B and by client 2 must not mention any of firm A's or client 1's
//! ids. Every row of every table is the same before and after the replay (only sessions'
//! `last_seen_at` may move).
//!
//! The tables are checked against the document: an operation with a path parameter, a list
//! route or a request-body id field that no table covers — or a stale entry — fails the test,
//! so a new route cannot escape the matrix.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::db_snapshot::DbSnapshot;
use crate::support::firm::{FirmSession, STRONG_PASSWORD};
use crate::support::portal::{CLIENT_PASSWORD, ClientSession};
use crate::support::{TestApp, fetch_json, link_token, new_client, unique_slug};

on_both_backends!(foreign_ids_answer_like_ids_that_never_existed);

/// What a parameter is, and which seeded object of a firm stands in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Id {
    /// A member who has set a password (`POST /members` + setup link).
    Member,
    /// A member invited but not yet set up: the subject of `/members/{id}/setup-link`.
    PendingMember,
    /// Client 1's contact: client on file 1 with an active Portal account.
    Contact,
    /// A contact on file 1 invited to the Portal who has not accepted yet.
    PendingContact,
    /// A contact on no file (body only: the caller's own contact to add to a file).
    OtherContact,
    /// File 1: client 1 is its primary client.
    File,
    /// A document uploaded by the firm on file 1, shown in the Portal.
    Document,
    /// A note on file 1, shown in the Portal.
    Note,
    /// An appointment on file 1, shown in the Portal.
    Appointment,
    /// A task on file 1, shown in the Portal.
    Task,
    /// A text custom field, with a value on file 1 that client 1 may edit.
    Field,
    /// A finalized invoice on file 1, shown in the Portal.
    Invoice,
    /// An offline (check) payment on that invoice, shown in the Portal.
    Payment,
    /// Client 1's saved card (mock provider: setup, `/mock-psp/tokens`, complete).
    PaymentMethod,
    /// A card setup client 1 began and did not complete (body only: `setup_id`).
    PendingSetup,
    /// A fresh mock-provider card token (body only: `provider_token`), minted before the
    /// snapshot because minting writes the mock provider's store.
    ProviderToken,
    /// Client 1's login email (body only: re-inviting with other files).
    LoginEmail,
    /// The pending member's setup link (from the invitation email).
    SetupToken,
    /// The set-up member's password-reset link (from `POST /firm/password-reset`).
    MemberResetToken,
    /// The pending contact's Portal invitation link.
    InvitationToken,
    /// Client 1's password-reset link (from `POST /portal/password-reset`).
    ClientResetToken,
    /// Client 1's login-email change confirmation link
    /// (from `POST /firm/contacts/{id}/portal/login-email`).
    EmailChangeToken,
    /// The firm's slug, which operator routes take.
    Slug,
}

impl Id {
    fn is_link_token(self) -> bool {
        matches!(
            self,
            Id::SetupToken
                | Id::MemberResetToken
                | Id::InvitationToken
                | Id::ClientResetToken
                | Id::EmailChangeToken
        )
    }

    /// A value of the same shape that was never issued: a UUIDv7 like every row id, 256
    /// random bits like every link token, a slug like every firm's.
    fn never_existing(self) -> String {
        if self.is_link_token() {
            portico_platform::token::RawToken::generate()
                .reveal()
                .to_owned()
        } else if self == Id::Slug {
            unique_slug()
        } else {
            Uuid::now_v7().to_string()
        }
    }
}

type Ids = BTreeMap<Id, String>;

/// The request body sent with both the foreign and the never-existing id: a valid one, so that
/// a 422 from body validation cannot hide whether the id was found. It may use the caller's own
/// ids (for example a contact of the caller's firm).
#[derive(Clone, Copy)]
enum Body {
    None,
    Json(fn(&Ids) -> Value),
    /// A small text file in the `file` part of a multipart form.
    Upload,
}

/// One operation of the document with a path parameter, and how its ids are obtained.
struct Covered {
    method: &'static str,
    path: &'static str,
    params: &'static [(&'static str, Id)],
    body: Body,
    /// The status both ids get from a signed-in caller of the right kind who may not see the
    /// foreign id (for link-token routes: from anyone on another firm's host).
    expect: u16,
}

/// `"METHOD /path"`: an id route, 404 for ids the caller may not see.
fn op(route: &'static str, params: &'static [(&'static str, Id)], body: Body) -> Covered {
    let (method, path) = route.split_once(' ').expect("METHOD /path");
    Covered {
        method,
        path,
        params,
        body,
        expect: 404,
    }
}

/// A link-token route: the token is its only credential. An unknown token, a used or expired
/// one and another firm's all get the same "link expired or already used" 410, which tells the
/// holder to ask for a new link without saying which case it is.
fn link(route: &'static str, params: &'static [(&'static str, Id)], body: Body) -> Covered {
    Covered {
        expect: 410,
        ..op(route, params, body)
    }
}

fn shared(_: &Ids) -> Value {
    json!({"shared": true})
}

/// Every operation of the document with a path parameter. Kept by hand on purpose: the test
/// fails when the document and this table disagree.
fn covered() -> Vec<Covered> {
    use Body::{Json, None, Upload};
    use Id::*;
    const FILE: &[(&str, Id)] = &[("id", File)];
    vec![
        // Operators: a firm's slug. Replayed with firm sessions (see `platform_replays`); the
        // DELETE body's `confirm` repeats the slug of each request.
        op("GET /platform/tenants/{slug}", &[("slug", Slug)], None),
        op(
            "DELETE /platform/tenants/{slug}",
            &[("slug", Slug)],
            Json(|_| json!({"confirm": ""})),
        ),
        op(
            "POST /platform/tenants/{slug}/suspend",
            &[("slug", Slug)],
            None,
        ),
        op(
            "POST /platform/tenants/{slug}/reactivate",
            &[("slug", Slug)],
            None,
        ),
        // Link tokens, anonymous; strong passwords so that the password policy answers nothing.
        link(
            "POST /firm/setup/{token}",
            &[("token", SetupToken)],
            Json(|_| json!({"password": STRONG_PASSWORD})),
        ),
        link(
            "POST /firm/password-reset/{token}",
            &[("token", MemberResetToken)],
            Json(|_| json!({"password": STRONG_PASSWORD})),
        ),
        link(
            "GET /portal/invitations/{token}",
            &[("token", InvitationToken)],
            None,
        ),
        link(
            "POST /portal/invitations/{token}/accept",
            &[("token", InvitationToken)],
            Json(|_| json!({"accept_terms": true, "password": CLIENT_PASSWORD})),
        ),
        link(
            "POST /portal/password-reset/{token}",
            &[("token", ClientResetToken)],
            Json(|_| json!({"password": CLIENT_PASSWORD})),
        ),
        link(
            "POST /portal/verify-email/{token}",
            &[("token", EmailChangeToken)],
            None,
        ),
        // Members.
        op("GET /firm/members/{id}", &[("id", Member)], None),
        op(
            "PATCH /firm/members/{id}",
            &[("id", Member)],
            Json(|_| json!({"name": "Renamed Member"})),
        ),
        op(
            "POST /firm/members/{id}/setup-link",
            &[("id", PendingMember)],
            None,
        ),
        // Contacts and files.
        op("GET /firm/contacts/{id}", &[("id", Contact)], None),
        op(
            "PATCH /firm/contacts/{id}",
            &[("id", Contact)],
            Json(|_| json!({"name": "Renamed Contact"})),
        ),
        op("GET /firm/files/{id}", FILE, None),
        op(
            "PATCH /firm/files/{id}",
            FILE,
            Json(|_| json!({"name": "Renamed Matter"})),
        ),
        op("GET /firm/files/{id}/people", FILE, None),
        op(
            "POST /firm/files/{id}/people",
            FILE,
            Json(|own| json!({"contact_id": own[&OtherContact], "role": "client"})),
        ),
        op(
            "DELETE /firm/files/{id}/people/{contact_id}",
            &[("id", File), ("contact_id", Contact)],
            None,
        ),
        // Manage Portal.
        op("GET /firm/contacts/{id}/portal", &[("id", Contact)], None),
        op(
            "PUT /firm/contacts/{id}/portal",
            &[("id", Contact)],
            Json(|_| json!({"allow": false})),
        ),
        op(
            "POST /firm/contacts/{id}/portal/resend",
            &[("id", PendingContact)],
            None,
        ),
        op(
            "POST /firm/contacts/{id}/portal/login-email",
            &[("id", Contact)],
            Json(|_| json!({"login_email": "someone.else@example.com"})),
        ),
        op("GET /firm/files/{id}/portal", FILE, None),
        op(
            "PUT /firm/files/{id}/portal/clients/{contact_id}",
            &[("id", File), ("contact_id", Contact)],
            Json(shared),
        ),
        // Documents.
        op("GET /firm/files/{id}/documents", FILE, None),
        op("POST /firm/files/{id}/documents", FILE, Upload),
        op("GET /firm/documents/{id}", &[("id", Document)], None),
        op(
            "GET /firm/documents/{id}/content",
            &[("id", Document)],
            None,
        ),
        op(
            "PUT /firm/documents/{id}/portal",
            &[("id", Document)],
            Json(shared),
        ),
        op("GET /portal/files/{id}", FILE, None),
        op("GET /portal/files/{id}/documents", FILE, None),
        op("POST /portal/files/{id}/documents", FILE, Upload),
        op(
            "GET /portal/documents/{id}/content",
            &[("id", Document)],
            None,
        ),
        // Custom fields.
        op("GET /firm/custom-fields/{id}", &[("id", Field)], None),
        op(
            "PATCH /firm/custom-fields/{id}",
            &[("id", Field)],
            Json(|_| json!({"name": "Renamed Field"})),
        ),
        op("DELETE /firm/custom-fields/{id}", &[("id", Field)], None),
        op("GET /firm/files/{id}/custom-fields", FILE, None),
        op(
            "PUT /firm/files/{id}/custom-fields/{field_id}",
            &[("id", File), ("field_id", Field)],
            Json(|_| json!({"value": "Court of Appeal"})),
        ),
        op(
            "PUT /firm/files/{id}/custom-fields/{field_id}/portal",
            &[("id", File), ("field_id", Field)],
            Json(|_| json!({"sharing": "editable"})),
        ),
        op(
            "POST /firm/files/{id}/custom-fields/portal",
            FILE,
            Json(|_| json!({"action": "hide_all", "apply_to_file_type": false})),
        ),
        op("GET /portal/files/{id}/custom-fields", FILE, None),
        op(
            "PUT /portal/files/{id}/custom-fields/{field_id}",
            &[("id", File), ("field_id", Field)],
            Json(|_| json!({"value": "Court of Appeal"})),
        ),
        // Notes, appointments, tasks.
        op("GET /firm/files/{id}/notes", FILE, None),
        op(
            "POST /firm/files/{id}/notes",
            FILE,
            Json(|_| json!({"body": "Probe note"})),
        ),
        op("GET /firm/files/{id}/appointments", FILE, None),
        op(
            "POST /firm/files/{id}/appointments",
            FILE,
            Json(|_| json!({"title": "Probe", "starts_at": "2026-12-01T10:00:00Z"})),
        ),
        op("GET /firm/files/{id}/tasks", FILE, None),
        op(
            "POST /firm/files/{id}/tasks",
            FILE,
            Json(|_| json!({"title": "Probe task"})),
        ),
        op(
            "PATCH /firm/tasks/{id}",
            &[("id", Task)],
            Json(|_| json!({"done": true})),
        ),
        op("PUT /firm/notes/{id}/portal", &[("id", Note)], Json(shared)),
        op(
            "PUT /firm/appointments/{id}/portal",
            &[("id", Appointment)],
            Json(shared),
        ),
        op("PUT /firm/tasks/{id}/portal", &[("id", Task)], Json(shared)),
        op("GET /portal/files/{id}/notes", FILE, None),
        op(
            "POST /portal/files/{id}/notes",
            FILE,
            Json(|_| json!({"body": "Probe question"})),
        ),
        op("GET /portal/files/{id}/appointments", FILE, None),
        op("GET /portal/files/{id}/tasks", FILE, None),
        // Billing.
        op("GET /firm/files/{id}/billing", FILE, None),
        op(
            "POST /firm/files/{id}/invoices",
            FILE,
            Json(|_| json!({"lines": [{"description": "Probe", "amount": 100}]})),
        ),
        op("GET /firm/invoices/{id}", &[("id", Invoice)], None),
        op(
            "POST /firm/invoices/{id}/finalize",
            &[("id", Invoice)],
            None,
        ),
        op("POST /firm/invoices/{id}/void", &[("id", Invoice)], None),
        op(
            "PUT /firm/invoices/{id}/portal",
            &[("id", Invoice)],
            Json(shared),
        ),
        op(
            "POST /firm/files/{id}/payments",
            FILE,
            Json(|_| json!({"amount": 100, "method": "check"})),
        ),
        op(
            "PUT /firm/payments/{id}/portal",
            &[("id", Payment)],
            Json(shared),
        ),
        op(
            "POST /firm/files/{id}/billing/portal",
            FILE,
            // An empty selection is refused (422) before the file is looked up — the same
            // answer for every id, so nothing leaks — hence the caller's own invoice and payment.
            Json(|own| {
                json!({"shared": true, "invoice_ids": [own[&Invoice]],
                       "payment_ids": [own[&Payment]]})
            }),
        ),
        op("GET /portal/invoices/{id}", &[("id", Invoice)], None),
        op(
            "POST /portal/invoices/{id}/payments",
            &[("id", Invoice)],
            Json(|own| json!({"amount": 100, "payment_method_id": own[&PaymentMethod]})),
        ),
        op(
            "PATCH /portal/payment-methods/{id}",
            &[("id", PaymentMethod)],
            Json(|_| json!({"holder_name": "Probe Holder"})),
        ),
        op(
            "DELETE /portal/payment-methods/{id}",
            &[("id", PaymentMethod)],
            None,
        ),
        op(
            "POST /portal/payment-methods/{id}/default",
            &[("id", PaymentMethod)],
            None,
        ),
    ]
}

/// An id inside a request body, probed on the caller's own resource: another firm's (or
/// client's) id and a never-existing one must get the same refusal, and nothing is written.
struct BodyProbe {
    method: &'static str,
    /// Filled with the caller's own ids.
    path: &'static str,
    params: &'static [(&'static str, Id)],
    /// The body property that holds the probed id.
    field: &'static str,
    probe: Id,
    body: fn(&Ids, &str) -> Value,
    expect: u16,
}

fn probe(
    route: &'static str,
    params: &'static [(&'static str, Id)],
    field: &'static str,
    probe: Id,
    expect: u16,
    body: fn(&Ids, &str) -> Value,
) -> BodyProbe {
    let (method, path) = route.split_once(' ').expect("METHOD /path");
    BodyProbe {
        method,
        path,
        params,
        field,
        probe,
        body,
        expect,
    }
}

/// Every id-valued property of a request body in the document (a uuid, or a name ending in
/// `_id`/`_ids`), unless `BODY_IDS_EXEMPT` says why not.
fn body_probes() -> Vec<BodyProbe> {
    use Id::*;
    const FILE: &[(&str, Id)] = &[("id", File)];
    vec![
        probe(
            "POST /firm/files",
            &[],
            "responsible_lawyer_id",
            Member,
            422,
            |_, x| {
                json!({"number": "2026-901", "name": "Probe", "file_type": "Litigation",
                       "status": "open", "responsible_lawyer_id": x})
            },
        ),
        probe(
            "POST /firm/files",
            &[],
            "member_ids",
            Member,
            422,
            |own, x| {
                json!({"number": "2026-902", "name": "Probe", "file_type": "Litigation",
                   "status": "open", "responsible_lawyer_id": own[&Member], "member_ids": [x]})
            },
        ),
        probe(
            "PATCH /firm/files/{id}",
            FILE,
            "responsible_lawyer_id",
            Member,
            422,
            |_, x| json!({"responsible_lawyer_id": x}),
        ),
        probe(
            "PATCH /firm/files/{id}",
            FILE,
            "member_ids",
            Member,
            422,
            |_, x| json!({"member_ids": [x]}),
        ),
        probe(
            "POST /firm/files/{id}/people",
            FILE,
            "contact_id",
            Contact,
            422,
            |_, x| json!({"contact_id": x, "role": "client"}),
        ),
        probe(
            "PUT /firm/contacts/{id}/portal",
            &[("id", Contact)],
            "file_ids",
            File,
            422,
            |own, x| json!({"allow": true, "login_email": own[&LoginEmail], "file_ids": [x]}),
        ),
        probe(
            "POST /firm/files/{id}/appointments",
            FILE,
            "attendee_ids",
            Member,
            422,
            |_, x| json!({"title": "Probe", "starts_at": "2026-12-01T10:00:00Z", "attendee_ids": [x]}),
        ),
        probe(
            "POST /firm/files/{id}/payments",
            FILE,
            "invoice_id",
            Invoice,
            422,
            |_, x| json!({"amount": 100, "method": "check", "invoice_id": x}),
        ),
        probe(
            "POST /firm/files/{id}/billing/portal",
            FILE,
            "invoice_ids",
            Invoice,
            404,
            |_, x| json!({"shared": true, "invoice_ids": [x]}),
        ),
        probe(
            "POST /firm/files/{id}/billing/portal",
            FILE,
            "payment_ids",
            Payment,
            404,
            |_, x| json!({"shared": true, "payment_ids": [x]}),
        ),
        probe(
            "POST /portal/invoices/{id}/payments",
            &[("id", Invoice)],
            "payment_method_id",
            PaymentMethod,
            422,
            |_, x| json!({"amount": 100, "payment_method_id": x}),
        ),
        probe(
            "POST /portal/payment-methods",
            &[],
            "setup_id",
            PendingSetup,
            422,
            |own, x| json!({"setup_id": x, "provider_token": own[&ProviderToken]}),
        ),
    ]
}

/// Request-body properties that look like ids but are not probed, and why.
const BODY_IDS_EXEMPT: &[(&str, &str, &str, &str)] = &[(
    "PUT",
    "/firm/options/billing",
    "stripe_account_id",
    "an account at Stripe, not a row of any firm; connecting an account another firm already \
     uses is refused with a 409 that says so on purpose (otherwise that firm's webhooks could be \
     claimed), which billing.rs tests",
)];

/// Every list route (GET without a path parameter under `/firm` or `/portal`), with the query
/// strings it is read with (`{slug_a}` and `{member_a}` are firm A's). Checked against the
/// document too.
const LISTS: &[(&str, &[&str])] = &[
    ("/firm/me", &[""]),
    ("/firm/members", &[""]),
    ("/firm/options/client-portal", &[""]),
    ("/firm/options/billing", &[""]),
    (
        "/firm/contacts",
        &["", "?portal=users", "?q=chris", "?q={slug_a}"],
    ),
    (
        "/firm/files",
        &[
            "",
            "?status=open",
            "?status=closed",
            "?assigned_to_me=true",
            "?q=2026",
            "?responsible_lawyer_id={member_a}",
        ],
    ),
    ("/firm/audit", &["", "?limit=1000", "?actor={member_a}"]),
    ("/firm/custom-fields", &[""]),
    (
        "/firm/activity",
        &[
            "",
            "?kind=client_activity&days=365",
            "?kind=client_logins&days=365",
            "?kind=member_activity&days=365",
        ],
    ),
    ("/firm/activity/unread", &[""]),
    ("/firm/me/preferences", &[""]),
    ("/portal/me", &[""]),
    ("/portal/files", &[""]),
    (
        "/portal/billing",
        &[
            "",
            "?view=all",
            "?view=outstanding",
            "?view=since_last_login",
        ],
    ),
    ("/portal/payment-methods", &[""]),
];

/// Columns left out of the before/after comparison, and why. Every other column of every row
/// of every table in `TENANT_TABLES` and `PLATFORM_TABLES` must be unchanged: no refused
/// request writes an audit row, a throttle counter, an activity entry or an email.
const MOVING_COLUMNS: &[(&str, &[&str])] = &[
    // A session is touched (at most once a minute) whenever it is used; the replay uses every
    // seeded session, and a slow run may cross that minute.
    ("session", &["last_seen_at"]),
];

/// One seeded firm.
struct Seeded {
    slug: String,
    tenant_id: Uuid,
    admin: FirmSession,
    client1: ClientSession,
    client2: ClientSession,
    /// The firm's ids as seen by the firm and by client 1.
    ids: Ids,
    /// Client 2's own file, contact, invoice, card and provider token; the firm-wide ids as in
    /// `ids`.
    client2_ids: Ids,
    /// Strings of this firm that another firm must never see (every id; the slug, which is in
    /// every email address and URL of the firm).
    firm_needles: Vec<String>,
    /// Strings of client 1 (and of file 1) that client 2 must never see.
    client1_needles: Vec<String>,
}

async fn success(response: reqwest::Response, what: &str) -> Value {
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "{what}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

fn id_of(value: &Value) -> String {
    value["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {value}"))
        .to_owned()
}

/// The token of the (single) email to `to` that holds a link starting with `prefix`.
async fn mail_token(app: &TestApp, to: &str, prefix: &str) -> String {
    let to_line = format!("To: {to}");
    let mail = app
        .wait_for_sent_file(&format!("to {to} with a link {prefix}"), |m| {
            m.contains(&to_line) && m.contains(prefix)
        })
        .await;
    link_token(&mail, prefix)
}

async fn begin_setup(app: &TestApp, client: &ClientSession) -> String {
    let setup = success(
        app.portal_api(client, Method::POST, "/payment-methods/setup")
            .send()
            .await
            .unwrap(),
        "payment method setup",
    )
    .await;
    setup["setup_id"].as_str().unwrap().to_owned()
}

async fn provider_token(app: &TestApp, slug: &str) -> String {
    let token = success(
        app.http
            .post(app.firm_url(slug, "/mock-psp/tokens"))
            .json(&json!({"card_number": "4242424242424242", "exp_month": 12,
                          "exp_year": 2031, "cvc": "123"}))
            .send()
            .await
            .unwrap(),
        "mock tokenisation",
    )
    .await;
    token["provider_token"].as_str().unwrap().to_owned()
}

async fn add_card(app: &TestApp, client: &ClientSession) -> String {
    let setup_id = begin_setup(app, client).await;
    let token = provider_token(app, &client.slug).await;
    let method = success(
        app.portal_api(client, Method::POST, "/payment-methods")
            .json(&json!({"setup_id": setup_id, "provider_token": token}))
            .send()
            .await
            .unwrap(),
        "save card",
    )
    .await;
    id_of(&method)
}

/// Invites `contact` to `files`, accepts the invitation and signs the client in.
async fn active_client(
    app: &TestApp,
    admin: &FirmSession,
    contact: Uuid,
    email: &str,
    files: &[Uuid],
) -> ClientSession {
    success(
        app.allow_portal(admin, contact, email, files).await,
        "invite client",
    )
    .await;
    let token = app.invitation_token(&admin.slug, email, 0).await;
    success(
        app.accept(&admin.slug, &token, CLIENT_PASSWORD).await,
        "accept invitation",
    )
    .await;
    app.client_sign_in(&admin.slug, email, CLIENT_PASSWORD)
        .await
}

/// A finalized invoice on `file`, shown in the Portal.
async fn shared_invoice(app: &TestApp, admin: &FirmSession, file: Uuid) -> String {
    let invoice = id_of(
        &success(
            app.firm_api(admin, Method::POST, &format!("/files/{file}/invoices"))
                .json(
                    &json!({"lines": [{"description": "Retainer", "amount": 50_000}],
                              "due_date": "2026-12-31"}),
                )
                .send()
                .await
                .unwrap(),
            "invoice",
        )
        .await,
    );
    for (method, path, body) in [
        (Method::POST, "finalize", Value::Null),
        (Method::PUT, "portal", json!({"shared": true})),
    ] {
        let mut request = app.firm_api(admin, method, &format!("/invoices/{invoice}/{path}"));
        if !body.is_null() {
            request = request.json(&body);
        }
        success(request.send().await.unwrap(), path).await;
    }
    invoice
}

/// A firm with everything the parameterised routes need, all created through the API.
async fn seed(app: &TestApp) -> Seeded {
    let admin = app.firm_with_admin().await;
    let slug = admin.slug.clone();
    let portal = app.portal_url(&slug);
    let post = |path: &str| app.firm_api(&admin, Method::POST, path);
    let put = |path: &str| app.firm_api(&admin, Method::PUT, path);
    let mut ids = Ids::new();
    ids.insert(Id::Slug, slug.clone());

    let member = app.member(&admin, "Mia Member", false, true).await;
    ids.insert(Id::Member, member.member_id.to_string());
    let pending_email = format!("pat.pending@{slug}.example");
    let pending = success(
        post("/members")
            .json(&json!({"name": "Pat Pending", "email": pending_email,
                          "is_admin": false, "portal_rights": false}))
            .send()
            .await
            .unwrap(),
        "invite member",
    )
    .await;
    ids.insert(Id::PendingMember, id_of(&pending));
    ids.insert(
        Id::SetupToken,
        mail_token(app, &pending_email, &format!("{portal}/firm/setup/")).await,
    );
    success(
        app.http
            .post(app.firm_url(&slug, "/api/v1/firm/password-reset"))
            .json(&json!({"email": member.email}))
            .send()
            .await
            .unwrap(),
        "member reset request",
    )
    .await;
    ids.insert(
        Id::MemberResetToken,
        mail_token(app, &member.email, &format!("{portal}/firm/reset/")).await,
    );

    // Distinct local parts, so that no address is a substring of another in the list checks.
    let c1_email = format!("chris.client@{slug}.example");
    let c1_alt = format!("chris.alt@{slug}.example");
    let c2_email = format!("casey.second@{slug}.example");
    let c3_email = format!("ivy.invitee@{slug}.example");
    let c1 = app
        .contact(&admin, "Chris Client", &[&c1_email, &c1_alt])
        .await;
    let c2 = app.contact(&admin, "Casey Second", &[&c2_email]).await;
    let c3 = app.contact(&admin, "Ivy Invitee", &[&c3_email]).await;
    let c4 = app
        .contact(&admin, "Olive Other", &[&format!("olive@{slug}.example")])
        .await;
    let file1 = app
        .file(&admin, "2026-001", admin.member_id, &[member.member_id])
        .await;
    let file2 = app.file(&admin, "2026-002", admin.member_id, &[]).await;
    success(
        post(&format!("/files/{file1}/people"))
            .json(&json!({"contact_id": c1, "role": "client", "primary": true}))
            .send()
            .await
            .unwrap(),
        "primary client",
    )
    .await;
    app.add_client(&admin, file1, c3).await;
    app.add_client(&admin, file2, c2).await;
    ids.insert(Id::Contact, c1.to_string());
    ids.insert(Id::PendingContact, c3.to_string());
    ids.insert(Id::OtherContact, c4.to_string());
    ids.insert(Id::File, file1.to_string());
    ids.insert(Id::LoginEmail, c1_email.clone());

    let client1 = active_client(app, &admin, c1, &c1_email, &[file1]).await;
    let client2 = active_client(app, &admin, c2, &c2_email, &[file2]).await;
    success(
        app.allow_portal(&admin, c3, &c3_email, &[file1]).await,
        "invite pending client",
    )
    .await;
    ids.insert(
        Id::InvitationToken,
        app.invitation_token(&slug, &c3_email, 0).await,
    );

    let document = success(
        post(&format!("/files/{file1}/documents"))
            .multipart(Form::new().text("shared", "true").part(
                "file",
                Part::bytes(b"Engagement letter".to_vec()).file_name("letter.txt"),
            ))
            .send()
            .await
            .unwrap(),
        "firm upload",
    )
    .await;
    ids.insert(Id::Document, id_of(&document));
    let client_document = success(
        app.portal_api(&client1, Method::POST, &format!("/files/{file1}/documents"))
            .multipart(Form::new().part(
                "file",
                Part::bytes(b"Signed letter".to_vec()).file_name("signed.txt"),
            ))
            .send()
            .await
            .unwrap(),
        "client upload",
    )
    .await;
    for (kind, path, body) in [
        (
            Id::Note,
            "notes",
            json!({"body": "Strategy", "shared": true}),
        ),
        (
            Id::Appointment,
            "appointments",
            json!({"title": "Hearing", "starts_at": "2026-12-01T10:00:00Z", "shared": true}),
        ),
        (
            Id::Task,
            "tasks",
            json!({"title": "Sign the letter", "due_date": "2026-12-15", "shared": true}),
        ),
    ] {
        let item = success(
            post(&format!("/files/{file1}/{path}"))
                .json(&body)
                .send()
                .await
                .unwrap(),
            path,
        )
        .await;
        ids.insert(kind, id_of(&item));
    }
    let client_note = success(
        app.portal_api(&client1, Method::POST, &format!("/files/{file1}/notes"))
            .json(&json!({"body": "A question"}))
            .send()
            .await
            .unwrap(),
        "client note",
    )
    .await;

    let field = id_of(
        &success(
            post("/custom-fields")
                .json(&json!({"name": "Court", "kind": "text"}))
                .send()
                .await
                .unwrap(),
            "custom field",
        )
        .await,
    );
    for (path, body) in [
        ("", json!({"value": "Supreme Court"})),
        ("/portal", json!({"sharing": "editable"})),
    ] {
        success(
            put(&format!("/files/{file1}/custom-fields/{field}{path}"))
                .json(&body)
                .send()
                .await
                .unwrap(),
            "custom field value and sharing",
        )
        .await;
    }
    ids.insert(Id::Field, field);

    let invoice = shared_invoice(app, &admin, file1).await;
    let payment = success(
        post(&format!("/files/{file1}/payments"))
            .json(
                &json!({"amount": 10_000, "method": "check", "invoice_id": invoice,
                          "reference": "CHK-1", "shared": true}),
            )
            .send()
            .await
            .unwrap(),
        "offline payment",
    )
    .await;
    ids.insert(Id::Invoice, invoice);
    ids.insert(Id::Payment, id_of(&payment));
    ids.insert(Id::PaymentMethod, add_card(app, &client1).await);
    ids.insert(Id::PendingSetup, begin_setup(app, &client1).await);
    ids.insert(Id::ProviderToken, provider_token(app, &slug).await);
    let client2_invoice = shared_invoice(app, &admin, file2).await;
    let client2_card = add_card(app, &client2).await;

    success(
        post(&format!("/contacts/{c1}/portal/login-email"))
            .json(&json!({"login_email": c1_alt}))
            .send()
            .await
            .unwrap(),
        "login email change",
    )
    .await;
    ids.insert(
        Id::EmailChangeToken,
        mail_token(app, &c1_alt, &format!("{portal}/verify-email/")).await,
    );
    success(
        app.http
            .post(app.firm_url(&slug, "/api/v1/portal/password-reset"))
            .json(&json!({"email": c1_email}))
            .send()
            .await
            .unwrap(),
        "client reset request",
    )
    .await;
    ids.insert(
        Id::ClientResetToken,
        mail_token(app, &c1_email, &format!("{portal}/reset/")).await,
    );

    let mut client2_ids = ids.clone();
    client2_ids.insert(Id::File, file2.to_string());
    client2_ids.insert(Id::Contact, c2.to_string());
    client2_ids.insert(Id::LoginEmail, c2_email.clone());
    client2_ids.insert(Id::Invoice, client2_invoice.clone());
    client2_ids.insert(Id::PaymentMethod, client2_card.clone());
    client2_ids.insert(Id::ProviderToken, provider_token(app, &slug).await);

    let client_scoped = [
        Id::Contact,
        Id::PendingContact,
        Id::File,
        Id::Document,
        Id::Note,
        Id::Appointment,
        Id::Task,
        Id::Invoice,
        Id::Payment,
        Id::PaymentMethod,
        Id::PendingSetup,
        Id::LoginEmail,
        Id::InvitationToken,
        Id::ClientResetToken,
        Id::EmailChangeToken,
    ];
    let mut client1_needles: Vec<String> = client_scoped.iter().map(|k| ids[k].clone()).collect();
    client1_needles.extend([
        id_of(&client_document),
        id_of(&client_note),
        c1_alt,
        c3_email,
    ]);
    let mut firm_needles: Vec<String> = ids
        .iter()
        .filter(|(kind, _)| **kind != Id::ProviderToken)
        .map(|(_, v)| v.clone())
        .collect();
    firm_needles.extend(client1_needles.iter().cloned());
    firm_needles.extend([
        admin.tenant_id.to_string(),
        admin.member_id.to_string(),
        c2.to_string(),
        file2.to_string(),
        client2_invoice,
        client2_card,
    ]);
    firm_needles.sort();
    firm_needles.dedup();
    Seeded {
        slug,
        tenant_id: admin.tenant_id,
        admin,
        client1,
        client2,
        ids,
        client2_ids,
        firm_needles,
        client1_needles,
    }
}

/// Status, content type and body: what must be identical for a foreign and a missing id.
#[derive(Debug, PartialEq, Eq)]
struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

#[derive(Clone, Copy)]
enum Host<'a> {
    Firm(&'a str),
    Operator,
}

#[derive(Clone, Copy)]
enum Auth<'a> {
    Anonymous,
    Bearer(&'a str),
    /// The session token as the session cookie, the way a browser would send it.
    Cookie(&'a str),
}

/// One caller replaying foreign ids.
struct Replay<'a> {
    label: &'static str,
    host: Host<'a>,
    auth: Auth<'a>,
    /// The ids that are foreign to the caller.
    foreign: &'a Ids,
    /// The caller's own ids, for bodies and for the other id of two-id routes.
    own: &'a Ids,
    expect: u16,
    /// Also replay two-id routes with one own and one foreign id.
    mixed: bool,
}

enum RequestBody {
    None,
    Json(Value),
    Upload,
}

struct Matrix<'a> {
    app: &'a TestApp,
    http: reqwest::Client,
    /// Header parameters of each operation (e.g. `Idempotency-Key`), from the document.
    headers: BTreeMap<(String, String), Vec<String>>,
    findings: Vec<String>,
    requests: usize,
}

impl Matrix<'_> {
    async fn send(
        &mut self,
        (method, template): (&str, &str),
        host: Host<'_>,
        auth: Auth<'_>,
        values: &BTreeMap<&str, String>,
        body: RequestBody,
    ) -> Answer {
        let mut path = template.to_owned();
        for (name, value) in values {
            path = path.replace(&format!("{{{name}}}"), value);
        }
        let path = format!("/api/v1{path}");
        let url = match host {
            Host::Firm(slug) => self.app.firm_url(slug, &path),
            Host::Operator => self.app.operator_url(&path),
        };
        let mut request = self
            .http
            .request(Method::from_bytes(method.as_bytes()).unwrap(), url);
        if matches!(host, Host::Operator) {
            // A firm's token is a wrong operator token: each replay there comes from an address
            // of its own, so the operator throttle (ten wrong tokens per address, tested in
            // `operator_console`) never answers in place of the authentication checked here.
            let n = self.requests;
            request = request.header(
                "x-forwarded-for",
                format!("10.{}.{}.1", n / 256 % 256, n % 256),
            );
        }
        match auth {
            Auth::Anonymous => {}
            Auth::Bearer(token) => request = request.bearer_auth(token),
            Auth::Cookie(token) => {
                let name = portico_web::auth::session_cookie_name(&self.app.state);
                request = request.header("cookie", format!("{name}={token}"));
            }
        }
        let key = (method.to_owned(), template.to_owned());
        for header in self.headers.get(&key).into_iter().flatten() {
            // A fresh value each time, so that no request is a retry of another.
            request = request.header(header, Uuid::now_v7().to_string());
        }
        request = match body {
            RequestBody::None => request,
            RequestBody::Json(body) => request.json(&body),
            RequestBody::Upload => request.multipart(Form::new().part(
                "file",
                Part::bytes(b"isolation probe".to_vec()).file_name("probe.txt"),
            )),
        };
        let response = request.send().await.unwrap();
        self.requests += 1;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response.text().await.unwrap();
        Answer {
            status,
            content_type,
            body,
        }
    }

    fn compare(&mut self, what: String, foreign: Answer, never: Answer, expect: u16) {
        if foreign != never {
            self.findings.push(format!(
                "{what}: the foreign id answers differently from a never-existing one\n    \
                 foreign: {} {} {}\n    never:   {} {} {}",
                foreign.status,
                foreign.content_type,
                foreign.body,
                never.status,
                never.content_type,
                never.body
            ));
        } else if foreign.status != expect {
            self.findings.push(format!(
                "{what}: expected {expect} for both ids, got {} {}",
                foreign.status, foreign.body
            ));
        }
    }

    /// Replays `route` for one caller: all ids foreign, and (for two-id routes) one at a time.
    async fn replay(&mut self, route: &Covered, replay: &Replay<'_>) {
        let mut variants: Vec<Vec<&str>> = vec![route.params.iter().map(|(n, _)| *n).collect()];
        if replay.mixed && route.params.len() > 1 {
            for (name, id) in route.params {
                // An id the caller may legitimately use (the firm-wide field, seen by client 2
                // of the same firm) proves nothing in the one-foreign-id variant.
                if replay.foreign[id] != replay.own[id] {
                    variants.push(vec![name]);
                }
            }
        }
        for foreign_params in variants {
            let mut foreign = BTreeMap::new();
            let mut never = BTreeMap::new();
            for (name, id) in route.params {
                if foreign_params.contains(name) {
                    foreign.insert(*name, replay.foreign[id].clone());
                    never.insert(*name, id.never_existing());
                } else {
                    foreign.insert(*name, replay.own[id].clone());
                    never.insert(*name, replay.own[id].clone());
                }
            }
            let body = |values: &BTreeMap<&str, String>| match route.body {
                Body::None => RequestBody::None,
                Body::Upload => RequestBody::Upload,
                Body::Json(body) => {
                    let mut body = body(replay.own);
                    if let Some(slug) = values.get("slug") {
                        body["confirm"] = json!(slug);
                    }
                    RequestBody::Json(body)
                }
            };
            let route_key = (route.method, route.path);
            let a = self
                .send(
                    route_key,
                    replay.host,
                    replay.auth,
                    &foreign,
                    body(&foreign),
                )
                .await;
            let b = self
                .send(route_key, replay.host, replay.auth, &never, body(&never))
                .await;
            let what = format!(
                "{} {} [{}; foreign: {}]",
                route.method,
                route.path,
                replay.label,
                foreign_params.join(", ")
            );
            self.compare(what, a, b, replay.expect);
        }
    }

    /// A foreign id in the body of a request on the caller's own resource.
    async fn probe_body(&mut self, probe: &BodyProbe, replay: &Replay<'_>) {
        let values: BTreeMap<&str, String> = probe
            .params
            .iter()
            .map(|(name, id)| (*name, replay.own[id].clone()))
            .collect();
        let route = (probe.method, probe.path);
        let foreign = &replay.foreign[&probe.probe];
        let body = RequestBody::Json((probe.body)(replay.own, foreign));
        let a = self
            .send(route, replay.host, replay.auth, &values, body)
            .await;
        let never = probe.probe.never_existing();
        let body = RequestBody::Json((probe.body)(replay.own, &never));
        let b = self
            .send(route, replay.host, replay.auth, &values, body)
            .await;
        // A refusal may quote the id it was given ("… is not an active member of the firm"):
        // an echo of the caller's own input tells nothing, so each answer is compared with its
        // own id masked.
        let mask = |answer: Answer, id: &str| Answer {
            body: answer.body.replace(id, "<id>"),
            ..answer
        };
        let (a, b) = (mask(a, foreign), mask(b, &never));
        let what = format!(
            "{} {} [{}; foreign {:?} in `{}`]",
            probe.method, probe.path, replay.label, probe.probe, probe.field
        );
        self.compare(what, a, b, probe.expect);
    }
}

/// Path and header parameters of one operation of the document, and its request body's
/// id-valued properties.
struct DocOperation {
    path_params: Vec<String>,
    header_params: Vec<String>,
    body_ids: Vec<String>,
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.rsplit('/').next().unwrap();
            &doc["components"]["schemas"][name]
        }
        None => schema,
    }
}

/// (method, path) → parameters of every operation in the document.
fn document_operations(doc: &Value) -> BTreeMap<(String, String), DocOperation> {
    let mut out = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            let params = operation["parameters"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let names = |place: &str| -> Vec<String> {
                params
                    .iter()
                    .filter(|p| p["in"] == place)
                    .map(|p| p["name"].as_str().unwrap().to_owned())
                    .collect()
            };
            let mut body_ids = Vec::new();
            if let Some(content) = operation["requestBody"]["content"].as_object() {
                for media in content.values() {
                    let schema = resolve(doc, &media["schema"]);
                    for (name, property) in schema["properties"].as_object().into_iter().flatten() {
                        let is_uuid =
                            property["format"] == "uuid" || property["items"]["format"] == "uuid";
                        if is_uuid || name.ends_with("_id") || name.ends_with("_ids") {
                            body_ids.push(name.clone());
                        }
                    }
                }
            }
            out.insert(
                (method.to_uppercase(), path.clone()),
                DocOperation {
                    path_params: names("path"),
                    header_params: names("header"),
                    body_ids,
                },
            );
        }
    }
    out
}

/// The coverage guard: the tables and the document must list the same operations and fields.
fn check_coverage(
    operations: &BTreeMap<(String, String), DocOperation>,
    routes: &[Covered],
    probes: &[BodyProbe],
) {
    let mut problems = Vec::new();
    let table: BTreeMap<(String, String), &Covered> = routes
        .iter()
        .map(|r| ((r.method.to_owned(), r.path.to_owned()), r))
        .collect();
    assert_eq!(table.len(), routes.len(), "duplicate entries in covered()");
    let probed: BTreeSet<(String, String, String)> = probes
        .iter()
        .map(|p| (p.method.to_owned(), p.path.to_owned(), p.field.to_owned()))
        .chain(
            BODY_IDS_EXEMPT
                .iter()
                .map(|(m, p, f, _)| ((*m).to_owned(), (*p).to_owned(), (*f).to_owned())),
        )
        .collect();
    for ((method, path), operation) in operations {
        for field in &operation.body_ids {
            if !probed.contains(&(method.clone(), path.clone(), field.clone())) {
                problems.push(format!(
                    "new body id without isolation coverage: {method} {path} `{field}`"
                ));
            }
        }
        if operation.path_params.is_empty() {
            let is_list = method == "GET"
                && (path.starts_with("/firm/") || path.starts_with("/portal/"))
                && !LISTS.iter().any(|(p, _)| p == path);
            if is_list {
                problems.push(format!(
                    "new list route without isolation coverage: GET {path}"
                ));
            }
            continue;
        }
        match table.get(&(method.clone(), path.clone())) {
            None => problems.push(format!(
                "new route without isolation coverage: {method} {path}"
            )),
            Some(route) => {
                let ours: BTreeSet<&str> = route.params.iter().map(|(n, _)| *n).collect();
                let theirs: BTreeSet<&str> =
                    operation.path_params.iter().map(String::as_str).collect();
                if ours != theirs {
                    problems.push(format!(
                        "{method} {path}: the document's path parameters {theirs:?} differ from \
                         the table's {ours:?}"
                    ));
                }
            }
        }
    }
    for key in table.keys() {
        if !operations.contains_key(key) {
            problems.push(format!(
                "stale isolation coverage entry (not in the document): {} {}",
                key.0, key.1
            ));
        }
    }
    for (method, path, field) in &probed {
        let known = operations
            .get(&(method.clone(), path.clone()))
            .is_some_and(|o| o.body_ids.contains(field));
        if !known {
            problems.push(format!(
                "stale body id entry (not in the document): {method} {path} `{field}`"
            ));
        }
    }
    for (path, _) in LISTS {
        if !operations.contains_key(&("GET".to_owned(), (*path).to_owned())) {
            problems.push(format!(
                "stale list entry (not in the document): GET {path}"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Waits until the mail worker has nothing left to do, so that it writes nothing during the
/// replay.
async fn outbox_settled(app: &TestApp) {
    for _ in 0..200 {
        let pending = app
            .count(
                "SELECT COUNT(*) AS n FROM mail_outbox WHERE status = 'pending'",
                vec![],
            )
            .await;
        if pending == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the mail outbox did not drain within 10 s");
}

/// Before anything is replayed: each GET route answers 200 to the owner of `ids` — the firm's
/// administrator or the client, with the bearer token and with the cookie, or anyone holding
/// the link — so the refusals below are about visibility, not about ids that do not exist,
/// and a refused cookie is refused for its host, not for its form.
async fn ids_are_real(
    app: &TestApp,
    routes: &[Covered],
    firm: &Seeded,
    client: &ClientSession,
    ids: &Ids,
    // The kinds of ids in `ids` that are the client's own (client 2 shares `ids` with client
    // 1 except for these); `None`: all of them.
    client_kinds: Option<&[Id]>,
) {
    let http = new_client();
    let cookie = portico_web::auth::session_cookie_name(&app.state);
    let checked = |route: &&Covered| {
        route.method == "GET"
            && (!route.path.starts_with("/portal/")
                || client_kinds
                    .is_none_or(|kinds| route.params.iter().all(|(_, id)| kinds.contains(id))))
    };
    for route in routes.iter().filter(checked) {
        let mut path = route.path.to_owned();
        for (name, id) in route.params {
            path = path.replace(&format!("{{{name}}}"), &ids[id]);
        }
        let path = format!("/api/v1{path}");
        let token = if route.path.starts_with("/platform/") {
            &app.operator_token
        } else if route.path.starts_with("/firm/") {
            &firm.admin.token
        } else {
            &client.token
        };
        let anonymous = route.params.iter().any(|(_, id)| id.is_link_token());
        let requests = if route.path.starts_with("/platform/") {
            vec![http.get(app.operator_url(&path)).bearer_auth(token)]
        } else if anonymous {
            vec![http.get(app.firm_url(&firm.slug, &path))]
        } else {
            vec![
                http.get(app.firm_url(&firm.slug, &path)).bearer_auth(token),
                http.get(app.firm_url(&firm.slug, &path))
                    .header("cookie", format!("{cookie}={token}")),
            ]
        };
        for request in requests {
            let response = request.send().await.unwrap();
            let status = response.status();
            assert_eq!(
                status,
                200,
                "GET {path} as the owner of the ids, in firm {}: {}",
                firm.slug,
                response.text().await.unwrap()
            );
        }
    }
}

/// Lists read by one caller must not mention any of `needles`.
struct ListReader<'a> {
    label: &'static str,
    slug: &'a str,
    token: &'a str,
    prefix: &'static str,
    needles: &'a [String],
}

async fn check_lists(
    app: &TestApp,
    reader: ListReader<'_>,
    placeholders: &[(&str, &str)],
    findings: &mut Vec<String>,
) -> usize {
    let http = new_client();
    let mut reads = 0;
    for (path, queries) in LISTS.iter().filter(|(p, _)| p.starts_with(reader.prefix)) {
        for query in *queries {
            let mut query = (*query).to_owned();
            for (name, value) in placeholders {
                query = query.replace(name, value);
            }
            let response = http
                .get(app.firm_url(reader.slug, &format!("/api/v1{path}{query}")))
                .bearer_auth(reader.token)
                .send()
                .await
                .unwrap();
            reads += 1;
            let status = response.status();
            let text = response.text().await.unwrap();
            if status != 200 {
                findings.push(format!(
                    "GET {path}{query} [{}]: {status} {text}",
                    reader.label
                ));
                continue;
            }
            for needle in reader.needles.iter().filter(|n| text.contains(n.as_str())) {
                findings.push(format!(
                    "GET {path}{query} [{}]: the answer contains {needle}:\n    {text}",
                    reader.label
                ));
            }
        }
    }
    reads
}

/// Operator routes take a slug and exist only on the base domain, with the operator token. The
/// check there is not "404 like a missing slug" but "a firm session does not work at all": 401
/// for firm A's slug and for a never-existing one alike. On a firm host they do not exist: 404.
fn platform_replays<'a>(a: &'a Seeded, b: &'a Seeded) -> Vec<Replay<'a>> {
    let on = |label, host, auth, expect| Replay {
        label,
        host,
        auth,
        foreign: &a.ids,
        own: &b.ids,
        expect,
        mixed: false,
    };
    vec![
        on(
            "firm B's member token on the base domain",
            Host::Operator,
            Auth::Bearer(&b.admin.token),
            401,
        ),
        on(
            "firm B's client token on the base domain",
            Host::Operator,
            Auth::Bearer(&b.client1.token),
            401,
        ),
        on(
            "anonymous on the base domain",
            Host::Operator,
            Auth::Anonymous,
            401,
        ),
        on(
            "firm B's member token on firm B's host",
            Host::Firm(&b.slug),
            Auth::Bearer(&b.admin.token),
            404,
        ),
    ]
}

/// The callers that replay firm A's ids on `route`.
fn replays_for<'a>(route: &Covered, a: &'a Seeded, b: &'a Seeded) -> Vec<Replay<'a>> {
    let replay = |label, host, auth, foreign, own, expect, mixed| Replay {
        label,
        host,
        auth,
        foreign,
        own,
        expect,
        mixed,
    };
    let (a_host, b_host) = (Host::Firm(&a.slug), Host::Firm(&b.slug));
    if route.path.starts_with("/platform/") {
        platform_replays(a, b)
    } else if route.params.iter().any(|(_, id)| id.is_link_token()) {
        // The link token is the only credential, so "another firm" means another host. On firm
        // A's own host, whoever holds the token holds the credential: nothing to replay there.
        vec![replay(
            "anonymous on firm B's host",
            b_host,
            Auth::Anonymous,
            &a.ids,
            &b.ids,
            route.expect,
            false,
        )]
    } else if route.path.starts_with("/firm/") {
        // (c) and (d) are refused by authentication before any id is read: 401 for both ids.
        vec![
            replay(
                "(a) firm B's administrator",
                b_host,
                Auth::Bearer(&b.admin.token),
                &a.ids,
                &b.ids,
                route.expect,
                true,
            ),
            replay(
                "(c) firm A's member token on firm B's host",
                b_host,
                Auth::Bearer(&a.admin.token),
                &a.ids,
                &b.ids,
                401,
                false,
            ),
            replay(
                "(c) firm A's member cookie on firm B's host",
                b_host,
                Auth::Cookie(&a.admin.token),
                &a.ids,
                &b.ids,
                401,
                false,
            ),
            replay(
                "(d) client 1's session on firm A's member API",
                a_host,
                Auth::Bearer(&a.client1.token),
                &a.ids,
                &a.ids,
                401,
                false,
            ),
        ]
    } else {
        vec![
            replay(
                "(b) client 2 of firm A",
                a_host,
                Auth::Bearer(&a.client2.token),
                &a.ids,
                &a.client2_ids,
                route.expect,
                true,
            ),
            replay(
                "(b) firm B's client",
                b_host,
                Auth::Bearer(&b.client1.token),
                &a.ids,
                &b.ids,
                route.expect,
                true,
            ),
            replay(
                "(c) client 1's token on firm B's host",
                b_host,
                Auth::Bearer(&a.client1.token),
                &a.ids,
                &b.ids,
                401,
                false,
            ),
            replay(
                "(c) client 1's cookie on firm B's host",
                b_host,
                Auth::Cookie(&a.client1.token),
                &a.ids,
                &b.ids,
                401,
                false,
            ),
            replay(
                "(d) firm A's member session on the client API",
                a_host,
                Auth::Bearer(&a.admin.token),
                &a.ids,
                &a.ids,
                401,
                false,
            ),
        ]
    }
}

/// The callers that put firm A's (or client 1's) ids in the body of their own requests.
fn body_replays_for<'a>(probe: &BodyProbe, a: &'a Seeded, b: &'a Seeded) -> Vec<Replay<'a>> {
    let caller = |label, slug, token, own| Replay {
        label,
        host: Host::Firm(slug),
        auth: Auth::Bearer(token),
        foreign: &a.ids,
        own,
        expect: probe.expect,
        mixed: false,
    };
    if probe.path.starts_with("/firm/") {
        vec![caller(
            "firm B's administrator",
            &b.slug,
            &b.admin.token,
            &b.ids,
        )]
    } else {
        vec![
            caller(
                "client 2 of firm A",
                &a.slug,
                &a.client2.token,
                &a.client2_ids,
            ),
            caller("firm B's client", &b.slug, &b.client1.token, &b.ids),
        ]
    }
}

async fn foreign_ids_answer_like_ids_that_never_existed(app: TestApp) {
    // Behind one trusted proxy, so that the replays on the operator routes can each come from
    // an address of their own (see `Matrix::send`).
    let app = TestApp::spawn_with(app.backend, json!({"auth": {"trusted_proxy_hops": 1}})).await;
    let doc = fetch_json(app.http.get(app.operator_url("/api/openapi.json"))).await;
    assert_eq!(
        doc["servers"][0]["url"], "/api/v1",
        "paths are relative to /api/v1"
    );
    let operations = document_operations(&doc);
    let routes = covered();
    let probes = body_probes();
    check_coverage(&operations, &routes, &probes);

    let a = seed(&app).await;
    let b = seed(&app).await;
    ids_are_real(&app, &routes, &a, &a.client1, &a.ids, None).await;
    ids_are_real(&app, &routes, &b, &b.client1, &b.ids, None).await;
    let client2_kinds = [Id::File, Id::Field, Id::Invoice, Id::PaymentMethod];
    ids_are_real(
        &app,
        &routes,
        &a,
        &a.client2,
        &a.client2_ids,
        Some(&client2_kinds),
    )
    .await;
    outbox_settled(&app).await;
    let tables: Vec<&str> = portico_migrations::TENANT_TABLES
        .iter()
        .chain(portico_migrations::PLATFORM_TABLES)
        .copied()
        .collect();
    let before = DbSnapshot::take(&app, &tables, MOVING_COLUMNS).await;

    let mut matrix = Matrix {
        app: &app,
        http: new_client(),
        headers: operations
            .iter()
            .map(|(key, o)| (key.clone(), o.header_params.clone()))
            .collect(),
        findings: Vec::new(),
        requests: 0,
    };
    for route in &routes {
        for replay in replays_for(route, &a, &b) {
            matrix.replay(route, &replay).await;
        }
    }
    for probe in &probes {
        for replay in body_replays_for(probe, &a, &b) {
            matrix.probe_body(probe, &replay).await;
        }
    }

    let member_a = a.ids[&Id::Member].clone();
    let placeholders = [
        ("{slug_a}", a.slug.as_str()),
        ("{member_a}", member_a.as_str()),
    ];
    let mut findings = std::mem::take(&mut matrix.findings);
    let mut reads = 0;
    for reader in [
        ListReader {
            label: "firm B's administrator",
            slug: &b.slug,
            token: &b.admin.token,
            prefix: "/firm/",
            needles: &a.firm_needles,
        },
        ListReader {
            label: "firm B's client",
            slug: &b.slug,
            token: &b.client1.token,
            prefix: "/portal/",
            needles: &a.firm_needles,
        },
        ListReader {
            label: "client 2 of firm A",
            slug: &a.slug,
            token: &a.client2.token,
            prefix: "/portal/",
            needles: &a.client1_needles,
        },
    ] {
        reads += check_lists(&app, reader, &placeholders, &mut findings).await;
    }

    let after = DbSnapshot::take(&app, &tables, MOVING_COLUMNS).await;
    for diff in after.changes_since(&before) {
        findings.push(format!("the replay wrote to the database:\n{diff}"));
    }
    println!(
        "isolation matrix ({:?}): {} id routes, {} body ids, {} replayed requests, {reads} list \
         reads, {} finding(s)",
        app.backend,
        routes.len(),
        probes.len(),
        matrix.requests,
        findings.len()
    );
    assert!(
        findings.is_empty(),
        "{} finding(s) after {} replayed requests and {reads} list reads over {} id routes \
         and {} body ids (firm A {}, firm B {}):\n\n{}",
        findings.len(),
        matrix.requests,
        routes.len(),
        probes.len(),
        a.tenant_id,
        b.tenant_id,
        findings.join("\n\n")
    );
}
