//! The accept loop and one task per connection.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use http::StatusCode;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::TlsAcceptor;

use super::listener::{Listener, Stream};
use super::pool::Pool;
use super::{Config, Protocol};
use crate::app::{App, IntoResponse, Response};
use crate::body::Body;
use crate::filters::request_log::{self, LogFormat};
use crate::panic::{CatchUnwind, panic_message};
use crate::request::{Request, Scheme};

/// What every connection task shares.
pub(crate) struct Shared<A> {
    app: A,
    /// The request pool: one permit per request in flight (`pool_size`);
    /// `None` when unbounded.
    pool: Option<Pool>,
    /// The access-log format, when access logging is configured.
    log: Option<Arc<LogFormat>>,
    /// Set when TLS is configured.
    tls: Option<TlsAcceptor>,
    auto: auto::Builder<TokioExecutor>,
    http1: hyper::server::conn::http1::Builder,
    http2: hyper::server::conn::http2::Builder<TokioExecutor>,
    protocol: Protocol,
    max_header_size: usize,
    tcp_nodelay: bool,
    header_read_timeout: Duration,
    client_socket_timeout: Option<Duration>,
    shutdown_timeout: Duration,
}

impl<A: App> Shared<A> {
    pub(crate) fn new(app: A, config: &Config, log: Option<LogFormat>, tls: Option<TlsAcceptor>) -> Self {
        // The Unix-socket path goes through hyper-util's `auto` builder, which
        // cannot bound the head size itself: its read buffer does (at least
        // 8 KiB, hyper's minimum).
        let mut auto = auto::Builder::new(TokioExecutor::new());
        auto.http1()
            .keep_alive(config.keepalive)
            .max_buf_size(config.max_header_size.max(8192))
            .max_headers(config.max_headers)
            .pipeline_flush(config.pipeline_flush);
        auto.http2().max_header_list_size(u32::try_from(config.max_header_size).unwrap_or(u32::MAX));
        // No hyper timers: hyper would arm (and allocate) a timer for every
        // request head; `drive` enforces the timeouts per connection instead.
        // hyper's own `max_header_size` closes the connection without an
        // answer when the head outgrows it; rsgi lets hyper read heads up to
        // four times the limit and answers 431 itself (`head_too_large`).
        let mut http1 = hyper::server::conn::http1::Builder::new();
        http1
            .keep_alive(config.keepalive)
            .max_buf_size(config.max_header_size.saturating_mul(4).max(65536))
            .max_headers(config.max_headers)
            .pipeline_flush(config.pipeline_flush);
        let mut http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        http2.max_header_list_size(u32::try_from(config.max_header_size).unwrap_or(u32::MAX));
        Shared {
            app,
            pool: (config.pool_size > 0).then(|| Pool::new(config.pool_size)),
            log: log.map(Arc::new),
            tls,
            auto,
            http1,
            http2,
            protocol: config.protocol,
            max_header_size: config.max_header_size,
            tcp_nodelay: config.tcp_nodelay,
            header_read_timeout: config.header_read_timeout,
            client_socket_timeout: config.client_socket_timeout,
            shutdown_timeout: config.shutdown_timeout,
        }
    }
}

