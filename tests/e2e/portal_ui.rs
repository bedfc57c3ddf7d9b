//! The firm-side Portal pages: Manage Portal on the contact page (invite, refusals, resend,
//! disable, change login email), Portal Invite and file sharing on the file page, and the
//! Portal markers and filter of the contact and file lists — all through the HTML forms.

use reqwest::Method;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::TestApp;
use crate::support::firm::FirmSession;
use crate::support::portal::CLIENT_PASSWORD;

on_both_backends!(
    invite_from_the_contact_page,
    refused_preconditions_are_shown_with_their_reasons,
    resend_and_disable_from_the_contact_page,
    active_clients_files_and_login_email_from_the_contact_page,
    share_and_unshare_from_the_file_page,
    portal_users_filter_and_list_markers,
);

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

/// Posts `fields` (plus the session's CSRF field) and returns status and body.
async fn submit(
    app: &TestApp,
    s: &FirmSession,
    path: &str,
    fields: &[(&str, &str)],
) -> (u16, String, String) {
    let mut form: Vec<(&str, &str)> = vec![("csrf", s.csrf.as_str())];
    form.extend_from_slice(fields);
    let response = form_post(app, s, path).form(&form).send().await.unwrap();
    let status = response.status().as_u16();
    let target = location(&response);
    (status, target, response.text().await.unwrap())
}

