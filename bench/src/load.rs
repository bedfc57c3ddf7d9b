//! A closed-loop HTTP/1.1 load generator (like wrk): `conns` keep-alive connections, each
//! sending its next request as soon as the previous answer is read, for a warm-up and then a
//! measured window. Every request can carry its own `Host` (many firms) and credentials; every
//! answer's status is checked, so a benchmark can never quietly measure error pages.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpStream;

/// One kind of request.
#[derive(Clone, Debug)]
pub struct Target {
    pub method: Method,
    pub host: String,
    pub path: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
    /// The status every answer must have.
    pub expect: u16,
}

impl Target {
    pub fn get(host: &str, path: &str) -> Self {
        Self {
            method: Method::GET,
            host: host.to_owned(),
            path: path.to_owned(),
            headers: Vec::new(),
            body: Bytes::new(),
            expect: 200,
        }
    }

    pub fn post_json(host: &str, path: &str, body: &serde_json::Value) -> Self {
        let mut target = Self::get(host, path);
        target.method = Method::POST;
        target.body = Bytes::from(body.to_string());
        target.header("content-type", "application/json")
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        let value = HeaderValue::from_str(value).expect("a valid header value");
        self.headers.push((HeaderName::from_static(name), value));
        self
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    pub fn expect(mut self, status: u16) -> Self {
        self.expect = status;
        self
    }

    fn request(&self) -> Request<Full<Bytes>> {
        let mut builder = Request::builder()
            .method(self.method.clone())
            .uri(self.path.as_str())
            .header("host", self.host.as_str());
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        builder
            .body(Full::new(self.body.clone()))
            .expect("a valid request")
    }
}

/// How long and how hard.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub conns: usize,
    pub warmup: Duration,
    pub measure: Duration,
}

/// What one load point measured (answers completed inside the measured window).
#[derive(Clone, Debug, Serialize, Default)]
pub struct Stats {
    pub conns: usize,
    pub requests: u64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Stats {
    pub fn from_latencies(conns: usize, window: Duration, mut micros: Vec<u32>) -> Self {
        micros.sort_unstable();
        let pct = |q: f64| -> f64 {
            if micros.is_empty() {
                return 0.0;
            }
            let rank = ((q * micros.len() as f64).ceil() as usize).clamp(1, micros.len());
            f64::from(micros[rank - 1]) / 1000.0
        };
        Self {
            conns,
            requests: micros.len() as u64,
            rps: micros.len() as f64 / window.as_secs_f64(),
            p50_ms: pct(0.50),
            p90_ms: pct(0.90),
            p99_ms: pct(0.99),
            max_ms: micros.last().map(|m| f64::from(*m) / 1000.0).unwrap_or(0.0),
        }
    }
}

pub async fn connect(addr: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connect {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// One request on a fresh connection: `(status, body)`.
pub async fn once(addr: SocketAddr, target: &Target) -> anyhow::Result<(u16, Bytes)> {
    let mut sender = connect(addr).await?;
    sender.ready().await?;
    send(&mut sender, target).await
}

/// One request on an open connection: `(status, body)`, the body read to the end.
async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    target: &Target,
) -> anyhow::Result<(u16, Bytes)> {
    let response = sender
        .send_request(target.request())
        .await
        .with_context(|| format!("{} {}{}", target.method, target.host, target.path))?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// Waits until `sender` can take a request; the server may close a keep-alive connection after
/// any answer, and then a new one is opened.
async fn ready(addr: SocketAddr, sender: &mut SendRequest<Full<Bytes>>) -> anyhow::Result<()> {
    if sender.ready().await.is_err() {
        *sender = connect(addr).await?;
        sender.ready().await?;
    }
    Ok(())
}

/// Runs `plan` against `addr`; connection `c` sends targets `c, c + conns, c + 2·conns, …` (mod
/// the number of targets), so a long target list is spread over all connections. Fails on any
/// answer whose status is not the target's `expect`.
pub async fn run(
    addr: SocketAddr,
    targets: impl Into<Arc<Vec<Target>>>,
    plan: Plan,
) -> anyhow::Result<Stats> {
    let targets = targets.into();
    if targets.is_empty() {
        bail!("no targets");
    }
    // Connect everyone first, so connection set-up is not part of the warm-up's work.
    let mut senders = Vec::with_capacity(plan.conns);
    for _ in 0..plan.conns {
        senders.push(connect(addr).await?);
    }
    let window_start = Instant::now() + plan.warmup;
    let window_end = window_start + plan.measure;
    let mut tasks = tokio::task::JoinSet::new();
    for (c, sender) in senders.into_iter().enumerate() {
        let targets = targets.clone();
        tasks.spawn(connection(
            addr,
            sender,
            targets,
            c,
            plan.conns,
            window_start,
            window_end,
        ));
    }
    let mut micros = Vec::new();
    let mut failure = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(mut mine)) => micros.append(&mut mine),
            Ok(Err(err)) => failure = failure.or(Some(err)),
            Err(err) => failure = failure.or(Some(anyhow!("load task: {err}"))),
        }
    }
    if let Some(err) = failure {
        return Err(err);
    }
    Ok(Stats::from_latencies(plan.conns, plan.measure, micros))
}

async fn connection(
    addr: SocketAddr,
    mut sender: SendRequest<Full<Bytes>>,
    targets: Arc<Vec<Target>>,
    c: usize,
    conns: usize,
    window_start: Instant,
    window_end: Instant,
) -> anyhow::Result<Vec<u32>> {
    let mut micros = Vec::with_capacity(4096);
    let mut i = c;
    while Instant::now() < window_end {
        let target = &targets[i % targets.len()];
        i += conns;
        ready(addr, &mut sender).await?;
        let sent = Instant::now();
        let (status, body) = send(&mut sender, target).await?;
        let done = Instant::now();
        if status != target.expect {
            let snippet = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
            bail!(
                "{} {}{} answered {status} (expected {}): {snippet}",
                target.method,
                target.host,
                target.path,
                target.expect
            );
        }
        // Answers completed inside the window count (as wrk does), so requests that wait longer
        // than the warm-up (sign-ins in a storm) are counted too.
        if done >= window_start && done <= window_end {
            micros.push(u32::try_from(done.duration_since(sent).as_micros()).unwrap_or(u32::MAX));
        }
    }
    Ok(micros)
}

/// Sends each target exactly once over `conns` connections; returns how long that took. Fails
/// on any answer whose status is not the target's `expect`.
pub async fn sweep(
    addr: SocketAddr,
    targets: Vec<Target>,
    conns: usize,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let targets = Arc::new(targets);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..conns {
        let targets = targets.clone();
        let next = next.clone();
        tasks.spawn(async move {
            let mut sender = connect(addr).await?;
            loop {
                let Some(target) = targets.get(next.fetch_add(1, Ordering::Relaxed)) else {
                    return Ok::<_, anyhow::Error>(());
                };
                ready(addr, &mut sender).await?;
                let (status, _) = send(&mut sender, target).await?;
                if status != target.expect {
                    bail!("{}{}: {status}", target.host, target.path);
                }
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined??;
    }
    Ok(started.elapsed())
}
