//! The pooled server: Nova's `wsgi.Server` (eventlet's `GreenPool`) on
//! tokio + hyper.
//!
//! - **pool**: at most [`Config::pool_size`] requests run at once; the rest
//!   wait for a slot, none is refused. A slot is taken per *request*, not per
//!   connection, so idle keep-alive connections never hold one (eventlet's
//!   pool counts connections: with 5,000 keep-alive clients it serves 1,000).
//! - **timeouts** measure lack of progress, never the age of a request or
//!   a response: a request head must be complete within
//!   [`Config::header_read_timeout`] (of the accept, or of its first byte on
//!   a keep-alive connection); an idle keep-alive connection is closed after
//!   [`Config::client_socket_timeout`]; a response the client stops taking
//!   after [`Config::send_timeout`] (a slow reader that keeps reading gets
//!   every byte); a request body that stalls or trickles gets `408` (see
//!   [`Config::body_read_timeout`], [`Config::body_min_rate`]). Each fires
//!   between 1 and 1.5 times its length after the last progress.
//! - **what one connection can hold**: one request at a time in the app per
//!   HTTP/1 connection (pipelined requests wait unread), at most
//!   [`Config::h2_max_concurrent_streams`] streams per HTTP/2 connection;
//!   request bodies are read ahead up to [`Config::body_buffer_size`]
//!   before a pool slot is taken, so trickling uploads cannot exhaust the
//!   pool.
//! - **bad input**: malformed requests get `400`, oversized heads `431`
//!   (hyper), a panicking app `500` for that request only.
//! - **protocols**: HTTP/1.1 with pipelining, HTTP/2 (h2c prior knowledge,
//!   or ALPN over TLS), TLS with rustls, TCP or Unix sockets.
//! - **shutdown**: stop accepting, let in-flight requests finish (bounded
//!   by [`Config::shutdown_timeout`]), close.
//!
//! # Examples
//!
//! ```no_run
//! use rsgi::server::{BindAddr, Config};
//! use rsgi::app_fn;
//!
//! fn main() -> std::io::Result<()> {
//!     let config = Config { bind: "127.0.0.1:8774".parse::<BindAddr>().unwrap(), ..Config::default() };
//!     rsgi::server::run(config, app_fn(|_| async { "hello" }))
//! }
//! ```

mod connection;
mod listener;
mod pool;
mod request_body;
pub mod shutdown;
mod tls;
mod watchdog;

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use listener::{BindAddr, Listener};
pub use shutdown::Trigger;

use crate::app::App;
use crate::filters::request_log::{LogFormat, NOVA_LOG_FORMAT};

/// Which HTTP versions a connection may speak.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1 and HTTP/2 (sniffed from the first bytes, or ALPN with TLS).
    #[default]
    Auto,
    /// HTTP/1.x only: no sniffing of the connection preface.
    Http1,
    /// HTTP/2 only (h2c prior knowledge, or h2 over TLS).
    Http2,
}

