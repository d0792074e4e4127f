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
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use super::listener::{Listener, Stream};
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
    pool: Option<Semaphore>,
    /// The access-log format, when access logging is configured.
    log: Option<Arc<LogFormat>>,
    /// Set when TLS is configured.
    tls: Option<TlsAcceptor>,
    auto: auto::Builder<TokioExecutor>,
    http1: hyper::server::conn::http1::Builder,
    http2: hyper::server::conn::http2::Builder<TokioExecutor>,
    protocol: Protocol,
    tcp_nodelay: bool,
    header_read_timeout: Duration,
    client_socket_timeout: Option<Duration>,
    shutdown_timeout: Duration,
}

impl<A: App> Shared<A> {
    pub(crate) fn new(app: A, config: &Config, log: Option<LogFormat>, tls: Option<TlsAcceptor>) -> Self {
        // hyper's read buffer also bounds the request head; it cannot be
        // smaller than 8 KiB.
        let max_buf = config.max_header_size.max(8192);
        let mut auto = auto::Builder::new(TokioExecutor::new());
        auto.http1()
            .timer(TokioTimer::new())
            .header_read_timeout(config.header_read_timeout)
            .keep_alive(config.keepalive)
            .max_buf_size(max_buf)
            .max_headers(config.max_headers)
            .pipeline_flush(config.pipeline_flush);
        auto.http2().timer(TokioTimer::new()).max_header_list_size(u32::try_from(config.max_header_size).unwrap_or(u32::MAX));
        let mut http1 = hyper::server::conn::http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            .header_read_timeout(config.header_read_timeout)
            .keep_alive(config.keepalive)
            .max_buf_size(max_buf)
            .max_header_size(config.max_header_size)
            .max_headers(config.max_headers)
            .pipeline_flush(config.pipeline_flush);
        let mut http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        http2.timer(TokioTimer::new()).max_header_list_size(u32::try_from(config.max_header_size).unwrap_or(u32::MAX));
        Shared {
            app,
            pool: (config.pool_size > 0).then(|| Semaphore::new(config.pool_size)),
            log: log.map(Arc::new),
            tls,
            auto,
            http1,
            http2,
            protocol: config.protocol,
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
                None => serve_io(&shared, tcp, shared.protocol, Scheme::Http, remote, local, watcher).await,
            }
        }
        #[cfg(unix)]
        Stream::Unix(unix) => serve_io(&shared, unix, shared.protocol, Scheme::Http, None, None, watcher).await,
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
    let activity = Arc::new(AtomicU64::new(0));
    let io = TokioIo::new(Activity { inner: io, ticks: Arc::clone(&activity) });
    let service_shared = Arc::clone(shared);
    let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
        let shared = Arc::clone(&service_shared);
        async move { Ok::<_, Infallible>(handle(&shared, req, scheme, remote, local).await) }
    });
    match protocol {
        Protocol::Auto => {
            let conn = shared.auto.serve_connection(io, service);
            drive(shared, watcher.watch(conn), &activity).await;
        }
        Protocol::Http1 => {
            let conn = shared.http1.serve_connection(io, service);
            drive(shared, watcher.watch(conn), &activity).await;
        }
        Protocol::Http2 => {
            let conn = shared.http2.serve_connection(io, service);
            drive(shared, watcher.watch(conn), &activity).await;
        }
    }
}

/// Runs one request through the app, within the pool.
async fn handle<A: App>(
    shared: &Shared<A>,
    req: http::Request<Incoming>,
    scheme: Scheme,
    remote: Option<SocketAddr>,
    local: Option<SocketAddr>,
) -> Response {
    // Held until the app has answered (the body may stream on after).
    let _permit = match &shared.pool {
        Some(pool) => pool.acquire().await.ok(),
        None => None,
    };
    let mut req = Request::from_http(req.map(Body::from));
    req.set_url_scheme(scheme);
    req.set_remote_addr(remote);
    req.set_local_addr(local);
    let line = shared.log.as_ref().and_then(|format| request_log::start(format, &req));
    let res = match CatchUnwind::new(shared.app.call(req)).await {
        Ok(res) => res,
        Err(payload) => {
            tracing::error!(panic = panic_message(&*payload), "app panicked; answering 500");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    };
    request_log::finish(line, res)
}

/// Drives a connection, closing it when it stays silent: no byte within
/// `header_read_timeout` of the accept, or no byte either way for
/// `client_socket_timeout` (checked every `client_socket_timeout`, so a
/// silent connection lasts between one and two of them).
async fn drive<A, C>(shared: &Shared<A>, conn: C, activity: &AtomicU64)
where
    C: std::future::Future,
{
    tokio::pin!(conn);
    tokio::select! {
        _ = &mut conn => return,
        () = tokio::time::sleep(shared.header_read_timeout) => {
            if activity.load(Ordering::Relaxed) == 0 {
                return tracing::debug!("closing a connection that sent nothing");
            }
        }
    }
    let Some(idle) = shared.client_socket_timeout else {
        conn.await;
        return;
    };
    let mut seen = activity.load(Ordering::Relaxed);
    loop {
        tokio::select! {
            _ = &mut conn => return,
            () = tokio::time::sleep(idle) => {
                let now = activity.load(Ordering::Relaxed);
                if now == seen {
                    return tracing::debug!(timeout = ?idle, "closing a connection idle past client_socket_timeout");
                }
                seen = now;
            }
        }
    }
}

/// Counts reads and writes that moved bytes, for [`drive`]'s silence checks.
struct Activity<S> {
    inner: S,
    ticks: Arc<AtomicU64>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Activity<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.ticks.fetch_add(1, Ordering::Relaxed);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Activity<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.ticks.fetch_add(1, Ordering::Relaxed);
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
            self.ticks.fetch_add(1, Ordering::Relaxed);
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
