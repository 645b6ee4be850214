//! GitHub's secondary rate limits for content-creating requests (POST, PATCH, PUT, DELETE
//! and GraphQL mutations): at most 80 a minute and 500 an hour, made serially, and a pause
//! between them. herald keeps inside them by design rather than waiting out a 403: each
//! write of an installation takes a time slot, spaced from the others and within every
//! configured budget. With a store the slots are kept there, so replicas sharing it share
//! one budget per installation. A slot further away than a job should wait is refused with
//! the wait, and the job runs again then.

use crate::store::{InstallationId, Store, StoreError};
use chrono::Utc;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::sync::{Mutex, MutexGuard};

/// At most `count` writes within any `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteBudget {
    pub count: u32,
    pub window: Duration,
}

/// How one installation's writes are paced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pacing {
    /// The least time between two writes.
    pub spacing: Duration,
    pub budgets: Vec<WriteBudget>,
}

impl Default for Pacing {
    /// GitHub's documented limits for github.com.
    fn default() -> Self {
        Pacing {
            spacing: Duration::from_secs(1),
            budgets: vec![
                WriteBudget {
                    count: 80,
                    window: Duration::from_secs(60),
                },
                WriteBudget {
                    count: 500,
                    window: Duration::from_secs(3600),
                },
            ],
        }
    }
}

impl Pacing {
    /// Parses budgets written as `COUNT/SECONDS`, comma-separated (`80/60,500/3600`).
    pub fn parse_budgets(text: &str) -> Result<Vec<WriteBudget>, String> {
        text.split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(|part| {
                let (count, seconds) = part
                    .split_once('/')
                    .ok_or_else(|| format!("`{part}` is not COUNT/SECONDS"))?;
                let count: u32 = count
                    .trim()
                    .parse()
                    .map_err(|_| format!("`{count}` in `{part}` is not a count"))?;
                let seconds: u64 = seconds
                    .trim()
                    .parse()
                    .map_err(|_| format!("`{seconds}` in `{part}` is not a number of seconds"))?;
                if count == 0 || seconds == 0 {
                    return Err(format!("`{part}` allows no write at all"));
                }
                Ok(WriteBudget {
                    count,
                    window: Duration::from_secs(seconds),
                })
            })
            .collect()
    }

    /// The longest span the slots must be remembered for, in milliseconds.
    fn memory_millis(&self) -> i64 {
        let longest = self
            .budgets
            .iter()
            .map(|budget| budget.window)
            .max()
            .unwrap_or_default()
            .max(self.spacing);
        millis(longest)
    }