/// Server settings, each with Nova's default where Nova has one.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where to listen. Default `0.0.0.0:8774` (Nova's `osapi_compute_listen_port`).
    pub bind: BindAddr,
    /// At most this many requests in flight at once; the rest wait. Default
    /// 1000 (Nova's `wsgi_default_pool_size`).
    pub pool_size: usize,
    /// The listen backlog. Default 4096 (Nova's `backlog`).
    pub backlog: u32,
    /// Set `TCP_NODELAY` on accepted sockets. Default `true`.
    pub tcp_nodelay: bool,
    /// HTTP/1 keep-alive. Default `true` (Nova's `wsgi_keep_alive`).
    pub keepalive: bool,
    /// Close an idle keep-alive connection after this long without a
    /// request, and a connection whose request is in the app with no byte
    /// moving either way for this long; `None` waits forever. Default 900 s
    /// (Nova's `client_socket_timeout`).
    pub client_socket_timeout: Option<Duration>,
    /// Time allowed for a whole request head: from the accept for the first
    /// one, from its first byte for the next ones on a keep-alive
    /// connection (slowloris protection). Default 30 s.
    pub header_read_timeout: Duration,
    /// Close a connection whose response makes no progress for this long:
    /// on HTTP/1 the socket takes no byte, on HTTP/2 no body data is sent
    /// (a client that keeps its flow-control window closed). A slow reader
    /// that keeps reading is never cut off. Default 60 s (nginx's
    /// `send_timeout`).
    pub send_timeout: Duration,
    /// A request body that sends no byte for this long, or, after this
    /// long, averages less than [`Config::body_min_rate`], gets `408` and
    /// the connection is closed. Default 30 s.
    pub body_read_timeout: Duration,
    /// The lowest average request-body rate, in bytes per second, once
    /// `body_read_timeout` has passed (a trickling upload); 0 for none.
    /// Default 500 (Apache `mod_reqtimeout`'s `MinRate`).
    pub body_min_rate: u64,
    /// Bytes of a request body read before the request takes a pool slot:
    /// a body this small is complete before the app runs, so a client that
    /// trickles it holds no slot. Default 65536.
    pub body_buffer_size: usize,
    /// Most streams one HTTP/2 connection may have open at once. Default
    /// 100.
    pub h2_max_concurrent_streams: usize,
    /// Largest request head accepted, in bytes; larger gets `431`. Default
    /// 16384 (Nova's `max_header_line`, eventlet's limit per line).
    pub max_header_size: usize,
    /// Most header fields accepted; more gets `431`. Default 100.
    pub max_headers: usize,
    /// HTTP versions spoken. Default [`Protocol::Auto`].
    pub protocol: Protocol,
    /// HTTP/1 pipelining: flush the responses to pipelined requests in
    /// batches. Default `false`: pipelined requests are answered either way,
    /// and with hyper 1.12 this option makes hyper drop its own `400`
    /// answers to malformed requests (measured by `tests/server.rs`).
    pub pipeline_flush: bool,
    /// Access-log format (eventlet's `log_format`); `None` logs nothing.
    /// Default Nova's `wsgi_log_format`. Lines go to the `rsgi::access`
    /// tracing target.
    pub log_format: Option<String>,
    /// PEM certificate chain; with `key_file`, serve TLS. Default none.
    pub cert_file: Option<PathBuf>,
    /// PEM private key for `cert_file`.
    pub key_file: Option<PathBuf>,
    /// Runtime worker threads for [`run`]; `None`: one per core.
    pub workers: Option<usize>,
    /// Set `SO_REUSEPORT`, so that several processes can share the port
    /// behind one address. Default `false`.
    pub reuse_port: bool,
    /// [`run`] starts one single-threaded runtime per worker, each with its
    /// own `SO_REUSEPORT` listener on `bind` (the kernel spreads the
    /// connections), instead of one work-stealing runtime. Each runtime has
    /// `pool_size / workers` (rounded up) request slots. TCP only. Default
    /// `false`.
    pub per_core: bool,
    /// How long shutdown waits for in-flight requests. Default 60 s (Nova's
    /// `graceful_shutdown_timeout`).
    pub shutdown_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: BindAddr::Tcp(([0, 0, 0, 0], 8774).into()),
            pool_size: 1000,
            backlog: 4096,
            tcp_nodelay: true,
            keepalive: true,
            client_socket_timeout: Some(Duration::from_secs(900)),
            header_read_timeout: Duration::from_secs(30),
            send_timeout: Duration::from_secs(60),
            body_read_timeout: Duration::from_secs(30),
            body_min_rate: 500,
            body_buffer_size: 65536,
            h2_max_concurrent_streams: 100,
            max_header_size: 16384,
            max_headers: 100,
            protocol: Protocol::Auto,
            pipeline_flush: false,
            log_format: Some(NOVA_LOG_FORMAT.to_owned()),
            cert_file: None,
            key_file: None,
            workers: None,
            reuse_port: false,
            per_core: false,
            shutdown_timeout: Duration::from_secs(60),
        }
    }
}