/// Accepts until `shutdown` resolves, then drains the connections.
pub(crate) async fn accept_loop<A: App>(
    listener: Listener,
    shared: Arc<Shared<A>>,
    shutdown: impl std::future::Future<Output = ()> + Send,
) {
    let local = listener.local_addr();
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, remote)) => {
                let shared = Arc::clone(&shared);
                let watcher = graceful.watcher();
                tokio::spawn(async move { serve_stream(shared, stream, remote, local, watcher).await });
            }
            // The peer gave up before we got to it: nothing to do.
            Err(e) if is_connection_error(&e) => {}
            // Out of file descriptors or memory: let the in-flight requests
            // finish and free some before accepting again.
            Err(e) => {
                tracing::error!(error = %e, "accept failed; retrying in 1s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    drop(listener);
    let open = graceful.count();
    tracing::info!(connections = open, "stopped accepting; draining in-flight requests");
    if tokio::time::timeout(shared.shutdown_timeout, graceful.shutdown()).await.is_err() {
        tracing::warn!(timeout = ?shared.shutdown_timeout, "drain timed out; closing remaining connections");
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

async fn serve_stream<A: App>(
    shared: Arc<Shared<A>>,
    stream: Stream,
    remote: Option<SocketAddr>,
    local: Option<SocketAddr>,
    watcher: Watcher,
) {
    match stream {
        Stream::Tcp(tcp) => {
            if shared.tcp_nodelay {
                let _ = tcp.set_nodelay(true);
            }
            match shared.tls.clone() {
                Some(tls) => {
                    let handshake = tokio::time::timeout(shared.header_read_timeout, tls.accept(tcp)).await;
                    let tls_stream = match handshake {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => return tracing::debug!(error = %e, ?remote, "TLS handshake failed"),
                        Err(_) => return tracing::debug!(?remote, "TLS handshake timed out"),
                    };
                    let h2 = tls_stream.get_ref().1.alpn_protocol() == Some(b"h2");
                    let protocol = if h2 { Protocol::Http2 } else { Protocol::Http1 };
                    serve_io(&shared, tls_stream, protocol, Scheme::Https, remote, local, watcher).await;
                }
                None => {
                    let protocol = match shared.protocol {
                        Protocol::Auto => match sniff(&tcp, shared.header_read_timeout).await {
                            Some(p) => p,
                            None => return,
                        },
                        p => p,
                    };
                    serve_io(&shared, tcp, protocol, Scheme::Http, remote, local, watcher).await;
                }
            }
        }
        #[cfg(unix)]
        Stream::Unix(unix) => serve_io(&shared, unix, shared.protocol, Scheme::Http, None, None, watcher).await,
    }
}

/// The HTTP/2 connection preface (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Tells HTTP/2 prior knowledge from HTTP/1 by peeking at the first bytes,
/// so that each connection is then served by hyper's HTTP/1 or HTTP/2
/// connection directly (hyper-util's `auto` builder re-reads every byte
/// through a rewind buffer and cannot bound the header size). `None`: the
/// client closed or sent nothing within `timeout`.
async fn sniff(tcp: &tokio::net::TcpStream, timeout: Duration) -> Option<Protocol> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut buf = [0u8; 24];
    loop {
        let n = match tokio::time::timeout_at(deadline, tcp.peek(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
            Ok(Ok(n)) => n,
        };
        if buf[..n] != H2_PREFACE[..n] {
            return Some(Protocol::Http1);
        }
        if n == H2_PREFACE.len() {
            return Some(Protocol::Http2);
        }
        // A preface split across packets: rare; wait for the rest.
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn serve_io<A, S>(
    shared: &Arc<Shared<A>>,
    io: S,
    protocol: Protocol,
    scheme: Scheme,
    remote: Option<SocketAddr>,
    local: Option<SocketAddr>,
    watcher: Watcher,
) where
    A: App,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let conn = Arc::new(Conn {
        shared: Arc::clone(shared),
        scheme,
        remote,
        local,
        io: AtomicU64::new(0),
        started: AtomicU64::new(0),
        finished: AtomicU64::new(0),
    });
    let io = TokioIo::new(Activity { inner: io, conn: Arc::clone(&conn) as Arc<dyn Counters> });
    let service_conn = Arc::clone(&conn);
    let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
        let conn = Arc::clone(&service_conn);
        // Around the whole request, so the app's future is built in place.
        CatchRequest { future: CatchUnwind::new(async move { handle(&conn, req).await }) }
    });
    match protocol {
        Protocol::Auto => drive(&conn, watcher.watch(shared.auto.serve_connection(io, service))).await,
        Protocol::Http1 => drive(&conn, watcher.watch(shared.http1.serve_connection(io, service))).await,
        Protocol::Http2 => drive(&conn, watcher.watch(shared.http2.serve_connection(io, service))).await,
    }
}

/// One connection: what its requests need, and the counters its IO, its
/// requests and [`drive`] share.
struct Conn<A> {
    shared: Arc<Shared<A>>,
    scheme: Scheme,
    remote: Option<SocketAddr>,
    local: Option<SocketAddr>,
    /// Reads and writes that moved bytes (bumped by [`Activity`]).
    io: AtomicU64,
    /// Requests handed to the app (bumped by [`handle`]).
    started: AtomicU64,
    /// Requests the app has answered (bumped by [`handle`]).
    finished: AtomicU64,
}

/// The IO counter, without the app type (so [`Activity`] is not generic over it).
trait Counters: Send + Sync {
    fn bump_io(&self);
}

impl<A: App> Counters for Conn<A> {
    fn bump_io(&self) {
        self.io.fetch_add(1, Ordering::Relaxed);
    }
}

/// Counts a request as finished even if its future is dropped.
struct Finished<'a>(&'a AtomicU64);

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Runs one request through the app, within the pool.
async fn handle<A: App>(conn: &Conn<A>, req: http::Request<Incoming>) -> Response {
    conn.started.fetch_add(1, Ordering::Relaxed);
    let _finished = Finished(&conn.finished);
    let shared = &*conn.shared;
    if head_too_large(&req, shared.max_header_size) {
        let mut res =
            (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "Request Header Fields Too Large\n").into_response();
        // As hyper does for the heads it rejects: the connection is not reused.
        res.headers_mut().insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
        return res;
    }
    // Held until the app has answered (the body may stream on after).
    let _permit = match &shared.pool {
        Some(pool) => Some(pool.acquire().await),
        None => None,
    };
    let mut req = Request::from_http(req.map(Body::from));
    req.set_url_scheme(conn.scheme);
    req.set_remote_addr(conn.remote);
    req.set_local_addr(conn.local);
    let line = shared.log.as_ref().and_then(|format| request_log::start(format, &req));
    let res = shared.app.call(req).await;
    request_log::finish(line, res)
}

/// Whether the request head is over `max_header_size` bytes, counted as
/// on the wire: the request line and each `name: value` line.
fn head_too_large(req: &http::Request<Incoming>, max: usize) -> bool {
    let line = req.method().as_str().len() + req.uri().path_and_query().map_or(1, |p| p.as_str().len()) + 12;
    let mut total = line;
    for (name, value) in req.headers() {
        total += name.as_str().len() + value.len() + 4;
        if total > max {
            return true;
        }
    }
    total > max
}

pin_project_lite::pin_project! {
    /// A request's future, with a panic turned into a `500` for that request.
    struct CatchRequest<F> {
        #[pin]
        future: CatchUnwind<F>,
    }
}

impl<F: std::future::Future<Output = Response>> std::future::Future for CatchRequest<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().future.poll(cx).map(|caught| {
            Ok(caught.unwrap_or_else(|payload| {
                tracing::error!(panic = panic_message(&*payload), "app panicked; answering 500");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }))
        })
    }
}

