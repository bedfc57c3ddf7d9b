//! The threads that hash passwords, and which of them may use the CPU when.
//!
//! A login storm — or a credential-stuffing run against a portal — must not slow down the
//! firm's and its clients' other requests. Niceness does not achieve that: on a two-core
//! machine a hashing thread at niceness 10 (or 19) still tripled the reads' p99 during a
//! storm of 200 sign-ins, while a hashing thread under `SCHED_IDLE` kept it within 1.2–1.8×
//! (BENCHMARKS.md, item 27). The kernel treats a core running only `SCHED_IDLE` work as free:
//! it wakes other threads onto that core and lets them preempt the hash at once.
//!
//! `SCHED_IDLE` alone could starve sign-ins: on a machine whose cores are busy without a
//! pause, an idle-priority hash gets a few thousandths of a core, and a 25 ms hash would
//! take seconds. So hashing runs in two lanes:
//! - **idle lanes** (one thread per core but one, as before): `SCHED_IDLE`; they take every
//!   job first;
//! - **the rescue lane** (one thread at niceness 10, the priority all hashing had before):
//!   it steps in only when the idle lanes have stalled — a job has been waiting for
//!   [`RESCUE_AFTER`] and no idle lane has finished a hash in that time. It then takes the
//!   oldest job, running a second copy of one an idle lane has started (the answer that comes
//!   first is used; an idle lane cannot be interrupted mid-hash, and a thread that has
//!   entered `SCHED_IDLE` may not leave it without privileges).
//!
//! In a storm on a machine with any spare CPU the idle lanes keep finishing hashes, so the
//! rescue lane stays out of it; under load that leaves them nothing, a sign-in waits about
//! [`RESCUE_AFTER`] longer than it did with niceness 10 alone.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::Workspace;

/// How long a job waits, with no idle lane finishing a hash meanwhile, before the rescue lane
/// takes it. A hash takes 25–70 ms here (BENCHMARKS.md); half a second is long enough that
/// idle lanes making progress under load are never overtaken, short enough for a sign-in.
pub(super) const RESCUE_AFTER: Duration = Duration::from_millis(500);

/// A hashing thread hands back its working memory after this long without a hash.
const IDLE_RELEASE: Duration = Duration::from_secs(30);

/// Priority of the rescue lane on `thread_priority`'s 0–99 scale: 22 is niceness 10 on Linux,
/// about a tenth of a core that other work wants.
const RESCUE_PRIORITY: u8 = 22;

/// Work that may run twice (once per lane) and answers once.
type Work = Box<dyn Fn(&mut Workspace) + Send + Sync>;

struct Job {
    work: Work,
    queued_at: Instant,
    /// Set once the rescue lane has taken (or copied) this job.
    rescued: AtomicBool,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Arc<Job>>,
    /// Jobs an idle lane is hashing.
    running: Vec<Arc<Job>>,
    /// When an idle lane last finished a hash.
    last_idle_finish: Option<Instant>,
    stopping: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Idle lanes wait here for jobs.
    job_for_idle: Condvar,
    /// The rescue lane waits here for jobs to watch.
    job_for_rescue: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state half-changed: every change
        // under it is a single push, pop or assignment.
        unpoisoned(&self.state)
    }
}

/// `mutex` locked, even after a panic elsewhere while it was held: what this module keeps
/// under its locks is whole after every single change (a queue, an answer not yet sent).
pub(super) fn unpoisoned<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The hashing threads; they stop when the last handle is dropped.
pub(super) struct HashingThreads {
    shared: Arc<Shared>,
}

impl HashingThreads {
    /// `idle_lanes` idle-priority threads and the rescue lane.
    pub(super) fn start(idle_lanes: usize, rescue_after: Duration) -> Self {
        let shared = Arc::new(Shared::default());
        for n in 0..idle_lanes {
            let shared = Arc::clone(&shared);
            spawn(format!("portico-argon2-{n}"), move || {
                idle_priority();
                idle_lane(&shared);
            });
        }
        let rescuer = Arc::clone(&shared);
        spawn("portico-argon2-rescue".into(), move || {
            rescue_priority();
            rescue_lane(&rescuer, rescue_after);
        });
        Self { shared }
    }