impl Config {
    /// The option names [`Config::set`] accepts (with `_`; a flag may
    /// spell them with `-`).
    pub const OPTIONS: &'static [&'static str] = &[
        "bind",
        "pool_size",
        "backlog",
        "tcp_nodelay",
        "keepalive",
        "client_socket_timeout",
        "header_read_timeout",
        "send_timeout",
        "body_read_timeout",
        "body_min_rate",
        "body_buffer_size",
        "h2_max_concurrent_streams",
        "max_header_size",
        "max_headers",
        "protocol",
        "pipeline_flush",
        "log_format",
        "cert_file",
        "key_file",
        "workers",
        "reuse_port",
        "per_core",
        "shutdown_timeout",
    ];

    /// Sets one option by its name, as written in a `[server:main]` section
    /// or as a command-line flag without the dashes (`-` and `_` are the
    /// same): `bind`, `pool_size`, `backlog`, `tcp_nodelay`, `keepalive`,
    /// `client_socket_timeout` (seconds, `0` for none), `header_read_timeout`
    /// (seconds), `send_timeout` (seconds), `body_read_timeout` (seconds),
    /// `body_min_rate` (bytes/s), `body_buffer_size`,
    /// `h2_max_concurrent_streams`, `max_header_size`, `max_headers`, `protocol`
    /// (`auto`/`http1`/`http2`), `pipeline_flush`, `log_format` (empty for
    /// none), `cert_file`, `key_file`, `workers`, `reuse_port`,
    /// `shutdown_timeout` (seconds), `per_core`. Returns `Ok(false)` for a name that is
    /// not a server option.
    ///
    /// # Errors
    ///
    /// A value that does not parse, with the option's name in the message.
    ///
    /// # Examples
    ///
    /// ```
    /// use rsgi::server::Config;
    ///
    /// let mut config = Config::default();
    /// assert!(config.set("pool-size", "4")?);
    /// assert_eq!(config.pool_size, 4);
    /// assert!(!config.set("use", "egg:rsgi#main")?);
    /// assert_eq!(config.set("backlog", "lots").unwrap_err(), "`backlog`: expected a number, got `lots`");
    /// # Ok::<(), String>(())
    /// ```
    pub fn set(&mut self, name: &str, value: &str) -> Result<bool, String> {
        let key = name.replace('-', "_");
        let num = |v: &str| v.trim().parse::<u64>().map_err(|_| format!("`{key}`: expected a number, got `{v}`"));
        let flag = |v: &str| match v.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Ok(true),
            "false" | "no" | "off" | "0" => Ok(false),
            _ => Err(format!("`{key}`: expected true or false, got `{v}`")),
        };
        let secs = |v: &str| num(v).map(Duration::from_secs);
        let size = |v: &str| num(v).map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        match key.as_str() {
            "bind" => self.bind = value.parse()?,
            "pool_size" => self.pool_size = size(value)?,
            "backlog" => self.backlog = u32::try_from(num(value)?).unwrap_or(u32::MAX),
            "tcp_nodelay" => self.tcp_nodelay = flag(value)?,
            "keepalive" => self.keepalive = flag(value)?,
            "client_socket_timeout" => self.client_socket_timeout = Some(secs(value)?).filter(|d| !d.is_zero()),
            "header_read_timeout" => self.header_read_timeout = secs(value)?,
            "send_timeout" => self.send_timeout = secs(value)?,
            "body_read_timeout" => self.body_read_timeout = secs(value)?,
            "body_min_rate" => self.body_min_rate = num(value)?,
            "body_buffer_size" => self.body_buffer_size = size(value)?,
            "h2_max_concurrent_streams" => self.h2_max_concurrent_streams = size(value)?,
            "max_header_size" => self.max_header_size = size(value)?,
            "max_headers" => self.max_headers = size(value)?,
            "protocol" => {
                self.protocol = match value.trim() {
                    "auto" => Protocol::Auto,
                    "http1" => Protocol::Http1,
                    "http2" => Protocol::Http2,
                    v => return Err(format!("`protocol`: expected `auto`, `http1` or `http2`, got `{v}`")),
                }
            }
            "pipeline_flush" => self.pipeline_flush = flag(value)?,
            "log_format" => self.log_format = Some(value.to_owned()).filter(|v| !v.is_empty()),
            "cert_file" => self.cert_file = Some(PathBuf::from(value)),
            "key_file" => self.key_file = Some(PathBuf::from(value)),
            "workers" => self.workers = Some(size(value)?).filter(|&n| n > 0),
            "reuse_port" => self.reuse_port = flag(value)?,
            "per_core" => self.per_core = flag(value)?,
            "shutdown_timeout" => self.shutdown_timeout = secs(value)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Applies `--name value` / `--name=value` command-line flags (names as
    /// in [`Config::set`]) and returns the arguments that are not server
    /// options, in order.
    ///
    /// # Errors
    ///
    /// A bad value, or a server flag without a value.
    pub fn apply_args(&mut self, args: impl IntoIterator<Item = String>) -> Result<Vec<String>, String> {
        let mut rest = Vec::new();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let Some(flag) = arg.strip_prefix("--") else {
                rest.push(arg);
                continue;
            };
            let (name, inline) = match flag.split_once('=') {
                Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
                None => (flag.to_owned(), None),
            };
            if !Config::OPTIONS.contains(&name.replace('-', "_").as_str()) {
                rest.push(arg);
                continue;
            }
            let value = match inline {
                Some(v) => v,
                None => args.next().ok_or_else(|| format!("`--{name}` needs a value"))?,
            };
            self.set(&name, &value)?;
        }
        Ok(rest)
    }
}

