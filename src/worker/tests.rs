//! The worker loop against real backends, with a job runner written in Rust so the engine is
//! tested without Python: every test that involves the queue runs on the embedded queue (a SQLite
//! file per test), on a real beanstalkd of its own, and with the Couchbase store when a cluster
//! is named (`ZEROG_TEST_COUCHBASE`, see `build.rs`).

use super::*;
use crate::client::cancel;
use crate::embedded::{EmbeddedQueue, SqliteStore};
use crate::fleet::{Body, Message, WorkerState};
use crate::job::cancel::REQUESTED;
use crate::job::{key_for, new_document, queue_body, Doc, LogList, Status};
use crate::progress::RunContext;
use crate::queue::beanstalk::testserver::TestServer;
use crate::queue::{BeanstalkQueue, JobState, PutRequest};
use crate::queue::{JobId, DEFAULT_PRIORITY};
use crate::store;
use crate::store::Cas;
use serde_json::json;
use std::sync::atomic::AtomicUsize;
use std::sync::Mutex;

const TUBE: &str = "worker_tests";

struct Env {
    _dir: tempfile::TempDir,
    /// The beanstalkd the queue lives on, when it is not the embedded one.
    _server: Option<TestServer>,
    store: Arc<dyn Store>,
    queue: Arc<dyn Queue>,
    /// Opens another connection to the queue, as another worker process would.
    connect: Box<dyn Fn() -> Arc<dyn Queue> + Send + Sync>,
}

/// The queue a test runs on: every test that involves the queue runs on both kinds.
#[derive(Clone, Copy)]
enum Backend {
    /// The store and the queue in one SQLite file: the worker fuses their writes.
    Embedded,
    /// The store and the queue in two files: the path every other backend pair takes.
    Apart,
    /// A real beanstalkd of the test's own, with the store in a SQLite file.
    Beanstalkd,
    /// The Couchbase store (`ZEROG_TEST_COUCHBASE`), each test's keys apart from every other
    /// test's, and the embedded queue in a file of its own.
    #[cfg(feature = "couchbase")]
    Couchbase,
}

fn env_on(backend: Backend) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.db");
    let (store_path, server) = match backend {
        Backend::Embedded => (path.clone(), None),
        Backend::Apart => (dir.path().join("docs.db"), None),
        Backend::Beanstalkd => (path.clone(), Some(TestServer::start(&[]))),
        #[cfg(feature = "couchbase")]
        Backend::Couchbase => (dir.path().join("unused.db"), None),
    };
    let store: Arc<dyn Store> = match backend {
        #[cfg(feature = "couchbase")]
        Backend::Couchbase => {
            let url = store::couchbase_test_url("");
            let cb = store::couchbase::CouchbaseStore::open(&url).expect("open the test cluster");
            Arc::new(store::namespaced::Namespaced::new(Arc::new(cb)))
        }
        _ => Arc::new(SqliteStore::open(&store_path).unwrap()),
    };
    let connect: Box<dyn Fn() -> Arc<dyn Queue> + Send + Sync> = match &server {
        None => Box::new(move || Arc::new(EmbeddedQueue::open(&path).unwrap()) as Arc<dyn Queue>),
        Some(s) => {
            let port = s.port;
            Box::new(move || {
                Arc::new(BeanstalkQueue::connect("127.0.0.1", port).unwrap()) as Arc<dyn Queue>
            })
        }
    };
    Env {
        _dir: dir,
        _server: server,
        store,
        queue: connect(),
        connect,
    }
}

