//! Custom fields: definitions, values per file validated by kind, per-file Portal sharing
//! (hidden / read-only / editable) with its bulk actions, what clients see and edit, the
//! pages and their forms, and the audit trail.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::firm::FirmSession;
use crate::support::portal::{CLIENT_PASSWORD, ClientSession};
use crate::support::{TestApp, expect_problem};

on_both_backends!(
    definitions_are_created_changed_deleted_and_validated,
    values_are_validated_and_stored_by_kind,
    sharing_decides_exactly_what_the_client_sees_and_edits,
    other_clients_and_other_firms_see_nothing,
    bulk_actions_change_only_files_the_member_can_access,
    sharing_needs_the_portal_right_and_the_firm_option,
    definitions_page_is_for_administrators_and_its_forms_work,
    file_section_pages_and_forms_work_for_members_and_clients,
);

// ---- helpers ------------------------------------------------------------------------------

async fn define(app: &TestApp, s: &FirmSession, body: Value) -> String {
    let response = app
        .firm_api(s, Method::POST, "/custom-fields")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "defining {body}");
    let created: Value = response.json().await.unwrap();
    created["id"].as_str().unwrap().to_owned()
}

async fn put_value(
    app: &TestApp,
    s: &FirmSession,
    file: uuid::Uuid,
    field: &str,
    value: Value,
) -> reqwest::Response {
    app.firm_api(
        s,
        Method::PUT,
        &format!("/files/{file}/custom-fields/{field}"),
    )
    .json(&json!({ "value": value }))
    .send()
    .await
    .unwrap()
}

async fn share(
    app: &TestApp,
    s: &FirmSession,
    file: uuid::Uuid,
    field: &str,
    sharing: &str,
) -> reqwest::Response {
    app.firm_api(
        s,
        Method::PUT,
        &format!("/files/{file}/custom-fields/{field}/portal"),
    )
    .json(&json!({ "sharing": sharing }))
    .send()
    .await
    .unwrap()
}

async fn bulk(
    app: &TestApp,
    s: &FirmSession,
    file: uuid::Uuid,
    action: &str,
    apply_to_file_type: bool,
) -> reqwest::Response {
    app.firm_api(
        s,
        Method::POST,
        &format!("/files/{file}/custom-fields/portal"),
    )
    .json(&json!({ "action": action, "apply_to_file_type": apply_to_file_type }))
    .send()
    .await
    .unwrap()
}

async fn file_fields(app: &TestApp, s: &FirmSession, file: uuid::Uuid) -> Vec<Value> {
    let response = app
        .firm_api(s, Method::GET, &format!("/files/{file}/custom-fields"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn field<'a>(list: &'a [Value], id: &str) -> &'a Value {
    list.iter()
        .find(|f| f["field_id"] == id)
        .unwrap_or_else(|| panic!("field {id} in {list:?}"))
}

async fn client_fields(app: &TestApp, c: &ClientSession, file: uuid::Uuid) -> reqwest::Response {
    app.portal_api(c, Method::GET, &format!("/files/{file}/custom-fields"))
        .send()
        .await
        .unwrap()
}

async fn client_put(
    app: &TestApp,
    c: &ClientSession,
    file: uuid::Uuid,
    field: &str,
    value: Value,
) -> reqwest::Response {
    app.portal_api(
        c,
        Method::PUT,
        &format!("/files/{file}/custom-fields/{field}"),
    )
    .json(&json!({ "value": value }))
    .send()
    .await
    .unwrap()
}

/// The stored sharing of (file, field), read with the owner's rights; `None` without a row.
async fn stored_sharing(app: &TestApp, file: uuid::Uuid, field: &str) -> Option<&'static str> {
    let field = uuid::Uuid::parse_str(field).unwrap();
    for sharing in ["hidden", "read_only", "editable"] {
        let n = app
            .count(
                "SELECT COUNT(*) AS n FROM custom_field_value WHERE matter_id = $1 AND field_id = $2 AND sharing = $3",
                vec![file.into(), field.into(), sharing.into()],
            )
            .await;
        if n == 1 {
            return Some(sharing);
        }
    }
    None
}

async fn audit(app: &TestApp, admin: &FirmSession, action: &str) -> Vec<Value> {
    let entries: Vec<Value> = app
        .firm_api(admin, Method::GET, "/audit?limit=1000")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    entries
        .into_iter()
        .filter(|e| e["action"] == action)
        .collect()
}

async fn set_shareable_kinds(app: &TestApp, admin: &FirmSession, kinds: Value) {
    let mut options: Value = app
        .firm_api(admin, Method::GET, "/options/client-portal")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    options["shareable_kinds"] = kinds;
    let saved = app
        .firm_api(admin, Method::PUT, "/options/client-portal")
        .json(&options)
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 200);
}

