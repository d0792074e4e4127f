//! What the three comparison servers share: the command line, the listening
//! socket and the two JSON bodies. Only the request path differs between them.

use std::net::SocketAddr;

/// Body of the versions app mounted at `/`.
pub const VERSIONS_JSON: &[u8] = b"{\"versions\": []}";
/// Body of the servers app reached through `/v2.1` and its 10 filters.
pub const SERVERS_JSON: &[u8] = b"{\"servers\": []}";
/// Mount point of the filtered API.
pub const API_PREFIX: &str = "/v2.1";
/// Number of pass-through layers in front of the servers app.
pub const LAYERS: usize = 10;

/// True when `path` falls under the `/v2.1` mount (the mount itself or below it),
/// the way a urlmap prefix matches.
pub fn under_api(path: &str) -> bool {
    match path.strip_prefix(API_PREFIX) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// Reads `--bind ADDR` (or `--bind=ADDR`) from the command line; `default` otherwise.
/// Exits with a usage message on `--help` or on anything it does not understand.
pub fn bind_addr(name: &str, default: &str) -> SocketAddr {
    let usage = || {
        eprintln!("usage: {name} [--bind ADDR]   (default {default})");
    };
    let mut args = std::env::args().skip(1);
    let mut addr = default.to_owned();
    while let Some(arg) = args.next() {
        if arg == "--bind" {
            match args.next() {
                Some(v) => addr = v,
                None => {
                    usage();
                    std::process::exit(2);
                }
            }
        } else if let Some(v) = arg.strip_prefix("--bind=") {
            addr = v.to_owned();
        } else if arg == "-h" || arg == "--help" {
            usage();
            std::process::exit(0);
        } else {
            eprintln!("{name}: unexpected argument {arg:?}");
            usage();
            std::process::exit(2);
        }
    }
    addr.parse().unwrap_or_else(|e| {
        eprintln!("{name}: bad --bind address {addr:?}: {e}");
        std::process::exit(2);
    })
}

/// A listening socket with SO_REUSEADDR and a 4096-deep accept queue (the
/// benchmark opens up to 5,000 connections at once; every server gets the
/// same queue so that none loses on a deployment setting).
pub fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}
