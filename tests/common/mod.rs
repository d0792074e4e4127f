//! Helpers shared by the integration tests: a real server on
//! `127.0.0.1:0` and real HTTP clients.
#![allow(dead_code, unreachable_pub)] // each test binary uses a different part

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rsgi::App;
use rsgi::server::{Config, Trigger};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// Bound for every wait in a test: nothing here should take long.
pub const WAIT: Duration = Duration::from_secs(10);

/// A server running in the background of the test's runtime.
pub struct TestServer {
    pub addr: SocketAddr,
    pub trigger: Trigger,
    pub task: JoinHandle<Result<(), rsgi::server::ServerError>>,
}

impl TestServer {
    /// Serves `app` with test settings (no access log unless asked).
    pub async fn start<A: App>(app: A) -> Self {
        Self::with_config(app, Config { log_format: None, ..Config::default() }).await
    }

    pub async fn with_config<A: App>(app: A, config: Config) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let trigger = Trigger::new();
        let shutdown = trigger.wait();
        let task = tokio::spawn(async move { rsgi::server::serve(listener, &config, app, shutdown).await });
        TestServer { addr, trigger, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Fires shutdown and waits for the server to drain.
    pub async fn stop(self) {
        self.trigger.fire();
        tokio::time::timeout(WAIT, self.task).await.expect("server stops in time").expect("join").expect("serve");
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

pub fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Sends `req` with hyper's client and reads the whole response.
pub async fn send(req: http::Request<Full<Bytes>>) -> Reply {
    let fut = async {
        let res = client().request(req).await.expect("request");
        let (parts, body) = res.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        Reply { status: parts.status.as_u16(), headers: parts.headers, body }
    };
    tokio::time::timeout(WAIT, fut).await.expect("response in time")
}

pub async fn get(url: &str) -> Reply {
    send(http::Request::get(url).body(Full::default()).unwrap()).await
}

pub async fn get_with(url: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = http::Request::get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    send(req.body(Full::default()).unwrap()).await
}

/// Writes `raw` bytes on a fresh connection and reads until the server
/// closes it (or `WAIT`), returning everything read.
pub async fn raw(addr: SocketAddr, raw: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(raw).await.expect("write");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(WAIT, stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// An app answering JSON with what it saw, like `oracle_apps.py`'s echo.
pub fn echo(name: &'static str) -> impl App + Clone {
    rsgi::app_fn(move |req: rsgi::Request| async move {
        rsgi::Json(serde_json::json!({
            "app": name,
            "SCRIPT_NAME": req.script_name(),
            "PATH_INFO": req.path_info(),
            "url_scheme": req.url_scheme().as_str(),
            "host": req.host(),
        }))
    })
}

/// What tracing writes on the current thread (tests using it run on a
/// current-thread runtime, so the server logs under the same subscriber).
#[derive(Clone, Default)]
pub struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Starts capturing plain lines (no time, level, target or colours).
    pub fn start() -> (Self, tracing::subscriber::DefaultGuard) {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .without_time()
            .with_level(false)
            .with_target(false)
            .finish();
        (captured, tracing::subscriber::set_default(subscriber))
    }

    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}
