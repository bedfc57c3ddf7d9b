//! Two real `portico serve` processes, A and B, on one PostgreSQL database and one storage
//! directory (standing in for shared storage), both running their mail workers: what one node
//! does is what the other serves.
//!
//! - **Suspension**: a firm suspended through A's operator API is refused (403 "suspended") by
//!   B within one second although B had its host cached; reactivated through A, B serves it
//!   again within one second.
//! - **Options**: a display name saved through A shows on B's login page within one second,
//!   although B had the firm's options cached.
//! - **Sessions**: a member session created on A works on B (bearer token and cookie); signing
//!   out on A is refused by B on the very next request, although B had the session in memory.
//! - **Answers kept in memory**: a client's files and a file's notes, and a member's activity
//!   feed, kept in B's memory, follow a note shared and a file unshared through A on B's very
//!   next request.
//! - **Joined epoch reads**: B, busy with a client's concurrent reads, answers many of them
//!   with one read of the firm's epoch, and still shows each note shared through A on its very
//!   next request.
//! - **Documents**: uploaded through one node, downloaded through the other with identical
//!   bytes, by the member and by the client.
//! - **Outbox**: 500 queued emails go out exactly once with both workers claiming from the same
//!   table (configured lease); emails claimed by a node that is then killed (SIGKILL, mid-send)
//!   are delivered by the other once their lease has expired, each exactly once, and not
//!   before; and a batch whose sending outlasts its lease (a slow SMTP server) is still sent
//!   once per email, although the other node may take over what is left of it.
//!
//! The host cache TTL is 300 s on both nodes and the options cache keeps entries for 60 s: any
//! change seen on B within a second can only have come from the cross-node invalidation
//! (PostgreSQL LISTEN/NOTIFY), not from an entry expiring.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::firm::STRONG_PASSWORD;
use crate::support::process::{
    ServerEnv, ServerProcess, SilentSmtp, document_bytes, expect_json, message_ids,
};
use crate::support::{Backend, link_token, new_client, random_suffix};

/// Far longer than any wait below, so that only an invalidation can refresh B's host cache.
const HOST_CACHE_TTL_SECS: &str = "300";
/// How soon a change made through A must show on B.
const VISIBLE_WITHIN: Duration = Duration::from_secs(1);
/// How often B is asked while waiting for a change to show.
const POLL_EVERY: Duration = Duration::from_millis(25);
/// B's count of signed-in requests whose session it found in memory.
const SESSIONS_FROM_MEMORY: &str = r#"portico_session_lookups_total{source="cache"}"#;
/// B's count of activity feeds it answered from memory.
const FEEDS_FROM_MEMORY: &str = r#"portico_activity_feed_reads_total{source="memory"}"#;
/// B's count of requests that read their firm's epoch from the database themselves…
const EPOCHS_READ: &str = r#"portico_shared_epoch_reads_total{source="database"}"#;
/// …and of those that took a read another request started after they arrived.
const EPOCHS_JOINED: &str = r#"portico_shared_epoch_reads_total{source="joined"}"#;
/// The outbox lease in the tests about leases (the others keep the configured 120 s): a killed
/// node's claims expire after this, so the test does not wait long.
const LEASE_SECS: u64 = 2;

// ---- two nodes ----------------------------------------------------------------------------------

struct Nodes {
    env: ServerEnv,
    a: ServerProcess,
    b: ServerProcess,
}

/// What both nodes share: one fresh PostgreSQL database, one storage directory, one mail
/// directory, and the same settings.
async fn shared_env() -> ServerEnv {
    let mut env = ServerEnv::new(Backend::Postgres).await;
    env.set("tenants.host_cache_ttl_secs", HOST_CACHE_TTL_SECS);
    env
}

impl Nodes {
    async fn start() -> Self {
        let env = shared_env().await;
        let (a, b) = tokio::join!(env.start(), env.start());
        Self { env, a, b }
    }
}

/// A firm onboarded through A, its administrator set up and signed in on A.
struct Firm {
    slug: String,
    admin_email: String,
    admin_id: String,
    /// The administrator's bearer token (session created on A).
    token: String,
}

/// Onboards a firm through A, sets the administrator's password from the emailed link (sent
/// by whichever node's worker claimed it) and signs in on A.
async fn onboard(nodes: &Nodes, http: &reqwest::Client) -> Firm {
    let onboarded = nodes.a.onboard(&nodes.env, http, " on A").await;
    Firm {
        slug: onboarded.slug,
        admin_email: onboarded.admin_email,
        admin_id: onboarded.session["member"]["id"]
            .as_str()
            .unwrap()
            .to_owned(),
        token: onboarded.session["token"].as_str().unwrap().to_owned(),
    }
}

fn firm_api(
    node: &ServerProcess,
    http: &reqwest::Client,
    firm: &Firm,
    method: Method,
    path: &str,
) -> reqwest::RequestBuilder {
    http.request(
        method,
        node.firm_url(&firm.slug, &format!("/api/v1/firm{path}")),
    )
    .bearer_auth(&firm.token)
}

