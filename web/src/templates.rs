//! Server-rendered pages: minijinja templates compiled into the binary, auto-escaped (every
//! template name ends in `.html`, which turns HTML escaping on for all interpolations).

use include_dir::{Dir, include_dir};
use minijinja::Environment;
use poem::http::StatusCode;
use poem::web::Html;
use poem::{IntoResponse, Response};
use serde::Serialize;

/// Every file under `src/templates/`, compiled into the binary.
static TEMPLATE_DIR: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/src/templates");

pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    pub fn load() -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        for file in TEMPLATE_DIR.files() {
            let name = file.path().to_string_lossy().into_owned();
            let source = file.contents_utf8().ok_or_else(|| {
                minijinja::Error::new(
                    minijinja::ErrorKind::TemplateNotFound,
                    format!("{name} is not UTF-8"),
                )
            })?;
            env.add_template_owned(name, source.to_owned())?;
        }
        Ok(Self { env })
    }

    /// Renders `name` with `ctx` as an HTML response with `status`.
    pub fn page<S: Serialize>(&self, name: &str, status: StatusCode, ctx: S) -> Response {
        match self.render(name, ctx) {
            Ok(body) => Html(body).with_status(status).into_response(),
            Err(err) => {
                tracing::error!(template = name, error = %err, "template failed to render");
                Html("<!doctype html><title>Error</title><p>Something went wrong on our side.")
                    .with_status(StatusCode::INTERNAL_SERVER_ERROR)
                    .into_response()
            }
        }
    }

    /// Renders `name`, a page or a part of one, with `ctx` — escaped as every page is; a part
    /// is placed in a page as it is.
    pub fn render<S: Serialize>(&self, name: &str, ctx: S) -> Result<String, minijinja::Error> {
        self.env.get_template(name).and_then(|t| t.render(ctx))
    }

    /// The 500 page for a failure the person cannot act on: `what` failed, and why goes to the
    /// log only.
    pub fn server_error(&self, what: &str, cause: impl std::fmt::Display) -> Response {
        tracing::error!(error = %cause, "{what}");
        self.error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on our side.",
        )
    }

    /// The standard error page.
    pub fn error_page(&self, status: StatusCode, message: &str) -> Response {
        self.page(
            "error.html",
            status,
            minijinja::context! {
                title => status.canonical_reason().unwrap_or("Error"),
                status => status.as_u16(),
                message => message,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles_and_escapes() {
        let templates = Templates::load().expect("templates compile");
        let response = templates.error_page(StatusCode::NOT_FOUND, "<script>alert(1)</script>");
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let rendered = templates
            .env
            .get_template("error.html")
            .and_then(|t| {
                t.render(minijinja::context! { title => "x", status => 404, message => "<b>" })
            })
            .expect("renders");
        assert!(rendered.contains("&lt;b&gt;") && !rendered.contains("<b>"));
    }
}
