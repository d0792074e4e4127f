//! urlmap keys: Paste's `parse_path_expression` and `normalize_url`
//! (`paste/SEMANTICS.md` §7.1, §7.2), plus Nova's `/+` suffix (§7.6).
//!
//! - `domain example.com port 8080 /api` mounts `/api` on host
//!   `example.com:8080`; the domain is kept verbatim (not lower-cased).
//! - The path must be empty or start with `/`; runs of slashes collapse and
//!   trailing slashes go: `//v2//` mounts `/v2`, `/` mounts `` (catch-all).
//! - A path ending in `/+` (after normalisation) matches only when something
//!   follows the slash: `/v2.1/+` mounts `/v2.1` with `plus` set.

use std::fmt;

/// A parsed, normalised urlmap key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MountKey {
    /// The host (`example.com` or `example.com:8080`), when the key names one.
    pub domain: Option<String>,
    /// The normalised path prefix: `` (everything) or `/seg...` without a
    /// trailing slash and without the `/+` suffix.
    pub path: String,
    /// Nova's `/+`: match only paths with something after `path + "/"`.
    pub plus: bool,
}

impl fmt::Display for MountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.domain {
            write!(f, "domain {d} ")?;
        }
        let path = if self.path.is_empty() && !self.plus { "/" } else { &self.path };
        write!(f, "{path}{}", if self.plus { "/+" } else { "" })
    }
}

/// Why a urlmap key is invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// `domain` is the last word.
    DomainWithoutValue,
    /// `port` is the last word.
    PortWithoutValue,
    /// `domain` given twice.
    DomainTwice,
    /// `port` given twice.
    PortTwice,
    /// Two paths: `/a /b`.
    TwoPaths {
        /// The first path.
        have: String,
        /// The second one.
        got: String,
    },
    /// `port` without `domain`.
    PortWithoutDomain,
    /// A path that does not start with `/`.
    NotAPath {
        /// The path as given.
        given: String,
    },
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::DomainWithoutValue => f.write_str("`domain` must be followed by a domain name"),
            KeyError::PortWithoutValue => f.write_str("`port` must be followed by a port number"),
            KeyError::DomainTwice => f.write_str("`domain` given twice"),
            KeyError::PortTwice => f.write_str("`port` given twice"),
            KeyError::TwoPaths { have, got } => {
                write!(f, "more than one path given (`{have}`, then `{got}`)")
            }
            KeyError::PortWithoutDomain => f.write_str("a `port` needs a `domain`"),
            KeyError::NotAPath { given } => write!(f, "urlmap key `{given}` must start with `/`"),
        }
    }
}

/// Paste's `parse_path_expression`: `domain D`, `port P` and one path, in
/// any order, into a URL string (`http://D:P/path`, or just the path).
///
/// `domain example.com /api` gives `http://example.com//api` (Paste's own
/// double slash, collapsed later by [`normalize_url`]).
pub fn parse_path_expression(expr: &str) -> Result<String, KeyError> {
    let mut words = expr.split(crate::ini::is_py_space).filter(|w| !w.is_empty());
    let (mut domain, mut port, mut path) = (None::<&str>, None::<&str>, None::<&str>);
    while let Some(word) = words.next() {
        match word {
            "domain" => {
                let value = words.next().ok_or(KeyError::DomainWithoutValue)?;
                if domain.is_some() {
                    return Err(KeyError::DomainTwice);
                }
                domain = Some(value);
            }
            "port" => {
                let value = words.next().ok_or(KeyError::PortWithoutValue)?;
                if port.is_some() {
                    return Err(KeyError::PortTwice);
                }
                port = Some(value);
            }
            _ => {
                if let Some(have) = path {
                    return Err(KeyError::TwoPaths { have: have.to_string(), got: word.to_string() });
                }
                path = Some(word);
            }
        }
    }
    let mut s = domain.map(|d| format!("http://{d}")).unwrap_or_default();
    if let Some(p) = port {
        if domain.is_none() {
            return Err(KeyError::PortWithoutDomain);
        }
        s.push(':');
        s.push_str(p);
    }
    if let Some(p) = path {
        if !s.is_empty() {
            s.push('/');
        }
        s.push_str(p);
    }
    Ok(s)
}

