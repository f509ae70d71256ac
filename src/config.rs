//! Where the store and the queue live, given as URLs.
//!
//! `ZEROG_STORE` and `ZEROG_QUEUE` (or explicit arguments) name them; with neither, both are the
//! user's one embedded SQLite file ([`default_path`]). A URL that cannot be used fails here, at
//! start, naming the URL.

use crate::error::{Error, Result};
use std::path::PathBuf;
pub const STORE_ENV: &str = "ZEROG_STORE";
pub const QUEUE_ENV: &str = "ZEROG_QUEUE";
/// Set to `1` while the original zeroG's processes share the store with zeroG's: documents are
/// then written in the original's shape (see `job::original_shape`).
pub const MIXED_FLEET_ENV: &str = "ZEROG_MIXED_FLEET";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// The embedded SQLite file (store and queue can share one).
    Sqlite(PathBuf),
    /// beanstalkd servers, `host:port` each.
    Beanstalk(Vec<(String, u16)>),
    /// Couchbase: the whole URL, parsed by the store (`store::couchbase::CouchbaseUrl`).
    Couchbase(String),
}

/// The embedded file used when nothing names a store: one per user, wherever a process runs,
/// `$XDG_DATA_HOME/zerog/zerog.db` (by default `~/.local/share/zerog/zerog.db`).
///
/// Not `./zerog.db`: a producer started in another directory than its worker would write to
/// another file, and its jobs would wait for ever with nothing saying why. Without a home
/// directory (a bare container) it is `./zerog.db` after all.
pub fn default_path() -> PathBuf {
    let absolute = |var: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    match absolute("XDG_DATA_HOME").or_else(|| absolute("HOME").map(|h| h.join(".local/share"))) {
        Some(base) => base.join("zerog").join("zerog.db"),
        None => PathBuf::from("zerog.db"),
    }
}

/// [`default_path`] as a URL.
pub fn default_url() -> String {
    format!("sqlite:///{}", default_path().display())
}

/// Parses a store or queue URL:
/// - `sqlite:///relative/path.db`, `sqlite:////absolute/path.db` (the path after `sqlite://`);
/// - `beanstalk://host[:port][,host[:port]...]` (port 11300 by default);
/// - `couchbase://[user:password@]host[,host]/bucket[?scope=&collection=&retention=&timeout=]`
///   (`couchbases://` for TLS; the Couchbase store parses the rest).
pub fn parse_url(url: &str) -> Result<Target> {
    let bad = |why: &str| Error::Config(format!("{:?} {why}", masked(url)));
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("is not a URL (expected sqlite:///path, beanstalk://host:port or couchbase://host/bucket)"))?;
    match scheme {
        "sqlite" => {
            let path = rest.strip_prefix('/').ok_or_else(|| {
                bad("needs three slashes: sqlite:///relative.db or sqlite:////absolute.db")
            })?;
            if path.is_empty() || path.ends_with('/') {
                return Err(bad("names no file"));
            }
            Ok(Target::Sqlite(PathBuf::from(path)))
        }
        "beanstalk" => {
            let mut servers = Vec::new();
            for part in rest.trim_end_matches('/').split(',') {
                let (host, port) = match part.rsplit_once(':') {
                    Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
                        let port = p
                            .parse::<u16>()
                            .map_err(|_| bad(&format!("has a bad port {p:?}")))?;
                        (h, port)
                    }
                    _ => (part, 11300),
                };
                let host = host.trim_start_matches('[').trim_end_matches(']');
                if host.is_empty() {
                    return Err(bad("names no host"));
                }
                servers.push((host.to_owned(), port));
            }
            Ok(Target::Beanstalk(servers))
        }
        "couchbase" | "couchbases" => Ok(Target::Couchbase(url.to_owned())),
        other => Err(bad(&format!(
            "has an unknown scheme {other:?} (sqlite, beanstalk or couchbase)"
        ))),
    }
}

/// The queue's URL: the argument if given, else `ZEROG_QUEUE`, else the store's own when the
/// store is an embedded SQLite file (the queue lives beside the documents, in whatever file
/// they are), else the default.
pub fn resolve_queue(explicit: Option<&str>, store_url: &str) -> String {
    given(explicit, QUEUE_ENV).unwrap_or_else(|| {
        if store_url.starts_with("sqlite://") {
            store_url.to_owned()
        } else {
            default_url()
        }
    })
}

