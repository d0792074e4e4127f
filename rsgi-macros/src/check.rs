//! Every rule, all errors at once.
//!
//! The PasteDeploy rules (unknown references with "did you mean", duplicate
//! sections and keys, pipeline shape, cycles, urlmap keys, section kinds,
//! factories, `get`, interpolation) are `rsgi-config`'s, the same checker
//! the run-time loader runs: this module runs it on the block and turns its
//! diagnostics into errors at the user's tokens. The rules only the macro
//! has (every factory is a Rust path, every section name and setting key an
//! identifier, no two generated items with one name) follow. Type-level
//! rules (a factory that makes no app, a filter that is not one, a wrongly
//! typed setting) are checked by the compiler, through spanned code in
//! `expand.rs`.

use std::collections::BTreeMap;

use proc_macro2::Span;
use rsgi_config::{
    AppNode, Builtins, Classifier, CompositeKind, Diagnostic, FactoryRef, FilterNode, Leaf, Loc, Model, ObjectType,
    Options, Protocol, Resolved, Route, RouteTable, SectionKind, Shape,
};
use syn::Ident;

use crate::ctxt::Ctxt;
use crate::model::{Payload, Source, Tok};

/// A checked block: each section's resolved node, in source order.
#[derive(Debug)]
pub(crate) struct Checked {
    pub(crate) items: Vec<Item>,
    /// `[DEFAULT]` and the block's globals, interpolated.
    pub(crate) defaults: BTreeMap<String, String>,
}

/// One section, and the names of what it generates.
#[derive(Debug)]
pub(crate) struct Item {
    pub(crate) names: Names,
    pub(crate) section: usize,
    pub(crate) node: Resolved<Tok>,
}

/// The identifiers generated for a section: `ApiV21` and `api_v21`.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    pub(crate) section: String,
    pub(crate) kind: SectionKind,
    pub(crate) ty: Ident,
    pub(crate) func: Ident,
}

/// The classifier of a block: the built-ins, plus, in the file form, the
/// factory table's `= urlmap` and `= select` entries (so that Nova's
/// `call:nova.api.auth:pipeline_factory_v21` can be mapped to `select`).
struct Table<'a>(&'a [(String, syn::Path)]);

impl Table<'_> {
    fn builtin(&self, f: &FactoryRef) -> Option<CompositeKind> {
        let name = f.to_string();
        let (_, path) = self.0.iter().find(|(k, _)| *k == name)?;
        match path.get_ident()?.to_string().as_str() {
            "urlmap" => Some(CompositeKind::UrlMap),
            "select" => Some(CompositeKind::Select),
            _ => None,
        }
    }
}

impl Classifier for Table<'_> {
    fn egg_protocol(&self, factory: &FactoryRef, object: ObjectType) -> Option<Protocol> {
        match self.builtin(factory) {
            Some(_) => Some(Protocol::CompositeFactory),
            None => Builtins.egg_protocol(factory, object),
        }
    }

    fn composite_kind(&self, factory: &FactoryRef) -> CompositeKind {
        self.builtin(factory).unwrap_or_else(|| Builtins.composite_kind(factory))
    }
}

/// Checks `src`; the sections' names are returned even on error, for the
/// typed fallback.
pub(crate) fn check(cx: &Ctxt, src: &Source) -> (Vec<Names>, Option<Checked>) {
    let options = match &src.file {
        Some(f) => Options::for_file(&f.abs.to_string_lossy()),
        None => Options::default(),
    };
    let table = Table(src.file.as_ref().map_or(&[][..], |f| &f.factories));
    let model = Model::new(&src.doc, &options);

    let mut diags = model.check_all(&table);
    let names = check_names(cx, src);
    let mut items = Vec::new();
    for (section, names) in &names {
        let object = names.kind.object_type();
        match model.resolve(object, &names.section, &table) {
            Ok(node) => items.push(Item { names: names.clone(), section: *section, node }),
            Err(more) => diags.extend(more),
        }
    }
    let mut seen: Vec<(String, Option<usize>)> = Vec::new();
    for d in diags {
        let key = (d.message.clone(), d.loc.map(|t| t.id));
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        cx.push(error(src, d));
    }
    for item in &items {
        match &item.node {
            Resolved::App(a) => check_app(cx, src, a),
            Resolved::Filter(f) => check_filter(cx, src, f),
            Resolved::Server(_) => {}
        }
    }
    let names = names.into_iter().map(|(_, n)| n).collect();
    if cx.has_errors() {
        return (names, None);
    }
    (names, Some(Checked { items, defaults: model.defaults().clone() }))
}

