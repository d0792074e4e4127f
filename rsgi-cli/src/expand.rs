//! `rsgi expand`: a deployment as the equivalent `deploy!` block.
//!
//! The block has the ini's shape in Rust tokens: section headers
//! `[composite:main]`, `key = value` lines, urlmap keys as string literals
//! (`"/v2.1" = api_v21`), factories as Rust paths, values as Rust literals,
//! pipelines (and pipeline choices) as lists of names, route tables as route
//! lines (`GET "/servers/{id}" = factories::servers_show`). Factories rsgi
//! provides are written as their Rust paths; every other factory gets an
//! entry in a `factories` module printed above the block, a stub (the echo
//! app or the trace filter) to replace with the real thing.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use rsgi_config::{RawDocument, RawEntry, RawSection, SectionKind};
use rsgi_runtime::loader::{Deployment, LoadError, Registry};

/// What a factory is used as, for its stub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    App,
    Filter,
    Composite,
    /// A route handler of a `[routes:…]` section: a stub `async fn`.
    Handler,
}

/// The stub factory table: factory name → (Rust ident, what it is used as).
#[derive(Default)]
struct Table {
    entries: BTreeMap<String, (String, Use)>,
    taken: BTreeSet<String>,
}

impl Table {
    /// The Rust path for `factory`: rsgi's own, or a stub in `factories`.
    fn path(&mut self, factory: &str, used: Use) -> String {
        if let Some(p) = Registry::rust_path(factory) {
            return if p.starts_with("rsgi::") { format!("::{p}") } else { p.to_owned() };
        }
        if let Some((ident, _)) = self.entries.get(factory) {
            return format!("factories::{ident}");
        }
        let base = if used == Use::Handler { ident(&factory.replace(['.', ':'], "_")) } else { stub_ident(factory) };
        let mut ident = base.clone();
        let mut n = 2;
        while !self.taken.insert(ident.clone()) {
            ident = format!("{base}{n}");
            n += 1;
        }
        self.entries.insert(factory.to_owned(), (ident.clone(), used));
        format!("factories::{ident}")
    }
}

/// `nova.api.openstack.compute:APIRouterV21.factory` → `APIRouterV21`;
/// `keystonemiddleware.auth_token:filter_factory` → `AuthTokenFilter`;
/// `egg:swift#proxy` → `SwiftProxy`.
fn stub_ident(factory: &str) -> String {
    let factory = factory.strip_prefix("call:").unwrap_or(factory);
    let (module, attr) = if let Some(egg) = factory.strip_prefix("egg:") {
        egg.split_once('#').unwrap_or((egg, "main"))
    } else {
        factory.rsplit_once(':').unwrap_or(("", factory))
    };
    let attr = attr.trim_end_matches(".factory").trim_end_matches(".app_factory");
    let attr = attr.strip_suffix("_factory").unwrap_or(attr);
    let class = attr.rsplit('.').next().unwrap_or(attr);
    let module_last = module.rsplit(['.', '/']).next().unwrap_or(module);
    let name = if class.starts_with(|c: char| c.is_ascii_uppercase()) {
        camel(class)
    } else {
        format!("{}{}", camel(module_last), camel(class))
    };
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) { format!("Factory{name}") } else { name }
}

fn camel(s: &str) -> String {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut cs = w.chars();
            cs.next().map(|c| c.to_ascii_uppercase().to_string() + cs.as_str()).unwrap_or_default()
        })
        .collect()
}

/// A section name as a Rust identifier: `glance-api-keystone+caching` →
/// `glance_api_keystone_caching`.
fn ident(name: &str) -> String {
    let mut out: String =
        name.trim().chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// A value as a Rust literal: integers and booleans as themselves, the
/// rest as a string literal.
fn literal(value: &str) -> String {
    if value.parse::<u64>().is_ok() && !(value.len() > 1 && value.starts_with('0')) {
        return value.to_owned();
    }
    if value == "true" || value == "false" {
        return value.to_owned();
    }
    format!("{value:?}")
}

/// A setting key: an identifier as itself, anything else as a string literal.
fn key(k: &str) -> String {
    let ok = k.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok { k.to_owned() } else { format!("{k:?}") }
}

fn is_absolute(v: &str) -> bool {
    v.split_once(':').is_some_and(|(s, _)| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphabetic()))
}

