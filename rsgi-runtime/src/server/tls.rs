//! TLS with rustls: `cert_file` + `key_file`, ALPN `h2` and `http/1.1`.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::{Config, Protocol, ServerError};

pub(crate) fn acceptor(config: &Config) -> Result<Option<TlsAcceptor>, ServerError> {
    let (cert, key) = match (&config.cert_file, &config.key_file) {
        (None, None) => return Ok(None),
        (Some(c), Some(k)) => (c, k),
        _ => return Err(ServerError::Tls("`cert_file` and `key_file` go together".to_owned())),
    };
    let certs = load_certs(cert)?;
    let key = load_key(key)?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut tls = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| ServerError::Tls(format!("{}: {e}", cert.display())))?;
    tls.alpn_protocols = match config.protocol {
        Protocol::Auto => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        Protocol::Http1 => vec![b"http/1.1".to_vec()],
        Protocol::Http2 => vec![b"h2".to_vec()],
    };
    Ok(Some(TlsAcceptor::from(Arc::new(tls))))
}

fn open(path: &Path) -> Result<BufReader<File>, ServerError> {
    File::open(path).map(BufReader::new).map_err(|e| ServerError::Tls(format!("{}: {e}", path.display())))
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, ServerError> {
    let certs: Result<Vec<_>, _> = rustls_pemfile::certs(&mut open(path)?).collect();
    let certs = certs.map_err(|e| ServerError::Tls(format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(ServerError::Tls(format!("{}: no PEM certificate found", path.display())));
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, ServerError> {
    rustls_pemfile::private_key(&mut open(path)?)
        .map_err(|e| ServerError::Tls(format!("{}: {e}", path.display())))?
        .ok_or_else(|| ServerError::Tls(format!("{}: no PEM private key found", path.display())))
}
