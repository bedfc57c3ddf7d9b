//! The demo firm's content (`portico demo`): an administrator and a lawyer who can sign in, a
//! client with Portal access, two files, shared notes, appointments and tasks, and invoices
//! (a draft, one shown in the Portal and partly paid, one paid). The passwords are printed by
//! the demo and are for local use only.

use chrono::{Duration, Utc};
use portico_payments::invoices::{self, Line, NewInvoice};
use portico_payments::ledger::{self, OfflinePayment};
use portico_platform::TenantTx;
use portico_platform::ids::{ContactId, FileId, MemberId};
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
    seed_bills(&tx, admin.id, file, contact.id).await?;
    tx.commit().await?;
    Ok(())
}

/// Three invoices on the shared file, in the firm's currency: a draft (never in the Portal),
/// one finalized, shown in the Portal and partly paid by cheque, and one paid in full.
async fn seed_bills(
    tx: &TenantTx,
    member: MemberId,
    file: FileId,
    client: ContactId,
) -> anyhow::Result<()> {
    let due = (Utc::now() + Duration::days(30))
        .format("%Y-%m-%d")
        .to_string();
    let line = |description: &str, amount: i64| Line {
        description: description.into(),
        amount,
    };
    let new = |lines: Vec<Line>, memo: &str| NewInvoice {
        file,
        client,
        currency: None,
        lines,
        due_date: Some(due.clone()),
        memo: Some(memo.into()),
        created_by: member,
    };
    let payment = |invoice, amount, method: &str, reference: &str| OfflinePayment {
        file,
        client,
        amount,
        currency: None,
        invoice: Some(invoice),
        method: method.into(),
        reference: Some(reference.into()),
        received_on: None,
        shared: true,
        recorded_by: member,
    };

    let paid = invoices::create_draft(
        tx,
        new(
            vec![line("Review of the supply contract", 120_000)],
            "Thank you for your prompt payment.",
        ),
    )
    .await?;
    invoices::finalize(tx, paid.id).await?;
    invoices::set_shared(tx, &[paid.id], &[], true).await?;
    ledger::record_offline(tx, payment(paid.id, 120_000, "bank_transfer", "TRF-20418")).await?;

    let partly_paid = invoices::create_draft(
        tx,
        new(
            vec![
                line("Initial consultation", 45_000),
                line("Court filing fees", 32_000),
                line("Courtesy discount", -7_000),
            ],
            "Payable within 30 days. You can pay online in the Client Portal.",
        ),
    )
    .await?;
    invoices::finalize(tx, partly_paid.id).await?;
    invoices::set_shared(tx, &[partly_paid.id], &[], true).await?;
    ledger::record_offline(tx, payment(partly_paid.id, 25_000, "check", "Check 1047")).await?;

    invoices::create_draft(
        tx,
        new(
            vec![line("Drafting of the settlement agreement", 180_000)],
            "",
        ),
    )
    .await?;
    Ok(())
}