fn kind_of(section: &RawSection<rsgi_config::Loc>) -> Option<(SectionKind, String)> {
    let (prefix, name) = section.header.split_once(':')?;
    Some((SectionKind::from_prefix(prefix)?, name.trim().to_owned()))
}

/// The names of sections reachable from `name` (by any value word naming
/// a section), or every section.
fn reachable(doc: &RawDocument<rsgi_config::Loc>, name: Option<&str>) -> BTreeSet<String> {
    let all: Vec<(String, &RawSection<rsgi_config::Loc>)> =
        doc.sections.iter().filter_map(|s| kind_of(s).map(|(_, n)| (n, s))).collect();
    let Some(start) = name else {
        return all.iter().map(|(n, _)| n.clone()).collect();
    };
    let mut seen = BTreeSet::new();
    let mut todo = vec![start.to_owned()];
    while let Some(n) = todo.pop() {
        if !seen.insert(n.clone()) {
            continue;
        }
        for (_, s) in all.iter().filter(|(sn, _)| *sn == n) {
            for e in &s.entries {
                for w in e.value.split_whitespace() {
                    if all.iter().any(|(sn, _)| sn == w) && !seen.contains(w) {
                        todo.push(w.to_owned());
                    }
                }
            }
        }
    }
    seen
}

/// The `deploy!` block for `d` (checked first, with unknown factories
/// stubbed, so that only a valid deployment is converted).
pub(crate) fn expand(d: &Deployment, name: Option<&str>) -> Result<String, LoadError> {
    d.check(name, &Registry::default().stub_unknown(true))?;
    let doc = d.document();
    let keep = reachable(doc, name);
    let names: BTreeSet<String> = doc.sections.iter().filter_map(|s| kind_of(s).map(|(_, n)| n)).collect();
    let mut table = Table::default();
    let mut body = String::new();
    for section in &doc.sections {
        if section.header == "DEFAULT" {
            body.push_str("    [DEFAULT]\n");
            for e in &section.entries {
                let _ = writeln!(body, "    {} = {}", key(&e.key), literal(&e.value));
            }
            body.push('\n');
            continue;
        }
        let Some((kind, sname)) = kind_of(section) else {
            continue;
        };
        if !keep.contains(&sname) || kind == SectionKind::Server {
            continue;
        }
        if ident(&sname) != sname {
            let _ = writeln!(body, "    // [{}]", section.header);
        }
        let _ = writeln!(body, "    [{}:{}]", kind.as_str(), ident(&sname));
        if kind == SectionKind::Routes {
            routes_body(&mut body, section, &mut table);
        } else {
            section_body(&mut body, section, kind, &names, &mut table);
        }
        body.push('\n');
    }
    let mut out = String::new();
    let _ = writeln!(out, "// Generated by `rsgi expand`: the deployment as a `deploy!` block.");
    if !table.entries.is_empty() {
        out.push_str("\n/// The factories of the ini that rsgi does not provide. Each is a stub\n");
        out.push_str("/// (the echo app, or the pass-through trace filter): replace it with a\n");
        out.push_str("/// type implementing `rsgi::factory::Factory`.\n");
        out.push_str("mod factories {\n");
        for (factory, (ident, used)) in &table.entries {
            let (what, stub) = match used {
                Use::App | Use::Composite => ("app", "::rsgi::echo::EchoApp"),
                Use::Filter => ("filter", "::rsgi::echo::TraceFilter"),
                Use::Handler => {
                    let _ = writeln!(out, "    /// `{factory}` (route handler)");
                    let _ = writeln!(
                        out,
                        "    pub async fn {ident}(_req: ::rsgi::Request) -> impl ::rsgi::IntoResponse {{ {:?} }}",
                        format!("{factory}\n")
                    );
                    continue;
                }
            };
            let _ = writeln!(out, "    /// `{factory}` ({what})");
            let _ = writeln!(out, "    pub type {ident} = {stub};");
        }
        out.push_str("}\n");
    }
    out.push_str("\n::rsgi::deploy! {\n");
    out.push_str(body.trim_end());
    out.push_str("\n}\n");
    Ok(out)
}

