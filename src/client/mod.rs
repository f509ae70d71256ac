//! What producers and watchers do to a job from any process: enqueue it ([`enqueue`], and
//! [`bulk`] for many at once), and ask for it to be cancelled ([`cancel`]).

pub mod bulk;
pub mod cancel;
pub mod enqueue;

pub use cancel::request_cancel;
