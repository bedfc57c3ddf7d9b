//! Server-rendered pages: minijinja templates compiled into the binary, auto-escaped (every
//! template name ends in `.html`, which turns HTML escaping on for all interpolations).

use minijinja::Environment;
use poem::http::StatusCode;
use poem::web::Html;
use poem::{IntoResponse, Response};
use serde::Serialize;

macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("templates/", $name)))),*]
    };
}

const TEMPLATES: &[(&str, &str)] = templates!(
    "base.html",
    "error.html",
    "operator_login.html",
    "operator_console.html",
    "client_login.html",
    "firm_home.html",
    "dev_mail.html",
);

pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    pub fn load() -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)?;
        }
        Ok(Self { env })
    }

    /// Renders `name` with `ctx` as an HTML response with `status`.
    pub fn page<S: Serialize>(&self, name: &str, status: StatusCode, ctx: S) -> Response {
        match self.env.get_template(name).and_then(|t| t.render(ctx)) {
            Ok(body) => Html(body).with_status(status).into_response(),
            Err(err) => {
                tracing::error!(template = name, error = %err, "template failed to render");
                Html("<!doctype html><title>Error</title><p>Something went wrong on our side.")
                    .with_status(StatusCode::INTERNAL_SERVER_ERROR)
                    .into_response()
            }
        }
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