/// A `[routes:…]` section: each route line with its handler as a Rust
/// path (a stub in `factories` unless it is one already), and
/// `filter-with`.
fn routes_body(out: &mut String, section: &RawSection<rsgi_config::Loc>, table: &mut Table) {
    for e in &section.entries {
        if e.key == "filter-with" {
            let _ = writeln!(out, "    filter-with = {}", ident(&e.value));
            continue;
        }
        let Some(key) = rsgi_config::routes::parse_key(&e.key) else { continue };
        let handler = e.value.trim();
        let path = if handler.contains("::") { handler.to_owned() } else { table.path(handler, Use::Handler) };
        let _ = writeln!(out, "    {} {:?} = {path}", key.methods.join(" | "), key.pattern);
    }
}

/// Keys OpenStack files give filters for oslo.config, which the rsgi
/// filters' typed settings accept and ignore in an ini but cannot take as
/// fields in `deploy!`.
const OSLO_CONFIG_KEYS: &[&str] = &["oslo_config_project", "oslo_config_program"];

/// The settings a factory path printed by `expand` accepts: none for a stub
/// in `factories`, the settings type's fields for rsgi's own; `None` when
/// unknown (a section reference).
fn setting_keys(path: &str) -> Option<&'static [&'static str]> {
    use rsgi_runtime::factory::{Factory, Settings};
    use rsgi_runtime::filters::{
        CorsFilter, FaultWrapFilter, Healthcheck, HttpProxyToWsgiFilter, RequestIdFilter, RequestLogFilter,
        SizeLimitFilter,
    };
    if path.starts_with("factories::") {
        return Some(&[]);
    }
    Some(match path.rsplit("::").next()? {
        "RequestIdFilter" => <RequestIdFilter as Factory>::Settings::KEYS,
        "FaultWrapFilter" => <FaultWrapFilter as Factory>::Settings::KEYS,
        "SizeLimitFilter" => <SizeLimitFilter as Factory>::Settings::KEYS,
        "HttpProxyToWsgiFilter" => <HttpProxyToWsgiFilter as Factory>::Settings::KEYS,
        "CorsFilter" => <CorsFilter as Factory>::Settings::KEYS,
        "RequestLogFilter" => <RequestLogFilter as Factory>::Settings::KEYS,
        "Healthcheck" => <Healthcheck as Factory>::Settings::KEYS,
        _ => return None,
    })
}

