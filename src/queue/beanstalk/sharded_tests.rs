//! `ShardedQueue` against real beanstalkd servers: the conformance checks that do not depend on
//! order across servers, and what sharding itself promises (puts spread, every server watched,
//! ids that lead back to their server, a dead server skipped).

use super::tests::{
    assert_cannot_connect, job, long_batch, partly_put, signalled_midway, LONG_BATCH,
};
use super::testserver::{free_port, TestServer};
use super::{BeanstalkQueue, ShardedQueue, SHARD_BITS};
use crate::error::{Error, QueueErrorKind};
use crate::queue::{JobState, PutRequest, Queue};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn servers(n: usize) -> Vec<TestServer> {
    (0..n).map(|_| TestServer::start(&[])).collect()
}

fn url_of(servers: &[TestServer]) -> Vec<(String, u16)> {
    servers
        .iter()
        .map(|s| ("127.0.0.1".to_owned(), s.port))
        .collect()
}

/// Two servers of its own for each test, stopped when the test's factory is dropped.
fn fresh_pair() -> impl Fn() -> Box<dyn Queue> {
    let pair = Arc::new(servers(2));
    move || Box::new(ShardedQueue::connect(&url_of(&pair)).unwrap()) as Box<dyn Queue>
}

mod conformance {
    use super::*;
    crate::queue_conformance_tests!(fresh_pair(), sharded);
}

fn ready_on(server: &TestServer, tube: &str) -> u64 {
    BeanstalkQueue::connect("127.0.0.1", server.port)
        .unwrap()
        .stats_tube(tube)
        .unwrap()
        .ready
}

#[test]
fn puts_are_spread_over_the_servers_and_every_server_is_watched() {
    let pair = servers(2);
    let producer = ShardedQueue::connect(&url_of(&pair)).unwrap();
    let consumer = ShardedQueue::connect(&url_of(&pair)).unwrap();
    let mut put = Vec::new();
    for i in 0..10 {
        let body = format!("one {i}").into_bytes();
        put.push((producer.put(&job("spread", &body)).unwrap(), body));
    }
    let many: Vec<PutRequest> = (0..40)
        .map(|i| job("spread", format!("many {i}").as_bytes()))
        .collect();
    let ids = producer.put_many(&many).unwrap();
    put.extend(ids.into_iter().zip(many.into_iter().map(|j| j.body)));
    assert_eq!(
        (ready_on(&pair[0], "spread"), ready_on(&pair[1], "spread")),
        (25, 25)
    );
    assert_eq!(producer.stats_tube("spread").unwrap().ready, 50);
    // Every id leads back to its job, whichever server holds it.
    for (id, body) in &put {
        assert_eq!(producer.peek(*id).unwrap(), Some((*id, body.clone())));
        assert_eq!(producer.stats_job(*id).unwrap().id, *id);
    }
    let mut taken = HashSet::new();
    while let Some(r) = consumer
        .reserve(&["spread".into()], Duration::ZERO)
        .unwrap()
    {
        assert_eq!(consumer.stats_job(r.id).unwrap().state, JobState::Reserved);
        assert!(put.contains(&(r.id, r.body)), "job {} was never put", r.id);
        assert!(taken.insert(r.id), "job {} handed out twice", r.id);
        consumer.delete(r.id).unwrap();
    }
    assert_eq!(taken.len(), 50);
    assert!(consumer
        .list_tubes()
        .unwrap()
        .contains(&"spread".to_owned()));
}

#[test]
fn reserve_many_takes_from_every_server() {
    let pair = servers(2);
    let q = ShardedQueue::connect(&url_of(&pair)).unwrap();
    let ids: HashSet<_> = q
        .put_many(&(0..8).map(|i| job("batch", &[i])).collect::<Vec<_>>())
        .unwrap()
        .into_iter()
        .collect();
    let got = q
        .reserve_many(&["batch".into()], 100, Duration::ZERO)
        .unwrap();
    assert_eq!(got.iter().map(|r| r.id).collect::<HashSet<_>>(), ids);
    let servers_used: HashSet<_> = got.iter().map(|r| r.id & ((1 << SHARD_BITS) - 1)).collect();
    assert_eq!(servers_used.len(), 2);
    let deleted = q.delete_many(&got.iter().map(|r| r.id).collect::<Vec<_>>());
    assert!(deleted.iter().all(|r| r.is_ok()), "{deleted:?}");
    assert_eq!(q.stats_tube("batch").unwrap().reserved, 0);
}

