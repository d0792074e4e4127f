//! The pooled server against real clients on loopback: the pool bound,
//! timeouts, bad input, panics, graceful shutdown (in process and on
//! SIGTERM), HTTP/1.1 pipelining, h2c, TLS, Unix sockets and the access log.
//! Every wait is bounded by `common::WAIT`.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{TestServer, WAIT, get};
use http_body_util::{BodyExt, Full};
use rsgi::server::{Config, Protocol};
use rsgi::{App, Request, app_fn};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

fn config() -> Config {
    Config { log_format: None, ..Config::default() }
}

/// An app that holds each request until released, counting how many run at once.
#[derive(Clone, Default)]
struct Gate {
    running: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    entered: Arc<Notify>,
    release: Arc<Notify>,
}

impl App for Gate {
    async fn call(&self, req: Request) -> rsgi::Response {
        if req.path_info() == "/fast" {
            return rsgi::IntoResponse::into_response("fast");
        }
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        self.entered.notify_waiters();
        self.release.notified().await;
        self.running.fetch_sub(1, Ordering::SeqCst);
        rsgi::IntoResponse::into_response("released")
    }
}

async fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < WAIT, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_bounds_requests_in_flight_and_idle_connections_hold_no_slot() {
    let gate = Gate::default();
    let server = TestServer::with_config(gate.clone(), Config { pool_size: 4, ..config() }).await;

    // 50 keep-alive connections that each made one request and now sit idle.
    let mut idle = Vec::new();
    for _ in 0..50 {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        s.write_all(b"GET /fast HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 256];
        let n = tokio::time::timeout(WAIT, s.read(&mut buf)).await.unwrap().unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        idle.push(s);
    }

    // Five slow requests: four run, the fifth waits for a slot.
    let url = server.url("/slow");
    let mut slow = Vec::new();
    for _ in 0..5 {
        let url = url.clone();
        slow.push(tokio::spawn(async move { get(&url).await.text() }));
    }
    wait_until("four requests run", || gate.running.load(Ordering::SeqCst) == 4).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(gate.running.load(Ordering::SeqCst), 4, "the fifth request waits");

    // Release one at a time until all five were served.
    for served in 0..5 {
        gate.release.notify_one();
        wait_until("a slow request finishes", || slow.iter().filter(|t| t.is_finished()).count() > served).await;
    }
    for t in slow {
        assert_eq!(t.await.unwrap(), "released");
    }
    assert_eq!(gate.peak.load(Ordering::SeqCst), 4);
    // The idle connections still work (each serves a second request on
    // the same socket), and a new client is served.
    for s in &mut idle {
        assert!(request_on(s, "/fast").await.ends_with("fast"));
    }
    assert_eq!(get(&server.url("/fast")).await.text(), "fast");
    drop(idle);
    server.stop().await;
}

/// Reads until the peer closes; how long that took from `since`, and
/// whether any byte came (a timeout closes without an answer).
async fn until_closed(mut stream: impl tokio::io::AsyncRead + Unpin, since: Instant) -> (Duration, usize) {
    let mut buf = [0u8; 4096];
    let mut got = 0;
    loop {
        match tokio::time::timeout(WAIT, stream.read(&mut buf)).await.expect("closed within WAIT") {
            Ok(0) | Err(_) => return (since.elapsed(), got),
            Ok(n) => got += n,
        }
    }
}

/// Scheduling slack for the upper bounds below (the watchdog's look and
/// the test's own wake-up on a loaded machine).
const SLACK: Duration = Duration::from_millis(400);

/// Asserts `took` is within `[low, high + SLACK)`.
#[track_caller]
fn within(what: &str, took: Duration, low: Duration, high: Duration) {
    assert!(took >= low && took < high + SLACK, "{what}: closed after {took:?}, expected {low:?}..{high:?}");
}

/// A fresh connection that sends nothing is closed, without an answer,
/// between 1 and 1.25 times `header_read_timeout` after the accept (the
/// watchdog looks four times per timeout), for each way of serving: sniffed
/// HTTP/1 or h2, HTTP/1 only, a TLS handshake that never starts, a Unix
/// socket. Other clients are served meanwhile.
#[tokio::test]
async fn a_silent_connection_is_closed_after_the_header_timeout_every_way() {
    let t = Duration::from_millis(800);
    for protocol in [Protocol::Auto, Protocol::Http1] {
        let server = TestServer::with_config(
            app_fn(|_| async { "ok" }),
            Config { header_read_timeout: t, protocol, ..config() },
        )
        .await;
        let start = Instant::now();
        let silent = TcpStream::connect(server.addr).await.unwrap();
        let closed = tokio::spawn(until_closed(silent, start));
        // Slowloris: a head that never ends, a byte every 50 ms.
        let (slow_read, mut slow_write) = TcpStream::connect(server.addr).await.unwrap().into_split();
        let slow_start = Instant::now();
        let slowloris = tokio::spawn(async move {
            for b in b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ".iter().chain(std::iter::repeat(&b'a')) {
                if slow_write.write_all(&[*b]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        for _ in 0..5 {
            assert_eq!(get(&server.url("/")).await.text(), "ok");
        }
        let (took, got) = closed.await.unwrap();
        assert_eq!(got, 0, "{protocol:?}: closed without an answer");
        within(&format!("{protocol:?}"), took, t, t * 5 / 4);
        let (took, got) = until_closed(slow_read, slow_start).await;
        slowloris.abort();
        assert_eq!(got, 0, "{protocol:?}: the slow head gets no answer");
        within(&format!("{protocol:?} slowloris"), took, t, t * 5 / 4);
        server.stop().await;
    }

    // TLS: the handshake is bounded by the same timeout.
    let (_, cert_file, key_file) = self_signed("silent");
    let tls = Config { header_read_timeout: t, cert_file: Some(cert_file), key_file: Some(key_file), ..config() };
    let server = TestServer::with_config(app_fn(|_| async { "ok" }), tls).await;
    let start = Instant::now();
    let (took, got) = until_closed(TcpStream::connect(server.addr).await.unwrap(), start).await;
    assert_eq!(got, 0);
    within("TLS handshake", took, t, t);
    server.stop().await;

    #[cfg(unix)]
    {
        let path = std::env::temp_dir().join(format!("rsgi-silent-{}.sock", std::process::id()));
        let listener = rsgi::server::Listener::bind(&rsgi::server::BindAddr::Unix(path.clone()), 16, false).unwrap();
        let trigger = rsgi::server::Trigger::new();
        let shutdown = trigger.wait();
        let config = Config { header_read_timeout: t, ..config() };
        let task =
            tokio::spawn(
                async move { rsgi::server::serve(listener, &config, app_fn(|_| async { "ok" }), shutdown).await },
            );
        let start = Instant::now();
        let (took, got) = until_closed(tokio::net::UnixStream::connect(&path).await.unwrap(), start).await;
        assert_eq!(got, 0);
        within("Unix socket", took, t, t * 5 / 4);
        trigger.fire();
        tokio::time::timeout(WAIT, task).await.unwrap().unwrap().unwrap();
    }
}

/// Writes one request on `s` and reads its whole response (a
/// `Content-Length` body), leaving the connection open.
async fn request_on(s: &mut TcpStream, path: &str) -> String {
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(WAIT, s.read(&mut buf)).await.expect("a response in time").unwrap();
        assert!(n > 0, "closed before a whole response: {}", String::from_utf8_lossy(&out));
        out.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&out).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len: usize = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
                .unwrap_or(0);
            if body.len() >= len {
                return text;
            }
        }
    }
}

/// After a request, an idle keep-alive connection lives on past
/// `header_read_timeout` and is closed after `client_socket_timeout`
/// (between 1 and 1.5 times it); a head that then starts trickling is cut
/// `header_read_timeout` after its first byte, not after the idle time.
#[tokio::test]
async fn idle_keep_alive_lasts_client_socket_timeout_and_a_later_head_header_read_timeout() {
    let (hrt, cst) = (Duration::from_millis(400), Duration::from_millis(1200));
    let config = Config { header_read_timeout: hrt, client_socket_timeout: Some(cst), ..config() };
    let server = TestServer::with_config(app_fn(|_| async { "ok" }), config).await;

    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    assert!(request_on(&mut idle, "/").await.starts_with("HTTP/1.1 200"));
    let (took, got) = until_closed(idle, Instant::now()).await;
    assert_eq!(got, 0);
    within("idle keep-alive", took, cst, cst * 3 / 2);

    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    assert!(request_on(&mut slow, "/").await.starts_with("HTTP/1.1 200"));
    tokio::time::sleep(hrt * 3 / 2).await;
    // Still open after longer than the header timeout: the same connection
    // serves a second request…
    assert!(request_on(&mut slow, "/").await.starts_with("HTTP/1.1 200"));
    tokio::time::sleep(hrt * 3 / 2).await;
    // …and a head that starts now has `header_read_timeout` to complete.
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let (took, got) = until_closed(slow, Instant::now()).await;
    assert_eq!(got, 0);
    within("a trickling head on a keep-alive connection", took, hrt, hrt * 3 / 2);
    server.stop().await;
}

/// `keepalive = false`: each response says `Connection: close` and the
/// server closes right after it.
#[tokio::test]
async fn without_keepalive_the_server_closes_after_each_response() {
    let server = TestServer::with_config(app_fn(|_| async { "ok" }), Config { keepalive: false, ..config() }).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    let start = Instant::now();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(WAIT, s.read_to_string(&mut out)).await.expect("closed in time").unwrap();
    assert!(out.starts_with("HTTP/1.1 200") && out.to_ascii_lowercase().contains("connection: close"), "{out}");
    assert!(out.ends_with("ok"), "{out}");
    assert!(start.elapsed() < Duration::from_secs(1), "closed at once, not by a timeout: {:?}", start.elapsed());
    server.stop().await;
}

/// A request that never finishes does not hold shutdown up: after
/// `shutdown_timeout` (plus the drain's 10 ms polling) the connection is
/// closed without an answer and `serve` returns.
#[tokio::test]
async fn shutdown_timeout_closes_what_did_not_drain() {
    let gate = Gate::default();
    let t = Duration::from_millis(600);
    let server = TestServer::with_config(gate.clone(), Config { shutdown_timeout: t, ..config() }).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"GET /forever HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    wait_until("the request is in the app", || gate.running.load(Ordering::SeqCst) == 1).await;
    let fired = Instant::now();
    server.trigger.fire();
    tokio::time::timeout(WAIT, server.task).await.expect("serve returns").unwrap().unwrap();
    within("serve after shutdown", fired.elapsed(), t, t);
    let (_, got) = until_closed(s, fired).await;
    assert_eq!(got, 0, "the unfinished request gets no answer");
}

#[tokio::test]
async fn bad_requests_get_4xx_and_the_server_lives_on() {
    for protocol in [Protocol::Auto, Protocol::Http1] {
        let server =
            TestServer::with_config(app_fn(|_| async { "ok" }), Config { max_header_size: 8192, protocol, ..config() })
                .await;
        let malformed = common::raw(server.addr, b"GARBAGE\r\n\r\n").await;
        assert!(malformed.starts_with("HTTP/1.1 400"), "{protocol:?}: {malformed}");
        let big = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(20_000));
        let oversized = common::raw(server.addr, big.as_bytes()).await;
        assert!(oversized.starts_with("HTTP/1.1 431"), "{protocol:?}: {oversized}");
        let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
        let too_many = common::raw(server.addr, format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes()).await;
        assert!(too_many.starts_with("HTTP/1.1 431"), "{protocol:?}: {too_many}");
        assert_eq!(get(&server.url("/")).await.text(), "ok");
        server.stop().await;
    }
}

