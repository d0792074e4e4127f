//! Per-connection timeouts and shutdown orders, without a tokio timer per
//! connection.
//!
//! A pending tokio timer makes every park of a runtime worker go through
//! the time driver (a clock read and a walk of the timer wheel): with a
//! timer per connection that costs a few thousand instructions per request
//! on a keep-alive connection (measured with callgrind). So connections
//! only count what happens to them (relaxed atomic adds), and one plain
//! thread per server looks at the counters every half `header_read_timeout`
//! and orders silent connections closed.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use atomic_waker::AtomicWaker;

/// Finish the requests in flight, then close (graceful shutdown).
const DRAIN: u8 = 1;
/// Close now.
const CLOSE: u8 = 2;

/// One connection's counters and orders, shared by its IO, its requests,
/// its task and the watchdog thread.
#[derive(Debug, Default)]
pub(crate) struct Watch {
    /// Reads and writes that moved bytes.
    pub(crate) io: AtomicU64,
    /// Requests handed to the app.
    pub(crate) started: AtomicU64,
    /// Requests the app has answered.
    pub(crate) finished: AtomicU64,
    /// 0 (serve), `DRAIN` or `CLOSE`; only ever raised.
    order: AtomicU8,
    /// Wakes the connection's task when the order changes.
    waker: AtomicWaker,
}

impl Watch {
    fn order(&self, order: u8) {
        if self.order.fetch_max(order, Ordering::AcqRel) < order {
            self.waker.wake();
        }
    }

    /// Resolves with the new order when it is raised past `seen`.
    pub(crate) fn changed(&self, seen: u8) -> Changed<'_> {
        Changed { watch: self, seen }
    }
}

/// See [`Watch::changed`].
pub(crate) struct Changed<'a> {
    watch: &'a Watch,
    seen: u8,
}

impl Future for Changed<'_> {
    type Output = Order;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Order> {
        let order = self.watch.order.load(Ordering::Acquire);
        if order > self.seen {
            return Poll::Ready(Order::from(order));
        }
        self.watch.waker.register(cx.waker());
        // Checked again after registering, so an order given in between is not missed.
        let order = self.watch.order.load(Ordering::Acquire);
        if order > self.seen { Poll::Ready(Order::from(order)) } else { Poll::Pending }
    }
}

/// What the watchdog asks of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Order {
    /// Finish the requests in flight, then close.
    Drain,
    /// Close now.
    Close,
}

impl Order {
    pub(crate) fn level(self) -> u8 {
        match self {
            Order::Drain => DRAIN,
            Order::Close => CLOSE,
        }
    }
}

impl From<u8> for Order {
    fn from(v: u8) -> Self {
        if v >= CLOSE { Order::Close } else { Order::Drain }
    }
}

/// The connections of one server, and the thread that times them.
#[derive(Debug)]
pub(crate) struct Watchdog {
    conns: Mutex<HashMap<u64, Weak<Watch>>>,
    next_id: AtomicU64,
    header_read_timeout: Duration,
    client_socket_timeout: Option<Duration>,
    /// Set when the server stops; the thread exits at its next look.
    stopped: AtomicBool,
}

/// A connection's place in the [`Watchdog`]; leaves it on drop.
#[derive(Debug)]
pub(crate) struct Registration {
    dog: Arc<Watchdog>,
    id: u64,
    pub(crate) watch: Arc<Watch>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.dog.conns.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.id);
    }
}

/// What the watchdog remembers of a connection between two looks.
struct Seen {
    started: u64,
    io: u64,
    io_at: Instant,
    stalled: u32,
}

impl Watchdog {
    pub(crate) fn new(header_read_timeout: Duration, client_socket_timeout: Option<Duration>) -> Arc<Self> {
        Arc::new(Watchdog {
            conns: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            header_read_timeout,
            client_socket_timeout,
            stopped: AtomicBool::new(false),
        })
    }

    /// Starts the watchdog thread; it runs until [`Watchdog::stop`].
    pub(crate) fn start(self: &Arc<Self>) -> std::io::Result<std::thread::JoinHandle<()>> {
        let dog = Arc::downgrade(self);
        let tick = (self.header_read_timeout / 2).max(Duration::from_millis(10));
        std::thread::Builder::new().name("rsgi-watchdog".to_owned()).spawn(move || {
            let mut seen: HashMap<u64, Seen> = HashMap::new();
            loop {
                std::thread::park_timeout(tick);
                let Some(dog) = dog.upgrade() else { return };
                if dog.stopped.load(Ordering::Acquire) {
                    return;
                }
                dog.look(&mut seen);
            }
        })
    }

    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
    }

    pub(crate) fn register(self: &Arc<Self>) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let watch = Arc::new(Watch::default());
        self.conns.lock().unwrap_or_else(|e| e.into_inner()).insert(id, Arc::downgrade(&watch));
        Registration { dog: Arc::clone(self), id, watch }
    }

    pub(crate) fn len(&self) -> usize {
        self.conns.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Gives every connection `order`.
    pub(crate) fn order_all(&self, order: Order) {
        let conns: Vec<Arc<Watch>> =
            self.conns.lock().unwrap_or_else(|e| e.into_inner()).values().filter_map(Weak::upgrade).collect();
        for watch in conns {
            watch.order(order.level());
        }
    }

    /// One look at every connection:
    ///
    /// - no request in flight and none started for two looks in a row (a
    ///   fresh connection that sends nothing, a request head that trickles
    ///   in, an idle keep-alive connection): closed, after between one and
    ///   one and a half `header_read_timeout`;
    /// - a request in flight but no byte moving either way for
    ///   `client_socket_timeout` (a stalled upload, a client that stopped
    ///   reading): closed.
    fn look(&self, seen: &mut HashMap<u64, Seen>) {
        let now = Instant::now();
        let conns: Vec<(u64, Arc<Watch>)> = self
            .conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter_map(|(id, w)| w.upgrade().map(|w| (*id, w)))
            .collect();
        seen.retain(|id, _| conns.iter().any(|(c, _)| c == id));
        for (id, watch) in conns {
            let started = watch.started.load(Ordering::Relaxed);
            let finished = watch.finished.load(Ordering::Relaxed);
            let io = watch.io.load(Ordering::Relaxed);
            let s = seen.entry(id).or_insert(Seen { started: 0, io: 0, io_at: now, stalled: 0 });
            if io != s.io {
                s.io = io;
                s.io_at = now;
            }
            let close = if started > finished {
                s.stalled = 0;
                self.client_socket_timeout.is_some_and(|limit| now.duration_since(s.io_at) >= limit)
            } else if started != s.started {
                s.stalled = 0;
                false
            } else {
                s.stalled += 1;
                s.stalled >= 2
            };
            s.started = started;
            if close {
                watch.order(CLOSE);
            }
        }
    }
}
