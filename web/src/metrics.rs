//! Prometheus metrics: requests by route and status, and a latency histogram. Routes are
//! labelled by their shape (ids and tokens replaced by `{id}`), and unmatched paths share one
//! label, so a scanner cannot blow up the label set.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    session_lookups: IntCounterVec,
    activity_feeds: IntCounterVec,
    document_downloads: IntCounterVec,
    /// Copied from the database handle's own counts at each render (the platform crate keeps
    /// plain counters); the lock keeps two renders from adding the same difference twice.
    shared_epoch_reads: IntCounterVec,
    copying_epoch_reads: std::sync::Arc<std::sync::Mutex<()>>,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "portico_http_requests_total",
                "HTTP requests by method, route and status",
            ),
            &["method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "portico_http_request_duration_seconds",
                "HTTP request latency",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
            ]),
            &["method", "route"],
        )?;
        let session_lookups = IntCounterVec::new(
            Opts::new(
                "portico_session_lookups_total",
                "Signed-in requests by where their session was found: cache or database",
            ),
            &["source"],
        )?;
        let activity_feeds = IntCounterVec::new(
            Opts::new(
                "portico_activity_feed_reads_total",
                "Activity feeds shown, by where they were found: memory or database",
            ),
            &["source"],
        )?;
        let document_downloads = IntCounterVec::new(
            Opts::new(
                "portico_document_downloads_total",
                "Document downloads by how the blob was found whole: full (read through \
                 first) or known (a version already written or read through by this process)",
            ),
            &["verification"],
        )?;
        let shared_epoch_reads = IntCounterVec::new(
            Opts::new(
                "portico_shared_epoch_reads_total",
                "PostgreSQL: requests by how they learned their firm's write epoch: read from \
                 the database, or joined (a read another request started after they arrived)",
            ),
            &["source"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(shared_epoch_reads.clone()))?;
        registry.register(Box::new(document_downloads.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(session_lookups.clone()))?;
        registry.register(Box::new(activity_feeds.clone()))?;
        Ok(Self {
            registry,
            requests,
            latency,
            session_lookups,
            activity_feeds,
            document_downloads,
            shared_epoch_reads,
            copying_epoch_reads: Default::default(),
        })
    }

    /// A document download, by how its blob was found whole (`full` or `known`).
    pub fn document_download(&self, verification: &str) {
        self.document_downloads
            .with_label_values(&[verification])
            .inc();
    }

    pub fn observe(&self, method: &str, path: &str, status: u16, seconds: f64) {
        let route = if status == 404 {
            "unmatched".to_owned()
        } else {
            route_label(path)
        };
        self.requests
            .with_label_values(&[method, &route, &status.to_string()])
            .inc();
        self.latency
            .with_label_values(&[method, &route])
            .observe(seconds);
    }

    /// A session looked up from the session cache (`cached`) or the database.
    pub fn session_lookup(&self, cached: bool) {
        let source = if cached { "cache" } else { "database" };
        self.session_lookups.with_label_values(&[source]).inc();
    }

    /// An activity feed answered from memory (`kept`) or read from the database.
    pub fn activity_feed_read(&self, kept: bool) {
        let source = if kept { "memory" } else { "database" };
        self.activity_feeds.with_label_values(&[source]).inc();
    }

    /// The text exposition, with the shared epoch reads `(read, joined)` counted so far by the
    /// database handle ([`portico_platform::Database::shared_epoch_reads`]).
    pub fn render(&self, shared_epoch_reads: (u64, u64)) -> String {
        {
            let _copying = self
                .copying_epoch_reads
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let (read, joined) = shared_epoch_reads;
            for (source, total) in [("database", read), ("joined", joined)] {
                let counter = self.shared_epoch_reads.with_label_values(&[source]);
                counter.inc_by(total.saturating_sub(counter.get()));
            }
        }
        let mut buffer = Vec::new();
        if TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .is_err()
        {
            return String::new();
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}

/// `/api/v1/firm/files/0190…/notes` → `/api/v1/firm/files/{id}/notes`.
pub fn route_label(path: &str) -> String {
    let mut label = String::new();
    for segment in path.split('/').filter(|s| !s.is_empty()).take(8) {
        label.push('/');
        let is_id = segment.len() >= 16
            || segment.bytes().all(|b| b.is_ascii_digit())
            || uuid::Uuid::parse_str(segment).is_ok();
        label.push_str(if is_id { "{id}" } else { segment });
    }
    if label.is_empty() {
        "/".to_owned()
    } else {
        label
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_labels_hide_ids_and_tokens() {
        assert_eq!(route_label("/"), "/");
        assert_eq!(
            route_label("/api/v1/firm/files/0190a3c4-1111-7000-8000-000000000000/notes"),
            "/api/v1/firm/files/{id}/notes"
        );
        assert_eq!(
            route_label("/firm/setup/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcd"),
            "/firm/setup/{id}"
        );
        assert_eq!(
            route_label("/api/v1/platform/tenants/acme"),
            "/api/v1/platform/tenants/acme"
        );
    }

    #[test]
    fn renders_prometheus_text() {
        let metrics = Metrics::new().expect("metrics");
        metrics.observe("GET", "/healthz", 200, 0.002);
        let text = metrics.render((3, 5));
        assert!(
            text.contains(
                "portico_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains("portico_http_request_duration_seconds_bucket"));
        assert!(
            text.contains("portico_shared_epoch_reads_total{source=\"joined\"} 5"),
            "{text}"
        );
        let again = metrics.render((4, 5));
        assert!(
            again.contains("portico_shared_epoch_reads_total{source=\"database\"} 4"),
            "the database handle's totals, not their sum over renders: {again}"
        );
    }
}
