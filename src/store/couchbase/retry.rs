//! Transient failures retried with backoff, a bounded number of times and within the store's
//! timeout; everything else becomes a typed [`Error`] naming the key and the cluster.
//!
//! A write that failed ambiguously (a timeout: it may have been applied) is retried only when
//! retrying cannot apply it twice: a CAS-checked replace or an insert (the CAS or the key
//! stops a second copy, and the caller then reads to see whether the first landed). An append
//! or a counter is never resent blind.

use crate::error::Error;
use couchbase::error::{Error as SdkError, ErrorKind};
use std::future::Future;
use std::time::{Duration, Instant};

/// Attempts in all, the first included.
pub(super) const MAX_ATTEMPTS: u32 = 6;
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
/// The least one try of a resendable operation is given.
const MIN_TRY: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_millis(500);

/// Why an operation gave up.
#[derive(Debug)]
pub(super) enum Failure {
    /// The cluster's answer, once retrying was over or pointless.
    Sdk(SdkError),
    /// No answer within the store's timeout.
    TimedOut(Duration),
}

/// What retrying gave, and whether any attempt may have been applied without the caller
/// hearing of it (then a "document exists" or "CAS mismatch" may be the caller's own write).
pub(super) struct Outcome<T> {
    pub result: Result<T, Failure>,
    pub ambiguous: bool,
}

/// Worth another try: the cluster said so, or the document is locked for a moment.
fn transient(kind: &ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::TemporaryFailure
            | ErrorKind::DocumentLocked
            | ErrorKind::ServerTimeout
            | ErrorKind::RequestCanceled
            | ErrorKind::DurabilityWriteInProgress
            | ErrorKind::DurableWriteRecommitInProgress
            | ErrorKind::DurabilityAmbiguous
    )
}

/// The write may have been applied.
fn ambiguous(kind: &ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::ServerTimeout | ErrorKind::RequestCanceled | ErrorKind::DurabilityAmbiguous
    )
}