/// Drives a connection and enforces its timeouts, checking its counters
/// every half `header_read_timeout`:
///
/// - no request in flight and none started for two checks in a row (a
///   fresh connection that sends nothing, a request head that trickles in,
///   an idle keep-alive connection): closed after between one and one and a
///   half `header_read_timeout`;
/// - a request in flight but no byte moving either way for
///   `client_socket_timeout` (a stalled upload or a client that stopped
///   reading): closed.
///
/// hyper could time request heads itself, but it arms and allocates a timer
/// for every request; counting here costs a relaxed atomic add per request.
async fn drive<A, C>(conn: &Conn<A>, connection: C)
where
    C: std::future::Future,
{
    let shared = &*conn.shared;
    let tick = (shared.header_read_timeout / 2).max(Duration::from_millis(10));
    let mut checks = tokio::time::interval_at(tokio::time::Instant::now() + tick, tick);
    checks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(connection);
    let mut last_started = 0;
    let mut last_io = 0;
    let mut last_io_at = tokio::time::Instant::now();
    let mut stalled = 0;
    loop {
        tokio::select! {
            biased;
            _ = &mut connection => return,
            _ = checks.tick() => {}
        }
        let started = conn.started.load(Ordering::Relaxed);
        let finished = conn.finished.load(Ordering::Relaxed);
        let io = conn.io.load(Ordering::Relaxed);
        if io != last_io {
            last_io = io;
            last_io_at = tokio::time::Instant::now();
        }
        if started > finished {
            stalled = 0;
            if shared.client_socket_timeout.is_some_and(|limit| last_io_at.elapsed() >= limit) {
                return tracing::debug!(remote = ?conn.remote, "closing a connection silent past client_socket_timeout");
            }
        } else if started != last_started {
            stalled = 0;
        } else {
            stalled += 1;
            if stalled >= 2 {
                return tracing::debug!(remote = ?conn.remote, "closing a connection that sent no request within header_read_timeout");
            }
        }
        last_started = started;
    }
}

/// Counts reads and writes that moved bytes, for [`drive`]'s checks.
struct Activity<S> {
    inner: S,
    conn: Arc<dyn Counters>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Activity<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.conn.bump_io();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Activity<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.conn.bump_io();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.conn.bump_io();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
