//! The Couchbase store's URL: `couchbase://[user:password@]host[,host]/bucket[?options]`
//! (`couchbases://` for TLS). Parsed here, apart from the SDK, so a bad URL is named at start
//! and the parsing is tested without a cluster.
//!
//! Options: `scope` and `collection` (Couchbase's defaults, `_default`, if absent),
//! `retention` (how long a finished job is kept: `30d` by default, `0` keeps it for ever) and
//! `timeout` (the longest one operation may take, retries included: `10s` by default) and
//! `compression` (`on` by default: Snappy on the wire where the cluster offers it; `off` for
//! a server that mishandles it, such as the gocaves mock with sub-document operations).
//! Credentials come from the URL, else from `ZEROG_COUCHBASE_USER` and
//! `ZEROG_COUCHBASE_PASSWORD`.

use crate::config::{masked, userinfo};
use crate::error::{Error, Result};
use std::time::Duration;

pub const USER_ENV: &str = "ZEROG_COUCHBASE_USER";
pub const PASSWORD_ENV: &str = "ZEROG_COUCHBASE_PASSWORD";

/// Thirty days: long enough to look at last month's jobs, short enough that a busy system's
/// bucket does not grow for ever.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, PartialEq, Eq)]
pub struct CouchbaseUrl {
    /// The SDK's connection string: scheme and hosts, without bucket or options.
    pub conn_str: String,
    pub bucket: String,
    pub scope: Option<String>,
    pub collection: Option<String>,
    /// `None` in the URL and environment: the SDK then fails naming the missing credentials.
    pub user: Option<String>,
    pub password: Option<String>,
    /// `None`: finished jobs are kept for ever.
    pub retention: Option<Duration>,
    pub timeout: Duration,
    /// Snappy compression of documents on the wire (`compression=off` turns it off).
    pub compression: bool,
}

// The password never reaches a log line or an error message.
impl std::fmt::Debug for CouchbaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CouchbaseUrl")
            .field("conn_str", &self.conn_str)
            .field("bucket", &self.bucket)
            .field("scope", &self.scope)
            .field("collection", &self.collection)
            .field("user", &self.user)
            .field("retention", &self.retention)
            .field("timeout", &self.timeout)
            .field("compression", &self.compression)
            .finish_non_exhaustive()
    }
}