#[tokio::test]
async fn a_panicking_app_gets_a_500_and_the_next_request_is_fine() {
    let app = app_fn(|req: Request| async move {
        if req.path_info() == "/panic" {
            panic!("app bug");
        }
        "fine"
    });
    let server = TestServer::start(app).await;
    // On one keep-alive connection (a raw socket: it cannot reconnect
    // behind the test's back): the panic costs that request only.
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    for (path, status) in [("/panic", "500"), ("/ok", "200"), ("/panic", "500"), ("/ok", "200")] {
        let res = request_on(&mut s, path).await;
        assert!(res.starts_with(&format!("HTTP/1.1 {status}")), "{path}: {res}");
    }
    server.stop().await;
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let server = TestServer::start(app_fn(|req: Request| async move { req.path_info().to_owned() })).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\n\r\nGET /three HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(WAIT, s.read_to_string(&mut out)).await.unwrap().unwrap();
    let bodies: Vec<&str> =
        out.split("HTTP/1.1 200 OK").skip(1).map(|r| r.rsplit("\r\n\r\n").next().unwrap()).collect();
    assert_eq!(bodies, ["/one", "/two", "/three"]);
    server.stop().await;
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_requests() {
    let gate = Gate::default();
    let server = TestServer::with_config(gate.clone(), config()).await;
    let url = server.url("/slow");
    let in_flight: Vec<_> = (0..3)
        .map(|_| {
            let u = url.clone();
            tokio::spawn(async move { get(&u).await.text() })
        })
        .collect();
    wait_until("three requests run", || gate.running.load(Ordering::SeqCst) == 3).await;
    server.trigger.fire();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // New connections are refused once shutdown started…
    assert!(TcpStream::connect(server.addr).await.is_err(), "the listener is closed");
    // …and the in-flight requests still complete.
    gate.release.notify_waiters();
    for t in in_flight {
        assert_eq!(tokio::time::timeout(WAIT, t).await.unwrap().unwrap(), "released");
    }
    tokio::time::timeout(WAIT, server.task).await.unwrap().unwrap().unwrap();
}

#[tokio::test]
async fn h2c_prior_knowledge() {
    let server = TestServer::start(app_fn(|req: Request| async move { format!("{:?}", req.version()) })).await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<Bytes>>();
    let res = tokio::time::timeout(WAIT, client.get(server.url("/").parse().unwrap())).await.unwrap().unwrap();
    assert_eq!(res.version(), http::Version::HTTP_2);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "HTTP/2.0");
    server.stop().await;
}

