//! The real `portico serve` process, killed and stopped.
//!
//! - **kill -9 under load**: concurrent writers (client notes, document uploads, Pay Now with
//!   unique `Idempotency-Key`s, member invitations that queue emails) run against the server
//!   until it is killed with SIGKILL at a random moment. After a restart on the same database,
//!   document storage and mail directory, every write that was answered with a 2xx is present
//!   and readable (documents decrypt to the uploaded bytes), every payment exists once and its
//!   key replays the same confirmation without a new charge, the emails that were queued or
//!   being sent at the crash are delivered once each (one `.eml` per Message-ID), and the SQLite
//!   file passes `PRAGMA integrity_check`.
//! - **SIGTERM with 50 uploads in flight**: `/readyz` answers 503 from the signal on, the
//!   listener closes (new connections are refused) while the uploads are still sending, every
//!   upload completes with 201 and is stored, and the process exits with status 0 within the
//!   configured drain + grace period.

use std::collections::{BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends_with;
use crate::support::process::{
    ServerEnv, ServerProcess, SilentSmtp, document_bytes, expect_json, message_ids,
};
use crate::support::{Backend, link_token, new_client};

on_both_backends_with!(
    acknowledged_writes_survive_kill_9,
    sigterm_lets_in_flight_uploads_finish,
);

/// Each Pay Now takes this much off an invoice far bigger than a few seconds of payments.
const PAYMENT: i64 = 100;
const INVOICE_TOTAL: i64 = 100_000_000;

// ---- a firm set up through the HTTP API ---------------------------------------------------------

/// A firm with its administrator signed in and one open file.
#[derive(Clone)]
struct Firm {
    slug: String,
    tenant_id: Uuid,
    admin_token: String,
    file: Uuid,
}

/// The file's client: Portal access accepted, signed in, a saved mock card and a shared
/// invoice to pay.
#[derive(Clone)]
struct PortalClient {
    email: String,
    token: String,
    card: String,
    invoice: String,
}

fn firm_api(
    server: &ServerProcess,
    http: &reqwest::Client,
    firm: &Firm,
    method: Method,
    path: &str,
) -> reqwest::RequestBuilder {
    http.request(
        method,
        server.firm_url(&firm.slug, &format!("/api/v1/firm{path}")),
    )
    .bearer_auth(&firm.admin_token)
}

fn portal_api(
    server: &ServerProcess,
    http: &reqwest::Client,
    firm: &Firm,
    client: &PortalClient,
    method: Method,
    path: &str,
) -> reqwest::RequestBuilder {
    http.request(
        method,
        server.firm_url(&firm.slug, &format!("/api/v1/portal{path}")),
    )
    .bearer_auth(&client.token)
}

/// Onboards a firm through `server` (administrator signed in) and opens a file.
async fn onboard(server: &ServerProcess, env: &ServerEnv, http: &reqwest::Client) -> Firm {
    let onboarded = server.onboard(env, http, "").await;
    let mut firm = Firm {
        slug: onboarded.slug,
        tenant_id: onboarded.tenant_id,
        admin_token: onboarded.session["token"].as_str().unwrap().to_owned(),
        file: Uuid::nil(),
    };
    let file = expect_json(
        firm_api(server, http, &firm, Method::POST, "/files").json(&json!({
            "number": "2026-001", "name": "Matter 2026-001", "file_type": "Litigation",
            "status": "open", "responsible_lawyer_id": onboarded.session["member"]["id"],
            "member_ids": []})),
        201,
        "file",
    )
    .await;
    firm.file = Uuid::parse_str(file["id"].as_str().unwrap()).unwrap();
    firm
}

/// A client on the firm's file with Portal access (invitation accepted), signed in, with a
/// saved mock card and a finalized invoice shown in the Portal.
async fn portal_client(
    server: &ServerProcess,
    env: &ServerEnv,
    http: &reqwest::Client,
    firm: &Firm,
) -> PortalClient {
    let email = format!("client@{}.example", firm.slug);
    let contact = expect_json(
        firm_api(server, http, firm, Method::POST, "/contacts")
            .json(&json!({"name": "Chris Client", "emails": [email]})),
        201,
        "contact",
    )
    .await;
    let contact = contact["id"].as_str().unwrap().to_owned();
    let added = firm_api(
        server,
        http,
        firm,
        Method::POST,
        &format!("/files/{}/people", firm.file),
    )
    .json(&json!({"contact_id": contact, "role": "client", "primary": false}))
    .send()
    .await
    .unwrap();
    assert!(
        added.status().is_success(),
        "add client: {}",
        added.status()
    );
    expect_json(
        firm_api(
            server,
            http,
            firm,
            Method::PUT,
            &format!("/contacts/{contact}/portal"),
        )
        .json(&json!({"allow": true, "login_email": email, "file_ids": [firm.file]})),
        200,
        "Portal access",
    )
    .await;
    let mail = env.wait_for_mail(&email, "/invitations/").await;
    let token = link_token(&mail, &server.firm_url(&firm.slug, "/invitations/"));
    let token = server
        .accept_invitation(http, &firm.slug, &token, &email, "")
        .await;
    let mut client = PortalClient {
        email,
        token,
        card: String::new(),
        invoice: String::new(),
    };

    let setup = expect_json(
        portal_api(
            server,
            http,
            firm,
            &client,
            Method::POST,
            "/payment-methods/setup",
        ),
        200,
        "payment method setup",
    )
    .await;
    let card = expect_json(
        http.post(server.firm_url(&firm.slug, "/mock-psp/tokens"))
            .json(&json!({"card_number": "4242424242424242", "exp_month": 12,
                          "exp_year": 2031, "cvc": "123"})),
        201,
        "tokenise card",
    )
    .await;
    let method = expect_json(
        portal_api(
            server,
            http,
            firm,
            &client,
            Method::POST,
            "/payment-methods",
        )
        .json(&json!({"setup_id": setup["setup_id"], "provider_token": card["provider_token"]})),
        201,
        "save card",
    )
    .await;
    client.card = method["id"].as_str().unwrap().to_owned();

    let invoice = expect_json(
        firm_api(
            server,
            http,
            firm,
            Method::POST,
            &format!("/files/{}/invoices", firm.file),
        )
        .json(
            &json!({"lines": [{"description": "Retainer", "amount": INVOICE_TOTAL}],
                      "due_date": "2026-12-31"}),
        ),
        201,
        "invoice",
    )
    .await;
    let id = invoice["id"].as_str().unwrap().to_owned();
    expect_json(
        firm_api(
            server,
            http,
            firm,
            Method::POST,
            &format!("/invoices/{id}/finalize"),
        ),
        200,
        "finalize",
    )
    .await;
    expect_json(
        firm_api(
            server,
            http,
            firm,
            Method::PUT,
            &format!("/invoices/{id}/portal"),
        )
        .json(&json!({"shared": true})),
        200,
        "show invoice in Portal",
    )
    .await;
    client.invoice = id;
    client
}

fn fingerprint(bytes: &[u8]) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut hasher);
    format!("{:016x} ({} bytes)", hasher.finish(), bytes.len())
}

