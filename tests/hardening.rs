//! The server against clients that are slow, half-open or hostile (issue
//! 10): a slow reader gets every byte, half-sent HTTP/2 prefaces are let go
//! at once, a stalled HTTP/2 window is bounded and timed out, trickling
//! uploads get `408` without exhausting the pool, and heads RFC 9112 makes
//! a `400` (Host, repeated `chunked`) are refused. Real sockets on
//! loopback; every wait is bounded.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{TestServer, WAIT, get};
use http_body_util::{BodyExt, Full};
use rsgi::server::Config;
use rsgi::{App, Request, app_fn};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn config() -> Config {
    Config { log_format: None, ..Config::default() }
}

/// Server-side sockets of `port` that are not closed yet (established or
/// waiting for the server to close), read from `/proc/net/tcp`.
fn open_server_sockets(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let port = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // local address, remote address, state: 01 ESTABLISHED, 08 CLOSE_WAIT.
            fields.len() > 3 && fields[1].ends_with(&port) && matches!(fields[3], "01" | "08")
        })
        .count()
}

/// Reads a whole HTTP/1.1 response of `len` body bytes slowly (`chunk`
/// bytes every `pause`) on a socket with a small receive buffer; returns
/// the body bytes received before the end or the server's close.
async fn slow_read(addr: std::net::SocketAddr, request: &[u8], chunk: usize, pause: Duration) -> (String, usize) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(16 * 1024).unwrap();
    let mut s = socket.connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut head = Vec::new();
    let mut buf = vec![0u8; chunk];
    let mut body = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "the slow read took too long");
        let n = match tokio::time::timeout(WAIT, s.read(&mut buf)).await.expect("a byte within WAIT") {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(end) = (body == 0).then(|| find_head_end(&head, &buf[..n])).flatten() {
            head.extend_from_slice(&buf[..end]);
            body += n - end;
        } else if body == 0 && !head.ends_with(b"\r\n\r\n") {
            head.extend_from_slice(&buf[..n]);
        } else {
            body += n;
        }
        tokio::time::sleep(pause).await;
    }
    (String::from_utf8_lossy(&head).into_owned(), body)
}

/// Where the head ends within `more`, given the head bytes so far.
fn find_head_end(head: &[u8], more: &[u8]) -> Option<usize> {
    let mut all = head.to_vec();
    all.extend_from_slice(more);
    let at = all.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    at.checked_sub(head.len())
}

/// A client reading a 10 MB response at about 1.6 MB/s, with every timeout
/// at 2 s: it gets every byte, although the app answered at once and the
/// read outlasts every timeout. (Before: the connection was closed as idle
/// one timeout after the app returned.) The timeouts are not shorter
/// because `send_timeout` counts from the last write the socket took, and
/// the kernel wakes a blocked writer only when a third of its send buffer
/// (up to 4 MiB) has drained: about 0.9 s at this rate.
#[tokio::test]
async fn a_slow_reader_gets_every_byte() {
    const LEN: usize = 10 * 1024 * 1024;
    let body = Bytes::from(vec![b'x'; LEN]);
    let app = app_fn(move |_| {
        let body = body.clone();
        async move { body }
    });
    let t = Duration::from_secs(2);
    let server = TestServer::with_config(
        app,
        Config { header_read_timeout: t, client_socket_timeout: Some(t), send_timeout: t, ..config() },
    )
    .await;
    let start = Instant::now();
    let (head, got) =
        slow_read(server.addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 16 * 1024, Duration::from_millis(10)).await;
    let took = start.elapsed();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(got, LEN, "bytes delivered to the slow reader (after {took:?})");
    assert!(took > t * 2, "the read was slow enough to outlast the timeouts: {took:?}");
    server.stop().await;
}