/// A self-signed certificate for `localhost`, written as PEM files in a
/// directory of its own (`name` keeps tests apart).
fn self_signed(name: &str) -> (rcgen::CertifiedKey<rcgen::KeyPair>, std::path::PathBuf, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("rsgi-tls-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert_file, key_file) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_file, cert.cert.pem()).unwrap();
    std::fs::write(&key_file, cert.signing_key.serialize_pem()).unwrap();
    (cert, cert_file, key_file)
}

#[tokio::test]
async fn tls_with_alpn_h2_and_http11() {
    use tokio_rustls::rustls::{self, pki_types::ServerName};
    let (cert, cert_file, key_file) = self_signed("alpn");
    let app = app_fn(|req: Request| async move { format!("{} {:?}", req.url_scheme(), req.version()) });
    let server =
        TestServer::with_config(app, Config { cert_file: Some(cert_file), key_file: Some(key_file), ..config() }).await;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    for (alpn, expected) in [(&b"h2"[..], "https HTTP/2.0"), (&b"http/1.1"[..], "https HTTP/1.1")] {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots.clone())
            .with_no_client_auth();
        tls.alpn_protocols = vec![alpn.to_vec()];
        let connector = tokio_rustls::TlsConnector::from(Arc::new(tls));
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let stream = connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await.unwrap();
        let io = hyper_util::rt::TokioIo::new(stream);
        let req = http::Request::get("/").header("host", "localhost").body(Full::<Bytes>::default()).unwrap();
        let res = if alpn == b"h2" {
            let (mut send, conn) =
                hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io).await.unwrap();
            tokio::spawn(conn);
            send.send_request(req).await.unwrap()
        } else {
            let (mut send, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
            tokio::spawn(conn);
            send.send_request(req).await.unwrap()
        };
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, expected);
    }
    server.stop().await;
}

