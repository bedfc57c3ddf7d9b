//! Contacts, files and the people on them, through the API and the pages, under the file-access
//! rule: a member reaches only files where they are the responsible lawyer or an assigned member
//! (administrators: all), and everything else answers exactly like an id that never existed.

use reqwest::Method;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::firm::FirmSession;
use crate::support::{TestApp, expect_problem};

on_both_backends!(
    contacts_are_added_listed_and_edited,
    files_need_a_unique_number_and_a_member_as_responsible_lawyer,
    the_primary_client_is_always_one_at_most,
    members_reach_only_the_files_they_can_access,
    another_firms_contacts_and_files_are_not_found,
    contact_and_file_pages_work_through_forms,
);

async fn send(
    app: &TestApp,
    s: &FirmSession,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let request = app.firm_api(s, method, path);
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    request.send().await.unwrap()
}

/// Asserts the status and returns the JSON body.
async fn ok(response: reqwest::Response, status: u16) -> Value {
    let url = response.url().to_string();
    let got = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(got.as_u16(), status, "{url}: {text}");
    serde_json::from_str(&text).unwrap()
}

/// Status, content type and the exact body bytes: what a caller can tell two answers apart by.
async fn fingerprint(response: reqwest::Response) -> (u16, String, Vec<u8>) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (
        status,
        content_type,
        response.bytes().await.unwrap().to_vec(),
    )
}

async fn new_contact(app: &TestApp, s: &FirmSession, name: &str, emails: &[&str]) -> Value {
    ok(
        send(
            app,
            s,
            Method::POST,
            "/contacts",
            Some(json!({"name": name, "emails": emails})),
        )
        .await,
        201,
    )
    .await
}

async fn new_file(
    app: &TestApp,
    s: &FirmSession,
    number: &str,
    lawyer: uuid::Uuid,
    members: &[uuid::Uuid],
) -> Value {
    let body = json!({"number": number, "name": format!("Matter {number}"), "file_type": "Litigation",
                      "status": "open", "responsible_lawyer_id": lawyer, "member_ids": members});
    ok(send(app, s, Method::POST, "/files", Some(body)).await, 201).await
}

fn id(value: &Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array().unwrap().iter().map(id).collect()
}

async fn audit_count(app: &TestApp, s: &FirmSession, action: &str) -> i64 {
    app.count(
        "SELECT COUNT(*) AS n FROM audit_log WHERE tenant_id = $1 AND action = $2",
        vec![s.tenant_id.into(), action.into()],
    )
    .await
}

async fn primaries(app: &TestApp, s: &FirmSession, file: &str) -> i64 {
    let file = uuid::Uuid::parse_str(file).unwrap();
    app.count(
        "SELECT COUNT(*) AS n FROM matter_person WHERE tenant_id = $1 AND matter_id = $2 AND is_primary",
        vec![s.tenant_id.into(), file.into()],
    )
    .await
}

