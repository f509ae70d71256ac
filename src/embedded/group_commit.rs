//! Group commit: joint transactions asked for by several threads at once share one commit.
//!
//! A commit is most of what a single enqueue costs on the embedded default (the WAL append of
//! every page the job touched), and a connection commits one transaction at a time. A server
//! answering many `POST /job` at once, or a threaded producer, makes its enqueues one after
//! another on one connection, each waiting for the one before. Here the first caller to find
//! no transaction under way leads: it takes every part queued so far and runs them in one
//! transaction, each in a savepoint of its own, and commits once; the callers that came
//! meanwhile wait, and the next to find the way free leads the next group. A caller alone pays
//! what it paid before: its part runs in a transaction of its own, with no savepoint.
//!
//! Each part is all or nothing, as if alone: one that fails is rolled back to its savepoint
//! and its error goes to its caller, the others commit. If the shared transaction itself fails
//! (the lock not had in time, a full disk), nobody knows which part it was for: each part runs
//! again alone, on its caller's thread, and gets its own answer.

use crate::error::Result;
use crate::queue::JointPart;
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// What became of a part.
enum Outcome {
    /// Run, and committed unless it failed.
    Done(Result<()>),
    /// The shared transaction failed: run it alone.
    Alone(JointPart),
}

#[derive(Default)]
struct State {
    /// Parts waiting for the next group, by ticket.
    waiting: Vec<(u64, JointPart)>,
    /// Outcomes not yet taken by their callers.
    done: HashMap<u64, Outcome>,
    next_ticket: u64,
    /// Whether a group is being run.
    leading: bool,
}

#[derive(Default)]
pub(crate) struct GroupCommit {
    state: Mutex<State>,
    turn: Condvar,
}

/// Runs parts in one transaction, each in a savepoint: each part's result, or the error of the
/// transaction as a whole.
pub(crate) type RunGroup<'a> = &'a dyn Fn(&mut [JointPart]) -> Result<Vec<Result<()>>>;
/// Runs one part in a transaction of its own.
pub(crate) type RunAlone<'a> = &'a dyn Fn(&mut JointPart) -> Result<()>;

