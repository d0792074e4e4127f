//! The accept loop and one task per connection.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
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
use super::request_body::{self, BodyLimits};
use super::watchdog::{Limits, Order, Registration, Watch, Watchdog};
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
    /// Read-ahead and timeouts of request bodies.
    body_limits: BodyLimits,
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
        // What one HTTP/2 connection can make the server hold: at most
        // `h2_max_concurrent_streams` responses, each with at most hyper's
        // send buffer (400 KiB) queued, and none for longer than
        // `send_timeout` without progress (the watchdog).
        http2
            .max_header_list_size(u32::try_from(config.max_header_size).unwrap_or(u32::MAX))
            .max_concurrent_streams(u32::try_from(config.h2_max_concurrent_streams).unwrap_or(u32::MAX));
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
            body_limits: BodyLimits {
                buffer_size: config.body_buffer_size,
                read_timeout: config.body_read_timeout,
                min_rate: config.body_min_rate,
            },
            watchdog: Watchdog::new(Limits {
                header_read_timeout: config.header_read_timeout,
                client_socket_timeout: config.client_socket_timeout,
                send_timeout: config.send_timeout,
            }),
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
                None => match shared.protocol {
                    Protocol::Auto => {
                        let Some((protocol, tcp)) = sniff(tcp, shared.header_read_timeout).await else { return };
                        serve_io(&shared, tcp, protocol, Scheme::Http, remote, local).await;
                    }
                    p => serve_io(&shared, tcp, p, Scheme::Http, remote, local).await,
                },
            }
        }
        #[cfg(unix)]
        Stream::Unix(unix) => serve_io(&shared, unix, shared.protocol, Scheme::Http, None, None).await,
    }
}

/// The HTTP/2 connection preface (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Tells HTTP/2 prior knowledge from HTTP/1 by reading the first bytes,
/// so that each connection is then served by hyper's HTTP/1 or HTTP/2
/// connection directly (hyper-util's `auto` builder re-reads every byte
/// through a rewind buffer and cannot bound the header size). The bytes
/// read are handed to hyper first ([`Prefixed`]). Reads wait for the
/// socket, never poll it on a timer, so a client that closes is noticed at
/// once. `None`: the client closed or sent too little within `timeout`.
async fn sniff(
    mut tcp: tokio::net::TcpStream,
    timeout: Duration,
) -> Option<(Protocol, Prefixed<tokio::net::TcpStream>)> {
    use tokio::io::AsyncReadExt;
    let deadline = tokio::time::Instant::now() + timeout;
    let mut prefix = [0u8; H2_PREFACE.len()];
    let mut len = 0;
    let protocol = loop {
        let n = match tokio::time::timeout_at(deadline, tcp.read(&mut prefix[len..])).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
            Ok(Ok(n)) => n,
        };
        len += n;
        if prefix[..len] != H2_PREFACE[..len] {
            break Protocol::Http1;
        }
        if len == H2_PREFACE.len() {
            break Protocol::Http2;
        }
    };
    Some((protocol, Prefixed { prefix, start: 0, end: len, inner: tcp }))
}

/// A stream whose first bytes were already read (by [`sniff`]): they are
/// read again first.
struct Prefixed<S> {
    prefix: [u8; H2_PREFACE.len()],
    start: usize,
    end: usize,
    inner: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.start < self.end {
            let n = (self.end - self.start).min(buf.remaining());
            buf.put_slice(&self.prefix[self.start..self.start + n]);
            self.start += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
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
    let h2 = protocol == Protocol::Http2;
    let conn = Arc::new(Conn {
        shared: Arc::clone(shared),
        scheme,
        remote,
        local,
        h2,
        registration: shared.watchdog.register(h2),
    });
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
    /// The connection speaks HTTP/2.
    h2: bool,
    /// The counters the watchdog reads; leaves the watchdog when the
    /// connection ends.
    registration: Registration,
}

/// Counts a request as finished even if its future is dropped.
struct Finished<'a>(&'a Watch);

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        let watch = self.0;
        watch.reads_at_finish.store(watch.reads.load(Ordering::Relaxed), Ordering::Relaxed);
        watch.finished.fetch_add(1, Ordering::Relaxed);
    }
}

/// An answer of the server's own that closes an HTTP/1 connection.
fn refuse(status: StatusCode, text: &'static str) -> Response {
    let mut res = (status, text).into_response();
    res.headers_mut().insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
    res
}