fn pdf_part(name: &str, bytes: Vec<u8>) -> Form {
    Form::new().part("file", Part::bytes(bytes).file_name(name.to_owned()))
}

// ---- kill -9 under load -------------------------------------------------------------------------

/// What the writers sent. Every write carries something unique (note body, filename, key,
/// email) so it can be found after the restart even if its response was cut off.
#[derive(Default)]
struct Ledger {
    /// Answered with a 2xx: `(unique key, id from the response)`.
    notes: Vec<(String, Option<String>)>,
    documents: Vec<(String, Option<String>)>,
    /// `(Idempotency-Key, confirmation number)`.
    payments: Vec<(String, String)>,
    invitations: Vec<(String, Option<String>)>,
    /// Sent, but the connection died before a status arrived: outcome unknown.
    unanswered: Vec<(Kind, String)>,
    /// Answered with anything but a 2xx while the server was up: never expected.
    refused: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Note,
    Document,
    Payment,
    Invitation,
}

struct Load {
    server_firm_url: String,
    firm: Firm,
    client: PortalClient,
    http: reqwest::Client,
    ledger: Mutex<Ledger>,
    stop: AtomicBool,
}

impl Load {
    fn request(&self, kind: Kind, unique: &str) -> reqwest::RequestBuilder {
        let base = &self.server_firm_url;
        let (firm, client) = (&self.firm, &self.client);
        match kind {
            Kind::Note => self
                .http
                .post(format!("{base}/api/v1/portal/files/{}/notes", firm.file))
                .bearer_auth(&client.token)
                .json(&json!({"body": unique})),
            Kind::Document => self
                .http
                .post(format!("{base}/api/v1/firm/files/{}/documents", firm.file))
                .bearer_auth(&firm.admin_token)
                .multipart(pdf_part(unique, document_bytes(unique, 48 * 1024))),
            Kind::Payment => self
                .http
                .post(format!(
                    "{base}/api/v1/portal/invoices/{}/payments",
                    client.invoice
                ))
                .bearer_auth(&client.token)
                .header("Idempotency-Key", unique)
                .json(&json!({"payment_method_id": client.card, "amount": PAYMENT})),
            Kind::Invitation => self
                .http
                .post(format!("{base}/api/v1/firm/members"))
                .bearer_auth(&firm.admin_token)
                .json(
                    &json!({"name": format!("Invitee {unique}"), "email": unique,
                              "is_admin": false, "portal_rights": false}),
                ),
        }
    }