/// Every section with a kind and a name generates a type and a function
/// named after it (`[pipeline:api_v21]` → `ApiV21`, `api_v21`): the name
/// must make identifiers, and no two sections may make the same ones
/// (`[filter:auth]` and `[app:auth]`, `api-v21` and `api_v21`).
fn check_names(cx: &Ctxt, src: &Source) -> Vec<(usize, Names)> {
    let mut out: Vec<(usize, Names)> = Vec::new();
    let mut taken: BTreeMap<String, Tok> = BTreeMap::new();
    for (i, section) in src.doc.sections.iter().enumerate() {
        let Some((prefix, name)) = section.header.split_once(':') else {
            continue;
        };
        let (Some(kind), name) = (SectionKind::from_prefix(prefix), name.trim()) else {
            continue;
        };
        if name.is_empty() || out.iter().any(|(_, n)| n.section == name && n.kind == kind) {
            continue;
        }
        let span = section.header_loc.span;
        let (Some(ty), Some(func)) = (camel_ident(name, span), snake_ident(name, span)) else {
            cx.push(error(
                src,
                Diagnostic::new(
                    rsgi_config::Code::UnknownSection,
                    format!("section name `{name}` does not make a Rust identifier"),
                    Some(section.header_loc),
                )
                .with_help("deploy! names a type and a function after each section: use letters, digits and `_`"),
            ));
            continue;
        };
        let mut clash = false;
        for generated in [ty.to_string(), func.to_string()] {
            if let Some(first) = taken.get(&generated) {
                cx.push(error(
                    src,
                    Diagnostic::new(
                        rsgi_config::Code::DuplicateSection,
                        format!("section `{}` generates `{generated}`, like an earlier section", section.header),
                        Some(section.header_loc),
                    )
                    .with_label(*first, "first generated here")
                    .with_help("rename one of the sections"),
                ));
                clash = true;
                break;
            }
        }
        if clash {
            continue;
        }
        taken.insert(ty.to_string(), section.header_loc);
        taken.insert(func.to_string(), section.header_loc);
        out.push((i, Names { section: name.to_owned(), kind, ty, func }));
    }
    out
}

fn check_app(cx: &Ctxt, src: &Source, node: &AppNode<Tok>) {
    match node {
        AppNode::App(leaf) => check_leaf(cx, src, leaf),
        AppNode::Composite(c) => match &c.shape {
            Shape::UrlMap(map) => {
                for m in &map.mounts {
                    check_app(cx, src, &m.app);
                }
                if let Some(nf) = &map.not_found {
                    check_app(cx, src, nf);
                }
            }
            Shape::Keyed(k) => {
                for c in &k.choices {
                    c.filters.iter().for_each(|f| check_filter(cx, src, f));
                    check_app(cx, src, &c.app);
                }
            }
            Shape::Opaque => check_leaf(cx, src, &c.leaf),
        },
        AppNode::Pipeline(p) => {
            p.filters.iter().for_each(|f| check_filter(cx, src, f));
            check_app(cx, src, &p.app);
        }
        AppNode::FilterApp(f) => {
            check_filter(cx, src, &f.filter);
            check_app(cx, src, &f.next);
        }
        AppNode::FilterWith { inner, filter } => {
            check_filter(cx, src, filter);
            check_app(cx, src, inner);
        }
        AppNode::Routes(table) => check_routes(cx, src, table),
    }
}

/// Every route's handler is a Rust path (inline: written as one; file
/// form: mapped by the `factories { … }` table, or written as a path). The
/// route rules themselves (methods, patterns, conflicts) are
/// `rsgi-config`'s; "is a handler" is the compiler's, in `expand.rs`.
fn check_routes(cx: &Ctxt, src: &Source, table: &RouteTable<Tok>) {
    for route in &table.routes {
        if handler_path(src, route).is_none() {
            let d = Diagnostic::new(
                rsgi_config::Code::Route,
                format!("route handler `{}` is not a Rust path", route.handler),
                route.handler_loc.or(Some(table.section.loc)),
            );
            let d = match &src.file {
                Some(_) => d.with_help(format!(
                    "map it in the table: `factories {{ \"{}\" = path::to::handler }}`",
                    route.handler
                )),
                None => {
                    d.with_help("name an `async fn(rsgi::Request) -> impl rsgi::IntoResponse`, e.g. `servers::show`")
                }
            };
            cx.push(error(src, d));
        }
    }
}

/// The Rust path of a route's handler, from the user's tokens or the
/// file form's table.
pub(crate) fn handler_path(src: &Source, route: &Route<Tok>) -> Option<syn::Path> {
    if let Some(f) = &src.file {
        let mapped = f.factories.iter().find(|(k, _)| *k == route.handler).map(|(_, p)| p.clone());
        return mapped.or_else(|| syn::parse_str::<syn::Path>(&route.handler).ok());
    }
    match src.payload(route.handler_loc?) {
        Payload::Path(p) => Some(p.clone()),
        _ => None,
    }
}