/// A client that stops reading is cut off after `send_timeout` (between 1
/// and 1.5 times it, plus scheduling slack), and the access log says the
/// response was incomplete, with fewer bytes than the body.
#[tokio::test(flavor = "current_thread")]
async fn a_reader_that_stops_is_timed_out_and_logged_incomplete() {
    const LEN: usize = 32 * 1024 * 1024;
    let (captured, _guard) = common::Captured::start();
    let body = Bytes::from(vec![b'y'; LEN]);
    let app = app_fn(move |_| {
        let body = body.clone();
        async move { body }
    });
    let t = Duration::from_millis(800);
    let server = TestServer::with_config(app, Config { send_timeout: t, ..Config::default() }).await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(16 * 1024).unwrap();
    let mut s = socket.connect(server.addr).await.unwrap();
    s.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut first = [0u8; 1024];
    let _ = s.read(&mut first).await.unwrap();
    let stopped = Instant::now();
    // Not reading: the socket buffers fill, the server's writes block.
    while server_sockets_open(server.addr.port()) && stopped.elapsed() < WAIT {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let closed_after = stopped.elapsed();
    assert!(closed_after >= t && closed_after < t * 3 / 2 + Duration::from_millis(700), "{closed_after:?}");
    drop(s);
    server.stop().await;
    let log = captured.text();
    let line = log.lines().find(|l| l.contains("GET /big")).unwrap_or_else(|| panic!("no access line: {log}"));
    assert!(line.ends_with("(incomplete)"), "{line}");
    let len: usize = line.split("len: ").nth(1).and_then(|r| r.split(' ').next()).unwrap().parse().unwrap();
    assert!(len < LEN, "{line}");
}

fn server_sockets_open(port: u16) -> bool {
    open_server_sockets(port) > 0
}

/// 300 connections that send the first line of the HTTP/2 preface and
/// close: the server lets each go at once (before: it kept them, peeking
/// every 2 ms, until the header timeout), and serves others meanwhile.
#[tokio::test]
async fn half_sent_h2_prefaces_are_let_go_at_once() {
    let server = TestServer::with_config(
        app_fn(|_| async { "ok" }),
        Config { header_read_timeout: Duration::from_secs(20), ..config() },
    )
    .await;
    let port = server.addr.port();
    let mut held = Vec::new();
    for _ in 0..300 {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        s.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
        held.push(s);
    }
    // Half-open prefaces wait for the rest of the preface (not closed early)…
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(open_server_sockets(port) >= 300, "the server holds the half-open prefaces while they are open");
    drop(held);
    // …and are released as soon as their clients close.
    let start = Instant::now();
    while open_server_sockets(port) > 0 {
        assert!(start.elapsed() < Duration::from_secs(3), "{} server sockets still open", open_server_sockets(port));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(get(&server.url("/")).await.text(), "ok");
    // A preface split across packets still gets HTTP/2.
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    s.write_all(b"\r\nSM\r\n\r\n").await.unwrap();
    s.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await.unwrap(); // an empty SETTINGS frame
    let mut frame = [0u8; 9];
    tokio::time::timeout(WAIT, s.read_exact(&mut frame)).await.unwrap().unwrap();
    assert_eq!(frame[3], 4, "the server answers with its SETTINGS frame");
    drop(s);
    server.stop().await;
}

/// An app that counts the requests it is running.
#[derive(Clone)]
struct Big {
    running: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    body: Bytes,
}

impl App for Big {
    async fn call(&self, _req: Request) -> rsgi::Response {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        self.running.fetch_sub(1, Ordering::SeqCst);
        rsgi::IntoResponse::into_response(self.body.clone())
    }
}

/// An HTTP/2 client with a zero receive window asks for 300 1 MB responses
/// on one connection: at most `h2_max_concurrent_streams` are open at once,
/// and the connection is closed `send_timeout` after its window stalled
/// (before: every stream was accepted and held forever).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_h2_window_is_bounded_and_timed_out() {
    let app = Big { running: Arc::default(), peak: Arc::default(), body: Bytes::from(vec![b'z'; 1 << 20]) };
    let t = Duration::from_millis(800);
    let server =
        TestServer::with_config(app.clone(), Config { send_timeout: t, h2_max_concurrent_streams: 50, ..config() })
            .await;
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let (send, conn) = hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
        .initial_stream_window_size(0)
        .handshake::<_, Full<Bytes>>(hyper_util::rt::TokioIo::new(tcp))
        .await
        .unwrap();
    let started = Instant::now();
    let conn = tokio::spawn(conn);
    let mut streams = Vec::new();
    for _ in 0..300 {
        let mut send = send.clone();
        streams.push(tokio::spawn(async move {
            let req = http::Request::get("http://x/big").body(Full::default()).unwrap();
            match send.send_request(req).await {
                Ok(res) => res.into_body().collect().await.map(|b| b.to_bytes().len()).ok(),
                Err(_) => None,
            }
        }));
    }
    let ended = tokio::time::timeout(WAIT, conn).await.expect("the server closes the stalled connection");
    let closed_after = started.elapsed();
    let _ = ended;
    for s in streams {
        assert_eq!(tokio::time::timeout(WAIT, s).await.unwrap().unwrap(), None, "no body completes");
    }
    assert!(closed_after >= t && closed_after < t * 3 / 2 + Duration::from_millis(700), "{closed_after:?}");
    assert!(app.peak.load(Ordering::SeqCst) <= 50, "peak {}", app.peak.load(Ordering::SeqCst));
    assert_eq!(get(&server.url("/")).await.status, 200, "the server serves on");
    server.stop().await;
}

/// Sends a `POST` head declaring `declared` bytes, then `first` bytes at
/// once, then a byte every `pause`; returns the response (or what arrived
/// before the close) and when it came.
async fn trickle(addr: std::net::SocketAddr, declared: usize, first: usize, pause: Duration) -> (String, Duration) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {declared}\r\n\r\n");
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&vec![b'a'; first]).await.unwrap();
    let start = Instant::now();
    let (mut read, mut write) = s.into_split();
    let writer = tokio::spawn(async move {
        loop {
            tokio::time::sleep(pause).await;
            if write.write_all(b"a").await.is_err() {
                return;
            }
        }
    });
    let mut out = Vec::new();
    let _ = tokio::time::timeout(WAIT, read.read_to_end(&mut out)).await;
    let took = start.elapsed();
    writer.abort();
    (String::from_utf8_lossy(&out).into_owned(), took)
}