async fn portal_status(app: &TestApp, s: &FirmSession, contact: uuid::Uuid) -> Value {
    let response = app
        .firm_api(s, Method::GET, &format!("/contacts/{contact}/portal"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn accounts(app: &TestApp, s: &FirmSession) -> i64 {
    app.count(
        "SELECT COUNT(*) AS n FROM portal_account WHERE tenant_id = $1",
        vec![s.tenant_id.into()],
    )
    .await
}

/// Emails to `to` whose text contains `needle`, waiting up to 10 s for at least `n`.
async fn mails(app: &TestApp, to: &str, needle: &str, n: usize) -> Vec<String> {
    for _ in 0..200 {
        let found: Vec<String> = app
            .sent_files()
            .into_iter()
            .filter(|m| m.contains(&format!("To: {to}")) && m.contains(needle))
            .collect();
        if found.len() >= n {
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("fewer than {n} emails to {to} containing {needle:?}");
}

/// The `<tr data-id="id">…</tr>` of a list page.
fn row<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("<tr data-id=\"{id}\""))
        .unwrap_or_else(|| panic!("no row {id}"));
    let end = html[start..].find("</tr>").unwrap() + start;
    &html[start..end]
}

fn checkbox(name: &str, checked: bool) -> String {
    format!(
        "name=\"{name}\" value=\"on\"{}>",
        if checked { " checked" } else { "" }
    )
}

async fn invite_from_the_contact_page(app: TestApp) {
    let admin = app.firm_with_admin().await;
    let work = format!("chris@{}.example", admin.slug);
    let home = "chris.home@example.org";
    let contact = app.contact(&admin, "Chris Client", &[&work, home]).await;
    let file = app.file(&admin, "2026-001", admin.member_id, &[]).await;
    app.add_client(&admin, file, contact).await;
    let contact_page = format!("/firm/contacts/{contact}");
    let action = format!("/firm/contacts/{contact}/portal");

    // Not invited yet: the form offers both addresses, preselects the only file and holds the
    // firm's invitation text with its placeholder.
    let (status, html) = page(&app, &admin, &contact_page).await;
    assert_eq!(status, 200);
    assert!(html.contains("id=\"portal-status\">Not invited<"), "{html}");
    assert!(html.contains("Allow this contact to access the Portal"));
    assert!(html.contains(&checkbox("allow", false)));
    assert!(
        html.contains(&format!("<option value=\"{work}\" selected>"))
            && html.contains(&format!("<option value=\"{home}\">"))
    );
    assert!(
        html.contains(&checkbox(&format!("file_{file}"), true)),
        "a client on exactly one file has it preselected"
    );
    assert!(
        html.contains("We have opened a secure Client Portal for you")
            && html.contains("{setup_link}")
    );
    assert!(html.contains("Send Invitation") && !html.contains("Resend invitation"));

    // With two files nothing is preselected.
    let second = app.file(&admin, "2026-002", admin.member_id, &[]).await;
    app.add_client(&admin, second, contact).await;
    let (_, html) = page(&app, &admin, &contact_page).await;
    assert!(
        html.contains(&checkbox(&format!("file_{file}"), false))
            && html.contains(&checkbox(&format!("file_{second}"), false))
    );

    // Allow must be ticked; the text must keep the placeholder. Neither stores anything.
    let file_box = format!("file_{file}");
    let (status, _, html) = submit(
        &app,
        &admin,
        &action,
        &[("login_email", home), (&file_box, "on")],
    )
    .await;
    assert_eq!(status, 422);
    assert!(html.contains("tick “Allow this contact to access the Portal”"));
    let (status, _, html) = submit(
        &app,
        &admin,
        &action,
        &[
            ("allow", "on"),
            ("login_email", home),
            (&file_box, "on"),
            ("message", "Hello, no link here"),
        ],
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        html.contains("must keep the setup-link placeholder {setup_link}")
            && html.contains("Hello, no link here</textarea>")
            && html.contains(&format!("<option value=\"{home}\" selected>")),
        "the refused form keeps what was typed"
    );
    assert_eq!(accounts(&app, &admin).await, 0);

    // Send Invitation: the member's own text, to the chosen address, one file shared.
    let (status, target, _) = submit(
        &app,
        &admin,
        &action,
        &[
            ("allow", "on"),
            ("login_email", home),
            (&file_box, "on"),
            (
                "message",
                "Dear client,\r\nplease join us here: {setup_link}\r\nThe firm",
            ),
        ],
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(
        target,
        format!("/firm/contacts/{contact}?done=portal-invited#portal")
    );
    let sent = mails(&app, home, "invites you to its Client Portal", 1).await;
    assert!(
        sent[0].contains("please join us here: ")
            && sent[0].contains(&format!("{}/invitations/", app.portal_url(&admin.slug)))
            && !sent[0].contains("{setup_link}"),
        "{}",
        sent[0]
    );
    let stored = portal_status(&app, &admin, contact).await;
    assert_eq!(stored["status"], "invited");
    assert_eq!(stored["login_email"], home);
    assert_eq!(stored["file_ids"], json!([file]));

    let (_, html) = page(&app, &admin, &target).await;
    assert!(html.contains("Invitation sent."));
    assert!(
        html.contains("id=\"portal-status\">Invited (expires "),
        "{html}"
    );
    assert!(html.contains(&format!(
        "id=\"portal-login-name\"><span class=\"email\">{home}<"
    )));
    assert!(html.contains("<strong>2026-001</strong> Matter 2026-001</a>"));
    assert!(
        html.contains(&checkbox(&format!("file_{file}"), true))
            && html.contains(&checkbox(&format!("file_{second}"), false))
            && html.contains("Save &amp; Close")
            && html.contains("Resend invitation")
    );

    // Accepted and signed in: Active with the last login.
    let token = app.invitation_token(&admin.slug, home, 0).await;
    assert_eq!(
        app.accept(&admin.slug, &token, CLIENT_PASSWORD)
            .await
            .status(),
        200
    );
    let (_, html) = page(&app, &admin, &contact_page).await;
    assert!(html.contains("id=\"portal-status\">Active (no login yet)<"));
    app.client_sign_in(&admin.slug, home, CLIENT_PASSWORD).await;
    let (_, html) = page(&app, &admin, &contact_page).await;
    assert!(
        html.contains("id=\"portal-status\">Active (last login "),
        "{html}"
    );
    assert!(!html.contains("Resend invitation") && html.contains("Change login email"));
}

async fn refused_preconditions_are_shown_with_their_reasons(app: TestApp) {
    let admin = app.firm_with_admin().await;
    let clerk = app.member(&admin, "Nora Norights", false, false).await;
    let email = format!("dana@{}.example", admin.slug);
    let contact = app.contact(&admin, "Dana Doe", &[&email]).await;
    let file = app
        .file(&admin, "2026-010", admin.member_id, &[clerk.member_id])
        .await;
    app.add_client(&admin, file, contact).await;
    let action = format!("/firm/contacts/{contact}/portal");
    let file_box = format!("file_{file}");
    let invite = [
        ("allow", "on"),
        ("login_email", email.as_str()),
        (file_box.as_str(), "on"),
    ];

    // Without the Portal right: the status shows, the controls do not, and the post is refused.
    let (status, html) = page(&app, &clerk, &format!("/firm/contacts/{contact}")).await;
    assert_eq!(status, 200);
    assert!(html.contains("id=\"portal-status\">Not invited<"));
    assert!(
        html.contains("id=\"portal-readonly\"")
            && html.contains("“Permitted to share items and invite clients to the Portal”")
    );
    assert!(!html.contains("id=\"portal-form\""));
    let (status, _, html) = submit(&app, &clerk, &action, &invite).await;
    assert_eq!(status, 403);
    assert!(html.contains("you are not permitted to share items and invite clients to the Portal"));

    // An address that is not the contact's.
    let (status, _, html) = submit(
        &app,
        &admin,
        &action,
        &[
            ("allow", "on"),
            ("login_email", "stranger@elsewhere.example"),
            (&file_box, "on"),
        ],
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        html.contains("stranger@elsewhere.example is not one of Dana Doe's email addresses")
            || html.contains(
                "stranger@elsewhere.example is not one of Dana Doe&#x27;s email addresses"
            ),
        "{html}"
    );

    // A contact who is not a client on any file: no form, and the post says why.
    let loner = app.contact(&admin, "Lee Loner", &["lee@x.example"]).await;
    let (_, html) = page(&app, &admin, &format!("/firm/contacts/{loner}")).await;
    assert!(
        html.contains("is not a client on any open file you can access")
            && !html.contains("id=\"portal-form\"")
    );
    let (status, _, html) = submit(
        &app,
        &admin,
        &format!("/firm/contacts/{loner}/portal"),
        &[("allow", "on"), ("login_email", "lee@x.example")],
    )
    .await;
    assert_eq!(status, 403);
    assert!(html.contains("the contact is not a client on any file you can access"));

    // A login another client already has.
    let twin = app.contact(&admin, "Dana Twin", &[&email]).await;
    app.add_client(&admin, file, twin).await;
    assert_eq!(
        app.allow_portal(&admin, twin, &email, &[]).await.status(),
        200
    );
    let (status, _, html) = submit(&app, &admin, &action, &invite).await;
    assert_eq!(status, 409);
    assert!(html.contains("is already the Portal login of another contact of this firm"));

    // A cross-site post and a post without the CSRF field change nothing.
    let forged = s_post_without_csrf(&app, &admin, &action, &invite).await;
    assert_eq!(forged, 403);
    let cross = admin
        .client
        .post(app.firm_url(&admin.slug, &action))
        .header("origin", "http://evil.localhost")
        .form(&[
            ("csrf", admin.csrf.as_str()),
            ("allow", "on"),
            ("login_email", email.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403);
    assert_eq!(accounts(&app, &admin).await, 1, "only the twin's account");
    assert_eq!(
        portal_status(&app, &admin, contact).await["status"],
        "not_invited"
    );
}

async fn s_post_without_csrf(
    app: &TestApp,
    s: &FirmSession,
    path: &str,
    fields: &[(&str, &str)],
) -> u16 {
    form_post(app, s, path)
        .form(fields)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn resend_and_disable_from_the_contact_page(app: TestApp) {
    let admin = app.firm_with_admin().await;
    let lawyer = app.member(&admin, "Lara Lawyer", false, true).await;
    let email = format!("erin@{}.example", admin.slug);
    let contact = app.contact(&admin, "Erin Example", &[&email]).await;
    let hers = app.file(&admin, "2026-020", lawyer.member_id, &[]).await;
    let theirs = app.file(&admin, "2026-021", admin.member_id, &[]).await;
    app.add_client(&admin, hers, contact).await;
    app.add_client(&admin, theirs, contact).await;
    assert_eq!(
        app.allow_portal(&admin, contact, &email, &[hers, theirs])
            .await
            .status(),
        200
    );
    let first = app.invitation_token(&admin.slug, &email, 0).await;
    let contact_page = format!("/firm/contacts/{contact}");

    // Resend: a new link, the old one stops working.
    let (status, target, _) =
        submit(&app, &admin, &format!("{contact_page}/portal/resend"), &[]).await;
    assert_eq!(status, 303);
    assert_eq!(target, format!("{contact_page}?done=portal-resent#portal"));
    let second = app.invitation_token(&admin.slug, &email, 1).await;
    assert_ne!(first, second);
    let (_, html) = page(&app, &admin, &target).await;
    assert!(html.contains("A new invitation was sent."));
    assert_ne!(
        app.accept(&admin.slug, &first, CLIENT_PASSWORD)
            .await
            .status(),
        200
    );

    // The lawyer sees one shared file and is told about the other one, and may not disable.
    let (_, html) = page(&app, &lawyer, &contact_page).await;
    assert!(html.contains("2026-020") && !html.contains("2026-021"));
    assert!(
        html.contains("and 1 other file you cannot access"),
        "{html}"
    );
    let (status, _, html) = submit(&app, &lawyer, &format!("{contact_page}/portal"), &[]).await;
    assert_eq!(status, 403);
    assert!(
        html.contains("you cannot disable this client&#x27;s access: 1 of the files shared with them is not accessible to you")
            || html.contains("you cannot disable this client's access: 1 of the files shared with them is not accessible to you"),
        "{html}"
    );
    assert_eq!(
        portal_status(&app, &admin, contact).await["status"],
        "invited"
    );

    // The administrator clears Allow: disabled, shares dropped, the link is dead.
    let (status, target, _) = submit(&app, &admin, &format!("{contact_page}/portal"), &[]).await;
    assert_eq!(status, 303);
    assert_eq!(
        target,
        format!("{contact_page}?done=portal-disabled#portal")
    );
    let stored = portal_status(&app, &admin, contact).await;
    assert_eq!(stored["status"], "disabled");
    assert_eq!(stored["file_ids"], json!([]));
    assert_ne!(
        app.accept(&admin.slug, &second, CLIENT_PASSWORD)
            .await
            .status(),
        200
    );
    let (_, html) = page(&app, &admin, &target).await;
    assert!(
        html.contains("Portal access disabled") && html.contains("id=\"portal-status\">Disabled<")
    );
    assert!(html.contains("Send Invitation") && !html.contains("Resend invitation"));

    // Nothing left to resend.
    let (status, _, html) =
        submit(&app, &admin, &format!("{contact_page}/portal/resend"), &[]).await;
    assert_eq!(status, 409);
    assert!(html.contains("Erin Example has no pending invitation"));
}

async fn active_clients_files_and_login_email_from_the_contact_page(app: TestApp) {
    let (admin, _client, contact, file) = app.firm_with_client().await;
    let login = format!("client@{}.example", admin.slug);
    let new_login = format!("chris.new@{}.example", admin.slug);
    let other = app.file(&admin, "2026-002", admin.member_id, &[]).await;
    app.add_client(&admin, other, contact).await;
    let response = app
        .firm_api(&admin, Method::PATCH, &format!("/contacts/{contact}"))
        .json(&json!({"emails": [login, new_login]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let contact_page = format!("/firm/contacts/{contact}");
    let action = format!("{contact_page}/portal");

    let (_, html) = page(&app, &admin, &contact_page).await;
    assert!(html.contains("id=\"portal-status\">Active (last login "));
    assert!(
        html.contains(&checkbox("allow", true))
            && html.contains(&checkbox(&format!("file_{file}"), true))
            && html.contains(&checkbox(&format!("file_{other}"), false))
    );
    assert!(
        !html.contains("name=\"message\""),
        "no invitation text for an active client"
    );

    // Save & Close with the boxes changed: the second file shared, the first one not.
    let other_box = format!("file_{other}");
    let (status, target, _) = submit(
        &app,
        &admin,
        &action,
        &[("allow", "on"), (&other_box, "on")],
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(target, format!("{contact_page}?done=portal-saved#portal"));
    assert_eq!(
        portal_status(&app, &admin, contact).await["file_ids"],
        json!([other])
    );
    let (status, target, _) = submit(
        &app,
        &admin,
        &action,
        &[("allow", "on"), (&other_box, "on")],
    )
    .await;
    assert_eq!(
        (status, target.ends_with("done=portal-unchanged#portal")),
        (303, true)
    );
    assert_eq!(
        portal_status(&app, &admin, contact).await["status"],
        "active",
        "saving never re-invites an active client"
    );

    // Change login email: only the contact's other addresses; a confirmation goes out.
    let (_, html) = page(&app, &admin, &contact_page).await;
    assert!(
        html.contains("Change login email")
            && html.contains(&format!("<option value=\"{new_login}\" selected>"))
    );
    let (status, _, html) = submit(
        &app,
        &admin,
        &format!("{action}/login-email"),
        &[("login_email", "someone@else.example")],
    )
    .await;
    assert_eq!(status, 422);
    assert!(html.contains("someone@else.example is not one of Chris Client"));
    let (status, target, _) = submit(
        &app,
        &admin,
        &format!("{action}/login-email"),
        &[("login_email", &new_login)],
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(target, format!("{contact_page}?done=portal-email#portal"));
    let sent = mails(&app, &new_login, "/verify-email/", 1).await;
    assert!(sent[0].contains("Confirm your new login email"));
    let (_, html) = page(&app, &admin, &target).await;
    assert!(html.contains("A confirmation link was sent to the new address."));
    assert!(html.contains(&format!(
        "id=\"portal-pending\"><span class=\"email\">{new_login}<"
    )));
    assert!(html.contains(&format!(
        "id=\"portal-login-name\"><span class=\"email\">{login}<"
    )));
}

async fn share_and_unshare_from_the_file_page(app: TestApp) {
    let (admin, _client, contact, _file) = app.firm_with_client().await;
    let login = format!("client@{}.example", admin.slug);
    let clerk = app.member(&admin, "Nora Norights", false, false).await;
    let file = app
        .file(&admin, "2026-030", admin.member_id, &[clerk.member_id])
        .await;
    app.add_client(&admin, file, contact).await;
    let newcomer = app
        .contact(&admin, "Nick Newcomer", &["nick@x.example"])
        .await;
    app.add_client(&admin, file, newcomer).await;
    let file_page = format!("/firm/files/{file}");
    let share = format!("{file_page}/portal/clients/{contact}");

    // The Portal column: a toggle for the client with an account, Portal Invite for the other.
    let (status, html) = page(&app, &admin, &file_page).await;
    assert_eq!(status, 200);
    assert!(
        html.contains(&format!("action=\"{share}\""))
            && html.contains(&checkbox("shared", false))
            && html.contains("Portal access to this file")
            && html.contains("Notify the client by email")
    );
    assert!(html.contains(&format!(
        "href=\"/firm/contacts/{newcomer}#portal\">Portal Invite</a>"
    )));
    let card = &html[html.find("id=\"portal-without-file\"").unwrap()..];
    assert!(card[..card.find("</div>").unwrap()].contains("Chris Client"));

    // Share with a notice to the client: one email naming the file and the Portal address.
    let (status, target, _) =
        submit(&app, &admin, &share, &[("shared", "on"), ("notify", "on")]).await;
    assert_eq!(status, 303);
    assert_eq!(
        target,
        format!("{file_page}?done=file-shared-notified#people")
    );
    let sent = mails(&app, &login, "shared a file with you", 1).await;
    assert!(
        sent[0].contains("2026-030 Matter 2026-030")
            && sent[0].contains(&app.portal_url(&admin.slug)),
        "{}",
        sent[0]
    );
    let view: Value = app
        .firm_api(&admin, Method::GET, &format!("/files/{file}/portal"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let chris = view["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["contact_id"] == json!(contact))
        .unwrap();
    assert_eq!(chris["has_file_access"], true);
    let (_, html) = page(&app, &admin, &target).await;
    assert!(html.contains("and was told by email") && html.contains(&checkbox("shared", true)));
    let card = &html[html.find("id=\"portal-with-access\"").unwrap()..];
    assert!(card[..card.find("</div>").unwrap()].contains("Chris Client"));

    // Unshare (the box cleared); no email this time.
    let (status, target, _) = submit(&app, &admin, &share, &[]).await;
    assert_eq!(status, 303);
    assert_eq!(target, format!("{file_page}?done=file-unshared#people"));
    let stored = portal_status(&app, &admin, contact).await;
    assert!(
        !stored["file_ids"]
            .as_array()
            .unwrap()
            .contains(&json!(file))
    );
    let (status, target, _) = submit(&app, &admin, &share, &[]).await;
    assert_eq!(
        (status, target.ends_with("done=file-unchanged#people")),
        (303, true)
    );
    assert_eq!(
        mails(&app, &login, "shared a file with you", 1).await.len(),
        1
    );

    // Sharing with a client who has no Portal access is refused with the reason.
    let (status, _, html) = submit(
        &app,
        &admin,
        &format!("{file_page}/portal/clients/{newcomer}"),
        &[("shared", "on")],
    )
    .await;
    assert_eq!(status, 409);
    assert!(
        html.contains("Nick Newcomer has no Portal access; allow access from the contact first")
    );

    // Without the Portal right: statuses, no toggles, and the post is refused.
    let (_, html) = page(&app, &clerk, &file_page).await;
    assert!(
        html.contains("portal-state active\">Active<")
            && !html.contains(&format!("action=\"{share}\""))
    );
    assert!(!html.contains("Portal Invite</a>"));
    let (status, _, html) = submit(&app, &clerk, &share, &[("shared", "on")]).await;
    assert_eq!(status, 403);
    assert!(html.contains("you are not permitted to share items"));
    assert!(
        !portal_status(&app, &admin, contact).await["file_ids"]
            .as_array()
            .unwrap()
            .contains(&json!(file))
    );
}

async fn portal_users_filter_and_list_markers(app: TestApp) {
    let (admin, _client, active, shared_file) = app.firm_with_client().await;
    let file = app.file(&admin, "2026-040", admin.member_id, &[]).await;
    let invited = app.contact(&admin, "Ivy Invited", &["ivy@x.example"]).await;
    let disabled = app
        .contact(&admin, "Dan Disabled", &["dan@x.example"])
        .await;
    let never = app.contact(&admin, "Nell Never", &["nell@x.example"]).await;
    for c in [invited, disabled, never] {
        app.add_client(&admin, file, c).await;
    }
    assert_eq!(
        app.allow_portal(&admin, invited, "ivy@x.example", &[])
            .await
            .status(),
        200
    );
    assert_eq!(
        app.allow_portal(&admin, disabled, "dan@x.example", &[])
            .await
            .status(),
        200
    );
    let response = app
        .firm_api(&admin, Method::PUT, &format!("/contacts/{disabled}/portal"))
        .json(&json!({"allow": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // The page: badges on every list, the filter keeps Portal users only.
    let (status, html) = page(&app, &admin, "/firm/contacts").await;
    assert_eq!(status, 200);
    assert!(html.contains("Portal Users"));
    assert!(row(&html, &active.to_string()).contains("portal-badge active"));
    assert!(row(&html, &invited.to_string()).contains("portal-badge invited"));
    assert!(!row(&html, &disabled.to_string()).contains("portal-badge"));
    assert!(!row(&html, &never.to_string()).contains("portal-badge"));
    let (status, html) = page(&app, &admin, "/firm/contacts?portal=users").await;
    assert_eq!(status, 200);
    assert!(html.contains("Chris Client") && html.contains("Ivy Invited"));
    assert!(!html.contains("Dan Disabled") && !html.contains("Nell Never"));
    assert!(html.contains("class=\"active\" aria-current=\"page\">Portal Users<"));
    let (_, html) = page(&app, &admin, "/firm/contacts?portal=users&q=ivy").await;
    assert!(html.contains("Ivy Invited") && !html.contains("Chris Client"));

    // The API: the same filter, and `portal_status` on every contact.
    let list: Vec<Value> = app
        .firm_api(&admin, Method::GET, "/contacts?portal=users")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut names: Vec<&str> = list.iter().map(|c| c["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["Chris Client", "Ivy Invited"]);
    let all: Vec<Value> = app
        .firm_api(&admin, Method::GET, "/contacts")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let status_of = |id: uuid::Uuid| {
        all.iter()
            .find(|c| c["id"] == json!(id))
            .map(|c| c["portal_status"].clone())
            .unwrap()
    };
    assert_eq!(status_of(active), "active");
    assert_eq!(status_of(invited), "invited");
    assert_eq!(status_of(disabled), "disabled");
    assert_eq!(status_of(never), "not_invited");
    let one: Value = app
        .firm_api(&admin, Method::GET, &format!("/contacts/{invited}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["portal_status"], "invited");

    // The file list marks the shared file only.
    let (status, html) = page(&app, &admin, "/firm/files").await;
    assert_eq!(status, 200);
    assert!(row(&html, &shared_file.to_string()).contains("portal-badge"));
    assert!(!row(&html, &file.to_string()).contains("portal-badge"));
}