/// What B answered while a change was being made through A.
struct Race {
    /// A's answer to the change.
    change_status: u16,
    change_body: String,
    /// B's answers before the first one that shows the change.
    before: Vec<u16>,
    /// The first answer of B that shows the change: `(status, body)`.
    shown: (u16, String),
    /// From A's answer to B's first answer showing the change (zero if B showed it before A's
    /// answer arrived).
    after_answer: Duration,
    polls: usize,
}

/// Sends `change` to A and, at the same time, asks B (`probe`) every [`POLL_EVERY`] until an
/// answer satisfies `shows` or 5 s have passed.
async fn race(
    change: reqwest::RequestBuilder,
    probe: impl Fn() -> reqwest::RequestBuilder,
    shows: impl Fn(u16, &str) -> bool,
) -> Race {
    let change = tokio::spawn(async move {
        let response = change.send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        (Instant::now(), status, body)
    });
    let started = Instant::now();
    let mut before = Vec::new();
    let shown = loop {
        let response = probe().send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        let at = Instant::now();
        if shows(status, &body) {
            break Some(((status, body), at));
        }
        before.push(status);
        if started.elapsed() > Duration::from_secs(5) {
            break None;
        }
        tokio::time::sleep(POLL_EVERY).await;
    };
    let (answered, change_status, change_body) = change.await.unwrap();
    let Some((shown, shown_at)) = shown else {
        panic!(
            "B never showed the change within 5 s (A answered {change_status}: {change_body}); \
             B answered {before:?}"
        );
    };
    Race {
        change_status,
        change_body,
        polls: before.len() + 1,
        before,
        shown,
        after_answer: shown_at.saturating_duration_since(answered),
    }
}

// ---- 1. suspension ------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspension_through_a_is_refused_on_b_within_a_second() {
    let started = Instant::now();
    let nodes = Nodes::start().await;
    let http = new_client();
    let firm = onboard(&nodes, &http).await;
    let (a, b) = (&nodes.a, &nodes.b);
    let me_on_b = || firm_api(b, &http, &firm, Method::GET, "/me");

    // B serves the firm, and has its host cached from here on.
    for _ in 0..5 {
        let response = me_on_b().send().await.unwrap();
        assert_eq!(
            response.status(),
            200,
            "B serves the firm before the suspension"
        );
    }

    let suspend = http
        .post(a.operator_url(&format!("/api/v1/platform/tenants/{}/suspend", firm.slug)))
        .bearer_auth(&a.operator_token);
    let suspended = race(suspend, me_on_b, |status, _| status != 200).await;
    assert_eq!(
        suspended.change_status, 200,
        "suspend on A: {}",
        suspended.change_body
    );
    assert!(
        suspended.before.iter().all(|s| *s == 200),
        "B served the firm until it refused it: {:?}",
        suspended.before
    );
    let (status, body) = &suspended.shown;
    assert_eq!(*status, 403, "B refuses the suspended firm: {body}");
    assert!(body.contains("suspended"), "B says why: {body}");
    assert!(
        suspended.after_answer <= VISIBLE_WITHIN,
        "B refused the suspended firm only {:?} after A answered",
        suspended.after_answer
    );
    // Refused for good, not once: nothing on B brings the stale entry back.
    for _ in 0..10 {
        tokio::time::sleep(POLL_EVERY).await;
        assert_eq!(me_on_b().send().await.unwrap().status(), 403);
    }
    println!(
        "suspension through A refused on B {:?} after A answered ({} polls of B, {} served \
         before)",
        suspended.after_answer,
        suspended.polls,
        suspended.before.len()
    );

    let reactivate = http
        .post(a.operator_url(&format!(
            "/api/v1/platform/tenants/{}/reactivate",
            firm.slug
        )))
        .bearer_auth(&a.operator_token);
    let reactivated = race(reactivate, me_on_b, |status, _| status != 403).await;
    assert_eq!(
        reactivated.change_status, 200,
        "reactivate on A: {}",
        reactivated.change_body
    );
    let (status, body) = &reactivated.shown;
    assert_eq!(*status, 200, "B serves the reactivated firm: {body}");
    assert!(
        reactivated.after_answer <= VISIBLE_WITHIN,
        "B served the reactivated firm only {:?} after A answered",
        reactivated.after_answer
    );
    for _ in 0..10 {
        tokio::time::sleep(POLL_EVERY).await;
        assert_eq!(me_on_b().send().await.unwrap().status(), 200);
    }
    println!(
        "reactivation through A served on B {:?} after A answered ({} polls of B); test took {:?}",
        reactivated.after_answer,
        reactivated.polls,
        started.elapsed()
    );
}

