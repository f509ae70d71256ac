//! Turns on the Couchbase tests when a cluster to test against is named at build time (Rust
//! has no way to skip a test at run time, so without one they are marked ignored, with the
//! reason, rather than passing without checking anything).
//!
//! - `ZEROG_TEST_COUCHBASE=couchbase://user:password@host/bucket`: the key-value tests run;
//! - unless `ZEROG_TEST_COUCHBASE_NO_QUERY=1` too (a cluster, or a mock such as gocaves,
//!   without the query service), the SQL++ tests run as well.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(zerog_couchbase_tests)");
    println!("cargo::rustc-check-cfg=cfg(zerog_couchbase_query_tests)");
    println!("cargo::rerun-if-env-changed=ZEROG_TEST_COUCHBASE");
    println!("cargo::rerun-if-env-changed=ZEROG_TEST_COUCHBASE_NO_QUERY");
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.is_empty());
    if set("ZEROG_TEST_COUCHBASE") {
        println!("cargo::rustc-cfg=zerog_couchbase_tests");
        if !set("ZEROG_TEST_COUCHBASE_NO_QUERY") {
            println!("cargo::rustc-cfg=zerog_couchbase_query_tests");
        }
    }
}