/// Whether `key` can be a struct field in `deploy!`.
fn is_field(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Section names as `deploy!` lists them: separated by spaces.
fn list(words: &str) -> String {
    let items: Vec<String> = words.split_whitespace().map(ident).collect();
    items.join(" ")
}

fn section_body(
    out: &mut String,
    section: &RawSection<rsgi_config::Loc>,
    kind: SectionKind,
    names: &BTreeSet<String>,
    table: &mut Table,
) {
    let used = match kind {
        SectionKind::Filter => Use::Filter,
        SectionKind::Composite => Use::Composite,
        _ => Use::App,
    };
    let factory_entry: Option<&RawEntry<rsgi_config::Loc>> =
        section.entries.iter().find(|e| e.key == "use" || (e.key.starts_with("paste.") && e.key.ends_with("_factory")));
    let factory = factory_entry.map(|e| e.value.trim().to_owned());
    let composite =
        kind == SectionKind::Composite || section.entries.iter().any(|e| e.key.starts_with("paste.composit"));
    let path = factory.as_deref().map(|f| {
        if !is_absolute(f) && names.contains(f) && factory_entry.is_some_and(|e| e.key == "use") {
            ident(f)
        } else {
            table.path(f, if composite { Use::Composite } else { used })
        }
    });
    // The shape of a composite: urlmap keys are paths; pipeline choices
    // list sections.
    let settings: Vec<&RawEntry<rsgi_config::Loc>> =
        section.entries.iter().filter(|e| !(e.key == "use" || e.key.starts_with("paste."))).collect();
    let urlmap = composite && path.as_deref() == Some("urlmap")
        || composite
            && !settings.is_empty()
            && settings
                .iter()
                .all(|e| e.key.starts_with('/') || e.key.starts_with("domain ") || e.key == "not_found_app");
    let is_select = path.as_deref() == Some("select");
    let keyed = composite
        && !urlmap
        && !is_select
        && !settings.is_empty()
        && settings.iter().all(|e| {
            let ws: Vec<&str> = e.value.split_whitespace().collect();
            !ws.is_empty() && ws.iter().all(|w| names.contains(*w) || w.starts_with("egg:"))
        });
    match (&path, urlmap, keyed) {
        (_, true, _) => out.push_str("    use = urlmap\n"),
        (_, _, true) => {
            let _ = writeln!(out, "    // `{}`: a pipeline choice", factory.as_deref().unwrap_or_default());
            out.push_str("    use = select\n    by = \"auth_strategy\"\n    default = \"keystone\"\n");
        }
        (Some(p), _, _) => {
            let _ = writeln!(out, "    use = {p}");
        }
        (None, _, _) => {}
    }
    let accepted = path.as_deref().and_then(setting_keys);
    for e in settings {
        let k = e.key.as_str();
        if urlmap && k != "not_found_app" {
            let _ = writeln!(out, "    {k:?} = {}", ident(e.value.trim()));
        } else if k == "not_found_app" || k == "next" || k == "filter-with" {
            let _ = writeln!(out, "    {k} = {}", ident(e.value.trim()));
        } else if k == "pipeline" || keyed || (is_select && k != "by" && k != "default") {
            let _ = writeln!(out, "    {} = {}", key(k), list(&e.value));
        } else if let Some(name) = k.strip_prefix("set ") {
            let _ = writeln!(out, "    set {} = {}", key(name.trim()), literal(&e.value));
        } else if let Some(name) = k.strip_prefix("get ") {
            let _ = writeln!(out, "    get {} = {}", key(name.trim()), key(e.value.trim()));
        } else if OSLO_CONFIG_KEYS.contains(&k) {
            // Read by oslo.config in Python; rsgi's typed settings have no such field.
            let _ = writeln!(out, "    // {k} = {} (an oslo.config key: no rsgi setting)", e.value.trim());
        } else if !is_field(k) || accepted.is_some_and(|keys| !keys.contains(&k)) {
            // Typed settings are struct fields: a key the Rust factory does
            // not have would not compile, so it is kept as a note.
            let why = if path.as_deref().is_some_and(|p| p.starts_with("factories::")) {
                "a setting of the Python factory: give the Rust factory a settings type"
            } else {
                "not a setting of the rsgi factory"
            };
            let _ = writeln!(out, "    // {k} = {} ({why})", e.value.trim());
        } else {
            let _ = writeln!(out, "    {} = {}", key(k), literal(&e.value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stub_idents() {
        assert_eq!(stub_ident("nova.api.openstack.compute:APIRouterV21.factory"), "APIRouterV21");
        assert_eq!(stub_ident("keystonemiddleware.auth_token:filter_factory"), "AuthTokenFilter");
        assert_eq!(stub_ident("egg:swift#proxy"), "SwiftProxy");
        assert_eq!(stub_ident("call:nova.api.auth:pipeline_factory_v21"), "AuthPipelineFactoryV21");
    }

    #[test]
    fn literals_and_idents() {
        assert_eq!(literal("1024"), "1024");
        assert_eq!(literal("0755"), "\"0755\"");
        assert_eq!(literal("nova"), "\"nova\"");
        assert_eq!(ident("glance-api-keystone+caching"), "glance_api_keystone_caching");
        assert_eq!(key("app.1"), "\"app.1\"");
    }
}
