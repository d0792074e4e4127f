//! The URI given to `loadapp` (`paste/SEMANTICS.md` §2): `config:file.ini`
//! with an optional `#name`.

/// A parsed load URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadUri {
    /// The scheme, lower-cased (`config`, `egg`, `call`).
    pub scheme: String,
    /// What follows the scheme (`main.ini`, `Paste#urlmap` without the
    /// fragment).
    pub path: String,
    /// The name to load: the explicit name, else the fragment, else `main`.
    pub name: String,
}

/// `loadcontext`'s URI handling: an explicit `name` wins over the `#`
/// fragment (case D05), the default name is `main`, the scheme is the text
/// before the first `:`, lower-cased (no `:` is an error, D69; a scheme other
/// than `config`, `egg`, `call` is an error, D17).
///
/// # Examples
///
/// ```
/// use rsgi_config::uri::parse_load_uri;
/// let u = parse_load_uri("config:main.ini#other", Some("third"))?;
/// assert_eq!((u.scheme.as_str(), u.path.as_str(), u.name.as_str()), ("config", "main.ini", "third"));
/// assert_eq!(parse_load_uri("main.ini", None).unwrap_err(), "URI `main.ini` has no scheme; write `config:main.ini`");
/// # Ok::<(), String>(())
/// ```
pub fn parse_load_uri(uri: &str, name: Option<&str>) -> Result<LoadUri, String> {
    let (body, fragment) = match uri.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (uri, None),
    };
    let name = name.or(fragment).unwrap_or("main").to_string();
    let Some((scheme, path)) = body.split_once(':') else {
        return Err(format!("URI `{body}` has no scheme; write `config:{body}`"));
    };
    let scheme = scheme.to_ascii_lowercase();
    if !matches!(scheme.as_str(), "config" | "egg" | "call") {
        return Err(format!("unknown URI scheme `{scheme}`; expected `config:`, `egg:` or `call:`"));
    }
    Ok(LoadUri { scheme, path: path.to_string(), name })
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! case {
        ($name:ident: $uri:expr, $n:expr => $want:expr) => {
            #[test]
            fn $name() {
                let got = parse_load_uri($uri, $n).map(|u| format!("{} {} {}", u.scheme, u.path, u.name));
                assert_eq!(got, $want.map(String::from).map_err(String::from));
            }
        };
    }

    case!(plain: "config:a.ini", None => Ok::<&str, &str>("config a.ini main"));
    case!(fragment: "config:a.ini#x", None => Ok::<&str, &str>("config a.ini x"));
    case!(name_wins: "config:a.ini#x", Some("y") => Ok::<&str, &str>("config a.ini y"));
    case!(upper_scheme: "CONFIG:/a.ini", None => Ok::<&str, &str>("config /a.ini main"));
    case!(no_scheme: "a.ini", None => Err::<&str, &str>("URI `a.ini` has no scheme; write `config:a.ini`"));
    case!(bad_scheme: "foo:bar", None => Err::<&str, &str>("unknown URI scheme `foo`; expected `config:`, `egg:` or `call:`"));
}