#[cfg(unix)]
#[tokio::test]
async fn unix_socket() {
    let path = std::env::temp_dir().join(format!("rsgi-test-{}.sock", std::process::id()));
    let listener = rsgi::server::Listener::bind(&rsgi::server::BindAddr::Unix(path.clone()), 128, false).unwrap();
    let trigger = rsgi::server::Trigger::new();
    let shutdown = trigger.wait();
    let task = tokio::spawn(async move {
        rsgi::server::serve(listener, &config(), app_fn(|_| async { "over unix" }), shutdown).await
    });
    let mut s = tokio::net::UnixStream::connect(&path).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(WAIT, s.read_to_string(&mut out)).await.unwrap().unwrap();
    assert!(out.starts_with("HTTP/1.1 200") && out.ends_with("over unix"), "{out}");
    trigger.fire();
    tokio::time::timeout(WAIT, task).await.unwrap().unwrap().unwrap();
}

/// The server's own access log (the `log_format` option), in Nova's format.
#[tokio::test(flavor = "current_thread")]
async fn access_log_in_novas_default_format() {
    let (captured, _guard) = common::Captured::start();
    let server =
        TestServer::with_config(app_fn(|_| async { (http::StatusCode::CREATED, "made") }), Config::default()).await;
    let client = common::client();
    let req = http::Request::post(server.url("/v2.1/servers")).body(Full::new(Bytes::from_static(b"{}"))).unwrap();
    let res = client.request(req).await.unwrap();
    let _ = res.into_body().collect().await;
    server.stop().await;
    let log = captured.text();
    let line = log.lines().find(|l| l.contains("status:")).unwrap_or_else(|| panic!("no access line: {log}"));
    let re_prefix = "127.0.0.1 \"POST /v2.1/servers HTTP/1.1\" status: 201 len: 4 time: ";
    assert!(line.trim_start().starts_with(re_prefix), "{line}");
}

