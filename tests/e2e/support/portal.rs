//! Client-side helpers: contacts, files, invitations and client sessions.

use reqwest::Method;
use serde_json::{Value, json};

use super::firm::FirmSession;
use super::{TestApp, link_token, new_client};

pub const CLIENT_PASSWORD: &str = "my lawyer keeps my secrets 77";

#[derive(Clone)]
pub struct ClientSession {
    pub slug: String,
    pub email: String,
    pub token: String,
    pub csrf: String,
    pub client: reqwest::Client,
}

impl TestApp {
    pub async fn contact(&self, s: &FirmSession, name: &str, emails: &[&str]) -> uuid::Uuid {
        let response = self
            .firm_api(s, Method::POST, "/contacts")
            .json(&json!({"name": name, "emails": emails}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "contact {name}");
        let body: Value = response.json().await.unwrap();
        uuid::Uuid::parse_str(body["id"].as_str().unwrap()).unwrap()
    }

    /// Opens a file with `lawyer` responsible and `members` assigned.
    pub async fn file(
        &self,
        s: &FirmSession,
        number: &str,
        lawyer: uuid::Uuid,
        members: &[uuid::Uuid],
    ) -> uuid::Uuid {
        let response = self
            .firm_api(s, Method::POST, "/files")
            .json(&json!({"number": number, "name": format!("Matter {number}"), "file_type": "Litigation",
                          "status": "open", "responsible_lawyer_id": lawyer, "member_ids": members}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "file {number}");
        let body: Value = response.json().await.unwrap();
        uuid::Uuid::parse_str(body["id"].as_str().unwrap()).unwrap()
    }

    pub async fn add_client(&self, s: &FirmSession, file: uuid::Uuid, contact: uuid::Uuid) {
        let response = self
            .firm_api(s, Method::POST, &format!("/files/{file}/people"))
            .json(&json!({"contact_id": contact, "role": "client", "primary": false}))
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "add client: {}",
            response.status()
        );
    }

    /// PUT /contacts/{id}/portal with `allow: true`.
    pub async fn allow_portal(
        &self,
        s: &FirmSession,
        contact: uuid::Uuid,
        email: &str,
        files: &[uuid::Uuid],
    ) -> reqwest::Response {
        self.firm_api(s, Method::PUT, &format!("/contacts/{contact}/portal"))
            .json(&json!({"allow": true, "login_email": email, "file_ids": files}))
            .send()
            .await
            .unwrap()
    }

    /// Waits for the newest invitation email to `email` and returns its token.
    pub async fn invitation_token(&self, slug: &str, email: &str, nth: usize) -> String {
        let prefix = format!("{}/invitations/", self.portal_url(slug));
        for _ in 0..200 {
            let mails: Vec<String> = self
                .sent_files()
                .into_iter()
                .filter(|m| m.contains(&format!("To: {email}")) && m.contains(&prefix))
                .collect();
            if mails.len() > nth {
                let mut tokens: Vec<(String, String)> = mails
                    .iter()
                    .map(|m| {
                        let date = m
                            .lines()
                            .find(|l| l.starts_with("Message-ID:"))
                            .unwrap_or_default()
                            .to_owned();
                        (date, link_token(m, &prefix))
                    })
                    .collect();
                // Message-IDs are UUIDv7: ordering them orders the emails.
                tokens.sort();
                return tokens[nth].1.clone();
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("no invitation #{nth} to {email}");
    }

    pub async fn accept(&self, slug: &str, token: &str, password: &str) -> reqwest::Response {
        self.http
            .post(self.firm_url(slug, &format!("/api/v1/portal/invitations/{token}/accept")))
            .json(&json!({"accept_terms": true, "password": password}))
            .send()
            .await
            .unwrap()
    }

    pub async fn client_sign_in(&self, slug: &str, email: &str, password: &str) -> ClientSession {
        let client = new_client();
        let response = client
            .post(self.firm_url(slug, "/api/v1/portal/session"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "client sign-in of {email}");
        let body: Value = response.json().await.unwrap();
        ClientSession {
            slug: slug.to_owned(),
            email: email.to_owned(),
            token: body["token"].as_str().unwrap().to_owned(),
            csrf: body["csrf_token"].as_str().unwrap().to_owned(),
            client,
        }
    }

    pub fn portal_api(
        &self,
        s: &ClientSession,
        method: Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        self.http
            .request(
                method,
                self.firm_url(&s.slug, &format!("/api/v1/portal{path}")),
            )
            .bearer_auth(&s.token)
    }

    /// A firm with an administrator, a client contact on one shared file, invitation accepted
    /// and the client signed in.
    pub async fn firm_with_client(&self) -> (FirmSession, ClientSession, uuid::Uuid, uuid::Uuid) {
        let admin = self.firm_with_admin().await;
        let email = format!("client@{}.example", admin.slug);
        let contact = self.contact(&admin, "Chris Client", &[&email]).await;
        let file = self.file(&admin, "2026-001", admin.member_id, &[]).await;
        self.add_client(&admin, file, contact).await;
        assert_eq!(
            self.allow_portal(&admin, contact, &email, &[file])
                .await
                .status(),
            200
        );
        let token = self.invitation_token(&admin.slug, &email, 0).await;
        assert_eq!(
            self.accept(&admin.slug, &token, CLIENT_PASSWORD)
                .await
                .status(),
            200
        );
        let client = self
            .client_sign_in(&admin.slug, &email, CLIENT_PASSWORD)
            .await;
        (admin, client, contact, file)
    }
}
