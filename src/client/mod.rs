//! What producers, watchers and operators do to jobs from any process: enqueue them
//! ([`enqueue`], and [`bulk`] for many at once), ask for one to be cancelled ([`cancel`]), and
//! put back jobs whose queue entries were lost ([`reconcile`]), and run a failed or cancelled job
//! again ([`run_again`]).

pub mod bulk;
pub mod cancel;
pub mod enqueue;
pub mod reconcile;
pub mod run_again;

pub use cancel::request_cancel;
