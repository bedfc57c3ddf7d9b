//! Notes, appointments and tasks: sharing flags, the exact client visibility rule, client
//! contributions, the activity feed with its badge, alerts, the nightly digest and batched
//! client notices.

use reqwest::Method;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::portal::CLIENT_PASSWORD;
use crate::support::{TestApp, expect_problem, fetch_json};

on_both_backends!(
    items_are_visible_to_clients_only_when_shared,
    client_notes_reach_the_firm_with_activity_and_alerts,
    private_appointments_and_sharing_rules,
    digest_once_a_day_and_client_notices_batched,
    activity_page_shows_the_badge_and_saves_preferences,
    a_kept_activity_feed_follows_writes_at_once_and_sign_ins_within_its_bound,
);

const FEEDS_FROM_MEMORY: &str = "portico_activity_feed_reads_total{source=\"memory\"}";
const FEEDS_FROM_DATABASE: &str = "portico_activity_feed_reads_total{source=\"database\"}";

async fn feed(
    app: &TestApp,
    member: &crate::support::firm::FirmSession,
    query: &str,
) -> Vec<Value> {
    let response = app
        .firm_api(member, Method::GET, &format!("/activity{query}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// The feed is answered from memory while the firm is unchanged; a client's note (a write)
/// shows on the very next request, and a client's sign-in (bookkeeping, which leaves the write
/// epoch alone) within `activity_feed::KEPT_FOR` (2 s).
async fn a_kept_activity_feed_follows_writes_at_once_and_sign_ins_within_its_bound(app: TestApp) {
    let (admin, client, _contact, file) = app.firm_with_client().await;
    let first = feed(&app, &admin, "?kind=client_activity").await;
    assert!(first.is_empty(), "no client activity yet: {first:?}");
    let (memory, database) = (
        app.counter(FEEDS_FROM_MEMORY).await,
        app.counter(FEEDS_FROM_DATABASE).await,
    );
    assert_eq!(feed(&app, &admin, "?kind=client_activity").await, first);
    assert_eq!(app.counter(FEEDS_FROM_MEMORY).await, memory + 1);
    assert_eq!(app.counter(FEEDS_FROM_DATABASE).await, database);
    // The navigation's badge on every member page is kept the same way.
    let home = || {
        let request = admin.client.get(app.firm_url(&admin.slug, "/firm"));
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    for _ in 0..2 {
        assert!(
            !home().await.contains("unread-badge"),
            "no client addition yet"
        );
    }

    // A client's note is a write of the firm: the next request reads the feed again.
    let added = app
        .portal_api(&client, Method::POST, &format!("/files/{file}/notes"))
        .json(&json!({"body": "kept feeds follow writes"}))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 201);
    assert!(
        home().await.contains("id=\"unread-badge\">1<"),
        "the kept badge follows the client's note at once"
    );
    let unread: Value = fetch_json(app.firm_api(&admin, Method::GET, "/activity/unread")).await;
    assert_eq!(unread["unread"], 1);
    let after = feed(&app, &admin, "?kind=client_activity").await;
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0]["action"], "note.added");
    assert_eq!(app.counter(FEEDS_FROM_DATABASE).await, database + 1);
    // The page, too: its own key, read once, then the "seen" mark (a write) reads it again.
    let page = |query: &'static str| {
        let request = admin
            .client
            .get(app.firm_url(&admin.slug, &format!("/firm/activity{query}")));
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    let html = page("?kind=client_activity").await;
    assert!(html.contains("kept feeds follow writes") && html.contains("1 new client addition"));
    let html = page("?kind=client_activity").await;
    assert!(html.contains("kept feeds follow writes") && !html.contains("new-count"));
    assert!(
        !home().await.contains("unread-badge"),
        "opening the feed cleared the kept badge"
    );
    let memory = app.counter(FEEDS_FROM_MEMORY).await;
    let _ = page("?kind=client_activity").await;
    assert_eq!(app.counter(FEEDS_FROM_MEMORY).await, memory + 1);

    // Sign-ins leave kept values alone, so one shows once the kept feed has expired.
    let logins = feed(&app, &admin, "?kind=client_logins").await.len();
    let _again = app
        .client_sign_in(&admin.slug, &client.email, CLIENT_PASSWORD)
        .await;
    let deadline = std::time::Instant::now()
        + portico_web::activity_feed::KEPT_FOR
        + std::time::Duration::from_secs(5);
    loop {
        let now = feed(&app, &admin, "?kind=client_logins").await.len();
        if now == logins + 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the sign-in never showed: {now} sign-ins, {logins} before"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

async fn activity_page_shows_the_badge_and_saves_preferences(app: TestApp) {
    let (admin, client, _contact, file) = app.firm_with_client().await;
    app.portal_api(&client, Method::POST, &format!("/files/{file}/notes"))
        .json(&json!({"body": "badge me"}))
        .send()
        .await
        .unwrap();
    let home = admin
        .client
        .get(app.firm_url(&admin.slug, "/firm"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        home.contains("id=\"unread-badge\">1<"),
        "badge on the navigation"
    );
    let page = admin
        .client
        .get(app.firm_url(&admin.slug, "/firm/activity?kind=client_activity&days=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("added a note on 2026-001") && html.contains("1 new client addition"));
    // Opening the page resets the badge.
    let home = admin
        .client
        .get(app.firm_url(&admin.slug, "/firm"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!home.contains("unread-badge"));
    let csrf = {
        let marker = "name=\"csrf\" value=\"";
        let start = html.find(marker).unwrap() + marker.len();
        html[start..]
            .chars()
            .take_while(|c| *c != '"')
            .collect::<String>()
    };
    let saved = admin
        .client
        .post(app.firm_url(&admin.slug, "/firm/activity/preferences"))
        .header("origin", app.portal_url(&admin.slug))
        .form(&[
            ("csrf", csrf.as_str()),
            ("alerts", "assigned"),
            ("nightly_digest", "on"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 303);
    let prefs: Value = app
        .firm_api(&admin, Method::GET, "/me/preferences")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(prefs, json!({"alerts": "assigned", "nightly_digest": true}));
    let forged = admin
        .client
        .post(app.firm_url(&admin.slug, "/firm/activity/preferences"))
        .header("origin", app.portal_url(&admin.slug))
        .form(&[("alerts", "none")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
}

async fn items_are_visible_to_clients_only_when_shared(app: TestApp) {
    let (admin, client, _contact, file) = app.firm_with_client().await;
    let post = |path: String, body: Value| {
        let request = app.firm_api(&admin, Method::POST, &path).json(&body);
        async move { request.send().await.unwrap() }
    };
    let shared_note: Value = post(
        format!("/files/{file}/notes"),
        json!({"body": "Hearing moved to May", "shared": true}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(shared_note["shared"], true);
    assert_eq!(shared_note["created_by"]["kind"], "member");
    let private_note: Value = post(
        format!("/files/{file}/notes"),
        json!({"body": "Internal: weak witness"}),
    )
    .await
    .json()
    .await
    .unwrap();
    let appointment = post(format!("/files/{file}/appointments"), json!({"title": "Court hearing", "starts_at": "2026-12-01T09:00:00Z", "location": "Court 4", "shared": true})).await;
    assert_eq!(appointment.status(), 201);
    let task: Value = post(
        format!("/files/{file}/tasks"),
        json!({"title": "Sign the affidavit", "due_date": "2026-12-10", "shared": true}),
    )
    .await
    .json()
    .await
    .unwrap();
    let bad_task = post(
        format!("/files/{file}/tasks"),
        json!({"title": "x", "due_date": "10/12/2026"}),
    )
    .await;
    assert!(expect_problem(bad_task, 422).await.contains("due_date"));

    // The client sees exactly the shared items.
    let notes: Vec<Value> = app
        .portal_api(&client, Method::GET, &format!("/files/{file}/notes"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["body"], "Hearing moved to May");
    let appointments: Vec<Value> = app
        .portal_api(&client, Method::GET, &format!("/files/{file}/appointments"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(appointments.len(), 1);
    let tasks: Vec<Value> = app
        .portal_api(&client, Method::GET, &format!("/files/{file}/tasks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tasks[0]["title"], "Sign the affidavit");

    // Show in Portal / Remove from Portal.
    let on = app
        .firm_api(
            &admin,
            Method::PUT,
            &format!("/notes/{}/portal", private_note["id"].as_str().unwrap()),
        )
        .json(&json!({"shared": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(on.status(), 200);
    let off = app
        .firm_api(
            &admin,
            Method::PUT,
            &format!("/tasks/{}/portal", task["id"].as_str().unwrap()),
        )
        .json(&json!({"shared": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(off.status(), 200);
    let notes: Vec<Value> = app
        .portal_api(&client, Method::GET, &format!("/files/{file}/notes"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(notes.len(), 2);
    let tasks: Vec<Value> = app
        .portal_api(&client, Method::GET, &format!("/files/{file}/tasks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(tasks.is_empty());

    // The file's shared items list shows what is marked shared.
    let portal: Value = app
        .firm_api(&admin, Method::GET, &format!("/files/{file}/portal"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kinds: Vec<&str> = portal["shared_items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.iter().filter(|k| **k == "note").count(), 2);
    assert!(kinds.contains(&"appointment") && !kinds.contains(&"task"));

    // The visibility matrix: another client of the same firm, a client of another firm, a
    // member without access to the file, anonymous.
    let other_email = format!("other@{}.example", admin.slug);
    let other_contact = app.contact(&admin, "Olga Other", &[&other_email]).await;
    let other_file = app.file(&admin, "2026-009", admin.member_id, &[]).await;
    app.add_client(&admin, other_file, other_contact).await;
    app.allow_portal(&admin, other_contact, &other_email, &[other_file])
        .await;
    let token = app.invitation_token(&admin.slug, &other_email, 0).await;
    app.accept(&admin.slug, &token, CLIENT_PASSWORD).await;
    let other_client = app
        .client_sign_in(&admin.slug, &other_email, CLIENT_PASSWORD)
        .await;
    let missing = app
        .portal_api(
            &client,
            Method::GET,
            &format!("/files/{}/notes", uuid::Uuid::now_v7()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let missing = missing.bytes().await.unwrap();
    for kind in ["notes", "appointments", "tasks"] {
        let response = app
            .portal_api(&other_client, Method::GET, &format!("/files/{file}/{kind}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{kind}");
        assert_eq!(
            response.bytes().await.unwrap(),
            missing,
            "{kind}: identical to a missing id"
        );
    }
    let (_, foreign_client, _, _) = app.firm_with_client().await;
    let cross = app
        .http
        .get(app.firm_url(&admin.slug, &format!("/api/v1/portal/files/{file}/notes")))
        .bearer_auth(&foreign_client.token)
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 401);
    let outsider = app.member(&admin, "Owen Outsider", false, true).await;
    for kind in ["notes", "appointments", "tasks"] {
        let response = app
            .firm_api(&outsider, Method::GET, &format!("/files/{file}/{kind}"))
            .send()
            .await
            .unwrap();
        expect_problem(response, 404).await;
    }
    let anonymous = app
        .http
        .get(app.firm_url(&admin.slug, &format!("/api/v1/portal/files/{file}/notes")))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    // Unsharing the file hides every item, whatever its flag.
    app.firm_api(
        &admin,
        Method::PUT,
        &format!("/files/{file}/portal/clients/{_contact}"),
    )
    .json(&json!({"shared": false}))
    .send()
    .await
    .unwrap();
    expect_problem(
        app.portal_api(&client, Method::GET, &format!("/files/{file}/notes"))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
}

async fn client_notes_reach_the_firm_with_activity_and_alerts(app: TestApp) {
    let (admin, client, _contact, file) = app.firm_with_client().await;
    let assistant = app.member(&admin, "Ava Assistant", false, true).await;
    app.firm_api(&admin, Method::PATCH, &format!("/files/{file}"))
        .json(&json!({"member_ids": [assistant.member_id]}))
        .send()
        .await
        .unwrap();
    // The assistant wants alerts for all assigned files; the admin (responsible) keeps the default.
    let prefs = app
        .firm_api(&assistant, Method::PUT, "/me/preferences")
        .json(&json!({"alerts": "assigned", "nightly_digest": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(prefs.status(), 200);
    let bad = app
        .firm_api(&assistant, Method::PUT, "/me/preferences")
        .json(&json!({"alerts": "everything", "nightly_digest": false}))
        .send()
        .await
        .unwrap();
    expect_problem(bad, 422).await;

    let unread: Value = fetch_json(app.firm_api(&admin, Method::GET, "/activity/unread")).await;
    let before = unread["unread"].as_u64().unwrap();
    let added = app
        .portal_api(&client, Method::POST, &format!("/files/{file}/notes"))
        .json(&json!({"body": "Here is my new address: 1 Main St"}))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 201);
    let added: Value = added.json().await.unwrap();
    assert_eq!(added["shared"], true);
    assert_eq!(added["created_by"]["kind"], "client");
    assert_eq!(added["created_by"]["name"], "Chris Client");

    // Visible at once to members with access, attributed to the client.
    let notes: Vec<Value> = app
        .firm_api(&admin, Method::GET, &format!("/files/{file}/notes"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n["body"] == "Here is my new address: 1 Main St"
                && n["created_by"]["kind"] == "client")
    );
    let client_feed = feed(&app, &admin, "?kind=client_activity&days=1").await;
    assert_eq!(client_feed[0]["action"], "note.added");
    assert_eq!(client_feed[0]["actor"], "Chris Client");
    assert_eq!(client_feed[0]["file_number"], "2026-001");
    let logins = feed(&app, &admin, "?kind=client_logins").await;
    assert!(logins.iter().any(|e| e["actor"] == "Chris Client"));
    let member_feed = feed(&app, &admin, "?kind=member_activity").await;
    assert!(member_feed.iter().any(|e| e["action"] == "portal.invited"));
    let unread: Value = fetch_json(app.firm_api(&admin, Method::GET, "/activity/unread")).await;
    assert_eq!(unread["unread"].as_u64().unwrap(), before + 1);
    app.firm_api(&admin, Method::POST, "/activity/seen")
        .send()
        .await
        .unwrap();
    let unread: Value = fetch_json(app.firm_api(&admin, Method::GET, "/activity/unread")).await;
    assert_eq!(unread["unread"], 0);
    // A member with no file of this client sees none of it.
    let outsider = app.member(&admin, "Otto Outsider", false, false).await;
    let outsiders = feed(&app, &outsider, "").await;
    assert!(outsiders.is_empty(), "{outsiders:?}");
    expect_problem(
        app.firm_api(&outsider, Method::GET, "/activity?kind=bogus")
            .send()
            .await
            .unwrap(),
        422,
    )
    .await;

    // Alerts by preference: the responsible lawyer (default) and the assigned assistant.
    for to in [&admin.email, &assistant.email] {
        let mut found = false;
        for _ in 0..100 {
            if app.sent_files().iter().any(|m| {
                m.contains(&format!("To: {to}")) && m.contains("Chris Client added a note")
            }) {
                found = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(found, "alert to {to}");
    }
    assert!(
        !app.sent_files()
            .iter()
            .any(|m| m.contains(&format!("To: {}", outsider.email)) && m.contains("added a note"))
    );
}

async fn private_appointments_and_sharing_rules(app: TestApp) {
    let (admin, client, _contact, file) = app.firm_with_client().await;
    let colleague = app.member(&admin, "Cole Colleague", false, false).await;
    app.firm_api(&admin, Method::PATCH, &format!("/files/{file}"))
        .json(&json!({"member_ids": [colleague.member_id]}))
        .send()
        .await
        .unwrap();
    let private: Value = app
        .firm_api(&admin, Method::POST, &format!("/files/{file}/appointments"))
        .json(&json!({"title": "Private strategy call", "starts_at": "2026-12-02T10:00:00Z", "private": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let seen_by_admin: Vec<Value> = app
        .firm_api(&admin, Method::GET, &format!("/files/{file}/appointments"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seen_by_admin.len(), 1);
    let seen_by_colleague: Vec<Value> = app
        .firm_api(
            &colleague,
            Method::GET,
            &format!("/files/{file}/appointments"),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        seen_by_colleague.is_empty(),
        "private appointments stay out of non-attendees' lists"
    );
    let refused = app
        .firm_api(
            &admin,
            Method::PUT,
            &format!("/appointments/{}/portal", private["id"].as_str().unwrap()),
        )
        .json(&json!({"shared": true}))
        .send()
        .await
        .unwrap();
    assert!(expect_problem(refused, 422).await.contains("private"));
    // Sharing needs the Portal right.
    let note: Value = app
        .firm_api(&colleague, Method::POST, &format!("/files/{file}/notes"))
        .json(&json!({"body": "draft"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let refused = app
        .firm_api(
            &colleague,
            Method::PUT,
            &format!("/notes/{}/portal", note["id"].as_str().unwrap()),
        )
        .json(&json!({"shared": true}))
        .send()
        .await
        .unwrap();
    assert!(expect_problem(refused, 403).await.contains("not permitted"));
    // A firm that does not share notes: members cannot show them, clients neither see nor add.
    let mut options: Value = app
        .firm_api(&admin, Method::GET, "/options/client-portal")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    options["shareable_kinds"] = json!(["documents", "tasks"]);
    assert_eq!(
        app.firm_api(&admin, Method::PUT, "/options/client-portal")
            .json(&options)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let refused = app
        .firm_api(
            &admin,
            Method::PUT,
            &format!("/notes/{}/portal", note["id"].as_str().unwrap()),
        )
        .json(&json!({"shared": true}))
        .send()
        .await
        .unwrap();
    assert!(
        expect_problem(refused, 403)
            .await
            .contains("does not share notes")
    );
    let refused = app
        .portal_api(&client, Method::POST, &format!("/files/{file}/notes"))
        .json(&json!({"body": "hello"}))
        .send()
        .await
        .unwrap();
    expect_problem(refused, 403).await;
}

async fn digest_once_a_day_and_client_notices_batched(app: TestApp) {
    let backend = app.backend;
    drop(app);
    // Digest hour 0 so the job runs whatever the time of day; a long poll interval so only the
    // test drives the jobs.
    let app = TestApp::spawn_with(
        backend,
        json!({"notifications": {"digest_hour_utc": 0, "poll_interval_secs": 3600}}),
    )
    .await;
    let (admin, client, _contact, file) = app.firm_with_client().await;
    app.firm_api(&admin, Method::PUT, "/me/preferences")
        .json(&json!({"alerts": "none", "nightly_digest": true}))
        .send()
        .await
        .unwrap();
    app.portal_api(&client, Method::POST, &format!("/files/{file}/notes"))
        .json(&json!({"body": "for the digest"}))
        .send()
        .await
        .unwrap();
    let (_, digests) = portico_web::notify::run_once(&app.state).await.unwrap();
    assert_eq!(digests, 1);
    let (_, digests) = portico_web::notify::run_once(&app.state).await.unwrap();
    assert_eq!(digests, 0, "one digest per member per day");
    let runs = app
        .count(
            "SELECT COUNT(*) AS n FROM digest_run WHERE tenant_id = $1",
            vec![admin.tenant_id.into()],
        )
        .await;
    assert_eq!(runs, 1);
    let mut digest = None;
    for _ in 0..100 {
        digest = app.sent_files().into_iter().find(|m| {
            m.contains(&format!("To: {}", admin.email)) && m.contains("files your clients changed")
        });
        if digest.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(digest.expect("digest email").contains("2026-001"));

    // Client notices: on, three shares in a row → one email listing them.
    let mut options: Value = app
        .firm_api(&admin, Method::GET, "/options/client-portal")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    options["notify_client_on_share"] = json!(true);
    app.firm_api(&admin, Method::PUT, "/options/client-portal")
        .json(&options)
        .send()
        .await
        .unwrap();
    for body in ["one", "two", "three"] {
        app.firm_api(&admin, Method::POST, &format!("/files/{file}/notes"))
            .json(&json!({"body": body, "shared": true}))
            .send()
            .await
            .unwrap();
    }
    let (notices, _) = portico_web::notify::run_once(&app.state).await.unwrap();
    assert_eq!(notices, 1);
    app.firm_api(&admin, Method::POST, &format!("/files/{file}/tasks"))
        .json(&json!({"title": "four", "shared": true}))
        .send()
        .await
        .unwrap();
    let (notices, _) = portico_web::notify::run_once(&app.state).await.unwrap();
    assert_eq!(notices, 0, "at most one email per client per 10 minutes");
    // Ten minutes later the waiting notice goes out.
    let db = app.owner_db().await;
    use sea_orm::ConnectionTrait;
    db.execute_raw(sea_orm::Statement::from_sql_and_values(
        db.get_database_backend(),
        app.sql(
            "UPDATE client_notice SET sent_at = $1 WHERE tenant_id = $2 AND sent_at IS NOT NULL",
        ),
        [
            (chrono::Utc::now() - chrono::Duration::minutes(11)).into(),
            admin.tenant_id.into(),
        ],
    ))
    .await
    .unwrap();
    let (notices, _) = portico_web::notify::run_once(&app.state).await.unwrap();
    assert_eq!(notices, 1);
    let mut mails = Vec::new();
    for _ in 0..100 {
        mails = app
            .sent_files()
            .into_iter()
            .filter(|m| m.contains(&format!("To: {}", client.email)) && m.contains("New in your"))
            .collect();
        if mails.len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(mails.len(), 2);
    assert!(
        mails
            .iter()
            .any(|m| m.matches("a note was shared with you").count() == 3)
    );
    assert!(
        mails
            .iter()
            .any(|m| m.contains("a task was shared with you"))
    );
}