/// Runs `op` until it succeeds, fails for good, or `timeout` is spent. `resendable`: sending
/// it again after an ambiguous failure cannot apply it twice; such an operation gets a third
/// of the timeout per try, so one that hangs (a connection that never came up, a lost
/// wake-up in the SDK) is abandoned and sent again rather than waited on to the end.
pub(super) async fn retried<T, F, Fut>(timeout: Duration, resendable: bool, mut op: F) -> Outcome<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = couchbase::error::Result<T>>,
{
    let deadline = Instant::now() + timeout;
    let per_try = if resendable {
        (timeout / 3).max(MIN_TRY)
    } else {
        timeout
    };
    let mut was_ambiguous = false;
    let mut backoff = FIRST_BACKOFF;
    for attempt in 1..=MAX_ATTEMPTS {
        let left = deadline.saturating_duration_since(Instant::now());
        let error = match tokio::time::timeout(left.min(per_try), op()).await {
            Ok(Ok(v)) => {
                return Outcome {
                    result: Ok(v),
                    ambiguous: was_ambiguous,
                }
            }
            Ok(Err(e)) => e,
            Err(_) => {
                was_ambiguous = true;
                if resendable && attempt < MAX_ATTEMPTS && Instant::now() < deadline {
                    log::debug!(target: "zeroG.store", "couchbase: no answer in {per_try:?}; attempt {attempt} of {MAX_ATTEMPTS}, sending it again");
                    continue;
                }
                return Outcome {
                    result: Err(Failure::TimedOut(timeout)),
                    ambiguous: true,
                };
            }
        };
        let kind = error.kind();
        let this_ambiguous = ambiguous(kind);
        was_ambiguous |= this_ambiguous;
        let retry = transient(kind) && (resendable || !this_ambiguous) && attempt < MAX_ATTEMPTS;
        let pause = backoff.min(deadline.saturating_duration_since(Instant::now()));
        if !retry || pause.is_zero() {
            return Outcome {
                result: Err(Failure::Sdk(error)),
                ambiguous: was_ambiguous,
            };
        }
        log::debug!(target: "zeroG.store", "couchbase: {error}; attempt {attempt} of {MAX_ATTEMPTS}, again in {pause:?}");
        tokio::time::sleep(pause).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    unreachable!("the last attempt returns")
}

impl Failure {
    pub(super) fn kind(&self) -> Option<&ErrorKind> {
        match self {
            Failure::Sdk(e) => Some(e.kind()),
            Failure::TimedOut(_) => None,
        }
    }

    /// The typed error: the store's own kinds where the cluster's answer is one of them, else
    /// a backend error naming the operation, the key and the cluster.
    pub(super) fn into_error(self, op: &str, key: &str, target: &str) -> Error {
        match self {
            Failure::Sdk(e) => match e.kind() {
                ErrorKind::DocumentNotFound => Error::DocNotFound {
                    key: key.to_owned(),
                },
                ErrorKind::DocumentExists => Error::AlreadyExists {
                    key: key.to_owned(),
                },
                ErrorKind::CasMismatch => Error::CasMismatch {
                    key: key.to_owned(),
                },
                _ => Error::backend("couchbase", target, format!("{op} {key}: {e}")),
            },
            Failure::TimedOut(t) => {
                // Only a write can have half-happened; a read, or a query, just got no answer.
                let writes = matches!(op, "insert" | "replace" | "remove" | "append to" | "patch");
                let maybe = if writes {
                    " (the write may or may not have been applied)"
                } else {
                    ""
                };
                Error::backend(
                    "couchbase",
                    target,
                    format!("{op} {key}: no answer within {t:?}{maybe}"),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn sdk(kind: ErrorKind) -> SdkError {
        SdkError::new(kind)
    }

    fn run<T>(f: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn a_locked_document_is_tried_again_until_it_is_free() {
        let calls = AtomicU32::new(0);
        let out = run(retried(Duration::from_secs(5), false, || async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 | 1 => Err(sdk(ErrorKind::DocumentLocked)),
                _ => Ok(7),
            }
        }));
        assert_eq!(out.result.unwrap(), 7);
        assert!(!out.ambiguous);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn retries_are_bounded() {
        let calls = AtomicU32::new(0);
        let out = run(retried(Duration::from_secs(30), true, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(sdk(ErrorKind::TemporaryFailure))
        }));
        assert!(matches!(
            out.result.unwrap_err().kind(),
            Some(ErrorKind::TemporaryFailure)
        ));
        assert_eq!(calls.load(Ordering::SeqCst), MAX_ATTEMPTS);
    }

    #[test]
    fn a_permanent_error_is_not_retried() {
        let calls = AtomicU32::new(0);
        let out = run(retried(Duration::from_secs(5), true, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(sdk(ErrorKind::AuthenticationFailure))
        }));
        assert!(out.result.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn an_ambiguous_append_is_not_resent_but_a_replace_is() {
        for (resendable, expected_calls) in [(false, 1), (true, 2)] {
            let calls = AtomicU32::new(0);
            let out = run(retried(Duration::from_secs(5), resendable, || async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 => Err(sdk(ErrorKind::ServerTimeout)),
                    _ => Ok(()),
                }
            }));
            assert_eq!(calls.load(Ordering::SeqCst), expected_calls);
            assert!(
                out.ambiguous,
                "the caller hears the first try may have landed"
            );
            assert_eq!(out.result.is_ok(), resendable);
        }
    }

    #[test]
    fn a_hung_call_is_cut_off_at_the_timeout() {
        let t0 = Instant::now();
        let out = run(retried(Duration::from_millis(100), true, || async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(())
        }));
        assert!(t0.elapsed() < Duration::from_secs(5));
        let e = out
            .result
            .unwrap_err()
            .into_error("get", "zerog_job_x", "couchbase://h/b");
        let text = e.to_string();
        assert!(
            text.contains("zerog_job_x")
                && text.contains("couchbase://h/b")
                && text.contains("no answer"),
            "{text}"
        );
        // A read that got no answer wrote nothing: it does not say a write may have happened.
        assert!(!text.contains("may or may not"), "{text}");
        let write = Failure::TimedOut(Duration::from_secs(1)).into_error("replace", "k", "t");
        assert!(write
            .to_string()
            .contains("may or may not have been applied"));
    }

    #[test]
    fn a_hung_try_is_abandoned_and_sent_again_if_that_is_safe() {
        for (resendable, calls_expected, ok) in [(true, 2, true), (false, 1, false)] {
            let calls = AtomicU32::new(0);
            let t0 = Instant::now();
            let out = run(retried(Duration::from_secs(3), resendable, || async {
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                }
                Ok(())
            }));
            assert_eq!(calls.load(Ordering::SeqCst), calls_expected);
            assert_eq!(out.result.is_ok(), ok);
            assert!(out.ambiguous);
            assert!(t0.elapsed() < Duration::from_secs(5));
        }
    }

    #[test]
    fn the_clusters_answers_become_the_stores_kinds() {
        let kind = |k: ErrorKind| Failure::Sdk(sdk(k)).into_error("op", "k", "t");
        assert!(matches!(
            kind(ErrorKind::DocumentNotFound),
            Error::DocNotFound { .. }
        ));
        assert!(matches!(
            kind(ErrorKind::DocumentExists),
            Error::AlreadyExists { .. }
        ));
        assert!(matches!(
            kind(ErrorKind::CasMismatch),
            Error::CasMismatch { .. }
        ));
        assert!(matches!(
            kind(ErrorKind::AuthenticationFailure),
            Error::Backend {
                backend: "couchbase",
                ..
            }
        ));
    }
}
