//! The request pool: at most `pool_size` requests in flight, the rest wait
//! in arrival order.
//!
//! tokio's `Semaphore` takes a lock on every release; this pool costs one
//! compare-and-swap and one atomic add per request while nobody waits, and
//! falls back to a FIFO [`Notify`] queue when the pool is full.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// The pool of one server.
#[derive(Debug)]
pub(crate) struct Pool {
    limit: usize,
    /// Requests holding a slot.
    in_flight: AtomicUsize,
    /// Requests queued for a slot; while non-zero, newcomers queue too, so
    /// that nobody jumps the line.
    waiting: AtomicUsize,
    /// Wakes the oldest waiter when a slot frees up.
    freed: Notify,
}

/// A slot, given back on drop.
#[derive(Debug)]
pub(crate) struct Slot<'a> {
    pool: &'a Pool,
}

impl Pool {
    pub(crate) fn new(limit: usize) -> Self {
        Pool { limit: limit.max(1), in_flight: AtomicUsize::new(0), waiting: AtomicUsize::new(0), freed: Notify::new() }
    }

    fn try_take(&self) -> bool {
        let mut current = self.in_flight.load(Ordering::Relaxed);
        while current < self.limit {
            match self.in_flight.compare_exchange_weak(current, current + 1, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
        false
    }

    /// Waits for a slot.
    pub(crate) async fn acquire(&self) -> Slot<'_> {
        if self.waiting.load(Ordering::Acquire) == 0 && self.try_take() {
            return Slot { pool: self };
        }
        self.waiting.fetch_add(1, Ordering::AcqRel);
        let _unqueue = Unqueue(&self.waiting);
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            // Registered before the check below, so a release between the
            // check and the await still wakes us.
            freed.as_mut().enable();
            if self.try_take() {
                return Slot { pool: self };
            }
            freed.await;
        }
    }

    /// Requests holding a slot now.
    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }
}

struct Unqueue<'a>(&'a AtomicUsize);

impl Drop for Unqueue<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.pool.in_flight.fetch_sub(1, Ordering::Release);
        if self.pool.waiting.load(Ordering::Acquire) > 0 {
            self.pool.freed.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_most_limit_in_flight_and_everyone_served() {
        let pool = Arc::new(Pool::new(3));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (pool, peak) = (Arc::clone(&pool), Arc::clone(&peak));
            tasks.push(tokio::spawn(async move {
                let _slot = pool.acquire().await;
                peak.fetch_max(pool.in_flight(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }));
        }
        for t in tasks {
            tokio::time::timeout(Duration::from_secs(10), t).await.expect("served in time").expect("join");
        }
        assert_eq!(peak.load(Ordering::Relaxed), 3);
        assert_eq!(pool.in_flight(), 0);
    }
}