fn check_filter(cx: &Ctxt, src: &Source, node: &FilterNode<Tok>) {
    match node {
        FilterNode::Filter(leaf) => check_leaf(cx, src, leaf),
        FilterNode::FilterWith { inner, filter } => {
            check_filter(cx, src, inner);
            check_filter(cx, src, filter);
        }
    }
}

/// A factory call: the factory must be a Rust path (inline: written as
/// one; file form: mapped by the `factories { … }` table), and in an inline
/// block every setting key a field name.
fn check_leaf(cx: &Ctxt, src: &Source, leaf: &Leaf<Tok>) {
    if factory_path(src, leaf).is_none() {
        let name = leaf.factory.reference.to_string();
        let d = Diagnostic::new(
            rsgi_config::Code::UnknownSection,
            format!("factory `{name}` has no Rust path"),
            leaf.factory.loc.or(leaf.section.as_ref().map(|s| s.loc)),
        );
        let d = match &src.file {
            Some(_) => d.with_help(format!("map it in the table: `factories {{ \"{name}\" = path::to::Factory }}`")),
            None => d.with_help(
                "name a type implementing `rsgi::factory::Factory`, e.g. `use = rsgi::filters::SizeLimitFilter`",
            ),
        };
        cx.push(error(src, d));
    }
    if src.file.is_none() {
        for s in &leaf.conf.local {
            if syn::parse_str::<Ident>(&s.key).is_err() {
                cx.push(error(
                    src,
                    Diagnostic::new(
                        rsgi_config::Code::UnknownSection,
                        format!("setting `{}` is not a field name", s.key),
                        s.key_loc,
                    )
                    .with_help("a factory's settings are the fields of its settings type: write them as identifiers"),
                ));
            }
        }
    }
}

/// The Rust path of a leaf's factory, from the user's tokens or the table.
pub(crate) fn factory_path(src: &Source, leaf: &Leaf<Tok>) -> Option<syn::Path> {
    if let Some(f) = &src.file {
        let name = leaf.factory.reference.to_string();
        let raw = match &leaf.factory.reference {
            FactoryRef::Rust { path } => syn::parse_str::<syn::Path>(path).ok(),
            _ => None,
        };
        return f.factories.iter().find(|(k, _)| *k == name).map(|(_, p)| p.clone()).or(raw);
    }
    match src.payload(leaf.factory.loc?) {
        Payload::Path(p) => Some(p.clone()),
        _ => None,
    }
}

/// A model diagnostic as an error at the user's token (inline), or at the
/// file literal naming `file:line` (file form). A label ("first defined
/// here") becomes a second error at its own token.
pub(crate) fn error(src: &Source, d: Diagnostic<Tok>) -> syn::Error {
    if let Some(f) = &src.file {
        let span = f.lit.span();
        return file_error(span, d.map_loc(|t| src.loc(t).cloned()));
    }
    let span = d.loc.map_or_else(Span::call_site, |t| t.span);
    let mut err = syn::Error::new(span, with_notes(d.message.clone(), &d.notes, &d.help));
    for label in &d.labels {
        err.combine(syn::Error::new(label.loc.span, format!("{}: {}", d.message, label.message)));
    }
    err
}

/// A diagnostic of the file form, at `span` (the file literal), naming
/// `file:line`.
pub(crate) fn file_error(span: Span, d: Diagnostic<Option<Loc>>) -> syn::Error {
    let mut msg = match d.loc.flatten() {
        Some(loc) => format!("{loc}: {}", d.message),
        None => d.message,
    };
    for label in &d.labels {
        if let Some(loc) = &label.loc {
            msg.push_str(&format!("\n  = note: {} at {loc}", label.message));
        }
    }
    syn::Error::new(span, with_notes(msg, &d.notes, &d.help))
}

fn with_notes(mut msg: String, notes: &[String], help: &[String]) -> String {
    for n in notes {
        msg.push_str(&format!("\n  = note: {n}"));
    }
    for h in help {
        msg.push_str(&format!("\n  = help: {h}"));
    }
    msg
}

