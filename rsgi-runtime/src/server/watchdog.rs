//! Per-connection timeouts and shutdown orders, without a tokio timer per
//! connection.
//!
//! A pending tokio timer makes every park of a runtime worker go through
//! the time driver (a clock read and a walk of the timer wheel): with a
//! timer per connection that costs a few thousand instructions per request
//! on a keep-alive connection (measured with callgrind). So connections
//! only count what happens to them (relaxed atomic adds), and one plain
//! thread per server looks at the counters four times per shortest timeout
//! and orders connections that make no progress closed.

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
#[derive(Debug)]
pub(crate) struct Watch {
    /// When the connection was accepted.
    born: Instant,
    /// HTTP/2: progress is measured on the response bodies, not the socket
    /// (a client can keep a socket busy with `PING`s while its flow-control
    /// window stays closed).
    h2: bool,
    /// Reads that moved bytes.
    pub(crate) reads: AtomicU64,
    /// Writes that moved bytes.
    pub(crate) writes: AtomicU64,
    /// Set while the socket takes no more bytes (a write returned
    /// `Pending`); cleared by the next write that moves bytes.
    pub(crate) write_blocked: AtomicBool,
    /// Requests handed to the app.
    pub(crate) started: AtomicU64,
    /// Requests the app has answered.
    pub(crate) finished: AtomicU64,
    /// `reads` when the last request was answered: more reads since then
    /// are the next request head.
    pub(crate) reads_at_finish: AtomicU64,
    /// HTTP/2: response bodies still being sent.
    pub(crate) open_bodies: AtomicU64,
    /// HTTP/2: response body frames handed to the connection.
    pub(crate) body_frames: AtomicU64,
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

/// The timeouts the watchdog enforces (see [`Watchdog::look`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) header_read_timeout: Duration,
    pub(crate) client_socket_timeout: Option<Duration>,
    pub(crate) send_timeout: Duration,
}

impl Limits {
    /// How often the watchdog looks: a quarter of the shortest timeout, so
    /// that a timeout fires between 1 and 1.5 times its length after the
    /// event it measures from (the event is seen up to one look late, and
    /// the close happens up to one look late).
    fn tick(&self) -> Duration {
        let shortest = [Some(self.header_read_timeout), self.client_socket_timeout, Some(self.send_timeout)]
            .into_iter()
            .flatten()
            .filter(|d| !d.is_zero())
            .min()
            .unwrap_or(Duration::from_secs(1));
        (shortest / 4).max(Duration::from_millis(10))
    }
}

/// The connections of one server, and the thread that times them.
#[derive(Debug)]
pub(crate) struct Watchdog {
    conns: Mutex<HashMap<u64, Weak<Watch>>>,
    next_id: AtomicU64,
    limits: Limits,
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

/// What the watchdog remembers of a connection between two looks, and
/// when it first saw each value.
struct Seen {
    reads: u64,
    writes: u64,
    started: u64,
    finished: u64,
    frames: u64,
    open_bodies: u64,
    /// Last change of `reads` or `writes`.
    io_at: Instant,
    /// Last change of `writes` (or of `write_blocked` being set).
    write_at: Instant,
    /// Last change of `body_frames`, or of `open_bodies` from zero.
    frames_at: Instant,
    /// Last change of `finished` or `started`.
    idle_at: Instant,
    /// First look that saw bytes of a new request head after `idle_at`.
    head_at: Option<Instant>,
}

impl Seen {
    fn new(w: &Watch, now: Instant) -> Self {
        Seen {
            reads: 0,
            writes: 0,
            started: 0,
            finished: 0,
            frames: 0,
            open_bodies: 0,
            io_at: w.born,
            write_at: now,
            frames_at: now,
            idle_at: w.born,
            head_at: None,
        }
    }
}

impl Watchdog {
    pub(crate) fn new(limits: Limits) -> Arc<Self> {
        Arc::new(Watchdog {
            conns: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            limits,
            stopped: AtomicBool::new(false),
        })
    }

