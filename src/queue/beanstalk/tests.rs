//! `BeanstalkQueue` against a real beanstalkd: the queue conformance suite, and the faults only a
//! real server shows (its own size limit, draining, restarts, DEADLINE_SOON).

use super::codec::{Command, Reply};
use super::testserver::{free_port, TestServer};
use super::{BeanstalkQueue, Client, ClientConfig};
use crate::error::{Error, QueueErrorKind};
use crate::queue::{JobId, PutRequest, Queue, DEFAULT_PRIORITY};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A server of its own for each test, shut down when the test's factory is dropped.
fn fresh() -> impl Fn() -> Box<dyn Queue> {
    let server = Arc::new(TestServer::start(&[]));
    move || Box::new(BeanstalkQueue::connect("127.0.0.1", server.port).unwrap()) as Box<dyn Queue>
}

mod conformance {
    use super::*;
    crate::queue_conformance_tests!(fresh(), silent_holder_ttr_unreliable);
}

pub(super) fn job(tube: &str, body: &[u8]) -> PutRequest {
    PutRequest {
        tube: tube.into(),
        body: body.to_vec(),
        priority: DEFAULT_PRIORITY,
        delay: 0,
        ttr: 60,
    }
}

fn connect(server: &TestServer) -> BeanstalkQueue {
    BeanstalkQueue::connect("127.0.0.1", server.port).unwrap()
}

#[track_caller]
fn assert_kind<T: std::fmt::Debug>(r: crate::Result<T>, kind: QueueErrorKind, server: &TestServer) {
    match r {
        Err(Error::Queue {
            kind: got,
            server: s,
            ..
        }) if got == kind => assert_eq!(s, format!("127.0.0.1:{}", server.port)),
        other => panic!("expected a {kind:?} error, got {other:?}"),
    }
}

#[test]
fn max_job_size_comes_from_the_server() {
    let server = TestServer::start(&["-z", "1000"]);
    let q = connect(&server);
    assert_eq!(q.max_job_size(), 1000);
    let r = q.put(&job("big", &[b'x'; 1001]));
    assert!(
        matches!(
            r,
            Err(Error::JobTooBig {
                size: 1001,
                limit: 1000
            })
        ),
        "{r:?}"
    );
    let id = q.put(&job("big", &[b'x'; 1000])).unwrap();
    assert_eq!(q.peek(id).unwrap().unwrap().1.len(), 1000);
}

/// The server's own JOB_TOO_BIG (for a client that did not check) leaves the connection usable,
/// because the whole body is still sent.
#[test]
fn server_job_too_big_keeps_the_connection_in_step() {
    let server = TestServer::start(&["-z", "10"]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut conn = super::conn::Conn::open("127.0.0.1", server.port, Duration::from_secs(1))
            .await
            .unwrap();
        let mut buf = Vec::new();
        for body in [&b"far too long a body"[..], b"small"] {
            Command::Put {
                priority: 1,
                delay: 0,
                ttr: 5,
                body,
            }
            .encode(&mut buf);
        }
        let replies = conn
            .exchange(&buf, 2, Duration::from_secs(2))
            .await
            .unwrap();
        assert_eq!(replies, vec![Reply::JobTooBig, Reply::Inserted(1)]);
    });
}

