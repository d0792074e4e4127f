//! `[routes:NAME]` sections: route lines and their rules.
//!
//! ```ini
//! [routes:servers]
//! GET "/servers" = servers::index
//! POST "/servers" = servers::create
//! GET "/servers/detail" = servers::detail
//! GET|HEAD "/servers/{id}" = servers::show
//! DELETE "/servers/{id}" = servers::delete
//! POST "/servers/{id}/action" = servers::action
//! * "/images/{*path}" = images::proxy
//! filter-with = auth
//! ```
//!
//! A line is `METHODS "pattern" = handler`:
//! - `METHODS` is one method, several joined by `|` (`GET|HEAD`), or `*`
//!   (any method). Methods are the standard ones, upper-case: [`METHODS`].
//! - `"pattern"` is a `matchit` pattern (`{id}` is one segment, `{*path}`
//!   the rest), starting with `/`. In an ini file the quotes may be left
//!   out; a pattern there cannot contain `=` or `:` (configparser splits
//!   the line at the first of them).
//! - `handler` is a Rust path (`deploy!`) or a name registered with the
//!   run-time loader.
//!
//! The only other key is `filter-with`. `[DEFAULT]` settings are not
//! routes, and values are not interpolated.
//!
//! Rules, each reported at the smallest token and all at once:
//! - an unknown method (`get` → "methods are upper-case: `GET`");
//! - a pattern `matchit` rejects (`/{a}{b}`, `/{*rest}/x`);
//! - two patterns that conflict (`/s/{id}` and `/s/{name}`): every pattern
//!   is inserted into a [`matchit::Router`], the same version the runtime
//!   dispatches with;
//! - the same method and pattern twice (`GET|POST "/x"` then `GET "/x"`,
//!   or `*` next to any method).

use std::collections::BTreeSet;

use crate::diag::{Code, edit_distance};
use crate::model::Route;
use crate::raw::RawSection;
use crate::site::{Diag, Site};

/// The methods a route line may name, in the order `Allow` lists them.
pub const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"];

/// The example every "not a route" message shows.
const SHAPE: &str = "a route is `METHOD \"/pattern\" = handler`, e.g. `GET \"/servers/{id}\" = servers::show`";

/// A route key split into its parts: the method words (each with its
/// part index) and the pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteKey {
    /// The method words as written (`*` alone for any method).
    pub methods: Vec<String>,
    /// The pattern, without quotes.
    pub pattern: String,
}

/// Splits `GET|HEAD "/servers/{id}"` (or `GET /servers/{id}`) into
/// methods and pattern; `None` when the key has no such shape.
///
/// # Examples
///
/// ```
/// use rsgi_config::routes::parse_key;
/// let key = parse_key(r#"GET | HEAD "/servers/{id}""#).unwrap();
/// assert_eq!((key.methods, key.pattern.as_str()), (vec!["GET".to_owned(), "HEAD".to_owned()], "/servers/{id}"));
/// assert_eq!(parse_key("* /images/{*path}").unwrap().methods, ["*"]);
/// assert!(parse_key("max_size").is_none());
/// ```
pub fn parse_key(key: &str) -> Option<RouteKey> {
    let (methods, pattern) = match key.find('"') {
        Some(at) => {
            let rest = key[at + 1..].trim_end();
            (&key[..at], rest.strip_suffix('"')?)
        }
        None => {
            let at = key.find('/')?;
            (&key[..at], key[at..].trim_end())
        }
    };
    let methods: Vec<String> = methods.split('|').map(|m| m.trim().to_owned()).collect();
    if methods.iter().any(|m| m.is_empty() || m.contains(char::is_whitespace)) {
        return None;
    }
    Some(RouteKey { methods, pattern: pattern.to_owned() })
}

/// One checked route, located by sites.
pub(crate) struct SiteRoute {
    pub(crate) methods: Vec<String>,
    pub(crate) pattern: String,
    pub(crate) handler: String,
    pub(crate) pattern_site: Site,
    pub(crate) handler_site: Site,
}