/// R.U.D.Y.: uploads that send a byte every 50 ms get `408` once the
/// grace period (`body_read_timeout`) is over and they are below
/// `body_min_rate`; meanwhile they hold no pool slot while their body fits
/// the read-ahead, so the API serves others with a pool of one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickling_uploads_get_408_and_do_not_exhaust_the_pool() {
    let app = app_fn(|req: Request| async move {
        let mut req = req;
        let len = req.take_body().collect_bytes().await.map(|b| b.len()).unwrap_or(0);
        format!("read {len}")
    });
    let t = Duration::from_millis(800);
    let server = TestServer::with_config(
        app,
        Config { pool_size: 1, body_read_timeout: t, body_min_rate: 1000, body_buffer_size: 4096, ..config() },
    )
    .await;
    let addr = server.addr;
    // Four small trickling bodies: none takes the only slot.
    let small: Vec<_> = (0..4).map(|_| tokio::spawn(trickle(addr, 2000, 10, Duration::from_millis(50)))).collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let served = Instant::now();
    let reply =
        common::send(http::Request::post(server.url("/upload")).body(Full::new(Bytes::from_static(b"hello"))).unwrap())
            .await;
    assert_eq!(reply.text(), "read 5");
    assert!(served.elapsed() < t / 2, "served while the uploads trickle: {:?}", served.elapsed());
    for task in small {
        let (res, took) = task.await.unwrap();
        assert!(res.starts_with("HTTP/1.1 408"), "{res}");
        assert!(took >= t && took < t * 3 / 2 + Duration::from_millis(500), "{took:?}");
    }
    // A large body takes the slot after its read-ahead, then trickles: 408
    // too, once its average falls below 1,000 B/s — with 4,096 bytes up
    // front and 20 B/s after, at 4096 / (1000 - 20) = 4.18 s — and the slot
    // is free again afterwards.
    let (res, took) = trickle(addr, 100_000, 4096, Duration::from_millis(50)).await;
    assert!(res.starts_with("HTTP/1.1 408"), "{res}");
    assert!(took >= Duration::from_millis(4000) && took < Duration::from_millis(5000), "{took:?}");
    // A body that stops altogether: 408 after `body_read_timeout`.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc").await.unwrap();
    let stopped = Instant::now();
    let mut out = String::new();
    tokio::time::timeout(WAIT, s.read_to_string(&mut out)).await.unwrap().unwrap();
    assert!(out.starts_with("HTTP/1.1 408"), "{out}");
    assert!(stopped.elapsed() >= t && stopped.elapsed() < t * 3 / 2 + Duration::from_millis(500));
    assert_eq!(get(&server.url("/")).await.text(), "read 0");
    server.stop().await;
}

/// RFC 9112 §3.2: HTTP/1.1 without `Host`, two `Host` lines or an invalid
/// host get `400` and the connection is closed; HTTP/1.0 may omit it.
#[tokio::test]
async fn host_headers_as_rfc_9112_requires() {
    let server = TestServer::start(app_fn(|_| async { "ok" })).await;
    for (raw, expect) in [
        (&b"GET / HTTP/1.1\r\n\r\n"[..], "HTTP/1.1 400"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "HTTP/1.1 400"),
        (b"GET / HTTP/1.1\r\nHost: a b/c\r\n\r\n", "HTTP/1.1 400"),
        (b"GET / HTTP/1.0\r\n\r\n", "HTTP/1.0 200"),
        (b"GET / HTTP/1.1\r\nHost: [::1]:8774\r\nConnection: close\r\n\r\n", "HTTP/1.1 200"),
        (b"GET / HTTP/1.1\r\nHost: nova-api.example:8774\r\nConnection: close\r\n\r\n", "HTTP/1.1 200"),
    ] {
        let out = common::raw(server.addr, raw).await;
        assert!(out.starts_with(expect), "{}: {out}", String::from_utf8_lossy(raw));
    }
    server.stop().await;
}

/// RFC 9112 §6.1: `chunked` applied twice is a `400`, and the bytes after
/// it are never read as another request (a front proxy may frame them
/// differently: smuggling).
#[tokio::test]
async fn chunked_applied_twice_is_refused_and_nothing_after_it_is_served() {
    let served = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&served);
    let server = TestServer::start(app_fn(move |_| {
        count.fetch_add(1, Ordering::SeqCst);
        async { "ok" }
    }))
    .await;
    let out = common::raw(
        server.addr,
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity, chunked, identity, chunked\r\n\r\n\
          0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    assert_eq!(out.matches("HTTP/1.1").count(), 1, "one answer, then the connection is closed: {out}");
    let out = common::raw(
        server.addr,
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    assert_eq!(served.load(Ordering::SeqCst), 0, "the app saw none of them");
    server.stop().await;
}