// ---- 2. options ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_saved_through_a_show_on_b_within_a_second() {
    let started = Instant::now();
    let nodes = Nodes::start().await;
    let http = new_client();
    let firm = onboard(&nodes, &http).await;
    let (a, b) = (&nodes.a, &nodes.b);
    let login_page_on_b = || http.get(b.firm_url(&firm.slug, "/"));

    // B renders the login page with the registered name and caches the options.
    for _ in 0..3 {
        let response = login_page_on_b().send().await.unwrap();
        assert_eq!(response.status(), 200);
        let page = response.text().await.unwrap();
        assert!(
            page.contains(&format!("Sign in to Firm {}", firm.slug)),
            "the registered name before any change"
        );
    }

    // Twice: every change travels, not only the first.
    let mut options = expect_json(
        firm_api(a, &http, &firm, Method::GET, "/options/client-portal"),
        200,
        "options on A",
    )
    .await;
    for round in 1..=2 {
        let name = format!("Harbour Partners {round} {}", random_suffix(6));
        options["display_name"] = json!(name);
        let save = firm_api(a, &http, &firm, Method::PUT, "/options/client-portal").json(&options);
        let wanted = format!("Sign in to {name}");
        let raced = race(save, login_page_on_b, |status, page| {
            status == 200 && page.contains(&wanted)
        })
        .await;
        assert_eq!(raced.change_status, 200, "save on A: {}", raced.change_body);
        assert!(
            raced.before.iter().all(|s| *s == 200),
            "B kept serving the login page: {:?}",
            raced.before
        );
        assert!(
            raced.after_answer <= VISIBLE_WITHIN,
            "B showed the display name saved on A only {:?} after A answered",
            raced.after_answer
        );
        println!(
            "options change {round} through A shown on B {:?} after A answered ({} polls of B)",
            raced.after_answer, raced.polls
        );
    }
    println!("options test took {:?}", started.elapsed());
}

