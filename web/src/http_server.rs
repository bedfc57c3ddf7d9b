//! The HTTP server: accepts TCP connections and serves HTTP/1.1 and HTTP/2 (cleartext) on them
//! with hyper, every request answered by a poem endpoint.
//!
//! Why not `poem::Server`: it boxes every connection (`BoxIo`: a `tokio::io::split` pair of
//! trait objects), and the box does not pass on that a TCP stream writes vectored. Without it,
//! hyper copies every response body into its own write buffer before writing it — a second
//! copy of every page, JSON answer and download. Here hyper gets the TCP stream as it is and
//! writes the head and the body's chunks together with `writev`, copying none of the body.
//!
//! Everything else is what `poem::Server::run_with_graceful_shutdown` does: the same hyper
//! connection builder (HTTP/1.1, or HTTP/2 when the client opens with its preface), poem's own
//! conversions between hyper's and poem's requests and responses, and the same shutdown — on
//! the signal, stop accepting, let every connection finish the requests it has (keep-alive
//! connections close after their answer), and after the grace period close whatever is left.
//! Sockets get `TCP_NODELAY`: a response is written in as few writes as hyper can make, and the
//! last piece of a streamed download must not wait for the client's delayed ACK.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use poem::http::uri::Scheme;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Endpoint, EndpointExt, IntoEndpoint, Request};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// After a failed `accept` (e.g. out of file descriptors), wait this long before the next, so
/// the loop does not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Serves `endpoint` on `listener` until `signal` resolves, then drains: connections finish
/// what they are answering for at most `grace` (none: as long as they take), and the rest are
/// closed.
pub async fn serve<E>(
    listener: TcpListener,
    endpoint: E,
    signal: impl Future<Output = ()>,
    grace: Option<Duration>,
) -> io::Result<()>
where
    E: IntoEndpoint,
    E::Endpoint: 'static,
{
    let endpoint = Arc::new(endpoint.into_endpoint().map_to_response());
    let local = LocalAddr(listener.local_addr()?.into());
    let draining = CancellationToken::new();
    let closing = CancellationToken::new();
    let connections = TaskTracker::new();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            () = &mut signal => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    connections.spawn(serve_connection(
                        stream,
                        peer,
                        local.clone(),
                        endpoint.clone(),
                        draining.clone(),
                        closing.clone(),
                    ));
                }
                Err(err) => {
                    tracing::warn!(error = %err, "could not accept a connection");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    }
    drop(listener);
    draining.cancel();
    connections.close();
    match grace {
        Some(grace) => {
            if tokio::time::timeout(grace, connections.wait())
                .await
                .is_err()
            {
                tracing::warn!(
                    open = connections.len(),
                    "grace period over: closing the connections still open"
                );
                closing.cancel();
                connections.wait().await;
            }
        }
        None => connections.wait().await,
    }
    Ok(())
}

async fn serve_connection<E>(
    stream: TcpStream,
    peer: SocketAddr,
    local: LocalAddr,
    endpoint: Arc<E>,
    draining: CancellationToken,
    closing: CancellationToken,
) where
    E: Endpoint<Output = poem::Response> + 'static,
{
    // Only fails on a socket that is already gone, which the first read will report.
    let _ = stream.set_nodelay(true);
    let remote = RemoteAddr(peer.into());
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let endpoint = endpoint.clone();
        let request = Request::from((request, local.clone(), remote.clone(), Scheme::HTTP));
        async move {
            // Boxed: the endpoint's future is ~13 KB (every middleware layer holds the layers
            // below it), and hyper moves the future it is given into its connection state, so
            // holding it inline would copy those bytes on every request.
            let response = Box::pin(endpoint.get_response(request)).await;
            Ok::<_, Infallible>(hyper::Response::<BoxBody<Bytes, io::Error>>::from(response))
        }
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        // The client closed, or the connection failed: hyper has nothing more to answer.
        _ = connection.as_mut() => return,
        () = draining.cancelled() => connection.as_mut().graceful_shutdown(),
    }
    tokio::select! {
        _ = connection => {}
        () = closing.cancelled() => {}
    }
}

#[cfg(test)]
mod tests {
    use poem::{Route, get, handler};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::sync::oneshot;

    use super::*;