    /// Starts the watchdog thread; it runs until [`Watchdog::stop`].
    pub(crate) fn start(self: &Arc<Self>) -> std::io::Result<std::thread::JoinHandle<()>> {
        let dog = Arc::downgrade(self);
        let tick = self.limits.tick();
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

    /// Registers a new connection (`h2`: it speaks HTTP/2).
    pub(crate) fn register(self: &Arc<Self>, h2: bool) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let watch = Arc::new(Watch {
            born: Instant::now(),
            h2,
            reads: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            write_blocked: AtomicBool::new(false),
            started: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            reads_at_finish: AtomicU64::new(0),
            open_bodies: AtomicU64::new(0),
            body_frames: AtomicU64::new(0),
            order: AtomicU8::new(0),
            waker: AtomicWaker::new(),
        });
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

    /// One look at every connection. Timeouts measure lack of progress,
    /// never the age of a request or a response:
    ///
    /// - a request in the app (its head read, no answer yet) with no byte
    ///   moving either way for `client_socket_timeout`: closed (request
    ///   bodies have their own, finer timeout in `body.rs`);
    /// - a response the socket takes no byte of for `send_timeout` (HTTP/1:
    ///   writes blocked; HTTP/2: no body frame sent while a body is open,
    ///   e.g. a flow-control window the client keeps closed): closed;
    /// - a fresh connection without a complete request head after
    ///   `header_read_timeout`, or a later head that is not complete
    ///   `header_read_timeout` after its first byte (slowloris): closed;
    /// - an idle keep-alive connection (no request, no byte) for
    ///   `client_socket_timeout`: closed.
    ///
    /// Each fires between 1 and 1.5 times its length after the last
    /// progress (see [`Limits::tick`]).
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
            let s = seen.entry(id).or_insert_with(|| Seen::new(&watch, now));
            if self.expired(&watch, s, now) {
                watch.order(CLOSE);
            }
        }
    }

    /// Updates `s` with what `w` shows now and says whether a timeout expired.
    fn expired(&self, w: &Watch, s: &mut Seen, now: Instant) -> bool {
        let Limits { header_read_timeout, client_socket_timeout, send_timeout } = self.limits;
        let reads = w.reads.load(Ordering::Relaxed);
        let writes = w.writes.load(Ordering::Relaxed);
        let started = w.started.load(Ordering::Relaxed);
        let finished = w.finished.load(Ordering::Relaxed);
        let frames = w.body_frames.load(Ordering::Relaxed);
        let open_bodies = w.open_bodies.load(Ordering::Relaxed);
        if reads != s.reads || writes != s.writes {
            s.io_at = now;
        }
        if writes != s.writes {
            s.write_at = now;
        }
        if frames != s.frames || (open_bodies > 0 && s.open_bodies == 0) {
            s.frames_at = now;
        }
        if finished != s.finished || started != s.started {
            s.idle_at = now;
            s.head_at = None;
        }
        if s.head_at.is_none() && started == finished && reads > w.reads_at_finish.load(Ordering::Relaxed) {
            s.head_at = Some(now);
        }
        (s.reads, s.writes, s.started, s.finished, s.frames, s.open_bodies) =
            (reads, writes, started, finished, frames, open_bodies);
        let since = |at: Instant| now.saturating_duration_since(at);
        let idle_limit = |at: Instant| client_socket_timeout.is_some_and(|limit| since(at) >= limit);
        let in_app = started > finished;
        if w.h2 {
            return (open_bodies > 0 && since(s.frames_at) >= send_timeout)
                || (in_app && idle_limit(s.io_at))
                || (!in_app && open_bodies == 0 && started == 0 && since(w.born) >= header_read_timeout)
                || (!in_app && open_bodies == 0 && started > 0 && idle_limit(s.idle_at));
        }
        if in_app {
            idle_limit(s.io_at)
        } else if w.write_blocked.load(Ordering::Relaxed) {
            since(s.write_at) >= send_timeout
        } else if started == 0 {
            since(w.born) >= header_read_timeout
        } else if let Some(head_at) = s.head_at {
            since(head_at) >= header_read_timeout
        } else {
            idle_limit(s.idle_at.max(s.io_at))
        }
    }
}