/// `api_v21` → `ApiV21`; `None` when that is no identifier.
pub(crate) fn camel_ident(name: &str, span: Span) -> Option<Ident> {
    let mut out = String::new();
    for part in name.split(['_', '-', '.']).filter(|p| !p.is_empty()) {
        let mut chars = part.chars();
        if let Some(c) = chars.next() {
            out.extend(c.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    ident(&out, span)
}

/// `api-v21` → `api_v21`; a keyword becomes a raw identifier (`r#type`).
pub(crate) fn snake_ident(name: &str, span: Span) -> Option<Ident> {
    let out = name.replace(['-', '.'], "_");
    ident(&out, span)
}

fn ident(text: &str, span: Span) -> Option<Ident> {
    if text.is_empty()
        || !text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        || text.starts_with(|c: char| c.is_ascii_digit())
    {
        return None;
    }
    if syn::parse_str::<Ident>(text).is_ok() {
        return Some(Ident::new(text, span));
    }
    if matches!(text, "self" | "Self" | "super" | "crate" | "_") {
        return None;
    }
    Some(Ident::new_raw(text, span))
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    /// Checks a block; returns the error messages, one per error.
    fn errors(input: proc_macro2::TokenStream) -> Vec<String> {
        let raw: crate::parse::RawDeploy = syn::parse2(input).unwrap();
        let src = crate::model::inline(&raw);
        let cx = Ctxt::new();
        let _ = check(&cx, &src);
        match cx.check() {
            Ok(()) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    macro_rules! case {
        ($name:ident: { $($t:tt)* } => [$($msg:expr),* $(,)?]) => {
            #[test]
            fn $name() {
                let want: Vec<&str> = vec![$($msg),*];
                assert_eq!(errors(quote! { $($t)* }), want);
            }
        };
    }

    case!(ok: {
        [composite:main] use = urlmap "/" = api
        [pipeline:api] pipeline = auth app
        [filter:auth] use = a::Auth
        [app:app] use = App
    } => []);
    case!(unknown_with_hint: {
        [pipeline:main] pipeline = auth servres
        [filter:auth] use = a::Auth
        [app:servers] use = a::Servers
    } => ["unknown app `servres`\n  = help: did you mean `servers`?"]);
    case!(all_errors_at_once: {
        [pipeline:main] pipeline = auht api
        [pipeline:other] pipeline = auth
        [filter:auth] use = a::Auth
        [app:api] use = a::Api
        [app:api] use = a::Api
    } => [
        "duplicate section `app:api`\n  = help: rename one of them, or merge their settings",
        "duplicate section `app:api`: first defined here",
        "unknown filter `auht`\n  = help: did you mean `auth`?",
        "pipeline ends in filter `auth`; the last item must be an app\n  = help: add the app the filters wrap after it, e.g. `pipeline = … auth api`",
    ]);
    case!(cycle: {
        [app:a] use = b
        [app:b] use = a
    } => [
        "cycle: `a` refers to itself: a → b → a\n  = note: PasteDeploy overflows the stack (`RecursionError`) on this",
        "cycle: `a` refers to itself: a → b → a: defined here",
        "cycle: `b` refers to itself: b → a → b\n  = note: PasteDeploy overflows the stack (`RecursionError`) on this",
        "cycle: `b` refers to itself: b → a → b: defined here",
    ]);
    case!(egg_without_path: { [app:a] use = "egg:rsgi#echo" } => [
        "factory `egg:rsgi#echo` has no Rust path\n  = help: name a type implementing `rsgi::factory::Factory`, e.g. `use = rsgi::filters::SizeLimitFilter`",
    ]);
    case!(names_clash: { [filter:auth] use = a::F [app:auth] use = a::A } => [
        "section `app:auth` generates `Auth`, like an earlier section\n  = help: rename one of the sections",
        "section `app:auth` generates `Auth`, like an earlier section: first generated here",
    ]);

    case!(routes: {
        [routes:api]
        GET "/s/{id}" = a::show
        GET "/s/{name}" = a::show
        POST "/t" = "not a path"
        PUT | get "/u" = show
    } => [
        "route pattern `/s/{name}` conflicts with `/s/{id}`\n  = note: one path would match both; parameters at the same place must have the same name\n  = help: rename the parameter, or make the patterns differ by a literal segment",
        "route pattern `/s/{name}` conflicts with `/s/{id}`: conflicting route defined here",
        "route `POST \"/t\"` needs one handler\n  = help: name one handler after `=`, e.g. `servers::show`",
        "unknown method `get`\n  = help: methods are upper-case: `GET`",
    ]);
    case!(route_handler_not_a_path: { [routes:api] POST "/t" = "x" } => [
        "route handler `x` is not a Rust path\n  = help: name an `async fn(rsgi::Request) -> impl rsgi::IntoResponse`, e.g. `servers::show`",
    ]);

    #[test]
    fn idents() {
        let s = Span::call_site();
        assert_eq!(camel_ident("api_v21", s).unwrap().to_string(), "ApiV21");
        assert_eq!(camel_ident("http-proxy.x", s).unwrap().to_string(), "HttpProxyX");
        assert_eq!(snake_ident("type", s).unwrap().to_string(), "r#type");
        assert!(snake_ident("self", s).is_none());
        assert!(camel_ident("2x", s).is_none());
    }
}