// ---- 3. sessions --------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_from_a_works_on_b_and_its_sign_out_is_refused_on_b_at_once() {
    let started = Instant::now();
    let nodes = Nodes::start().await;
    let http = new_client();
    let firm = onboard(&nodes, &http).await;
    let (a, b) = (&nodes.a, &nodes.b);

    // A fresh sign-in on A, keeping its cookie (host-only on the firm's host, which both nodes
    // serve: cookies do not depend on the port).
    let browser = new_client();
    let session = expect_json(
        browser
            .post(a.firm_url(&firm.slug, "/api/v1/firm/session"))
            .json(&json!({"email": firm.admin_email, "password": STRONG_PASSWORD})),
        200,
        "sign-in on A",
    )
    .await;
    let token = session["token"].as_str().unwrap().to_owned();
    let by_bearer = || {
        http.get(b.firm_url(&firm.slug, "/api/v1/firm/me"))
            .bearer_auth(&token)
    };
    let by_cookie = || browser.get(b.firm_url(&firm.slug, "/api/v1/firm/me"));
    let kept_before = b.counter(&http, SESSIONS_FROM_MEMORY).await;
    for (how, request) in [("bearer", by_bearer()), ("cookie", by_cookie())] {
        let me = expect_json(request, 200, &format!("the session from A on B ({how})")).await;
        assert_eq!(me["member"]["id"], firm.admin_id.as_str(), "{how}");
    }
    // The second request found the session in B's memory: what follows shows that a sign-out
    // through A retires it there too.
    assert!(
        b.counter(&http, SESSIONS_FROM_MEMORY).await > kept_before,
        "B answered the session's second request from memory"
    );

    // Signed out on A with the bearer token (a client without the cookie, so the cookie stays
    // in `browser` and can be presented to B afterwards).
    let signed_out = new_client()
        .delete(a.firm_url(&firm.slug, "/api/v1/firm/session"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let signed_out_at = Instant::now();
    assert!(
        signed_out.status().is_success(),
        "sign-out on A: {}",
        signed_out.status()
    );
    let refused_bearer = by_bearer().send().await.unwrap().status();
    let refused_cookie = by_cookie().send().await.unwrap().status();
    let checked_after = signed_out_at.elapsed();
    assert_eq!(
        refused_bearer, 401,
        "the very next bearer request on B after sign-out on A"
    );
    assert_eq!(
        refused_cookie, 401,
        "the very next cookie request on B after sign-out on A"
    );
    // The other session of the same member (created on A during onboarding) is untouched.
    expect_json(
        firm_api(b, &http, &firm, Method::GET, "/me"),
        200,
        "another session of the member on B",
    )
    .await;
    println!(
        "sign-out on A refused on B on the next request ({checked_after:?} later); test took {:?}",
        started.elapsed()
    );
}

// ---- 4. a client's answers kept in memory ------------------------------------------------------

/// A client of the firm with Portal access to one file.
struct Client {
    file: String,
    contact: String,
    email: String,
    /// The client's bearer token (session created on B).
    token: String,
}

/// Through A: the contact has Portal access (signing in as `email`) to exactly `files`.
fn share_files_on_a(
    nodes: &Nodes,
    http: &reqwest::Client,
    firm: &Firm,
    contact: &str,
    email: &str,
    files: &[&str],
) -> reqwest::RequestBuilder {
    firm_api(
        &nodes.a,
        http,
        firm,
        Method::PUT,
        &format!("/contacts/{contact}/portal"),
    )
    .json(&json!({"allow": true, "login_email": email, "file_ids": files}))
}

/// A file with a client who has Portal access, set up on A; the client accepts and signs in
/// on B.
async fn client_on_a_file(nodes: &Nodes, http: &reqwest::Client, firm: &Firm) -> Client {
    let (a, b) = (&nodes.a, &nodes.b);
    let file = expect_json(
        firm_api(a, http, firm, Method::POST, "/files").json(&json!({
            "number": "2026-001", "name": "Matter 2026-001", "file_type": "Litigation",
            "status": "open", "responsible_lawyer_id": firm.admin_id, "member_ids": []})),
        201,
        "file on A",
    )
    .await;
    let file = file["id"].as_str().unwrap().to_owned();
    let email = format!("client@{}.example", firm.slug);
    let contact = expect_json(
        firm_api(a, http, firm, Method::POST, "/contacts")
            .json(&json!({"name": "Chris Client", "emails": [email]})),
        201,
        "contact on A",
    )
    .await;
    let contact = contact["id"].as_str().unwrap().to_owned();
    let added = firm_api(
        a,
        http,
        firm,
        Method::POST,
        &format!("/files/{file}/people"),
    )
    .json(&json!({"contact_id": contact, "role": "client", "primary": false}))
    .send()
    .await
    .unwrap();
    assert!(added.status().is_success(), "client on the file");
    expect_json(
        share_files_on_a(nodes, http, firm, &contact, &email, &[&file]),
        200,
        "Portal access on A",
    )
    .await;
    let mail = nodes.env.wait_for_mail(&email, "/invitations/").await;
    let invitation = link_token(&mail, &a.firm_url(&firm.slug, "/invitations/"));
    let token = b
        .accept_invitation(http, &firm.slug, &invitation, &email, " on B")
        .await;
    Client {
        file,
        contact,
        email,
        token,
    }
}

/// B keeps a client's answers (session, shared files, a file's notes) in memory; each write
/// through A — a note shared, the file unshared — shows on B's very next request, with no wait
/// and no poll: the write moved the firm's epoch in the database, which B reads per request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clients_answers_kept_on_b_follow_writes_through_a_at_once() {
    let started = Instant::now();
    let nodes = Nodes::start().await;
    let http = new_client();
    let firm = onboard(&nodes, &http).await;
    let (a, b) = (&nodes.a, &nodes.b);
    let client = client_on_a_file(&nodes, &http, &firm).await;
    let on_b = |path: &str| {
        http.get(b.firm_url(&firm.slug, &format!("/api/v1/portal{path}")))
            .bearer_auth(&client.token)
    };
    let notes_path = format!("/files/{}/notes", client.file);
    let note_bodies = |notes: &Value| -> Vec<String> {
        notes
            .as_array()
            .expect("a list of notes")
            .iter()
            .map(|n| n["body"].as_str().unwrap_or_default().to_owned())
            .collect()
    };

    // Read twice on B: the second answer comes from B's memory.
    let kept_before = b.counter(&http, SESSIONS_FROM_MEMORY).await;
    for round in 0..2 {
        let files = expect_json(on_b("/files"), 200, "files on B").await;
        assert_eq!(files[0]["id"], client.file.as_str(), "round {round}");
        let notes = expect_json(on_b(&notes_path), 200, "notes on B").await;
        assert!(note_bodies(&notes).is_empty(), "round {round}: {notes}");
    }
    assert!(
        b.counter(&http, SESSIONS_FROM_MEMORY).await > kept_before,
        "B answered the client's repeated reads from memory"
    );
    // The member's activity feed, kept in B's memory too.
    let feed_on_b = || {
        firm_api(
            b,
            &http,
            &firm,
            Method::GET,
            "/activity?kind=member_activity",
        )
    };
    let feed_before = expect_json(feed_on_b(), 200, "member's feed on B").await;
    let feeds_kept = b.counter(&http, FEEDS_FROM_MEMORY).await;
    let feed_again = expect_json(feed_on_b(), 200, "member's feed on B again").await;
    assert_eq!(feed_again, feed_before);
    assert_eq!(
        b.counter(&http, FEEDS_FROM_MEMORY).await,
        feeds_kept + 1,
        "B answered the member's repeated feed from memory"
    );

    // A note shared through A is in B's very next answer.
    expect_json(
        firm_api(a, &http, &firm, Method::POST, &notes_path)
            .json(&json!({"body": "Hearing moved to May", "shared": true})),
        201,
        "shared note through A",
    )
    .await;
    let notes = expect_json(on_b(&notes_path), 200, "notes on B after A's note").await;
    assert_eq!(
        note_bodies(&notes),
        ["Hearing moved to May"],
        "B's next answer after the note shared through A"
    );
    let feed = expect_json(feed_on_b(), 200, "member's feed on B after A's note").await;
    let entries = feed.as_array().expect("a list of entries");
    assert_eq!(
        entries.len(),
        feed_before.as_array().map_or(0, Vec::len) + 1,
        "B's next feed after the note shared through A: {feed}"
    );
    assert_eq!(entries[0]["action"], "item.shared", "{feed}");

    // The file unshared through A is gone from B's very next answer, and its notes with it.
    expect_json(
        share_files_on_a(&nodes, &http, &firm, &client.contact, &client.email, &[]),
        200,
        "file unshared through A",
    )
    .await;
    let files = expect_json(on_b("/files"), 200, "files on B after unsharing").await;
    assert_eq!(
        files,
        json!([]),
        "B's next answer after the unsharing through A"
    );
    let notes = on_b(&notes_path).send().await.unwrap().status();
    assert_eq!(notes, 404, "the unshared file's notes on B");
    println!(
        "B followed A's writes on the next request; test took {:?}",
        started.elapsed()
    );
}

