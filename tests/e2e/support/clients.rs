//! More Portal clients of a firm than `TestApp::firm_with_client`'s first one.

use uuid::Uuid;

use super::TestApp;
use super::firm::FirmSession;
use super::portal::{CLIENT_PASSWORD, ClientSession};

impl TestApp {
    /// A second client of `admin`'s firm, on a file of their own, invitation accepted and
    /// signed in: `(client, contact, file)`.
    pub async fn second_client(&self, admin: &FirmSession) -> (ClientSession, Uuid, Uuid) {
        let email = format!("other@{}.example", admin.slug);
        let contact = self.contact(admin, "Olive Other", &[&email]).await;
        let file = self.file(admin, "2026-002", admin.member_id, &[]).await;
        self.add_client(admin, file, contact).await;
        assert_eq!(
            self.allow_portal(admin, contact, &email, &[file])
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
        (client, contact, file)
    }
}