impl SiteRoute {
    pub(crate) fn into_route<S: Clone>(self, doc: &crate::RawDocument<S>) -> Route<S> {
        Route {
            methods: self.methods,
            pattern: self.pattern,
            handler: self.handler,
            pattern_loc: self.pattern_site.loc(doc),
            handler_loc: self.handler_site.loc(doc),
        }
    }
}

/// Checks the route lines of section `sec` (every entry but
/// `filter-with`); returns the valid routes and the errors.
pub(crate) fn check<S>(sec: usize, section: &RawSection<S>) -> (Vec<SiteRoute>, Vec<Diag>) {
    let mut diags = Vec::new();
    let mut routes: Vec<SiteRoute> = Vec::new();
    let mut router = matchit::Router::new();
    // The router holds each pattern once; more methods on it are more routes.
    let mut patterns: BTreeSet<String> = BTreeSet::new();
    for (e, entry) in section.entries.iter().enumerate() {
        if entry.key == "filter-with" {
            continue;
        }
        let Some(key) = parse_key(&entry.key) else {
            diags.push(not_a_route(&entry.key, Site::Key(sec, e)));
            continue;
        };
        let pattern_site = Site::KeyWord(sec, e, key.methods.len());
        let Some(methods) = check_methods(&key.methods, sec, e, &mut diags) else {
            continue;
        };
        let handler = entry.value.trim();
        let handler_site = Site::Value(sec, e);
        if handler.is_empty() || handler.contains(char::is_whitespace) {
            diags.push(
                Diag::new(Code::Route, handler_site, format!("route `{}` needs one handler", entry.key))
                    .help("name one handler after `=`, e.g. `servers::show`"),
            );
            continue;
        }
        let route = SiteRoute {
            methods,
            pattern: key.pattern.clone(),
            handler: handler.to_owned(),
            pattern_site,
            handler_site,
        };
        if !key.pattern.starts_with('/') {
            diags.push(
                Diag::new(
                    Code::Route,
                    pattern_site,
                    format!("route pattern `{}` does not start with `/`", key.pattern),
                )
                .help(format!("patterns match PATH_INFO, which starts with `/`: `/{}`", key.pattern)),
            );
            continue;
        }
        if patterns.contains(&key.pattern) {
            let clash =
                routes.iter().filter(|r| r.pattern == key.pattern).find(|r| overlaps(&r.methods, &route.methods));
            if let Some(earlier) = clash {
                let both = common(&earlier.methods, &route.methods);
                diags.push(
                    Diag::new(
                        Code::RouteConflict,
                        pattern_site,
                        format!("duplicate route `{both} \"{}\"`", key.pattern),
                    )
                    .label(earlier.pattern_site, "first defined here")
                    .help("remove one of them, or give them different methods"),
                );
                continue;
            }
        } else {
            match router.insert(key.pattern.as_str(), routes.len()) {
                Ok(()) => {
                    patterns.insert(key.pattern.clone());
                }
                Err(err) => {
                    diags.push(insert_diag(&err, &key.pattern, pattern_site, &routes));
                    continue;
                }
            }
        }
        routes.push(route);
    }
    (routes, diags)
}

/// Validates the method words; `None` (with errors pushed) when one is
/// unknown. `*` alone means any method (an empty list).
fn check_methods(words: &[String], sec: usize, e: usize, diags: &mut Vec<Diag>) -> Option<Vec<String>> {
    if words.len() == 1 && words[0] == "*" {
        return Some(Vec::new());
    }
    let mut out: Vec<String> = Vec::new();
    let mut ok = true;
    for (i, word) in words.iter().enumerate() {
        let site = Site::KeyWord(sec, e, i);
        if METHODS.contains(&word.as_str()) {
            if out.contains(word) {
                diags.push(Diag::new(Code::Route, site, format!("method `{word}` is listed twice")));
                ok = false;
            }
            out.push(word.clone());
            continue;
        }
        ok = false;
        let mut d = Diag::new(Code::Route, site, format!("unknown method `{word}`"));
        let upper = word.to_ascii_uppercase();
        if word == "*" {
            d = d.help("`*` (any method) stands alone, not in a `|` list");
        } else if METHODS.contains(&upper.as_str()) {
            d = d.help(format!("methods are upper-case: `{upper}`"));
        } else if let Some(m) = METHODS.iter().find(|m| edit_distance(&upper, m) <= 2) {
            d = d.help(format!("did you mean `{m}`?"));
        } else {
            d = d.note(format!("known methods: {}, or `*` for any", list(METHODS)));
        }
        diags.push(d);
    }
    ok.then_some(out)
}

