//! The Couchbase store against a real cluster (or Couchbase's mock, gocaves): the conformance
//! suite every store passes, then what only Couchbase has. They run when
//! `ZEROG_TEST_COUCHBASE` names a cluster at build time (see `build.rs`); otherwise each is
//! reported ignored with the reason.

use super::*;
use crate::job::{key_for, new_document, DocExt};
use serde_json::json;
use std::time::Duration;

pub(crate) const TEST_ENV: &str = "ZEROG_TEST_COUCHBASE";

/// The cluster under test, with the URL's options added (`?retention=2s`, say).
pub(crate) fn test_url(options: &str) -> CouchbaseUrl {
    let url = std::env::var(TEST_ENV).expect("ZEROG_TEST_COUCHBASE names the cluster to test");
    let url = match (options.is_empty(), url.contains('?')) {
        (true, _) => url,
        (false, true) => format!("{url}&{options}"),
        (false, false) => format!("{url}?{options}"),
    };
    CouchbaseUrl::parse(&url).expect("ZEROG_TEST_COUCHBASE is a couchbase:// URL")
}

fn factory() -> impl Fn() -> Box<dyn Store> {
    let url = test_url("");
    move || Box::new(CouchbaseStore::open(&url).expect("open the test cluster"))
}

mod conformance {
    crate::store_conformance_tests!(@kv #[cfg_attr(not(zerog_couchbase_tests), ignore = "needs a Couchbase cluster: build with ZEROG_TEST_COUCHBASE=couchbase://user:password@host/bucket")] super::factory());
}

mod conformance_sqlpp {
    crate::store_conformance_tests!(@query #[cfg_attr(not(zerog_couchbase_query_tests), ignore = "needs a Couchbase cluster with the query service (ZEROG_TEST_COUCHBASE set, ZEROG_TEST_COUCHBASE_NO_QUERY not)")] super::factory());
}

fn job() -> (String, Doc) {
    let uuid = uuid::Uuid::new_v4().to_string();
    (
        key_for(&uuid),
        new_document(&uuid, "cb_test", "cb", Doc::new()),
    )
}

/// The expiry the cluster holds for a document, through the SDK itself.
fn expiry_of(store: &CouchbaseStore, key: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    use couchbase::options::kv_options::GetOptions;
    let coll = &store.sdk().collection;
    let got = store
        .block_on(coll.get(key, GetOptions::new().expiry(true)))
        .expect("get with expiry");
    // No expiry reads back as 0, the Unix epoch.
    got.expiry_time().copied().filter(|t| t.timestamp() > 0)
}

#[test]
#[cfg_attr(
    not(zerog_couchbase_tests),
    ignore = "needs a Couchbase cluster: build with ZEROG_TEST_COUCHBASE=couchbase://user:password@host/bucket"
)]
fn a_finished_job_expires_after_the_retention_and_a_rerun_keeps_it() {
    let store = CouchbaseStore::open(&test_url("retention=2s")).unwrap();
    let (key, doc) = job();
    let cas = store.insert(&key, &doc).unwrap();
    assert_eq!(expiry_of(&store, &key), None, "a queued job never expires");
    let mut done = doc.clone();
    done.set("status", "done");
    done.set("finishedAt", crate::clock::now_iso());
    let cas = store.replace(&key, &done, cas).unwrap();
    assert!(
        expiry_of(&store, &key).is_some(),
        "a finished job has an expiry"
    );
    // Run again: queued once more, it is kept until it finishes again.
    let cas = store.replace(&key, &doc, cas).unwrap();
    assert_eq!(expiry_of(&store, &key), None);
    store.replace(&key, &done, cas).unwrap();
    std::thread::sleep(Duration::from_millis(3500));
    assert_eq!(store.get(&key).unwrap(), None, "gone after the retention");
}