    /// Runs `work` on a lane and waits for its answer without blocking the runtime. `work`
    /// may run on two lanes (the module comment); the first answer is the one used. A job
    /// whose caller has gone (a client that gave up during a storm) is skipped.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        work: impl Fn(&mut Workspace) -> T + Send + Sync + 'static,
    ) -> Option<T> {
        let (answer, answered) = oneshot::channel();
        let answer = Mutex::new(Some(answer));
        self.submit(Box::new(move |workspace| {
            // The other lane may have answered already, or no one may be waiting any more.
            if unpoisoned(&answer)
                .as_ref()
                .is_none_or(oneshot::Sender::is_closed)
            {
                return;
            }
            let out = work(workspace);
            if let Some(answer) = unpoisoned(&answer).take() {
                let _ = answer.send(out);
            }
        }));
        answered.await.ok()
    }

    /// Queues `work`: an idle lane runs it, or the rescue lane, or both, as the module
    /// comment says; `work` must answer only the first time it completes ([`Self::run`]).
    pub(super) fn submit(&self, work: Work) {
        let job = Arc::new(Job {
            work,
            queued_at: Instant::now(),
            rescued: AtomicBool::new(false),
        });
        self.shared.lock().queue.push_back(job);
        self.shared.job_for_idle.notify_one();
        self.shared.job_for_rescue.notify_one();
    }
}

impl Drop for HashingThreads {
    fn drop(&mut self) {
        self.shared.lock().stopping = true;
        self.shared.job_for_idle.notify_all();
        self.shared.job_for_rescue.notify_all();
    }
}

fn spawn(name: String, body: impl FnOnce() + Send + 'static) {
    if let Err(err) = std::thread::Builder::new().name(name).spawn(body) {
        tracing::error!(error = %err, "could not start a password-hashing thread");
    }
}

fn idle_lane(shared: &Shared) {
    let mut workspace = Workspace::default();
    let mut state = shared.lock();
    loop {
        if state.stopping {
            return;
        }
        let Some(job) = state.queue.pop_front() else {
            let (next, waited) = shared
                .job_for_idle
                .wait_timeout(state, IDLE_RELEASE)
                .unwrap_or_else(PoisonError::into_inner);
            state = next;
            if waited.timed_out() && state.queue.is_empty() {
                workspace.release();
            }
            continue;
        };
        state.running.push(Arc::clone(&job));
        drop(state);
        (job.work)(&mut workspace);
        state = shared.lock();
        state.running.retain(|running| !Arc::ptr_eq(running, &job));
        state.last_idle_finish = Some(Instant::now());
    }
}