/// SIGTERM to a real server process with requests in flight: they all
/// complete, then the process exits 0. The test binary re-runs itself as
/// the server (`RSGI_TEST_CHILD_SERVER` names the port file).
#[cfg(unix)]
#[test]
fn sigterm_drains_in_flight_requests_then_exits_0() {
    if let Ok(port_file) = std::env::var("RSGI_TEST_CHILD_SERVER") {
        return child_server(&port_file, false);
    }
    let replies = sigterm_child("sigterm_drains_in_flight_requests_then_exits_0");
    assert_eq!(replies, vec!["slept"; 4]);
}

/// The same with `per_core`: a runtime per worker, each with its own
/// `SO_REUSEPORT` listener, all drained on one SIGTERM.
#[cfg(unix)]
#[test]
fn per_core_runtimes_serve_then_drain_on_sigterm() {
    if let Ok(port_file) = std::env::var("RSGI_TEST_CHILD_SERVER") {
        return child_server(&port_file, true);
    }
    let replies = sigterm_child("per_core_runtimes_serve_then_drain_on_sigterm");
    assert_eq!(replies, vec!["slept"; 4]);
}

fn sigterm_child(test: &str) -> Vec<String> {
    let port_file = std::env::temp_dir().join(format!("rsgi-child-{}-{test}.port", std::process::id()));
    let _ = std::fs::remove_file(&port_file);
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads", "1"])
        .env("RSGI_TEST_CHILD_SERVER", &port_file)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The child's app prints `entered` as each request enters it.
    let (entered_tx, entered_rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            // The harness prints `test NAME ... ` before the first one, on its line.
            if line.trim_end().ends_with("entered") {
                let _ = entered_tx.send(());
            }
        }
    });
    let start = Instant::now();
    let port: u16 = loop {
        if let Some(p) = std::fs::read_to_string(&port_file).ok().and_then(|s| s.trim().parse().ok()) {
            break p;
        }
        assert!(start.elapsed() < WAIT, "child server did not start");
        std::thread::sleep(Duration::from_millis(20));
    };
    // The port file is written just before binding: wait until it answers.
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < WAIT, "child server did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (replies, status) = rt.block_on(async move {
        let requests: Vec<_> = (0..4)
            .map(|_| tokio::spawn(async move { get(&format!("http://127.0.0.1:{port}/slow")).await.text() }))
            .collect();
        // SIGTERM only once all four are in the app: this tests a drain.
        for n in 0..4 {
            entered_rx.recv_timeout(WAIT).unwrap_or_else(|_| panic!("only {n} requests entered the app"));
        }
        let status = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        assert!(status.success());
        let mut replies = Vec::new();
        for r in requests {
            replies.push(tokio::time::timeout(WAIT, r).await.unwrap().unwrap());
        }
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                break (replies, status);
            }
            assert!(start.elapsed() < WAIT, "the server did not exit");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    assert!(status.success(), "exit status {status:?}");
    let _ = std::fs::remove_file(&port_file);
    replies
}

fn child_server(port_file: &str, per_core: bool) {
    let app = app_fn(|_| async {
        println!("entered");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        "slept"
    });
    if per_core {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        std::fs::write(port_file, port.to_string()).unwrap();
        let config =
            Config { bind: format!("127.0.0.1:{port}").parse().unwrap(), per_core: true, workers: Some(2), ..config() };
        rsgi::server::run(config, app).unwrap();
        return;
    }
    child_server_shared(port_file, app);
}

fn child_server_shared(port_file: &str, app: impl App) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std::fs::write(port_file, listener.local_addr().unwrap().port().to_string()).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        listener.set_nonblocking(true).unwrap();
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        rsgi::server::serve(listener, &config(), app, rsgi::server::shutdown::signal()).await.unwrap();
    });
}