impl CouchbaseUrl {
    /// Parses a `couchbase://` or `couchbases://` URL; an error names it, any password masked.
    pub fn parse(url: &str) -> Result<CouchbaseUrl> {
        let shown = masked(url);
        let bad = |why: &str| Error::Config(format!("{shown:?} {why}"));
        let (scheme, rest) = match url.split_once("://") {
            Some((s @ ("couchbase" | "couchbases"), rest)) => (s, rest),
            _ => return Err(bad("is not a couchbase:// or couchbases:// URL")),
        };
        let (creds, rest) = match userinfo(rest) {
            Some((c, r)) => (Some(c), r),
            None => (None, rest),
        };
        let (main, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (hosts, bucket) = main
            .split_once('/')
            .ok_or_else(|| bad("names no bucket (couchbase://host/bucket)"))?;
        let bucket = bucket.trim_end_matches('/');
        if hosts.is_empty() || bucket.is_empty() {
            return Err(bad("needs a host and a bucket (couchbase://host/bucket)"));
        }
        if bucket.contains('/') {
            return Err(bad(
                "has a path after the bucket; scope and collection go in the query \
                 (couchbase://host/bucket?scope=s&collection=c)",
            ));
        }
        let (mut user, mut password) = match creds {
            Some(c) => {
                let (u, p) = c.split_once(':').unwrap_or((c, ""));
                (Some(decode(u, &bad)?), Some(decode(p, &bad)?))
            }
            None => (None, None),
        };
        user = user.or_else(|| env_value(USER_ENV));
        password = password.or_else(|| env_value(PASSWORD_ENV));

        let mut parsed = CouchbaseUrl {
            conn_str: format!("{scheme}://{hosts}"),
            bucket: decode(bucket, &bad)?,
            scope: None,
            collection: None,
            user,
            password,
            retention: Some(DEFAULT_RETENTION),
            timeout: DEFAULT_TIMEOUT,
            compression: true,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = decode(value, &bad)?;
            match name {
                "scope" => parsed.scope = Some(value).filter(|v| !v.is_empty()),
                "collection" => parsed.collection = Some(value).filter(|v| !v.is_empty()),
                "retention" => {
                    let d = duration(&value)
                        .ok_or_else(|| bad(&format!("has a bad retention {value:?} (e.g. 30d, 12h, 0 for ever)")))?;
                    parsed.retention = Some(d).filter(|d| !d.is_zero());
                }
                "timeout" => {
                    parsed.timeout = duration(&value)
                        .filter(|d| !d.is_zero())
                        .ok_or_else(|| bad(&format!("has a bad timeout {value:?} (e.g. 10s, 500ms)")))?;
                }
                "compression" => {
                    parsed.compression = match value.as_str() {
                        "on" | "true" | "1" => true,
                        "off" | "false" | "0" => false,
                        _ => return Err(bad(&format!("has a bad compression {value:?} (on or off)"))),
                    }
                }
                other => {
                    return Err(bad(&format!(
                        "has an unknown option {other:?} (scope, collection, retention, timeout or compression)"
                    )))
                }
            }
        }
        if parsed.collection.is_some() && parsed.scope.is_none() {
            parsed.scope = Some("_default".into());
        }
        Ok(parsed)
    }

    /// The keyspace SQL++ names: `` `bucket`.`scope`.`collection` ``.
    pub fn keyspace(&self) -> String {
        format!(
            "`{}`.`{}`.`{}`",
            self.bucket,
            self.scope.as_deref().unwrap_or("_default"),
            self.collection.as_deref().unwrap_or("_default")
        )
    }

    /// Where it is, for messages: hosts, bucket, scope and collection, never credentials.
    pub fn target(&self) -> String {
        format!(
            "{}/{}.{}.{}",
            self.conn_str,
            self.bucket,
            self.scope.as_deref().unwrap_or("_default"),
            self.collection.as_deref().unwrap_or("_default")
        )
    }
}

fn env_value(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// `30d`, `12h`, `15m`, `10s`, `500ms`, or bare seconds.
fn duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => return Some(Duration::from_millis(n)),
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

/// Percent-decoding, so a password may hold `@`, `/` or `:`.
fn decode(text: &str, bad: &dyn Fn(&str) -> Error) -> Result<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| bad("has a bad %-escape"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad("has a %-escape that is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<CouchbaseUrl> {
        CouchbaseUrl::parse(url)
    }

    #[test]
    fn couchbase_needs_a_bucket() {
        let u = parse("couchbase://db1/jobs").unwrap();
        assert_eq!(
            (u.conn_str.as_str(), u.bucket.as_str()),
            ("couchbase://db1", "jobs")
        );
        assert!(parse("couchbase://db1").is_err());
    }

    #[test]
    fn hosts_bucket_scope_and_collection() {
        let u = parse("couchbase://db1,db2/jobs?scope=app&collection=zerog").unwrap();
        assert_eq!(u.conn_str, "couchbase://db1,db2");
        assert_eq!(u.bucket, "jobs");
        assert_eq!(u.scope.as_deref(), Some("app"));
        assert_eq!(u.collection.as_deref(), Some("zerog"));
        assert_eq!(u.keyspace(), "`jobs`.`app`.`zerog`");
        assert_eq!(u.retention, Some(DEFAULT_RETENTION));
        assert_eq!(u.timeout, DEFAULT_TIMEOUT);
        // A collection alone lives in the default scope.
        let u = parse("couchbases://db1/jobs?collection=c").unwrap();
        assert_eq!(u.conn_str, "couchbases://db1");
        assert_eq!(u.keyspace(), "`jobs`.`_default`.`c`");
    }

    /// A password with a `/` or an `@` written into the URL as it is: parsed whole, and never
    /// shown, in a message or in the URL's Debug form.
    #[test]
    fn a_password_holding_a_slash_or_an_at_is_parsed_and_never_shown() {
        for (url, password) in [
            ("couchbase://admin:S3cr3tPW/x@host/jobs", "S3cr3tPW/x"),
            (
                "couchbase://admin:p@ss/w0rd@h1,h2/jobs?timeout=5s",
                "p@ss/w0rd",
            ),
        ] {
            let u = parse(url).unwrap();
            assert_eq!(u.password.as_deref(), Some(password));
            assert_eq!(u.user.as_deref(), Some("admin"));
            assert!(!u.conn_str.contains(password) && !format!("{u:?}").contains(password));
            let shown = masked(url);
            assert!(!shown.contains(password), "{shown}");
            assert!(shown.starts_with("couchbase://admin:***@h"), "{shown}");
            let bad = format!("{url}&bogus=1").replace("jobs&", "jobs?");
            let e = parse(&bad).unwrap_err().to_string();
            assert!(e.contains("bogus") && !e.contains(password), "{e}");
        }
    }

    #[test]
    fn credentials_in_the_url_are_decoded_and_never_shown() {
        let u = parse("couchbase://ops:p%40ss%3Aw0rd@db1/jobs").unwrap();
        assert_eq!(u.user.as_deref(), Some("ops"));
        assert_eq!(u.password.as_deref(), Some("p@ss:w0rd"));
        assert!(!format!("{u:?}").contains("w0rd"));
        assert_eq!(
            masked("couchbase://ops:secret@db1/jobs"),
            "couchbase://ops:***@db1/jobs"
        );
        let e = parse("couchbase://ops:secret@db1/jobs?bogus=1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bogus") && !e.contains("secret"), "{e}");
    }

    #[test]
    fn retention_and_timeout_take_units() {
        let u = parse("couchbase://db/b?retention=12h&timeout=500ms&compression=off").unwrap();
        assert!(!u.compression);
        assert_eq!(u.retention, Some(Duration::from_secs(12 * 3600)));
        assert_eq!(u.timeout, Duration::from_millis(500));
        assert_eq!(
            parse("couchbase://db/b?retention=0").unwrap().retention,
            None
        );
        assert_eq!(
            parse("couchbase://db/b?retention=90").unwrap().retention,
            Some(Duration::from_secs(90))
        );
        for bad in ["retention=soon", "retention=3w", "timeout=0", "timeout=-1"] {
            let e = parse(&format!("couchbase://db/b?{bad}"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(bad.split('=').next().unwrap()), "{bad}: {e}");
        }
    }

    #[test]
    fn a_missing_bucket_or_host_is_named() {
        for url in [
            "couchbase://db1",
            "couchbase:///b",
            "couchbase://db1/",
            "couchbase://db/b/c",
        ] {
            let e = parse(url).unwrap_err().to_string();
            assert!(e.contains(url), "{url}: {e}");
        }
    }
}
