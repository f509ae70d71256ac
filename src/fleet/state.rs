//! A worker's state, as operators steer it: active or draining, idle or running a job, and
//! whether it is retiring. The worker loop reads it before taking jobs; the control thread
//! changes it when a message says so.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The original zeroG's five states. `DrainingDown` is a draining worker whose process is gone;
/// a zeroG worker process never reports it of itself (it keeps running while drained).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkerState {
    ActiveIdle,
    ActiveRunning,
    DrainingIdle,
    DrainingRunning,
    DrainingDown,
}

impl WorkerState {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerState::ActiveIdle => "activeIdle",
            WorkerState::ActiveRunning => "activeRunning",
            WorkerState::DrainingIdle => "drainingIdle",
            WorkerState::DrainingRunning => "drainingRunning",
            WorkerState::DrainingDown => "drainingDown",
        }
    }
}

#[derive(Debug)]
struct Inner {
    draining: bool,
    retiring: bool,
    running: Option<String>,
    /// When the state last changed.
    since: Instant,
}

/// The state one worker shares between its loop and its control thread.
#[derive(Debug)]
pub struct Control {
    inner: Mutex<Inner>,
    changed: Condvar,
}

impl Default for Control {
    fn default() -> Control {
        Control {
            inner: Mutex::new(Inner {
                draining: false,
                retiring: false,
                running: None,
                since: Instant::now(),
            }),
            changed: Condvar::new(),
        }
    }
}

impl Control {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn change(&self, f: impl FnOnce(&mut Inner)) {
        let mut inner = self.lock();
        let before = state_of(&inner);
        f(&mut inner);
        if state_of(&inner) != before {
            inner.since = Instant::now();
        }
        drop(inner);
        self.changed.notify_all();
    }

    pub fn state(&self) -> WorkerState {
        state_of(&self.lock())
    }

    /// How long the worker has been in its state.
    pub fn in_state_for(&self) -> Duration {
        self.lock().since.elapsed()
    }

    pub fn retiring(&self) -> bool {
        self.lock().retiring
    }

    pub fn draining(&self) -> bool {
        self.lock().draining
    }

    /// The running job's uuid, if any.
    pub fn running(&self) -> Option<String> {
        self.lock().running.clone()
    }

    /// Take no new job; the running one finishes.
    pub fn drain(&self) {
        self.change(|i| i.draining = true);
    }

    /// Take jobs again, unless retiring (a retirement is not undone).
    pub fn undrain(&self) -> bool {
        let mut undone = false;
        self.change(|i| {
            if !i.retiring {
                i.draining = false;
                undone = true;
            }
        });
        undone
    }

    /// Drain for good: the worker stops once it is idle.
    pub fn retire(&self) {
        self.change(|i| {
            i.draining = true;
            i.retiring = true;
        });
    }

    pub fn job_started(&self, uuid: &str) {
        self.change(|i| i.running = Some(uuid.to_owned()));
    }

    pub fn job_ended(&self) {
        self.change(|i| i.running = None);
    }

    /// Waits, while draining, until undrained or `timeout` passes; returns whether it is
    /// draining still.
    pub fn wait_while_draining(&self, timeout: Duration) -> bool {
        let inner = self.lock();
        let (inner, _) = self
            .changed
            .wait_timeout_while(inner, timeout, |i| i.draining)
            .unwrap_or_else(|p| p.into_inner());
        inner.draining
    }
}

fn state_of(i: &Inner) -> WorkerState {
    match (i.draining, i.running.is_some()) {
        (false, false) => WorkerState::ActiveIdle,
        (false, true) => WorkerState::ActiveRunning,
        (true, false) => WorkerState::DrainingIdle,
        (true, true) => WorkerState::DrainingRunning,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn the_states_follow_the_originals_table() {
        let c = Control::default();
        assert_eq!(c.state(), WorkerState::ActiveIdle);
        c.job_started("u");
        assert_eq!(c.state(), WorkerState::ActiveRunning);
        c.drain();
        assert_eq!(c.state(), WorkerState::DrainingRunning);
        c.job_ended();
        assert_eq!(c.state(), WorkerState::DrainingIdle);
        assert!(c.undrain());
        assert_eq!(c.state(), WorkerState::ActiveIdle);
        c.retire();
        assert!(!c.undrain(), "a retirement is not undone");
        assert_eq!(c.state(), WorkerState::DrainingIdle);
        assert!(c.retiring());
    }

    #[test]
    fn a_drained_loop_wakes_when_undrained() {
        let c = Arc::new(Control::default());
        c.drain();
        assert!(c.wait_while_draining(Duration::from_millis(20)));
        let c2 = c.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            c2.undrain();
        });
        let t0 = Instant::now();
        assert!(!c.wait_while_draining(Duration::from_secs(10)));
        assert!(t0.elapsed() < Duration::from_secs(5));
        t.join().unwrap();
    }
}
