//! Documents on files: streamed, encrypted uploads (size limit counted as bytes arrive, type
//! recognised from the content, generated blob names), verified downloads and their headers,
//! who sees which document (clients, other clients, other firms, members without access,
//! anonymous callers), Show in Portal / Remove from Portal and its right, the HTML forms, and
//! the sweeper.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use portico_platform::ids::{FileId, MemberId, TenantId};
use reqwest::Method;
use reqwest::multipart::{Form, Part};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::firm::FirmSession;
use crate::support::portal::ClientSession;
use crate::support::{TestApp, expect_problem};

on_both_backends!(
    member_and_client_round_trip,
    stored_blobs_are_encrypted_and_tamper_evident,
    a_version_known_whole_is_not_read_twice_and_any_change_is,
    blobs_do_not_open_under_another_row,
    uploads_over_the_limit_are_refused,
    types_are_recognised_from_the_content,
    filenames_never_reach_the_disk,
    who_sees_which_document,
    client_uploads_are_shared_and_attributed,
    sharing_needs_the_portal_right,
    sharing_follows_the_firm_options,
    html_forms_upload_share_and_download,
    sweeper_removes_orphans_and_stale_temp_files,
);

// ---- helpers ------------------------------------------------------------------------------------

fn pdf(marker: &str) -> Vec<u8> {
    format!("%PDF-1.7\n% {marker}\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n")
        .into_bytes()
}

fn file_form(filename: &str, bytes: &[u8], fields: &[(&str, &str)]) -> Form {
    let mut form = Form::new();
    for (name, value) in fields {
        form = form.text(name.to_string(), value.to_string());
    }
    form.part(
        "file",
        Part::bytes(bytes.to_vec()).file_name(filename.to_owned()),
    )
}

async fn firm_upload(
    app: &TestApp,
    s: &FirmSession,
    file: Uuid,
    filename: &str,
    bytes: &[u8],
    fields: &[(&str, &str)],
) -> reqwest::Response {
    app.firm_api(s, Method::POST, &format!("/files/{file}/documents"))
        .multipart(file_form(filename, bytes, fields))
        .send()
        .await
        .unwrap()
}

async fn client_upload(
    app: &TestApp,
    c: &ClientSession,
    file: Uuid,
    filename: &str,
    bytes: &[u8],
) -> reqwest::Response {
    app.portal_api(c, Method::POST, &format!("/files/{file}/documents"))
        .multipart(file_form(filename, bytes, &[]))
        .send()
        .await
        .unwrap()
}

async fn created(response: reqwest::Response) -> Value {
    let status = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(status, 201, "upload: {body}");
    serde_json::from_str(&body).unwrap()
}

fn id_of(document: &Value) -> String {
    document["id"].as_str().unwrap().to_owned()
}

async fn firm_content(app: &TestApp, s: &FirmSession, doc: &str) -> reqwest::Response {
    app.firm_api(s, Method::GET, &format!("/documents/{doc}/content"))
        .send()
        .await
        .unwrap()
}

async fn client_content(app: &TestApp, c: &ClientSession, doc: &str) -> reqwest::Response {
    app.portal_api(c, Method::GET, &format!("/documents/{doc}/content"))
        .send()
        .await
        .unwrap()
}

async fn bytes_of(response: reqwest::Response) -> Vec<u8> {
    assert_eq!(response.status(), 200, "download");
    response.bytes().await.unwrap().to_vec()
}

async fn firm_list(app: &TestApp, s: &FirmSession, file: Uuid) -> Vec<Value> {
    let response = app
        .firm_api(s, Method::GET, &format!("/files/{file}/documents"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "firm list");
    response.json().await.unwrap()
}

async fn client_list(app: &TestApp, c: &ClientSession, file: Uuid) -> reqwest::Response {
    app.portal_api(c, Method::GET, &format!("/files/{file}/documents"))
        .send()
        .await
        .unwrap()
}

async fn set_portal(app: &TestApp, s: &FirmSession, doc: &str, shared: bool) -> reqwest::Response {
    app.firm_api(s, Method::PUT, &format!("/documents/{doc}/portal"))
        .json(&json!({ "shared": shared }))
        .send()
        .await
        .unwrap()
}

/// Changes some Client Portal options (administrators only).
async fn set_options(app: &TestApp, admin: &FirmSession, changes: Value) {
    let mut options: Value = app
        .firm_api(admin, Method::GET, "/options/client-portal")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let object = options.as_object_mut().unwrap();
    object.remove("portal_url");
    object.remove("has_logo");
    for (key, value) in changes.as_object().unwrap() {
        object.insert(key.clone(), value.clone());
    }
    let response = app
        .firm_api(admin, Method::PUT, "/options/client-portal")
        .json(&options)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "options saved");
}

async fn one_string(app: &TestApp, sql: &str, values: Vec<sea_orm::Value>) -> String {
    let db = app.owner_db().await;
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            app.sql(sql),
            values,
        ))
        .await
        .unwrap()
        .expect("a row");
    let value: String = row.try_get("", "v").unwrap();
    db.close().await.ok();
    value
}

async fn one_bytes(app: &TestApp, sql: &str, values: Vec<sea_orm::Value>) -> Vec<u8> {
    let db = app.owner_db().await;
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            app.sql(sql),
            values,
        ))
        .await
        .unwrap()
        .expect("a row");
    let value: Vec<u8> = row.try_get("", "v").unwrap();
    db.close().await.ok();
    value
}

/// Runs an UPDATE with the owner's rights; it must change exactly one row.
async fn execute(app: &TestApp, sql: &str, values: Vec<sea_orm::Value>) {
    let db = app.owner_db().await;
    let result = db
        .execute_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            app.sql(sql),
            values,
        ))
        .await
        .unwrap();
    assert_eq!(result.rows_affected(), 1, "{sql}");
    db.close().await.ok();
}

fn tenant_dir(app: &TestApp, tenant: Uuid) -> PathBuf {
    app.state.settings.storage.dir.join(tenant.to_string())
}

async fn blob_path(app: &TestApp, tenant: Uuid, doc: &str) -> PathBuf {
    let name = one_string(
        app,
        "SELECT blob_name AS v FROM document WHERE id = $1",
        vec![Uuid::parse_str(doc).unwrap().into()],
    )
    .await;
    tenant_dir(app, tenant).join(name)
}

/// Names of the files in a firm's blob directory.
fn stored_files(app: &TestApp, tenant: Uuid) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(tenant_dir(app, tenant)) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