async fn set_file_type(app: &TestApp, s: &FirmSession, file: uuid::Uuid, file_type: &str) {
    let response = app
        .firm_api(s, Method::PATCH, &format!("/files/{file}"))
        .json(&json!({ "file_type": file_type }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "file type of {file}");
}

/// A second client of the same firm, signed in, with `shared` shared with them.
async fn second_client(
    app: &TestApp,
    admin: &FirmSession,
    client_on: &[uuid::Uuid],
    shared: &[uuid::Uuid],
) -> ClientSession {
    let email = format!("other@{}.example", admin.slug);
    let contact = app.contact(admin, "Olga Other", &[&email]).await;
    for file in client_on {
        app.add_client(admin, *file, contact).await;
    }
    assert_eq!(
        app.allow_portal(admin, contact, &email, shared)
            .await
            .status(),
        200
    );
    let token = app.invitation_token(&admin.slug, &email, 0).await;
    assert_eq!(
        app.accept(&admin.slug, &token, CLIENT_PASSWORD)
            .await
            .status(),
        200
    );
    app.client_sign_in(&admin.slug, &email, CLIENT_PASSWORD)
        .await
}

fn csrf_of(page: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = page.find(marker).expect("csrf field") + marker.len();
    page[start..].chars().take_while(|c| *c != '"').collect()
}

// ---- definitions --------------------------------------------------------------------------

async fn definitions_are_created_changed_deleted_and_validated(app: TestApp) {
    let admin = app.firm_with_admin().await;
    let clerk = app.member(&admin, "Cleo Clerk", false, true).await;

    let response = app
        .firm_api(&admin, Method::POST, "/custom-fields")
        .json(&json!({"name": "  Fee estimate ", "kind": "number", "file_type": " Litigation "}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let estimate: Value = response.json().await.unwrap();
    assert_eq!(estimate["name"], "Fee estimate");
    assert_eq!(estimate["kind"], "number");
    assert_eq!(estimate["file_type"], "Litigation");
    assert_eq!(estimate["choices"], json!([]));
    let estimate_id = estimate["id"].as_str().unwrap().to_owned();
    let stage = define(
        &app,
        &admin,
        json!({"name": "Stage", "kind": "choice", "choices": ["Intake", " Discovery ", "Trial"]}),
    )
    .await;

    // Every member lists them, by name; only administrators define them.
    let listed: Vec<Value> = app
        .firm_api(&clerk, Method::GET, "/custom-fields")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = listed.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Fee estimate", "Stage"]);
    assert_eq!(
        listed[1]["choices"],
        json!(["Intake", "Discovery", "Trial"])
    );
    assert_eq!(listed[1]["file_type"], Value::Null);
    let refused = app
        .firm_api(&clerk, Method::POST, "/custom-fields")
        .json(&json!({"name": "Sneaky", "kind": "text"}))
        .send()
        .await
        .unwrap();
    assert!(
        expect_problem(refused, 403)
            .await
            .contains("only administrators")
    );

    // Validation: each rule answers with what is wrong, and nothing is stored.
    for (body, status, says) in [
        (json!({"kind": "text"}), 422, "name is required"),
        (
            json!({"name": "   ", "kind": "text"}),
            422,
            "name is required",
        ),
        (
            json!({"name": "x".repeat(101), "kind": "text"}),
            422,
            "at most 100",
        ),
        (
            json!({"name": "fee ESTIMATE", "kind": "text"}),
            409,
            "already exists",
        ),
        (
            json!({"name": "Colour", "kind": "colour"}),
            422,
            "kind must be one of",
        ),
        (
            json!({"name": "Colour", "kind": "choice"}),
            422,
            "choices are required",
        ),
        (
            json!({"name": "Colour", "kind": "choice", "choices": []}),
            422,
            "choices are required",
        ),
        (
            json!({"name": "Colour", "kind": "choice", "choices": ["Red", "red"]}),
            422,
            "unique",
        ),
        (
            json!({"name": "Colour", "kind": "choice", "choices": ["Red", " "]}),
            422,
            "must not be empty",
        ),
        (
            json!({"name": "Colour", "kind": "text", "choices": ["Red"]}),
            422,
            "only for choice-list",
        ),
    ] {
        let response = app
            .firm_api(&admin, Method::POST, "/custom-fields")
            .json(&body)
            .send()
            .await
            .unwrap();
        let detail = expect_problem(response, status).await;
        assert!(detail.contains(says), "{body}: {detail}");
    }
    assert_eq!(
        app.count(
            "SELECT COUNT(*) AS n FROM custom_field WHERE tenant_id = $1",
            vec![admin.tenant_id.into()]
        )
        .await,
        2
    );

    // Read one; rename; the kind never changes.
    let one: Value = app
        .firm_api(&clerk, Method::GET, &format!("/custom-fields/{stage}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["name"], "Stage");
    let renamed = app
        .firm_api(&admin, Method::PATCH, &format!("/custom-fields/{stage}"))
        .json(
            &json!({"name": "Matter stage", "choices": ["Intake", "Discovery", "Trial", "Appeal"]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), 200);
    let renamed: Value = renamed.json().await.unwrap();
    assert_eq!(renamed["name"], "Matter stage");
    assert_eq!(renamed["choices"].as_array().unwrap().len(), 4);
    let kind_change = app
        .firm_api(&admin, Method::PATCH, &format!("/custom-fields/{stage}"))
        .json(&json!({"kind": "text"}))
        .send()
        .await
        .unwrap();
    assert!(
        expect_problem(kind_change, 422)
            .await
            .contains("kind cannot be changed")
    );
    let taken = app
        .firm_api(&admin, Method::PATCH, &format!("/custom-fields/{stage}"))
        .json(&json!({"name": "Fee Estimate"}))
        .send()
        .await
        .unwrap();
    expect_problem(taken, 409).await;
    let by_clerk = app
        .firm_api(&clerk, Method::PATCH, &format!("/custom-fields/{stage}"))
        .json(&json!({"name": "Mine"}))
        .send()
        .await
        .unwrap();
    expect_problem(by_clerk, 403).await;

    // A choice held by a file cannot be removed.
    let file = app.file(&admin, "D-1", admin.member_id, &[]).await;
    assert_eq!(
        put_value(&app, &admin, file, &stage, json!("Trial"))
            .await
            .status(),
        200
    );
    let removing = app
        .firm_api(&admin, Method::PATCH, &format!("/custom-fields/{stage}"))
        .json(&json!({"choices": ["Intake", "Discovery"]}))
        .send()
        .await
        .unwrap();
    assert!(
        expect_problem(removing, 409)
            .await
            .contains("“Trial” is held by 1 file")
    );

    // Unknown, malformed and other firms' ids are all the same 404.
    let other_firm = app.firm_with_admin().await;
    for path in [
        format!("/custom-fields/{}", uuid::Uuid::now_v7()),
        "/custom-fields/not-a-uuid".to_owned(),
    ] {
        let response = app
            .firm_api(&admin, Method::GET, &path)
            .send()
            .await
            .unwrap();
        expect_problem(response, 404).await;
    }
    let foreign = app
        .firm_api(&other_firm, Method::GET, &format!("/custom-fields/{stage}"))
        .send()
        .await
        .unwrap();
    expect_problem(foreign, 404).await;
    let foreign_delete = app
        .firm_api(
            &other_firm,
            Method::DELETE,
            &format!("/custom-fields/{stage}"),
        )
        .send()
        .await
        .unwrap();
    expect_problem(foreign_delete, 404).await;
    let other_list: Vec<Value> = app
        .firm_api(&other_firm, Method::GET, "/custom-fields")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(other_list.is_empty());

    // Deleting removes the field and its values.
    let deleted = app
        .firm_api(&admin, Method::DELETE, &format!("/custom-fields/{stage}"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let gone = app
        .firm_api(&admin, Method::GET, &format!("/custom-fields/{stage}"))
        .send()
        .await
        .unwrap();
    expect_problem(gone, 404).await;
    assert_eq!(
        app.count(
            "SELECT COUNT(*) AS n FROM custom_field_value WHERE tenant_id = $1",
            vec![admin.tenant_id.into()]
        )
        .await,
        0
    );

    // Audit.
    let created = audit(&app, &admin, "custom_field.created").await;
    assert_eq!(created.len(), 2);
    assert!(created.iter().any(|e| e["target_id"] == estimate_id
        && e["detail"]["kind"] == "number"
        && e["detail"]["file_type"] == "Litigation"
        && e["actor"] == "Ada Admin"));
    let updated = audit(&app, &admin, "custom_field.updated").await;
    assert_eq!(
        updated[0]["detail"]["name"],
        json!({"from": "Stage", "to": "Matter stage"})
    );
    let deleted = audit(&app, &admin, "custom_field.deleted").await;
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["detail"]["file_rows_removed"], 1);
}

// ---- values -------------------------------------------------------------------------------

async fn values_are_validated_and_stored_by_kind(app: TestApp) {
    let admin = app.firm_with_admin().await;
    let text = define(&app, &admin, json!({"name": "Court", "kind": "text"})).await;
    let number = define(
        &app,
        &admin,
        json!({"name": "Fee estimate", "kind": "number"}),
    )
    .await;
    let date = define(&app, &admin, json!({"name": "Hearing", "kind": "date"})).await;
    let yes_no = define(&app, &admin, json!({"name": "Urgent", "kind": "yes_no"})).await;
    let choice = define(
        &app,
        &admin,
        json!({"name": "Stage", "kind": "choice", "choices": ["Intake", "Trial"]}),
    )
    .await;
    let conveyancing = define(
        &app,
        &admin,
        json!({"name": "Title number", "kind": "text", "file_type": "conveyancing"}),
    )
    .await;
    let file = app.file(&admin, "V-1", admin.member_id, &[]).await;

    // Only the fields that apply to a Litigation file are listed, by name, all hidden.
    let listed = file_fields(&app, &admin, file).await;
    let names: Vec<&str> = listed.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["Court", "Fee estimate", "Hearing", "Stage", "Urgent"]
    );
    assert!(
        listed
            .iter()
            .all(|f| f["sharing"] == "hidden" && f["value"].is_null())
    );

    // Valid values are stored in their normalized text form.
    for (id, sent, stored) in [
        (&text, json!("  Supreme Court  "), json!("Supreme Court")),
        (&number, json!("0012.50"), json!("12.50")),
        (&number, json!(-7), json!("-7")),
        (&date, json!("2026-03-31"), json!("2026-03-31")),
        (&yes_no, json!(true), json!("true")),
        (&yes_no, json!("FALSE"), json!("false")),
        (&choice, json!("Trial"), json!("Trial")),
    ] {
        let response = put_value(&app, &admin, file, id, sent.clone()).await;
        assert_eq!(response.status(), 200, "{sent}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["value"], stored, "{sent}");
        assert_eq!(body["updated_by"]["kind"], "member");
        assert_eq!(body["updated_by"]["name"], "Ada Admin");
    }
    put_value(&app, &admin, file, &number, json!("12.50")).await;
    let stored_exactly = app
        .count(
            "SELECT COUNT(*) AS n FROM custom_field_value WHERE matter_id = $1 AND value = '12.50'",
            vec![file.into()],
        )
        .await;
    assert_eq!(stored_exactly, 1, "the decimal is kept as exact text");

    // Invalid values: 422 naming the field and the expected format; the value is unchanged.
    for (id, sent, says) in [
        (
            &number,
            json!("12,50"),
            "Fee estimate: expected a decimal number such as 12.50",
        ),
        (
            &number,
            json!("1e3"),
            "Fee estimate: expected a decimal number",
        ),
        (&number, json!(12.5), "as a string, such as \"12.50\""),
        (
            &date,
            json!("31/03/2026"),
            "Hearing: expected a date as YYYY-MM-DD",
        ),
        (
            &date,
            json!("2026-02-30"),
            "Hearing: expected a date as YYYY-MM-DD",
        ),
        (&yes_no, json!("maybe"), "Urgent: expected true or false"),
        (
            &choice,
            json!("trial"),
            "Stage: expected one of “Intake”, “Trial”",
        ),
        (
            &text,
            json!("x".repeat(2001)),
            "Court: expected text of at most 2000 characters",
        ),
        (&text, json!(["a"]), "value must be a string"),
    ] {
        let response = put_value(&app, &admin, file, id, sent.clone()).await;
        let detail = expect_problem(response, 422).await;
        assert!(detail.contains(says), "{sent}: {detail}");
    }
    let missing_value = app
        .firm_api(
            &admin,
            Method::PUT,
            &format!("/files/{file}/custom-fields/{text}"),
        )
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert!(
        expect_problem(missing_value, 422)
            .await
            .contains("value is required")
    );
    let listed = file_fields(&app, &admin, file).await;
    assert_eq!(field(&listed, &number)["value"], "12.50");
    assert_eq!(field(&listed, &date)["value"], "2026-03-31");
    assert_eq!(field(&listed, &text)["value"], "Supreme Court");

    // A field limited to another type does not apply to this file.
    let wrong_type = put_value(&app, &admin, file, &conveyancing, json!("T-1")).await;
    assert!(
        expect_problem(wrong_type, 422)
            .await
            .contains("applies only to files of type “conveyancing”")
    );
    let other_type = app.file(&admin, "V-2", admin.member_id, &[]).await;
    set_file_type(&app, &admin, other_type, "Conveyancing").await;
    assert_eq!(
        put_value(&app, &admin, other_type, &conveyancing, json!("T-1"))
            .await
            .status(),
        200
    );
    let names: Vec<String> = file_fields(&app, &admin, other_type)
        .await
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(names.contains(&"Title number".to_owned()));

    // null and "" clear.
    let cleared: Value = put_value(&app, &admin, file, &text, Value::Null)
        .await
        .json()
        .await
        .unwrap();
    assert!(cleared["value"].is_null());
    let cleared: Value = put_value(&app, &admin, file, &number, json!(""))
        .await
        .json()
        .await
        .unwrap();
    assert!(cleared["value"].is_null());

    // Files the member cannot access, unknown files and unknown fields: 404.
    let outsider = app.member(&admin, "Otto Outsider", false, true).await;
    let hidden = app
        .firm_api(
            &outsider,
            Method::GET,
            &format!("/files/{file}/custom-fields"),
        )
        .send()
        .await
        .unwrap();
    expect_problem(hidden, 404).await;
    expect_problem(
        put_value(&app, &outsider, file, &text, json!("x")).await,
        404,
    )
    .await;
    expect_problem(
        put_value(&app, &admin, uuid::Uuid::now_v7(), &text, json!("x")).await,
        404,
    )
    .await;
    expect_problem(
        put_value(
            &app,
            &admin,
            file,
            &uuid::Uuid::now_v7().to_string(),
            json!("x"),
        )
        .await,
        404,
    )
    .await;
    expect_problem(put_value(&app, &admin, file, "nope", json!("x")).await, 404).await;
    assert_eq!(
        app.count(
            "SELECT COUNT(*) AS n FROM custom_field_value WHERE tenant_id = $1 AND value = 'x'",
            vec![admin.tenant_id.into()]
        )
        .await,
        0
    );

    // The trail has old → new for each change.
    let changes = audit(&app, &admin, "custom_field.value_changed").await;
    assert!(changes.iter().any(|e| e["target_id"] == file.to_string()
        && e["detail"]["field_id"] == number
        && e["detail"]["from"] == "-7"
        && e["detail"]["to"] == "12.50"));
    assert!(changes.iter().any(|e| e["detail"]["field_id"] == text
        && e["detail"]["from"] == "Supreme Court"
        && e["detail"]["to"].is_null()));
}

// ---- client visibility --------------------------------------------------------------------

async fn sharing_decides_exactly_what_the_client_sees_and_edits(app: TestApp) {
    let (admin, client, _contact, file) = app.firm_with_client().await;
    let court = define(&app, &admin, json!({"name": "Court", "kind": "text"})).await;
    let estimate = define(
        &app,
        &admin,
        json!({"name": "Fee estimate", "kind": "number"}),
    )
    .await;
    let urgent = define(&app, &admin, json!({"name": "Urgent", "kind": "yes_no"})).await;
    put_value(&app, &admin, file, &court, json!("Supreme Court")).await;
    put_value(&app, &admin, file, &estimate, json!("1500.00")).await;

    // Everything starts hidden: the client sees nothing, and a hidden field is a 404 exactly
    // like a field that does not exist.
    let none: Vec<Value> = client_fields(&app, &client, file)
        .await
        .json()
        .await
        .unwrap();
    assert!(none.is_empty());
    let hidden = client_put(&app, &client, file, &court, json!("Other")).await;
    assert_eq!(hidden.status(), 404);
    let hidden_body = hidden.text().await.unwrap();
    let missing = client_put(
        &app,
        &client,
        file,
        &uuid::Uuid::now_v7().to_string(),
        json!("Other"),
    )
    .await;
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.text().await.unwrap(), hidden_body);

    // Read-only: visible, not editable (403 with the reason).
    let shared = share(&app, &admin, file, &court, "read_only").await;
    assert_eq!(shared.status(), 200);
    let shared: Value = shared.json().await.unwrap();
    assert_eq!(shared["sharing"], "read_only");
    assert!(shared["sharing_changed_at"].is_string());
    let seen: Vec<Value> = client_fields(&app, &client, file)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["field_id"], court);
    assert_eq!(seen[0]["name"], "Court");
    assert_eq!(seen[0]["value"], "Supreme Court");
    assert_eq!(seen[0]["editable"], false);
    let read_only = client_put(&app, &client, file, &court, json!("Other")).await;
    assert_eq!(
        expect_problem(read_only, 403).await,
        "this field is read-only in the Portal"
    );
    assert_eq!(
        field(&file_fields(&app, &admin, file).await, &court)["value"],
        "Supreme Court"
    );

    // Editable: the client's change is saved and members see it at once, attributed.
    share(&app, &admin, file, &estimate, "editable").await;
    share(&app, &admin, file, &urgent, "editable").await;
    let seen: Vec<Value> = client_fields(&app, &client, file)
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = seen.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Court", "Fee estimate", "Urgent"]);
    assert_eq!(seen[1]["editable"], true);
    assert!(seen[2]["value"].is_null());
    let edited = client_put(&app, &client, file, &estimate, json!("1750.5")).await;
    assert_eq!(edited.status(), 200);
    let edited: Value = edited.json().await.unwrap();
    assert_eq!(edited["value"], "1750.5");
    assert_eq!(edited["editable"], true);
    assert_eq!(
        client_put(&app, &client, file, &urgent, json!(true))
            .await
            .status(),
        200
    );
    let bad = client_put(&app, &client, file, &estimate, json!("lots")).await;
    assert!(
        expect_problem(bad, 422)
            .await
            .contains("Fee estimate: expected a decimal number")
    );
    let member_view = file_fields(&app, &admin, file).await;
    let estimate_now = field(&member_view, &estimate);
    assert_eq!(estimate_now["value"], "1750.5");
    assert_eq!(estimate_now["updated_by"]["kind"], "client");
    assert_eq!(estimate_now["updated_by"]["name"], "Chris Client");
    assert_eq!(field(&member_view, &urgent)["value"], "true");
    assert_eq!(field(&member_view, &court)["updated_by"]["kind"], "member");

    // Hiding again takes it away at once.
    share(&app, &admin, file, &estimate, "hidden").await;
    let seen: Vec<Value> = client_fields(&app, &client, file)
        .await
        .json()
        .await
        .unwrap();
    assert!(seen.iter().all(|f| f["field_id"] != estimate));
    assert_eq!(
        client_put(&app, &client, file, &estimate, json!("1"))
            .await
            .status(),
        404
    );
    let bad_sharing = share(&app, &admin, file, &estimate, "public").await;
    assert!(
        expect_problem(bad_sharing, 422)
            .await
            .contains("hidden, read_only, editable")
    );

    // The client's edit is in the trail with old → new, as the client.
    let changes = audit(&app, &admin, "custom_field.value_changed").await;
    let by_client = changes
        .iter()
        .find(|e| e["actor_kind"] == "client" && e["detail"]["field_id"] == estimate)
        .expect("client edit audited");
    assert_eq!(by_client["actor"], "Chris Client");
    assert_eq!(by_client["detail"]["from"], "1500.00");
    assert_eq!(by_client["detail"]["to"], "1750.5");
    assert_eq!(by_client["target_id"], file.to_string());
    // The activity feed: the client's edit is client activity, sharing is member activity.
    let activity = |kind: &'static str, action: &'static str| {
        app.count(
            "SELECT COUNT(*) AS n FROM activity WHERE matter_id = $1 AND kind = $2 AND action = $3",
            vec![file.into(), kind.into(), action.into()],
        )
    };
    // Two client edits (estimate, urgent); the refused ones are not activity.
    assert_eq!(activity("client_activity", "custom_field.edited").await, 2);
    assert_eq!(activity("member_activity", "custom_field.shared").await, 3);
    assert_eq!(
        activity("member_activity", "custom_field.unshared").await,
        1
    );
    let sharing = audit(&app, &admin, "custom_field.sharing_changed").await;
    assert!(sharing.iter().any(|e| e["detail"]["field_id"] == court
        && e["detail"]["from"] == "hidden"
        && e["detail"]["to"] == "read_only"));
    assert!(sharing.iter().any(|e| e["detail"]["field_id"] == estimate
        && e["detail"]["from"] == "editable"
        && e["detail"]["to"] == "hidden"));
}

async fn other_clients_and_other_firms_see_nothing(app: TestApp) {
    let (admin, client, _contact, file) = app.firm_with_client().await;
    let court = define(&app, &admin, json!({"name": "Court", "kind": "text"})).await;
    put_value(&app, &admin, file, &court, json!("Supreme Court")).await;
    share(&app, &admin, file, &court, "editable").await;
    assert_eq!(client_fields(&app, &client, file).await.status(), 200);

    // A file of the same firm that is not shared with the client.
    let unshared = app.file(&admin, "2026-002", admin.member_id, &[]).await;
    put_value(&app, &admin, unshared, &court, json!("County Court")).await;
    share(&app, &admin, unshared, &court, "editable").await;
    assert_eq!(client_fields(&app, &client, unshared).await.status(), 404);
    assert_eq!(
        client_put(&app, &client, unshared, &court, json!("x"))
            .await
            .status(),
        404
    );

    // Another client of the firm, also a client on the file but without it shared.
    let other = second_client(&app, &admin, &[file, unshared], &[unshared]).await;
    let nothing = client_fields(&app, &other, file).await;
    let nothing_body = expect_problem(nothing, 404).await;
    assert_eq!(
        client_put(&app, &other, file, &court, json!("Mine"))
            .await
            .status(),
        404
    );
    let mine: Vec<Value> = client_fields(&app, &other, unshared)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["value"], "County Court");

    // A client of another firm, on their own firm's host, with this firm's ids.
    let (_other_admin, foreign, _, _) = app.firm_with_client().await;
    let response = client_fields(&app, &foreign, file).await;
    assert_eq!(expect_problem(response, 404).await, nothing_body);
    assert_eq!(
        client_put(&app, &foreign, file, &court, json!("Theirs"))
            .await
            .status(),
        404
    );
    // And their session is worth nothing on this firm's host.
    let cross_host = app
        .http
        .get(app.firm_url(
            &admin.slug,
            &format!("/api/v1/portal/files/{file}/custom-fields"),
        ))
        .bearer_auth(&foreign.token)
        .send()
        .await
        .unwrap();
    assert_eq!(cross_host.status(), 401);

    // Nothing was changed by any of them.
    assert_eq!(
        field(&file_fields(&app, &admin, file).await, &court)["value"],
        "Supreme Court"
    );
    assert_eq!(
        field(&file_fields(&app, &admin, unshared).await, &court)["value"],
        "County Court"
    );
    // Malformed ids are the same 404.
    assert_eq!(
        client_fields(&app, &client, uuid::Uuid::nil())
            .await
            .status(),
        404
    );
    let malformed = app
        .portal_api(
            &client,
            Method::PUT,
            &format!("/files/{file}/custom-fields/not-an-id"),
        )
        .json(&json!({"value": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 404);
}

// ---- bulk ---------------------------------------------------------------------------------

async fn bulk_actions_change_only_files_the_member_can_access(app: TestApp) {
    let admin = app.firm_with_admin().await;
    let mia = app.member(&admin, "Mia Member", false, true).await;
    let mine = app.file(&admin, "B-1", mia.member_id, &[]).await; // Litigation, Mia responsible
    let assigned = app
        .file(&admin, "B-2", admin.member_id, &[mia.member_id])
        .await; // Litigation
    let not_mine = app.file(&admin, "B-3", admin.member_id, &[]).await; // Litigation, no access
    let other_type = app.file(&admin, "B-4", mia.member_id, &[]).await;
    set_file_type(&app, &admin, other_type, "Conveyancing").await;
    set_file_type(&app, &admin, assigned, " litigation ").await; // the same type, typed differently

    let everywhere = define(&app, &admin, json!({"name": "Court", "kind": "text"})).await;
    let litigation = define(
        &app,
        &admin,
        json!({"name": "Judge", "kind": "text", "file_type": "Litigation"}),
    )
    .await;
    let conveyancing = define(
        &app,
        &admin,
        json!({"name": "Title", "kind": "text", "file_type": "Conveyancing"}),
    )
    .await;
    // The file Mia cannot access starts read-only on one field and with nothing on the other.
    share(&app, &admin, not_mine, &everywhere, "read_only").await;

    // One file only.
    let response = bulk(&app, &mia, mine, "make_all_editable", false).await;
    assert_eq!(response.status(), 200);
    let outcome: Value = response.json().await.unwrap();
    assert_eq!(outcome["file_ids"], json!([mine]));
    assert_eq!(outcome["changed"], 2);
    assert!(
        outcome["fields"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["sharing"] == "editable")
    );
    assert_eq!(
        stored_sharing(&app, mine, &everywhere).await,
        Some("editable")
    );
    assert_eq!(
        stored_sharing(&app, mine, &litigation).await,
        Some("editable")
    );
    assert_eq!(stored_sharing(&app, assigned, &everywhere).await, None);

    // Every file of the type that Mia can access — and no other.
    let response = bulk(&app, &mia, mine, "make_all_editable", true).await;
    assert_eq!(response.status(), 200);
    let outcome: Value = response.json().await.unwrap();
    let mut targets: Vec<String> = outcome["file_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    targets.sort();
    let mut expected = vec![mine.to_string(), assigned.to_string()];
    expected.sort();
    assert_eq!(targets, expected);
    assert_eq!(outcome["changed_file_ids"], json!([assigned]));
    assert_eq!(
        stored_sharing(&app, assigned, &everywhere).await,
        Some("editable")
    );
    assert_eq!(
        stored_sharing(&app, assigned, &litigation).await,
        Some("editable")
    );
    assert_eq!(stored_sharing(&app, assigned, &conveyancing).await, None);
    assert_eq!(
        stored_sharing(&app, not_mine, &everywhere).await,
        Some("read_only")
    );
    assert_eq!(stored_sharing(&app, not_mine, &litigation).await, None);
    assert_eq!(stored_sharing(&app, other_type, &everywhere).await, None);
    assert_eq!(stored_sharing(&app, other_type, &conveyancing).await, None);

    // Hide all, on every file of the type Mia can access.
    let response = bulk(&app, &mia, assigned, "hide_all", true).await;
    assert_eq!(response.status(), 200);
    for file in [mine, assigned] {
        assert_eq!(
            stored_sharing(&app, file, &everywhere).await,
            Some("hidden")
        );
        assert_eq!(
            stored_sharing(&app, file, &litigation).await,
            Some("hidden")
        );
    }
    assert_eq!(
        stored_sharing(&app, not_mine, &everywhere).await,
        Some("read_only")
    );

    // Hide all on one file leaves the others alone.
    bulk(&app, &admin, not_mine, "make_all_editable", false).await;
    bulk(&app, &admin, mine, "make_all_editable", false).await;
    let response = bulk(&app, &admin, not_mine, "hide_all", false).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        stored_sharing(&app, not_mine, &everywhere).await,
        Some("hidden")
    );
    assert_eq!(
        stored_sharing(&app, mine, &everywhere).await,
        Some("editable")
    );

    // Refusals: unknown action, a file without a type, a file Mia cannot access.
    let unknown = bulk(&app, &mia, mine, "share_everything", false).await;
    assert!(
        expect_problem(unknown, 422)
            .await
            .contains("make_all_editable or hide_all")
    );
    set_file_type(&app, &admin, other_type, "").await;
    let untyped = bulk(&app, &mia, other_type, "make_all_editable", true).await;
    assert!(expect_problem(untyped, 422).await.contains("no type"));
    let inaccessible = bulk(&app, &mia, not_mine, "hide_all", true).await;
    expect_problem(inaccessible, 404).await;
    assert_eq!(
        stored_sharing(&app, not_mine, &everywhere).await,
        Some("hidden")
    );

    // The activity feed gets one entry per changed file, not one per field.
    for (action, expected) in [("custom_field.shared", 1), ("custom_field.unshared", 1)] {
        let n = app
            .count(
                "SELECT COUNT(*) AS n FROM activity WHERE matter_id = $1 AND action = $2",
                vec![assigned.into(), action.into()],
            )
            .await;
        assert_eq!(n, expected, "{action}");
    }

    // Each changed (file, field) is in the trail, marked as part of the bulk action.
    let trail = audit(&app, &admin, "custom_field.sharing_changed").await;
    let by_mia_on_assigned: Vec<&Value> = trail
        .iter()
        .filter(|e| {
            e["actor_id"] == mia.member_id.to_string() && e["target_id"] == assigned.to_string()
        })
        .collect();
    assert_eq!(
        by_mia_on_assigned.len(),
        4,
        "two fields shared, then hidden"
    );
    assert!(
        by_mia_on_assigned
            .iter()
            .all(|e| e["detail"]["apply_to_file_type"] == true)
    );
    assert!(
        trail.iter().all(|e| e["target_id"] != not_mine.to_string()
            || e["actor_id"] != mia.member_id.to_string())
    );
}

// ---- rights and options -------------------------------------------------------------------

async fn sharing_needs_the_portal_right_and_the_firm_option(app: TestApp) {
    let (admin, client, _contact, file) = app.firm_with_client().await;
    let court = define(&app, &admin, json!({"name": "Court", "kind": "text"})).await;
    let plain = app.member(&admin, "Pat Plain", false, false).await;
    let update = app
        .firm_api(&admin, Method::PATCH, &format!("/files/{file}"))
        .json(&json!({"member_ids": [plain.member_id]}))
        .send()
        .await
        .unwrap();
    assert_eq!(update.status(), 200);

    // Without the Portal right: values yes, sharing no (hiding included).
    assert_eq!(
        put_value(&app, &plain, file, &court, json!("Supreme Court"))
            .await
            .status(),
        200
    );
    for sharing in ["editable", "hidden"] {
        let refused = share(&app, &plain, file, &court, sharing).await;
        assert!(
            expect_problem(refused, 403)
                .await
                .contains("not permitted to share items")
        );
    }
    let refused = bulk(&app, &plain, file, "make_all_editable", false).await;
    assert!(
        expect_problem(refused, 403)
            .await
            .contains("not permitted to share items")
    );
    assert_eq!(stored_sharing(&app, file, &court).await, Some("hidden"));

    // With the right, shared; then the firm stops sharing custom fields.
    assert_eq!(
        share(&app, &admin, file, &court, "editable").await.status(),
        200
    );
    let seen: Vec<Value> = client_fields(&app, &client, file)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen.len(), 1);
    set_shareable_kinds(&app, &admin, json!(["documents", "notes"])).await;
    let seen = client_fields(&app, &client, file).await;
    assert_eq!(seen.status(), 200);
    let seen: Vec<Value> = seen.json().await.unwrap();
    assert!(seen.is_empty(), "clients see no custom field");
    assert_eq!(
        client_put(&app, &client, file, &court, json!("x"))
            .await
            .status(),
        404
    );
    let refused = share(&app, &admin, file, &court, "read_only").await;
    assert!(
        expect_problem(refused, 403)
            .await
            .contains("does not share custom fields")
    );
    let refused = bulk(&app, &admin, file, "make_all_editable", false).await;
    assert!(
        expect_problem(refused, 403)
            .await
            .contains("does not share custom fields")
    );
    // Hiding is always possible.
    assert_eq!(
        bulk(&app, &admin, file, "hide_all", false).await.status(),
        200
    );
    assert_eq!(stored_sharing(&app, file, &court).await, Some("hidden"));

    // Allowed again: sharing works again.
    set_shareable_kinds(&app, &admin, json!(["documents", "custom_fields"])).await;
    assert_eq!(
        share(&app, &admin, file, &court, "read_only")
            .await
            .status(),
        200
    );
    let seen: Vec<Value> = client_fields(&app, &client, file)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["value"], "Supreme Court");
    assert_eq!(
        field(&file_fields(&app, &admin, file).await, &court)["value"],
        "Supreme Court"
    );
}

// ---- pages --------------------------------------------------------------------------------

async fn definitions_page_is_for_administrators_and_its_forms_work(app: TestApp) {
    let admin = app.firm_with_admin().await;
    let clerk = app.member(&admin, "Cleo Clerk", false, true).await;
    let origin = app.portal_url(&admin.slug);
    let url = app.firm_url(&admin.slug, "/firm/custom-fields");

    let page = admin.client.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("id=\"custom-field-form\"") && html.contains("No custom fields yet"));
    let csrf = csrf_of(&html);
    let refused = clerk
        .client
        .get(app.firm_url(&clerk.slug, "/firm/custom-fields"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("Only administrators")
    );
    let anonymous = app.http.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 303);

    // Create through the form.
    let created = admin
        .client
        .post(&url)
        .header("origin", &origin)
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "Stage"),
            ("kind", "choice"),
            ("choices", "Intake\r\nTrial\r\n"),
            ("file_type", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        created.headers()["location"],
        "/firm/custom-fields?done=created"
    );
    let html = admin
        .client
        .get(app.firm_url(&admin.slug, "/firm/custom-fields?done=created"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Custom field created.") && html.contains("Stage") && html.contains("Trial")
    );
    let listed: Vec<Value> = app
        .firm_api(&admin, Method::GET, "/custom-fields")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["choices"], json!(["Intake", "Trial"]));

    // A refused form says why and keeps what was typed.
    let refused = admin
        .client
        .post(&url)
        .header("origin", &origin)
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "stage"),
            ("kind", "text"),
            ("choices", ""),
            ("file_type", "Probate"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let html = refused.text().await.unwrap();
    assert!(html.contains("already exists") && html.contains("value=\"Probate\""));

    // Without CSRF, from another origin, or by a non-administrator: refused, nothing created.
    let no_csrf = admin
        .client
        .post(&url)
        .header("origin", &origin)
        .form(&[("name", "Forged"), ("kind", "text")])
        .send()
        .await
        .unwrap();
    assert_eq!(no_csrf.status(), StatusCode::FORBIDDEN);
    let cross = admin
        .client
        .post(&url)
        .header("origin", app.portal_url("elsewhere"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "Forged"),
            ("kind", "text"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    let clerk_page = clerk
        .client
        .get(app.firm_url(&clerk.slug, "/firm/files"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let by_clerk = clerk
        .client
        .post(&url)
        .header("origin", &origin)
        .form(&[
            ("csrf", csrf_of(&clerk_page).as_str()),
            ("name", "Forged"),
            ("kind", "text"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(by_clerk.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.count(
            "SELECT COUNT(*) AS n FROM custom_field WHERE tenant_id = $1",
            vec![admin.tenant_id.into()]
        )
        .await,
        1
    );

    // Delete needs the confirmation box.
    let id = listed[0]["id"].as_str().unwrap();
    let delete_url = app.firm_url(&admin.slug, &format!("/firm/custom-fields/{id}/delete"));
    let unconfirmed = admin
        .client
        .post(&delete_url)
        .header("origin", &origin)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(unconfirmed.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let deleted = admin
        .client
        .post(&delete_url)
        .header("origin", &origin)
        .form(&[("csrf", csrf.as_str()), ("confirm", "on")])
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.count(
            "SELECT COUNT(*) AS n FROM custom_field WHERE tenant_id = $1",
            vec![admin.tenant_id.into()]
        )
        .await,
        0
    );
}

async fn file_section_pages_and_forms_work_for_members_and_clients(app: TestApp) {
    let (admin, client, _contact, file) = app.firm_with_client().await;
    let court = define(&app, &admin, json!({"name": "Court", "kind": "text"})).await;
    let estimate = define(
        &app,
        &admin,
        json!({"name": "Fee estimate", "kind": "number"}),
    )
    .await;
    let urgent = define(&app, &admin, json!({"name": "Urgent", "kind": "yes_no"})).await;
    let origin = app.portal_url(&admin.slug);
    let section_url = app.firm_url(&admin.slug, &format!("/firm/files/{file}/custom-fields"));

    // The member's section: inputs by kind, sharing menus, bulk buttons.
    let page = admin.client.get(&section_url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    for expected in [
        format!("name=\"value_{court}\" type=\"text\""),
        format!("name=\"value_{estimate}\" type=\"number\""),
        format!("<select id=\"cf-value-{urgent}\" name=\"value_{urgent}\">"),
        format!("name=\"sharing_{court}\""),
        "Share read-only".to_owned(),
        "Share editable".to_owned(),
        "Make all fields editable".to_owned(),
        "Hide all fields".to_owned(),
        "Apply the same settings to all files of this type".to_owned(),
    ] {
        assert!(html.contains(&expected), "{expected} in the section");
    }
    assert!(
        !html.contains("style=") && !html.contains("<script>"),
        "strict CSP: no inline style or script"
    );
    let csrf = csrf_of(&html);

    // Save values and sharing in one form.
    let saved = admin
        .client
        .post(&section_url)
        .header("origin", &origin)
        .form(&[
            ("csrf", csrf.as_str()),
            (&format!("value_{court}"), "High Court"),
            (&format!("sharing_{court}"), "read_only"),
            (&format!("value_{estimate}"), "250.00"),
            (&format!("sharing_{estimate}"), "editable"),
            (&format!("value_{urgent}"), ""),
            (&format!("sharing_{urgent}"), "hidden"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        saved.headers()["location"].to_str().unwrap(),
        format!("/firm/files/{file}/custom-fields?done=saved")
    );
    let fields = file_fields(&app, &admin, file).await;
    assert_eq!(field(&fields, &court)["value"], "High Court");
    assert_eq!(field(&fields, &court)["sharing"], "read_only");
    assert_eq!(field(&fields, &estimate)["value"], "250.00");
    assert_eq!(field(&fields, &estimate)["sharing"], "editable");
    assert!(field(&fields, &urgent)["value"].is_null());

    // From the file page, the form returns there.
    let from_file = admin
        .client
        .post(&section_url)
        .header("origin", &origin)
        .form(&[
            ("csrf", csrf.as_str()),
            ("return", "file"),
            (&format!("value_{court}"), "High Court"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(from_file.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        from_file.headers()["location"].to_str().unwrap(),
        format!("/firm/files/{file}?done=saved#custom-fields")
    );

    // An invalid value: nothing is saved (not even the valid ones), the message names the field.
    let refused = admin
        .client
        .post(&section_url)
        .header("origin", &origin)
        .form(&[
            ("csrf", csrf.as_str()),
            (&format!("value_{court}"), "Crown Court"),
            (&format!("value_{estimate}"), "12,50"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    assert!(html.contains("Fee estimate: expected a decimal number such as 12.50"));
    assert!(
        html.contains("value=\"Crown Court\""),
        "what was typed is kept"
    );
    assert_eq!(
        field(&file_fields(&app, &admin, file).await, &court)["value"],
        "High Court"
    );

    // Without CSRF: 403, nothing saved.
    let forged = admin
        .client
        .post(&section_url)
        .header("origin", &origin)
        .form(&[(format!("value_{court}").as_str(), "Forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        field(&file_fields(&app, &admin, file).await, &court)["value"],
        "High Court"
    );

    // The client's "More" section: read-only as text, editable as a form.
    let client_url = app.firm_url(&admin.slug, &format!("/files/{file}/custom-fields"));
    let page = client.client.get(&client_url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("High Court"));
    assert!(
        !html.contains(&format!("/custom-fields/{court}\"")),
        "no form for a read-only field"
    );
    assert!(html.contains(&format!(
        "action=\"/files/{file}/custom-fields/{estimate}\""
    )));
    assert!(
        !html.contains("Urgent"),
        "hidden fields are not on the page"
    );
    let client_csrf = csrf_of(&html);
    assert_eq!(client_csrf, client.csrf);
    let edit_url = app.firm_url(
        &admin.slug,
        &format!("/files/{file}/custom-fields/{estimate}"),
    );
    let saved = client
        .client
        .post(&edit_url)
        .header("origin", &origin)
        .form(&[("csrf", client_csrf.as_str()), ("value", "300")])
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let estimate_now = field(&file_fields(&app, &admin, file).await, &estimate).clone();
    assert_eq!(estimate_now["value"], "300");
    assert_eq!(estimate_now["updated_by"]["name"], "Chris Client");
    // The same section in the file page's "More" tab returns there after saving.
    let tab = client
        .client
        .get(app.firm_url(&admin.slug, &format!("/files/{file}?tab=more")))
        .send()
        .await
        .unwrap();
    assert_eq!(tab.status(), 200);
    let tab_html = tab.text().await.unwrap();
    assert!(tab_html.contains("High Court") && tab_html.contains("name=\"return\" value=\"file\""));
    let from_tab = client
        .client
        .post(&edit_url)
        .header("origin", &origin)
        .form(&[
            ("csrf", client_csrf.as_str()),
            ("value", "300"),
            ("return", "file"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(from_tab.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        from_tab.headers()["location"].to_str().unwrap(),
        format!("/files/{file}?tab=more&done=fields#custom-fields")
    );
    let member_html = admin
        .client
        .get(&section_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(member_html.contains("Last changed by Chris Client (client, in the Portal)"));
    let invalid = client
        .client
        .post(&edit_url)
        .header("origin", &origin)
        .form(&[("csrf", client_csrf.as_str()), ("value", "three hundred")])
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        invalid
            .text()
            .await
            .unwrap()
            .contains("Fee estimate: expected a decimal number")
    );
    let no_csrf = client
        .client
        .post(&edit_url)
        .header("origin", &origin)
        .form(&[("value", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(no_csrf.status(), StatusCode::FORBIDDEN);
    let cross = client
        .client
        .post(&edit_url)
        .header("origin", app.portal_url("elsewhere"))
        .form(&[("csrf", client_csrf.as_str()), ("value", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    let read_only = client
        .client
        .post(app.firm_url(&admin.slug, &format!("/files/{file}/custom-fields/{court}")))
        .header("origin", &origin)
        .form(&[("csrf", client_csrf.as_str()), ("value", "Mine")])
        .send()
        .await
        .unwrap();
    assert_eq!(read_only.status(), StatusCode::FORBIDDEN);
    assert!(
        read_only
            .text()
            .await
            .unwrap()
            .contains("read-only in the Portal")
    );
    let hidden = client
        .client
        .post(app.firm_url(
            &admin.slug,
            &format!("/files/{file}/custom-fields/{urgent}"),
        ))
        .header("origin", &origin)
        .form(&[("csrf", client_csrf.as_str()), ("value", "true")])
        .send()
        .await
        .unwrap();
    assert_eq!(hidden.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        field(&file_fields(&app, &admin, file).await, &estimate)["value"],
        "300"
    );
    assert!(field(&file_fields(&app, &admin, file).await, &urgent)["value"].is_null());

    // Bulk buttons.
    let bulk_url = app.firm_url(
        &admin.slug,
        &format!("/firm/files/{file}/custom-fields/portal"),
    );
    let done = admin
        .client
        .post(&bulk_url)
        .header("origin", &origin)
        .form(&[
            ("csrf", csrf.as_str()),
            ("action", "make_all_editable"),
            ("apply_to_file_type", "on"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert!(
        file_fields(&app, &admin, file)
            .await
            .iter()
            .all(|f| f["sharing"] == "editable")
    );
    let done = admin
        .client
        .post(&bulk_url)
        .header("origin", &origin)
        .form(&[("csrf", csrf.as_str()), ("action", "hide_all")])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert!(
        file_fields(&app, &admin, file)
            .await
            .iter()
            .all(|f| f["sharing"] == "hidden")
    );
    let forged = admin
        .client
        .post(&bulk_url)
        .header("origin", &origin)
        .form(&[("action", "make_all_editable")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(
        file_fields(&app, &admin, file)
            .await
            .iter()
            .all(|f| f["sharing"] == "hidden")
    );
    let client_html = client
        .client
        .get(&client_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(client_html.contains("Nothing more has been shared with you"));

    // A member without the Portal right sees the menus disabled and cannot change them.
    let plain = app.member(&admin, "Pat Plain", false, false).await;
    app.firm_api(&admin, Method::PATCH, &format!("/files/{file}"))
        .json(&json!({"member_ids": [plain.member_id]}))
        .send()
        .await
        .unwrap();
    let plain_html = plain
        .client
        .get(app.firm_url(&plain.slug, &format!("/firm/files/{file}/custom-fields")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(plain_html.contains(&format!(
        "name=\"sharing_{court}\" aria-label=\"Portal sharing of Court\" disabled"
    )));
    assert!(plain_html.contains("not permitted to share items"));
    let refused = plain
        .client
        .post(app.firm_url(&plain.slug, &format!("/firm/files/{file}/custom-fields")))
        .header("origin", &origin)
        .form(&[
            ("csrf", csrf_of(&plain_html).as_str()),
            (&format!("sharing_{court}"), "editable"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(stored_sharing(&app, file, &court).await, Some("hidden"));

    // Files the member cannot access, and files not shared with the client: 404 pages.
    let outsider_file = app.file(&admin, "2026-009", admin.member_id, &[]).await;
    let no_access = plain
        .client
        .get(app.firm_url(
            &plain.slug,
            &format!("/firm/files/{outsider_file}/custom-fields"),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(no_access.status(), StatusCode::NOT_FOUND);
    let not_shared = client
        .client
        .get(app.firm_url(
            &admin.slug,
            &format!("/files/{outsider_file}/custom-fields"),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(not_shared.status(), StatusCode::NOT_FOUND);
}
