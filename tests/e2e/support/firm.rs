//! Firm-side helpers: an onboarded firm with its administrator signed in.

use reqwest::Method;
use serde_json::{Value, json};

use super::{TestApp, link_token, new_client};

/// A password every policy check accepts.
pub const STRONG_PASSWORD: &str = "correct horse battery staple 42";

/// A signed-in member: bearer token, CSRF token and a cookie-carrying client.
#[derive(Clone)]
pub struct FirmSession {
    pub slug: String,
    pub tenant_id: uuid::Uuid,
    pub member_id: uuid::Uuid,
    pub email: String,
    pub token: String,
    pub csrf: String,
    /// Holds the session cookie (set by the sign-in response).
    pub client: reqwest::Client,
}

impl TestApp {
    /// The firm's Options > Client Portal, as the API answers them to an administrator.
    pub async fn firm_options(&self, s: &FirmSession) -> Value {
        let response = self
            .firm_api(s, Method::GET, "/options/client-portal")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "reading the firm's options");
        response.json().await.unwrap()
    }

    /// Saves the firm's Options > Client Portal; the caller judges the response.
    pub async fn save_firm_options(&self, s: &FirmSession, options: &Value) -> reqwest::Response {
        self.firm_api(s, Method::PUT, "/options/client-portal")
            .json(options)
            .send()
            .await
            .unwrap()
    }

    /// Onboards a fresh firm, completes its administrator's setup from the emailed link and
    /// signs the administrator in.
    pub async fn firm_with_admin(&self) -> FirmSession {
        let tenant = self.create_tenant().await;
        let slug = tenant["slug"].as_str().unwrap().to_owned();
        let email = format!("admin@{slug}.example");
        let mail = self.wait_for_file_mail(&email).await;
        let token = link_token(&mail, &format!("{}/firm/setup/", self.portal_url(&slug)));
        let response = self
            .http
            .post(self.firm_url(&slug, &format!("/api/v1/firm/setup/{token}")))
            .json(&json!({"password": STRONG_PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "administrator setup");
        let mut session = self.sign_in(&slug, &email, STRONG_PASSWORD).await;
        session.tenant_id = uuid::Uuid::parse_str(tenant["id"].as_str().unwrap()).unwrap();
        session
    }

    /// Signs a member in through the API with a fresh cookie-carrying client.
    pub async fn sign_in(&self, slug: &str, email: &str, password: &str) -> FirmSession {
        let client = new_client();
        let response = client
            .post(self.firm_url(slug, "/api/v1/firm/session"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "sign-in of {email}");
        let body: Value = response.json().await.unwrap();
        FirmSession {
            slug: slug.to_owned(),
            tenant_id: uuid::Uuid::nil(),
            member_id: uuid::Uuid::parse_str(body["member"]["id"].as_str().unwrap()).unwrap(),
            email: email.to_owned(),
            token: body["token"].as_str().unwrap().to_owned(),
            csrf: body["csrf_token"].as_str().unwrap().to_owned(),
            client,
        }
    }

    /// A firm API request authenticated with the member's bearer token.
    pub fn firm_api(
        &self,
        session: &FirmSession,
        method: Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        self.http
            .request(
                method,
                self.firm_url(&session.slug, &format!("/api/v1/firm{path}")),
            )
            .bearer_auth(&session.token)
    }

    /// Invites a member as the administrator `admin`, completes their setup and signs them in.
    pub async fn member(
        &self,
        admin: &FirmSession,
        name: &str,
        is_admin: bool,
        portal_rights: bool,
    ) -> FirmSession {
        let email = format!(
            "{}@{}.example",
            name.to_lowercase().replace(' ', "."),
            admin.slug
        );
        let response = self
            .firm_api(admin, Method::POST, "/members")
            .json(&json!({"name": name, "email": email, "is_admin": is_admin, "portal_rights": portal_rights}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "inviting {email}");
        let mail = self.wait_for_file_mail(&email).await;
        let token = link_token(
            &mail,
            &format!("{}/firm/setup/", self.portal_url(&admin.slug)),
        );
        let response = self
            .http
            .post(self.firm_url(&admin.slug, &format!("/api/v1/firm/setup/{token}")))
            .json(&json!({"password": STRONG_PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "setup of {email}");
        let mut session = self.sign_in(&admin.slug, &email, STRONG_PASSWORD).await;
        session.tenant_id = admin.tenant_id;
        session
    }
}
