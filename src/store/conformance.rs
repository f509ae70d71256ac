//! The behaviour every `Store` backend must have, as checks any backend's tests can run.
//!
//! Each check takes a factory that opens a new handle to the same backend on every call, so
//! behaviour across handles (the way separate worker processes see the store) is tested too.
//! Keys and job types are unique per check, so the checks also run against a shared backend.
//!
//! A backend's tests invoke [`store_conformance_tests!`](crate::store_conformance_tests) with an
//! expression that gives a fresh factory; it expands to one `#[test]` per check.

use super::{update, Cas, ListQuery, Patch, Store, Versioned};
use crate::error::Error;
use crate::job::{key_for, new_document, Doc, DocExt, LogList, Status};
use serde_json::{json, Value};
use std::collections::HashSet;

/// Opens a new handle to the backend under test.
pub type Factory<'a> = &'a dyn Fn() -> Box<dyn Store>;

/// Expands to one `#[test]` per conformance check. `$factory` is evaluated once per test and
/// must give a `Fn() -> Box<dyn Store>` whose handles all reach the same (fresh) backend.
///
/// `store_conformance_tests!(@kv #[attr] factory)` and `(@query #[attr] factory)` expand one
/// half, each test carrying `attr`: the key-value checks, and those that need listing (which
/// Couchbase does with SQL++, a service a cluster may lack), so a backend can mark either half
/// ignored with its reason.
#[macro_export]
macro_rules! store_conformance_tests {
    ($factory:expr) => {
        $crate::store_conformance_tests!(@kv #[cfg(all())] $factory);
        $crate::store_conformance_tests!(@query #[cfg(all())] $factory);
    };
    (@kv #[$attr:meta] $factory:expr) => {
        $crate::store_conformance_tests!(@each #[$attr] $factory;
            insert_then_get_round_trips,
            insert_of_an_existing_key_is_already_exists,
            insert_many_is_all_or_nothing,
            get_of_a_missing_key_is_none,
            replace_with_the_current_cas_gives_a_new_cas,
            replace_with_a_stale_cas_is_cas_mismatch_and_changes_nothing,
            replace_of_a_missing_key_is_doc_not_found,
            replace_many_answers_for_each_document,
            append_of_a_missing_key_is_doc_not_found,
            concurrent_appends_from_two_handles_lose_nothing,
            concurrent_updates_lose_no_increment_and_no_append,
            patch_sets_appends_raises_and_reads_back,
            concurrent_patches_lose_nothing,
            patch_of_a_missing_key_is_doc_not_found,
            delete_returns_true_then_false,
            values_of_any_kind_are_kept_under_keys_of_their_own,
        );
    };
    (@query #[$attr:meta] $factory:expr) => {
        $crate::store_conformance_tests!(@each #[$attr] $factory;
            list_filters_by_status_and_job_type,
            list_pages_through_everything_in_creation_order,
            list_limit_zero_means_one_hundred,
            expire_finished_removes_only_old_finished_documents,
            count_by_status_counts_every_status,
            finished_after_walks_finished_documents_in_finish_order,
        );
    };
    (@each #[$attr:meta] $factory:expr; $($check:ident),* $(,)?) => {
        $(
            #[test]
            #[$attr]
            fn $check() {
                let factory = $factory;
                $crate::store::conformance::$check(&factory);
            }
        )*
    };
}

/// JSON does not tell 1 from 1.0, and a server that rewrites a document in a sub-document
/// operation (the gocaves mock does) may write either.
fn numbers_as_f64(v: Value) -> Value {
    match v {
        Value::Number(n) => json!(n.as_f64()),
        Value::Array(items) => Value::Array(items.into_iter().map(numbers_as_f64).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, numbers_as_f64(v)))
                .collect(),
        ),
        other => other,
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// A new job document under a unique key.
fn job(job_type: &str) -> (String, Doc) {
    let uuid = uuid::Uuid::new_v4().to_string();
    (
        key_for(&uuid),
        new_document(&uuid, job_type, "conformance", Doc::new()),
    )
}

fn with_status(mut doc: Doc, status: Status) -> Doc {
    doc.set("status", status.as_str());
    doc
}

fn stored(store: &dyn Store, key: &str) -> Versioned {
    store
        .get(key)
        .unwrap()
        .unwrap_or_else(|| panic!("{key} should exist"))
}

fn entries(doc: &Doc, list: LogList) -> &[Value] {
    doc.get(list.field())
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// Every key the listing gives for `query`, following the cursor to the last page.
fn list_all(store: &dyn Store, mut query: ListQuery) -> Vec<String> {
    let mut keys = Vec::new();
    loop {
        let page = store.list(&query).unwrap();
        keys.extend(page.items.into_iter().map(|(key, _)| key));
        match page.next {
            Some(next) => query.after = Some(next),
            None => return keys,
        }
    }
}

pub fn insert_then_get_round_trips(factory: Factory) {
    let (writer, reader) = (factory(), factory());
    let (key, mut doc) = job("round_trip");
    doc.set(
        "nested",
        json!({"a": [1, 2.5, "three", null, true], "é": "ünïcode"}),
    );
    let cas = writer.insert(&key, &doc).unwrap();
    assert_ne!(cas, 0, "0 means 'never saved' to callers");
    assert_eq!(
        writer.get(&key).unwrap(),
        Some(Versioned {
            doc: doc.clone(),
            cas
        })
    );
    assert_eq!(reader.get(&key).unwrap(), Some(Versioned { doc, cas }));
}

pub fn insert_of_an_existing_key_is_already_exists(factory: Factory) {
    let (first, second) = (factory(), factory());
    let (key, doc) = job("exists");
    let cas = first.insert(&key, &doc).unwrap();
    let other = with_status(doc.clone(), Status::Done);
    match second.insert(&key, &other) {
        Err(Error::AlreadyExists { key: k }) => assert_eq!(k, key),
        r => panic!("expected AlreadyExists, got {r:?}"),
    }
    assert_eq!(stored(&*first, &key), Versioned { doc, cas });
}

pub fn insert_many_is_all_or_nothing(factory: Factory) {
    let (writer, reader) = (factory(), factory());
    let batch: Vec<(String, Doc)> = (0..150).map(|_| job("many")).collect();
    let cases = writer.insert_many(&batch).unwrap();
    assert_eq!(cases.len(), batch.len());
    for ((key, doc), cas) in batch.iter().zip(&cases) {
        assert_ne!(*cas, 0);
        assert_eq!(
            stored(&*reader, key),
            Versioned {
                doc: doc.clone(),
                cas: *cas
            }
        );
    }
    // One taken key among new ones: the error names it, and none of the new ones is left.
    let mut second: Vec<(String, Doc)> = (0..150).map(|_| job("many")).collect();
    let taken = batch[7].0.clone();
    second.insert(75, (taken.clone(), batch[7].1.clone()));
    match writer.insert_many(&second) {
        Err(Error::AlreadyExists { key }) => assert_eq!(key, taken),
        r => panic!("expected AlreadyExists, got {r:?}"),
    }
    for (key, _) in second.iter().filter(|(k, _)| *k != taken) {
        assert_eq!(
            reader.get(key).unwrap(),
            None,
            "{key} was left by a failed batch"
        );
    }
    assert_eq!(
        stored(&*reader, &taken).cas,
        cases[7],
        "the taken one is untouched"
    );
}

pub fn get_of_a_missing_key_is_none(factory: Factory) {
    assert_eq!(factory().get(&unique("missing")).unwrap(), None);
}

pub fn replace_with_the_current_cas_gives_a_new_cas(factory: Factory) {
    let (a, b) = (factory(), factory());
    let (key, doc) = job("replace");
    let cas1 = a.insert(&key, &doc).unwrap();
    let doc2 = with_status(doc, Status::Running);
    let cas2 = a.replace(&key, &doc2, cas1).unwrap();
    assert!(cas2 != 0 && cas2 != cas1, "replace must give a new cas");
    assert_eq!(
        stored(&*b, &key),
        Versioned {
            doc: doc2.clone(),
            cas: cas2
        }
    );
    // The CAS is the document's, not the handle's: another handle can write with it.
    let doc3 = with_status(doc2, Status::Done);
    let cas3 = b.replace(&key, &doc3, cas2).unwrap();
    assert!(cas3 != 0 && cas3 != cas2 && cas3 != cas1);
    assert_eq!(
        stored(&*a, &key),
        Versioned {
            doc: doc3,
            cas: cas3
        }
    );
}

pub fn replace_with_a_stale_cas_is_cas_mismatch_and_changes_nothing(factory: Factory) {
    let (a, b) = (factory(), factory());
    let (key, doc) = job("stale");
    let stale = a.insert(&key, &doc).unwrap();
    let winner = with_status(doc.clone(), Status::Running);
    let cas = b.replace(&key, &winner, stale).unwrap();
    for writer in [&a, &b] {
        match writer.replace(&key, &with_status(doc.clone(), Status::Failed), stale) {
            Err(Error::CasMismatch { key: k }) => assert_eq!(k, key),
            r => panic!("expected CasMismatch, got {r:?}"),
        }
    }
    // An append moves the CAS on too, so a CAS read before it is stale.
    let appended = a.append(&key, LogList::Events, &json!("e")).unwrap();
    assert_ne!(appended, cas);
    assert!(matches!(
        b.replace(&key, &winner, cas),
        Err(Error::CasMismatch { .. })
    ));
    let now = stored(&*a, &key);
    assert_eq!(now.cas, appended);
    assert_eq!(now.doc.status(), Status::Running);
    assert_eq!(entries(&now.doc, LogList::Events), [json!("e")]);
}

pub fn replace_of_a_missing_key_is_doc_not_found(factory: Factory) {
    let store = factory();
    let (key, doc) = job("replace_missing");
    match store.replace(&key, &doc, 1) {
        Err(Error::DocNotFound { key: k }) => assert_eq!(k, key),
        r => panic!("expected DocNotFound, got {r:?}"),
    }
    assert_eq!(store.get(&key).unwrap(), None, "replace must not create");
}

/// Each document of a `replace_many` stands or falls on its own CAS: the stale and the missing
/// one are refused (and nothing is created), the others written.
pub fn replace_many_answers_for_each_document(factory: Factory) {
    let store = factory();
    let (fresh_key, fresh) = job("many");
    let (stale_key, stale) = job("many");
    let (missing_key, missing) = job("many");
    let fresh_cas = store.insert(&fresh_key, &fresh).unwrap();
    let old_cas = store.insert(&stale_key, &stale).unwrap();
    store
        .replace(
            &stale_key,
            &with_status(stale.clone(), Status::Running),
            old_cas,
        )
        .unwrap();
    assert!(store.replace_many(&[]).is_empty());
    let answers = store.replace_many(&[
        (
            fresh_key.clone(),
            with_status(fresh.clone(), Status::Done),
            fresh_cas,
        ),
        (
            stale_key.clone(),
            with_status(stale, Status::Failed),
            old_cas,
        ),
        (missing_key.clone(), missing, 1),
    ]);
    assert_eq!(answers.len(), 3);
    let new_cas = answers[0]
        .as_ref()
        .copied()
        .expect("the fresh one is written");
    assert!(matches!(&answers[1], Err(Error::CasMismatch { key }) if *key == stale_key));
    assert!(matches!(&answers[2], Err(Error::DocNotFound { key }) if *key == missing_key));
    let now = stored(&*store, &fresh_key);
    assert_eq!((now.cas, now.doc.status()), (new_cas, Status::Done));
    assert_eq!(stored(&*store, &stale_key).doc.status(), Status::Running);
    assert_eq!(store.get(&missing_key).unwrap(), None);
}

pub fn append_of_a_missing_key_is_doc_not_found(factory: Factory) {
    let store = factory();
    let key = unique("append_missing");
    match store.append(&key, LogList::Errors, &json!("x")) {
        Err(Error::DocNotFound { key: k }) => assert_eq!(k, key),
        r => panic!("expected DocNotFound, got {r:?}"),
    }
    assert_eq!(store.get(&key).unwrap(), None, "append must not create");
}

pub fn concurrent_appends_from_two_handles_lose_nothing(factory: Factory) {
    const PER_THREAD: usize = 200;
    let (key, doc) = job("appends");
    let first = factory();
    first.insert(&key, &doc).unwrap();
    let handles = [first, factory()];
    let cases: Vec<Vec<Cas>> = std::thread::scope(|s| {
        let threads: Vec<_> = handles
            .iter()
            .enumerate()
            .map(|(t, store)| {
                let key = &key;
                s.spawn(move || {
                    (0..PER_THREAD)
                        .map(|i| {
                            let list = if i % 2 == 0 {
                                LogList::Events
                            } else {
                                LogList::Warnings
                            };
                            store.append(key, list, &json!({"t": t, "i": i})).unwrap()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });

    let all: HashSet<Cas> = cases.iter().flatten().copied().collect();
    assert_eq!(
        all.len(),
        2 * PER_THREAD,
        "every append must give a new cas"
    );
    assert!(!all.contains(&0));
    let end = stored(&*handles[1], &key);
    assert!(
        all.contains(&end.cas),
        "the stored cas is the last append's"
    );
    // Each thread's entries are all there, once, in the order it appended them.
    for t in 0..2 {
        let seen: Vec<u64> = [LogList::Events, LogList::Warnings]
            .into_iter()
            .flat_map(|list| entries(&end.doc, list))
            .filter(|e| e["t"] == json!(t))
            .map(|e| e["i"].as_u64().unwrap())
            .collect();
        let (events, warnings): (Vec<u64>, Vec<u64>) = seen.iter().partition(|i| *i % 2 == 0);
        assert_eq!(
            events,
            (0..PER_THREAD as u64).step_by(2).collect::<Vec<_>>()
        );
        assert_eq!(
            warnings,
            (1..PER_THREAD as u64).step_by(2).collect::<Vec<_>>()
        );
    }
}

pub fn concurrent_updates_lose_no_increment_and_no_append(factory: Factory) {
    const THREADS: usize = 4;
    const INCREMENTS: i64 = 50;
    const APPENDS: usize = 100;
    let (key, mut doc) = job("updates");
    doc.set("counter", 0);
    let first = factory();
    first.insert(&key, &doc).unwrap();
    let counters: Vec<Box<dyn Store>> = (0..THREADS).map(|_| factory()).collect();
    let appender = factory();
    std::thread::scope(|s| {
        for store in &counters {
            s.spawn(|| {
                for _ in 0..INCREMENTS {
                    update(&**store, &key, |doc| {
                        let n = doc.i64_field("counter");
                        doc.set("counter", n + 1);
                        Ok(())
                    })
                    .unwrap();
                }
            });
        }
        s.spawn(|| {
            for i in 0..APPENDS {
                appender.append(&key, LogList::Events, &json!(i)).unwrap();
            }
        });
    });
    let end = stored(&*first, &key).doc;
    assert_eq!(end.i64_field("counter"), THREADS as i64 * INCREMENTS);
    let expected: Vec<Value> = (0..APPENDS).map(|i| json!(i)).collect();
    assert_eq!(entries(&end, LogList::Events), expected.as_slice());
}

pub fn patch_sets_appends_raises_and_reads_back(factory: Factory) {
    let (writer, reader) = (factory(), factory());
    let (key, mut doc) = job("patch");
    doc.set("errorCount", 1);
    doc.set("big", "x".repeat(10_000));
    // A field the document lacks (as the original zeroG's documents lack this one).
    doc.remove("cancelRequested");
    writer.insert(&key, &doc).unwrap();
    let patch = Patch {
        set: vec![
            ("completeness", json!(0.25)),
            ("note", json!({"a": [1, 2]})),
        ],
        push: vec![
            (LogList::Events, json!({"msg": "one"})),
            (LogList::Errors, json!({"msg": "bad"})),
            (LogList::Events, json!({"msg": "two"})),
        ],
        add: vec![("errorCount", 2), ("retries", 1)],
        read: vec!["status", "cancelRequested", "errorCount"],
    };
    let patched = writer.patch(&key, &patch).unwrap();
    assert_eq!(patched.fields.str_field("status"), Some("queued"));
    assert_eq!(
        patched.fields.i64_field("errorCount"),
        3,
        "read back after the change"
    );
    assert!(
        patched.fields.get("cancelRequested").is_none(),
        "an absent field is absent"
    );
    let after = stored(&*reader, &key);
    assert_eq!(after.cas, patched.cas);
    let mut expected = doc;
    patch.apply_to(&mut expected);
    assert_eq!(
        numbers_as_f64(Value::Object(after.doc.clone())),
        numbers_as_f64(Value::Object(expected)),
        "the same change as a whole-document update"
    );
    assert_eq!(
        entries(&after.doc, LogList::Events),
        &[json!({"msg": "one"}), json!({"msg": "two"})]
    );
    // A field that is in the way (a log list that is not a list) is repaired, not an error.
    let (key, mut doc) = job("patch_shape");
    doc.set("warnings", "not a list");
    writer.insert(&key, &doc).unwrap();
    let patch = Patch {
        push: vec![(LogList::Warnings, json!("w"))],
        ..Patch::default()
    };
    writer.patch(&key, &patch).unwrap();
    assert_eq!(
        entries(&stored(&*reader, &key).doc, LogList::Warnings),
        &[json!("w")]
    );
}

pub fn concurrent_patches_lose_nothing(factory: Factory) {
    const PER_THREAD: i64 = 100;
    let (key, doc) = job("patches");
    let first = factory();
    first.insert(&key, &doc).unwrap();
    let handles = [first, factory()];
    std::thread::scope(|s| {
        for (t, store) in handles.iter().enumerate() {
            let key = &key;
            s.spawn(move || {
                for i in 0..PER_THREAD {
                    let patch = Patch {
                        set: vec![("completeness", json!(i as f64 / PER_THREAD as f64))],
                        push: vec![(LogList::Events, json!({"t": t, "i": i}))],
                        add: vec![("errorCount", 1)],
                        read: vec![],
                    };
                    store.patch(key, &patch).unwrap();
                }
            });
        }
    });
    let end = stored(&*handles[0], &key).doc;
    assert_eq!(end.i64_field("errorCount"), 2 * PER_THREAD);
    for t in 0..2 {
        let seen: Vec<i64> = entries(&end, LogList::Events)
            .iter()
            .filter(|e| e["t"] == json!(t))
            .map(|e| e["i"].as_i64().unwrap())
            .collect();
        assert_eq!(
            seen,
            (0..PER_THREAD).collect::<Vec<_>>(),
            "thread {t}: each once, in order"
        );
    }
}

pub fn patch_of_a_missing_key_is_doc_not_found(factory: Factory) {
    let store = factory();
    let key = unique("patch_missing");
    let patch = Patch {
        set: vec![("completeness", json!(0.5))],
        push: vec![(LogList::Events, json!("e"))],
        ..Patch::default()
    };
    match store.patch(&key, &patch) {
        Err(Error::DocNotFound { key: k }) => assert_eq!(k, key),
        r => panic!("expected DocNotFound, got {r:?}"),
    }
    assert_eq!(store.get(&key).unwrap(), None, "a patch must not create");
}

pub fn delete_returns_true_then_false(factory: Factory) {
    let (a, b) = (factory(), factory());
    let (key, doc) = job("delete");
    let old = a.insert(&key, &doc).unwrap();
    assert!(a.delete(&key).unwrap());
    assert_eq!(b.get(&key).unwrap(), None);
    assert!(!b.delete(&key).unwrap());
    // The key is free again, and a CAS of the deleted document does not carry over.
    let new = b.insert(&key, &doc).unwrap();
    assert_ne!(new, old);
    assert!(matches!(
        a.replace(&key, &doc, old),
        Err(Error::CasMismatch { .. })
    ));
}

/// The original zeroG's datastore client kept strings, numbers and lists as well as objects;
/// a key holds one value of whatever kind, changed with its CAS like a document.
pub fn values_of_any_kind_are_kept_under_keys_of_their_own(factory: Factory) {
    let (a, b) = (factory(), factory());
    let key = unique("zerog_value");
    assert_eq!(a.get_value(&key).unwrap(), None);
    let cas = a.insert_value(&key, &json!("some text")).unwrap();
    assert_eq!(b.get_value(&key).unwrap(), Some((json!("some text"), cas)));
    assert!(matches!(
        b.insert_value(&key, &json!({"n": 1})),
        Err(Error::AlreadyExists { .. })
    ));
    let cas2 = b.replace_value(&key, &json!([1, "two"]), cas).unwrap();
    assert_ne!(cas2, cas);
    assert!(matches!(
        a.replace_value(&key, &json!(3), cas),
        Err(Error::CasMismatch { .. })
    ));
    // A value may become an object and back; the object reads as a document too.
    let cas3 = a.replace_value(&key, &json!({"n": 1}), cas2).unwrap();
    assert_eq!(
        stored(&*b, &key).doc,
        json!({"n": 1}).as_object().unwrap().clone()
    );
    let cas4 = b.replace_value(&key, &json!(true), cas3).unwrap();
    assert_eq!(a.get_value(&key).unwrap(), Some((json!(true), cas4)));
    assert!(a.delete(&key).unwrap());
    assert_eq!(b.get_value(&key).unwrap(), None);
    assert!(!b.delete(&key).unwrap());
    assert!(matches!(
        a.replace_value(&key, &json!("x"), cas4),
        Err(Error::DocNotFound { .. })
    ));
    // A job document reads as an object value.
    let (job_key, doc) = job("values");
    let job_cas = a.insert(&job_key, &doc).unwrap();
    assert_eq!(
        b.get_value(&job_key).unwrap(),
        Some((Value::Object(doc), job_cas))
    );
}

pub fn list_filters_by_status_and_job_type(factory: Factory) {
    let (writer, reader) = (factory(), factory());
    let (type_a, type_b) = (unique("list_a"), unique("list_b"));
    let mut made: Vec<(String, String, Status)> = Vec::new();
    for (i, status) in [Status::Queued, Status::Done, Status::Failed, Status::Queued]
        .into_iter()
        .cycle()
        .take(12)
        .enumerate()
    {
        let job_type = if i % 3 == 0 { &type_b } else { &type_a };
        let (key, doc) = job(job_type);
        writer.insert(&key, &with_status(doc, status)).unwrap();
        made.push((key, job_type.clone(), status));
    }
    // A document of the original zeroG has no status field; it lists by its resultCode.
    let (old_key, mut old_doc) = job(&type_a);
    old_doc.remove("status");
    old_doc.set("resultCode", 200);
    writer.insert(&old_key, &old_doc).unwrap();
    made.push((old_key, type_a.clone(), Status::Done));
    // A status changed by replace moves the document to its new listing.
    let (moved_key, moved_doc) = job(&type_a);
    let cas = writer.insert(&moved_key, &moved_doc).unwrap();
    writer
        .replace(&moved_key, &with_status(moved_doc, Status::Cancelled), cas)
        .unwrap();
    // An append keeps the status the document has.
    writer
        .append(&moved_key, LogList::Events, &json!("kept"))
        .unwrap();
    made.push((moved_key, type_a.clone(), Status::Cancelled));

    let expect = |job_type: Option<&String>, status: Option<Status>| -> Vec<String> {
        made.iter()
            .filter(|(_, t, s)| {
                job_type.is_none_or(|jt| jt == t) && status.is_none_or(|st| st == *s)
            })
            .map(|(k, _, _)| k.clone())
            .collect()
    };
    let query = |job_type: Option<&String>, status: Option<Status>| ListQuery {
        job_type: job_type.cloned(),
        status,
        limit: 3,
        after: None,
    };
    for job_type in [&type_a, &type_b] {
        assert_eq!(
            list_all(&*reader, query(Some(job_type), None)),
            expect(Some(job_type), None)
        );
        for status in Status::ALL {
            assert_eq!(
                list_all(&*reader, query(Some(job_type), Some(status))),
                expect(Some(job_type), Some(status)),
                "job type {job_type}, status {status}"
            );
        }
    }
    // By status alone other documents may be listed too (on a shared backend), but ours are
    // there in order and everything listed has that status.
    for status in Status::ALL {
        let mut query = query(None, Some(status));
        query.limit = 1000;
        let mut listed = Vec::new();
        loop {
            let page = reader.list(&query).unwrap();
            for (key, doc) in page.items {
                assert_eq!(doc.status(), status, "{key} listed under {status}");
                listed.push(key);
            }
            match page.next {
                Some(next) => query.after = Some(next),
                None => break,
            }
        }
        let ours: HashSet<String> = made.iter().map(|(k, _, _)| k.clone()).collect();
        listed.retain(|k| ours.contains(k));
        assert_eq!(listed, expect(None, Some(status)), "status {status}");
    }
}

pub fn list_pages_through_everything_in_creation_order(factory: Factory) {
    let (writer, reader) = (factory(), factory());
    let job_type = unique("pages");
    let keys: Vec<String> = (0..25)
        .map(|_| {
            let (key, doc) = job(&job_type);
            writer.insert(&key, &doc).unwrap();
            key
        })
        .collect();
    for limit in [1, 5, 7, 25, 26, 1000] {
        let mut query = ListQuery {
            job_type: Some(job_type.clone()),
            limit,
            ..ListQuery::default()
        };
        let mut listed = Vec::new();
        let mut pages = 0;
        loop {
            let page = reader.list(&query).unwrap();
            pages += 1;
            assert!(page.items.len() <= limit);
            assert!(!page.items.is_empty(), "limit {limit}: empty page {pages}");
            listed.extend(page.items.into_iter().map(|(k, _)| k));
            match page.next {
                Some(next) => query.after = Some(next),
                None => break,
            }
        }
        assert_eq!(listed, keys, "limit {limit}");
        assert_eq!(
            pages,
            keys.len().div_ceil(limit),
            "limit {limit}: no empty last page"
        );
    }
    // Deleting documents between pages neither repeats nor skips the others.
    let mut query = ListQuery {
        job_type: Some(job_type.clone()),
        limit: 10,
        ..ListQuery::default()
    };
    let first = reader.list(&query).unwrap();
    assert!(writer.delete(&keys[3]).unwrap());
    assert!(writer.delete(&keys[12]).unwrap());
    query.after = first.next;
    let rest = list_all(&*reader, query);
    let mut listed: Vec<String> = first.items.into_iter().map(|(k, _)| k).collect();
    listed.extend(rest);
    let mut expected = keys.clone();
    expected.remove(12);
    assert_eq!(listed, expected);
}

pub fn list_limit_zero_means_one_hundred(factory: Factory) {
    let store = factory();
    let job_type = unique("default_limit");
    for _ in 0..101 {
        let (key, doc) = job(&job_type);
        store.insert(&key, &doc).unwrap();
    }
    let query = ListQuery {
        job_type: Some(job_type),
        ..ListQuery::default()
    };
    let page = store.list(&query).unwrap();
    assert_eq!(page.items.len(), 100);
    assert!(page.next.is_some());
}

pub fn expire_finished_removes_only_old_finished_documents(factory: Factory) {
    let (writer, expirer) = (factory(), factory());
    // Far in the past, so on a shared backend no one else's documents qualify.
    let cutoff = "2000-01-01T00:00:00.000000+00:00";
    let old = "1999-12-31T23:59:59.999999+00:00";
    let new = "2000-01-01T00:00:00.000001+00:00";
    let job_type = unique("expire");
    let mut cases = Vec::new();
    for (status, finished_at, goes) in [
        (Status::Done, Some(old), true),
        (Status::Failed, Some(old), true),
        (Status::Cancelled, Some(old), true),
        (Status::Done, Some(cutoff), false),
        (Status::Failed, Some(new), false),
        (Status::Done, None, false),
        (Status::Running, Some(old), false),
        (Status::Waiting, Some(old), false),
        (Status::Queued, None, false),
    ] {
        let (key, mut doc) = job(&job_type);
        doc = with_status(doc, status);
        if let Some(at) = finished_at {
            doc.set("finishedAt", at);
        }
        writer.insert(&key, &doc).unwrap();
        cases.push((key, goes));
    }
    // finishedAt set by a later replace counts, as the worker sets it when a job ends.
    let (key, doc) = job(&job_type);
    let cas = writer.insert(&key, &doc).unwrap();
    let mut finished = with_status(doc, Status::Done);
    finished.set("finishedAt", old);
    writer.replace(&key, &finished, cas).unwrap();
    cases.push((key, true));

    let expected = cases.iter().filter(|(_, goes)| *goes).count();
    assert_eq!(expirer.expire_finished(cutoff).unwrap(), expected);
    for (key, goes) in &cases {
        assert_eq!(writer.get(key).unwrap().is_none(), *goes, "{key}");
    }
    assert_eq!(expirer.expire_finished(cutoff).unwrap(), 0);
}

pub fn count_by_status_counts_every_status(factory: Factory) {
    let (writer, counter) = (factory(), factory());
    let before = counter.count_by_status().unwrap();
    assert_eq!(
        before.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        Status::ALL.to_vec(),
        "every status, in order"
    );
    let job_type = unique("count");
    let added = [
        (Status::Queued, 3),
        (Status::Running, 1),
        (Status::Done, 2),
        (Status::Cancelled, 1),
    ];
    for (status, n) in added {
        for _ in 0..n {
            let (key, doc) = job(&job_type);
            writer.insert(&key, &with_status(doc, status)).unwrap();
        }
    }
    let after = counter.count_by_status().unwrap();
    for ((status, was), (_, now)) in before.iter().zip(&after) {
        let expected = added
            .iter()
            .find(|(s, _)| s == status)
            .map_or(0, |(_, n)| *n);
        // At least: on a shared backend, others may add documents meanwhile.
        assert!(
            now - was >= expected,
            "{status}: {was} -> {now}, expected +{expected}"
        );
    }
}

pub fn finished_after_walks_finished_documents_in_finish_order(factory: Factory) {
    let (writer, walker) = (factory(), factory());
    // Timestamps long past, so on a shared backend nobody else's documents fall among them
    // (and before the 1999 ones the expiry check deletes).
    let at = |s: u32| format!("1990-01-01T00:00:{s:02}.000000+00:00");
    let job_type = unique("finished");
    let mut written = Vec::new();
    // Inserted out of finish order, two finishing in the same microsecond, one not finished.
    for (second, status) in [
        (Some(3), Status::Done),
        (Some(1), Status::Failed),
        (Some(2), Status::Done),
        (Some(2), Status::Cancelled),
        (None, Status::Running),
    ] {
        let (key, mut doc) = job(&job_type);
        doc = with_status(doc, status);
        if let Some(s) = second {
            doc.set("finishedAt", at(s));
        }
        writer.insert(&key, &doc).unwrap();
        written.push((key, second));
    }
    let ours = |docs: &[Doc]| -> Vec<String> {
        docs.iter()
            .filter(|d| d.str_field("jobType") == Some(job_type.as_str()))
            .map(|d| key_for(d.str_field("uuid").unwrap()))
            .collect()
    };
    let start = super::FinishCursor {
        finished_at: at(0),
        seq: 0,
    };
    let end = at(59);
    // Two at a time: the cursor carries the walk across pages, and within a microsecond.
    let mut cursor = start.clone();
    let mut seen = Vec::new();
    loop {
        let (docs, next) = walker.finished_after(&cursor, &end, 2).unwrap();
        if docs.is_empty() {
            assert_eq!(next, cursor, "an empty page leaves the cursor where it was");
            break;
        }
        seen.extend(ours(&docs));
        cursor = next;
    }
    let expected = vec![
        written[1].0.clone(),
        written[2].0.clone(),
        written[3].0.clone(),
        written[0].0.clone(),
    ];
    assert_eq!(
        seen, expected,
        "finish order, then creation order; the unfinished one absent"
    );
    // Walking on from the end finds nothing more until another job finishes.
    let (docs, _) = walker.finished_after(&cursor, &end, 10).unwrap();
    assert!(ours(&docs).is_empty());
    let (key, doc) = job(&job_type);
    let mut doc = with_status(doc, Status::Done);
    doc.set("finishedAt", at(4));
    writer.insert(&key, &doc).unwrap();
    // Not before `until` reaches it.
    let (docs, _) = walker.finished_after(&cursor, &at(3), 10).unwrap();
    assert!(ours(&docs).is_empty());
    let (docs, _) = walker.finished_after(&cursor, &at(4), 10).unwrap();
    assert_eq!(ours(&docs), vec![key]);
}