    /// The earliest slot at or after `now` (Unix milliseconds) that keeps the spacing after
    /// the latest of `slots` (ascending) and leaves at most `count - 1` earlier slots
    /// within each budget's window, widened by a tenth: GitHub counts requests as they
    /// arrive, and one sent in its slot may arrive late, closer to the next.
    fn next_slot(&self, slots: &[i64], now: i64) -> i64 {
        let mut slot = now;
        if let Some(last) = slots.last() {
            slot = slot.max(last + millis(self.spacing));
        }
        for budget in &self.budgets {
            let count = budget.count as usize;
            if slots.len() >= count {
                // The slot `count` back must have left the window.
                let window = millis(budget.window);
                slot = slot.max(slots[slots.len() - count] + window + window / 10);
            }
        }
        slot
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Where an installation's slots are kept.
enum Slots {
    /// In this process only (no store: `herald doctor`, which writes nothing).
    Local(Mutex<VecDeque<i64>>),
    /// In the store, shared by every replica.
    Shared {
        store: Store,
        installation: InstallationId,
    },
}

pub struct Pacer {
    pacing: Pacing,
    slots: Slots,
    /// This process's writes for the installation go one at a time.
    serial: Mutex<()>,
}

/// One write's turn: the next one of this process waits until it is dropped.
pub type Turn<'a> = MutexGuard<'a, ()>;

/// Why a write got no turn.
#[derive(Debug)]
pub enum NoTurn {
    /// The next slot is this far away.
    Later(Duration),
    Store(StoreError),
}

impl Pacer {
    pub fn new(pacing: Pacing, shared: Option<(Store, InstallationId)>) -> Pacer {
        let slots = match shared {
            Some((store, installation)) => Slots::Shared {
                store,
                installation,
            },
            None => Slots::Local(Mutex::new(VecDeque::new())),
        };
        Pacer {
            pacing,
            slots,
            serial: Mutex::new(()),
        }
    }

    /// Takes the next write's slot and waits for it, if it is within `max_wait`.
    pub async fn turn(&self, max_wait: Duration) -> Result<Turn<'_>, NoTurn> {
        let serial = self.serial.lock().await;
        let now = Utc::now().timestamp_millis();
        let slot = self.reserve(now, millis(max_wait)).await?;
        let wait = u64::try_from(slot - now).unwrap_or(0);
        if wait > 0 {
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
        Ok(serial)
    }

    /// Records the next slot from `now` unless it is more than `max_wait` away.
    async fn reserve(&self, now: i64, max_wait: i64) -> Result<i64, NoTurn> {
        let forget_before = now - self.pacing.memory_millis();
        let later = |slot: i64| {
            NoTurn::Later(Duration::from_millis(
                u64::try_from(slot - now).unwrap_or(0),
            ))
        };
        match &self.slots {
            Slots::Local(slots) => {
                let mut slots = slots.lock().await;
                while slots.front().is_some_and(|at| *at < forget_before) {
                    slots.pop_front();
                }
                let slot = self.pacing.next_slot(slots.make_contiguous(), now);
                if slot - now > max_wait {
                    return Err(later(slot));
                }
                slots.push_back(slot);
                Ok(slot)
            }
            Slots::Shared {
                store,
                installation,
            } => {
                let mut work = store.begin().await.map_err(NoTurn::Store)?;
                let slots = work
                    .write_slots(*installation, forget_before)
                    .await
                    .map_err(NoTurn::Store)?;
                let slot = self.pacing.next_slot(&slots, now);
                if slot - now > max_wait {
                    work.rollback().await.map_err(NoTurn::Store)?;
                    return Err(later(slot));
                }
                work.take_write_slot(*installation, slot, forget_before)
                    .await
                    .map_err(NoTurn::Store)?;
                work.commit().await.map_err(NoTurn::Store)?;
                Ok(slot)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pacing(spacing_ms: u64, budgets: &str) -> Pacing {
        Pacing {
            spacing: Duration::from_millis(spacing_ms),
            budgets: Pacing::parse_budgets(budgets).expect("budgets"),
        }
    }

    #[test]
    fn budgets_parse_and_bad_ones_are_named() {
        assert_eq!(
            Pacing::parse_budgets("80/60, 500/3600").expect("parsed"),
            Pacing::default().budgets
        );
        for bad in ["80", "x/60", "80/y", "0/60", "5/0"] {
            let error = Pacing::parse_budgets(bad).expect_err(bad);
            assert!(error.contains('`'), "{error}");
        }
    }

    #[test]
    fn the_next_slot_keeps_the_spacing_and_every_budget() {
        let pacing = pacing(1000, "3/60,5/3600");
        assert_eq!(pacing.next_slot(&[], 10_000), 10_000);
        // One second after the last write.
        assert_eq!(pacing.next_slot(&[9_500], 10_000), 10_500);
        // Three in the last minute: the next when the first of them is a minute (and a
        // tenth) old.
        assert_eq!(pacing.next_slot(&[1_000, 5_000, 9_000], 10_000), 67_000);
        // Five in the hour: when the first is an hour old, even if the minute allows it.
        let hour = [0, 100_000, 200_000, 300_000, 400_000];
        assert_eq!(pacing.next_slot(&hour, 500_000), 3_960_000);
    }

    #[tokio::test]
    async fn a_slot_too_far_away_is_refused_with_the_wait() {
        let pacer = Pacer::new(pacing(0, "2/3600"), None);
        for _ in 0..2 {
            drop(pacer.turn(Duration::from_secs(1)).await.expect("a turn"));
        }
        match pacer.turn(Duration::from_secs(1)).await {
            Err(NoTurn::Later(wait)) => {
                assert!(wait > Duration::from_secs(3500), "{wait:?}")
            }
            Err(NoTurn::Store(error)) => panic!("{error}"),
            Ok(_) => panic!("a third write within the hour"),
        }
    }
}