fn rescue_lane(shared: &Shared, rescue_after: Duration) {
    let mut workspace = Workspace::default();
    let mut state = shared.lock();
    loop {
        if state.stopping {
            return;
        }
        let now = Instant::now();
        match next_rescue(&mut state, now, rescue_after) {
            Rescue::Run(job) => {
                drop(state);
                (job.work)(&mut workspace);
                state = shared.lock();
            }
            Rescue::WaitUntil(when) => {
                state = shared
                    .job_for_rescue
                    .wait_timeout(state, when.saturating_duration_since(now))
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            Rescue::Nothing => {
                let (next, waited) = shared
                    .job_for_rescue
                    .wait_timeout(state, IDLE_RELEASE)
                    .unwrap_or_else(PoisonError::into_inner);
                state = next;
                if waited.timed_out() {
                    workspace.release();
                }
            }
        }
    }
}

enum Rescue {
    Run(Arc<Job>),
    WaitUntil(Instant),
    Nothing,
}

/// The job the rescue lane should run now, or when to look again. A job is due once it has
/// waited `rescue_after` since it was queued and since an idle lane last finished a hash; a
/// job an idle lane is running comes before the queued ones (it is the oldest).
fn next_rescue(state: &mut State, now: Instant, rescue_after: Duration) -> Rescue {
    let last_idle_finish = state.last_idle_finish;
    let due = |job: &Job| {
        let since = last_idle_finish.map_or(job.queued_at, |finished| finished.max(job.queued_at));
        since + rescue_after
    };
    let mut earliest: Option<Instant> = None;
    let mut chosen = None;
    for job in state.running.iter().chain(state.queue.front()) {
        if job.rescued.load(Ordering::Relaxed) {
            continue;
        }
        let due_at = due(job);
        if due_at <= now {
            chosen = Some(Arc::clone(job));
            break;
        }
        earliest = Some(earliest.map_or(due_at, |e| e.min(due_at)));
    }
    let Some(job) = chosen else {
        return earliest.map_or(Rescue::Nothing, Rescue::WaitUntil);
    };
    job.rescued.store(true, Ordering::Relaxed);
    if state
        .queue
        .front()
        .is_some_and(|front| Arc::ptr_eq(front, &job))
    {
        state.queue.pop_front();
    }
    Rescue::Run(job)
}

fn idle_priority() {
    run_self_under(
        Ok(thread_priority::ThreadPriority::Min),
        thread_priority::unix::NormalThreadSchedulePolicy::Idle,
    );
}

fn rescue_priority() {
    run_self_under(
        thread_priority::ThreadPriorityValue::try_from(RESCUE_PRIORITY)
            .map(thread_priority::ThreadPriority::Crossplatform)
            .map_err(|e| e.to_string()),
        thread_priority::unix::NormalThreadSchedulePolicy::Other,
    );
}

/// Puts the calling thread under `policy` at `priority`; where that fails, it says so and the
/// thread hashes at normal priority.
fn run_self_under(
    priority: Result<thread_priority::ThreadPriority, String>,
    policy: thread_priority::unix::NormalThreadSchedulePolicy,
) {
    use thread_priority::unix::{
        ThreadSchedulePolicy, set_thread_priority_and_policy, thread_native_id,
    };
    let set = priority.and_then(|priority| {
        set_thread_priority_and_policy(
            thread_native_id(),
            priority,
            ThreadSchedulePolicy::Normal(policy),
        )
        .map_err(|e| e.to_string())
    });
    if let Err(err) = set {
        tracing::warn!(error = %err, "password hashing runs at normal priority");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use thread_priority::unix::{
        NormalThreadSchedulePolicy, ThreadSchedulePolicy, thread_schedule_policy,
    };

    fn thread_name() -> String {
        std::thread::current().name().unwrap_or_default().to_owned()
    }

    /// An idle lane that does not finish (here: blocked, as it would be with no CPU to spare)
    /// is overtaken by the rescue lane, which runs a copy of its job; both copies complete.
    #[test]
    fn a_stalled_idle_lane_is_rescued_by_a_copy_of_its_job() {
        let threads = HashingThreads::start(1, Duration::from_millis(50));
        let (release, released) = mpsc::channel::<()>();
        let released = Mutex::new(released);
        let (answer, answers) = mpsc::channel();
        threads.submit(Box::new(move |_| {
            if thread_name() != "portico-argon2-rescue" {
                let _ = released.lock().expect("lock").recv();
            }
            let _ = answer.send((thread_name(), thread_schedule_policy().expect("policy")));
        }));
        let (first, first_policy) = answers.recv().expect("an answer");
        assert_eq!(first, "portico-argon2-rescue");
        assert_eq!(
            first_policy,
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other)
        );
        release.send(()).expect("the idle lane waits");
        let (second, second_policy) = answers.recv().expect("the idle lane's answer");
        assert_eq!(second, "portico-argon2-0");
        assert_eq!(
            second_policy,
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle)
        );
    }

    /// Jobs queued behind an idle lane that keeps finishing are left to it, however long
    /// they wait: a storm is hashed on idle CPU only.
    #[test]
    fn an_idle_lane_that_keeps_finishing_is_not_overtaken() {
        let threads = HashingThreads::start(1, Duration::from_secs(2));
        let (answer, answers) = mpsc::channel();
        for _ in 0..40 {
            let answer = answer.clone();
            threads.submit(Box::new(move |_| {
                std::thread::sleep(Duration::from_millis(5));
                let _ = answer.send(thread_name());
            }));
        }
        let lanes: Vec<String> = (0..40).map(|_| answers.recv().expect("answer")).collect();
        assert!(
            lanes.iter().all(|lane| lane == "portico-argon2-0"),
            "{lanes:?}"
        );
    }

    /// With no idle lane at all, every job is still answered (by the rescue lane, once each).
    #[test]
    fn without_idle_lanes_the_rescue_lane_answers_every_job() {
        let threads = HashingThreads::start(0, Duration::from_millis(1));
        let (answer, answers) = mpsc::channel();
        for n in 0..5 {
            let answer = answer.clone();
            threads.submit(Box::new(move |_| {
                let _ = answer.send((n, thread_name()));
            }));
        }
        drop(answer);
        let mut got: Vec<(i32, String)> = answers.iter().take(5).collect();
        got.sort();
        let expected: Vec<(i32, String)> = (0..5)
            .map(|n| (n, "portico-argon2-rescue".to_owned()))
            .collect();
        assert_eq!(got, expected);
    }
}
