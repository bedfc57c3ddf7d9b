//! Options > Client Portal (`/firm/options/client-portal`), administrators only: the portal
//! switch and its web address, invitations, branding and logo, sharing, limits.

use poem::http::StatusCode;
use poem::web::{Data, Form, Multipart, Query, Redirect};
use poem::{IntoResponse, Request, Response, Route, get, handler, post};
use portico_tenants::options::{
    FirmOptions, MAX_LOGO_BYTES, SETUP_LINK_PLACEHOLDER, SHAREABLE_KINDS,
};
use serde::{Deserialize, Serialize};

use super::{
    forbidden_cross_site, render, require_admin_page, require_member, require_member_form,
};
use crate::auth::{MemberCtx, check_csrf};
use crate::firm_options::{self, LogoError, SaveError};
use crate::state::AppState;

const PAGE: &str = "/firm/options/client-portal";

/// Adds this module's pages to the firm routes.
pub fn routes(route: Route) -> Route {
    route
        .at(PAGE, get(show_options).post(save_options))
        .at("/firm/options/client-portal/logo", post(upload_logo))
        .at("/firm/options/client-portal/logo/remove", post(remove_logo))
}

/// The label a firm member sees for each shareable kind.
fn kind_label(kind: &str) -> &'static str {
    match kind {
        "documents" => "Documents",
        "notes" => "Notes",
        "appointments" => "Appointments",
        "tasks" => "Tasks",
        "custom_fields" => "Custom fields",
        "bills" => "Bills and payments",
        _ => "Other",
    }
}

/// The form as typed: numbers stay text so that a typo is shown back, not lost.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct OptionsForm {
    #[serde(default, skip_serializing)]
    csrf: String,
    /// Checkboxes are absent when unticked.
    #[serde(default)]
    enabled: Option<String>,
    #[serde(default)]
    invitation_valid_days: String,
    #[serde(default)]
    invitation_template: String,
    #[serde(default)]
    terms_of_service: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    accent_color: String,
    #[serde(default)]
    welcome_message: String,
    #[serde(default)]
    kind_documents: Option<String>,
    #[serde(default)]
    kind_notes: Option<String>,
    #[serde(default)]
    kind_appointments: Option<String>,
    #[serde(default)]
    kind_tasks: Option<String>,
    #[serde(default)]
    kind_custom_fields: Option<String>,
    #[serde(default)]
    kind_bills: Option<String>,
    #[serde(default)]
    notify_client_on_share: Option<String>,
    #[serde(default)]
    upload_limit_mb: String,
}

impl OptionsForm {
    fn kind_ticked(&self, kind: &str) -> bool {
        match kind {
            "documents" => self.kind_documents.is_some(),
            "notes" => self.kind_notes.is_some(),
            "appointments" => self.kind_appointments.is_some(),
            "tasks" => self.kind_tasks.is_some(),
            "custom_fields" => self.kind_custom_fields.is_some(),
            "bills" => self.kind_bills.is_some(),
            _ => false,
        }
    }

    /// The options this form asks for, or the message naming the field that is not a number.
    fn to_options(&self) -> Result<FirmOptions, String> {
        let number = |value: &str, field: &str| {
            value
                .trim()
                .parse::<i32>()
                .map_err(|_| format!("{field} must be a whole number"))
        };
        Ok(FirmOptions {
            portal_enabled: self.enabled.is_some(),
            invitation_valid_days: number(&self.invitation_valid_days, "invitation_valid_days")?,
            invitation_template: normalize_newlines(&self.invitation_template),
            terms_of_service: normalize_newlines(&self.terms_of_service),
            display_name: self.display_name.clone(),
            accent_color: self.accent_color.trim().to_owned(),
            welcome_message: normalize_newlines(&self.welcome_message),
            shareable_kinds: SHAREABLE_KINDS
                .iter()
                .filter(|k| self.kind_ticked(k))
                .map(|k| (*k).to_owned())
                .collect(),
            notify_client_on_share: self.notify_client_on_share.is_some(),
            upload_limit_mb: number(&self.upload_limit_mb, "upload_limit_mb")?,
            has_logo: false,
        })
    }
}

/// Browsers submit textarea line breaks as CRLF; stored text uses LF like the defaults.
fn normalize_newlines(text: &str) -> String {
    text.replace("\r\n", "\n")
}

/// What the template shows in the fields: the saved options, or the values just typed.
#[derive(Serialize)]
struct FieldValues {
    enabled: bool,
    invitation_valid_days: String,
    invitation_template: String,
    terms_of_service: String,
    display_name: String,
    accent_color: String,
    welcome_message: String,
    notify_client_on_share: bool,
    upload_limit_mb: String,
}

#[derive(Serialize)]
struct KindChoice {
    kind: &'static str,
    label: &'static str,
    checked: bool,
}