#[test]
#[cfg_attr(
    not(zerog_couchbase_tests),
    ignore = "needs a Couchbase cluster: build with ZEROG_TEST_COUCHBASE=couchbase://user:password@host/bucket"
)]
fn documents_are_plain_json_under_the_original_key_both_ways() {
    // What the original zeroG's Python SDK writes and reads: JSON with the JSON flags under
    // `zerog_job_<uuid>`. Written here, read raw; written raw, read here.
    let store = CouchbaseStore::open(&test_url("")).unwrap();
    let (key, doc) = job();
    store.insert(&key, &doc).unwrap();
    let coll = &store.sdk().collection;
    let raw = store.block_on(coll.get(&key, None)).unwrap();
    let (bytes, flags) = raw.content_as_raw();
    assert_eq!(flags, JSON_FLAGS);
    assert_eq!(serde_json::from_slice::<Doc>(bytes).unwrap(), doc);

    let uuid = uuid::Uuid::new_v4().to_string();
    let original = json!({"documentType": "zerog_job", "jobType": "legacy", "uuid": uuid,
                          "resultCode": 200, "running": false, "events": [], "cas": 0});
    let key = key_for(&uuid);
    store.block_on(coll.upsert(&key, &original, None)).unwrap();
    let read = store.get(&key).unwrap().unwrap().doc;
    assert_eq!(Value::Object(read.clone()), original);
    assert_eq!(
        read.status(),
        Status::Done,
        "derived, as for the embedded store"
    );
}

#[test]
#[cfg_attr(
    not(zerog_couchbase_tests),
    ignore = "needs a Couchbase cluster: build with ZEROG_TEST_COUCHBASE=couchbase://user:password@host/bucket"
)]
fn a_corrupt_document_is_named_and_never_overwritten() {
    let store = CouchbaseStore::open(&test_url("")).unwrap();
    let (key, doc) = job();
    let coll = &store.sdk().collection;
    store
        .block_on(coll.upsert_raw(&key, b"{\"truncated\": [1, ", JSON_FLAGS, None))
        .unwrap();
    match store.get(&key) {
        Err(Error::Corrupt { key: k, reason }) => {
            assert_eq!(k, key);
            assert!(reason.contains("not a JSON object"), "{reason}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let entry = json!({"msg": "x"});
    assert!(store.append(&key, LogList::Events, &entry).is_err());
    assert!(store
        .patch(
            &key,
            &Patch {
                push: vec![(LogList::Events, entry)],
                ..Patch::default()
            }
        )
        .is_err());
    assert!(matches!(
        store.insert(&key, &doc),
        Err(Error::AlreadyExists { .. })
    ));
    let raw = store.block_on(coll.get(&key, None)).unwrap();
    assert_eq!(
        raw.content_as_raw().0,
        b"{\"truncated\": [1, ",
        "left as it was"
    );
}

#[test]
#[cfg_attr(
    not(zerog_couchbase_tests),
    ignore = "needs a Couchbase cluster: build with ZEROG_TEST_COUCHBASE=couchbase://user:password@host/bucket"
)]
fn a_wrong_bucket_or_password_fails_at_open_naming_it() {
    let mut url = test_url("timeout=3s");
    url.bucket = format!("no_such_bucket_{}", uuid::Uuid::new_v4().simple());
    let t0 = std::time::Instant::now();
    let e = CouchbaseStore::open(&url)
        .err()
        .expect("no such bucket")
        .to_string();
    // The cause is named as the SDK gave it, without waiting for the timeout.
    assert!(e.contains(&url.bucket), "{e}");
    assert!(
        e.to_lowercase().contains("bucket failed") || e.contains("unknown bucket"),
        "{e}"
    );
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    let mut url = test_url("timeout=3s");
    url.password = Some("wrong-password".into());
    let e = CouchbaseStore::open(&url)
        .err()
        .expect("wrong password")
        .to_string();
    assert!(
        e.contains(&url.conn_str) && !e.contains("wrong-password"),
        "{e}"
    );
    assert!(e.to_lowercase().contains("auth"), "{e}");
}

#[test]
fn a_dead_server_fails_at_open_within_the_timeout_naming_it() {
    // Nothing listens on this port: the store says so at open, within its timeout.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url =
        CouchbaseUrl::parse(&format!("couchbase://u:p@127.0.0.1:{port}/b?timeout=2s")).unwrap();
    let t0 = std::time::Instant::now();
    let e = CouchbaseStore::open(&url)
        .err()
        .expect("nothing listens")
        .to_string();
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    assert!(e.contains(&format!("127.0.0.1:{port}")), "{e}");
}

#[test]
fn missing_credentials_are_a_configuration_error() {
    let mut url = CouchbaseUrl::parse("couchbase://127.0.0.1/b").unwrap();
    url.user = None;
    url.password = None;
    let e = CouchbaseStore::open(&url)
        .err()
        .expect("no credentials")
        .to_string();
    assert!(e.contains("ZEROG_COUCHBASE_USER"), "{e}");
}