impl GroupCommit {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `part`, alone or in a group (see the module's docs); returns once it committed or
    /// failed.
    pub(crate) fn run(
        &self,
        part: JointPart,
        group: RunGroup<'_>,
        alone: RunAlone<'_>,
    ) -> Result<()> {
        let mut state = self.lock();
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.waiting.push((ticket, part));
        loop {
            if let Some(outcome) = state.done.remove(&ticket) {
                drop(state);
                return match outcome {
                    Outcome::Done(result) => result,
                    Outcome::Alone(mut part) => alone(&mut part),
                };
            }
            if state.leading {
                state = self
                    .turn
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            state.leading = true;
            let (tickets, mut parts): (Vec<u64>, Vec<JointPart>) =
                std::mem::take(&mut state.waiting).into_iter().unzip();
            drop(state);
            let outcomes = lead(&mut parts, group, alone);
            let outcomes =
                outcomes.unwrap_or_else(|| parts.into_iter().map(Outcome::Alone).collect());
            state = self.lock();
            state.done.extend(tickets.into_iter().zip(outcomes));
            state.leading = false;
            self.turn.notify_all();
        }
    }
}

/// Runs a group: a part alone in a transaction of its own, several in a shared one. None if a
/// part panicked (each then runs alone, and the panic happens again on its caller's thread,
/// where it belongs, instead of leaving the group without a leader).
fn lead(parts: &mut [JointPart], group: RunGroup<'_>, alone: RunAlone<'_>) -> Option<Vec<Outcome>> {
    catch_unwind(AssertUnwindSafe(|| {
        if let [part] = parts {
            return vec![Outcome::Done(alone(part))];
        }
        match group(parts) {
            Ok(results) => results.into_iter().map(Outcome::Done).collect(),
            Err(_) => Vec::new(),
        }
    }))
    .ok()
    .filter(|outcomes| !outcomes.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    fn part() -> JointPart {
        Box::new(|_| Ok(()))
    }

    fn wait_until(what: impl Fn() -> bool) {
        let give_up = Instant::now() + Duration::from_secs(10);
        while !what() {
            assert!(Instant::now() < give_up, "timed out");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// A first caller runs alone; the four that come while it commits go together, in one
    /// group, and each hears its own result.
    #[test]
    fn callers_that_come_during_a_commit_share_the_next() {
        let gc = Arc::new(GroupCommit::default());
        let groups = Arc::new(Mutex::new(Vec::new()));
        let alone_runs = Arc::new(AtomicUsize::new(0));
        std::thread::scope(|s| {
            let first = {
                let (gc, alone_runs) = (gc.clone(), alone_runs.clone());
                s.spawn(move || {
                    let alone = |_: &mut JointPart| {
                        // Held until the others are waiting.
                        wait_until(|| gc.lock().waiting.len() == 4);
                        alone_runs.fetch_add(1, Ordering::SeqCst);
                        Ok(())
                    };
                    gc.run(part(), &|_| unreachable!("alone"), &alone)
                })
            };
            wait_until(|| gc.lock().leading);
            let others: Vec<_> = (0..4)
                .map(|i| {
                    let (gc, groups) = (gc.clone(), groups.clone());
                    s.spawn(move || {
                        let group = |parts: &mut [JointPart]| {
                            groups.lock().unwrap().push(parts.len());
                            // The third part of the group fails; the others commit.
                            Ok((0..parts.len())
                                .map(|k| {
                                    if k == 2 {
                                        Err(Error::Invalid(format!("part {k}")))
                                    } else {
                                        Ok(())
                                    }
                                })
                                .collect())
                        };
                        (i, gc.run(part(), &group, &|_| unreachable!("grouped")))
                    })
                })
                .collect();
            first.join().unwrap().unwrap();
            let results: Vec<_> = others.into_iter().map(|h| h.join().unwrap()).collect();
            assert_eq!(results.iter().filter(|(_, r)| r.is_err()).count(), 1);
        });
        assert_eq!(*groups.lock().unwrap(), vec![4]);
        assert_eq!(alone_runs.load(Ordering::SeqCst), 1);
        let state = gc.lock();
        assert!(state.done.is_empty() && state.waiting.is_empty() && !state.leading);
    }

    /// When the shared transaction fails, nobody's part is lost: each runs again alone, on its
    /// caller's thread; and a panic inside a group does not leave the others without a leader.
    #[test]
    fn a_failed_or_panicking_group_has_each_part_run_alone() {
        for panics in [false, true] {
            let gc = Arc::new(GroupCommit::default());
            let alone_runs = Arc::new(AtomicUsize::new(0));
            std::thread::scope(|s| {
                let first = {
                    let gc = gc.clone();
                    s.spawn(move || {
                        let alone = |_: &mut JointPart| {
                            wait_until(|| gc.lock().waiting.len() == 3);
                            Ok(())
                        };
                        gc.run(part(), &|_| unreachable!(), &alone)
                    })
                };
                wait_until(|| gc.lock().leading);
                let others: Vec<_> = (0..3)
                    .map(|_| {
                        let (gc, alone_runs) = (gc.clone(), alone_runs.clone());
                        s.spawn(move || {
                            let group = |_: &mut [JointPart]| -> Result<Vec<Result<()>>> {
                                if panics {
                                    panic!("a part panicked");
                                }
                                Err(Error::Invalid("disk full".into()))
                            };
                            let alone = |_: &mut JointPart| {
                                alone_runs.fetch_add(1, Ordering::SeqCst);
                                Ok(())
                            };
                            gc.run(part(), &group, &alone)
                        })
                    })
                    .collect();
                first.join().unwrap().unwrap();
                for h in others {
                    h.join().unwrap().unwrap();
                }
            });
            assert_eq!(alone_runs.load(Ordering::SeqCst), 3, "panics: {panics}");
        }
    }
}
