//! A worker's control thread: it waits on the worker's control tube (named by its id), does what
//! each message asks, and answers on the updates tube. It has a queue connection of its own, so
//! a message reaches the worker within a reserve (a second at most) whatever the loop is doing,
//! and an idle worker costs the queue one reserve a second here. On beanstalkd the watch on the
//! control tube is what shows the worker alive: the tube has a watcher while the thread lives.

use super::message::{Body, Info, JobAction, Message};
use super::state::Control;
use crate::client::cancel::request_cancel_because;
use crate::job::CANCELLED;
use crate::queue::{PutRequest, Queue, DEFAULT_PRIORITY};
use crate::store::Store;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The Python logger the control thread's records go to.
const LOG: &str = "zeroG.fleet";
/// What the original's `killJob` recorded.
pub const KILLED_BY_USER: &str = "Killed by user";
/// The original's messages had beanstalkc's default TTR.
pub const MESSAGE_TTR: u32 = 120;
/// How often a queue that does not wait on a server (the embedded one, which waits by polling
/// its file every millisecond) is looked at instead.
const LOCAL_POLL: Duration = Duration::from_millis(250);

/// What one worker's control thread needs to know.
#[derive(Clone, Debug)]
pub struct ControlConfig {
    /// The worker's id: also its control tube.
    pub worker_id: String,
    /// Where answers go (`updates`, plus the original's optional postfix).
    pub updates_tube: String,
    /// Send a `job` message as each job starts and ends. The original always did; with fast
    /// jobs and no manager reading, they would pile up in the updates tube, so it is asked for.
    pub job_messages: bool,
    /// The longest one wait on the control tube lasts.
    pub poll: Duration,
    /// A pipe to write `draining`, `active` or `retiring` to, a line each time an operator
    /// changes it: how a supervisor knows not to replace a drained worker that dies.
    pub report_fd: Option<i32>,
}

impl ControlConfig {
    pub fn new(worker_id: impl Into<String>, updates_tube: impl Into<String>) -> ControlConfig {
        ControlConfig {
            worker_id: worker_id.into(),
            updates_tube: updates_tube.into(),
            job_messages: false,
            poll: Duration::from_secs(1),
            report_fd: None,
        }
    }
}

/// The running control thread; stopped and joined when dropped.
pub struct ControlThread {
    events: Sender<(String, JobAction)>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
    job_messages: bool,
}

impl ControlThread {
    pub fn spawn(
        queue: Arc<dyn Queue>,
        store: Arc<dyn Store>,
        control: Arc<Control>,
        config: ControlConfig,
    ) -> ControlThread {
        let (events, received) = channel();
        let stop = Arc::new(AtomicBool::new(false));
        let job_messages = config.job_messages;
        let handle = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("zerog-control".into())
                .spawn(move || {
                    Listener {
                        queue,
                        store,
                        control,
                        config,
                    }
                    .run(&stop, &received)
                })
                .expect("spawning the control thread")
        };
        ControlThread {
            events,
            stop,
            handle: Some(handle),
            job_messages,
        }
    }

    /// Tells managers (if asked to) that a job started or ended; sent from the control thread.
    pub fn job(&self, uuid: &str, action: JobAction) {
        if self.job_messages {
            let _ = self.events.send((uuid.to_owned(), action));
        }
    }
}

impl Drop for ControlThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

struct Listener {
    queue: Arc<dyn Queue>,
    store: Arc<dyn Store>,
    control: Arc<Control>,
    config: ControlConfig,
}

