//! Engine-only throughput: jobs/s through the worker loop on the embedded SQLite backends, with a
//! no-op job runner in Rust (so no Python). Compare with `bench/run.py`, which adds Python.

use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use zerog::embedded::{EmbeddedQueue, SqliteStore};
use zerog::job::{key_for, new_document, queue_body, Doc};
use zerog::progress::RunContext;
use zerog::queue::{PutRequest, Queue, DEFAULT_PRIORITY};
use zerog::store::{Cas, Store};
use zerog::worker::{JobRunner, Policy, RunResult, Worker, WorkerConfig};

struct Noop;

impl JobRunner for Noop {
    fn policy(&mut self, _: &str) -> Option<Policy> {
        Some(Policy::default())
    }
    fn run(&mut self, _: &Doc, _: Cas, _: &Arc<RunContext>) -> RunResult {
        RunResult::Finished { result_code: 200 }
    }
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    for workers in [1usize, 2] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("engine.db");
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
        let queue = EmbeddedQueue::open(&path).unwrap();
        let mut docs = Vec::with_capacity(n);
        let mut puts = Vec::with_capacity(n);
        for i in 0..n {
            let uuid = format!("job-{i}");
            let mut f = Doc::new();
            f.insert(
                "queueKwargs".into(),
                json!({"ttr": 60, "priority": DEFAULT_PRIORITY}),
            );
            docs.push((key_for(&uuid), new_document(&uuid, "noop", "bench", f)));
            puts.push(PutRequest {
                tube: "bench".into(),
                body: queue_body(&uuid),
                priority: DEFAULT_PRIORITY,
                delay: 0,
                ttr: 60,
            });
        }
        let t = Instant::now();
        store.insert_many(&docs).unwrap();
        queue.put_many(&puts).unwrap();
        let enq = t.elapsed();
        let per_worker = (n / workers) as u64;
        let t = Instant::now();
        std::thread::scope(|s| {
            for w in 0..workers {
                let store = store.clone();
                let path = path.clone();
                s.spawn(move || {
                    let q: Arc<dyn Queue> = Arc::new(EmbeddedQueue::open(&path).unwrap());
                    let mut cfg = WorkerConfig::new(vec!["bench".into()], format!("w{w}"));
                    cfg.max_jobs = Some(per_worker);
                    cfg.reserve_slice = Duration::from_millis(50);
                    Worker::new(store, q, cfg).unwrap().run(&mut Noop).unwrap();
                });
            }
        });
        let el = t.elapsed();
        println!(
            "{workers} worker thread(s): {:.0} jobs/s end to end ({} jobs in {:.2} s); bulk enqueue {:.0} jobs/s",
            (per_worker * workers as u64) as f64 / el.as_secs_f64(),
            per_worker * workers as u64,
            el.as_secs_f64(),
            n as f64 / enq.as_secs_f64()
        );
    }
}