fn values_of(options: &FirmOptions) -> (FieldValues, Vec<KindChoice>) {
    let values = FieldValues {
        enabled: options.portal_enabled,
        invitation_valid_days: options.invitation_valid_days.to_string(),
        invitation_template: options.invitation_template.clone(),
        terms_of_service: options.terms_of_service.clone(),
        display_name: options.display_name.clone(),
        accent_color: options.accent_color.clone(),
        welcome_message: options.welcome_message.clone(),
        notify_client_on_share: options.notify_client_on_share,
        upload_limit_mb: options.upload_limit_mb.to_string(),
    };
    let kinds = SHAREABLE_KINDS
        .iter()
        .map(|kind| KindChoice {
            kind,
            label: kind_label(kind),
            checked: options.allows(kind),
        })
        .collect();
    (values, kinds)
}

fn values_typed(form: &OptionsForm) -> (FieldValues, Vec<KindChoice>) {
    let values = FieldValues {
        enabled: form.enabled.is_some(),
        invitation_valid_days: form.invitation_valid_days.clone(),
        invitation_template: normalize_newlines(&form.invitation_template),
        terms_of_service: normalize_newlines(&form.terms_of_service),
        display_name: form.display_name.clone(),
        accent_color: form.accent_color.clone(),
        welcome_message: normalize_newlines(&form.welcome_message),
        notify_client_on_share: form.notify_client_on_share.is_some(),
        upload_limit_mb: form.upload_limit_mb.clone(),
    };
    let kinds = SHAREABLE_KINDS
        .iter()
        .map(|kind| KindChoice {
            kind,
            label: kind_label(kind),
            checked: form.kind_ticked(kind),
        })
        .collect();
    (values, kinds)
}

/// The field a validation message is about (every message starts with the field's name), and
/// the message in the words of the page.
fn explain(message: &str) -> (&'static str, String) {
    const LABELS: &[(&str, &str)] = &[
        ("invitation_valid_days", "Invitation validity (days)"),
        ("invitation_template", "Invitation email text"),
        ("terms_of_service", "Terms of Service"),
        ("display_name", "Portal display name"),
        ("accent_color", "Accent colour"),
        ("welcome_message", "Welcome message"),
        ("shareable_kinds", "Items that may be shared"),
        ("upload_limit_mb", "Upload limit (MB)"),
    ];
    for (field, label) in LABELS {
        if let Some(rest) = message.strip_prefix(field) {
            return (field, format!("{label}{rest}"));
        }
    }
    ("", message.to_owned())
}

#[derive(Deserialize, Default)]
pub struct PageQuery {
    #[serde(default)]
    saved: String,
}

struct PageState<'a> {
    values: (FieldValues, Vec<KindChoice>),
    has_logo: bool,
    notice: Option<&'a str>,
    /// The message about the field named by `invalid_field`, shown in the banner and by the field.
    error: Option<String>,
    logo_error: Option<String>,
    invalid_field: &'a str,
}

async fn page(
    state: &AppState,
    ctx: &MemberCtx,
    status: StatusCode,
    view: PageState<'_>,
) -> Response {
    let (values, kinds) = view.values;
    render(
        state,
        ctx,
        "firm_options.html",
        status,
        "options",
        minijinja::context! {
            values => values,
            kinds => kinds,
            has_logo => view.has_logo,
            notice => view.notice,
            error => view.error.as_ref().map(|message| format!("Not saved: {message}")),
            field_message => view.error,
            logo_error => view.logo_error,
            invalid => view.invalid_field,
            placeholder => SETUP_LINK_PLACEHOLDER,
            max_logo_kb => MAX_LOGO_BYTES / 1024,
        },
    )
    .await
}

async fn admin(req: &Request, state: &AppState) -> Result<MemberCtx, Response> {
    let ctx = require_member(req, state).await?;
    require_admin_page(state, &ctx)?;
    Ok(ctx)
}

#[handler]
async fn show_options(
    req: &Request,
    state: Data<&AppState>,
    Query(query): Query<PageQuery>,
) -> Response {
    let ctx = match admin(req, &state).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    // Never the defaults in place of the firm's: the form would save them back.
    let options = match firm_options::options(&state, &ctx.tenant).await {
        Ok(options) => options,
        Err(err) => return server_error(&state, err),
    };
    let notice = match query.saved.as_str() {
        "options" => Some("Options saved. Clients see the changes at once."),
        "logo" => Some("Logo uploaded."),
        "logo_removed" => Some("Logo removed."),
        _ => None,
    };
    let view = PageState {
        values: values_of(&options),
        has_logo: options.has_logo,
        notice,
        error: None,
        logo_error: None,
        invalid_field: "",
    };
    page(&state, &ctx, StatusCode::OK, view).await
}