/// Requests B's client reads concurrently while notes are shared through A.
const BUSY_READERS: usize = 16;
/// Notes shared through A while B is busy.
const NOTES_WHILE_BUSY: usize = 10;

/// B joins the epoch reads of a busy firm's concurrent requests (each request takes only a read
/// that started after it arrived), and that keeps the promise above: with sixteen of the
/// client's reads always under way on B, every note shared through A is in B's very next
/// answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b_joins_a_busy_firms_epoch_reads_and_still_follows_each_write_through_a_at_once() {
    let nodes = Nodes::start().await;
    let http = new_client();
    let firm = onboard(&nodes, &http).await;
    let (a, b) = (&nodes.a, &nodes.b);
    let client = client_on_a_file(&nodes, &http, &firm).await;
    let files_on_b = b.firm_url(&firm.slug, "/api/v1/portal/files");
    let notes_path = format!("/files/{}/notes", client.file);
    let notes_on_b = b.firm_url(&firm.slug, &format!("/api/v1/portal{notes_path}"));
    let (read_before, joined_before) = (
        b.counter(&http, EPOCHS_READ).await,
        b.counter(&http, EPOCHS_JOINED).await,
    );

    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..BUSY_READERS)
        .map(|_| {
            let (http, url, token, stop) = (
                http.clone(),
                files_on_b.clone(),
                client.token.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                let mut answered = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let status = http
                        .get(&url)
                        .bearer_auth(&token)
                        .send()
                        .await
                        .expect("client's files on B")
                        .status();
                    assert_eq!(status, 200, "client's files on B while busy");
                    answered += 1;
                }
                answered
            })
        })
        .collect();
    // Let the readers get going before the first write.
    tokio::time::sleep(Duration::from_millis(300)).await;

    for n in 1..=NOTES_WHILE_BUSY {
        let body = format!("Update {n}");
        expect_json(
            firm_api(a, &http, &firm, Method::POST, &notes_path)
                .json(&json!({"body": body, "shared": true})),
            201,
            "shared note through A",
        )
        .await;
        let notes = expect_json(
            http.get(&notes_on_b).bearer_auth(&client.token),
            200,
            "notes on B right after A's note",
        )
        .await;
        let notes = notes.as_array().expect("a list of notes");
        assert_eq!(
            notes.len(),
            n,
            "B's very next answer after note {n} through A: {notes:?}"
        );
        assert!(
            notes.iter().any(|note| note["body"] == body.as_str()),
            "note {n} in B's next answer: {notes:?}"
        );
    }
    stop.store(true, Ordering::Relaxed);
    let mut busy_reads = 0;
    for reader in readers {
        busy_reads += reader.await.expect("reader");
    }

    let read = b.counter(&http, EPOCHS_READ).await - read_before;
    let joined = b.counter(&http, EPOCHS_JOINED).await - joined_before;
    println!("B answered {busy_reads} busy reads; epoch read {read} times, joined {joined} times");
    assert!(
        joined > 0,
        "B's concurrent requests joined epoch reads ({read} read, {joined} joined)"
    );
    assert!(
        read < busy_reads,
        "fewer epoch reads ({read}) than requests ({busy_reads})"
    );
}

// ---- 5. documents -------------------------------------------------------------------------------