    /// 1 MiB, every byte's position showing: a body cut, doubled or reordered would not match.
    fn big_body() -> Vec<u8> {
        (0..1024 * 1024u32).map(|i| (i % 251) as u8).collect()
    }

    #[handler]
    fn big() -> Vec<u8> {
        big_body()
    }

    #[handler]
    async fn never() -> &'static str {
        std::future::pending::<()>().await;
        "unreachable"
    }

    struct Running {
        addr: SocketAddr,
        stop: oneshot::Sender<()>,
        server: tokio::task::JoinHandle<io::Result<()>>,
    }

    async fn start(grace: Option<Duration>) -> Running {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let routes = Route::new().at("/big", get(big)).at("/never", get(never));
        let server = tokio::spawn(serve(
            listener,
            routes,
            async move {
                let _ = stopped.await;
            },
            grace,
        ));
        Running { addr, stop, server }
    }

    /// Sends a GET on `stream` and reads one response: its head and its body (by its length).
    async fn get_on(stream: &mut TcpStream, path: &str) -> (String, Vec<u8>) {
        let request = format!("GET {path} HTTP/1.1\r\nhost: test\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut received = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        let head_end = loop {
            if let Some(at) = received.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "the connection closed before the response head");
            received.extend_from_slice(&buf[..n]);
        };
        let head = String::from_utf8(received[..head_end].to_vec()).unwrap();
        let length: usize = head
            .lines()
            .find_map(|line| {
                line.to_ascii_lowercase()
                    .strip_prefix("content-length: ")
                    .map(str::to_owned)
            })
            .expect("a content-length header")
            .trim()
            .parse()
            .unwrap();
        let mut body = received.split_off(head_end);
        while body.len() < length {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "the connection closed inside the body");
            body.extend_from_slice(&buf[..n]);
        }
        assert_eq!(body.len(), length, "nothing after the body");
        (head, body)
    }

    #[tokio::test]
    async fn bodies_arrive_whole_with_their_length_on_a_kept_alive_connection() {
        let running = start(Some(Duration::from_secs(5))).await;
        let mut stream = TcpStream::connect(running.addr).await.unwrap();
        for round in 0..2 {
            let (head, body) = get_on(&mut stream, "/big").await;
            assert!(head.starts_with("HTTP/1.1 200"), "round {round}: {head}");
            assert!(body == big_body(), "round {round}: the body differs");
        }
        let (head, _) = get_on(&mut stream, "/nowhere").await;
        assert!(head.starts_with("HTTP/1.1 404"), "{head}");
        drop(stream);
        running.stop.send(()).unwrap();
        running.server.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn shutdown_closes_the_listener_and_idle_connections_and_ends_stuck_ones_after_the_grace()
    {
        let running = start(Some(Duration::from_millis(300))).await;
        let mut idle = TcpStream::connect(running.addr).await.unwrap();
        let (head, _) = get_on(&mut idle, "/big").await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let mut stuck = TcpStream::connect(running.addr).await.unwrap();
        stuck
            .write_all(b"GET /never HTTP/1.1\r\nhost: test\r\n\r\n")
            .await
            .unwrap();
        // Let the stuck request reach its handler before the signal.
        tokio::time::sleep(Duration::from_millis(100)).await;
        running.stop.send(()).unwrap();

        // The kept-alive connection that was answered closes at once.
        let mut buf = [0u8; 16];
        let idle_read = tokio::time::timeout(Duration::from_secs(2), idle.read(&mut buf)).await;
        assert!(
            matches!(idle_read, Ok(Ok(0))),
            "idle connection closed: {idle_read:?}"
        );

        // The stuck one holds the server until the grace period is over, then is closed.
        let stopped = tokio::time::timeout(Duration::from_secs(5), running.server).await;
        assert!(
            matches!(stopped, Ok(Ok(Ok(())))),
            "server stopped: {stopped:?}"
        );
        let stuck_read = tokio::time::timeout(Duration::from_secs(2), stuck.read(&mut buf)).await;
        assert!(
            matches!(stuck_read, Ok(Ok(0))),
            "stuck connection closed: {stuck_read:?}"
        );
        assert!(
            TcpStream::connect(running.addr).await.is_err(),
            "the listener is closed"
        );
    }
}