impl Listener {
    fn run(&self, stop: &AtomicBool, events: &Receiver<(String, JobAction)>) {
        let tube = [self.config.worker_id.clone()];
        // beanstalkd wakes a waiting reserve as a message arrives; the embedded queue is asked
        // four times a second rather than polled every millisecond by a second thread.
        let wait = if self.queue.waits_in_whole_seconds() {
            self.config.poll
        } else {
            Duration::ZERO
        };
        let mut failing = false;
        while !stop.load(Ordering::Relaxed) {
            self.send_job_messages(events);
            match self.queue.reserve(&tube, wait) {
                Ok(Some(entry)) => {
                    failing = false;
                    self.handle(&entry.body);
                    // Deleted whatever it said: a message that cannot be read never comes back.
                    if let Err(e) = self.queue.delete(entry.id) {
                        log::warn!(target: LOG, "worker {}: could not delete control message {}: {e}", self.config.worker_id, entry.id);
                    }
                }
                Ok(None) => {
                    failing = false;
                    if wait.is_zero() {
                        std::thread::sleep(LOCAL_POLL);
                    }
                }
                Err(e) => {
                    if !failing {
                        log::warn!(target: LOG, "worker {}: cannot read its control tube, will retry: {e}", self.config.worker_id);
                    }
                    failing = true;
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        }
        // The last job's `end`, sent as the worker stopped.
        self.send_job_messages(events);
    }

    fn send_job_messages(&self, events: &Receiver<(String, JobAction)>) {
        for (uuid, action) in events.try_iter() {
            self.send(&Message::new(Body::Job {
                worker_id: self.config.worker_id.clone(),
                uuid,
                action,
            }));
        }
    }

    fn handle(&self, body: &[u8]) {
        let id = &self.config.worker_id;
        let msg = match Message::parse(body) {
            Ok(m) => m,
            Err(why) => {
                log::warn!(target: LOG, "worker {id}: control message refused and deleted ({why}): {}", String::from_utf8_lossy(body));
                return;
            }
        };
        match msg.body {
            Body::RequestInfo => self.send(&Message::new(Body::Info(Info {
                worker_id: id.clone(),
                state: self.control.state().as_str().to_owned(),
                uuid: self.control.running().unwrap_or_default(),
                mem: super::memory::with_time_in_state(
                    super::memory::mem(),
                    self.control.in_state_for(),
                ),
                retiring: self.control.retiring(),
            }))),
            Body::Drain => {
                log::info!(target: LOG, "worker {id}: draining: no new jobs; the running one finishes");
                self.control.drain();
                self.report();
            }
            Body::UnDrain => {
                if self.control.undrain() {
                    log::info!(target: LOG, "worker {id}: undrained: taking jobs again");
                } else {
                    log::info!(target: LOG, "worker {id}: retiring, so undrain does nothing");
                }
                self.report();
            }
            Body::Retire => {
                log::info!(target: LOG, "worker {id}: retiring: it stops once idle and is not replaced");
                self.control.retire();
                self.report();
            }
            Body::KillJob { uuid } => self.kill(&uuid),
            Body::Job { .. } | Body::Info(_) => {
                log::warn!(target: LOG, "worker {id}: a {} message is for managers, not workers; deleted", msg.msgtype());
            }
        }
    }

    /// Stops the running job through cancellation: it ends `cancelled`, result 410, with the
    /// original's error "Killed by user".
    fn kill(&self, uuid: &str) {
        let id = &self.config.worker_id;
        if self.control.running().as_deref() != Some(uuid) {
            log::info!(target: LOG, "worker {id}: killJob {uuid}: not the job it runs; ignored");
            return;
        }
        match request_cancel_because(&*self.store, uuid, Some((CANCELLED, KILLED_BY_USER))) {
            Ok(status) => {
                log::info!(target: LOG, "worker {id}: killJob {uuid}: stopping it (status {status})")
            }
            Err(e) => {
                log::error!(target: LOG, "worker {id}: killJob {uuid}: could not stop it: {e}")
            }
        }
    }

    /// Tells the supervisor (if it listens) what an operator made of this worker.
    fn report(&self) {
        let Some(fd) = self.config.report_fd else {
            return;
        };
        let line: &[u8] = if self.control.retiring() {
            b"retiring\n"
        } else if self.control.draining() {
            b"draining\n"
        } else {
            b"active\n"
        };
        // A short write to a pipe is atomic; a supervisor that is gone is nothing to report to.
        let _ = unsafe { libc::write(fd, line.as_ptr().cast(), line.len()) };
    }

    fn send(&self, msg: &Message) {
        let put = PutRequest {
            tube: self.config.updates_tube.clone(),
            body: msg.to_json().into_bytes(),
            priority: DEFAULT_PRIORITY,
            delay: 0,
            ttr: MESSAGE_TTR,
        };
        if let Err(e) = self.queue.put(&put) {
            log::warn!(target: LOG, "worker {}: could not send its {} message: {e}", self.config.worker_id, msg.msgtype());
        }
    }
}