async fn download(request: reqwest::RequestBuilder, what: &str) -> Vec<u8> {
    let response = request.send().await.unwrap();
    let status = response.status();
    let bytes = response.bytes().await.unwrap().to_vec();
    assert_eq!(
        status,
        200,
        "{what}: {}",
        String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
    );
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_uploaded_through_one_node_download_through_the_other() {
    let started = Instant::now();
    let nodes = Nodes::start().await;
    let http = new_client();
    let firm = onboard(&nodes, &http).await;
    let (a, b) = (&nodes.a, &nodes.b);

    let Client {
        file,
        token: client_token,
        ..
    } = client_on_a_file(&nodes, &http, &firm).await;
    let portal_api = |node: &ServerProcess, method: Method, path: &str| {
        http.request(
            method,
            node.firm_url(&firm.slug, &format!("/api/v1/portal{path}")),
        )
        .bearer_auth(&client_token)
    };

    // A member's shared document of several storage chunks, uploaded through A.
    let name = "statements.pdf";
    let sent = document_bytes(name, 3 * 1024 * 1024 + 7);
    let form = Form::new()
        .text("shared", "true")
        .part("file", Part::bytes(sent.clone()).file_name(name));
    let uploaded = expect_json(
        firm_api(
            a,
            &http,
            &firm,
            Method::POST,
            &format!("/files/{file}/documents"),
        )
        .multipart(form),
        201,
        "upload through A",
    )
    .await;
    let id = uploaded["id"].as_str().unwrap().to_owned();
    let path = format!("/documents/{id}/content");
    let as_member = download(
        firm_api(b, &http, &firm, Method::GET, &path),
        "member download through B",
    )
    .await;
    assert!(
        as_member == sent,
        "member download through B differs from the upload through A ({} vs {} bytes)",
        as_member.len(),
        sent.len()
    );
    let as_client = download(
        portal_api(b, Method::GET, &path),
        "client download through B",
    )
    .await;
    assert!(
        as_client == sent,
        "client download through B differs from the upload through A ({} vs {} bytes)",
        as_client.len(),
        sent.len()
    );

    // The other way: the client uploads through B, the member reads it through A.
    let mine = document_bytes("my-notes.pdf", 200 * 1024);
    let form = Form::new().part("file", Part::bytes(mine.clone()).file_name("my-notes.pdf"));
    let theirs = expect_json(
        portal_api(b, Method::POST, &format!("/files/{file}/documents")).multipart(form),
        201,
        "client upload through B",
    )
    .await;
    let theirs = theirs["id"].as_str().unwrap().to_owned();
    let path = format!("/documents/{theirs}/content");
    assert!(
        download(
            firm_api(a, &http, &firm, Method::GET, &path),
            "member download through A"
        )
        .await
            == mine,
        "member download through A differs from the client's upload through B"
    );
    assert!(
        download(
            portal_api(a, Method::GET, &path),
            "client download through A"
        )
        .await
            == mine,
        "client download through A differs from the client's upload through B"
    );
    println!(
        "documents of {} and {} bytes read back identically across nodes; test took {:?}",
        sent.len(),
        mine.len(),
        started.elapsed()
    );
}

// ---- the outbox ---------------------------------------------------------------------------------

/// Queues `n` emails for `tenant` directly in the outbox, with `tag` in every subject.
async fn queue_emails(env: &ServerEnv, tenant: Uuid, tag: &str, n: i32) -> Vec<Uuid> {
    env.query(
        "INSERT INTO mail_outbox (tenant_id, id, kind, to_address, subject, body_text, status, \
         attempts, next_attempt_at, created_at) \
         SELECT $1, gen_random_uuid(), 'two_node_test', 'bulk-' || g || '@example.com', \
                $2 || ' #' || g, 'Message ' || g || ' of a bulk send.', 'pending', 0, now(), now() \
         FROM generate_series(1, $3) AS g RETURNING id",
        vec![tenant.into(), tag.into(), n.into()],
    )
    .await
    .iter()
    .map(|r| r.try_get::<Uuid>("", "id").unwrap())
    .collect()
}

/// Waits (up to `limit`) until no email is left pending; returns how long that took.
async fn wait_until_all_sent(env: &ServerEnv, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let open = env
            .count(
                "SELECT COUNT(*) AS n FROM mail_outbox WHERE status <> 'sent'",
                vec![],
            )
            .await;
        if open == 0 {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "{open} emails still not sent after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Asserts that every outbox row is `sent` and was delivered exactly once, and that nothing
/// else was delivered. Returns the number of deliveries.
async fn assert_each_delivered_once(env: &ServerEnv) -> usize {
    let rows: BTreeSet<String> = env
        .query("SELECT id, status FROM mail_outbox", vec![])
        .await
        .iter()
        .map(|r| {
            let status: String = r.try_get("", "status").unwrap();
            let id = r.try_get::<Uuid>("", "id").unwrap().to_string();
            assert_eq!(status, "sent", "outbox row {id}");
            id
        })
        .collect();
    let mails = env.mail_files();
    let per_id = message_ids(&mails);
    let twice: Vec<(&String, &usize)> = per_id.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    let delivered: BTreeSet<String> = per_id.keys().cloned().collect();
    let missing: Vec<&String> = rows.difference(&delivered).collect();
    assert!(
        missing.is_empty(),
        "marked sent, never delivered: {missing:?}"
    );
    let unknown: Vec<&String> = delivered.difference(&rows).collect();
    assert!(
        unknown.is_empty(),
        "delivered without an outbox row: {unknown:?}"
    );
    assert_eq!(mails.len(), rows.len(), "one delivery per outbox row");
    mails.len()
}

/// Emails a node reports as sent in its `mail outbox batch` log lines (JSON logs).
fn logged_sends(node: &ServerProcess) -> u64 {
    node.output()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|line| {
            // Flattened events carry the fields at the top; otherwise under `fields`.
            let fields = if line.get("message").is_some() {
                line
            } else {
                line.get("fields")?.clone()
            };
            (fields["message"] == "mail outbox batch").then(|| fields["sent"].as_u64())?
        })
        .sum()
}

// ---- 6. 500 emails, two workers -----------------------------------------------------------------

const BULK: i32 = 500;

/// With the configured lease (120 s), far longer than a batch takes to write to files: the
/// nodes only meet at the claim.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_emails_are_delivered_once_by_two_workers() {
    let started = Instant::now();
    let nodes = Nodes::start().await;
    let http = new_client();
    let (_, tenant) = nodes.a.create_tenant(&http, " on A").await;
    let tag = format!("Bulk {}", random_suffix(8));
    let queued_at = Instant::now();
    let ids = queue_emails(&nodes.env, tenant, &tag, BULK).await;
    assert_eq!(ids.len(), BULK as usize);

    let drained = wait_until_all_sent(&nodes.env, Duration::from_secs(30)).await;
    let delivered = assert_each_delivered_once(&nodes.env).await;
    let bulk = nodes
        .env
        .mail_files()
        .iter()
        .filter(|m| m.contains(&format!("Subject: {tag} #")))
        .count();
    assert_eq!(bulk, BULK as usize, "exactly {BULK} bulk emails delivered");

    // Each node logs its batches after marking them sent; give the last line a moment.
    let rows = delivered as u64;
    let mut per_node = (0, 0);
    for _ in 0..40 {
        per_node = (logged_sends(&nodes.a), logged_sends(&nodes.b));
        if per_node.0 + per_node.1 >= rows {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        per_node.0 + per_node.1,
        rows,
        "the nodes' logs count each delivery once (A {}, B {})",
        per_node.0,
        per_node.1
    );
    println!(
        "{BULK} queued emails (+{} from onboarding) delivered once each {:?} after queueing \
         ({drained:?} waiting for the outbox to drain): node A sent {}, node B sent {}; test \
         took {:?}",
        delivered - BULK as usize,
        queued_at.elapsed(),
        per_node.0,
        per_node.1,
        started.elapsed()
    );
}

// ---- 7. a node killed with claimed emails -------------------------------------------------------

/// Pending emails whose lease has not expired: `id → (claimed_by, claimed_until)`. A worker
/// renews each email's lease right before sending it, so one batch (one `claimed_by`) holds
/// the batch's lease on most emails and a later one on the email in hand.
async fn held_claims(env: &ServerEnv) -> BTreeMap<Uuid, (Uuid, chrono::DateTime<chrono::Utc>)> {
    env.query(
        "SELECT id, claimed_by, claimed_until FROM mail_outbox \
         WHERE status = 'pending' AND claimed_until > now()",
        vec![],
    )
    .await
    .iter()
    .map(|r| {
        (
            r.try_get("", "id").unwrap(),
            (
                r.try_get("", "claimed_by").unwrap(),
                r.try_get("", "claimed_until").unwrap(),
            ),
        )
    })
    .collect()
}

async fn unclaimed(env: &ServerEnv) -> i64 {
    env.count(
        "SELECT COUNT(*) AS n FROM mail_outbox WHERE status = 'pending' \
         AND (claimed_until IS NULL OR claimed_until <= now())",
        vec![],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emails_claimed_by_a_killed_node_are_delivered_by_the_other_after_the_lease() {
    let started = Instant::now();
    let smtp = SilentSmtp::start().await;
    let mut env = shared_env().await;
    env.set("mail.lease_secs", LEASE_SECS.to_string());
    let http = new_client();
    // The firm's setup email goes out through B before A starts: A stuck on that one email
    // would hold a batch of one. B takes small batches and A large ones, so that when the
    // emails are queued A ends up holding most of them whichever node polls first.
    let b = env
        .start_with(&[("mail.batch_size", "10".to_owned())])
        .await;
    let (_, tenant) = b.create_tenant(&http, " on B").await;
    wait_until_all_sent(&env, Duration::from_secs(15)).await;
    // A sends through the silent server (long timeout: it hangs mid-send until killed); B
    // writes files into the shared mail directory.
    let mut a = env
        .start_with(&[
            ("mail.transport", "smtp".to_owned()),
            ("mail.smtp_host", "127.0.0.1".to_owned()),
            ("mail.smtp_port", smtp.port.to_string()),
            ("mail.timeout_secs", "60".to_owned()),
            ("mail.batch_size", "500".to_owned()),
        ])
        .await;

    // A holds its batch once it has connected to its SMTP server (it claims before sending),
    // nothing is left unclaimed, and the claims left are unchanged for 100 ms (B would have
    // been sending its own).
    let queued = queue_emails(&env, tenant, "Lease", 100).await.len();
    let deadline = Instant::now() + Duration::from_secs(LEASE_SECS);
    let mut previous = BTreeMap::new();
    let held = loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let held = held_claims(&env).await;
        if smtp.connections() > 0
            && !held.is_empty()
            && held == previous
            && unclaimed(&env).await == 0
        {
            break held;
        }
        assert!(
            Instant::now() < deadline,
            "node A did not hold a claimed batch within its lease ({} SMTP connections, \
             claims {held:?})",
            smtp.connections()
        );
        previous = held;
    };
    let claims: BTreeSet<Uuid> = held.values().map(|(claim, _)| *claim).collect();
    assert_eq!(
        claims.len(),
        1,
        "the claims left are one batch (A's): {held:?}"
    );
    // The earliest lease of the batch: A must be killed before any of its leases ran out.
    let lease_until = held.values().map(|(_, until)| *until).min().unwrap();

    let status = a.kill().await;
    let killed_at_utc = chrono::Utc::now();
    assert!(!status.success(), "SIGKILL: {status}");
    assert!(
        killed_at_utc < lease_until,
        "A was killed while its lease ran (until {lease_until}, killed at {killed_at_utc})"
    );
    smtp.task.abort();

    let drained = wait_until_all_sent(&env, Duration::from_secs(20)).await;
    let delivered = assert_each_delivered_once(&env).await;
    // B left A's claims alone until their lease expired.
    let sent_at: BTreeMap<Uuid, chrono::DateTime<chrono::Utc>> = env
        .query(
            "SELECT id, sent_at FROM mail_outbox WHERE status = 'sent'",
            vec![],
        )
        .await
        .iter()
        .map(|r| {
            (
                r.try_get("", "id").unwrap(),
                r.try_get("", "sent_at").unwrap(),
            )
        })
        .collect();
    let early: Vec<(&Uuid, &chrono::DateTime<chrono::Utc>)> = held
        .iter()
        .map(|(id, (_, until))| (id, until, &sent_at[id]))
        .filter(|(_, until, at)| *at < *until)
        .map(|(id, _, at)| (id, at))
        .collect();
    assert!(
        early.is_empty(),
        "emails A held were sent before their lease expired: {early:?} (leases {held:?})"
    );
    assert_eq!(
        logged_sends(&a),
        0,
        "A delivered nothing (its SMTP server never answered)"
    );
    let first_sent = held.keys().map(|id| sent_at[id]).min().unwrap();
    let last_sent = held.keys().map(|id| sent_at[id]).max().unwrap();
    println!(
        "node A held {} of {queued} queued emails when killed ({} ms before its lease expired); \
         node B delivered them {}–{} ms after the lease expired ({drained:?} after the kill); \
         {delivered} deliveries in all, each once, all by B ({} logged); test took {:?}",
        held.len(),
        (lease_until - killed_at_utc).num_milliseconds(),
        (first_sent - lease_until).num_milliseconds(),
        (last_sent - lease_until).num_milliseconds(),
        logged_sends(&b),
        started.elapsed()
    );
}

// ---- 8. a batch that outlasts its lease ---------------------------------------------------------

/// A minimal SMTP server that takes `delay` to accept each message and records the Message-ID
/// of every message it accepted.
struct SlowSmtp {
    port: u16,
    accepted: Arc<std::sync::Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

async fn slow_smtp(delay: Duration) -> SlowSmtp {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = accepted.clone();
    let task = tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 slow.test ESMTP\r\n").await.ok()?;
                while let Some(line) = lines.next_line().await.ok()? {
                    let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "DATA" => {
                            write.write_all(b"354 go ahead\r\n").await.ok()?;
                            let mut id = String::new();
                            while let Some(line) = lines.next_line().await.ok()? {
                                if line == "." {
                                    break;
                                }
                                if let Some(rest) = line
                                    .strip_prefix("Message-ID: <")
                                    .or_else(|| line.strip_prefix("Message-Id: <"))
                                {
                                    id = rest.split('@').next().unwrap_or_default().to_owned();
                                }
                            }
                            tokio::time::sleep(delay).await;
                            log.lock().unwrap().push(id);
                            b"250 accepted\r\n"
                        }
                        "QUIT" => {
                            write.write_all(b"221 bye\r\n").await.ok()?;
                            return Some(());
                        }
                        _ => b"250 ok\r\n",
                    };
                    write.write_all(reply).await.ok()?;
                }
                Some(())
            });
        }
    });
    SlowSmtp {
        port,
        accepted,
        task,
    }
}

