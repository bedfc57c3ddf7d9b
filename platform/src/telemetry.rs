//! Logging set-up: pretty or JSON, filtered by `log.filter` (or `RUST_LOG`), written to stderr
//! by a thread of its own.
//!
//! Every request writes an access-log line. Written on the request's worker thread, each line
//! was a `write(2)` under stderr's lock, which the workers also queued on; logging was about a
//! sixth of the CPU of a JSON read. With the lines written by a log thread, the reads serve up
//! to a tenth more requests (BENCHMARKS.md, item 19). The log thread drains what has queued
//! into one buffer and writes it at once, flushing whenever the queue is empty, so lines still
//! appear as they happen.
//!
//! No line is dropped: when a burst fills the queue, the thread logging waits for room as it
//! waited for stderr before. The queue is flushed when the [`LogGuard`] is dropped — keep it
//! for as long as the command runs. A crash (abort, SIGKILL) loses what was still queued; a
//! panic's own message is written by the panic hook, straight to stderr.

mod json_lines;

use std::io::{BufWriter, Write};

use tracing_appender::non_blocking::{NonBlocking, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt;
use tracing_subscriber::fmt::format::JsonFields;

pub use self::json_lines::JsonLines;

use crate::config::{LogFormat, LogSettings};

/// Lines that may wait for the log thread before a logging thread waits for room (tracing's
/// default; at a few hundred bytes a line, tens of MB at worst).
const QUEUED_LINES: usize = 128_000;

/// Bytes the log thread gathers before a write: it writes sooner whenever the queue is empty.
const WRITE_BUFFER: usize = 64 * 1024;

/// Keeps the log thread; dropping it writes out every queued line.
#[must_use = "logs queued when the guard is dropped are written out then; keep it until exit"]
pub struct LogGuard {
    _worker: Option<WorkerGuard>,
}

/// A thread writing what is sent to the returned writer into `sink`, with at most
/// `queued_lines` waiting (then the sender waits: no line is dropped).
fn log_thread<W: Write + Send + 'static>(
    sink: W,
    queued_lines: usize,
) -> (NonBlocking, WorkerGuard) {
    NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(queued_lines)
        .thread_name("portico-log")
        .finish(BufWriter::with_capacity(WRITE_BUFFER, sink))
}

/// Installs the global subscriber; a second call (tests) is a no-op.
pub fn init(settings: &LogSettings) -> LogGuard {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|value| value.parse::<EnvFilter>().ok())
        .unwrap_or_else(|| EnvFilter::new(&settings.filter));
    // Logs go to stderr so that command output on stdout stays clean for scripts.
    let (writer, guard) = log_thread(std::io::stderr(), QUEUED_LINES);
    let builder = fmt()
        .with_env_filter(filter)
        .with_target(true)
        .with_writer(writer);
    let installed = match settings.format {
        // Each line carries the list of spans it was written in (the request's id, method,
        // path and firm first); the innermost span again on its own would only repeat part of
        // that list, and serializing it cost as much as the list. `JsonLines` writes what
        // tracing-subscriber's JSON formatter writes, flattened, without re-parsing the spans.
        LogFormat::Json => builder
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines::new())
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
    LogGuard {
        _worker: installed.ok().map(|()| guard),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;

    /// A sink slower than the lines sent to it: each write takes a millisecond.
    #[derive(Clone, Default)]
    struct SlowSink(Arc<Mutex<Vec<u8>>>);

    impl Write for SlowSink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            std::thread::sleep(Duration::from_millis(1));
            self.0.lock().expect("sink").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_full_queue_makes_the_sender_wait_and_the_guard_writes_out_the_rest() {
        let sink = SlowSink::default();
        let (mut writer, guard) = log_thread(sink.clone(), 4);
        let sent: Vec<String> = (0..300).map(|i| format!("line {i}\n")).collect();
        for line in &sent {
            writer.write_all(line.as_bytes()).expect("queued");
        }
        drop(guard);
        let written = String::from_utf8(sink.0.lock().expect("sink").clone()).expect("UTF-8");
        assert_eq!(written, sent.concat(), "every line, in order, none dropped");
    }
}