    fn unique(&self, kind: Kind, writer: usize, n: usize) -> String {
        let tag = crate::support::random_suffix(6);
        match kind {
            Kind::Note => format!("Crash note {writer}-{n}-{tag}"),
            Kind::Document => format!("load-{writer}-{n}-{tag}.pdf"),
            Kind::Payment => format!("crash-pay-{writer}-{n}-{tag}"),
            Kind::Invitation => format!("invitee-{writer}-{n}-{tag}@{}.example", self.firm.slug),
        }
    }
}

/// Writes until the server stops answering. A refused connection means the request never
/// reached the server; any other transport error leaves its outcome unknown.
async fn writer(load: Arc<Load>, kind: Kind, writer: usize) {
    for n in 0.. {
        if load.stop.load(Ordering::Relaxed) {
            break;
        }
        let unique = load.unique(kind, writer, n);
        let response = match load.request(kind, &unique).send().await {
            Ok(response) => response,
            Err(err) => {
                if !err.is_connect() {
                    load.ledger.lock().unwrap().unanswered.push((kind, unique));
                }
                break;
            }
        };
        let status = response.status();
        // A 2xx status line is the acknowledgement; the body may still be cut off by the kill.
        let body: Option<Value> = response.json().await.ok();
        let mut ledger = load.ledger.lock().unwrap();
        if !status.is_success() {
            ledger
                .refused
                .push(format!("{kind:?} {unique}: {status} {body:?}"));
            continue;
        }
        let id = body
            .as_ref()
            .and_then(|b| b["id"].as_str())
            .map(str::to_owned);
        match kind {
            Kind::Note => ledger.notes.push((unique, id)),
            Kind::Document => ledger.documents.push((unique, id)),
            Kind::Invitation => ledger.invitations.push((unique, id)),
            Kind::Payment => match body {
                Some(body) if body["status"] == "succeeded" => {
                    let confirmation = body["confirmation_number"].as_str().unwrap().to_owned();
                    ledger.payments.push((unique, confirmation));
                }
                Some(body) => ledger
                    .refused
                    .push(format!("payment {unique}: 200 but {body}")),
                // Acknowledged without a readable body: known paid, confirmation unknown.
                None => ledger.payments.push((unique, String::new())),
            },
        }
    }
}