async fn documents_of(app: &TestApp, tenant: Uuid) -> i64 {
    app.count(
        "SELECT COUNT(*) AS n FROM document WHERE tenant_id = $1",
        vec![tenant.into()],
    )
    .await
}

async fn audit_count(app: &TestApp, tenant: Uuid, action: &str) -> i64 {
    app.count(
        "SELECT COUNT(*) AS n FROM audit_log WHERE tenant_id = $1 AND action = $2",
        vec![tenant.into(), action.into()],
    )
    .await
}

/// A multipart body with the parts in the given order: `(name, filename, content)`.
fn multipart_bytes(boundary: &str, parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, filename, content) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match filename {
            Some(filename) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n\
                     Content-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    body
}

// ---- round trips --------------------------------------------------------------------------------

/// Members and clients upload and download the exact bytes; documents of several chunks and
/// concurrent first uploads (one firm key) work.
async fn member_and_client_round_trip(app: TestApp) {
    let (admin, client, contact, file) = app.firm_with_client().await;

    // The firm's first uploads race for its key: one key is stored, all documents open.
    let mut uploads = Vec::new();
    for i in 0..3 {
        let (app, admin) = (&app, &admin);
        uploads.push(async move {
            let body = pdf(&format!("concurrent {i}"));
            let document =
                created(firm_upload(app, admin, file, &format!("c{i}.pdf"), &body, &[]).await)
                    .await;
            (document, body)
        });
    }
    let concurrent = futures::future::join_all(uploads).await;
    assert_eq!(
        app.count(
            "SELECT COUNT(*) AS n FROM tenant_key WHERE tenant_id = $1",
            vec![admin.tenant_id.into()]
        )
        .await,
        1
    );
    for (document, body) in &concurrent {
        assert_eq!(
            bytes_of(firm_content(&app, &admin, &id_of(document)).await).await,
            *body
        );
    }

    // A member's document of several chunks (not a multiple of the chunk size), shared.
    let big: Vec<u8> = {
        let mut text = Vec::new();
        let mut i = 0u64;
        while text.len() < 3 * 1024 * 1024 + 7 {
            text.extend_from_slice(format!("line {i}: the quick brown fox\n").as_bytes());
            i += 1;
        }
        text.truncate(3 * 1024 * 1024 + 7);
        text
    };
    let document = created(
        firm_upload(
            &app,
            &admin,
            file,
            "big.txt",
            &big,
            &[("title", "Witness statements"), ("shared", "true")],
        )
        .await,
    )
    .await;
    assert_eq!(document["title"], "Witness statements");
    assert_eq!(document["filename"], "big.txt");
    assert_eq!(document["content_type"], "text/plain; charset=utf-8");
    assert_eq!(document["size_bytes"], big.len() as u64);
    assert_eq!(document["shared"], true);
    assert_eq!(document["file_id"], file.to_string());
    assert_eq!(document["created_by"]["kind"], "member");
    assert_eq!(document["created_by"]["id"], admin.member_id.to_string());
    let big_id = id_of(&document);
    let response = firm_content(&app, &admin, &big_id).await;
    assert_eq!(
        response.headers()["content-length"],
        big.len().to_string().as_str()
    );
    assert_eq!(bytes_of(response).await, big);
    assert_eq!(
        bytes_of(client_content(&app, &client, &big_id).await).await,
        big
    );

    // The client's own upload, downloaded by both sides.
    let mine = b"Dear firm,\nplease find my notes attached.\n".to_vec();
    let uploaded = created(client_upload(&app, &client, file, "my notes.txt", &mine).await).await;
    assert_eq!(uploaded["added_by_me"], true);
    assert_eq!(uploaded["added_by"], "Chris Client");
    let mine_id = id_of(&uploaded);
    assert_eq!(
        bytes_of(client_content(&app, &client, &mine_id).await).await,
        mine
    );
    assert_eq!(
        bytes_of(firm_content(&app, &admin, &mine_id).await).await,
        mine
    );

    let listed = firm_list(&app, &admin, file).await;
    assert_eq!(listed.len(), 5);
    assert_eq!(listed[0]["id"], mine_id.as_str(), "newest first");
    assert_eq!(listed[0]["created_by"]["id"], contact.to_string());
    // The API description documents the upload as multipart and the download as binary.
    let spec: Value = app
        .http
        .get(app.operator_url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for side in ["firm", "portal"] {
        let upload = &spec["paths"][format!("/{side}/files/{{id}}/documents")]["post"];
        assert!(
            upload["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]["file"]
                .is_object(),
            "{side}: {upload}"
        );
        let download = &spec["paths"][format!("/{side}/documents/{{id}}/content")]["get"];
        assert!(
            download["responses"]["200"]["content"]["*/*"].is_object(),
            "{side}: {download}"
        );
    }
    let one = app
        .firm_api(&admin, Method::GET, &format!("/documents/{big_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(one.status(), 200);
    assert_eq!(
        audit_count(&app, admin.tenant_id, "document.uploaded").await,
        5
    );
}

// ---- encryption at rest -------------------------------------------------------------------------

/// The blob holds no plaintext; one flipped byte makes the download a 500 that sends nothing.
async fn stored_blobs_are_encrypted_and_tamper_evident(app: TestApp) {
    let (admin, client, _, file) = app.firm_with_client().await;
    let marker = "PLAINTEXT-MARKER-7d1c2e";
    let body = pdf(&marker.repeat(4000));
    let document = created(
        firm_upload(
            &app,
            &admin,
            file,
            "secret.pdf",
            &body,
            &[("shared", "true")],
        )
        .await,
    )
    .await;
    let id = id_of(&document);
    let path = blob_path(&app, admin.tenant_id, &id).await;
    let stored = std::fs::read(&path).unwrap();
    assert!(stored.len() > body.len(), "ciphertext carries tags");
    assert!(
        !stored.windows(marker.len()).any(|w| w == marker.as_bytes()),
        "the blob holds no plaintext"
    );
    assert!(!stored.windows(5).any(|w| w == b"%PDF-"));
    // The wrapped keys in the database are not the plaintext either.
    let wrapped = one_bytes(
        &app,
        "SELECT wrapped_key AS v FROM document WHERE id = $1",
        vec![Uuid::parse_str(&id).unwrap().into()],
    )
    .await;
    assert_eq!(wrapped.len(), 61);
    assert_eq!(bytes_of(firm_content(&app, &admin, &id).await).await, body);

    // One flipped byte, in the middle of the second chunk.
    let mut tampered = stored.clone();
    let at = 12 + 64 * 1024 + 16 + 100;
    tampered[at] ^= 0x01;
    std::fs::write(&path, &tampered).unwrap();
    for response in [
        firm_content(&app, &admin, &id).await,
        client_content(&app, &client, &id).await,
    ] {
        assert_eq!(response.status(), 500);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        assert!(response.headers().get("content-disposition").is_none());
        let sent = response.bytes().await.unwrap();
        assert!(!sent.windows(marker.len()).any(|w| w == marker.as_bytes()));
        assert!(
            !sent.windows(5).any(|w| w == b"%PDF-"),
            "no content was sent"
        );
    }
    // The last byte (a tag) too.
    let mut tampered = stored.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x80;
    std::fs::write(&path, &tampered).unwrap();
    assert_eq!(firm_content(&app, &admin, &id).await.status(), 500);
    // Truncated by one chunk.
    std::fs::write(&path, &stored[..stored.len() - 200]).unwrap();
    assert_eq!(firm_content(&app, &admin, &id).await.status(), 500);
    // Restored: readable again.
    std::fs::write(&path, &stored).unwrap();
    assert_eq!(bytes_of(firm_content(&app, &admin, &id).await).await, body);
}

/// Sets a file's modification time (its change time moves, as with any write).
fn set_modified(path: &std::path::Path, modified: std::time::SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(modified)
        .unwrap();
}

async fn downloads(app: &TestApp, verification: &str) -> u64 {
    app.counter(&format!(
        "portico_document_downloads_total{{verification=\"{verification}\"}}"
    ))
    .await
}

/// The blob this process just wrote, or already read through, is sent without a verifying pass
/// first; a blob changed in place — even with its size and modification time put back — is
/// read through again and refused before any byte is sent.
async fn a_version_known_whole_is_not_read_twice_and_any_change_is(app: TestApp) {
    let (admin, _, _, file) = app.firm_with_client().await;
    let marker = "KNOWN-WHOLE-MARKER";
    let body = pdf(&marker.repeat(8000));
    let id = id_of(&created(firm_upload(&app, &admin, file, "a.pdf", &body, &[]).await).await);
    assert_eq!(bytes_of(firm_content(&app, &admin, &id).await).await, body);
    assert_eq!(bytes_of(firm_content(&app, &admin, &id).await).await, body);
    assert_eq!(downloads(&app, "known").await, 2, "written by this process");
    assert_eq!(downloads(&app, "full").await, 0);

    let path = blob_path(&app, admin.tenant_id, &id).await;
    let stored = std::fs::read(&path).unwrap();
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    let mut tampered = stored.clone();
    tampered[12 + 64 * 1024 + 16 + 7] ^= 0x01;
    std::fs::write(&path, &tampered).unwrap();
    set_modified(&path, modified);
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        modified
    );
    let refused = firm_content(&app, &admin, &id).await;
    assert_eq!(refused.status(), 500);
    let sent = refused.bytes().await.unwrap();
    assert!(!sent.windows(marker.len()).any(|w| w == marker.as_bytes()));
    assert_eq!(
        downloads(&app, "full").await,
        0,
        "a refused blob is not counted"
    );

    // Put back: read through once, then known again.
    std::fs::write(&path, &stored).unwrap();
    assert_eq!(bytes_of(firm_content(&app, &admin, &id).await).await, body);
    assert_eq!(downloads(&app, "full").await, 1);
    assert_eq!(bytes_of(firm_content(&app, &admin, &id).await).await, body);
    assert_eq!(downloads(&app, "known").await, 3);
}

/// A blob and its wrapped key copied under another document's row, or another firm's (even
/// with that firm's key row overwritten too), do not decrypt.
async fn blobs_do_not_open_under_another_row(app: TestApp) {
    let (admin, _, _, file) = app.firm_with_client().await;
    let (other_admin, _, _, other_file) = app.firm_with_client().await;
    let one = pdf("first document");
    let first = id_of(&created(firm_upload(&app, &admin, file, "one.pdf", &one, &[]).await).await);
    let second = id_of(
        &created(firm_upload(&app, &admin, file, "two.pdf", &pdf("second document"), &[]).await)
            .await,
    );
    let theirs = id_of(
        &created(
            firm_upload(
                &app,
                &other_admin,
                other_file,
                "theirs.pdf",
                &pdf("other firm"),
                &[],
            )
            .await,
        )
        .await,
    );
    let first_blob = std::fs::read(blob_path(&app, admin.tenant_id, &first).await).unwrap();
    let first_key = one_bytes(
        &app,
        "SELECT wrapped_key AS v FROM document WHERE id = $1",
        vec![Uuid::parse_str(&first).unwrap().into()],
    )
    .await;

    // Another document of the same firm.
    std::fs::write(blob_path(&app, admin.tenant_id, &second).await, &first_blob).unwrap();
    execute(
        &app,
        "UPDATE document SET wrapped_key = $1, size_bytes = $2 WHERE id = $3",
        vec![
            first_key.clone().into(),
            (one.len() as i64).into(),
            Uuid::parse_str(&second).unwrap().into(),
        ],
    )
    .await;
    assert_eq!(firm_content(&app, &admin, &second).await.status(), 500);

    // Another firm's document, with the first firm's key row copied over as well.
    std::fs::write(
        blob_path(&app, other_admin.tenant_id, &theirs).await,
        &first_blob,
    )
    .unwrap();
    execute(
        &app,
        "UPDATE document SET wrapped_key = $1, size_bytes = $2 WHERE id = $3",
        vec![
            first_key.into(),
            (one.len() as i64).into(),
            Uuid::parse_str(&theirs).unwrap().into(),
        ],
    )
    .await;
    assert_eq!(
        firm_content(&app, &other_admin, &theirs).await.status(),
        500
    );
    let firm_key = one_bytes(
        &app,
        "SELECT wrapped_key AS v FROM tenant_key WHERE tenant_id = $1",
        vec![admin.tenant_id.into()],
    )
    .await;
    execute(
        &app,
        "UPDATE tenant_key SET wrapped_key = $1 WHERE tenant_id = $2",
        vec![firm_key.into(), other_admin.tenant_id.into()],
    )
    .await;
    assert_eq!(
        firm_content(&app, &other_admin, &theirs).await.status(),
        500
    );

    // The original still opens where it belongs.
    assert_eq!(
        bytes_of(firm_content(&app, &admin, &first).await).await,
        one
    );
}

// ---- size limit ---------------------------------------------------------------------------------

/// Writes a raw HTTP/1.1 request whose `Content-Length` claims `declared` bytes while the body
/// is sent chunked (hyper frames by `Transfer-Encoding`), and returns the response's status.
async fn raw_chunked_upload(
    app: &TestApp,
    slug: &str,
    path: &str,
    token: &str,
    boundary: &str,
    body: Vec<u8>,
    declared: usize,
) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {slug}.localhost:{port}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {declared}\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        port = app.port()
    );
    let writer = tokio::spawn(async move {
        write.write_all(head.as_bytes()).await?;
        for chunk in body.chunks(16 * 1024) {
            write
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .await?;
            write.write_all(chunk).await?;
            write.write_all(b"\r\n").await?;
        }
        write.write_all(b"0\r\n\r\n").await?;
        write.flush().await
    });
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), read.read_to_end(&mut response)).await;
    let _ = writer.await;
    let text = String::from_utf8_lossy(&response);
    let status = text
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("no response: {text:?}"));
    status.parse().unwrap()
}