#[test]
fn a_draining_server_refuses_puts_with_a_typed_error() {
    let server = TestServer::start(&[]);
    let q = connect(&server);
    q.put(&job("drain", b"before")).unwrap();
    server.signal("USR1");
    let give_up = Instant::now() + Duration::from_secs(5);
    while q.server_stats().unwrap()["draining"] != "true" {
        assert!(
            Instant::now() < give_up,
            "the server never started draining"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_kind(
        q.put(&job("drain", b"after")),
        QueueErrorKind::Draining,
        &server,
    );
    assert_kind(
        q.put_many(&[job("drain", b"a"), job("drain", b"b")]),
        QueueErrorKind::Draining,
        &server,
    );
    let msg = q.put(&job("drain", b"x")).unwrap_err().to_string();
    assert!(msg.contains("DRAINING") && msg.contains("drain"), "{msg}");
    // Jobs already queued are still handed out.
    assert!(q
        .reserve(&["drain".into()], Duration::ZERO)
        .unwrap()
        .is_some());
}

/// Runs `put` while `server` gets `signal` as soon as its first job in `tube` is ready, so that a
/// long enough batch meets it midway (USR1: the server drains; KILL: the connection breaks).
pub(super) fn signalled_midway<T: Send>(
    server: &TestServer,
    tube: &str,
    signal: &str,
    put: impl FnOnce() -> T + Send,
) -> T {
    let watcher = connect(server);
    std::thread::scope(|s| {
        let putting = s.spawn(put);
        let give_up = Instant::now() + Duration::from_secs(30);
        while watcher.stats_tube(tube).map_or(0, |t| t.ready) == 0 {
            assert!(Instant::now() < give_up, "the batch never started");
            std::thread::sleep(Duration::from_millis(1));
        }
        server.signal(signal);
        putting.join().expect("the put thread panicked")
    })
}

/// Enough small puts that a batch outlasts the few milliseconds a signal takes.
pub(super) const LONG_BATCH: usize = 200_000;

pub(super) fn long_batch(tube: &str) -> Vec<PutRequest> {
    (0..LONG_BATCH)
        .map(|i| job(tube, format!("{i}").as_bytes()))
        .collect()
}

/// Checks that a batch put failed partway for a `kind` error; returns what it says it queued,
/// and the cause.
#[track_caller]
pub(super) fn partly_put(
    r: crate::Result<Vec<JobId>>,
    kind: QueueErrorKind,
) -> (Vec<Option<JobId>>, Error) {
    let Err(Error::PartlyPut { put, cause }) = r else {
        panic!(
            "expected a batch partly put, got {:?}",
            r.map(|ids| ids.len())
        );
    };
    assert!(
        matches!(*cause, Error::Queue { kind: got, .. } if got == kind),
        "{cause:?}"
    );
    (put, *cause)
}

#[test]
fn a_batch_the_server_stops_taking_midway_says_which_jobs_were_queued() {
    let server = TestServer::start(&[]);
    let q = connect(&server);
    let jobs = long_batch("midway");
    let r = signalled_midway(&server, "midway", "USR1", || q.put_many(&jobs));
    let (put, cause) = partly_put(r, QueueErrorKind::Draining);
    // The server took the first jobs and refused the rest, and the error names exactly those.
    let queued = put.iter().take_while(|id| id.is_some()).count();
    assert!(
        queued > 0 && queued < jobs.len(),
        "{queued} of {} queued",
        jobs.len()
    );
    assert!(put[queued..].iter().all(Option::is_none));
    assert_eq!(q.stats_tube("midway").unwrap().ready, queued as u64);
    for i in [0, queued / 2, queued - 1] {
        let id = put[i].unwrap();
        assert_eq!(q.peek(id).unwrap(), Some((id, jobs[i].body.clone())));
    }
    let msg = Error::PartlyPut {
        put,
        cause: Box::new(cause),
    }
    .to_string();
    assert!(
        msg.contains("DRAINING")
            && msg.contains(&format!(
                "({queued} of {LONG_BATCH} jobs of the batch were queued)"
            )),
        "{msg}"
    );
}

#[test]
fn a_batch_whose_server_dies_midway_says_which_jobs_are_known_queued() {
    let binlog = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_with_binlog(binlog.path());
    let q = connect(&server);
    let jobs = long_batch("died");
    let r = signalled_midway(&server, "died", "KILL", || q.put_many(&jobs));
    let (put, _) = partly_put(r, QueueErrorKind::Connection);
    // Only the replies that came count as queued: a prefix, never the whole batch.
    let known = put.iter().take_while(|id| id.is_some()).count();
    assert!(known < jobs.len() && put[known..].iter().all(Option::is_none));
    // With its binlog the server brings back every job it said it had queued, at those ids.
    server.start_again();
    let q = connect(&server);
    assert!(q.stats_tube("died").unwrap().ready >= known as u64);
    for i in [0, known / 2, known.saturating_sub(1)]
        .into_iter()
        .filter(|&i| i < known)
    {
        let id = put[i].unwrap();
        assert_eq!(q.peek(id).unwrap(), Some((id, jobs[i].body.clone())));
    }
}

#[test]
fn reconnects_after_a_restart_and_restores_use_and_watch() {
    let binlog = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_with_binlog(binlog.path());
    let q = connect(&server);
    let kept = q.put(&job("survive", b"kept")).unwrap();
    // Watch one tube only, so that a reconnect that forgot the watch list would not see it.
    assert_eq!(
        q.reserve(&["survive".into()], Duration::ZERO)
            .unwrap()
            .unwrap()
            .id,
        kept
    );
    q.release(kept, DEFAULT_PRIORITY, 0).unwrap();

    server.restart();
    let r = q
        .reserve(&["survive".into()], Duration::from_secs(2))
        .unwrap()
        .expect("the job put before the restart");
    assert_eq!((r.id, r.body.as_slice()), (kept, &b"kept"[..]));
    assert_eq!(q.watched_tubes().unwrap(), vec!["survive".to_string()]);
    q.delete(kept).unwrap();
    // The `use` tube came back too: a put goes where the last one went.
    let again = q.put(&job("survive", b"again")).unwrap();
    assert_eq!(q.stats_job(again).unwrap().tube, "survive");
}

/// The connection a restart closed is noticed before a put is sent, so the put goes to the new
/// server instead of failing with its fate unknown (a put is never sent twice).
#[test]
fn puts_after_a_restart_go_on_a_fresh_connection() {
    let mut server = TestServer::start(&[]);
    let q = connect(&server);
    q.put_many(&[job("fresh", b"before")]).unwrap();
    server.restart();
    let ids = q
        .put_many(&[job("fresh", b"a"), job("fresh", b"b")])
        .unwrap();
    assert_eq!(ids.len(), 2);
    server.restart();
    let one = q.put(&job("fresh", b"c")).unwrap();
    assert_eq!(q.peek(one).unwrap(), Some((one, b"c".to_vec())));
    assert_eq!(q.stats_tube("fresh").unwrap().ready, 1);
}

/// A job reserved on a connection that died went back to ready on the server; the client counts
/// it as lost rather than deleting a job another worker may now run.
#[test]
fn reservations_on_a_dropped_connection_are_lost() {
    let binlog = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_with_binlog(binlog.path());
    let q = connect(&server);
    let tubes = vec!["lost".to_string()];
    let id = q.put(&job("lost", b"held")).unwrap();
    assert_eq!(q.reserve(&tubes, Duration::ZERO).unwrap().unwrap().id, id);

    server.restart();
    match q.delete(id) {
        Err(Error::JobNotFound { id: got }) => assert_eq!(got, id),
        other => panic!("expected JobNotFound for the lost job {id}, got {other:?}"),
    }
    // It is ready again, for anybody, this client included.
    let r = q.reserve(&tubes, Duration::from_secs(1)).unwrap().unwrap();
    assert_eq!(r.id, id);
    q.touch(id).unwrap();
    q.delete(id).unwrap();
}

#[test]
fn an_unreachable_server_is_named() {
    let port = free_port();
    let url = format!("beanstalk://127.0.0.1:{port}");
    let e = crate::connect::open_queue(&url)
        .err()
        .expect("nothing listens there");
    assert_cannot_connect(&e, port);
}

/// `e` says the server on loopback `port` cannot be reached, and names it.
#[track_caller]
pub(super) fn assert_cannot_connect(e: &Error, port: u16) {
    let msg = e.to_string();
    assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
    assert!(
        matches!(
            e,
            Error::Queue {
                kind: QueueErrorKind::Connection,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn open_takes_beanstalk_urls() {
    let server = TestServer::start(&[]);
    let q = crate::connect::open_queue(&format!("beanstalk://127.0.0.1:{}", server.port)).unwrap();
    let id = q.put(&job("opened", b"x")).unwrap();
    assert_eq!(q.peek(id).unwrap().unwrap().1, b"x");
}

#[test]
fn reserve_watches_exactly_the_tubes_asked_for() {
    let server = TestServer::start(&[]);
    let q = connect(&server);
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(q.watched_tubes().unwrap(), names(&["default"]));
    q.reserve(&names(&["a", "b"]), Duration::ZERO).unwrap();
    let mut w = q.watched_tubes().unwrap();
    w.sort();
    assert_eq!(w, names(&["a", "b"]));
    q.reserve(&names(&["c"]), Duration::ZERO).unwrap();
    assert_eq!(q.watched_tubes().unwrap(), names(&["c"]));
    // The tube of a job reserved from several is named correctly.
    let id = q.put(&job("b", b"in b")).unwrap();
    let r = q
        .reserve(&names(&["a", "b"]), Duration::ZERO)
        .unwrap()
        .unwrap();
    assert_eq!((r.id, r.tube.as_str()), (id, "b"));
}

/// DEADLINE_SOON reaches the async client as a typed error; `BeanstalkQueue::reserve` takes it
/// as "nothing yet" and waits out its timeout.
#[test]
fn deadline_soon() {
    let server = TestServer::start(&[]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut c = Client::connect("127.0.0.1", server.port, ClientConfig::default())
            .await
            .unwrap();
        c.put(&PutRequest {
            ttr: 1,
            ..job("soon", b"x")
        })
        .await
        .unwrap();
        c.watch_exactly(&["soon".into()]).await.unwrap();
        assert!(c.reserve_with_timeout(0).await.unwrap().is_some());
        let r = c.reserve_with_timeout(1).await;
        assert!(
            matches!(
                r,
                Err(Error::Queue {
                    kind: QueueErrorKind::DeadlineSoon,
                    ..
                })
            ),
            "{r:?}"
        );
    });

    let q = connect(&server);
    let tubes = vec!["soon2".to_string()];
    let id = q
        .put(&PutRequest {
            ttr: 2,
            ..job("soon2", b"y")
        })
        .unwrap();
    assert_eq!(q.reserve(&tubes, Duration::ZERO).unwrap().unwrap().id, id);
    let start = Instant::now();
    assert_eq!(
        q.reserve(&tubes, Duration::from_millis(1500)).unwrap(),
        None
    );
    assert!(
        start.elapsed() >= Duration::from_millis(1400),
        "{:?}",
        start.elapsed()
    );
}

/// Rates against a local beanstalkd; run with
/// `cargo test --release beanstalk::tests::rates -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check: run by hand with --release --ignored --nocapture"]
fn rates() {
    let server = TestServer::start(&[]);
    let q = connect(&server);
    let n = 20_000;
    let rate = |what: &str, n: usize, start: Instant| {
        let s = start.elapsed().as_secs_f64();
        println!("{what}: {n} in {s:.3} s = {:.0}/s", n as f64 / s);
    };

    let start = Instant::now();
    for _ in 0..n {
        q.put(&job("rate", b"\"3f2504e0-4f89-11d3-9a0c-0305e82c3301\""))
            .unwrap();
    }
    rate("put", n, start);

    let tubes = vec!["rate".to_string()];
    let start = Instant::now();
    for _ in 0..n {
        let r = q.reserve(&tubes, Duration::ZERO).unwrap().unwrap();
        q.delete(r.id).unwrap();
    }
    rate("reserve+delete", n, start);

    let batch: Vec<PutRequest> = (0..10_000)
        .map(|_| job("bulk", b"\"3f2504e0-4f89-11d3-9a0c-0305e82c3301\""))
        .collect();
    let start = Instant::now();
    for _ in 0..20 {
        assert_eq!(q.put_many(&batch).unwrap().len(), batch.len());
    }
    rate("put_many (batches of 10,000)", 200_000, start);
}

/// A worker waits in whole-second reserves; its clock has moved on a little by the time the
/// reserve is sent, and that must not turn the wait into polling every 5 ms (which made every
/// idle worker pick its next job up 2.5 ms late on average).
#[test]
fn a_wait_of_whole_seconds_blocks_on_the_server_instead_of_polling() {
    let server = TestServer::start(&[]);
    let q = connect(&server);
    let reserves = || -> u64 {
        q.server_stats().unwrap()["cmd-reserve-with-timeout"]
            .parse()
            .unwrap()
    };
    let before = reserves();
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(1)); // as a worker's loop does between deciding and asking
    let timeout = Duration::from_secs(1).saturating_sub(started.elapsed());
    assert!(q.reserve(&["idle".into()], timeout).unwrap().is_none());
    assert!(
        started.elapsed() < Duration::from_millis(1100),
        "{:?}",
        started.elapsed()
    );
    let asked = reserves() - before;
    assert!(
        asked <= 2,
        "{asked} reserves for one wait of a second: it polled"
    );
}

/// A loopback relay between a client and the server that counts round trips: client bytes
/// that arrive after the server last spoke begin a new one (however the kernel splits them).
struct CountingRelay {
    port: u16,
    writes: Arc<std::sync::atomic::AtomicUsize>,
}

impl CountingRelay {
    fn to(server: &TestServer) -> CountingRelay {
        use std::io::{Read, Write};
        use std::net::{TcpListener, TcpStream};
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let writes = Arc::new(AtomicUsize::new(0));
        let counted = writes.clone();
        let upstream = server.port;
        std::thread::spawn(move || {
            let (mut client, _) = listener.accept().unwrap();
            let mut server = TcpStream::connect(("127.0.0.1", upstream)).unwrap();
            client.set_nodelay(true).unwrap();
            server.set_nodelay(true).unwrap();
            let server_spoke = Arc::new(AtomicBool::new(true));
            let spoke = server_spoke.clone();
            let (mut from_server, mut to_client) =
                (server.try_clone().unwrap(), client.try_clone().unwrap());
            std::thread::spawn(move || {
                let mut buf = [0u8; 65536];
                while let Ok(n) = from_server.read(&mut buf) {
                    spoke.store(true, Ordering::SeqCst);
                    if n == 0 || to_client.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
            let mut buf = [0u8; 65536];
            while let Ok(n) = client.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if server_spoke.swap(false, Ordering::SeqCst) {
                    counted.fetch_add(1, Ordering::SeqCst);
                }
                if server.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
        CountingRelay { port, writes }
    }

    fn writes(&self) -> usize {
        self.writes.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[test]
fn a_put_to_another_tube_is_one_round_trip() {
    let server = TestServer::start(&[]);
    let relay = CountingRelay::to(&server);
    let q = BeanstalkQueue::connect("127.0.0.1", relay.port).unwrap();
    // Past what a new connection asks once (the server's job size limit).
    q.put(&job("warm", b"first")).unwrap();
    let before = relay.writes();
    let mut ids = Vec::new();
    for i in 0..10 {
        let tube = if i % 2 == 0 { "alpha" } else { "beta" };
        ids.push((
            tube,
            q.put(&job(tube, format!("job {i}").as_bytes())).unwrap(),
        ));
    }
    // Each put changed tube; its `use` went in the same write.
    assert_eq!(relay.writes() - before, 10);
    let check = connect(&server);
    for (tube, id) in ids {
        assert_eq!(
            check.stats_job(id).unwrap().tube,
            tube,
            "each job is in its own tube"
        );
    }
}

/// Reconciling relies on this: a server without a binlog says when it started empty; one with
/// a binlog keeps its entries across a restart and says nothing.
#[test]
fn a_server_without_a_binlog_says_since_when_it_remembers() {
    let before = crate::clock::now_epoch();
    let server = TestServer::start(&[]);
    let forgot = connect(&server)
        .forgot_before()
        .unwrap()
        .expect("no binlog");
    let after = crate::clock::now_epoch();
    assert!(
        forgot <= after && forgot >= before - 2.0,
        "{before} {forgot} {after}"
    );
    let binlog = tempfile::tempdir().unwrap();
    let kept = TestServer::start_with_binlog(binlog.path());
    assert_eq!(connect(&kept).forgot_before().unwrap(), None);
}

/// A worker asks for as many jobs as its fast runs allow, and usually few are ready: the
/// reserves that find nothing cost the server time that producers' puts wait behind. A claim
/// asks a few at first and more only while every one found a job; a full tube still gives the
/// whole claim, in order.
#[test]
fn a_claim_asks_for_more_jobs_only_while_they_are_there() {
    let server = TestServer::start(&[]);
    let q = connect(&server);
    let tubes = vec!["claims".to_string()];
    let reserves = || -> u64 {
        q.server_stats().unwrap()["cmd-reserve-with-timeout"]
            .parse()
            .unwrap()
    };
    let put_n = |n: usize| -> Vec<JobId> {
        (0..n)
            .map(|i| q.put(&job("claims", format!("{i}").as_bytes())).unwrap())
            .collect()
    };
    let few = put_n(3);
    let before = reserves();
    let got = q.reserve_many(&tubes, 128, Duration::ZERO).unwrap();
    assert_eq!(got.iter().map(|r| r.id).collect::<Vec<_>>(), few);
    let asked = reserves() - before;
    assert!(asked <= 10, "{asked} reserves to claim 3 ready jobs");
    q.delete_many(&few);

    let many = put_n(100);
    let got = q.reserve_many(&tubes, 60, Duration::ZERO).unwrap();
    assert_eq!(got.iter().map(|r| r.id).collect::<Vec<_>>(), many[..60]);
    let rest = q.reserve_many(&tubes, 128, Duration::ZERO).unwrap();
    assert_eq!(rest.iter().map(|r| r.id).collect::<Vec<_>>(), many[60..]);
}