async fn acknowledged_writes_survive_kill_9(backend: Backend) {
    let started = Instant::now();
    let mut env = ServerEnv::new(backend).await;
    // A crashed node's claims expire after this; short, so the test does not wait long.
    env.set("mail.lease_secs", "2");
    let http = new_client();

    // Set-up on a server that delivers mail to files (the setup and invitation links).
    let server = env.start().await;
    let firm = onboard(&server, &env, &http).await;
    let client = portal_client(&server, &env, &http, &firm).await;
    server.stop().await;

    // The load runs against a server whose SMTP server never answers: nothing is delivered
    // before the kill, so every email must come out after the restart, once.
    let smtp = SilentSmtp::start().await;
    env.set("mail.transport", "smtp")
        .set("mail.smtp_port", smtp.port.to_string())
        .set("mail.timeout_secs", "60");
    let mut server = env.start().await;
    let load = Arc::new(Load {
        server_firm_url: server.firm_url(&firm.slug, ""),
        firm: firm.clone(),
        client: client.clone(),
        http: new_client(),
        ledger: Mutex::new(Ledger::default()),
        stop: AtomicBool::new(false),
    });
    let mut writers = Vec::new();
    for (i, kind) in [
        Kind::Note,
        Kind::Note,
        Kind::Document,
        Kind::Document,
        Kind::Payment,
        Kind::Payment,
        Kind::Invitation,
    ]
    .into_iter()
    .enumerate()
    {
        writers.push(tokio::spawn(writer(load.clone(), kind, i)));
    }
    // The random moment is counted from when every kind of write is going through, so that a
    // slow start cannot leave a kind untested.
    for _ in 0..1_500 {
        let (going, failing) = {
            let l = load.ledger.lock().unwrap();
            let going = !l.notes.is_empty()
                && !l.documents.is_empty()
                && !l.payments.is_empty()
                && !l.invitations.is_empty();
            (going, !l.refused.is_empty())
        };
        if going || failing {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let kill_after = Duration::from_millis(rand::thread_rng().gen_range(1_000..=4_000));
    tokio::time::sleep(kill_after).await;
    let status = server.kill().await;
    load.stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    smtp.task.abort();
    // The worker was waiting on the SMTP server with a claimed batch: those emails were
    // mid-send at the kill, and only the expiry of their lease lets them go out again.
    let smtp_connections = smtp.connections();
    assert!(
        smtp_connections > 0,
        "the outbox worker was sending when the server was killed"
    );
    assert!(
        !status.success(),
        "SIGKILL ends the process abnormally: {status}"
    );
    let ledger = std::mem::take(&mut *load.ledger.lock().unwrap());
    assert!(
        ledger.refused.is_empty(),
        "writes refused while the server was up: {:#?}",
        ledger.refused
    );
    let acknowledged = ledger.notes.len()
        + ledger.documents.len()
        + ledger.payments.len()
        + ledger.invitations.len();
    println!(
        "{backend:?}: killed {kill_after:?} into the load; acknowledged {acknowledged} writes \
         ({} notes, {} documents, {} payments, {} invitations); {} in flight without an answer",
        ledger.notes.len(),
        ledger.documents.len(),
        ledger.payments.len(),
        ledger.invitations.len(),
        ledger.unanswered.len(),
    );
    assert!(
        !ledger.notes.is_empty()
            && !ledger.documents.is_empty()
            && !ledger.payments.is_empty()
            && !ledger.invitations.is_empty(),
        "every writer got writes through before the kill"
    );

    // Restart on the same database, storage and mail directory, delivering to files.
    let mails_before_restart = env.mail_files().len();
    env.set("mail.transport", "file");
    let server = env.start().await;
    let ready = http
        .get(server.operator_url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200, "ready after the crash");

    // Notes: every acknowledged one, with its body, exactly once.
    let notes = expect_json(
        portal_api(
            &server,
            &http,
            &firm,
            &client,
            Method::GET,
            &format!("/files/{}/notes", firm.file),
        ),
        200,
        "notes",
    )
    .await;
    let notes = notes.as_array().unwrap();
    for (body, id) in &ledger.notes {
        let found: Vec<&Value> = notes.iter().filter(|n| n["body"] == *body).collect();
        assert_eq!(found.len(), 1, "acknowledged note {body:?} present once");
        if let Some(id) = id {
            assert_eq!(found[0]["id"], *id, "note {body:?} keeps its id");
        }
    }

    // Documents: every stored row (acknowledged or not) opens and decrypts to what was sent;
    // every acknowledged upload is among them.
    let documents = expect_json(
        firm_api(
            &server,
            &http,
            &firm,
            Method::GET,
            &format!("/files/{}/documents", firm.file),
        ),
        200,
        "documents",
    )
    .await;
    let documents: HashMap<String, String> = documents
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["filename"].as_str().unwrap().to_owned(),
                d["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (name, id) in &ledger.documents {
        let stored = documents
            .get(name)
            .unwrap_or_else(|| panic!("acknowledged document {name} is missing"));
        if let Some(id) = id {
            assert_eq!(stored, id, "document {name} keeps its id");
        }
    }
    for (name, id) in &documents {
        let response = firm_api(
            &server,
            &http,
            &firm,
            Method::GET,
            &format!("/documents/{id}/content"),
        )
        .send()
        .await
        .unwrap();
        assert_eq!(response.status(), 200, "download {name}");
        let got = response.bytes().await.unwrap();
        let want = document_bytes(name, 48 * 1024);
        assert!(
            got.as_ref() == want.as_slice(),
            "{name}: downloaded {} but uploaded {}",
            fingerprint(&got),
            fingerprint(&want)
        );
    }

    // Payments: every acknowledged key replays its confirmation without a new charge; keys
    // whose answer was lost are settled by the retry, once.
    let account = portico_payments::mock::account_for_tenant(firm.tenant_id);
    let charges = || async {
        env.count(
            "SELECT COUNT(*) AS n FROM mock_psp_object WHERE kind = 'payment_intent' AND account = $1",
            vec![account.clone().into()],
        )
        .await
    };
    let charges_before = charges().await;
    let pay = |key: String| {
        portal_api(
            &server,
            &http,
            &firm,
            &client,
            Method::POST,
            &format!("/invoices/{}/payments", client.invoice),
        )
        .header("Idempotency-Key", key)
        .json(&json!({"payment_method_id": client.card, "amount": PAYMENT}))
    };
    for (key, confirmation) in &ledger.payments {
        let replay = expect_json(pay(key.clone()), 200, "replay").await;
        assert_eq!(replay["status"], "succeeded", "{key}");
        if !confirmation.is_empty() {
            assert_eq!(
                replay["confirmation_number"], *confirmation,
                "{key} replays its confirmation"
            );
        }
    }
    assert_eq!(
        charges().await,
        charges_before,
        "replays of acknowledged keys charge nothing"
    );
    let unanswered_keys: Vec<&String> = ledger
        .unanswered
        .iter()
        .filter(|(kind, _)| *kind == Kind::Payment)
        .map(|(_, key)| key)
        .collect();
    for key in &unanswered_keys {
        let settled = expect_json(pay((*key).clone()), 200, "retry of an unanswered key").await;
        assert_eq!(settled["status"], "succeeded", "{key}: {settled}");
    }
    let paid_keys = (ledger.payments.len() + unanswered_keys.len()) as i64;
    let tenant = || vec![sea_orm::Value::from(firm.tenant_id)];
    assert_eq!(
        env.count(
            "SELECT COUNT(*) AS n FROM payment WHERE tenant_id = $1",
            tenant()
        )
        .await,
        paid_keys,
        "one payment per key"
    );
    assert_eq!(
        env.count(
            "SELECT COUNT(*) AS n FROM payment_attempt WHERE tenant_id = $1 AND status = 'succeeded'",
            tenant()
        )
        .await,
        paid_keys
    );
    assert_eq!(
        env.count(
            "SELECT COUNT(*) AS n FROM payment_attempt WHERE tenant_id = $1 AND status <> 'succeeded'",
            tenant()
        )
        .await,
        0,
        "no attempt left pending or failed"
    );
    assert_eq!(
        env.count(
            "SELECT COUNT(*) AS n FROM (SELECT attempt_id FROM payment WHERE tenant_id = $1 \
             GROUP BY attempt_id HAVING COUNT(*) > 1) AS d",
            tenant()
        )
        .await,
        0,
        "no attempt has two payments"
    );
    assert_eq!(charges().await, paid_keys, "one charge per key");
    let invoice = expect_json(
        firm_api(
            &server,
            &http,
            &firm,
            Method::GET,
            &format!("/invoices/{}", client.invoice),
        ),
        200,
        "invoice",
    )
    .await;
    assert_eq!(
        invoice["balance"]["amount"],
        INVOICE_TOTAL - PAYMENT * paid_keys,
        "the balance counts each payment once"
    );

    // Invitations: every acknowledged member exists.
    let members = expect_json(
        firm_api(&server, &http, &firm, Method::GET, "/members"),
        200,
        "members",
    )
    .await;
    let member_emails: BTreeSet<&str> = members
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap())
        .collect();
    for (email, _) in &ledger.invitations {
        assert!(
            member_emails.contains(email.as_str()),
            "acknowledged invitation of {email} is missing"
        );
    }

    // Emails: everything queued (or claimed mid-send) at the kill goes out after the restart,
    // each exactly once.
    let mut waited = 0;
    while env
        .count(
            "SELECT COUNT(*) AS n FROM mail_outbox WHERE status <> 'sent'",
            vec![],
        )
        .await
        > 0
    {
        assert!(
            waited < 300,
            "outbox not drained within 30 s after the restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    let sent: BTreeSet<Uuid> = env
        .query("SELECT id FROM mail_outbox WHERE status = 'sent'", vec![])
        .await
        .iter()
        .map(|r| r.try_get::<Uuid>("", "id").unwrap())
        .collect();
    let mails = env.mail_files();
    let per_id = message_ids(&mails);
    let twice: Vec<(&String, &usize)> = per_id.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "emails delivered more than once: {twice:?}"
    );
    for id in &sent {
        assert!(
            per_id.contains_key(&id.to_string()),
            "outbox email {id} is marked sent but was never delivered"
        );
    }
    for (email, _) in &ledger.invitations {
        let setup_mails = mails
            .iter()
            .filter(|m| m.contains(&format!("To: {email}")))
            .count();
        assert_eq!(setup_mails, 1, "one setup email to {email}");
    }
    let receipts = mails
        .iter()
        .filter(|m| m.contains(&format!("To: {}", client.email)) && m.contains("Payment receipt"))
        .count();
    assert_eq!(receipts as i64, paid_keys, "one receipt per payment");
    // Writes whose answer the kill cut off may or may not have committed; either is fine, and
    // the report says which.
    let unanswered_stored: Vec<String> = ledger
        .unanswered
        .iter()
        .map(|(kind, unique)| {
            let stored = match kind {
                Kind::Note => notes.iter().any(|n| n["body"] == *unique),
                Kind::Document => documents.contains_key(unique),
                Kind::Invitation => member_emails.contains(unique.as_str()),
                // Retried above: paid once either way.
                Kind::Payment => return format!("{kind:?} settled by the retry"),
            };
            format!("{kind:?} {}", if stored { "stored" } else { "not stored" })
        })
        .collect();
    let redelivered = mails.len() - mails_before_restart;
    println!(
        "{backend:?}: {redelivered} emails delivered after the restart ({} outbox rows sent in all; \
         the worker had {smtp_connections} SMTP connection(s) open at the kill); {} payments after \
         retrying {} unanswered keys; {} documents stored; unanswered writes: {unanswered_stored:?}",
        sent.len(),
        paid_keys,
        unanswered_keys.len(),
        documents.len(),
    );
    assert!(redelivered > 0, "queued emails are delivered after restart");

    server.stop().await;
    if backend == Backend::Sqlite {
        assert_eq!(env.sqlite_integrity().await, "ok", "PRAGMA integrity_check");
    }
    println!("{backend:?}: crash test took {:?}", started.elapsed());
}

// ---- SIGTERM with requests in flight ------------------------------------------------------------

const IN_FLIGHT: usize = 50;
const UPLOAD_LEN: usize = 256 * 1024;
const CHUNK: usize = 32 * 1024;
/// Generous, so a slow machine finishes the uploads inside it: the point is the exit status
/// and that nothing in flight is cut off, not the speed.
const GRACE_SECS: u64 = 20;
/// Long enough to see `/readyz` answer 503 before the listener closes.
const DRAIN_MS: u64 = 1_000;

/// Upload temp files in the storage directory: one per upload the server is receiving.
fn uploads_in_progress(dir: &Path) -> usize {
    let Ok(tenants) = std::fs::read_dir(dir) else {
        return 0;
    };
    tenants
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_dir(t.path()).ok())
        .flatten()
        .filter_map(Result::ok)
        .filter(|f| f.file_name().to_string_lossy().starts_with(".upload-"))
        .count()
}

/// The upload's first chunk at once, the rest only after `release` turns true.
fn held_body(bytes: Vec<u8>, release: tokio::sync::watch::Receiver<bool>) -> reqwest::Body {
    let chunks: Vec<Vec<u8>> = bytes.chunks(CHUNK).map(<[u8]>::to_vec).collect();
    let stream = futures::stream::unfold(
        (chunks.into_iter(), release, true),
        |(mut chunks, mut release, first)| async move {
            let chunk = chunks.next()?;
            if !first {
                let _ = release.wait_for(|go| *go).await;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Some((Ok::<_, std::io::Error>(chunk), (chunks, release, false)))
        },
    );
    reqwest::Body::wrap_stream(stream)
}

async fn sigterm_lets_in_flight_uploads_finish(backend: Backend) {
    let started = Instant::now();
    let mut env = ServerEnv::new(backend).await;
    env.set("server.shutdown_grace_secs", GRACE_SECS.to_string())
        .set("server.shutdown_drain_ms", DRAIN_MS.to_string());
    let http = new_client();
    let mut server = env.start().await;
    let firm = onboard(&server, &env, &http).await;

    // 50 uploads of 256 KiB: each sends its first 32 KiB, then holds the rest.
    let (release, release_rx) = tokio::sync::watch::channel(false);
    let mut uploads = Vec::new();
    for i in 0..IN_FLIGHT {
        let name = format!("inflight-{i}.pdf");
        let bytes = document_bytes(&name, UPLOAD_LEN);
        let len = bytes.len() as u64;
        let part = Part::stream_with_length(held_body(bytes, release_rx.clone()), len)
            .file_name(name.clone());
        let request = firm_api(
            &server,
            &http,
            &firm,
            Method::POST,
            &format!("/files/{}/documents", firm.file),
        )
        .multipart(Form::new().part("file", part));
        uploads.push(tokio::spawn(async move {
            let response = request.send().await;
            let outcome = match response {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let body: Value = r.json().await.unwrap_or(Value::Null);
                    Ok((status, body))
                }
                Err(err) => Err(format!("{err:?}")),
            };
            (name, outcome)
        }));
    }
    // The server has opened a temp file for each: all 50 are being received.
    for _ in 0..600 {
        if uploads_in_progress(&env.storage_dir()) == IN_FLIGHT {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        uploads_in_progress(&env.storage_dir()),
        IN_FLIGHT,
        "all uploads in flight before the signal"
    );

    let addr = server.addr;
    let signalled = Instant::now();
    server.signal("TERM").await;
    // Readiness from a new connection each time, until the listener is gone.
    let probe = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut answers: Vec<String> = Vec::new();
    loop {
        match probe.get(format!("http://{addr}/readyz")).send().await {
            Ok(r) => answers.push(r.status().as_u16().to_string()),
            Err(err) if err.is_connect() => {
                answers.push("refused".into());
                break;
            }
            Err(_) => answers.push("reset".into()),
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(GRACE_SECS),
            "the listener never closed; /readyz answered {answers:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let still_sending = uploads.iter().filter(|u| !u.is_finished()).count();
    println!("{backend:?}: /readyz after SIGTERM answered {answers:?}");
    let first_503 = answers
        .iter()
        .position(|a| a == "503")
        .unwrap_or_else(|| panic!("/readyz never answered 503: {answers:?}"));
    assert!(
        answers[..first_503].iter().all(|a| a == "200")
            && answers[first_503..].iter().all(|a| a != "200"),
        "once 503, never ready again: {answers:?}"
    );
    assert_eq!(
        still_sending, IN_FLIGHT,
        "the uploads were still in flight when new connections were refused"
    );

    // Let the uploads finish: every one is answered 201.
    release.send(true).unwrap();
    let mut stored = Vec::new();
    let mut failed = Vec::new();
    for upload in uploads {
        let (name, outcome) = upload.await.unwrap();
        match outcome {
            Ok((201, body)) => stored.push((name, body["id"].as_str().unwrap().to_owned())),
            other => failed.push(format!("{name}: {other:?}")),
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {IN_FLIGHT} uploads failed after SIGTERM:\n{}\n{}",
        failed.len(),
        failed.join("\n"),
        server.output()
    );
    let limit = Duration::from_millis(DRAIN_MS) + Duration::from_secs(GRACE_SECS);
    let status = server
        .wait(limit.saturating_sub(signalled.elapsed()))
        .await
        .unwrap_or_else(|| panic!("still running {limit:?} after SIGTERM"));
    let exited_after = signalled.elapsed();
    assert!(
        status.success(),
        "exit status {status}\n{}",
        server.output()
    );
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "connections refused after exit"
    );
    println!(
        "{backend:?}: {IN_FLIGHT} uploads completed with 201; exited 0 after {exited_after:?} \
         (limit {limit:?})"
    );

    // What was acknowledged during the shutdown is stored and readable.
    let server = env.start().await;
    let listed = expect_json(
        firm_api(
            &server,
            &http,
            &firm,
            Method::GET,
            &format!("/files/{}/documents", firm.file),
        ),
        200,
        "documents",
    )
    .await;
    let listed: HashMap<&str, &Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["id"].as_str().unwrap(), d))
        .collect();
    for (name, id) in &stored {
        let doc = listed
            .get(id.as_str())
            .unwrap_or_else(|| panic!("{name} acknowledged but not stored"));
        assert_eq!(doc["filename"], *name);
        assert_eq!(
            doc["size_bytes"],
            document_bytes(name, UPLOAD_LEN).len() as i64
        );
    }
    for (name, id) in stored.iter().step_by(10) {
        let got = firm_api(
            &server,
            &http,
            &firm,
            Method::GET,
            &format!("/documents/{id}/content"),
        )
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
        let want = document_bytes(name, UPLOAD_LEN);
        assert!(
            got.as_ref() == want.as_slice(),
            "{name}: downloaded {} but uploaded {}",
            fingerprint(&got),
            fingerprint(&want)
        );
    }
    server.stop().await;
    if backend == Backend::Sqlite {
        assert_eq!(env.sqlite_integrity().await, "ok", "PRAGMA integrity_check");
    }
    println!("{backend:?}: SIGTERM test took {:?}", started.elapsed());
}
