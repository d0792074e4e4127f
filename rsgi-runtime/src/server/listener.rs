//! Binding and accepting: TCP (with the backlog and `SO_REUSEPORT` set
//! through `socket2`, which tokio's `bind` cannot do) and Unix sockets.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use tokio::net::{TcpListener, TcpStream};
#[cfg(unix)]
use tokio::net::{UnixListener, UnixStream};

/// Where a server listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BindAddr {
    /// A TCP address, such as `0.0.0.0:8774`.
    Tcp(SocketAddr),
    /// A Unix socket path (written `unix:/run/nova.sock`).
    Unix(PathBuf),
}

impl std::str::FromStr for BindAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(path) = s.strip_prefix("unix:") {
            return Ok(BindAddr::Unix(PathBuf::from(path)));
        }
        s.parse()
            .map(BindAddr::Tcp)
            .map_err(|e| format!("invalid bind address `{s}`: {e} (expected `IP:PORT` or `unix:PATH`)"))
    }
}

impl std::fmt::Display for BindAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BindAddr::Tcp(a) => write!(f, "{a}"),
            BindAddr::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// A bound listening socket.
#[derive(Debug)]
pub enum Listener {
    /// TCP.
    Tcp(TcpListener),
    /// A Unix socket.
    #[cfg(unix)]
    Unix(UnixListener),
}

/// An accepted connection.
#[derive(Debug)]
pub(crate) enum Stream {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
}

impl Listener {
    /// Binds `addr` with a listen `backlog`; `reuse_port` sets
    /// `SO_REUSEPORT` so that several processes (or runtimes) can share the
    /// port. Must be called inside a tokio runtime.
    ///
    /// # Errors
    ///
    /// The OS error of `socket`, `bind` or `listen`.
    pub fn bind(addr: &BindAddr, backlog: u32, reuse_port: bool) -> io::Result<Listener> {
        match addr {
            BindAddr::Tcp(addr) => Self::bind_tcp(*addr, backlog, reuse_port),
            #[cfg(unix)]
            BindAddr::Unix(path) => {
                // A socket file left by a previous run would make bind fail.
                if std::fs::metadata(path).is_ok_and(|m| {
                    use std::os::unix::fs::FileTypeExt;
                    m.file_type().is_socket()
                }) {
                    std::fs::remove_file(path)?;
                }
                Ok(Listener::Unix(UnixListener::bind(path)?))
            }
            #[cfg(not(unix))]
            BindAddr::Unix(_) => Err(io::Error::new(io::ErrorKind::Unsupported, "Unix sockets need a Unix OS")),
        }
    }

    /// Binds a TCP address; see [`Listener::bind`].
    ///
    /// # Errors
    ///
    /// The OS error of `socket`, `bind` or `listen`.
    pub fn bind_tcp(addr: SocketAddr, backlog: u32, reuse_port: bool) -> io::Result<Listener> {
        use socket2::{Domain, Protocol, Socket, Type};
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        #[cfg(unix)]
        if reuse_port {
            socket.set_reuse_port(true)?;
        }
        #[cfg(not(unix))]
        let _ = reuse_port;
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
        Ok(Listener::Tcp(TcpListener::from_std(socket.into())?))
    }

    /// The local address, for a TCP listener (useful after binding port 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        match self {
            Listener::Tcp(l) => l.local_addr().ok(),
            #[cfg(unix)]
            Listener::Unix(_) => None,
        }
    }

    pub(crate) async fn accept(&self) -> io::Result<(Stream, Option<SocketAddr>)> {
        match self {
            Listener::Tcp(l) => l.accept().await.map(|(s, a)| (Stream::Tcp(s), Some(a))),
            #[cfg(unix)]
            Listener::Unix(l) => l.accept().await.map(|(s, _)| (Stream::Unix(s), None)),
        }
    }
}

impl From<TcpListener> for Listener {
    fn from(l: TcpListener) -> Self {
        Listener::Tcp(l)
    }
}

#[cfg(unix)]
impl From<UnixListener> for Listener {
    fn from(l: UnixListener) -> Self {
        Listener::Unix(l)
    }
}