/// The URL to use: the argument if given, else the environment variable, else the default.
pub fn resolve(explicit: Option<&str>, env_var: &str) -> String {
    given(explicit, env_var).unwrap_or_else(default_url)
}

/// The URL the caller or the environment gives, if either does (an empty one is none).
fn given(explicit: Option<&str>, env_var: &str) -> Option<String> {
    match explicit {
        Some(u) if !u.is_empty() => Some(u.to_owned()),
        _ => std::env::var(env_var).ok().filter(|v| !v.is_empty()),
    }
}

/// Whether `ZEROG_MIXED_FLEET` turns the mixed-fleet mode on. A value that is neither on
/// (`1`, `true`, `yes`, `on`) nor off (unset, empty, `0`, `false`, `no`, `off`) is an error
/// naming it: a typo must not quietly leave the original's processes unable to read documents.
pub fn mixed_fleet() -> Result<bool> {
    let value = std::env::var(MIXED_FLEET_ENV).unwrap_or_default();
    on_or_off(&value).ok_or_else(|| {
        Error::Config(format!(
            "{MIXED_FLEET_ENV}={value:?} is neither on (1, true, yes, on) nor off (0, false, no, off)"
        ))
    })
}

fn on_or_off(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "" | "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// The URL with the password replaced by `***`.
pub fn masked(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match userinfo(rest) {
        Some((creds, after)) if creds.contains(':') => {
            let user = creds.split_once(':').map_or(creds, |(u, _)| u);
            format!("{scheme}://{user}:***@{after}")
        }
        _ => url.to_owned(),
    }
}

/// Splits what follows a URL's `://` into its credentials (`user:password`) and the rest. The
/// credentials end at the last `@` before the query, not at the first `/`: a password written
/// into a URL unescaped may hold a `/` (or an `@`), and must neither be cut nor shown.
pub fn userinfo(rest: &str) -> Option<(&str, &str)> {
    let before_query = rest.find('?').unwrap_or(rest.len());
    let at = rest[..before_query].rfind('@')?;
    Some((&rest[..at], &rest[at + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_one_absolute_file_per_user_wherever_a_process_runs() {
        // (HOME is set wherever these tests run.)
        let path = default_path();
        assert!(path.is_absolute(), "{path:?}");
        assert!(path.ends_with("zerog/zerog.db"), "{path:?}");
        assert_eq!(parse_url(&default_url()).unwrap(), Target::Sqlite(path));
        assert_eq!(resolve_queue(None, "couchbase://h/b"), default_url());
    }

    #[test]
    fn sqlite_paths() {
        assert_eq!(
            parse_url("sqlite:///./zerog.db").unwrap(),
            Target::Sqlite("./zerog.db".into())
        );
        assert_eq!(
            parse_url("sqlite:////tmp/z.db").unwrap(),
            Target::Sqlite("/tmp/z.db".into())
        );
        assert!(parse_url("sqlite://z.db").is_err());
        assert!(parse_url("sqlite:///").is_err());
    }

    #[test]
    fn beanstalk_servers_default_the_port() {
        assert_eq!(
            parse_url("beanstalk://h1:11301,h2").unwrap(),
            Target::Beanstalk(vec![("h1".into(), 11301), ("h2".into(), 11300)])
        );
        assert_eq!(
            parse_url("beanstalk://[::1]:4000").unwrap(),
            Target::Beanstalk(vec![("::1".into(), 4000)])
        );
        let e = parse_url("beanstalk://h1:port").unwrap_err().to_string();
        assert!(
            e.contains("beanstalk://h1:port") && e.contains("port"),
            "{e}"
        );
    }

    #[test]
    fn switches_read_on_and_off_and_nothing_else() {
        assert_eq!(on_or_off(" ON"), Some(true));
        assert_eq!(on_or_off("0"), Some(false));
        assert_eq!(on_or_off(""), Some(false));
        assert_eq!(on_or_off("maybe"), None);
    }

    #[test]
    fn unknown_schemes_and_non_urls_are_named() {
        let e = parse_url("redis://x").unwrap_err().to_string();
        assert!(
            e.contains("redis://x") && e.contains("unknown scheme"),
            "{e}"
        );
        assert!(parse_url("zerog.db")
            .unwrap_err()
            .to_string()
            .contains("zerog.db"));
    }
}
