//! The demo firm's content (`portico demo`): an administrator and a lawyer who can sign in, a
//! client with Portal access, two files, and shared notes, appointments and tasks. The
//! passwords are printed by the demo and are for local use only.

use chrono::{Duration, Utc};
use portico_platform::ids::MemberId;
use portico_tenants::OnboardedTenant;
use portico_tenants::contacts::{self, NewContact};
use portico_tenants::files::{self, FileStatus, NewFile, NewPerson, PersonRole};
use portico_tenants::items::{self, NewAppointment, NewTask, SharingRules};
use portico_tenants::members::{self, NewMember};
use portico_tenants::options::SHAREABLE_KINDS;
use portico_tenants::portal_access;
use secrecy::SecretString;

use crate::state::AppState;

pub const MEMBER_PASSWORD: &str = "demo portico password";
pub const CLIENT_EMAIL: &str = "chris@client.example";
pub const CLIENT_PASSWORD: &str = "demo client password";

pub async fn seed(state: &AppState, onboarded: &OnboardedTenant) -> anyhow::Result<()> {
    let tenant = &onboarded.tenant;
    let member_hash = state
        .passwords
        .hash(&SecretString::from(MEMBER_PASSWORD))
        .await?;
    let client_hash = state
        .passwords
        .hash(&SecretString::from(CLIENT_PASSWORD))
        .await?;
    let tx = state.db.tenant(tenant.id).write().await?;
    let admin_id = onboarded.admin_id;
    members::set_password_hash(&tx, admin_id, member_hash.clone()).await?;
    let admin = members::get(&tx, admin_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("demo administrator missing"))?;
    let lawyer = members::invite(
        &tx,
        &admin,
        NewMember {
            name: "Lara Lawyer".into(),
            email: "lara@demo.example".into(),
            is_admin: false,
            portal_rights: true,
        },
        &tenant.portal_url,
        &tenant.name,
        Duration::hours(72),
        None,
    )
    .await?;
    members::set_password_hash(&tx, lawyer.id, member_hash).await?;
    let contact = contacts::create(
        &tx,
        &admin,
        NewContact {
            name: "Chris Client".into(),
            emails: vec![CLIENT_EMAIL.into(), "chris.home@example.org".into()],
        },
        None,
    )
    .await?;
    let mut file_ids = Vec::new();
    for (number, name, lawyer_id) in [
        ("2026-001", "Client v. Acme Corp", lawyer.id),
        ("2026-002", "Estate planning", admin_id),
    ] {
        let file = files::create(
            &tx,
            &admin,
            NewFile {
                number: number.into(),
                name: name.into(),
                file_type: "Litigation".into(),
                status: FileStatus::Open,
                responsible_lawyer_id: lawyer_id,
                member_ids: vec![MemberId::from_uuid(admin_id.as_uuid())],
            },
            None,
        )
        .await?;
        files::add_person(
            &tx,
            &admin,
            file.id,
            NewPerson {
                contact_id: contact.id,
                role: PersonRole::Client,
                primary: true,
            },
            None,
        )
        .await?;
        file_ids.push(file.id);
    }
    portal_access::seed_active_account(
        &tx,
        contact.id,
        CLIENT_EMAIL,
        client_hash,
        &file_ids[..1],
        &admin,
    )
    .await?;
    let rules = SharingRules {
        shareable_kinds: SHAREABLE_KINDS.iter().map(|s| s.to_string()).collect(),
    };
    let file = file_ids[0];
    items::add_note(
        &tx,
        &admin,
        file,
        "The hearing is confirmed for next month. Please bring the signed contract.",
        true,
        &rules,
        None,
    )
    .await?;
    items::add_note(
        &tx,
        &admin,
        file,
        "Internal: the opposing side may settle.",
        false,
        &rules,
        None,
    )
    .await?;
    items::add_appointment(
        &tx,
        &admin,
        file,
        NewAppointment {
            title: "Preparation meeting".into(),
            starts_at: Utc::now() + Duration::days(7),
            ends_at: Some(Utc::now() + Duration::days(7) + Duration::hours(1)),
            location: "Our office, room 3".into(),
            private: false,
            attendee_ids: vec![],
            shared: true,
        },
        &rules,
        None,
    )
    .await?;
    let due = (Utc::now() + Duration::days(14))
        .format("%Y-%m-%d")
        .to_string();
    items::add_task(
        &tx,
        &admin,
        file,
        NewTask {
            title: "Send us the signed contract".into(),
            due_date: Some(due),
            shared: true,
        },
        &rules,
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