fn list(methods: &[&str]) -> String {
    methods.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ")
}

/// Whether two method lists share a method (an empty list is any method).
fn overlaps(a: &[String], b: &[String]) -> bool {
    a.is_empty() || b.is_empty() || a.iter().any(|m| b.contains(m))
}

/// The methods two overlapping lists share, as written in a route.
fn common(a: &[String], b: &[String]) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => "*".to_owned(),
        (true, false) => b.join("|"),
        (false, true) => a.join("|"),
        (false, false) => a.iter().filter(|m| b.contains(m)).cloned().collect::<Vec<_>>().join("|"),
    }
}

fn not_a_route(key: &str, site: Site) -> Diag {
    let d = Diag::new(Code::Route, site, format!("`{key}` is not a route"));
    match key {
        "use" | "next" | "pipeline" => {
            d.help(SHAPE).note("a `[routes:…]` section is an app by itself: it has no factory")
        }
        _ if key.starts_with("paste.") => {
            d.help(SHAPE).note("a `[routes:…]` section is an app by itself: it has no factory")
        }
        _ => d.help(SHAPE).note("the only other key of a `[routes:…]` section is `filter-with`"),
    }
}

/// `matchit`'s verdict on a pattern, in rsgi words.
fn insert_diag(err: &matchit::InsertError, pattern: &str, site: Site, routes: &[SiteRoute]) -> Diag {
    match err {
        matchit::InsertError::Conflict { with } => {
            let mut d =
                Diag::new(Code::RouteConflict, site, format!("route pattern `{pattern}` conflicts with `{with}`"));
            if let Some(other) = routes.iter().find(|r| r.pattern == *with) {
                d = d.label(other.pattern_site, "conflicting route defined here");
            }
            d.note("one path would match both; parameters at the same place must have the same name")
                .help("rename the parameter, or make the patterns differ by a literal segment")
        }
        matchit::InsertError::InvalidParamSegment => {
            Diag::new(Code::Route, site, format!("invalid route pattern `{pattern}`: one parameter per segment"))
                .help("split the parameters with a literal, e.g. `/{a}-{b}` rather than `/{a}{b}`")
        }
        matchit::InsertError::InvalidParam => Diag::new(
            Code::Route,
            site,
            format!("invalid route pattern `{pattern}`: a parameter needs a name between `{{` and `}}`"),
        )
        .help("write `{name}` for one segment, `{*name}` for the rest of the path; `{{` and `}}` are literal braces"),
        matchit::InsertError::InvalidCatchAll => Diag::new(
            Code::Route,
            site,
            format!("invalid route pattern `{pattern}`: a catch-all `{{*…}}` must end the pattern"),
        ),
        // `InsertError` is `#[non_exhaustive]`: a newer matchit's error keeps its own words.
        other => Diag::new(Code::Route, site, format!("invalid route pattern `{pattern}`: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use crate::{Builtins, Loc, Model, Options, ini};

    fn errors(text: &str) -> Vec<String> {
        let doc = ini::parse(text, "r.ini").unwrap();
        let model = Model::new(&doc, &Options::default());
        model.check_all(&Builtins).iter().map(|d| d.to_string().replace('\n', " | ")).collect()
    }

    macro_rules! case {
        ($name:ident: $text:expr => [$($msg:expr),* $(,)?]) => {
            #[test]
            fn $name() {
                let want: Vec<&str> = vec![$($msg),*];
                assert_eq!(errors($text), want);
            }
        };
    }

    case!(ok: "[routes:api]\nGET \"/s\" = index\nGET|HEAD /s/{id} = show\nPOST \"/s\" = create\n* \"/i/{*p}\" = proxy\nGET /s/detail = detail\n" => []);
    case!(conflict: "[routes:api]\nGET \"/s/{id}\" = show\nDELETE \"/s/{name}\" = delete\n" => [
        "error: route pattern `/s/{name}` conflicts with `/s/{id}` |   --> r.ini:3 | note: conflicting route defined here |   --> r.ini:2 |   = note: one path would match both; parameters at the same place must have the same name |   = help: rename the parameter, or make the patterns differ by a literal segment",
    ]);
    case!(duplicate: "[routes:api]\nGET|POST \"/s\" = a\nGET \"/s\" = b\n* \"/t\" = c\nPUT \"/t\" = d\n" => [
        "error: duplicate route `GET \"/s\"` |   --> r.ini:3 | note: first defined here |   --> r.ini:2 |   = help: remove one of them, or give them different methods",
        "error: duplicate route `PUT \"/t\"` |   --> r.ini:5 | note: first defined here |   --> r.ini:4 |   = help: remove one of them, or give them different methods",
    ]);
    case!(methods: "[routes:api]\nget \"/a\" = a\nGTE \"/b\" = b\nFOO \"/c\" = c\n" => [
        "error: unknown method `get` |   --> r.ini:2 |   = help: methods are upper-case: `GET`",
        "error: unknown method `GTE` |   --> r.ini:3 |   = help: did you mean `GET`?",
        "error: unknown method `FOO` |   --> r.ini:4 |   = note: known methods: `GET`, `HEAD`, `POST`, `PUT`, `PATCH`, `DELETE`, `OPTIONS`, `TRACE`, `CONNECT`, or `*` for any",
    ]);
    case!(invalid: "[routes:api]\nGET \"/{a}{b}\" = a\nGET \"/{*r}/x\" = b\nGET \"x\" = c\nmax = 3\n" => [
        "error: invalid route pattern `/{a}{b}`: one parameter per segment |   --> r.ini:2 |   = help: split the parameters with a literal, e.g. `/{a}-{b}` rather than `/{a}{b}`",
        "error: invalid route pattern `/{*r}/x`: a catch-all `{*…}` must end the pattern |   --> r.ini:3",
        "error: route pattern `x` does not start with `/` |   --> r.ini:4 |   = help: patterns match PATH_INFO, which starts with `/`: `/x`",
        "error: `max` is not a route |   --> r.ini:5 |   = note: the only other key of a `[routes:…]` section is `filter-with` |   = help: a route is `METHOD \"/pattern\" = handler`, e.g. `GET \"/servers/{id}\" = servers::show`",
    ]);

    #[test]
    fn resolves_with_filter_with_under_urlmap() {
        let text = "[composite:main]\nuse = egg:Paste#urlmap\n/v2.1 = api\n[routes:api]\nGET \"/s/{id}\" = show\nfilter-with = auth\n[filter:auth]\nuse = egg:rsgi#echo\n";
        let doc = ini::parse(text, "r.ini").unwrap();
        let model = Model::new(&doc, &Options::default());
        let crate::AppNode::Composite(main) = model.resolve_app("main", &Builtins).unwrap() else { panic!() };
        let crate::Shape::UrlMap(map) = &main.shape else { panic!() };
        let crate::AppNode::FilterWith { inner, .. } = &map.mounts[0].app else { panic!("{:?}", map.mounts[0].app) };
        let crate::AppNode::Routes(table) = &**inner else { panic!() };
        assert_eq!(table.routes[0].handler, "show");
        assert_eq!(table.routes[0].pattern_loc, Some(Loc::new("r.ini", 5)));
    }
}