/// Paste's `normalize_url`: split off an `http(s)://host[:port]` domain,
/// collapse slash runs, strip trailing slashes. The rest must be empty or
/// start with `/`.
///
/// `//v2//` gives `(None, "/v2")`; `https://h:8/x/` gives `(Some("h:8"), "/x")`.
pub fn normalize_url(url: &str) -> Result<(Option<String>, String), KeyError> {
    let scheme_len = ["http://", "https://"]
        .iter()
        .find(|s| url.get(..s.len()).is_some_and(|p| p.eq_ignore_ascii_case(s)))
        .map(|s| s.len());
    let (domain, path) = match scheme_len {
        Some(n) => {
            let rest = &url[n..];
            match rest.find('/') {
                Some(i) => (Some(rest[..i].to_string()), rest[i..].to_string()),
                None => (Some(rest.to_string()), String::new()),
            }
        }
        None if url.is_empty() || url.starts_with('/') => (None, url.to_string()),
        None => {
            return Err(KeyError::NotAPath { given: url.to_string() });
        }
    };
    let mut collapsed = String::with_capacity(path.len());
    for c in path.chars() {
        if !(c == '/' && collapsed.ends_with('/')) {
            collapsed.push(c);
        }
    }
    Ok((domain, collapsed.trim_end_matches('/').to_string()))
}

/// A whole urlmap key: [`parse_path_expression`], [`normalize_url`], then
/// the `/+` suffix.
///
/// # Examples
///
/// ```
/// use rsgi_config::urlmap_key::{parse_mount_key, KeyError, MountKey};
/// assert_eq!(parse_mount_key("/v2.1/+"), Ok(MountKey { domain: None, path: "/v2.1".into(), plus: true }));
/// assert_eq!(parse_mount_key("/"), Ok(MountKey { domain: None, path: "".into(), plus: false }));
/// assert_eq!(parse_mount_key("domain Example.com /api/").unwrap().domain.as_deref(), Some("Example.com"));
/// assert_eq!(parse_mount_key("v2"), Err(KeyError::NotAPath { given: "v2".into() }));
/// ```
pub fn parse_mount_key(key: &str) -> Result<MountKey, KeyError> {
    let url = parse_path_expression(key)?;
    let (domain, path) = normalize_url(&url)?;
    match path.strip_suffix("/+") {
        Some(prefix) => Ok(MountKey { domain, path: prefix.to_string(), plus: true }),
        None => Ok(MountKey { domain, path, plus: false }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(key: &str) -> String {
        match parse_mount_key(key) {
            Ok(k) => format!("{:?} {:?} {}", k.domain, k.path, k.plus),
            Err(e) => format!("ERR {e}"),
        }
    }

    macro_rules! case {
        ($name:ident: $key:expr => $want:expr) => {
            #[test]
            fn $name() {
                assert_eq!(show($key), $want);
            }
        };
    }

    case!(root: "/" => r#"None "" false"#);
    case!(plain: "/v2" => r#"None "/v2" false"#);
    case!(trailing: "/v2/" => r#"None "/v2" false"#);
    case!(runs: "//v2//x//" => r#"None "/v2/x" false"#);
    case!(plus: "/v2.1/+" => r#"None "/v2.1" true"#);
    case!(plus_root: "/+" => r#"None "" true"#);
    case!(plus_collapsed: "/v2//+/" => r#"None "/v2" true"#);
    case!(percent_literal: "/a%20b" => r#"None "/a%20b" false"#);
    case!(domain_only: "domain example.com" => r#"Some("example.com") "" false"#);
    case!(domain_path: "domain example.com /api" => r#"Some("example.com") "/api" false"#);
    case!(domain_port: "port 8080 domain h /api" => r#"Some("h:8080") "/api" false"#);
    case!(domain_relative_path: "domain h v2" => r#"Some("h") "/v2" false"#);
    case!(domain_case_kept: "domain EXAMPLE.com /" => r#"Some("EXAMPLE.com") "" false"#);
    case!(not_a_path: "v2" => "ERR urlmap key `v2` must start with `/`");
    case!(debug_key: "debug" => "ERR urlmap key `debug` must start with `/`");
    case!(port_no_domain: "port 80 /x" => "ERR a `port` needs a `domain`");
    case!(domain_twice: "domain a domain b" => "ERR `domain` given twice");
    case!(port_twice: "domain a port 1 port 2" => "ERR `port` given twice");
    case!(domain_dangling: "/x domain" => "ERR `domain` must be followed by a domain name");
    case!(port_dangling: "domain a port" => "ERR `port` must be followed by a port number");
    case!(two_paths: "/a /b" => "ERR more than one path given (`/a`, then `/b`)");

    #[test]
    fn display_round_trip() {
        for key in ["/", "/v2", "/v2/+", "/+", "domain h /x"] {
            let k = parse_mount_key(key).unwrap();
            assert_eq!(parse_mount_key(&k.to_string()), Ok(k));
        }
    }

    #[test]
    fn https_scheme() {
        assert_eq!(normalize_url("HTTPS://h/x/"), Ok((Some("h".into()), "/x".into())));
    }
}
