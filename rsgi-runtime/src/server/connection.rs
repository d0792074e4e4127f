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
use hyper_util::server::graceful::GracefulConnection;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::TlsAcceptor;

use super::listener::{Listener, Stream};
use super::pool::Pool;
use super::watchdog::{Order, Registration, Watch, Watchdog};
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
    shutdown_timeout: Duration,
    /// Times the connections and gives them shutdown orders.
    watchdog: Arc<Watchdog>,
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
            shutdown_timeout: config.shutdown_timeout,
            watchdog: Watchdog::new(config.header_read_timeout, config.client_socket_timeout),
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
    let watchdog = Arc::clone(&shared.watchdog);
    let thread = match watchdog.start() {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::error!(error = %e, "cannot start the watchdog thread: connections will not time out");
            None
        }
    };
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
                tokio::spawn(async move { serve_stream(shared, stream, remote, local).await });
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
    tracing::info!(connections = watchdog.len(), "stopped accepting; draining in-flight requests");
    watchdog.order_all(Order::Drain);
    let drained = tokio::time::timeout(shared.shutdown_timeout, async {
        while watchdog.len() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(timeout = ?shared.shutdown_timeout, "drain timed out; closing remaining connections");
        watchdog.order_all(Order::Close);
    }
    watchdog.stop();
    if let Some(t) = thread {
        t.thread().unpark();
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
                    serve_io(&shared, tls_stream, protocol, Scheme::Https, remote, local).await;
                }
                None => {
                    let protocol = match shared.protocol {
                        Protocol::Auto => match sniff(&tcp, shared.header_read_timeout).await {
                            Some(p) => p,
                            None => return,
                        },
                        p => p,
                    };
                    serve_io(&shared, tcp, protocol, Scheme::Http, remote, local).await;
                }
            }
        }
        #[cfg(unix)]
        Stream::Unix(unix) => serve_io(&shared, unix, shared.protocol, Scheme::Http, None, None).await,
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
) where
    A: App,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let conn =
        Arc::new(Conn { shared: Arc::clone(shared), scheme, remote, local, registration: shared.watchdog.register() });
    let io = TokioIo::new(Activity { inner: io, watch: Arc::clone(&conn.registration.watch) });
    let service_conn = Arc::clone(&conn);
    let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
        let conn = Arc::clone(&service_conn);
        // Around the whole request, so the app's future is built in place.
        CatchRequest { future: CatchUnwind::new(async move { handle(&conn, req).await }) }
    });
    match protocol {
        Protocol::Auto => drive(&conn.registration.watch, shared.auto.serve_connection(io, service)).await,
        Protocol::Http1 => drive(&conn.registration.watch, shared.http1.serve_connection(io, service)).await,
        Protocol::Http2 => drive(&conn.registration.watch, shared.http2.serve_connection(io, service)).await,
    }
}

/// One connection: what its requests need, and its place in the watchdog.
struct Conn<A> {
    shared: Arc<Shared<A>>,
    scheme: Scheme,
    remote: Option<SocketAddr>,
    local: Option<SocketAddr>,
    /// The counters the watchdog reads; leaves the watchdog when the
    /// connection ends.
    registration: Registration,
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
    let watch = &conn.registration.watch;
    watch.started.fetch_add(1, Ordering::Relaxed);
    let _finished = Finished(&watch.finished);
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

/// Drives a connection until it ends, or until the watchdog orders it to
/// drain (graceful shutdown: finish the requests in flight, then close) or
/// to close (a timeout, or a drain that took too long).
async fn drive<C>(watch: &Watch, connection: C)
where
    C: GracefulConnection,
{
    tokio::pin!(connection);
    let mut seen = 0;
    loop {
        let order = tokio::select! {
            biased;
            _ = &mut connection => return,
            order = watch.changed(seen) => order,
        };
        seen = order.level();
        match order {
            Order::Drain => connection.as_mut().graceful_shutdown(),
            Order::Close => return tracing::debug!("closing a connection: timed out or shut down"),
        }
    }
}

/// Counts reads and writes that moved bytes, for [`drive`]'s checks.
struct Activity<S> {
    inner: S,
    watch: Arc<Watch>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Activity<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.watch.io.fetch_add(1, Ordering::Relaxed);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Activity<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.watch.io.fetch_add(1, Ordering::Relaxed);
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
            self.watch.io.fetch_add(1, Ordering::Relaxed);
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