async fn contacts_are_added_listed_and_edited(app: TestApp) {
    let admin = app.firm_with_admin().await;
    let clerk = app.member(&admin, "Carl Clerk", false, false).await;

    // Several addresses; a repeat in other letter case is dropped, blanks are ignored.
    let ana = new_contact(
        &app,
        &clerk,
        "  Ana Client ",
        &[
            "ana@home.example",
            " ",
            "ANA@home.example",
            "ana@work.example",
        ],
    )
    .await;
    assert_eq!(ana["name"], "Ana Client");
    assert_eq!(
        ana["emails"],
        json!(["ana@home.example", "ana@work.example"])
    );
    assert_eq!(ana["files"], json!([]));
    let acme = new_contact(&app, &admin, "Acme Holdings", &[]).await;
    assert_eq!(acme["emails"], json!([]));

    // Every member of the firm sees every contact, by name.
    let list = ok(
        send(&app, &clerk, Method::GET, "/contacts", None).await,
        200,
    )
    .await;
    assert_eq!(ids(&list), vec![id(&acme), id(&ana)]);
    let found = ok(
        send(&app, &admin, Method::GET, "/contacts?q=ANA", None).await,
        200,
    )
    .await;
    assert_eq!(ids(&found), vec![id(&ana)]);
    let wildcard = ok(
        send(&app, &admin, Method::GET, "/contacts?q=%25", None).await,
        200,
    )
    .await;
    assert_eq!(
        ids(&wildcard),
        Vec::<String>::new(),
        "`%` is taken literally"
    );
    // Portal Users: only contacts with Portal access, and nobody has been given any.
    let portal = ok(
        send(&app, &admin, Method::GET, "/contacts?portal=users", None).await,
        200,
    )
    .await;
    assert_eq!(portal, json!([]));
    let ignored = ok(
        send(&app, &admin, Method::GET, "/contacts?portal=whatever", None).await,
        200,
    )
    .await;
    assert_eq!(ids(&ignored).len(), 2);

    let shown = ok(
        send(
            &app,
            &admin,
            Method::GET,
            &format!("/contacts/{}", id(&ana)),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(shown["emails"], ana["emails"]);

    // Edit the name and replace the addresses; then remove every address.
    let path = format!("/contacts/{}", id(&ana));
    let edited = ok(
        send(&app, &clerk, Method::PATCH, &path, Some(json!({"name": "Ana B. Client", "emails": ["ana@new.example", "Ana@New.Example", "b@x.example"]}))).await,
        200,
    )
    .await;
    assert_eq!(edited["name"], "Ana B. Client");
    assert_eq!(edited["emails"], json!(["ana@new.example", "b@x.example"]));
    let only_name = ok(
        send(
            &app,
            &clerk,
            Method::PATCH,
            &path,
            Some(json!({"name": "Ana Client"})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        only_name["emails"],
        json!(["ana@new.example", "b@x.example"]),
        "absent emails stay"
    );
    let none = ok(
        send(
            &app,
            &clerk,
            Method::PATCH,
            &path,
            Some(json!({"emails": []})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(none["emails"], json!([]));

    // Validation: 422 with the reason, and nothing changes.
    let bad = send(
        &app,
        &admin,
        Method::POST,
        "/contacts",
        Some(json!({"name": "Bad", "emails": ["ok@x.example", "not-an-email"]})),
    )
    .await;
    assert!(expect_problem(bad, 422).await.contains("not-an-email"));
    let bad = send(
        &app,
        &admin,
        Method::PATCH,
        &path,
        Some(json!({"emails": ["a@b"]})),
    )
    .await;
    assert!(
        expect_problem(bad, 422)
            .await
            .contains("not a valid email address")
    );
    let nameless = send(
        &app,
        &admin,
        Method::POST,
        "/contacts",
        Some(json!({"name": "   "})),
    )
    .await;
    assert!(
        expect_problem(nameless, 422)
            .await
            .contains("name is required")
    );
    let long = send(
        &app,
        &admin,
        Method::POST,
        "/contacts",
        Some(json!({"name": "x".repeat(201)})),
    )
    .await;
    expect_problem(long, 422).await;
    let many: Vec<String> = (0..21).map(|i| format!("a{i}@x.example")).collect();
    let too_many = send(
        &app,
        &admin,
        Method::POST,
        "/contacts",
        Some(json!({"name": "Many", "emails": many})),
    )
    .await;
    assert!(expect_problem(too_many, 422).await.contains("at most 20"));
    assert_eq!(
        app.count(
            "SELECT COUNT(*) AS n FROM contact WHERE tenant_id = $1",
            vec![admin.tenant_id.into()]
        )
        .await,
        2
    );

    // Unknown and malformed ids.
    let missing = send(
        &app,
        &admin,
        Method::GET,
        &format!("/contacts/{}", uuid::Uuid::now_v7()),
        None,
    )
    .await;
    expect_problem(missing, 404).await;
    let malformed = send(
        &app,
        &admin,
        Method::PATCH,
        "/contacts/not-a-uuid",
        Some(json!({"name": "x"})),
    )
    .await;
    expect_problem(malformed, 404).await;

    // A cookie-authenticated change without the CSRF header is refused.
    let no_csrf = clerk
        .client
        .post(app.firm_url(&clerk.slug, "/api/v1/firm/contacts"))
        .json(&json!({"name": "Sneaky"}))
        .send()
        .await
        .unwrap();
    expect_problem(no_csrf, 403).await;

    assert_eq!(audit_count(&app, &admin, "contact.created").await, 2);
    assert_eq!(audit_count(&app, &admin, "contact.updated").await, 3);
}

async fn files_need_a_unique_number_and_a_member_as_responsible_lawyer(app: TestApp) {
    let admin = app.firm_with_admin().await;
    let lawyer = app.member(&admin, "Laura Lawyer", false, true).await;
    let clerk = app.member(&admin, "Carl Clerk", false, false).await;
    let other_firm = app.firm_with_admin().await;

    let file = new_file(
        &app,
        &admin,
        "2025-001",
        lawyer.member_id,
        &[clerk.member_id, clerk.member_id],
    )
    .await;
    assert_eq!(file["number"], "2025-001");
    assert_eq!(file["status"], "open");
    assert_eq!(file["file_type"], "Litigation");
    assert_eq!(file["responsible_lawyer_id"], lawyer.member_id.to_string());
    assert_eq!(file["member_ids"], json!([clerk.member_id]));
    assert_eq!(file["people"], json!([]));

    // The number is unique within the firm.
    let body =
        json!({"number": "2025-001", "name": "Again", "responsible_lawyer_id": lawyer.member_id});
    let duplicate = send(&app, &admin, Method::POST, "/files", Some(body.clone())).await;
    assert_eq!(
        expect_problem(duplicate, 409).await,
        "file number 2025-001 is already used"
    );
    // ... but another firm may use it.
    let mut elsewhere = body.clone();
    elsewhere["responsible_lawyer_id"] = json!(other_firm.member_id);
    ok(
        send(&app, &other_firm, Method::POST, "/files", Some(elsewhere)).await,
        201,
    )
    .await;

    // The responsible lawyer must be an active member of this firm.
    for (lawyer_id, why) in [
        (uuid::Uuid::now_v7(), "unknown"),
        (other_firm.member_id, "another firm's member"),
    ] {
        let body =
            json!({"number": format!("X-{why}"), "name": "X", "responsible_lawyer_id": lawyer_id});
        let refused = send(&app, &admin, Method::POST, "/files", Some(body)).await;
        assert!(
            expect_problem(refused, 422)
                .await
                .contains("responsible lawyer"),
            "{why}"
        );
    }
    let gone = app.member(&admin, "Gone Member", false, false).await;
    ok(
        send(
            &app,
            &admin,
            Method::PATCH,
            &format!("/members/{}", gone.member_id),
            Some(json!({"active": false})),
        )
        .await,
        200,
    )
    .await;
    let refused = send(
        &app,
        &admin,
        Method::POST,
        "/files",
        Some(json!({"number": "X-1", "name": "X", "responsible_lawyer_id": gone.member_id})),
    )
    .await;
    assert!(expect_problem(refused, 422).await.contains("active member"));
    // Assigned members must be members of this firm too.
    let refused = send(
        &app,
        &admin,
        Method::POST,
        "/files",
        Some(json!({"number": "X-2", "name": "X", "responsible_lawyer_id": lawyer.member_id, "member_ids": [other_firm.member_id]})),
    )
    .await;
    assert!(expect_problem(refused, 422).await.contains("member_ids"));
    let refused = send(&app, &admin, Method::POST, "/files", Some(json!({"number": "X-3", "name": "X", "status": "archived", "responsible_lawyer_id": lawyer.member_id}))).await;
    assert!(expect_problem(refused, 422).await.contains("open"));
    let refused = send(
        &app,
        &admin,
        Method::POST,
        "/files",
        Some(json!({"number": " ", "name": "X", "responsible_lawyer_id": lawyer.member_id})),
    )
    .await;
    assert!(
        expect_problem(refused, 422)
            .await
            .contains("number is required")
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) AS n FROM matter WHERE tenant_id = $1",
            vec![admin.tenant_id.into()]
        )
        .await,
        1,
        "refused files leave no row"
    );

    // PATCH: same rules; renumbering onto a used number is a conflict.
    let second = new_file(&app, &admin, "2025-002", admin.member_id, &[]).await;
    let path = format!("/files/{}", id(&second));
    let clash = send(
        &app,
        &admin,
        Method::PATCH,
        &path,
        Some(json!({"number": "2025-001"})),
    )
    .await;
    assert_eq!(
        expect_problem(clash, 409).await,
        "file number 2025-001 is already used"
    );
    let refused = send(
        &app,
        &admin,
        Method::PATCH,
        &path,
        Some(json!({"responsible_lawyer_id": gone.member_id})),
    )
    .await;
    expect_problem(refused, 422).await;
    let closed = ok(
        send(
            &app,
            &admin,
            Method::PATCH,
            &path,
            Some(json!({"status": "closed", "name": "Renamed", "file_type": ""})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        (
            closed["status"].as_str(),
            closed["name"].as_str(),
            closed["file_type"].as_str()
        ),
        (Some("closed"), Some("Renamed"), Some(""))
    );
    let open = ok(
        send(&app, &admin, Method::GET, "/files?status=open", None).await,
        200,
    )
    .await;
    assert_eq!(ids(&open), vec![id(&file)]);
    let searched = ok(
        send(&app, &admin, Method::GET, "/files?q=renamed", None).await,
        200,
    )
    .await;
    assert_eq!(ids(&searched), vec![id(&second)]);

    // A member may not hand access out; the responsible lawyer and administrators may.
    let first_path = format!("/files/{}", id(&file));
    let refused = send(
        &app,
        &clerk,
        Method::PATCH,
        &first_path,
        Some(json!({"member_ids": []})),
    )
    .await;
    assert!(
        expect_problem(refused, 403)
            .await
            .contains("responsible lawyer")
    );
    let refused = send(
        &app,
        &clerk,
        Method::PATCH,
        &first_path,
        Some(json!({"responsible_lawyer_id": clerk.member_id})),
    )
    .await;
    expect_problem(refused, 403).await;
    let same = send(&app, &clerk, Method::PATCH, &first_path, Some(json!({"name": "Kept", "member_ids": [clerk.member_id], "responsible_lawyer_id": lawyer.member_id}))).await;
    assert_eq!(
        ok(same, 200).await["name"],
        "Kept",
        "re-sending the current access is not a change"
    );
    let by_lawyer = send(
        &app,
        &lawyer,
        Method::PATCH,
        &first_path,
        Some(json!({"member_ids": [clerk.member_id, admin.member_id]})),
    )
    .await;
    let mut assigned: Vec<String> = ok(by_lawyer, 200).await["member_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assigned.sort();
    let mut expected = vec![clerk.member_id.to_string(), admin.member_id.to_string()];
    expected.sort();
    assert_eq!(assigned, expected);

    assert_eq!(audit_count(&app, &admin, "file.created").await, 2);
    // Closing/renaming, the clerk's rename and the lawyer's assignment.
    assert_eq!(audit_count(&app, &admin, "file.updated").await, 3);
}

async fn the_primary_client_is_always_one_at_most(app: TestApp) {
    let admin = app.firm_with_admin().await;
    let file = new_file(&app, &admin, "P-1", admin.member_id, &[]).await;
    let ana = new_contact(&app, &admin, "Ana", &["ana@x.example"]).await;
    let bob = new_contact(&app, &admin, "Bob", &[]).await;
    let cy = new_contact(&app, &admin, "Cy", &[]).await;
    let people = format!("/files/{}/people", id(&file));

    // The first client becomes primary by itself.
    let added = ok(
        send(
            &app,
            &admin,
            Method::POST,
            &people,
            Some(json!({"contact_id": id(&ana), "role": "client"})),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(
        (
            added["name"].as_str(),
            added["role"].as_str(),
            added["primary"].as_bool()
        ),
        (Some("Ana"), Some("client"), Some(true))
    );
    let added = ok(
        send(
            &app,
            &admin,
            Method::POST,
            &people,
            Some(json!({"contact_id": id(&bob)})),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(added["primary"], false);
    assert_eq!(primaries(&app, &admin, &id(&file)).await, 1);

    // Naming Bob primary moves it: exactly one primary, in the view and in the database.
    let moved = ok(
        send(
            &app,
            &admin,
            Method::POST,
            &people,
            Some(json!({"contact_id": id(&bob), "primary": true})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(moved["primary"], true);
    let view = ok(
        send(
            &app,
            &admin,
            Method::GET,
            &format!("/files/{}", id(&file)),
            None,
        )
        .await,
        200,
    )
    .await;
    let flags: Vec<(String, bool)> = view["people"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["primary"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        flags,
        vec![("Bob".to_owned(), true), ("Ana".to_owned(), false)],
        "primary first"
    );
    assert_eq!(primaries(&app, &admin, &id(&file)).await, 1);

    // A new client added as primary takes it over in the same step.
    let added = ok(
        send(
            &app,
            &admin,
            Method::POST,
            &people,
            Some(json!({"contact_id": id(&cy), "primary": true})),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(added["primary"], true);
    assert_eq!(primaries(&app, &admin, &id(&file)).await, 1);
    let cy_view = ok(
        send(
            &app,
            &admin,
            Method::GET,
            &format!("/contacts/{}", id(&cy)),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        cy_view["files"],
        json!([{"id": id(&file), "number": "P-1", "name": "Matter P-1", "status": "open", "role": "client", "primary": true}])
    );
    // Adding someone already there without `primary` changes nothing.
    let again = ok(
        send(
            &app,
            &admin,
            Method::POST,
            &people,
            Some(json!({"contact_id": id(&ana)})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(again["primary"], false);

    // Removing the primary client leaves the file without one; a second removal is a 404.
    let removed = send(
        &app,
        &admin,
        Method::DELETE,
        &format!("{people}/{}", id(&cy)),
        None,
    )
    .await;
    assert_eq!(removed.status(), 204);
    assert_eq!(primaries(&app, &admin, &id(&file)).await, 0);
    let listed = ok(send(&app, &admin, Method::GET, &people, None).await, 200).await;
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["primary"] == false)
    );
    let again = send(
        &app,
        &admin,
        Method::DELETE,
        &format!("{people}/{}", id(&cy)),
        None,
    )
    .await;
    expect_problem(again, 404).await;
    let malformed = send(
        &app,
        &admin,
        Method::DELETE,
        &format!("{people}/nope"),
        None,
    )
    .await;
    expect_problem(malformed, 404).await;
    // A later client is not made primary behind the members' back.
    let dee = new_contact(&app, &admin, "Dee", &[]).await;
    let added = ok(
        send(
            &app,
            &admin,
            Method::POST,
            &people,
            Some(json!({"contact_id": id(&dee)})),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(added["primary"], false);
    assert_eq!(primaries(&app, &admin, &id(&file)).await, 0);

    // Only contacts of this firm, only the client role.
    let unknown = send(
        &app,
        &admin,
        Method::POST,
        &people,
        Some(json!({"contact_id": uuid::Uuid::now_v7()})),
    )
    .await;
    assert!(expect_problem(unknown, 422).await.contains("contact"));
    let role = send(
        &app,
        &admin,
        Method::POST,
        &people,
        Some(json!({"contact_id": id(&ana), "role": "opposing"})),
    )
    .await;
    assert!(expect_problem(role, 422).await.contains("client"));

    assert_eq!(audit_count(&app, &admin, "file.person_added").await, 4);
    assert_eq!(audit_count(&app, &admin, "file.person_removed").await, 1);
    assert_eq!(
        audit_count(&app, &admin, "file.updated").await,
        1,
        "Bob made primary"
    );
}

async fn members_reach_only_the_files_they_can_access(app: TestApp) {
    let admin = app.firm_with_admin().await;
    let lawyer = app.member(&admin, "Laura Lawyer", false, true).await;
    let outsider = app.member(&admin, "Olga Outsider", false, true).await;
    let second_admin = app.member(&admin, "Sam Second", true, false).await;

    let file = new_file(&app, &admin, "A-1", lawyer.member_id, &[]).await;
    let visible_to_all = new_file(&app, &admin, "A-2", outsider.member_id, &[]).await;
    let client = new_contact(&app, &admin, "Kim Client", &["kim@x.example"]).await;
    ok(
        send(
            &app,
            &admin,
            Method::POST,
            &format!("/files/{}/people", id(&file)),
            Some(json!({"contact_id": id(&client)})),
        )
        .await,
        201,
    )
    .await;
    ok(
        send(
            &app,
            &admin,
            Method::POST,
            &format!("/files/{}/people", id(&visible_to_all)),
            Some(json!({"contact_id": id(&client)})),
        )
        .await,
        201,
    )
    .await;

    // The outsider is neither assigned nor responsible: every route answers exactly like an id
    // that never existed.
    let never = uuid::Uuid::now_v7();
    let probes: Vec<(Method, String, String, Option<Value>)> = vec![
        (
            Method::GET,
            format!("/files/{}", id(&file)),
            format!("/files/{never}"),
            None,
        ),
        (
            Method::PATCH,
            format!("/files/{}", id(&file)),
            format!("/files/{never}"),
            Some(json!({"name": "Mine now"})),
        ),
        (
            Method::GET,
            format!("/files/{}/people", id(&file)),
            format!("/files/{never}/people"),
            None,
        ),
        (
            Method::POST,
            format!("/files/{}/people", id(&file)),
            format!("/files/{never}/people"),
            Some(json!({"contact_id": id(&client), "primary": true})),
        ),
        (
            Method::DELETE,
            format!("/files/{}/people/{}", id(&file), id(&client)),
            format!("/files/{never}/people/{}", id(&client)),
            None,
        ),
    ];
    for (method, hidden, missing, body) in &probes {
        let hidden_answer =
            fingerprint(send(&app, &outsider, method.clone(), hidden, body.clone()).await).await;
        let missing_answer =
            fingerprint(send(&app, &outsider, method.clone(), missing, body.clone()).await).await;
        assert_eq!(hidden_answer.0, 404, "{method} {hidden}");
        assert_eq!(
            hidden_answer, missing_answer,
            "{method} {hidden} tells itself apart from a missing id"
        );
    }
    let list = ok(
        send(&app, &outsider, Method::GET, "/files", None).await,
        200,
    )
    .await;
    assert_eq!(ids(&list), vec![id(&visible_to_all)]);
    let seen = ok(
        send(
            &app,
            &outsider,
            Method::GET,
            &format!("/contacts/{}", id(&client)),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        ids(&seen["files"]),
        vec![id(&visible_to_all)],
        "the contact's files omit the hidden one"
    );
    let contacts = ok(
        send(&app, &outsider, Method::GET, "/contacts", None).await,
        200,
    )
    .await;
    assert_eq!(ids(&contacts[0]["files"]), vec![id(&visible_to_all)]);
    // Nothing the outsider tried changed the file.
    let untouched = ok(
        send(
            &app,
            &admin,
            Method::GET,
            &format!("/files/{}", id(&file)),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(untouched["name"], "Matter A-1");
    assert_eq!(untouched["people"].as_array().unwrap().len(), 1);

    // The responsible lawyer sees it; administrators see everything.
    let lawyers_view = ok(
        send(
            &app,
            &lawyer,
            Method::GET,
            &format!("/files/{}", id(&file)),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(lawyers_view["number"], "A-1");
    assert_eq!(
        ids(&ok(send(&app, &lawyer, Method::GET, "/files", None).await, 200).await),
        vec![id(&file)]
    );
    for viewer in [&admin, &second_admin] {
        let all = ok(send(&app, viewer, Method::GET, "/files", None).await, 200).await;
        assert_eq!(ids(&all), vec![id(&file), id(&visible_to_all)]);
        let contact = ok(
            send(
                &app,
                viewer,
                Method::GET,
                &format!("/contacts/{}", id(&client)),
                None,
            )
            .await,
            200,
        )
        .await;
        assert_eq!(contact["files"].as_array().unwrap().len(), 2);
    }

    // Once assigned (by the responsible lawyer), the outsider sees it and may work on it.
    ok(
        send(
            &app,
            &lawyer,
            Method::PATCH,
            &format!("/files/{}", id(&file)),
            Some(json!({"member_ids": [outsider.member_id]})),
        )
        .await,
        200,
    )
    .await;
    let now_seen = ok(
        send(
            &app,
            &outsider,
            Method::GET,
            &format!("/files/{}", id(&file)),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(now_seen["member_ids"], json!([outsider.member_id]));
    assert_eq!(
        ok(
            send(&app, &outsider, Method::GET, "/files", None).await,
            200
        )
        .await
        .as_array()
        .unwrap()
        .len(),
        2
    );
    let seen = ok(
        send(
            &app,
            &outsider,
            Method::GET,
            &format!("/contacts/{}", id(&client)),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(seen["files"].as_array().unwrap().len(), 2);
    let renamed = send(
        &app,
        &outsider,
        Method::PATCH,
        &format!("/files/{}", id(&file)),
        Some(json!({"name": "Worked on"})),
    )
    .await;
    assert_eq!(ok(renamed, 200).await["name"], "Worked on");

    // Unassigned again by an administrator: gone again.
    ok(
        send(
            &app,
            &second_admin,
            Method::PATCH,
            &format!("/files/{}", id(&file)),
            Some(json!({"member_ids": []})),
        )
        .await,
        200,
    )
    .await;
    let hidden = send(
        &app,
        &outsider,
        Method::GET,
        &format!("/files/{}", id(&file)),
        None,
    )
    .await;
    expect_problem(hidden, 404).await;

    // A member who opens a file for another lawyer is assigned to it, so it stays visible.
    let opened = new_file(&app, &outsider, "A-3", lawyer.member_id, &[]).await;
    assert_eq!(opened["member_ids"], json!([outsider.member_id]));
    ok(
        send(
            &app,
            &outsider,
            Method::GET,
            &format!("/files/{}", id(&opened)),
            None,
        )
        .await,
        200,
    )
    .await;
}

async fn another_firms_contacts_and_files_are_not_found(app: TestApp) {
    let firm_a = app.firm_with_admin().await;
    let firm_b = app.firm_with_admin().await;
    let contact = new_contact(&app, &firm_a, "Private Person", &["p@a.example"]).await;
    let file = new_file(&app, &firm_a, "SECRET-1", firm_a.member_id, &[]).await;
    ok(
        send(
            &app,
            &firm_a,
            Method::POST,
            &format!("/files/{}/people", id(&file)),
            Some(json!({"contact_id": id(&contact)})),
        )
        .await,
        201,
    )
    .await;
    let b_contact = new_contact(&app, &firm_b, "B Person", &[]).await;
    let b_file = new_file(&app, &firm_b, "B-1", firm_b.member_id, &[]).await;

    let never = uuid::Uuid::now_v7();
    let probes: Vec<(Method, String, String, Option<Value>)> = vec![
        (
            Method::GET,
            format!("/contacts/{}", id(&contact)),
            format!("/contacts/{never}"),
            None,
        ),
        (
            Method::PATCH,
            format!("/contacts/{}", id(&contact)),
            format!("/contacts/{never}"),
            Some(json!({"name": "Stolen"})),
        ),
        (
            Method::GET,
            format!("/files/{}", id(&file)),
            format!("/files/{never}"),
            None,
        ),
        (
            Method::PATCH,
            format!("/files/{}", id(&file)),
            format!("/files/{never}"),
            Some(json!({"name": "Stolen"})),
        ),
        (
            Method::GET,
            format!("/files/{}/people", id(&file)),
            format!("/files/{never}/people"),
            None,
        ),
        (
            Method::POST,
            format!("/files/{}/people", id(&file)),
            format!("/files/{never}/people"),
            Some(json!({"contact_id": id(&b_contact)})),
        ),
        (
            Method::DELETE,
            format!("/files/{}/people/{}", id(&file), id(&contact)),
            format!("/files/{never}/people/{}", id(&contact)),
            None,
        ),
    ];
    for (method, theirs, missing, body) in &probes {
        let answer =
            fingerprint(send(&app, &firm_b, method.clone(), theirs, body.clone()).await).await;
        assert_eq!(answer.0, 404, "{method} {theirs}");
        assert_eq!(
            answer,
            fingerprint(send(&app, &firm_b, method.clone(), missing, body.clone()).await).await
        );
    }
    // Firm B's lists hold nothing of firm A; A's contact cannot be put on B's file, nor A's
    // member made B's responsible lawyer.
    assert_eq!(
        ids(&ok(
            send(&app, &firm_b, Method::GET, "/contacts", None).await,
            200
        )
        .await),
        vec![id(&b_contact)]
    );
    assert_eq!(
        ids(&ok(send(&app, &firm_b, Method::GET, "/files", None).await, 200).await),
        vec![id(&b_file)]
    );
    let foreign = send(
        &app,
        &firm_b,
        Method::POST,
        &format!("/files/{}/people", id(&b_file)),
        Some(json!({"contact_id": id(&contact)})),
    )
    .await;
    expect_problem(foreign, 422).await;
    let foreign = send(
        &app,
        &firm_b,
        Method::PATCH,
        &format!("/files/{}", id(&b_file)),
        Some(json!({"responsible_lawyer_id": firm_a.member_id})),
    )
    .await;
    expect_problem(foreign, 422).await;
    // Firm A's rows are as they were.
    let mine = ok(
        send(
            &app,
            &firm_a,
            Method::GET,
            &format!("/files/{}", id(&file)),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(mine["name"], "Matter SECRET-1");
    assert_eq!(mine["people"].as_array().unwrap().len(), 1);
    let page = firm_b
        .client
        .get(app.firm_url(&firm_b.slug, &format!("/firm/files/{}", id(&file))))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 404);
    let page = firm_b
        .client
        .get(app.firm_url(&firm_b.slug, &format!("/firm/contacts/{}", id(&contact))))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 404);
}

/// A same-origin form post with the session cookie.
fn form_post(app: &TestApp, s: &FirmSession, path: &str) -> reqwest::RequestBuilder {
    s.client
        .post(app.firm_url(&s.slug, path))
        .header("origin", app.portal_url(&s.slug))
}

async fn page(app: &TestApp, s: &FirmSession, path: &str) -> (u16, String) {
    let response = s
        .client
        .get(app.firm_url(&s.slug, path))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

async fn contact_and_file_pages_work_through_forms(app: TestApp) {
    let admin = app.firm_with_admin().await;
    let lawyer = app.member(&admin, "Laura Lawyer", false, true).await;
    let outsider = app.member(&admin, "Olga Outsider", false, false).await;

    // Contacts: the list page and the "Add a contact" form.
    let (status, html) = page(&app, &admin, "/firm/contacts").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Add a contact")
            && html.contains(&format!("name=\"csrf\" value=\"{}\"", admin.csrf))
    );
    let created = form_post(&app, &admin, "/firm/contacts")
        .form(&[
            ("csrf", admin.csrf.as_str()),
            ("name", "Dana <Doe>"),
            (
                "emails",
                "dana@x.example\ndana@work.example, DANA@x.example",
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 303);
    let contact_page = location(&created);
    assert!(
        contact_page.starts_with("/firm/contacts/")
            && contact_page.ends_with("?done=contact-created"),
        "{contact_page}"
    );
    let contact_id = contact_page
        .trim_start_matches("/firm/contacts/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let (status, html) = page(&app, &admin, &contact_page).await;
    assert_eq!(status, 200);
    assert!(html.contains("Contact added."));
    assert!(
        html.contains("Dana &lt;Doe&gt;") && !html.contains("Dana <Doe>"),
        "names are escaped"
    );
    assert!(html.contains("dana@x.example\ndana@work.example"));
    let stored = ok(
        send(
            &app,
            &admin,
            Method::GET,
            &format!("/contacts/{contact_id}"),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        stored["emails"],
        json!(["dana@x.example", "dana@work.example"])
    );

    // A refused form keeps what was typed and says why; a form without the CSRF field is refused.
    let refused = form_post(&app, &admin, "/firm/contacts")
        .form(&[
            ("csrf", admin.csrf.as_str()),
            ("name", "Typed Name"),
            ("emails", "typed@x.example, broken@"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    let html = refused.text().await.unwrap();
    assert!(
        html.contains("`broken@` is not a valid email address")
            && html.contains("value=\"Typed Name\"")
    );
    assert!(html.contains("typed@x.example, broken@"));
    let forged = form_post(&app, &admin, "/firm/contacts")
        .form(&[("name", "No Token")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let forged = form_post(&app, &admin, &format!("/firm/contacts/{contact_id}"))
        .form(&[("csrf", "wrong"), ("name", "No Token")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let edited = form_post(&app, &admin, &format!("/firm/contacts/{contact_id}"))
        .form(&[
            ("csrf", admin.csrf.as_str()),
            ("name", "Dana Doe"),
            ("emails", "dana@x.example"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(edited.status(), 303);
    assert_eq!(
        location(&edited),
        format!("/firm/contacts/{contact_id}?done=saved")
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) AS n FROM contact WHERE tenant_id = $1",
            vec![admin.tenant_id.into()]
        )
        .await,
        1,
        "refused and forged forms stored nothing"
    );

    // Files: "Open a file" with the responsible lawyer and an assigned member.
    let (status, html) = page(&app, &lawyer, "/firm/files").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Open a file")
            && html.contains(&format!("name=\"member_{}\"", outsider.member_id))
    );
    let lawyer_id = lawyer.member_id.to_string();
    let member_box = format!("member_{}", admin.member_id);
    let opened = form_post(&app, &lawyer, "/firm/files")
        .form(&[
            ("csrf", lawyer.csrf.as_str()),
            ("number", "F-100"),
            ("name", "Doe Estate"),
            ("file_type", "Probate"),
            ("status", "open"),
            ("responsible_lawyer_id", lawyer_id.as_str()),
            (member_box.as_str(), "on"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), 303);
    let file_page = location(&opened);
    let file_id = file_page
        .trim_start_matches("/firm/files/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let stored = ok(
        send(
            &app,
            &admin,
            Method::GET,
            &format!("/files/{file_id}"),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        (stored["number"].as_str(), stored["file_type"].as_str()),
        (Some("F-100"), Some("Probate"))
    );
    assert_eq!(stored["member_ids"], json!([admin.member_id]));
    let again = form_post(&app, &lawyer, "/firm/files")
        .form(&[
            ("csrf", lawyer.csrf.as_str()),
            ("number", "F-100"),
            ("name", "Second Try"),
            ("status", "open"),
            ("responsible_lawyer_id", lawyer_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409);
    let html = again.text().await.unwrap();
    assert!(
        html.contains("file number F-100 is already used") && html.contains("value=\"Second Try\"")
    );
    let forged = form_post(&app, &lawyer, "/firm/files")
        .form(&[("number", "F-101"), ("name", "X")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);

    // The file page: add a client (first one: primary), rename, remove.
    let (status, html) = page(&app, &lawyer, &file_page).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("File opened.")
            && html.contains("People on this file")
            && html.contains("Add a client")
    );
    let added = form_post(&app, &lawyer, &format!("/firm/files/{file_id}/people"))
        .form(&[
            ("csrf", lawyer.csrf.as_str()),
            ("contact_id", contact_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 303);
    let (_, html) = page(&app, &lawyer, &format!("/firm/files/{file_id}")).await;
    assert!(
        html.contains("Dana Doe") && html.contains("badge primary"),
        "the first client is primary"
    );
    let refused = form_post(&app, &lawyer, &format!("/firm/files/{file_id}/people"))
        .form(&[("csrf", lawyer.csrf.as_str()), ("contact_id", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    assert!(refused.text().await.unwrap().contains("choose a contact"));
    let renamed = form_post(&app, &lawyer, &format!("/firm/files/{file_id}"))
        .form(&[
            ("csrf", lawyer.csrf.as_str()),
            ("number", "F-100"),
            ("name", "Doe Estate (2)"),
            ("file_type", "Probate"),
            ("status", "closed"),
            ("access_fields", "1"),
            ("responsible_lawyer_id", lawyer_id.as_str()),
            (member_box.as_str(), "on"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), 303);
    assert_eq!(
        location(&renamed),
        format!("/firm/files/{file_id}?done=saved")
    );
    let stored = ok(
        send(
            &app,
            &admin,
            Method::GET,
            &format!("/files/{file_id}"),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        (stored["name"].as_str(), stored["status"].as_str()),
        (Some("Doe Estate (2)"), Some("closed"))
    );
    let (_, html) = page(&app, &admin, &format!("/firm/contacts/{contact_id}")).await;
    assert!(
        html.contains("F-100") && html.contains("Primary"),
        "the contact page lists the file"
    );

    // The outsider neither sees the file in the list nor opens its page.
    let (status, html) = page(&app, &outsider, "/firm/files").await;
    assert_eq!(status, 200);
    assert!(!html.contains("F-100"));
    let (status, hidden) = page(&app, &outsider, &format!("/firm/files/{file_id}")).await;
    let (_, missing) = page(
        &app,
        &outsider,
        &format!("/firm/files/{}", uuid::Uuid::now_v7()),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(hidden, missing);
    let (_, html) = page(&app, &outsider, &format!("/firm/contacts/{contact_id}")).await;
    assert!(!html.contains("F-100"));
    let blocked = form_post(
        &app,
        &outsider,
        &format!("/firm/files/{file_id}/people/{contact_id}/remove"),
    )
    .form(&[("csrf", outsider.csrf.as_str())])
    .send()
    .await
    .unwrap();
    assert_eq!(blocked.status(), 404);

    let removed = form_post(
        &app,
        &lawyer,
        &format!("/firm/files/{file_id}/people/{contact_id}/remove"),
    )
    .form(&[("csrf", lawyer.csrf.as_str())])
    .send()
    .await
    .unwrap();
    assert_eq!(removed.status(), 303);
    let (_, html) = page(&app, &lawyer, &location(&removed)).await;
    assert!(html.contains("Removed from the file.") && html.contains("No clients yet"));

    assert_eq!(audit_count(&app, &admin, "contact.created").await, 1);
    assert_eq!(audit_count(&app, &admin, "contact.updated").await, 1);
    assert_eq!(audit_count(&app, &admin, "file.created").await, 1);
    assert_eq!(audit_count(&app, &admin, "file.updated").await, 1);
    assert_eq!(audit_count(&app, &admin, "file.person_added").await, 1);
    assert_eq!(audit_count(&app, &admin, "file.person_removed").await, 1);
}
