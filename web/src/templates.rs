//! Server-rendered pages: minijinja templates compiled into the binary, auto-escaped (every
//! template name ends in `.html`, which turns HTML escaping on for all interpolations).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use include_dir::{Dir, include_dir};
use minijinja::Environment;
use poem::http::StatusCode;
use poem::web::Html;
use poem::{IntoResponse, Response};
use serde::Serialize;

/// Every file under `src/templates/`, compiled into the binary.
static TEMPLATE_DIR: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/src/templates");

/// The most a page's buffer starts with: a page bigger than this grows its buffer as it renders.
const MOST_RESERVED: usize = 1024 * 1024;

pub struct Templates {
    env: Environment<'static>,
    /// The size of each page template's last rendering, which the next one starts its buffer
    /// with. minijinja sizes its buffer from the template's own text, a few KB for a page that
    /// places tens of KB of kept rows (the activity page): the buffer then grew, and was copied,
    /// four or five times per page. The names are fixed at load, so reading needs no lock.
    last_sizes: HashMap<String, AtomicUsize>,
}

impl Templates {
    pub fn load() -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        let mut last_sizes = HashMap::new();
        for file in TEMPLATE_DIR.files() {
            let name = file.path().to_string_lossy().into_owned();
            let source = file.contents_utf8().ok_or_else(|| {
                minijinja::Error::new(
                    minijinja::ErrorKind::TemplateNotFound,
                    format!("{name} is not UTF-8"),
                )
            })?;
            last_sizes.insert(name.clone(), AtomicUsize::new(0));
            env.add_template_owned(name, source.to_owned())?;
        }
        Ok(Self { env, last_sizes })
    }

    /// Renders `name` with `ctx` as an HTML response with `status`.
    pub fn page<S: Serialize>(&self, name: &str, status: StatusCode, ctx: S) -> Response {
        let last_size = self.last_sizes.get(name);
        let reserved = last_size.map_or(0, |size| size.load(Ordering::Relaxed));
        let mut body = Vec::with_capacity(reserved.min(MOST_RESERVED));
        let rendered = self
            .env
            .get_template(name)
            .and_then(|t| t.render_captured_to(ctx, &mut body).map(drop));
        match rendered {
            Ok(_) => {
                if let Some(size) = last_size {
                    size.store(body.len(), Ordering::Relaxed);
                }
                // What `Html` sends, from the rendered bytes as they are.
                Response::builder()
                    .status(status)
                    .content_type("text/html; charset=utf-8")
                    .body(body)
            }
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

    #[tokio::test]
    async fn a_page_is_what_the_template_renders_and_its_size_is_remembered() {
        let templates = Templates::load().expect("templates compile");
        let ctx =
            || minijinja::context! { title => "Gone", status => 410, message => "<i>moved</i>" };
        let expected = templates.render("error.html", ctx()).expect("renders");
        for _ in 0..2 {
            let response = templates.page("error.html", StatusCode::GONE, ctx());
            assert_eq!(response.status(), StatusCode::GONE);
            assert_eq!(
                response.headers().get("content-type").map(|v| v.as_bytes()),
                Some(&b"text/html; charset=utf-8"[..])
            );
            let body = response
                .into_body()
                .into_string()
                .await
                .expect("UTF-8 body");
            assert_eq!(body, expected);
            assert_eq!(
                templates.last_sizes["error.html"].load(Ordering::Relaxed),
                expected.len(),
                "the next rendering starts with a buffer of this size"
            );
        }
    }
}