#[test]
fn a_dead_server_is_skipped_and_its_jobs_come_back_with_it() {
    let binlog = tempfile::tempdir().unwrap();
    let mut first = TestServer::start_with_binlog(binlog.path());
    let second = TestServer::start(&[]);
    let servers = vec![
        ("127.0.0.1".to_owned(), first.port),
        ("127.0.0.1".to_owned(), second.port),
    ];
    let q = ShardedQueue::connect(&servers).unwrap();
    let tube = vec!["dead".to_owned()];
    let before: HashSet<_> = (0..6u8)
        .map(|i| q.put(&job("dead", &[i])).unwrap())
        .collect();
    first.kill();
    // Puts go to the live server, and a reserve hands out its jobs without waiting on the dead.
    let during: HashSet<_> = (6..10u8)
        .map(|i| q.put(&job("dead", &[i])).unwrap())
        .collect();
    assert_eq!(ready_on(&second, "dead"), 3 + 4);
    let t0 = Instant::now();
    let mut taken = HashSet::new();
    while let Some(r) = q.reserve(&tube, Duration::ZERO).unwrap() {
        q.delete(r.id).unwrap();
        taken.insert(r.id);
    }
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "took {:?}",
        t0.elapsed()
    );
    assert_eq!(taken.len(), 7);
    assert!(during.is_subset(&taken));
    // Back with its binlog: its jobs are handed out through the same queue.
    first.start_again();
    let give_up = Instant::now() + Duration::from_secs(10);
    while taken.len() < 10 {
        assert!(
            Instant::now() < give_up,
            "only {} of 10 jobs came back",
            taken.len()
        );
        if let Some(r) = q.reserve(&tube, Duration::from_millis(100)).unwrap() {
            q.delete(r.id).unwrap();
            taken.insert(r.id);
        }
    }
    assert!(before.is_subset(&taken));
}

#[test]
fn opening_needs_one_reachable_server_and_names_them_all_otherwise() {
    let live = TestServer::start(&[]);
    let dead_port = free_port();
    let url = format!("beanstalk://127.0.0.1:{dead_port},127.0.0.1:{}", live.port);
    let q = crate::connect::open_queue(&url).unwrap();
    // Every put goes to the live server, and is handed out.
    for i in 0..4 {
        q.put(&job("half", &[i])).unwrap();
    }
    assert_eq!(ready_on(&live, "half"), 4);
    let t0 = Instant::now();
    for _ in 0..4 {
        let r = q.reserve(&["half".into()], Duration::from_secs(1)).unwrap();
        q.delete(r.expect("a job").id).unwrap();
    }
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "waited on the dead server: {:?}",
        t0.elapsed()
    );
    drop(live);
    let e = crate::connect::open_queue(&url)
        .err()
        .expect("no server is up");
    assert_cannot_connect(&e, dead_port);
}

#[test]
fn ids_of_no_server_are_not_found() {
    let pair = servers(2);
    let q = ShardedQueue::connect(&url_of(&pair)).unwrap();
    let id = q.put(&job("none", b"x")).unwrap();
    let elsewhere = (id & !((1 << SHARD_BITS) - 1)) | 7;
    assert!(matches!(q.delete(elsewhere), Err(Error::JobNotFound { id }) if id == elsewhere));
    assert_eq!(q.peek(elsewhere).ok().flatten(), None);
}

#[test]
fn a_batch_one_server_stops_taking_midway_says_which_jobs_were_queued_on_each() {
    let pair = [TestServer::start(&[]), TestServer::start(&[])];
    let q = ShardedQueue::connect(&url_of(&pair)).unwrap();
    let jobs = long_batch("midway");
    // The second half of the batch goes to the second server; the first takes all of its half.
    let r = signalled_midway(&pair[1], "midway", "USR1", || q.put_many(&jobs));
    let (put, _) = partly_put(r, QueueErrorKind::Draining);
    let queued: Vec<(usize, u64)> = put
        .iter()
        .enumerate()
        .filter_map(|(i, id)| id.map(|id| (i, id)))
        .collect();
    assert!(queued.len() > LONG_BATCH / 2 && queued.len() < LONG_BATCH);
    assert_eq!(
        ready_on(&pair[0], "midway") + ready_on(&pair[1], "midway"),
        queued.len() as u64
    );
    // Every id reported leads back to its own job, on either server.
    for &(i, id) in queued.iter().step_by(997) {
        assert_eq!(q.peek(id).unwrap(), Some((id, jobs[i].body.clone())));
    }
}