/// Why the server could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServerError {
    /// Binding or accepting failed.
    Io(io::Error),
    /// The `log_format` setting is invalid.
    LogFormat(crate::filters::request_log::LogFormatError),
    /// The TLS certificate or key could not be loaded.
    Tls(String),
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServerError::Io(e) => write!(f, "{e}"),
            ServerError::LogFormat(e) => write!(f, "invalid `log_format`: {e}"),
            ServerError::Tls(e) => write!(f, "TLS: {e}"),
        }
    }
}

impl std::error::Error for ServerError {}

impl From<io::Error> for ServerError {
    fn from(e: io::Error) -> Self {
        ServerError::Io(e)
    }
}

impl From<ServerError> for io::Error {
    fn from(e: ServerError) -> Self {
        match e {
            ServerError::Io(e) => e,
            other => io::Error::new(io::ErrorKind::InvalidInput, other.to_string()),
        }
    }
}

/// Serves `app` on an already bound `listener` until `shutdown` resolves,
/// then drains in-flight requests (at most `config.shutdown_timeout`).
///
/// `config.bind`, `backlog`, `reuse_port` and `workers` are not used here:
/// the caller bound the listener and owns the runtime, which makes tests on
/// `127.0.0.1:0` simple.
///
/// # Errors
///
/// An invalid `log_format` or TLS setting. Accept errors are logged and
/// retried, never returned.
pub async fn serve<A: App>(
    listener: impl Into<Listener>,
    config: &Config,
    app: A,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    let listener = listener.into();
    let log = match &config.log_format {
        Some(f) => Some(LogFormat::parse(f).map_err(ServerError::LogFormat)?),
        None => None,
    };
    let tls = tls::acceptor(config)?;
    let shared = Arc::new(connection::Shared::new(app, config, log, tls));
    connection::accept_loop(listener, shared, shutdown).await;
    Ok(())
}

/// Builds a runtime with `config.workers` threads, binds `config.bind`, and
/// serves `app` until SIGTERM or SIGINT, then drains and returns.
///
/// # Errors
///
/// Binding fails, or a setting is invalid.
pub fn run<A: App>(config: Config, app: A) -> io::Result<()> {
    if config.per_core {
        return run_per_core(config, app);
    }
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = config.workers {
        rt.worker_threads(n.max(1));
    }
    let rt = rt.enable_all().build()?;
    rt.block_on(async move {
        let listener = Listener::bind(&config.bind, config.backlog, config.reuse_port)?;
        tracing::info!(bind = %config.bind, pool_size = config.pool_size, "rsgi listening");
        serve(listener, &config, app, shutdown::signal()).await?;
        Ok(())
    })
}

