//! Seeding through the public API only, the way a firm would fill Portico: the operator
//! onboards a firm, the administrator sets a password from the emailed link, opens files,
//! writes notes, issues invoices and invites clients, who accept from their emailed invitation
//! and sign in.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use futures::{StreamExt, TryStreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub const MEMBER_PASSWORD: &str = "correct horse battery staple 42";
pub const CLIENT_PASSWORD: &str = "my lawyer keeps my secrets 77";

/// Every `*.localhost` name is the loopback address (as browsers and curl do).
struct LoopbackResolver;

impl reqwest::dns::Resolve for LoopbackResolver {
    fn resolve(&self, _name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async {
            let addrs: reqwest::dns::Addrs =
                Box::new(std::iter::once(SocketAddr::from(([127, 0, 0, 1], 0))));
            Ok(addrs)
        })
    }
}

/// The API of one running Portico, reached by firm host names.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub port: u16,
    pub operator_token: String,
    mail: Mailbox,
}

impl Api {
    pub fn new(port: u16, operator_token: &str, mail_dir: PathBuf) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .dns_resolver(Arc::new(LoopbackResolver))
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(120))
            .pool_max_idle_per_host(64)
            .build()?;
        Ok(Self {
            http,
            port,
            operator_token: operator_token.to_owned(),
            mail: Mailbox::new(mail_dir),
        })
    }

    pub fn host(&self, slug: &str) -> String {
        format!("{slug}.localhost:{}", self.port)
    }

    pub fn url(&self, slug: &str, path: &str) -> String {
        format!("http://{slug}.localhost:{}{path}", self.port)
    }

    pub fn operator_url(&self, path: &str) -> String {
        format!("http://localhost:{}{path}", self.port)
    }

    /// Sends a JSON request; returns the status and the answer's text.
    async fn send(
        &self,
        method: &Method,
        url: &str,
        bearer: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<(StatusCode, String)> {
        let mut request = self.http.request(method.clone(), url);
        if !bearer.is_empty() {
            request = request.bearer_auth(bearer);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {url}"))?;
        let status = response.status();
        Ok((status, response.text().await?))
    }

    /// Sends a JSON request and insists on `expect`; returns the JSON answer (or Null).
    pub async fn call(
        &self,
        method: Method,
        url: &str,
        bearer: &str,
        body: Option<Value>,
        expect: u16,
    ) -> anyhow::Result<Value> {
        let (status, text) = self.send(&method, url, bearer, body.as_ref()).await?;
        if status != StatusCode::from_u16(expect)? {
            bail!("{method} {url}: {status} (expected {expect}): {text}");
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// How many emails the file transport has written.
    pub fn mail_count(&self) -> usize {
        self.mail.count()
    }

    /// Operator: `POST /api/v1/platform/tenants`.
    pub async fn onboard(&self, slug: &str, name: &str) -> anyhow::Result<Value> {
        self.call(
            Method::POST,
            &self.operator_url("/api/v1/platform/tenants"),
            &self.operator_token,
            Some(json!({
                "slug": slug,
                "name": name,
                "admin_email": format!("admin@{slug}.example"),
                "admin_name": "Ada Admin",
            })),
            201,
        )
        .await
    }

    /// Onboards `slug`, sets the administrator's password from the emailed link, signs in.
    pub async fn firm_with_admin(&self, slug: &str, name: &str) -> anyhow::Result<Member> {
        self.onboard(slug, name).await?;
        let email = format!("admin@{slug}.example");
        let token = self.mail.link_token(&email, "/firm/setup/").await?;
        self.call(
            Method::POST,
            &self.url(slug, &format!("/api/v1/firm/setup/{token}")),
            "",
            Some(json!({"password": MEMBER_PASSWORD})),
            200,
        )
        .await?;
        let session = self
            .call(
                Method::POST,
                &self.url(slug, "/api/v1/firm/session"),
                "",
                Some(json!({"email": email, "password": MEMBER_PASSWORD})),
                200,
            )
            .await?;
        Ok(Member {
            slug: slug.to_owned(),
            token: str_field(&session, "token")?,
            id: str_field(&session["member"], "id")?,
        })
    }

    pub async fn firm(
        &self,
        m: &Member,
        method: Method,
        path: &str,
        body: Option<Value>,
        expect: u16,
    ) -> anyhow::Result<Value> {
        self.call(
            method,
            &self.url(&m.slug, &format!("/api/v1/firm{path}")),
            &m.token,
            body,
            expect,
        )
        .await
    }

    pub async fn contact(&self, m: &Member, name: &str, email: &str) -> anyhow::Result<String> {
        let body = json!({"name": name, "emails": [email]});
        let contact = self
            .firm(m, Method::POST, "/contacts", Some(body), 201)
            .await?;
        str_field(&contact, "id")
    }

    pub async fn file(&self, m: &Member, number: &str) -> anyhow::Result<String> {
        let body = json!({"number": number, "name": format!("Matter {number}"),
            "file_type": "Litigation", "status": "open", "responsible_lawyer_id": m.id,
            "member_ids": []});
        let file = self
            .firm(m, Method::POST, "/files", Some(body), 201)
            .await?;
        str_field(&file, "id")
    }

    pub async fn add_client(&self, m: &Member, file: &str, contact: &str) -> anyhow::Result<()> {
        let body = json!({"contact_id": contact, "role": "client", "primary": true});
        let url = self.url(&m.slug, &format!("/api/v1/firm/files/{file}/people"));
        // Concurrent changes to one file's people are refused (409) on PostgreSQL: retry.
        for _ in 0..20 {
            let (status, text) = self
                .send(&Method::POST, &url, &m.token, Some(&body))
                .await?;
            if status.is_success() {
                return Ok(());
            }
            if status != StatusCode::CONFLICT {
                bail!("add client: {status}: {text}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        bail!("add client: still conflicting after 20 attempts")
    }

    /// Invites `contact` to the Portal on `files`, accepts the emailed invitation and signs in.
    pub async fn invite_and_sign_in(
        &self,
        m: &Member,
        contact: &str,
        email: &str,
        files: &[String],
    ) -> anyhow::Result<String> {
        self.firm(
            m,
            Method::PUT,
            &format!("/contacts/{contact}/portal"),
            Some(json!({"allow": true, "login_email": email, "file_ids": files})),
            200,
        )
        .await?;
        let token = self.mail.link_token(email, "/invitations/").await?;
        self.call(
            Method::POST,
            &self.url(
                &m.slug,
                &format!("/api/v1/portal/invitations/{token}/accept"),
            ),
            "",
            Some(json!({"accept_terms": true, "password": CLIENT_PASSWORD})),
            200,
        )
        .await?;
        self.client_sign_in(&m.slug, email).await
    }

    pub async fn client_sign_in(&self, slug: &str, email: &str) -> anyhow::Result<String> {
        let session = self
            .call(
                Method::POST,
                &self.url(slug, "/api/v1/portal/session"),
                "",
                Some(json!({"email": email, "password": CLIENT_PASSWORD})),
                200,
            )
            .await?;
        str_field(&session, "token")
    }

    /// A firm with an administrator and one client on one shared file (the many-firms figures).
    pub async fn small_firm(&self, slug: &str) -> anyhow::Result<(Member, String)> {
        let admin = self.firm_with_admin(slug, &format!("Firm {slug}")).await?;
        let email = format!("client@{slug}.example");
        let contact = self.contact(&admin, "Chris Client", &email).await?;
        let file = self.file(&admin, "2026-001").await?;
        self.add_client(&admin, &file, &contact).await?;
        let token = self
            .invite_and_sign_in(&admin, &contact, &email, &[file])
            .await?;
        Ok((admin, token))
    }
}

pub fn str_field(value: &Value, name: &str) -> anyhow::Result<String> {
    value[name]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("no `{name}` in {value}"))
}

/// A signed-in member.
#[derive(Clone, Debug)]
pub struct Member {
    pub slug: String,
    pub token: String,
    pub id: String,
}

/// The benchmark firm.
pub struct Seeded {
    pub admin: Member,
    pub client_token: String,
    /// Files shared with the client (the first one carries the invoices).
    pub files: Vec<String>,
    /// Client accounts for the login storm.
    pub storm_emails: Vec<String>,
    pub notes_per_file: usize,
    pub invoices: usize,
}

/// Files of the firm, shared with the client, and their items.
const FILES: usize = 12;
const SHARED_FILES: usize = 10;
const SHARED_NOTES: usize = 5;
const PRIVATE_NOTES: usize = 2;

/// The benchmark firm `slug`: an administrator responsible for 12 files, 10 of them shared with
/// the client, each with 5 shared and 2 internal notes; 4 finalized invoices shown in the
/// Portal; the client's own notes (activity); `storm_clients` more clients for the login storm.
pub async fn bench_firm(api: &Api, slug: &str, storm_clients: usize) -> anyhow::Result<Seeded> {
    let admin = api.firm_with_admin(slug, "Bench & Partners LLP").await?;
    let email = format!("c0000@{slug}.example");
    let contact = api.contact(&admin, "Chris Client", &email).await?;
    let mut files = Vec::new();
    for n in 0..FILES {
        files.push(api.file(&admin, &format!("2026-{n:03}")).await?);
    }
    let shared: Vec<String> = files[..SHARED_FILES].to_vec();
    for file in &shared {
        api.add_client(&admin, file, &contact).await?;
    }
    let notes: Vec<(String, usize)> = shared
        .iter()
        .flat_map(|f| (0..SHARED_NOTES + PRIVATE_NOTES).map(move |n| (f.clone(), n)))
        .collect();
    futures::stream::iter(notes)
        .map(|(file, n)| {
            let admin = admin.clone();
            async move {
                let body = json!({"body": format!("Note {n}: the hearing is moved; bring the signed affidavit and the exhibits."),
                                  "shared": n < SHARED_NOTES});
                api.firm(
                    &admin,
                    Method::POST,
                    &format!("/files/{file}/notes"),
                    Some(body),
                    201,
                )
                .await
            }
        })
        .buffer_unordered(8)
        .try_collect::<Vec<_>>()
        .await?;
    let mut invoices = 0;
    for (file, lines) in [
        (&shared[0], vec![120_000]),
        (&shared[0], vec![45_000, 5_000]),
        (&shared[0], vec![9_900]),
        (&shared[1], vec![250_000, 12_500, 300]),
    ] {
        let lines: Vec<Value> = lines
            .iter()
            .enumerate()
            .map(|(i, a)| json!({"description": format!("Work item {i}"), "amount": a}))
            .collect();
        let invoice = api
            .firm(
                &admin,
                Method::POST,
                &format!("/files/{file}/invoices"),
                Some(json!({"lines": lines, "due_date": "2026-12-31"})),
                201,
            )
            .await?;
        let id = str_field(&invoice, "id")?;
        api.firm(
            &admin,
            Method::POST,
            &format!("/invoices/{id}/finalize"),
            None,
            200,
        )
        .await?;
        api.firm(
            &admin,
            Method::PUT,
            &format!("/invoices/{id}/portal"),
            Some(json!({"shared": true})),
            200,
        )
        .await?;
        invoices += 1;
    }
    let client_token = api
        .invite_and_sign_in(&admin, &contact, &email, &shared)
        .await?;
    // The client's own activity, for the firm's activity feed.
    for (n, file) in shared.iter().take(3).enumerate() {
        api.call(
            Method::POST,
            &api.url(slug, &format!("/api/v1/portal/files/{file}/notes")),
            &client_token,
            Some(json!({"body": format!("Client question {n}: when is the next hearing?")})),
            201,
        )
        .await?;
    }
    // More clients (on the last shared file) for the login storm.
    let storm_emails: Vec<String> = (1..=storm_clients)
        .map(|n| format!("c{n:04}@{slug}.example"))
        .collect();
    futures::stream::iter(storm_emails.clone())
        .map(|email| {
            let admin = admin.clone();
            let file = shared[SHARED_FILES - 1].clone();
            async move {
                let contact = api.contact(&admin, "Storm Client", &email).await?;
                api.add_client(&admin, &file, &contact).await?;
                api.invite_and_sign_in(&admin, &contact, &email, &[file])
                    .await
            }
        })
        .buffer_unordered(8)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(Seeded {
        admin,
        client_token,
        files: shared,
        storm_emails,
        notes_per_file: SHARED_NOTES,
        invoices,
    })
}

/// The file transport's `.eml` files, read once each.
#[derive(Clone)]
struct Mailbox {
    dir: PathBuf,
    /// Decoded mails by path, with the size they were read at: a file caught while the
    /// transport was still writing it is read again once it has grown.
    seen: Arc<Mutex<HashMap<PathBuf, (u64, String)>>>,
}

impl Mailbox {
    fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            seen: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn scan(&self) -> Vec<String> {
        let mut seen = self.seen.lock().expect("mailbox");
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for entry in entries.filter_map(Result::ok) {
                let path = entry.path();
                if path.extension().is_none_or(|x| x != "eml") {
                    continue;
                }
                let len = entry.metadata().map(|m| m.len()).unwrap_or(0);
                if seen.get(&path).is_some_and(|(read_at, _)| *read_at == len) {
                    continue;
                }
                if let Ok(raw) = std::fs::read(&path) {
                    let len = raw.len() as u64;
                    let decoded =
                        quoted_printable::decode(&raw, quoted_printable::ParseMode::Robust)
                            .unwrap_or(raw);
                    seen.insert(path, (len, String::from_utf8_lossy(&decoded).into_owned()));
                }
            }
        }
        seen.values().map(|(_, mail)| mail.clone()).collect()
    }

    /// Waits (up to 60 s) for an email to `to` with a link containing `marker` and returns the
    /// token at the end of the link.
    async fn link_token(&self, to: &str, marker: &str) -> anyhow::Result<String> {
        let started = Instant::now();
        let header = format!("To: {to}");
        loop {
            for mail in self.scan() {
                if !mail.lines().any(|l| l.trim_end() == header) {
                    continue;
                }
                if let Some(at) = mail.find(marker) {
                    let token: String = mail[at + marker.len()..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                        .collect();
                    if !token.is_empty() {
                        return Ok(token);
                    }
                }
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!("no email to {to} with a {marker} link within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn count(&self) -> usize {
        std::fs::read_dir(&self.dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                    .count()
            })
            .unwrap_or(0)
    }
}
