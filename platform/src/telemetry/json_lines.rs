//! The JSON log line, written without parsing back what was already written.
//!
//! tracing-subscriber keeps each span's fields as a JSON object in text. Its JSON formatter
//! parses that text into a `serde_json::Value` for every line written in the span, only to
//! write it out again unchanged. Every request writes its access-log line in the request's
//! span, so every request paid for that parse: about half of what formatting the line cost
//! (BENCHMARKS.md, item 25).
//!
//! [`JsonLines`] writes the same line byte for byte — the same keys in the same order, the
//! same escapes, the same numbers — and copies each span's kept object in as it is. The
//! event's own fields still go through `serde_json` and `tracing-serde`, exactly as the stock
//! formatter writes them. The tests hold the two formatters to the same bytes.
//!
//! It matches the stock formatter as Portico sets it up: fields flattened into the line, the
//! list of spans, no separate current span, no file, line or thread.

use std::fmt;
use std::io;

use serde::ser::{SerializeMap, Serializer as _};
use tracing::{Event, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_serde::SerdeMapVisitor;
use tracing_subscriber::fmt::format::{FormatEvent, JsonFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// Formats events as one JSON object per line; see the module documentation.
#[derive(Debug, Clone)]
pub struct JsonLines<T = SystemTime> {
    timer: T,
}

impl JsonLines {
    /// Lines timestamped by the system clock in RFC 3339, as tracing-subscriber's default.
    pub fn new() -> Self {
        JsonLines { timer: SystemTime }
    }
}

impl Default for JsonLines {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> JsonLines<T> {
    /// The same lines, timestamped by `timer` (tests compare lines stamped alike).
    #[cfg(test)]
    pub fn with_timer<U>(self, timer: U) -> JsonLines<U> {
        JsonLines { timer }
    }
}

impl<S, T> FormatEvent<S, JsonFields> for JsonLines<T>
where
    S: Subscriber + for<'lookup> LookupSpan<'lookup>,
    T: FormatTime,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut timestamp = String::new();
        self.timer.format_time(&mut Writer::new(&mut timestamp))?;
        // Events from the `log` crate carry their real target in fields.
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());

        {
            let mut serializer = serde_json::Serializer::new(FmtToIo(&mut writer));
            let mut line = serializer.serialize_map(None).map_err(|_| fmt::Error)?;
            line.serialize_entry("timestamp", &timestamp)
                .map_err(|_| fmt::Error)?;
            line.serialize_entry("level", meta.level().as_str())
                .map_err(|_| fmt::Error)?;
            let mut fields = SerdeMapVisitor::new(line);
            event.record(&mut fields);
            let mut line = fields.take_serializer().map_err(|_| fmt::Error)?;
            line.serialize_entry("target", meta.target())
                .map_err(|_| fmt::Error)?;
            // The object is closed below, after the spans; dropping an unfinished map writes
            // nothing.
        }

        // As the stock formatter: the list is written when the event has a span, and lists
        // the spans entered on this thread, outermost first.
        let in_a_span = event
            .parent()
            .and_then(|id| ctx.span(id))
            .or_else(|| ctx.lookup_current())
            .is_some();
        if in_a_span {
            writer.write_str(",\"spans\":[")?;
            if let Some(leaf) = ctx.lookup_current() {
                for (position, span) in leaf.scope().from_root().enumerate() {
                    if position > 0 {
                        writer.write_char(',')?;
                    }
                    let extensions = span.extensions();
                    let kept = extensions
                        .get::<FormattedFields<JsonFields>>()
                        .map(|kept| kept.fields.as_str());
                    write_span(&mut writer, kept, span.name())?;
                }
            }
            writer.write_char(']')?;
        }
        writer.write_str("}\n")
    }
}

/// One span: its kept fields (an object written by `JsonFields`) followed by its name.
fn write_span(writer: &mut Writer<'_>, kept_fields: Option<&str>, name: &str) -> fmt::Result {
    writer.write_char('{')?;
    let members = kept_fields
        .and_then(|object| object.strip_prefix('{'))
        .and_then(|object| object.strip_suffix('}'))
        .unwrap_or_default();
    if !members.is_empty() {
        writer.write_str(members)?;
        writer.write_char(',')?;
    }
    writer.write_str("\"name\":")?;
    serde_json::to_writer(FmtToIo(writer), name).map_err(|_| fmt::Error)?;
    writer.write_char('}')
}

/// Lets `serde_json`, which writes to `io::Write`, write into the line being formatted.
struct FmtToIo<'a, W: fmt::Write>(&'a mut W);

