//! Documents in an S3-compatible bucket (`storage.backend = "s3"`) against a real S3 server
//! (moto): uploads stream into the bucket (one PUT, or a multipart upload for larger
//! documents) under generated names in the firm's prefix, encrypted exactly as on disk;
//! members and clients download the exact bytes; a refused upload aborts its multipart upload
//! and leaves no object; the sweeper removes orphan objects; deleting a firm empties its prefix;
//! `/readyz` reports a bucket it cannot write to.

use std::time::Duration;

use portico_platform::config::StorageBackend;
use portico_platform::crypto::{CHUNK_LEN, HEADER_LEN, TAG_LEN};
use portico_platform::ids::TenantId;
use reqwest::Method;
use reqwest::multipart::{Form, Part};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends_with;
use crate::support::firm::FirmSession;
use crate::support::s3::S3Server;
use crate::support::{Backend, TestApp, expect_problem};

on_both_backends_with!(
    documents_stream_through_the_bucket,
    sweeper_and_firm_deletion_work_on_the_bucket,
    readiness_reports_a_bucket_it_cannot_write,
);

const BUCKET: &str = "portico-documents";

// ---- helpers ------------------------------------------------------------------------------------

/// A PDF-looking document of about `len` bytes that repeats `marker`.
fn pdf(marker: &str, len: usize) -> Vec<u8> {
    let mut body = format!("%PDF-1.7\n% {marker}\n").into_bytes();
    while body.len() < len {
        body.extend_from_slice(format!("% {marker} {}\n", body.len()).as_bytes());
    }
    body.extend_from_slice(b"trailer << >>\n%%EOF\n");
    body
}

async fn firm_upload(
    app: &TestApp,
    s: &FirmSession,
    file: Uuid,
    filename: &str,
    bytes: &[u8],
) -> Value {
    let form = Form::new().text("shared", "true").part(
        "file",
        Part::bytes(bytes.to_vec()).file_name(filename.to_owned()),
    );
    let response = app
        .firm_api(s, Method::POST, &format!("/files/{file}/documents"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(status, 201, "upload: {body}");
    serde_json::from_str(&body).unwrap()
}

fn id_of(document: &Value) -> String {
    document["id"].as_str().unwrap().to_owned()
}

async fn download(response: reqwest::Response) -> Vec<u8> {
    assert_eq!(response.status(), 200, "download");
    response.bytes().await.unwrap().to_vec()
}

async fn firm_content(app: &TestApp, s: &FirmSession, doc: &str) -> reqwest::Response {
    app.firm_api(s, Method::GET, &format!("/documents/{doc}/content"))
        .send()
        .await
        .unwrap()
}

async fn blob_name(app: &TestApp, doc: &str) -> String {
    let db = app.owner_db().await;
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            app.sql("SELECT blob_name AS v FROM document WHERE id = $1"),
            vec![Uuid::parse_str(doc).unwrap().into()],
        ))
        .await
        .unwrap()
        .expect("a document row");
    let name: String = row.try_get("", "v").unwrap();
    db.close().await.ok();
    name
}

fn is_generated_name(name: &str) -> bool {
    name.strip_suffix(".blob")
        .is_some_and(|stem| stem.len() == 32 && stem.chars().all(|c| c.is_ascii_hexdigit()))
}

/// What a blob of `len` plaintext bytes weighs: header, content, one tag per chunk.
fn sealed_len(len: usize) -> usize {
    HEADER_LEN + len + len.div_ceil(CHUNK_LEN).max(1) * TAG_LEN
}

async fn readyz(app: &TestApp) -> (u16, String) {
    let response = app
        .http
        .get(app.operator_url("/readyz"))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// Polls (up to 15 s) until `check` holds.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..150 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting until {what}");
}

// ---- uploads and downloads ----------------------------------------------------------------------