/// Declares a test that runs on every queue backend: `name` becomes a module with one test per
/// backend, each calling the body with its `Env`.
macro_rules! on_every_queue {
    ($(#[$doc:meta])* fn $name:ident($e:ident: Env) $body:block) => {
        $(#[$doc])*
        mod $name {
            use super::*;
            fn check($e: Env) $body
            #[test]
            fn embedded() {
                check(env_on(Backend::Embedded));
            }
            #[test]
            fn beanstalkd() {
                check(env_on(Backend::Beanstalkd));
            }
            #[test]
            #[cfg(feature = "couchbase")]
            #[cfg_attr(not(zerog_couchbase_tests), ignore = "needs a Couchbase cluster: build with ZEROG_TEST_COUCHBASE=couchbase://user:password@host/bucket")]
            fn couchbase() {
                check(env_on(Backend::Couchbase));
            }
        }
    };
}

impl Env {
    /// Saves a job document and queues it, as `enqueue()` does.
    fn enqueue(&self, uuid: &str, job_type: &str, ttr: u32) -> JobId {
        let mut fields = Doc::new();
        fields.insert(
            "queueKwargs".into(),
            json!({"ttr": ttr, "priority": DEFAULT_PRIORITY, "delay": 0}),
        );
        self.store
            .insert(&key_for(uuid), &new_document(uuid, job_type, TUBE, fields))
            .unwrap();
        self.put_body(queue_body(uuid), ttr)
    }

    fn put_body(&self, body: Vec<u8>, ttr: u32) -> JobId {
        self.queue
            .put(&PutRequest {
                tube: TUBE.into(),
                body,
                priority: DEFAULT_PRIORITY,
                delay: 0,
                ttr,
            })
            .unwrap()
    }

    fn doc(&self, uuid: &str) -> Doc {
        self.store.get(&key_for(uuid)).unwrap().unwrap().doc
    }

    fn worker(&self, configure: impl FnOnce(&mut WorkerConfig)) -> Worker {
        let mut config = WorkerConfig::new(vec![TUBE.into()], "test-worker");
        config.load_retry_delay = 0;
        config.reserve_slice = Duration::from_millis(50);
        configure(&mut config);
        // The worker gets its own queue connection, as a worker process would.
        let queue = (self.connect)();
        Worker::new(self.store.clone(), queue, config).unwrap()
    }

    /// Runs `worker` until `done` holds (checked every 20 ms) or 10 s pass, then stops it.
    fn run_until(
        &self,
        worker: &Worker,
        runner: &mut dyn JobRunner,
        done: impl Fn(&Env) -> bool,
    ) -> u64 {
        let stop = worker.stop_flag();
        std::thread::scope(|s| {
            let handle = s.spawn(|| worker.run(runner).unwrap());
            let deadline = Instant::now() + Duration::from_secs(10);
            while !done(self) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            stop.store(true, Ordering::Relaxed);
            handle.join().unwrap()
        })
    }
}

/// A runner that answers with a closure; `policy` is fixed.
struct FnRunner<F> {
    policy: Option<Policy>,
    f: F,
}

impl<F> JobRunner for FnRunner<F>
where
    F: FnMut(&Doc, &Arc<RunContext>) -> RunResult + Send,
{
    fn policy(&mut self, _job_type: &str) -> Option<Policy> {
        self.policy
    }
    fn run(&mut self, doc: &Doc, _cas: Cas, ctx: &Arc<RunContext>) -> RunResult {
        (self.f)(doc, ctx)
    }
}

fn runner<F>(f: F) -> FnRunner<F>
where
    F: FnMut(&Doc, &Arc<RunContext>) -> RunResult + Send,
{
    FnRunner {
        policy: Some(Policy {
            max_retries: 2,
            retry_delay: 0.0,
            max_runtime: None,
        }),
        f,
    }
}

fn status_is(uuid: &'static str, status: Status) -> impl Fn(&Env) -> bool {
    move |e: &Env| e.doc(uuid).status() == status
}

on_every_queue! {
fn a_finished_job_is_done_and_leaves_the_queue(e: Env) {
    let id = e.enqueue("j1", "t", 60);
    let w = e.worker(|c| c.max_jobs = Some(1));
    let mut r = runner(|doc, _| {
        assert_eq!(
            doc.status(),
            Status::Running,
            "the runner sees the job marked running"
        );
        assert!(doc.bool_field("running"));
        RunResult::Finished { result_code: 200 }
    });
    assert_eq!(w.run(&mut r).unwrap(), 1);
    let doc = e.doc("j1");
    assert_eq!(doc.status(), Status::Done);
    assert_eq!(doc.i64_field("resultCode"), 200);
    assert_eq!(doc.f64_field("completeness"), 1.0);
    assert!(!doc.bool_field("running"));
    assert_eq!(doc.i64_field("attempts"), 1);
    assert_eq!(doc.i64_field("queueJobId"), id as i64);
    assert_eq!(doc.str_field("workerId"), Some("test-worker"));
    for f in ["startedAt", "finishedAt", "heartbeatAt"] {
        assert!(doc.str_field(f).is_some(), "{f} is set");
    }
    assert!(matches!(
        e.queue.stats_job(id),
        Err(Error::JobNotFound { .. })
    ));
}
}

on_every_queue! {
/// The outcome is written over the document as claimed when nobody wrote since; a job that wrote
/// its own document while it ran (a saved field, a log entry) keeps what it wrote. Fast jobs, so
/// the worker claims them in batches, the path where the claimed document is reused most.
fn what_a_job_writes_while_it_runs_survives_its_outcome(e: Env) {
    let uuids: Vec<String> = (0..40).map(|i| format!("w{i}")).collect();
    for u in &uuids {
        e.enqueue(u, "t", 60);
    }
    let store = e.store.clone();
    let w = e.worker(|c| c.max_jobs = Some(40));
    let mut r = runner(move |doc, _| {
        let uuid = doc.str_field("uuid").unwrap().to_owned();
        // Every other job writes its document; the rest leave it alone.
        if uuid.trim_start_matches('w').parse::<u32>().unwrap() % 2 == 0 {
            store::update(&*store, &key_for(&uuid), |d| {
                d.set("note", format!("saved by {uuid}"));
                d.push_log(LogList::Events, crate::job::log_entry("halfway", None));
                Ok(())
            })
            .unwrap();
        }
        RunResult::Finished { result_code: 200 }
    });
    assert_eq!(w.run(&mut r).unwrap(), 40);
    for (i, u) in uuids.iter().enumerate() {
        let doc = e.doc(u);
        assert_eq!(doc.status(), Status::Done, "{u}");
        assert_eq!(doc.i64_field("attempts"), 1, "{u}");
        if i % 2 == 0 {
            assert_eq!(
                doc.str_field("note"),
                Some(format!("saved by {u}").as_str())
            );
            let events = doc.get("events").and_then(|v| v.as_array()).unwrap();
            assert_eq!(events.len(), 1, "{u}: {events:?}");
        } else {
            assert!(doc.get("note").is_none());
        }
    }
}
}

on_every_queue! {
fn a_requeued_job_runs_again_after_its_delay_keeping_what_it_saved(e: Env) {
    let id = e.enqueue("j2", "t", 60);
    let w = e.worker(|c| c.max_jobs = Some(2));
    let runs = AtomicUsize::new(0);
    let first_done = Mutex::new(None::<Instant>);
    let second_started = Mutex::new(None::<Instant>);
    let store = e.store.clone();
    let mut r = runner(|doc, _| {
        if runs.fetch_add(1, Ordering::SeqCst) == 0 {
            // Checkpoint a field of its own, then ask to come back in a second.
            store::update(&*store, &key_for("j2"), |d| {
                d.set("step", 1);
                Ok(())
            })
            .unwrap();
            *first_done.lock().unwrap() = Some(Instant::now());
            RunResult::Requeue { delay: 1.0 }
        } else {
            *second_started.lock().unwrap() = Some(Instant::now());
            assert_eq!(
                doc.i64_field("step"),
                1,
                "the saved checkpoint survives the requeue"
            );
            RunResult::Finished { result_code: 200 }
        }
    });
    assert_eq!(w.run(&mut r).unwrap(), 2);
    let gap = second_started.lock().unwrap().unwrap() - first_done.lock().unwrap().unwrap();
    assert!(
        gap >= Duration::from_millis(900),
        "ran again after {gap:?}, before its delay"
    );
    let doc = e.doc("j2");
    assert_eq!(doc.status(), Status::Done);
    assert_eq!(doc.i64_field("attempts"), 2);
    assert!(matches!(
        e.queue.stats_job(id),
        Err(Error::JobNotFound { .. })
    ));
}
}

on_every_queue! {
fn failures_are_retried_then_failed_and_buried(e: Env) {
    let id = e.enqueue("j3", "t", 60);
    let w = e.worker(|_| {});
    let mut r = runner(|_, _| RunResult::Retry {
        error_code: 500,
        message: "Traceback ...\nValueError: boom".into(),
        recorded: false,
    });
    let ran = e.run_until(&w, &mut r, status_is("j3", Status::Failed));
    assert_eq!(ran, 3, "one run plus MAX_RETRIES (2) retries");
    let doc = e.doc("j3");
    assert_eq!(doc.i64_field("resultCode"), 500);
    assert_eq!(doc.i64_field("errorCount"), 3);
    assert_eq!(doc["errors"].as_array().unwrap().len(), 3);
    assert_eq!(doc["errors"][0]["errorCode"], 500);
    assert!(doc["errors"][0]["msg"].as_str().unwrap().contains("boom"));
    assert!(doc.bool_field("buried"));
    assert_eq!(
        e.queue.stats_job(id).unwrap().state,
        JobState::Buried,
        "an operator can kick it"
    );
}
}

on_every_queue! {
fn a_kicked_failed_job_runs_again_with_a_fresh_budget(e: Env) {
    let id = e.enqueue("j3k", "t", 60);
    let w = e.worker(|_| {});
    let fail = AtomicBool::new(true);
    let mut r = runner(|_, _| {
        if fail.load(Ordering::SeqCst) {
            RunResult::Retry {
                error_code: 503,
                message: "down".into(),
                recorded: false,
            }
        } else {
            RunResult::Finished { result_code: 200 }
        }
    });
    e.run_until(&w, &mut r, status_is("j3k", Status::Failed));
    assert_eq!(
        e.doc("j3k").i64_field("resultCode"),
        503,
        "the given code is the final result"
    );
    fail.store(false, Ordering::SeqCst);
    assert_eq!(e.queue.kick(TUBE, 10).unwrap(), 1);
    let w = e.worker(|_| {});
    e.run_until(&w, &mut r, status_is("j3k", Status::Done));
    let doc = e.doc("j3k");
    assert_eq!(doc.i64_field("resultCode"), 200);
    assert!(!doc.bool_field("buried"));
    assert!(matches!(
        e.queue.stats_job(id),
        Err(Error::JobNotFound { .. })
    ));
}
}

on_every_queue! {
fn a_fail_finishes_at_once_with_its_code(e: Env) {
    let id = e.enqueue("j4", "t", 60);
    let w = e.worker(|c| c.max_jobs = Some(1));
    let mut r = runner(|_, _| RunResult::Fail {
        error_code: 476,
        message: "no such account".into(),
        recorded: false,
    });
    assert_eq!(w.run(&mut r).unwrap(), 1);
    let doc = e.doc("j4");
    assert_eq!(doc.status(), Status::Failed);
    assert_eq!(doc.i64_field("resultCode"), 476);
    assert_eq!(doc["errors"][0]["msg"], "no such account");
    assert!(matches!(
        e.queue.stats_job(id),
        Err(Error::JobNotFound { .. })
    ));
}
}

on_every_queue! {
fn a_job_that_cannot_be_built_is_retried_then_buried_with_the_reason(e: Env) {
    let id = e.enqueue("j5", "nobody_knows_me", 60);
    let w = e.worker(|_| {});
    let mut r = runner(|_, _| RunResult::Unbuildable {
        reason: "UnknownJobType: unknown job type 'nobody_knows_me'".into(),
    });
    let ran = e.run_until(&w, &mut r, status_is("j5", Status::Failed));
    assert_eq!(ran, 3);
    let doc = e.doc("j5");
    let msg = doc["errors"][0]["msg"].as_str().unwrap();
    assert!(
        msg.contains("cannot build") && msg.contains("nobody_knows_me"),
        "{msg}"
    );
    assert_eq!(e.queue.stats_job(id).unwrap().state, JobState::Buried);
}
}

on_every_queue! {
fn an_entry_without_a_document_is_released_then_buried_never_run(e: Env) {
    // A job with a document first: the worker's store is then known to be the producers', and
    // an entry without one is an orphan (see `a_worker_on_the_wrong_store_buries_nothing`).
    e.enqueue("real", "t", 60);
    let id = e.put_body(queue_body("no-such-job"), 60);
    let w = e.worker(|_| {});
    let mut r = runner(|doc, _| {
        assert_eq!(doc.str_field("uuid"), Some("real"), "only the real job runs");
        RunResult::Finished { result_code: 200 }
    });
    let q = e.queue.clone();
    let ran = e.run_until(&w, &mut r, move |_| {
        q.stats_job(id)
            .map(|s| s.state == JobState::Buried)
            .unwrap_or(false)
    });
    assert_eq!(ran, 1);
    let stats = e.queue.stats_job(id).unwrap();
    assert_eq!(stats.state, JobState::Buried);
    assert_eq!(stats.reserves, 3, "tried max_load_attempts times");
}
}

on_every_queue! {
fn a_malformed_body_is_buried(e: Env) {
    let id = e.put_body(b"not json at all".to_vec(), 60);
    let w = e.worker(|_| {});
    let mut r = runner(|_, _| panic!("nothing to run"));
    let q = e.queue.clone();
    e.run_until(&w, &mut r, move |_| {
        q.stats_job(id)
            .map(|s| s.state == JobState::Buried)
            .unwrap_or(false)
    });
    assert_eq!(e.queue.stats_job(id).unwrap().state, JobState::Buried);
}
}

on_every_queue! {
fn an_entry_for_a_finished_job_is_dropped_without_running_it(e: Env) {
    let id = e.enqueue("j6", "t", 60);
    store::update(&*e.store, &key_for("j6"), |d| {
        d.set("status", "done");
        d.set("resultCode", 200);
        Ok(())
    })
    .unwrap();
    let w = e.worker(|_| {});
    let mut r = runner(|_, _| panic!("a finished job must not run again"));
    let q = e.queue.clone();
    e.run_until(&w, &mut r, move |_| q.stats_job(id).is_err());
    assert!(matches!(
        e.queue.stats_job(id),
        Err(Error::JobNotFound { .. })
    ));
}
}

on_every_queue! {
fn an_interrupted_run_is_recorded_and_counted_then_run_again(e: Env) {
    e.enqueue("j7", "t", 60);
    // What a worker that died mid-run leaves behind.
    store::update(&*e.store, &key_for("j7"), |d| {
        d.set("running", true);
        d.set("status", "running");
        Ok(())
    })
    .unwrap();
    let w = e.worker(|c| c.max_jobs = Some(1));
    let mut r = runner(|_, _| RunResult::Finished { result_code: 200 });
    assert_eq!(w.run(&mut r).unwrap(), 1);
    let doc = e.doc("j7");
    assert_eq!(doc.status(), Status::Done);
    assert_eq!(doc.i64_field("retries"), 1);
    assert!(doc["errors"][0]["msg"]
        .as_str()
        .unwrap()
        .contains("interrupted"));
}
}

on_every_queue! {
fn the_lease_is_renewed_while_a_long_job_runs(e: Env) {
    let id = e.enqueue("j8", "t", 1);
    let w = e.worker(|c| c.max_jobs = Some(1));
    let other = (e.connect)();
    let mut r = runner(|_, _| {
        // 2.5 TTRs: without renewal the job would go back to ready and another worker take it.
        let until = Instant::now() + Duration::from_millis(2500);
        while Instant::now() < until {
            assert!(
                other
                    .reserve(&[TUBE.into()], Duration::ZERO)
                    .unwrap()
                    .is_none(),
                "lease lost mid-run"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        RunResult::Finished { result_code: 200 }
    });
    assert_eq!(w.run(&mut r).unwrap(), 1);
    assert_eq!(e.doc("j8").status(), Status::Done);
    assert!(matches!(
        e.queue.stats_job(id),
        Err(Error::JobNotFound { .. })
    ));
}
}

on_every_queue! {
fn progress_reaches_the_document_while_the_job_runs(e: Env) {
    e.enqueue("j9", "t", 60);
    let w = e.worker(|c| c.max_jobs = Some(1));
    let store = e.store.clone();
    let mut seen = None;
    let mut r = runner(|_, ctx| {
        ctx.set_completeness(0.5, false);
        ctx.log(LogList::Events, "halfway", None);
        let until = Instant::now() + Duration::from_millis(150);
        while Instant::now() < until && seen.is_none() {
            let d = store.get(&key_for("j9")).unwrap().unwrap().doc;
            if d.f64_field("completeness") == 0.5
                && d["events"].as_array().is_some_and(|a| !a.is_empty())
            {
                seen = Some(());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        RunResult::Finished { result_code: 200 }
    });
    w.run(&mut r).unwrap();
    assert!(
        seen.is_some(),
        "completeness and the event were not in the document within 150 ms"
    );
    assert_eq!(e.doc("j9")["events"][0]["msg"], "halfway");
}
}

on_every_queue! {
fn a_stop_request_ends_the_loop(e: Env) {
    let w = e.worker(|_| {});
    w.stop_flag().store(true, Ordering::Relaxed);
    let mut r = runner(|_, _| unreachable!());
    assert_eq!(w.run(&mut r).unwrap(), 0);
}
}

on_every_queue! {
fn a_worker_needs_valid_tubes(e: Env) {
    let q = (e.connect)();
    assert!(Worker::new(e.store.clone(), q.clone(), WorkerConfig::new(vec![], "w")).is_err());
    assert!(matches!(
        Worker::new(
            e.store.clone(),
            q,
            WorkerConfig::new(vec!["-bad".into()], "w")
        ),
        Err(Error::BadTubeName { .. })
    ));
}
}

#[test]
fn the_worker_is_fused_only_when_store_and_queue_share_a_file() {
    assert!(env_on(Backend::Embedded).worker(|_| {}).fused);
    assert!(!env_on(Backend::Apart).worker(|_| {}).fused);
    assert!(!env_on(Backend::Beanstalkd).worker(|_| {}).fused);
}

#[test]
fn with_separate_backends_jobs_finish_retry_and_bury_the_same_way() {
    let e = env_on(Backend::Apart);
    let ok = e.enqueue("s1", "t", 60);
    let bad = e.enqueue("s2", "t", 60);
    let orphan = e.put_body(queue_body("s3-missing"), 60);
    let w = e.worker(|_| {});
    let mut r = runner(|doc, _| {
        if doc.str_field("uuid") == Some("s1") {
            RunResult::Finished { result_code: 200 }
        } else {
            RunResult::Retry {
                error_code: 500,
                message: "boom".into(),
                recorded: false,
            }
        }
    });
    let q = e.queue.clone();
    e.run_until(&w, &mut r, move |e| {
        e.doc("s2").status() == Status::Failed
            && q.stats_job(orphan)
                .map(|s| s.state == JobState::Buried)
                .unwrap_or(false)
    });
    assert_eq!(e.doc("s1").status(), Status::Done);
    assert!(matches!(
        e.queue.stats_job(ok),
        Err(Error::JobNotFound { .. })
    ));
    assert_eq!(
        e.doc("s2").i64_field("retries"),
        2,
        "the runs made again: MAX_RETRIES"
    );
    assert_eq!(e.doc("s2").i64_field("attempts"), 3);
    assert_eq!(
        e.doc("s2").f64_field("completeness"),
        0.0,
        "a failed job is not complete"
    );
    assert_eq!(e.queue.stats_job(bad).unwrap().state, JobState::Buried);
    assert_eq!(e.queue.stats_job(orphan).unwrap().state, JobState::Buried);
}

on_every_queue! {
fn a_job_that_keeps_killing_its_worker_fails_without_running_again(e: Env) {
    let id = e.enqueue("j10", "t", 60);
    // Two interruptions already counted (the budget is 2) and a third run died too.
    store::update(&*e.store, &key_for("j10"), |d| {
        d.set("running", true);
        d.set("retries", 2);
        d.set("attempts", 3);
        Ok(())
    })
    .unwrap();
    let w = e.worker(|_| {});
    let mut r = runner(|_, _| panic!("a job out of retries must not run"));
    let ran = e.run_until(&w, &mut r, status_is("j10", Status::Failed));
    assert_eq!(ran, 0);
    let doc = e.doc("j10");
    assert_eq!(
        doc.i64_field("attempts"),
        3,
        "the claim that did not run is not an attempt"
    );
    assert_eq!(doc.i64_field("retries"), 2, "nor a retry");
    assert_eq!(doc.i64_field("resultCode"), 500);
    assert!(!doc.bool_field("running"));
    assert_eq!(e.queue.stats_job(id).unwrap().state, JobState::Buried);
}
}

on_every_queue! {
fn a_slow_job_never_holds_its_batch_back(e: Env) {
    // Fast jobs grow the claim size; the slow one then runs with fast ones claimed behind it.
    let names: Vec<String> = (0..40)
        .map(|i| {
            if i == 12 {
                "slow".into()
            } else {
                format!("fast{i}")
            }
        })
        .collect();
    for n in &names {
        e.enqueue(n, "t", 60);
    }
    let w = e.worker(|c| c.max_jobs = Some(40));
    let slow_started = AtomicBool::new(false);
    let mut r = runner(|doc, _| {
        if doc.str_field("uuid") == Some("slow") {
            slow_started.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(600));
        }
        RunResult::Finished { result_code: 200 }
    });
    let (tube_during, done_before) = std::thread::scope(|s| {
        let h = s.spawn(|| w.run(&mut r).unwrap());
        while !slow_started.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(250));
        let tube = e.queue.stats_tube(TUBE).unwrap();
        let slow = e.doc("slow");
        assert_eq!(
            (
                slow.status(),
                slow.i64_field("attempts"),
                slow.bool_field("running")
            ),
            (Status::Running, 1, true),
            "a long run shows as running while it runs"
        );
        let done_before: Vec<bool> = names[..12]
            .iter()
            .map(|n| e.doc(n).status() == Status::Done)
            .collect();
        assert_eq!(h.join().unwrap(), 40);
        (tube, done_before)
    });
    assert_eq!(
        tube_during.reserved, 1,
        "only the slow job is held while it runs: {tube_during:?}"
    );
    assert!(
        done_before.iter().all(|d| *d),
        "jobs that ran before the slow one were written: {done_before:?}"
    );
    for n in &names {
        let doc = e.doc(n);
        assert_eq!(doc.status(), Status::Done, "{n}");
        assert_eq!(
            doc.i64_field("attempts"),
            1,
            "{n}: a handed-back claim is not an attempt"
        );
    }
}
}

// -- cancellation ---------------------------------------------------------------------------------

on_every_queue! {
/// Cancelled while queued: the worker drops the entry and never runs the job, also when it
/// claims in batches (the cancelled jobs are among fast ones).
fn a_cancelled_queued_job_never_runs(e: Env) {
    let names: Vec<String> = (0..30).map(|i| format!("c{i}")).collect();
    let mut ids = Vec::new();
    for n in &names {
        ids.push(e.enqueue(n, "t", 60));
    }
    for n in names.iter().step_by(3) {
        assert_eq!(
            cancel::request_cancel(&*e.store, n).unwrap(),
            Status::Cancelled
        );
    }
    let w = e.worker(|_| {});
    let mut r = runner(|doc, _| {
        let uuid = doc.str_field("uuid").unwrap();
        assert!(
            uuid.trim_start_matches('c').parse::<u32>().unwrap() % 3 != 0,
            "cancelled job {uuid} ran"
        );
        RunResult::Finished { result_code: 200 }
    });
    let q = e.queue.clone();
    let all = ids.clone();
    let ran = e.run_until(&w, &mut r, move |_| {
        all.iter().all(|id| q.stats_job(*id).is_err())
    });
    assert_eq!(ran, 20);
    for (i, n) in names.iter().enumerate() {
        let doc = e.doc(n);
        assert!(
            matches!(e.queue.stats_job(ids[i]), Err(Error::JobNotFound { .. })),
            "{n}: entry deleted"
        );
        if i % 3 == 0 {
            assert_eq!(doc.status(), Status::Cancelled, "{n}");
            assert_eq!(doc.i64_field("resultCode"), crate::job::CANCELLED);
            assert_eq!(doc.i64_field("attempts"), 0, "{n} never ran");
            assert!(doc.str_field("startedAt").is_none());
            assert_eq!(crate::job::event_messages(&doc), ["Cancelled before it ran"]);
        } else {
            assert_eq!(doc.status(), Status::Done, "{n}");
        }
    }
}
}

on_every_queue! {
/// A running job was cancelled and its worker died before recording anything: when the entry
/// comes back, it is recorded cancelled and not run again.
fn a_cancel_request_outlives_a_dead_worker(e: Env) {
    let id = e.enqueue("c-dead", "t", 60);
    store::update(&*e.store, &key_for("c-dead"), |d| {
        d.set("running", true);
        d.set("status", "running");
        d.set("attempts", 1);
        Ok(())
    })
    .unwrap();
    assert_eq!(
        cancel::request_cancel(&*e.store, "c-dead").unwrap(),
        Status::Running
    );
    let w = e.worker(|_| {});
    let mut r = runner(|_, _| panic!("a cancelled job must not run again"));
    let q = e.queue.clone();
    let ran = e.run_until(&w, &mut r, move |_| q.stats_job(id).is_err());
    assert_eq!(ran, 0);
    let doc = e.doc("c-dead");
    assert_eq!(doc.status(), Status::Cancelled);
    assert!(!doc.bool_field("running"));
    assert_eq!(doc.i64_field("attempts"), 1);
    assert!(crate::job::event_messages(&doc)
        .last()
        .unwrap()
        .contains("dropped without running"));
    assert!(matches!(
        e.queue.stats_job(id),
        Err(Error::JobNotFound { .. })
    ));
}
}

/// Runs one job on `e` with `run`, while another thread waits for it to start and then
/// requests its cancellation. Returns how long after the request the run ended.
fn cancel_while_running(
    e: &Env,
    mut run: impl FnMut(&Arc<RunContext>) -> RunResult + Send,
    uuid: &'static str,
    ttr: u32,
) -> Duration {
    let id = e.enqueue(uuid, "t", ttr);
    let w = e.worker(|c| c.max_jobs = Some(1));
    let started = AtomicBool::new(false);
    let ended = Mutex::new(None::<Instant>);
    let mut r = runner(|_, ctx| {
        started.store(true, Ordering::SeqCst);
        let out = run(ctx);
        *ended.lock().unwrap() = Some(Instant::now());
        out
    });
    let requested = std::thread::scope(|s| {
        let h = s.spawn(|| w.run(&mut r).unwrap());
        while !started.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(
            cancel::request_cancel(&*e.store, uuid).unwrap(),
            Status::Running
        );
        let at = Instant::now();
        assert_eq!(h.join().unwrap(), 1);
        at
    });
    let took = ended.lock().unwrap().unwrap() - requested;
    let doc = e.doc(uuid);
    assert_eq!(doc.status(), Status::Cancelled);
    assert_eq!(doc.i64_field("resultCode"), crate::job::CANCELLED);
    assert!(!doc.bool_field("running"));
    assert!(doc.str_field("finishedAt").is_some());
    assert!(doc.bool_field(REQUESTED));
    assert!(matches!(
        e.queue.stats_job(id),
        Err(Error::JobNotFound { .. })
    ));
    took
}

on_every_queue! {
/// A job that never reports is stopped through the runner's interrupt (in Python: the signal
/// that raises JobCancelled); it swallows it and returns normally, and is still recorded
/// cancelled. The keeper reads the document at least every second.
fn a_running_job_that_never_reports_is_interrupted(e: Env) {
    let took = cancel_while_running(
        &e,
        |ctx| {
            let hit = Arc::new(AtomicBool::new(false));
            let flag = hit.clone();
            ctx.set_interrupt(Box::new(move || flag.store(true, Ordering::SeqCst)));
            let give_up = Instant::now() + Duration::from_secs(20);
            while !hit.load(Ordering::SeqCst) && Instant::now() < give_up {
                std::hint::spin_loop();
            }
            assert!(hit.load(Ordering::SeqCst), "never interrupted");
            RunResult::Finished { result_code: 200 }
        },
        "c-busy",
        60,
    );
    assert!(took < Duration::from_secs(6), "stopped {took:?} after the request");
    let doc = e.doc("c-busy");
    assert_eq!(
        crate::job::event_messages(&doc).last().unwrap(),
        "Cancelled - the run returned after the cancel request"
    );
}
}

on_every_queue! {
/// A job that reports progress sees the request through its reports (in Python: job_log calls
/// raise JobCancelled), and ends with RunResult::Cancelled.
fn a_running_job_that_reports_sees_the_request(e: Env) {
    let took = cancel_while_running(
        &e,
        |ctx| {
            let give_up = Instant::now() + Duration::from_secs(20);
            let mut i = 0;
            while !ctx.cancel_requested() && Instant::now() < give_up {
                i += 1;
                ctx.log(LogList::Events, &format!("step {i}"), None);
                std::thread::sleep(Duration::from_millis(10));
            }
            assert!(ctx.cancel_requested(), "never saw the request");
            RunResult::Cancelled {
                message: "the job was cancelled".into(),
            }
        },
        "c-report",
        60,
    );
    assert!(took < Duration::from_secs(6), "stopped {took:?} after the request");
    let doc = e.doc("c-report");
    let events = crate::job::event_messages(&doc);
    assert!(events.iter().any(|m| m.starts_with("step ")));
    assert!(events.iter().any(|m| m.starts_with("Cancel requested")));
    assert_eq!(
        events.last().unwrap(),
        "Cancelled - the run stopped at the cancel request"
    );
}
}

on_every_queue! {
/// Whatever the run ends in after a cancel request (a requeue, a failure), it is not run again:
/// recorded cancelled, entry deleted; a failure's error is still recorded.
fn a_cancel_request_wins_over_a_requeue_or_a_failure(e: Env) {
    e.enqueue("c-requeue", "t", 60);
    e.enqueue("c-fail", "t", 60);
    let w = e.worker(|_| {});
    let store = e.store.clone();
    let mut r = runner(move |doc, _| {
        let uuid = doc.str_field("uuid").unwrap().to_owned();
        // Running, or (claimed lazily in a batch, its document not written yet) cancelled at
        // once: either way the run's outcome must not stand.
        let status = cancel::request_cancel(&*store, &uuid).unwrap();
        assert!(matches!(status, Status::Running | Status::Cancelled), "{status}");
        if uuid == "c-requeue" {
            RunResult::Requeue { delay: 0.0 }
        } else {
            RunResult::Retry {
                error_code: 503,
                message: "down".into(),
                recorded: false,
            }
        }
    });
    let ran = e.run_until(&w, &mut r, |e| {
        e.doc("c-requeue").status() == Status::Cancelled
            && e.doc("c-fail").status() == Status::Cancelled
    });
    assert_eq!(ran, 2, "neither ran again");
    let requeue = e.doc("c-requeue");
    assert!(crate::job::event_messages(&requeue)
        .last()
        .unwrap()
        .contains("asked to run again"));
    let fail = e.doc("c-fail");
    assert_eq!(fail.i64_field("resultCode"), crate::job::CANCELLED);
    assert_eq!(fail["errors"][0]["errorCode"], 503);
    assert_eq!(fail.i64_field("retries"), 0, "not counted as a retry");
    assert_eq!(e.queue.stats_tube(TUBE).unwrap().ready, 0);
    assert_eq!(e.queue.stats_tube(TUBE).unwrap().delayed, 0);
}
}

on_every_queue! {
/// A job can stop itself as cancelled by raising JobCancelled with no request made.
fn a_job_can_cancel_itself(e: Env) {
    let id = e.enqueue("c-self", "t", 60);
    let w = e.worker(|c| c.max_jobs = Some(1));
    let mut r = runner(|_, _| RunResult::Cancelled {
        message: "nothing left to do".into(),
    });
    assert_eq!(w.run(&mut r).unwrap(), 1);
    let doc = e.doc("c-self");
    assert_eq!(doc.status(), Status::Cancelled);
    assert_eq!(
        crate::job::event_messages(&doc).last().unwrap(),
        "Cancelled - the job cancelled itself: nothing left to do"
    );
    assert!(matches!(
        e.queue.stats_job(id),
        Err(Error::JobNotFound { .. })
    ));
}
}

on_every_queue! {
/// A job claimed lazily in a batch still says `queued` in its document, so a request cancels it
/// at once; the run's outcome then keeps it cancelled and does not write the running mark.
fn a_lazily_claimed_job_cancelled_meanwhile_stays_cancelled(e: Env) {
    e.enqueue("c-lazy", "t", 60);
    assert_eq!(
        cancel::request_cancel(&*e.store, "c-lazy").unwrap(),
        Status::Cancelled
    );
    let lazy = mark::LazyMark {
        attempts_before: 0,
        id: 1,
        worker_id: "test-worker".into(),
        claimed_at: crate::clock::now_iso(),
    };
    let mut ops = ops::Separate {
        store: &*e.store,
        queue: &*e.queue,
    };
    let action = outcome::record(
        &mut ops,
        &key_for("c-lazy"),
        &RunResult::Finished { result_code: 200 },
        &Policy::default(),
        Some(&lazy),
        None,
        None,
    )
    .unwrap();
    assert_eq!(action, ops::QueueAction::Delete);
    let doc = e.doc("c-lazy");
    assert_eq!(doc.status(), Status::Cancelled);
    assert_eq!(doc.i64_field("resultCode"), crate::job::CANCELLED);
    assert_eq!(doc.i64_field("attempts"), 0, "the mark was not written");
    assert!(doc.get("workerId").unwrap().is_null());
    assert_eq!(
        crate::job::event_messages(&doc),
        [
            "Cancelled before it ran",
            "Cancelled - the run returned after the cancel request"
        ]
    );
}
}

/// A job's last reports are kept when the last progress write fails: they go in with the
/// outcome, which writes the whole document.
#[test]
fn the_last_reports_go_in_with_the_outcome_when_their_write_fails() {
    let mut e = env_on(Backend::Apart);
    let faulty = Arc::new(store::faulty::Faulty::new(e.store.clone()));
    e.store = faulty.clone();
    e.enqueue("last", "t", 60);
    let w = e.worker(|c| c.max_jobs = Some(1));
    let mut r = runner(move |_, ctx| {
        faulty.fail_patches.store(true, Ordering::Relaxed);
        ctx.log(LogList::Events, "the last word", None);
        ctx.log(LogList::Errors, "a last error", Some(7));
        RunResult::Finished { result_code: 200 }
    });
    assert_eq!(w.run(&mut r).unwrap(), 1);
    let doc = e.doc("last");
    assert_eq!(doc.status(), Status::Done);
    assert!(
        crate::job::event_messages(&doc).contains(&"the last word".to_owned()),
        "{doc:?}"
    );
    assert_eq!(doc.i64_field("errorCount"), 1);
    assert_eq!(doc["errors"][0]["errorCode"], 7);
}

on_every_queue! {
/// A store that stops answering while a job runs does not cost the job its lease: renewals go
/// on, the entry is never handed to another worker, and the job runs once.
fn the_lease_is_renewed_on_time_while_the_store_stalls(e: Env) {
    let mut e = e;
    let faulty = Arc::new(store::faulty::Faulty::new(e.store.clone()));
    e.store = faulty.clone();
    let id = e.enqueue("stall", "t", 2);
    let w = e.worker(|c| c.max_jobs = Some(1));
    let queue = (e.connect)();
    let runs = AtomicUsize::new(0);
    let mut r = runner(|_, ctx| {
        runs.fetch_add(1, Ordering::SeqCst);
        // Progress to write, and the store silent for 5 s: more than twice the TTR.
        ctx.log(LogList::Events, "before the stall", None);
        faulty.stall(Duration::from_secs(5));
        std::thread::sleep(Duration::from_secs(6));
        let stats = queue.stats_job(id).expect("the entry is still there");
        assert_eq!(stats.state, JobState::Reserved, "{stats:?}");
        assert_eq!(stats.timeouts, 0, "the lease ran out: {stats:?}");
        RunResult::Finished { result_code: 200 }
    });
    assert_eq!(w.run(&mut r).unwrap(), 1);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let doc = e.doc("stall");
    assert_eq!(doc.status(), Status::Done);
    assert_eq!(doc.i64_field("attempts"), 1);
}
}

on_every_queue! {
/// An outcome the worker could not write (the file turned read-only, say) runs the job again,
/// as it must; and the document and the log say why, not that the worker died.
fn a_run_whose_outcome_could_not_be_written_runs_again_saying_why(e: Env) {
    let mut e = e;
    let faulty = Arc::new(store::faulty::Faulty::new(e.store.clone()));
    e.store = faulty.clone();
    e.enqueue("lost", "t", 60);
    let w = e.worker(|c| c.max_jobs = Some(2));
    let runs = AtomicUsize::new(0);
    let mut r = runner(|_, _| {
        if runs.fetch_add(1, Ordering::SeqCst) == 0 {
            faulty.fail_replaces(Duration::from_millis(300));
        }
        RunResult::Finished { result_code: 200 }
    });
    e.run_until(&w, &mut r, status_is("lost", Status::Done));
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    let doc = e.doc("lost");
    let events = crate::job::event_messages(&doc);
    assert!(
        events.contains(&"Interrupted - its outcome could not be recorded".to_owned()),
        "{events:?}"
    );
    assert!(!events.iter().any(|m| m.contains("died")), "{events:?}");
    let error = doc["errors"][0]["msg"].as_str().unwrap();
    assert!(error.contains("could not be recorded") && error.contains("readonly"), "{error}");
}
}

on_every_queue! {
/// A worker started on another store than the producers' cannot tell their entries from
/// orphans: it buries none of them (releasing them, and saying so), and a worker on the right
/// store then runs them all.
fn a_worker_on_the_wrong_store_buries_nothing(e: Env) {
    let ids: Vec<JobId> = (0..5).map(|i| e.enqueue(&format!("o{i}"), "t", 60)).collect();
    let dir = tempfile::tempdir().unwrap();
    let wrong: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("other.db")).unwrap());
    let mut config = WorkerConfig::new(vec![TUBE.into()], "wrong-store");
    config.load_retry_delay = 0;
    config.reserve_slice = Duration::from_millis(50);
    let w = Worker::new(wrong, (e.connect)(), config).unwrap();
    let mut never = runner(|_, _| panic!("no job of another store runs"));
    let t0 = Instant::now();
    e.run_until(&w, &mut never, move |_| t0.elapsed() > Duration::from_millis(1500));
    assert_eq!(e.queue.stats_tube(TUBE).unwrap().buried, 0);
    // Tried well past the attempts after which an orphan is buried (beanstalkd hands the
    // first entry out again and again, released at once with the same priority).
    let most = ids
        .iter()
        .map(|id| e.queue.stats_job(*id).unwrap().reserves)
        .max();
    assert!(most > Some(3), "{most:?}");
    let right = e.worker(|c| c.max_jobs = Some(5));
    let mut ok = runner(|_, _| RunResult::Finished { result_code: 200 });
    assert_eq!(right.run(&mut ok).unwrap(), 5);
    for i in 0..5 {
        assert_eq!(e.doc(&format!("o{i}")).status(), Status::Done);
    }
}
}

// -- the control channel (fleet) ------------------------------------------------------------------

/// A worker with its control channel, its id and updates tube unique to the test.
fn controlled_worker(e: &Env) -> (Worker, String, String) {
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let id = crate::fleet::make_worker_id("zerog", "test-host", &format!("svc{suffix}"), 4242);
    let updates = crate::fleet::updates_tube(&format!("_{suffix}"));
    let mut w = e.worker(|c| c.worker_id = id.clone());
    w.enable_control((e.connect)(), ControlConfig::new(&id, &updates))
        .unwrap();
    (w, id, updates)
}

/// Sends a control message to a worker, as a manager would: a put on its tube.
fn send(e: &Env, worker_id: &str, body: Body) {
    let put = PutRequest {
        tube: worker_id.into(),
        body: Message::new(body).to_json().into_bytes(),
        priority: crate::queue::DEFAULT_PRIORITY,
        delay: 0,
        ttr: 120,
    };
    e.queue.put(&put).unwrap();
}

/// The next message on the updates tube, within 5 s.
fn next_update(e: &Env, updates: &str) -> Message {
    let r = e
        .queue
        .reserve(&[updates.to_owned()], Duration::from_secs(5))
        .unwrap()
        .expect("an answer on the updates tube");
    e.queue.delete(r.id).unwrap();
    Message::parse(&r.body).unwrap()
}

fn wait_until(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

on_every_queue! {
/// Drain while a job runs: it finishes, no new job starts, the worker answers `requestInfo`
/// with its state and memory, and undrain resumes the work.
fn a_drained_worker_finishes_its_job_takes_no_other_and_undrain_resumes(e: Env) {
    e.enqueue("d1", "t", 60);
    e.enqueue("d2", "t", 60);
    let (w, id, updates) = controlled_worker(&e);
    let control = w.control();
    let release = AtomicBool::new(false);
    let mut r = runner(|doc, _| {
        if doc.str_field("uuid") == Some("d1") {
            while !release.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        RunResult::Finished { result_code: 200 }
    });
    let stop = w.stop_flag();
    std::thread::scope(|s| {
        let h = s.spawn(|| w.run(&mut r).unwrap());
        wait_until("d1 runs", || control.running().as_deref() == Some("d1"));
        send(&e, &id, Body::Drain);
        wait_until("the worker drains", || control.state() == WorkerState::DrainingRunning);
        release.store(true, Ordering::SeqCst);
        wait_until("d1 is done", || e.doc("d1").status() == Status::Done);
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(e.doc("d2").status(), Status::Queued, "a drained worker takes no job");
        send(&e, &id, Body::RequestInfo);
        let Body::Info(info) = next_update(&e, &updates).body else {
            panic!("an info message")
        };
        assert_eq!((info.worker_id.as_str(), info.state.as_str(), info.uuid.as_str()), (id.as_str(), "drainingIdle", ""));
        assert!(info.mem["available"].as_u64().unwrap() > 0 && info.mem["used"].as_u64().unwrap() > 0);
        assert!(!info.retiring);
        send(&e, &id, Body::UnDrain);
        wait_until("d2 runs after the undrain", || e.doc("d2").status() == Status::Done);
        stop.store(true, Ordering::Relaxed);
        assert_eq!(h.join().unwrap(), 2);
    });
    assert!(!w.retired());
}
}

on_every_queue! {
/// Retire: the worker stops once idle and says it retired; undrain does not undo it.
fn a_retired_worker_stops_once_idle_and_undrain_does_not_undo_it(e: Env) {
    e.enqueue("r1", "t", 60);
    let (w, id, updates) = controlled_worker(&e);
    let control = w.control();
    let release = AtomicBool::new(false);
    let mut r = runner(|_, _| {
        while !release.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(5));
        }
        RunResult::Finished { result_code: 200 }
    });
    std::thread::scope(|s| {
        let h = s.spawn(|| w.run(&mut r).unwrap());
        wait_until("r1 runs", || control.running().is_some());
        send(&e, &id, Body::Retire);
        wait_until("retiring", || control.retiring());
        send(&e, &id, Body::UnDrain);
        send(&e, &id, Body::RequestInfo);
        let Body::Info(info) = next_update(&e, &updates).body else {
            panic!("an info message")
        };
        assert_eq!((info.state.as_str(), info.retiring), ("drainingRunning", true));
        release.store(true, Ordering::SeqCst);
        assert_eq!(h.join().unwrap(), 1, "it stopped by itself, after its job");
    });
    assert!(w.retired());
    assert_eq!(e.doc("r1").status(), Status::Done);
}
}

on_every_queue! {
/// killJob stops the running job through cancellation: result 410 and the original's error
/// "Killed by user". With job messages asked for, `start` and `end` reach the updates tube; a
/// malformed message is deleted and changes nothing.
fn kill_job_ends_the_job_killed_by_user(e: Env) {
    e.enqueue("k1", "t", 60);
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let id = crate::fleet::make_worker_id("zerog", "test-host", &format!("k{suffix}"), 1);
    let updates = crate::fleet::updates_tube(&format!("_{suffix}"));
    let mut w = e.worker(|c| {
        c.worker_id = id.clone();
        c.max_jobs = Some(1);
    });
    let mut config = ControlConfig::new(&id, &updates);
    config.job_messages = true;
    w.enable_control((e.connect)(), config).unwrap();
    let control = w.control();
    let mut r = runner(|_, ctx| {
        let give_up = Instant::now() + Duration::from_secs(20);
        while !ctx.cancel_requested() && Instant::now() < give_up {
            ctx.heartbeat();
            std::thread::sleep(Duration::from_millis(10));
        }
        RunResult::Cancelled {
            message: "stopped".into(),
        }
    });
    std::thread::scope(|s| {
        let h = s.spawn(|| w.run(&mut r).unwrap());
        wait_until("k1 runs", || control.running().is_some());
        e.queue
            .put(&PutRequest {
                tube: id.clone(),
                body: b"{\"msgtype\": \"explode\"}".to_vec(),
                priority: 0,
                delay: 0,
                ttr: 120,
            })
            .unwrap();
        send(&e, &id, Body::KillJob { uuid: "someone-else".into() });
        send(&e, &id, Body::KillJob { uuid: "k1".into() });
        assert_eq!(h.join().unwrap(), 1);
    });
    let doc = e.doc("k1");
    assert_eq!(doc.status(), Status::Cancelled);
    assert_eq!(doc.i64_field("resultCode"), 410);
    let errors = doc.get("errors").and_then(|v| v.as_array()).unwrap();
    assert_eq!(errors[0]["msg"], "Killed by user");
    assert_eq!(errors[0]["errorCode"], 410);
    let actions: Vec<(String, &str)> = (0..2)
        .map(|_| match next_update(&e, &updates).body {
            Body::Job { uuid, action, worker_id } => {
                assert_eq!(worker_id, id);
                (uuid, action.as_str())
            }
            other => panic!("a job message, not {other:?}"),
        })
        .collect();
    assert_eq!(actions, [("k1".to_owned(), "start"), ("k1".to_owned(), "end")]);
    assert_eq!(e.queue.stats_tube(&id).unwrap().ready, 0, "every control message was deleted");
}
}