/// 413 over the firm's limit: with an honest Content-Length (declared too large, or within the
/// form's slack but with too large a file), with a lying Content-Length, and chunked; exactly
/// the limit is accepted. Refused uploads leave no row and no file.
async fn uploads_over_the_limit_are_refused(app: TestApp) {
    let (admin, client, _, file) = app.firm_with_client().await;
    set_options(&app, &admin, json!({"upload_limit_mb": 1})).await;
    let limit = 1024 * 1024;
    let text = |len: usize| "a".repeat(len).into_bytes();

    // Honest Content-Length, clearly too large (refused before the body is read).
    let detail = expect_problem(
        firm_upload(
            &app,
            &admin,
            file,
            "big.txt",
            &text(limit + 512 * 1024),
            &[],
        )
        .await,
        413,
    )
    .await;
    assert!(detail.contains("1 MB"), "{detail}");
    // Honest Content-Length within the form's slack, but the file passes the limit by a little.
    expect_problem(
        firm_upload(&app, &admin, file, "big.txt", &text(limit + 1), &[]).await,
        413,
    )
    .await;
    expect_problem(
        client_upload(&app, &client, file, "big.txt", &text(limit + 1)).await,
        413,
    )
    .await;

    // Chunked: no Content-Length at all.
    let boundary = "portico-test-boundary";
    let body = multipart_bytes(boundary, &[("file", Some("big.txt"), &text(2 * limit))]);
    let stream = futures_stream(body.clone());
    let response = app
        .firm_api(&admin, Method::POST, &format!("/files/{file}/documents"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    expect_problem(response, 413).await;

    // A Content-Length that lies (claims 1000 bytes) in front of a 2 MB chunked body.
    let status = raw_chunked_upload(
        &app,
        &admin.slug,
        &format!("/api/v1/firm/files/{file}/documents"),
        &admin.token,
        boundary,
        body,
        1000,
    )
    .await;
    assert_eq!(status, 413);

    assert_eq!(documents_of(&app, admin.tenant_id).await, 0);
    assert!(
        stored_files(&app, admin.tenant_id).is_empty(),
        "no blob or temp file left: {:?}",
        stored_files(&app, admin.tenant_id)
    );

    // Exactly the limit is accepted, also chunked.
    let exact = text(limit);
    let body = multipart_bytes(boundary, &[("file", Some("exact.txt"), &exact)]);
    let response = app
        .firm_api(&admin, Method::POST, &format!("/files/{file}/documents"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(reqwest::Body::wrap_stream(futures_stream(body)))
        .send()
        .await
        .unwrap();
    let document = created(response).await;
    assert_eq!(document["size_bytes"], limit as u64);
    assert_eq!(
        bytes_of(firm_content(&app, &admin, &id_of(&document)).await).await,
        exact
    );
    assert_eq!(documents_of(&app, admin.tenant_id).await, 1);
    assert_eq!(stored_files(&app, admin.tenant_id).len(), 1);
}

/// A body sent in 16 KiB pieces (reqwest sends it chunked).
fn futures_stream(
    body: Vec<u8>,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    let pieces: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(16 * 1024).map(|c| Ok(c.to_vec())).collect();
    futures::stream::iter(pieces)
}

// ---- types and names ----------------------------------------------------------------------------

/// The type comes from the content: HTML or EXE bodies named `.pdf` are 415, as are names that
/// contradict the content; accepted types are stored with the recognised type.
async fn types_are_recognised_from_the_content(app: TestApp) {
    let (admin, client, _, file) = app.firm_with_client().await;
    for (name, body) in [
        (
            "invoice.pdf",
            b"<!DOCTYPE html><html><script>alert(1)</script></html>".to_vec(),
        ),
        (
            "invoice.pdf",
            b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff".to_vec(),
        ),
        ("invoice.exe", pdf("a pdf named exe")),
        ("run.bat", b"del /s /q c:\\".to_vec()),
        (
            "picture.svg",
            b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>".to_vec(),
        ),
        (
            "archive.zip",
            b"PK\x03\x04\x14\x00\x00\x00\x08\x00payload.exe".to_vec(),
        ),
    ] {
        let detail =
            expect_problem(firm_upload(&app, &admin, file, name, &body, &[]).await, 415).await;
        assert!(detail.contains("accepted"), "{name}: {detail}");
    }
    expect_problem(
        client_upload(
            &app,
            &client,
            file,
            "statement.pdf",
            b"<html><body>hi</body></html>",
        )
        .await,
        415,
    )
    .await;
    let detail = expect_problem(
        firm_upload(&app, &admin, file, "empty.txt", b"", &[]).await,
        422,
    )
    .await;
    assert!(detail.contains("empty"), "{detail}");
    let missing = app
        .firm_api(&admin, Method::POST, &format!("/files/{file}/documents"))
        .multipart(Form::new().text("title", "no file"))
        .send()
        .await
        .unwrap();
    expect_problem(missing, 422).await;
    let not_multipart = app
        .firm_api(&admin, Method::POST, &format!("/files/{file}/documents"))
        .json(&json!({"file": "x"}))
        .send()
        .await
        .unwrap();
    expect_problem(not_multipart, 415).await;
    assert_eq!(documents_of(&app, admin.tenant_id).await, 0);
    assert!(stored_files(&app, admin.tenant_id).is_empty());

    let png =
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
            .to_vec();
    let docx = {
        let mut zip = b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00".to_vec();
        zip.extend_from_slice(&[0u8; 16]);
        zip.extend_from_slice(b"[Content_Types].xml");
        zip.extend_from_slice(b"<Types/>PK\x03\x04word/document.xml");
        zip
    };
    for (name, body, content_type) in [
        ("scan.PNG", png, "image/png"),
        ("contract.pdf", pdf("contract"), "application/pdf"),
        (
            "letter.docx",
            docx.clone(),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        (
            "letter",
            docx,
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        (
            "old.doc",
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00".to_vec(),
            "application/msword",
        ),
        (
            "notes.txt",
            "Grüße aus Köln\n".as_bytes().to_vec(),
            "text/plain; charset=utf-8",
        ),
        (
            "figures.csv",
            b"a,b\n1,2\n".to_vec(),
            "text/csv; charset=utf-8",
        ),
    ] {
        let document = created(firm_upload(&app, &admin, file, name, &body, &[]).await).await;
        assert_eq!(document["content_type"], content_type, "{name}");
        let response = firm_content(&app, &admin, &id_of(&document)).await;
        assert_eq!(response.headers()["content-type"], content_type);
        assert_eq!(bytes_of(response).await, body);
    }
}

/// `../../etc/passwd` is stored under a generated blob name and downloads under a sanitized
/// name, with the download headers.
async fn filenames_never_reach_the_disk(app: TestApp) {
    let (admin, client, _, file) = app.firm_with_client().await;
    let body = b"root:x:0:0:root:/root:/bin/bash\n".to_vec();
    let document = created(
        firm_upload(
            &app,
            &admin,
            file,
            "../../etc/passwd",
            &body,
            &[("shared", "true")],
        )
        .await,
    )
    .await;
    assert_eq!(document["filename"], "passwd");
    assert_eq!(document["title"], "passwd");
    let id = id_of(&document);
    let path = blob_path(&app, admin.tenant_id, &id).await;
    assert!(path.exists());
    let blob_name = path.file_name().unwrap().to_string_lossy().into_owned();
    assert!(!blob_name.contains("passwd") && !blob_name.contains(".."));
    assert_eq!(path.parent().unwrap(), tenant_dir(&app, admin.tenant_id));
    // Nothing named after the upload anywhere under the store (or next to it).
    let root = app.state.settings.storage.dir.clone();
    assert!(!root.join("etc").exists() && !root.join("../etc/passwd").exists());
    assert!(
        stored_files(&app, admin.tenant_id)
            .iter()
            .all(|n| !n.contains("passwd"))
    );

    for response in [
        firm_content(&app, &admin, &id).await,
        client_content(&app, &client, &id).await,
    ] {
        let headers = response.headers().clone();
        assert_eq!(
            headers["content-disposition"],
            "attachment; filename=\"passwd\"; filename*=UTF-8''passwd"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["cache-control"], "no-store");
        assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
        assert_eq!(bytes_of(response).await, body);
    }

    let unicode = created(
        firm_upload(
            &app,
            &admin,
            file,
            "C:\\Akten\\Brief \u{202e}März\"2026\".pdf",
            &pdf("brief"),
            &[],
        )
        .await,
    )
    .await;
    assert_eq!(unicode["filename"], "Brief März_2026_.pdf");
    let response = firm_content(&app, &admin, &id_of(&unicode)).await;
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"Brief M_rz_2026_.pdf\"; filename*=UTF-8''Brief%20M%C3%A4rz_2026_.pdf"
    );
}

// ---- visibility ---------------------------------------------------------------------------------

async fn not_found_body(response: reqwest::Response) -> Vec<u8> {
    assert_eq!(response.status(), 404);
    response.bytes().await.unwrap().to_vec()
}

/// Clients see shared documents of files shared with them, and nothing else — 404 identical to
/// a missing id; other firms' clients get 404 (401 with a session from another host); members
/// without access to the file get 404; anonymous callers 401.
async fn who_sees_which_document(app: TestApp) {
    let (admin, client, _, file) = app.firm_with_client().await;
    let (other_client, _, other_file) = app.second_client(&admin).await;
    let (_, foreign_client, _, _) = app.firm_with_client().await;
    let outsider = app.member(&admin, "Nora Noaccess", false, true).await;

    let shared = id_of(
        &created(
            firm_upload(
                &app,
                &admin,
                file,
                "shared.pdf",
                &pdf("shared"),
                &[("shared", "true")],
            )
            .await,
        )
        .await,
    );
    let private = id_of(
        &created(firm_upload(&app, &admin, file, "private.pdf", &pdf("private"), &[]).await).await,
    );
    let theirs = id_of(
        &created(
            firm_upload(
                &app,
                &admin,
                other_file,
                "theirs.pdf",
                &pdf("theirs"),
                &[("shared", "true")],
            )
            .await,
        )
        .await,
    );
    let missing = Uuid::now_v7().to_string();

    // The owning client: shared documents only.
    let listed: Vec<Value> = client_list(&app, &client, file).await.json().await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|d| d["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![shared.as_str()]);
    assert_eq!(client_content(&app, &client, &shared).await.status(), 200);
    let missing_body = not_found_body(client_content(&app, &client, &missing).await).await;
    for invisible in [&private, &theirs] {
        let body = not_found_body(client_content(&app, &client, invisible).await).await;
        assert_eq!(body, missing_body, "identical to a missing id");
    }
    let missing_file = not_found_body(client_list(&app, &client, Uuid::now_v7()).await).await;
    assert_eq!(
        not_found_body(client_list(&app, &client, other_file).await).await,
        missing_file
    );
    assert_eq!(missing_file, missing_body);
    // Nor can the client upload to a file not shared with them.
    expect_problem(
        client_upload(&app, &client, other_file, "x.txt", b"hello").await,
        404,
    )
    .await;

    // Another client of the same firm.
    for doc in [&shared, &private] {
        assert_eq!(
            not_found_body(client_content(&app, &other_client, doc).await).await,
            missing_body
        );
    }
    assert_eq!(
        not_found_body(client_list(&app, &other_client, file).await).await,
        missing_body
    );
    let theirs_listed: Vec<Value> = client_list(&app, &other_client, other_file)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs_listed.len(), 1);

    // A client of another firm: 404 on their own host, 401 with their session on this host.
    let foreign = app
        .http
        .get(app.firm_url(
            &foreign_client.slug,
            &format!("/api/v1/portal/documents/{shared}/content"),
        ))
        .bearer_auth(&foreign_client.token)
        .send()
        .await
        .unwrap();
    assert_eq!(not_found_body(foreign).await, missing_body);
    let cross_host = app
        .http
        .get(app.firm_url(
            &admin.slug,
            &format!("/api/v1/portal/documents/{shared}/content"),
        ))
        .bearer_auth(&foreign_client.token)
        .send()
        .await
        .unwrap();
    expect_problem(cross_host, 401).await;

    // A member without access to the file.
    let member_missing = not_found_body(firm_content(&app, &outsider, &missing).await).await;
    for response in [
        firm_content(&app, &outsider, &shared).await,
        app.firm_api(&outsider, Method::GET, &format!("/documents/{shared}"))
            .send()
            .await
            .unwrap(),
        app.firm_api(&outsider, Method::GET, &format!("/files/{file}/documents"))
            .send()
            .await
            .unwrap(),
        set_portal(&app, &outsider, &private, true).await,
        firm_upload(&app, &outsider, file, "x.txt", b"hello", &[]).await,
    ] {
        assert_eq!(not_found_body(response).await, member_missing);
    }
    // Once assigned to the file, the member sees every document of it.
    let response = app
        .firm_api(&admin, Method::PATCH, &format!("/files/{file}"))
        .json(&json!({"member_ids": [outsider.member_id]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(firm_list(&app, &outsider, file).await.len(), 2);
    assert_eq!(firm_content(&app, &outsider, &private).await.status(), 200);

    // Anonymous callers.
    for path in [
        format!("/api/v1/portal/documents/{shared}/content"),
        format!("/api/v1/portal/files/{file}/documents"),
        format!("/api/v1/firm/documents/{shared}/content"),
        format!("/api/v1/firm/files/{file}/documents"),
    ] {
        let response = app
            .http
            .get(app.firm_url(&admin.slug, &path))
            .send()
            .await
            .unwrap();
        expect_problem(response, 401).await;
    }

    // Remove from Portal: gone for the client at once.
    assert_eq!(set_portal(&app, &admin, &shared, false).await.status(), 200);
    let listed: Vec<Value> = client_list(&app, &client, file).await.json().await.unwrap();
    assert!(listed.is_empty());
    assert_eq!(
        not_found_body(client_content(&app, &client, &shared).await).await,
        missing_body
    );
}

/// A client's upload is shared automatically, attributed to the client, and visible at once to
/// the members with access to the file (and only to them).
async fn client_uploads_are_shared_and_attributed(app: TestApp) {
    let (admin, client, contact, file) = app.firm_with_client().await;
    let assigned = app.member(&admin, "Ava Assigned", false, false).await;
    let outsider = app.member(&admin, "Oscar Outside", false, false).await;
    let response = app
        .firm_api(&admin, Method::PATCH, &format!("/files/{file}"))
        .json(&json!({"member_ids": [assigned.member_id]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let body = pdf("signed engagement letter");
    let uploaded = created(
        app.portal_api(&client, Method::POST, &format!("/files/{file}/documents"))
            .multipart(file_form(
                "engagement.pdf",
                &body,
                &[("title", "Engagement letter (signed)"), ("shared", "false")],
            ))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let id = id_of(&uploaded);
    for member in [&admin, &assigned] {
        let listed = firm_list(&app, member, file).await;
        assert_eq!(listed.len(), 1);
        let doc = &listed[0];
        assert_eq!(doc["id"], id.as_str());
        assert_eq!(doc["title"], "Engagement letter (signed)");
        assert_eq!(
            doc["shared"], true,
            "client uploads are shared whatever they send"
        );
        assert_eq!(doc["created_by"]["kind"], "client");
        assert_eq!(doc["created_by"]["id"], contact.to_string());
        assert_eq!(doc["created_by"]["name"], "Chris Client");
        assert_eq!(bytes_of(firm_content(&app, member, &id).await).await, body);
    }
    expect_problem(
        app.firm_api(&outsider, Method::GET, &format!("/files/{file}/documents"))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    assert_eq!(
        app.count(
            "SELECT COUNT(*) AS n FROM audit_log WHERE tenant_id = $1 AND action = 'document.uploaded' AND actor_kind = 'client' AND actor_id = $2",
            vec![admin.tenant_id.into(), contact.into()]
        )
        .await,
        1
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) AS n FROM activity WHERE tenant_id = $1 AND kind = 'client_activity' AND action = 'document.added'",
            vec![admin.tenant_id.into()]
        )
        .await,
        1
    );
}

/// Show in Portal / Remove from Portal need the member's Portal right (also when uploading a
/// document shared); the changes are audited.
async fn sharing_needs_the_portal_right(app: TestApp) {
    let (admin, client, _, file) = app.firm_with_client().await;
    let clerk = app.member(&admin, "Carl Clerk", false, false).await;
    let response = app
        .firm_api(&admin, Method::PATCH, &format!("/files/{file}"))
        .json(&json!({"member_ids": [clerk.member_id]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let detail = expect_problem(
        firm_upload(
            &app,
            &clerk,
            file,
            "memo.pdf",
            &pdf("memo"),
            &[("shared", "true")],
        )
        .await,
        403,
    )
    .await;
    assert!(detail.contains("not permitted to share"), "{detail}");
    // `shared` sent after the file is checked before the row is written.
    let late = reqwest::multipart::Form::new()
        .part("file", Part::bytes(pdf("memo")).file_name("memo.pdf"))
        .text("shared", "true");
    let response = app
        .firm_api(&clerk, Method::POST, &format!("/files/{file}/documents"))
        .multipart(late)
        .send()
        .await
        .unwrap();
    expect_problem(response, 403).await;
    assert_eq!(documents_of(&app, admin.tenant_id).await, 0);
    assert!(stored_files(&app, admin.tenant_id).is_empty());

    let memo =
        id_of(&created(firm_upload(&app, &clerk, file, "memo.pdf", &pdf("memo"), &[]).await).await);
    let detail = expect_problem(set_portal(&app, &clerk, &memo, true).await, 403).await;
    assert!(detail.contains("not permitted to share"), "{detail}");
    assert_eq!(client_content(&app, &client, &memo).await.status(), 404);

    let shown = set_portal(&app, &admin, &memo, true).await;
    assert_eq!(shown.status(), 200);
    let shown: Value = shown.json().await.unwrap();
    assert_eq!(shown["shared"], true);
    assert_eq!(client_content(&app, &client, &memo).await.status(), 200);
    // Setting the same flag again changes and records nothing.
    assert_eq!(set_portal(&app, &admin, &memo, true).await.status(), 200);
    expect_problem(set_portal(&app, &clerk, &memo, false).await, 403).await;
    assert_eq!(client_content(&app, &client, &memo).await.status(), 200);
    assert_eq!(set_portal(&app, &admin, &memo, false).await.status(), 200);
    assert_eq!(client_content(&app, &client, &memo).await.status(), 404);
    assert_eq!(
        audit_count(&app, admin.tenant_id, "document.shared").await,
        1
    );
    assert_eq!(
        audit_count(&app, admin.tenant_id, "document.unshared").await,
        1
    );
}

/// Without `documents` in the firm's shareable kinds: members cannot show documents in the
/// Portal (403), clients cannot upload (403) and see none; Remove from Portal still works.
async fn sharing_follows_the_firm_options(app: TestApp) {
    let (admin, client, _, file) = app.firm_with_client().await;
    let shared = id_of(
        &created(
            firm_upload(
                &app,
                &admin,
                file,
                "a.pdf",
                &pdf("a"),
                &[("shared", "true")],
            )
            .await,
        )
        .await,
    );
    let private =
        id_of(&created(firm_upload(&app, &admin, file, "b.pdf", &pdf("b"), &[]).await).await);
    set_options(&app, &admin, json!({"shareable_kinds": ["notes", "tasks"]})).await;

    let detail = expect_problem(set_portal(&app, &admin, &private, true).await, 403).await;
    assert!(detail.contains("does not share documents"), "{detail}");
    expect_problem(
        firm_upload(
            &app,
            &admin,
            file,
            "c.pdf",
            &pdf("c"),
            &[("shared", "true")],
        )
        .await,
        403,
    )
    .await;
    let detail = expect_problem(
        client_upload(&app, &client, file, "d.txt", b"hello").await,
        403,
    )
    .await;
    assert!(detail.contains("does not accept documents"), "{detail}");
    let listed: Vec<Value> = client_list(&app, &client, file).await.json().await.unwrap();
    assert!(listed.is_empty());
    assert_eq!(client_content(&app, &client, &shared).await.status(), 404);
    // Members keep working with documents, and may still remove one from the Portal.
    created(firm_upload(&app, &admin, file, "e.pdf", &pdf("e"), &[]).await).await;
    assert_eq!(set_portal(&app, &admin, &shared, false).await.status(), 200);

    set_options(&app, &admin, json!({"shareable_kinds": ["documents"]})).await;
    assert_eq!(set_portal(&app, &admin, &private, true).await.status(), 200);
    let listed: Vec<Value> = client_list(&app, &client, file).await.json().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], private.as_str());
}

// ---- HTML ---------------------------------------------------------------------------------------

/// The file pages' forms: uploads (multipart with the CSRF field), Show in Portal, downloads,
/// for members and clients; no CSRF or another site's request changes nothing; the sections
/// render without inline script or style.
async fn html_forms_upload_share_and_download(app: TestApp) {
    let (admin, client, _, file) = app.firm_with_client().await;
    let boundary = "html-form-boundary";
    let post_form = |http: &reqwest::Client, url: String, body: Vec<u8>| {
        http.post(url)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
    };
    let content = pdf("from the form");

    // Refused: no CSRF field, a wrong one, the field after the file, or another site.
    let url = app.firm_url(&admin.slug, &format!("/firm/files/{file}/documents"));
    for (parts, cross_site) in [
        (vec![("file", Some("f.pdf"), &content[..])], false),
        (
            vec![
                ("csrf", None, &b"wrong"[..]),
                ("file", Some("f.pdf"), &content[..]),
            ],
            false,
        ),
        (
            vec![
                ("file", Some("f.pdf"), &content[..]),
                ("csrf", None, admin.csrf.as_bytes()),
            ],
            false,
        ),
        (
            vec![
                ("csrf", None, admin.csrf.as_bytes()),
                ("file", Some("f.pdf"), &content[..]),
            ],
            true,
        ),
    ] {
        let mut request = post_form(
            &admin.client,
            url.clone(),
            multipart_bytes(boundary, &parts),
        );
        if cross_site {
            request = request.header("sec-fetch-site", "cross-site");
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 403);
    }
    assert_eq!(documents_of(&app, admin.tenant_id).await, 0);
    assert!(stored_files(&app, admin.tenant_id).is_empty());

    // The member's form.
    let body = multipart_bytes(
        boundary,
        &[
            ("csrf", None, admin.csrf.as_bytes()),
            ("title", None, b"Court order"),
            ("file", Some("order.pdf"), &content),
        ],
    );
    let response = post_form(&admin.client, url.clone(), body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()["location"],
        format!("/firm/files/{file}#documents").as_str()
    );
    let listed = firm_list(&app, &admin, file).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["title"], "Court order");
    assert_eq!(listed[0]["shared"], false);
    let id = id_of(&listed[0]);
    // Over the limit or of a refused type: the error page says why.
    let response = post_form(
        &admin.client,
        url.clone(),
        multipart_bytes(
            boundary,
            &[
                ("csrf", None, admin.csrf.as_bytes()),
                ("file", Some("x.pdf"), b"<html>"),
            ],
        ),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 415);
    assert!(response.text().await.unwrap().contains("HTML"));

    // Show in Portal from the page.
    let shown = admin
        .client
        .post(app.firm_url(&admin.slug, &format!("/firm/documents/{id}/portal")))
        .form(&[("csrf", admin.csrf.as_str()), ("shared", "true")])
        .send()
        .await
        .unwrap();
    assert_eq!(shown.status(), 303);
    let refused = admin
        .client
        .post(app.firm_url(&admin.slug, &format!("/firm/documents/{id}/portal")))
        .form(&[("csrf", "wrong"), ("shared", "false")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(firm_list(&app, &admin, file).await[0]["shared"], true);

    // Downloads from the pages.
    let download = admin
        .client
        .get(app.firm_url(&admin.slug, &format!("/firm/documents/{id}/download")))
        .send()
        .await
        .unwrap();
    assert_eq!(download.headers()["x-content-type-options"], "nosniff");
    assert_eq!(bytes_of(download).await, content);
    let anonymous = app
        .http
        .get(app.firm_url(&admin.slug, &format!("/firm/documents/{id}/download")))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 303, "to the sign-in page");
    let download = client
        .client
        .get(app.firm_url(&client.slug, &format!("/documents/{id}/download")))
        .send()
        .await
        .unwrap();
    assert_eq!(bytes_of(download).await, content);
    let missing = client
        .client
        .get(app.firm_url(
            &client.slug,
            &format!("/documents/{}/download", Uuid::now_v7()),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    // The client's form.
    let client_url = app.firm_url(&client.slug, &format!("/files/{file}/documents"));
    let refused = post_form(
        &client.client,
        client_url.clone(),
        multipart_bytes(boundary, &[("file", Some("mine.txt"), b"hello")]),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(refused.status(), 403);
    let response = post_form(
        &client.client,
        client_url,
        multipart_bytes(
            boundary,
            &[
                ("csrf", None, client.csrf.as_bytes()),
                ("file", Some("mine.txt"), b"hello firm"),
            ],
        ),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()["location"],
        format!("/files/{file}?tab=documents&done=document").as_str()
    );
    assert_eq!(firm_list(&app, &admin, file).await.len(), 2);

    // The file pages show the sections.
    let page = admin
        .client
        .get(app.firm_url(&admin.slug, &format!("/firm/files/{file}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!("/firm/documents/{id}/download")),
        "{page}"
    );
    assert!(page.contains(&format!("action=\"/firm/files/{file}/documents\"")));
    let page = client
        .client
        .get(app.firm_url(&client.slug, &format!("/files/{file}?tab=documents")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!("/documents/{id}/download")),
        "{page}"
    );
    assert!(page.contains(&format!("action=\"/files/{file}/documents\"")));

    // The sections the file pages include.
    let state = &app.state;
    let tenant = state.registry.get(&admin.slug).await.unwrap();
    let db = state.db.tenant(TenantId::from_uuid(admin.tenant_id));
    let tx = db.read().await.unwrap();
    let member = portico_tenants::members::get(&tx, MemberId::from_uuid(admin.member_id))
        .await
        .unwrap()
        .unwrap();
    let (portal_client, _) =
        portico_tenants::portal_access::credentials_by_email(&tx, &client.email)
            .await
            .unwrap()
            .unwrap();
    tx.commit().await.unwrap();
    let file_id = FileId::from_uuid(file);
    let section = portico_web::pages::firm::documents::firm_section(
        state,
        &tenant,
        &db,
        &member,
        &admin.csrf,
        file_id,
    )
    .await;
    let html = render(&app, "firm_file_documents.html", &section).await;
    assert!(
        html.contains(&format!("/firm/documents/{id}/download")),
        "{html}"
    );
    assert!(
        html.contains("Remove from Portal") && html.contains("Show in Portal"),
        "{html}"
    );
    assert!(html.contains("enctype=\"multipart/form-data\""));
    assert!(html.contains(&format!("name=\"csrf\" value=\"{}\"", admin.csrf)));
    assert!(
        html.contains("(client)"),
        "the client's upload is attributed"
    );
    assert_no_inline_code(&html);
    let section = portico_web::pages::firm::documents::client_section(
        state,
        &tenant,
        &db,
        &portal_client,
        &client.csrf,
        file_id,
    )
    .await;
    let html = render(&app, "client_file_documents.html", &section).await;
    assert!(
        html.contains(&format!("/documents/{id}/download")),
        "{html}"
    );
    assert!(html.contains(&format!("action=\"/files/{file}/documents\"")));
    assert!(html.contains(&format!("name=\"csrf\" value=\"{}\"", client.csrf)));
    assert!(!html.contains("Show in Portal"));
    assert_no_inline_code(&html);
}

async fn render(app: &TestApp, template: &str, section: &impl serde::Serialize) -> String {
    let context = json!({ "documents": section, "firm": {"name": "Test firm"} });
    let response = app
        .state
        .templates
        .page(template, reqwest::StatusCode::OK, context);
    assert_eq!(response.status(), 200);
    String::from_utf8(response.into_body().into_vec().await.unwrap()).unwrap()
}

/// No `<script>`, `style=` or `on…=` handler attributes (the CSP allows neither).
fn assert_no_inline_code(html: &str) {
    assert!(
        !html.contains("<script") && !html.contains("style="),
        "{html}"
    );
    let handler = html.match_indices(" on").any(|(at, _)| {
        let rest = &html[at + 3..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase())
            .collect();
        !name.is_empty() && rest[name.len()..].starts_with('=')
    });
    assert!(!handler, "{html}");
}

// ---- sweeper ------------------------------------------------------------------------------------

/// The sweeper removes blobs without a row once they are old enough, and stale temp files;
/// documents keep their blobs; other firms are untouched.
async fn sweeper_removes_orphans_and_stale_temp_files(app: TestApp) {
    use portico_tenants::documents::{SweepPolicy, sweep};
    let (admin, _, _, file) = app.firm_with_client().await;
    let (other, _, _, other_file) = app.firm_with_client().await;
    let kept =
        id_of(&created(firm_upload(&app, &admin, file, "kept.pdf", &pdf("kept"), &[]).await).await);
    created(firm_upload(&app, &other, other_file, "other.pdf", &pdf("other"), &[]).await).await;
    let dir = tenant_dir(&app, admin.tenant_id);
    let old = SystemTime::now() - Duration::from_secs(2 * 60 * 60);
    let touch = |name: &str, modified: Option<SystemTime>| {
        let path = dir.join(name);
        std::fs::write(&path, b"leftover").unwrap();
        if let Some(modified) = modified {
            set_modified(&path, modified);
        }
    };
    touch("0123456789abcdef0123456789abcdef.blob", Some(old)); // orphan, old
    touch("fedcba9876543210fedcba9876543210.blob", None); // orphan, just written
    touch(".upload-stale", Some(old)); // interrupted upload
    touch(".upload-fresh", None); // upload in progress
    touch("not-ours.txt", Some(old)); // left alone

    let db = app.state.db.tenant(TenantId::from_uuid(admin.tenant_id));
    let tx = db.read().await.unwrap();
    let report = sweep(&tx, &app.state.blobs, &SweepPolicy::default())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!((report.orphans_removed, report.temps_removed), (1, 1));
    let left = stored_files(&app, admin.tenant_id);
    assert!(left.contains(&"fedcba9876543210fedcba9876543210.blob".to_owned()));
    assert!(left.contains(&".upload-fresh".to_owned()));
    assert!(left.contains(&"not-ours.txt".to_owned()));
    assert!(!left.contains(&".upload-stale".to_owned()));

    let tx = db.read().await.unwrap();
    let policy = SweepPolicy {
        orphan_min_age: Duration::ZERO,
        temp_min_age: Duration::from_secs(3600),
    };
    let report = sweep(&tx, &app.state.blobs, &policy).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!((report.orphans_removed, report.temps_removed), (1, 0));
    let blob = blob_path(&app, admin.tenant_id, &kept).await;
    let mut left = stored_files(&app, admin.tenant_id);
    left.sort();
    let mut expected = vec![
        ".upload-fresh".to_owned(),
        blob.file_name().unwrap().to_string_lossy().into_owned(),
        "not-ours.txt".to_owned(),
    ];
    expected.sort();
    assert_eq!(left, expected);
    assert_eq!(
        bytes_of(firm_content(&app, &admin, &kept).await).await,
        pdf("kept")
    );
    assert_eq!(
        stored_files(&app, other.tenant_id).len(),
        1,
        "the other firm is untouched"
    );
}