/// A small document is one PUT, a 12 MiB one a multipart upload; both download byte for byte
/// for the member and the client, are stored encrypted (same format as on disk) under generated
/// names in `<prefix>/<firm id>/`, and nothing lands in the local directory. A tampered object
/// is refused. An upload refused half-way (after its first part was sent) aborts its multipart
/// upload and leaves no object.
async fn documents_stream_through_the_bucket(backend: Backend) {
    let s3 = S3Server::start().await;
    s3.create_bucket(BUCKET).await;
    let app = TestApp::spawn_with(backend, s3.storage_settings(BUCKET, "portico/e2e")).await;
    assert_eq!(app.state.settings.storage_backend.kind, StorageBackend::S3);
    assert_eq!(readyz(&app).await.0, 200);
    let (admin, client, _, file) = app.firm_with_client().await;
    let prefix = format!("portico/e2e/{}/", admin.tenant_id);

    let small = pdf("SMALL-PLAINTEXT-MARKER", 200 * 1024);
    let large = pdf("LARGE-PLAINTEXT-MARKER", 12 * 1024 * 1024);
    let small_doc = id_of(&firm_upload(&app, &admin, file, "../../etc/brief.pdf", &small).await);
    let large_doc = id_of(&firm_upload(&app, &admin, file, "evidence.pdf", &large).await);

    for (doc, body) in [(&small_doc, &small), (&large_doc, &large)] {
        assert_eq!(&download(firm_content(&app, &admin, doc).await).await, body);
        let as_client = app
            .portal_api(&client, Method::GET, &format!("/documents/{doc}/content"))
            .send()
            .await
            .unwrap();
        assert_eq!(&download(as_client).await, body);
    }

    // The bucket holds exactly the two blobs, under the firm's prefix and generated names.
    let small_key = format!("{prefix}{}", blob_name(&app, &small_doc).await);
    let large_key = format!("{prefix}{}", blob_name(&app, &large_doc).await);
    let mut expected = vec![small_key.clone(), large_key.clone()];
    expected.sort();
    assert_eq!(
        s3.keys(BUCKET, "").await,
        expected,
        "nothing else in the bucket"
    );
    for (key, body, marker) in [
        (&small_key, &small, "SMALL-PLAINTEXT-MARKER"),
        (&large_key, &large, "LARGE-PLAINTEXT-MARKER"),
    ] {
        let name = key.strip_prefix(&prefix).unwrap();
        assert!(is_generated_name(name), "{name}");
        assert!(!key.contains("brief") && !key.contains("evidence") && !key.contains(".."));
        let stored = s3.get(BUCKET, key).await.expect("object");
        assert_eq!(&stored[..4], b"PDOC", "the blob format of the local store");
        assert_eq!(stored.len(), sealed_len(body.len()));
        assert!(
            !stored.windows(marker.len()).any(|w| w == marker.as_bytes()),
            "the stored object is encrypted"
        );
    }
    let local = app
        .state
        .blobs
        .tenant_dir(TenantId::from_uuid(admin.tenant_id));
    assert!(!local.exists(), "nothing stored in the local directory");

    // A tampered object is refused and nothing of it is sent; the original opens again.
    let original = s3.get(BUCKET, &small_key).await.unwrap();
    let mut tampered = original.clone();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x01;
    s3.put(BUCKET, &small_key, tampered).await;
    assert_eq!(firm_content(&app, &admin, &small_doc).await.status(), 500);
    s3.put(BUCKET, &small_key, original).await;
    assert_eq!(
        download(firm_content(&app, &admin, &small_doc).await).await,
        small
    );

    // A text file with a NUL byte after 6 MiB: its first part is already in the bucket's
    // multipart upload when the content check refuses it.
    let boundary = "portico-s3-boundary";
    let (mut sender, body) = futures::channel::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let request = app
        .firm_api(&admin, Method::POST, &format!("/files/{file}/documents"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(reqwest::Body::wrap_stream(body));
    let pending = tokio::spawn(request.send());
    use futures::SinkExt;
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"notes.txt\"\r\n\
         Content-Type: text/plain\r\n\r\n"
    );
    sender.send(Ok(head.into_bytes())).await.unwrap();
    for _ in 0..96 {
        sender.send(Ok(vec![b'a'; 64 * 1024])).await.unwrap();
    }
    eventually("the upload's multipart upload is in progress", || async {
        s3.multipart_uploads(BUCKET).await.len() == 1
    })
    .await;
    let started = s3.multipart_uploads(BUCKET).await;
    assert!(started[0].starts_with(&prefix), "{started:?}");
    sender.send(Ok(b"bad\0text".to_vec())).await.unwrap();
    sender
        .send(Ok(format!("\r\n--{boundary}--\r\n").into_bytes()))
        .await
        .unwrap();
    drop(sender);
    let response = pending.await.unwrap().unwrap();
    expect_problem(response, 415).await;
    eventually(
        "the refused upload's multipart upload is aborted",
        || async { s3.multipart_uploads(BUCKET).await.is_empty() },
    )
    .await;
    assert_eq!(
        s3.keys(BUCKET, "").await,
        expected,
        "no object from the refused upload"
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) AS n FROM document WHERE tenant_id = $1",
            vec![admin.tenant_id.into()]
        )
        .await,
        2
    );
}

