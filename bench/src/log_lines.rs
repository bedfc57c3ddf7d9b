//! `portico-bench log-lines`: what one request's logging costs, on one thread, without the
//! network or the rest of the server around it — figures that machine noise moves far less than
//! a whole-server run.
//!
//! Each iteration is what the telemetry middleware does for a request: open the request span
//! with its id, method and path, record the firm into it, enter and leave it, and write the
//! `request finished` line in it. Measured three ways, alternating, to a sink (so formatting is
//! measured, not writing): the span alone (no line), the line formatted by tracing-subscriber's
//! JSON formatter as Portico used it before (`JsonLines`, BENCHMARKS.md item 25), and the line
//! formatted by `JsonLines`.

use std::time::{Duration, Instant};

use portico_platform::telemetry::JsonLines;
use tracing::Subscriber;
use tracing_subscriber::fmt;
use tracing_subscriber::fmt::format::JsonFields;

/// Requests per timed round.
const REQUESTS: u32 = 200_000;

/// One request's logging, as `web/src/middleware.rs` does it.
fn one_request(request_id: &str, write_line: bool) {
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %"GET",
        path = %"/api/v1/portal/files",
        tenant = tracing::field::Empty,
    );
    {
        let _handling = span.enter();
        tracing::Span::current().record("tenant", "bench");
    }
    if write_line {
        span.in_scope(|| {
            tracing::info!(status = 200_u16, latency_ms = 0.93_f64, "request finished");
        });
    }
}

/// The stock JSON formatter with the settings Portico used before `JsonLines`.
fn stock() -> impl Subscriber + Send + Sync {
    fmt()
        .with_writer(std::io::sink)
        .with_target(true)
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .finish()
}

fn json_lines() -> impl Subscriber + Send + Sync {
    fmt()
        .with_writer(std::io::sink)
        .fmt_fields(JsonFields::new())
        .event_format(JsonLines::new())
        .finish()
}

/// Nanoseconds per request over one timed round.
fn round(subscriber: impl Subscriber + Send + Sync + 'static, write_line: bool) -> f64 {
    let request_id = "0b7e5a3c-1f7a-4d8e-9c1b-2a6f5e4d3c2b";
    tracing::subscriber::with_default(subscriber, || {
        for _ in 0..REQUESTS / 10 {
            one_request(request_id, write_line);
        }
        let started = Instant::now();
        for _ in 0..REQUESTS {
            one_request(request_id, write_line);
        }
        nanos_per(started.elapsed())
    })
}

fn nanos_per(elapsed: Duration) -> f64 {
    elapsed.as_nanos() as f64 / f64::from(REQUESTS)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

pub fn run(rounds: usize) -> anyhow::Result<()> {
    let rounds = rounds.max(1);
    let (mut span_only, mut stock_line, mut our_line) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        span_only.push(round(json_lines(), false));
        stock_line.push(round(stock(), true));
        our_line.push(round(json_lines(), true));
    }
    let span = median(span_only);
    let stock_total = median(stock_line);
    let ours_total = median(our_line);
    println!("One request's logging, one thread, median of {rounds} rounds of {REQUESTS}:");
    println!("| | ns per request | of which the line |");
    println!("| --- | --- | --- |");
    println!("| request span only (open, record the firm, enter, leave) | {span:.0} | |");
    println!(
        "| span + line, tracing-subscriber's JSON formatter | {stock_total:.0} | {:.0} |",
        stock_total - span
    );
    println!(
        "| span + line, `JsonLines` | {ours_total:.0} | {:.0} |",
        ours_total - span
    );
    Ok(())
}