/// Both workers send through an SMTP server that takes 250 ms per message, so a batch of 20
/// takes about 5 s: longer than the 2 s lease. The other node may take the rest of the batch
/// once the lease has run out, but no email may reach the server twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_outlasts_its_lease_is_not_sent_twice() {
    let started = Instant::now();
    let smtp = slow_smtp(Duration::from_millis(250)).await;
    let mut env = shared_env().await;
    env.set("mail.lease_secs", LEASE_SECS.to_string())
        .set("mail.transport", "smtp")
        .set("mail.smtp_host", "127.0.0.1")
        .set("mail.smtp_port", smtp.port.to_string());
    let (a, b) = tokio::join!(env.start(), env.start());
    let http = new_client();
    let (_, tenant) = a.create_tenant(&http, " on A").await;
    queue_emails(&env, tenant, "Slow", 20).await;
    let drained = wait_until_all_sent(&env, Duration::from_secs(30)).await;
    // Every row is marked sent, but the node that lost part of its batch may still be sending
    // it: wait until the server has accepted nothing for a second.
    let mut seen = 0;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = smtp.accepted.lock().unwrap().len();
        if now == seen {
            break;
        }
        seen = now;
    }
    smtp.task.abort();
    let accepted = smtp.accepted.lock().unwrap().clone();
    let mut per_id: BTreeMap<&str, usize> = BTreeMap::new();
    for id in &accepted {
        *per_id.entry(id.as_str()).or_insert(0) += 1;
    }
    let twice: Vec<(&&str, &usize)> = per_id.iter().filter(|(_, n)| **n > 1).collect();
    println!(
        "slow SMTP: {} messages accepted for {} outbox rows in {drained:?} (A logged {}, B \
         logged {}); sent more than once: {twice:?}; test took {:?}",
        accepted.len(),
        per_id.len(),
        logged_sends(&a),
        logged_sends(&b),
        started.elapsed()
    );
    assert!(
        twice.is_empty(),
        "emails sent twice when a batch outlasted its lease: {twice:?}"
    );
}