// ---- sweeper and firm deletion ------------------------------------------------------------------

/// With firms at the bucket root (no prefix): the sweeper removes an orphan object once it is
/// old enough and leaves documents, foreign objects and other firms alone; deleting a firm
/// through the operator API empties its prefix and nothing else.
async fn sweeper_and_firm_deletion_work_on_the_bucket(backend: Backend) {
    use portico_tenants::documents::{SweepPolicy, sweep};
    let s3 = S3Server::start().await;
    s3.create_bucket(BUCKET).await;
    let app = TestApp::spawn_with(backend, s3.storage_settings(BUCKET, "")).await;
    let (admin, _, _, file) = app.firm_with_client().await;
    let (other, _, _, other_file) = app.firm_with_client().await;
    let kept = id_of(&firm_upload(&app, &admin, file, "kept.pdf", &pdf("kept", 1000)).await);
    let other_doc =
        id_of(&firm_upload(&app, &other, other_file, "other.pdf", &pdf("other", 1000)).await);
    let firm_prefix = format!("{}/", admin.tenant_id);
    let other_prefix = format!("{}/", other.tenant_id);
    let kept_key = format!("{firm_prefix}{}", blob_name(&app, &kept).await);
    let orphan_key = format!("{firm_prefix}0123456789abcdef0123456789abcdef.blob");
    let foreign_key = format!("{firm_prefix}not-ours.txt");
    s3.put(BUCKET, &orphan_key, b"leftover".to_vec()).await;
    s3.put(BUCKET, &foreign_key, b"leftover".to_vec()).await;

    let db = app.state.db.tenant(TenantId::from_uuid(admin.tenant_id));
    let tx = db.read().await.unwrap();
    let report = sweep(&tx, &app.state.blobs, &SweepPolicy::default())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        (report.orphans_removed, report.temps_removed),
        (0, 0),
        "a fresh orphan may belong to an upload about to commit"
    );
    let tx = db.read().await.unwrap();
    let policy = SweepPolicy {
        orphan_min_age: Duration::ZERO,
        temp_min_age: Duration::from_secs(3600),
    };
    let report = sweep(&tx, &app.state.blobs, &policy).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!((report.orphans_removed, report.temps_removed), (1, 0));
    let mut expected = vec![kept_key.clone(), foreign_key.clone()];
    expected.sort();
    assert_eq!(s3.keys(BUCKET, &firm_prefix).await, expected);
    assert_eq!(
        download(firm_content(&app, &admin, &kept).await).await,
        pdf("kept", 1000)
    );
    assert_eq!(
        s3.keys(BUCKET, &other_prefix).await.len(),
        1,
        "other firm untouched"
    );

    let deleted = app
        .operator_api(Method::DELETE, &format!("/tenants/{}", admin.slug))
        .json(&json!({"confirm": admin.slug}))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert!(
        s3.keys(BUCKET, &firm_prefix).await.is_empty(),
        "the firm's prefix is empty"
    );
    assert_eq!(
        s3.keys(BUCKET, "").await.len(),
        1,
        "only the other firm's blob is left"
    );
    assert_eq!(
        download(firm_content(&app, &other, &other_doc).await).await,
        pdf("other", 1000)
    );
}

// ---- readiness ----------------------------------------------------------------------------------

/// `/readyz` writes a probe into the bucket: 503 "storage" while the bucket is missing, 200
/// once it exists, and the probe does not stay behind.
async fn readiness_reports_a_bucket_it_cannot_write(backend: Backend) {
    let s3 = S3Server::start().await;
    let app = TestApp::spawn_with(backend, s3.storage_settings(BUCKET, "ready")).await;
    assert_eq!(readyz(&app).await, (503, "not ready: storage".to_owned()));
    s3.create_bucket(BUCKET).await;
    assert_eq!(readyz(&app).await, (200, "ready".to_owned()));
    assert!(s3.keys(BUCKET, "").await.is_empty(), "the probe is removed");
}
