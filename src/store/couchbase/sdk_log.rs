//! What the SDK last said about why it cannot use the bucket.
//!
//! The SDK (1.1) reports a failed bootstrap ("unknown bucket name", "authentication error")
//! only as a tracing event from its connection tasks; the operation waiting for that connection
//! just times out. So the store's runtime threads carry a subscriber ([`Listener`]) that keeps
//! the last such warning, for the store to name the cause, and passes every event on to `log`,
//! as tracing's own `log` feature does on threads without a subscriber.

use std::fmt;
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing::subscriber::Interest;
use tracing::{span, Event, Level, Metadata, Subscriber};

/// The last warning the SDK gave about its connections, shared with the runtime's threads.
#[derive(Clone, Default)]
pub(super) struct Complaints(Arc<Mutex<Option<String>>>);

impl Complaints {
    /// Makes the calling thread's events go through a [`Listener`]; for the runtime builder's
    /// `on_thread_start`. The thread keeps it until it ends.
    pub fn listen_on_this_thread(&self) {
        let guard = tracing::dispatcher::set_default(&tracing::Dispatch::new(Listener {
            complaints: self.clone(),
        }));
        // The guard would restore "no subscriber" when dropped; the thread is the runtime's
        // and lives exactly as long as the listener is wanted.
        std::mem::forget(guard);
    }

    /// The last warning, if the SDK gave one.
    pub fn last(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A warning that settles it: retrying cannot help, so nobody should wait for a timeout.
    pub fn decisive(&self) -> Option<String> {
        self.last().filter(|said| is_decisive(said))
    }

    fn keep(&self, said: String) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(said);
    }
}

/// The SDK's words for a bucket or credentials that will never work: its bootstrap steps
/// ("Auth failed", "Select bucket failed") and the server's status texts.
fn is_decisive(said: &str) -> bool {
    let said = said.to_ascii_lowercase();
    [
        "auth failed",
        "select bucket failed",
        "unknown bucket name",
        "authentication error",
        "auth error",
        "access error",
    ]
    .iter()
    .any(|word| said.contains(word))
}

struct Listener {
    complaints: Complaints,
}

fn from_sdk(meta: &Metadata<'_>) -> bool {
    meta.target().starts_with("couchbase")
}

fn log_level(level: &Level) -> log::Level {
    match *level {
        Level::ERROR => log::Level::Error,
        Level::WARN => log::Level::Warn,
        Level::INFO => log::Level::Info,
        Level::DEBUG => log::Level::Debug,
        _ => log::Level::Trace,
    }
}

impl Subscriber for Listener {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        // Asked per event: whether `log` wants it can change while the process runs.
        Interest::sometimes()
    }

    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        (from_sdk(meta) && *meta.level() <= Level::WARN)
            || log::log_enabled!(target: meta.target(), log_level(meta.level()))
    }

    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }

    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}

    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}

    fn event(&self, event: &Event<'_>) {
        let meta = event.metadata();
        let mut text = Text(String::new());
        event.record(&mut text);
        let level = log_level(meta.level());
        log::log!(target: meta.target(), level, "{}", text.0);
        if from_sdk(meta) && *meta.level() <= Level::WARN {
            self.complaints.keep(text.0);
        }
    }

    fn enter(&self, _: &span::Id) {}

    fn exit(&self, _: &span::Id) {}
}

/// An event's message, then its other fields as `name=value`.
struct Text(String);

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        use fmt::Write;
        let sep = if self.0.is_empty() { "" } else { " " };
        let _ = if field.name() == "message" {
            write!(self.0, "{sep}{value:?}")
        } else {
            write!(self.0, "{sep}{}={value:?}", field.name())
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A runtime whose threads listen, as the store builds it.
    fn listening_runtime(complaints: &Complaints) -> tokio::runtime::Runtime {
        let on_start = complaints.clone();
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .on_thread_start(move || on_start.listen_on_this_thread())
            .build()
            .unwrap()
    }

    #[test]
    fn a_warning_from_an_sdk_task_is_kept_and_named_decisive() {
        let complaints = Complaints::default();
        let runtime = listening_runtime(&complaints);
        runtime.block_on(async {
            tokio::spawn(async {
                tracing::warn!(target: "couchbase_core::memdx::op_bootstrap", "Select bucket failed {}", "unknown bucket name");
            })
            .await
            .unwrap();
        });
        assert_eq!(
            complaints.last().as_deref(),
            Some("Select bucket failed unknown bucket name")
        );
        assert!(complaints.decisive().is_some());
    }

    #[test]
    fn a_passing_connection_warning_is_kept_but_not_decisive() {
        let complaints = Complaints::default();
        let runtime = listening_runtime(&complaints);
        runtime.block_on(async {
            tokio::spawn(async {
                tracing::warn!(target: "couchbase_core::agent", "Failed to connect to endpoint: {}", "connection refused");
                // Other crates' events and the SDK's chatter below a warning are not complaints.
                tracing::warn!(target: "somebody_else", "authentication error");
                tracing::info!(target: "couchbase_core::agent", "authentication error");
            })
            .await
            .unwrap();
        });
        assert_eq!(
            complaints.last().as_deref(),
            Some("Failed to connect to endpoint: connection refused")
        );
        assert_eq!(complaints.decisive(), None);
    }

    #[test]
    fn the_sdk_words_for_a_hopeless_bucket_are_decisive() {
        for said in [
            "Auth failed authentication error",
            "Select bucket failed unknown bucket name",
            "Select bucket failed access error",
            "authentication error",
        ] {
            assert!(is_decisive(said), "{said}");
        }
        assert!(!is_decisive("Failed to connect to endpoint: timed out"));
    }
}