/// [`run`] with [`Config::per_core`]: one current-thread runtime and one
/// `SO_REUSEPORT` listener per worker, all stopped by one signal.
fn run_per_core<A: App>(config: Config, app: A) -> io::Result<()> {
    let BindAddr::Tcp(addr) = config.bind else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "`per_core` needs a TCP `bind` address"));
    };
    if addr.port() == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "`per_core` needs a fixed port (each runtime binds it)",
        ));
    }
    let workers = config.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
    let mut each = config.clone();
    each.pool_size = config.pool_size.div_ceil(workers);
    each.reuse_port = true;
    // Checked once up front so that a bad setting is one error, not one per runtime.
    if let Some(f) = &each.log_format {
        crate::filters::request_log::LogFormat::parse(f).map_err(ServerError::LogFormat)?;
    }
    let app = Arc::new(app);
    let trigger = Trigger::new();
    let mut threads = Vec::with_capacity(workers);
    for i in 0..workers {
        let (each, app, stop) = (each.clone(), Arc::clone(&app), trigger.wait());
        let thread =
            std::thread::Builder::new().name(format!("rsgi-worker-{i}")).spawn(move || -> io::Result<()> {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
                rt.block_on(async move {
                    let listener = Listener::bind(&each.bind, each.backlog, true)?;
                    serve(listener, &each, app, stop).await?;
                    Ok(())
                })
            })?;
        threads.push(thread);
    }
    tracing::info!(bind = %config.bind, workers, pool_size = config.pool_size, "rsgi listening (a runtime per core)");
    let signals = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let stopped = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watch_threads = {
        let stopped = Arc::clone(&stopped);
        let trigger = trigger.clone();
        std::thread::Builder::new().name("rsgi-signals".to_owned()).spawn(move || {
            signals.block_on(async {
                tokio::select! {
                    () = shutdown::signal() => {}
                    () = async {
                        while !stopped.load(std::sync::atomic::Ordering::Acquire) {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    } => {}
                }
            });
            trigger.fire();
        })?
    };
    let mut result = Ok(());
    for thread in threads {
        let outcome = thread.join().unwrap_or_else(|_| Err(io::Error::other("a worker runtime panicked")));
        if outcome.is_err() {
            // One runtime failed (it could not bind, say): stop the others.
            trigger.fire();
            if result.is_ok() {
                result = outcome;
            }
        }
    }
    stopped.store(true, std::sync::atomic::Ordering::Release);
    let _ = watch_threads.join();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `OPTIONS` and the arms of `Config::set` name the same options, and
    /// setting each one changes the configuration (a value unlike the
    /// default for each).
    #[test]
    fn every_listed_option_is_settable() {
        let default = format!("{:?}", Config::default());
        for name in Config::OPTIONS {
            let value = match *name {
                "bind" => "127.0.0.1:0",
                "protocol" => "http1",
                "tcp_nodelay" | "keepalive" => "false",
                "pipeline_flush" | "reuse_port" | "per_core" => "true",
                _ => "7",
            };
            let mut config = Config::default();
            assert_eq!(config.set(name, value), Ok(true), "{name}");
            assert_ne!(format!("{config:?}"), default, "`{name} = {value}` changed nothing");
        }
        assert_eq!(Config::default().set("not_an_option", "1"), Ok(false));
        let mut config = Config::default();
        let rest = config.apply_args(["--pool-size", "3", "--filters", "0", "--send-timeout=9"].map(String::from));
        assert_eq!(rest.unwrap(), ["--filters", "0"]);
        assert_eq!((config.pool_size, config.send_timeout), (3, Duration::from_secs(9)));
        // Spot checks of the units: seconds, and 0 for "no timeout".
        config.set("client_socket_timeout", "0").unwrap();
        assert_eq!(config.client_socket_timeout, None);
        config.set("body-min-rate", "250").unwrap();
        assert_eq!(config.body_min_rate, 250);
    }
}