/// Runs one request through the app, within the pool.
async fn handle<A: App>(conn: &Conn<A>, req: http::Request<Incoming>) -> Response {
    let watch = &conn.registration.watch;
    watch.started.fetch_add(1, Ordering::Relaxed);
    let _finished = Finished(watch);
    let shared = &*conn.shared;
    if head_too_large(&req, shared.max_header_size) {
        // As hyper does for the heads it rejects: the connection is not reused.
        return refuse(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "Request Header Fields Too Large\n");
    }
    if !conn.h2 {
        if let Err(why) = check_http1_head(&req) {
            return refuse(StatusCode::BAD_REQUEST, why);
        }
    }
    let (parts, incoming) = req.into_parts();
    // Read ahead before taking a slot (see `request_body`): a trickling
    // body holds none.
    let (body, body_timed_out) = if http_body::Body::is_end_stream(&incoming) {
        (Body::from(incoming), None)
    } else {
        match request_body::read_ahead(incoming, shared.body_limits).await {
            Ok(read) => read,
            Err(_) => return refuse(StatusCode::REQUEST_TIMEOUT, "Request Timeout\n"),
        }
    };
    // Held until the app has answered (the body may stream on after).
    let _permit = match &shared.pool {
        Some(pool) => Some(pool.acquire().await),
        None => None,
    };
    let mut req = Request::from_http(http::Request::from_parts(parts, body));
    req.set_url_scheme(conn.scheme);
    req.set_remote_addr(conn.remote);
    req.set_local_addr(conn.local);
    let line = shared.log.as_ref().and_then(|format| request_log::start(format, &req));
    let mut res = shared.app.call(req).await;
    if body_timed_out.is_some_and(|flag| flag.load(Ordering::Acquire)) {
        res = refuse(StatusCode::REQUEST_TIMEOUT, "Request Timeout\n");
    }
    if conn.h2 {
        res = res.map(|body| Body::new(H2Body::new(body, Arc::clone(watch))));
    }
    request_log::finish(line, res)
}

/// RFC 9112 checks hyper does not make, each a `400` that closes the
/// connection: exactly one valid `Host` (§3.2; required in HTTP/1.1), and
/// `chunked` applied at most once (§6.1: a front proxy may frame such a
/// body differently, which is how requests are smuggled).
fn check_http1_head(req: &http::Request<Incoming>) -> Result<(), &'static str> {
    let mut hosts = req.headers().get_all(http::header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (None, _) if req.version() >= http::Version::HTTP_11 => return Err("Bad Request: no Host header\n"),
        (Some(_), Some(_)) => return Err("Bad Request: more than one Host header\n"),
        (Some(host), None) if !valid_host(host.as_bytes()) => return Err("Bad Request: invalid Host header\n"),
        _ => {}
    }
    let mut chunked = 0;
    for value in req.headers().get_all(http::header::TRANSFER_ENCODING) {
        let Ok(value) = value.to_str() else { return Err("Bad Request: invalid Transfer-Encoding\n") };
        chunked += value.split(',').filter(|coding| coding.trim().eq_ignore_ascii_case("chunked")).count();
    }
    if chunked > 1 {
        return Err("Bad Request: chunked applied more than once\n");
    }
    Ok(())
}

/// `uri-host [":" port]` (RFC 9110 §7.2): a reg-name, an IPv4 address or a
/// bracketed IP literal, as bytes; empty is allowed (a target without an
/// authority).
fn valid_host(host: &[u8]) -> bool {
    host.iter().all(|&b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b'%'
                    | b':'
                    | b'['
                    | b']'
            )
    })
}

pin_project_lite::pin_project! {
    /// An HTTP/2 response body, counted for the watchdog: HTTP/2 progress
    /// is body frames handed to the connection (the socket can stay busy
    /// with `PING`s while the client's window stays closed).
    struct H2Body {
        #[pin]
        inner: Body,
        watch: Arc<Watch>,
    }

    impl PinnedDrop for H2Body {
        fn drop(this: Pin<&mut Self>) {
            this.watch.open_bodies.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl H2Body {
    fn new(inner: Body, watch: Arc<Watch>) -> Self {
        watch.open_bodies.fetch_add(1, Ordering::Relaxed);
        H2Body { inner, watch }
    }
}

impl http_body::Body for H2Body {
    type Data = bytes::Bytes;
    type Error = crate::body::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        if matches!(polled, Poll::Ready(Some(Ok(_)))) {
            this.watch.body_frames.fetch_add(1, Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
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

/// Counts reads and writes that moved bytes, and whether the socket takes
/// more, for the watchdog.
struct Activity<S> {
    inner: S,
    watch: Arc<Watch>,
}

impl<S> Activity<S> {
    fn wrote(&self, polled: &Poll<io::Result<usize>>) {
        match polled {
            Poll::Ready(Ok(n)) if *n > 0 => {
                self.watch.writes.fetch_add(1, Ordering::Relaxed);
                if self.watch.write_blocked.load(Ordering::Relaxed) {
                    self.watch.write_blocked.store(false, Ordering::Relaxed);
                }
            }
            Poll::Pending => self.watch.write_blocked.store(true, Ordering::Relaxed),
            _ => {}
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Activity<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.watch.reads.fetch_add(1, Ordering::Relaxed);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Activity<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.wrote(&polled);
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.wrote(&polled);
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