impl<W: fmt::Write> io::Write for FmtToIo<'_, W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        // serde_json writes whole UTF-8 sequences: it splits strings only around escapes.
        let text = std::str::from_utf8(bytes).map_err(io::Error::other)?;
        self.0.write_str(text).map_err(io::Error::other)?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing::level_filters::LevelFilter;
    use tracing::subscriber::with_default;
    use tracing::{Level, debug, error, info, info_span, warn};
    use tracing_subscriber::fmt::MakeWriter;
    use tracing_subscriber::fmt::SubscriberBuilder;
    use tracing_subscriber::fmt::format::{Format, Json};

    use super::*;

    /// Every line timestamped alike, so that two formatters' lines can be compared.
    struct SameTime;

    impl FormatTime for SameTime {
        fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
            w.write_str("2026-11-24T21:34:26.518120Z")
        }
    }

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl Lines {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().expect("lines").clone()).expect("UTF-8")
        }
    }

    impl io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("lines").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Lines {
        type Writer = Lines;
        fn make_writer(&'a self) -> Lines {
            self.clone()
        }
    }

    #[derive(Debug)]
    struct Refused;

    impl fmt::Display for Refused {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("refused \"quoted\"")
        }
    }

    impl std::error::Error for Refused {}

    /// Lines of every shape Portico writes, and some it might.
    fn log_everything() {
        info!("outside any span");
        warn!(count = 3_u64, delta = -7_i64, "plain numbers");
        let request = info_span!(
            "request",
            request_id = "0b7e-\"id\"",
            method = "GET",
            path = "/api/v1/portal/files",
            tenant = tracing::field::Empty,
        );
        {
            let _entered = request.enter();
            info!(status = 200_u16, latency_ms = 0.93_f64, "request finished");
            tracing::Span::current().record("tenant", "smith-jones");
            info!(status = 404_u16, latency_ms = 12.0_f64, "request finished");
            let inner = tracing::debug_span!("query", sql = "SELECT \"id\" FROM files", rows = 2);
            inner.in_scope(|| {
                debug!(
                    text = "tab\tnewline\ncontrol\u{1}quote\"backslash\\ é ✓ 😀",
                    flag = true,
                    big = u128::MAX,
                    small = i128::MIN,
                    ratio = f64::NAN,
                    tiny = 1e-7_f64,
                    huge = 1.5e300_f64,
                    debugged = ?Some("x"),
                    shown = %"display",
                    "every kind of field"
                );
                error!(
                    error = &Refused as &(dyn std::error::Error + 'static),
                    "failed"
                );
            });
            tracing::Span::current().record("tenant", "renamed");
            info!(message_alone = "no message field");
        }
        let empty = info_span!("empty");
        info!(parent: &empty, "explicit parent, no span entered");
        empty.in_scope(|| info!(r#type = "raw identifier", "in an empty span"));
        let record = log::Record::builder()
            .args(format_args!("from the log crate"))
            .level(log::Level::Warn)
            .target("lettre::transport")
            .module_path(Some("lettre::transport::smtp"))
            .file(Some("smtp.rs"))
            .line(Some(42))
            .build();
        tracing_log::format_trace(&record).expect("a log record becomes an event");
    }

    /// The stock JSON formatter as Portico used it before [`JsonLines`].
    fn builder(
        lines: &Lines,
    ) -> SubscriberBuilder<JsonFields, Format<Json, SameTime>, LevelFilter, Lines> {
        tracing_subscriber::fmt()
            .with_max_level(Level::TRACE)
            .with_target(true)
            .with_writer(lines.clone())
            .with_timer(SameTime)
            .json()
            .flatten_event(true)
            .with_current_span(false)
    }

    #[test]
    fn writes_what_the_stock_json_formatter_writes_byte_for_byte() {
        let stock = Lines::default();
        with_default(builder(&stock).finish(), log_everything);
        let ours = Lines::default();
        with_default(
            builder(&ours)
                .event_format(JsonLines::new().with_timer(SameTime))
                .finish(),
            log_everything,
        );
        let stock = stock.text();
        assert_eq!(
            stock.lines().count(),
            10,
            "every event was written: {stock}"
        );
        assert!(stock.contains("\"tenant\":\"renamed\""), "{stock}");
        assert!(
            stock.contains("\"target\":\"lettre::transport\""),
            "{stock}"
        );
        for (ours, stock) in ours.text().lines().zip(stock.lines()) {
            assert_eq!(ours, stock);
        }
        assert_eq!(ours.text(), stock);
    }

    #[test]
    fn every_line_is_one_json_object_with_its_spans_fields() {
        let lines = Lines::default();
        with_default(
            builder(&lines).event_format(JsonLines::new()).finish(),
            log_everything,
        );
        let text = lines.text();
        let parsed: Vec<serde_json::Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).expect("each line is JSON"))
            .collect();
        let finished = &parsed[3];
        assert_eq!(finished["message"], "request finished");
        assert_eq!(finished["status"], 404);
        assert_eq!(finished["spans"][0]["tenant"], "smith-jones");
        assert_eq!(finished["spans"][0]["request_id"], "0b7e-\"id\"");
        assert_eq!(finished["spans"][0]["name"], "request");
        let nested = &parsed[4];
        assert_eq!(nested["spans"][1]["sql"], "SELECT \"id\" FROM files");
        assert_eq!(nested["spans"][1]["name"], "query");
        // A real clock: RFC 3339 in UTC.
        let stamp = finished["timestamp"].as_str().expect("a timestamp");
        assert!(
            chrono::DateTime::parse_from_rfc3339(stamp).is_ok(),
            "{stamp}"
        );
    }
}