#[handler]
async fn save_options(
    req: &Request,
    state: Data<&AppState>,
    Form(form): Form<OptionsForm>,
) -> Response {
    let ctx = match require_member_form(req, &state, &form.csrf).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    if let Err(response) = require_admin_page(&state, &ctx) {
        return response;
    }
    let result = match form.to_options() {
        Ok(options) => firm_options::save(&state, &ctx, options).await,
        Err(message) => Err(SaveError::Invalid(message)),
    };
    match result {
        Ok(_) => Redirect::see_other(format!("{PAGE}?saved=options")).into_response(),
        Err(SaveError::Invalid(message)) => {
            let (field, message) = explain(&message);
            let has_logo = firm_options::options_or_defaults(&state, &ctx.tenant)
                .await
                .has_logo;
            let view = PageState {
                values: values_typed(&form),
                has_logo,
                notice: None,
                error: Some(message),
                logo_error: None,
                invalid_field: field,
            };
            page(&state, &ctx, StatusCode::UNPROCESSABLE_ENTITY, view).await
        }
        Err(SaveError::Db(err)) => server_error(&state, err),
    }
}

#[handler]
async fn upload_logo(req: &Request, state: Data<&AppState>, mut multipart: Multipart) -> Response {
    // Who is asking is known before the body is read; the form's CSRF field comes with it.
    let ctx = match admin(req, &state).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let upload = firm_options::read_logo_upload(&mut multipart).await;
    if check_csrf(req, &ctx, upload.csrf.as_deref()).is_err() {
        return forbidden_cross_site(&state);
    }
    let status = match &upload.logo {
        Ok(_) => StatusCode::OK,
        Err(LogoError::TooLarge) => StatusCode::PAYLOAD_TOO_LARGE,
        Err(LogoError::Unsupported) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Err(LogoError::Missing) => StatusCode::UNPROCESSABLE_ENTITY,
        Err(LogoError::Unreadable(_)) => StatusCode::BAD_REQUEST,
    };
    match upload.logo {
        Ok(logo) => match firm_options::set_logo(&state, &ctx, Some(logo)).await {
            Ok(()) => Redirect::see_other(format!("{PAGE}?saved=logo")).into_response(),
            Err(err) => server_error(&state, err),
        },
        Err(err) => {
            let options = match firm_options::options(&state, &ctx.tenant).await {
                Ok(options) => options,
                Err(err) => return server_error(&state, err),
            };
            let message = match err {
                LogoError::Unreadable(_) => "The upload was interrupted. Try again.".to_owned(),
                other => capitalize(&other.to_string()),
            };
            let view = PageState {
                values: values_of(&options),
                has_logo: options.has_logo,
                notice: None,
                error: None,
                logo_error: Some(message),
                invalid_field: "",
            };
            page(&state, &ctx, status, view).await
        }
    }
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

#[handler]
async fn remove_logo(
    req: &Request,
    state: Data<&AppState>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let ctx = match require_member_form(req, &state, &form.csrf).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    if let Err(response) = require_admin_page(&state, &ctx) {
        return response;
    }
    match firm_options::set_logo(&state, &ctx, None).await {
        Ok(()) => Redirect::see_other(format!("{PAGE}?saved=logo_removed")).into_response(),
        Err(err) => server_error(&state, err),
    }
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}

fn server_error(state: &AppState, err: impl std::fmt::Display) -> Response {
    state
        .templates
        .server_error("saving Client Portal options failed", err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_worded_for_the_page() {
        let (field, text) =
            explain("invitation_template must contain the setup-link placeholder {setup_link}");
        assert_eq!(field, "invitation_template");
        assert_eq!(
            text,
            "Invitation email text must contain the setup-link placeholder {setup_link}"
        );
        let (field, text) = explain("shareable_kinds: `x` is not one of documents");
        assert_eq!(field, "shareable_kinds");
        assert_eq!(
            text,
            "Items that may be shared: `x` is not one of documents"
        );
    }

    #[test]
    fn unticked_boxes_and_typed_numbers() {
        let form = OptionsForm {
            invitation_valid_days: " 14 ".into(),
            upload_limit_mb: "20".into(),
            kind_notes: Some("on".into()),
            kind_bills: Some("on".into()),
            invitation_template: "a\r\nb {setup_link}".into(),
            ..Default::default()
        };
        let options = form.to_options().unwrap();
        assert!(!options.portal_enabled && !options.notify_client_on_share);
        assert_eq!(options.invitation_valid_days, 14);
        assert_eq!(options.shareable_kinds, vec!["notes", "bills"]);
        assert_eq!(options.invitation_template, "a\nb {setup_link}");
        let bad = OptionsForm {
            invitation_valid_days: "a week".into(),
            ..form
        };
        assert!(
            bad.to_options()
                .unwrap_err()
                .starts_with("invitation_valid_days")
        );
    }
}
