//! Composition: a resolved tree becomes a [`BoxApp`], boxed at the seams.
//!
//! Every node is built even after an error, so that one load reports every
//! unknown factory and every bad setting.

use rsgi_config::{AppNode, Choice, FilterNode, Keyed, Leaf, Loc, Protocol, Route, RouteTable, Shape};

use super::error::{ErrorKind, LoadDiagnostic};
use super::registry::{BoxFilter, Choose, Context, Entry, FactoryError, Registry, echo_app, trace_filter};
use crate::app::BoxApp;
use crate::filter::Filter;
use crate::routes::{BoxHandler, Handlers, Methods, Routes};
use crate::urlmap::UrlMap;

/// The global setting a stubbed keyed composite chooses by, and its
/// default (Nova's `pipeline_factory_v21`).
const STUB_CHOICE: (&str, &str) = ("auth_strategy", "keystone");

pub(crate) struct Builder<'r> {
    pub(crate) registry: &'r Registry,
    pub(crate) errors: Vec<LoadDiagnostic>,
}

fn header<S>(leaf: &Leaf<S>) -> Option<String> {
    leaf.section.as_ref().map(|s| s.header.clone())
}

/// Where to point for a factory: its token, else its section header.
fn factory_loc(leaf: &Leaf<Loc>) -> Option<Loc> {
    leaf.factory.loc.clone().or_else(|| leaf.section.as_ref().map(|s| s.loc.clone()))
}

fn context(leaf: &Leaf<Loc>) -> Context<'_> {
    Context {
        section: leaf.section.as_ref().map(|s| s.name.as_str()),
        local: leaf.conf.local.iter().map(|s| (s.key.as_str(), s.value.as_str())).collect(),
        global: &leaf.conf.global,
    }
}

impl Builder<'_> {
    fn error(&mut self, d: LoadDiagnostic) {
        self.errors.push(d);
    }

    /// A factory's own failure, each setting error at its key (or value).
    fn factory_error(&mut self, leaf: &Leaf<Loc>, e: FactoryError) {
        let section = header(leaf);
        match e {
            FactoryError::Settings(errors) => {
                for e in errors {
                    let (key, on_value) = match &e {
                        crate::factory::SettingError::UnknownKey { key, .. } => (key.clone(), false),
                        crate::factory::SettingError::BadValue { key, .. } => (key.clone(), true),
                    };
                    let setting = leaf.conf.local.iter().find(|s| s.key == key);
                    let loc =
                        setting
                            .and_then(|s| {
                                if on_value { s.value_loc.clone().or(s.key_loc.clone()) } else { s.key_loc.clone() }
                            })
                            .or_else(|| factory_loc(leaf));
                    let mut d = LoadDiagnostic::new(ErrorKind::Setting, e.to_string(), loc, section.clone());
                    if let crate::factory::SettingError::UnknownKey { key, expected } = &e {
                        if let Some(s) = suggest(key, expected.iter().copied()) {
                            d = d.with_help(format!("did you mean `{s}`?"));
                        }
                    }
                    d = d.with_note(format!("settings of `{}` are typed", leaf.factory.reference));
                    self.error(d);
                }
            }
            FactoryError::Other(message) => {
                let d = LoadDiagnostic::new(
                    ErrorKind::Factory,
                    format!("`{}` failed: {message}", leaf.factory.reference),
                    factory_loc(leaf),
                    section,
                );
                self.error(d);
            }
        }
    }

    fn unknown(&mut self, leaf: &Leaf<Loc>, what: &str, register: &str) {
        let name = leaf.factory.reference.to_string();
        let mut d = LoadDiagnostic::new(
            ErrorKind::UnknownFactory,
            format!("unknown {what} factory `{name}`"),
            factory_loc(leaf),
            header(leaf),
        );
        if let Some(s) = suggest(&name, self.registry.names()) {
            d = d.with_help(format!("did you mean `{s}`?"));
        }
        d = d.with_help(format!(
            "register a Rust factory under this name with `Registry::{register}`, or check with `--stub-unknown`"
        ));
        self.error(d);
    }

    fn wrong(&mut self, leaf: &Leaf<Loc>, entry: &Entry, used_as: &str) {
        let d = LoadDiagnostic::new(
            ErrorKind::WrongFactory,
            format!("`{}` is {}, used here as {used_as}", leaf.factory.reference, entry.kind_word()),
            factory_loc(leaf),
            header(leaf),
        );
        self.error(d);
    }

    pub(crate) fn app(&mut self, node: &AppNode<Loc>) -> Option<BoxApp> {
        match node {
            AppNode::App(leaf) => self.app_leaf(leaf),
            AppNode::Composite(c) => match &c.shape {
                Shape::UrlMap(map) => self.urlmap(&c.leaf, map),
                Shape::Keyed(keyed) => self.keyed(&c.leaf, keyed),
                Shape::Opaque => self.opaque(&c.leaf),
            },
            AppNode::Pipeline(p) => {
                let filters: Vec<Option<BoxFilter>> = p.filters.iter().map(|f| self.filter(f)).collect();
                let app = self.app(&p.app);
                wrap_all(filters, app)
            }
            AppNode::FilterApp(fa) => {
                let filter = self.filter(&fa.filter);
                let app = self.app(&fa.next);
                Some(filter?.wrap(app?))
            }
            AppNode::FilterWith { inner, filter } => {
                let filter = self.filter(filter);
                let app = self.app(inner);
                Some(filter?.wrap(app?))
            }
            AppNode::Routes(table) => self.routes(table),
        }
    }

    /// A `[routes:…]` section: each handler looked up by name in the
    /// registry (with `--stub-unknown`, an unknown one answers with its
    /// route), the table compiled once.
    fn routes(&mut self, table: &RouteTable<Loc>) -> Option<BoxApp> {
        let mut handlers = Vec::new();
        let mut failed = false;
        for route in &table.routes {
            match self.registry.lookup_handler(&route.handler) {
                Some(h) => handlers.push(h.clone()),
                None if self.registry.stubs_unknown() => {
                    let text = format!("{} {} -> {}\n", route_methods(route), route.pattern, route.handler);
                    handlers.push(BoxHandler::new(move |_req| {
                        let text = text.clone();
                        async move { text }
                    }));
                }
                None => {
                    failed = true;
                    let mut d = LoadDiagnostic::new(
                        ErrorKind::UnknownFactory,
                        format!("unknown route handler `{}`", route.handler),
                        route.handler_loc.clone().or_else(|| Some(table.section.loc.clone())),
                        Some(table.section.header.clone()),
                    );
                    if let Some(s) = suggest(&route.handler, self.registry.handler_names()) {
                        d = d.with_help(format!("did you mean `{s}`?"));
                    }
                    d = d.with_help("register it with `Registry::handler`, or check with `--stub-unknown`");
                    self.error(d);
                }
            }
        }
        if failed {
            return None;
        }
        let routes: Vec<(Methods, &str)> =
            table.routes.iter().map(|r| (route_methods(r), r.pattern.as_str())).collect();
        match Routes::new(&routes, Handlers(handlers)) {
            Ok(app) => Some(BoxApp::new(app)),
            Err(e) => {
                // Unreachable after the model's checks, which use the same matchit.
                self.error(LoadDiagnostic::new(
                    ErrorKind::Config(rsgi_config::Code::Route),
                    e.to_string(),
                    Some(table.section.loc.clone()),
                    Some(table.section.header.clone()),
                ));
                None
            }
        }
    }

    fn app_leaf(&mut self, leaf: &Leaf<Loc>) -> Option<BoxApp> {
        match self.registry.lookup(&leaf.factory.reference) {
            Some(Entry::App(make)) => {
                let make = make.clone();
                match make(&context(leaf)) {
                    Ok(app) => Some(app),
                    Err(e) => {
                        self.factory_error(leaf, e);
                        None
                    }
                }
            }
            Some(entry) => {
                let entry = entry.clone();
                self.wrong(&leaf.clone(), &entry, "an app factory");
                None
            }
            None if self.registry.stubs_unknown() => Some(BoxApp::new(echo_app(&context(leaf), None))),
            None => {
                self.unknown(leaf, "app", "app");
                None
            }
        }
    }

    /// A composite the model could not see into: with stubs an echo app,
    /// else an error.
    fn opaque(&mut self, leaf: &Leaf<Loc>) -> Option<BoxApp> {
        match self.registry.lookup(&leaf.factory.reference) {
            Some(entry) => {
                let entry = entry.clone();
                self.wrong(leaf, &entry, "a composite factory");
                None
            }
            None if self.registry.stubs_unknown() => Some(BoxApp::new(echo_app(&context(leaf), None))),
            None => {
                self.unknown(leaf, "composite", "urlmap` or `Registry::keyed");
                None
            }
        }
    }

    fn filter(&mut self, node: &FilterNode<Loc>) -> Option<BoxFilter> {
        match node {
            FilterNode::Filter(leaf) => self.filter_leaf(leaf),
            FilterNode::FilterWith { inner, filter } => {
                let inner = self.filter(inner);
                let outer = self.filter(filter);
                Some(BoxFilter::compose(inner?, outer?))
            }
        }
    }

    fn filter_leaf(&mut self, leaf: &Leaf<Loc>) -> Option<BoxFilter> {
        match self.registry.lookup(&leaf.factory.reference) {
            Some(Entry::Filter { make, .. }) => {
                let make = make.clone();
                match make(&context(leaf)) {
                    Ok(f) => Some(f),
                    Err(e) => {
                        self.factory_error(leaf, e);
                        None
                    }
                }
            }
            Some(entry) => {
                let entry = entry.clone();
                let used = if leaf.factory.protocol == Some(Protocol::FilterAppFactory) {
                    "a filter-app factory"
                } else {
                    "a filter factory"
                };
                self.wrong(leaf, &entry, used);
                None
            }
            None if self.registry.stubs_unknown() => Some(BoxFilter::new(trace_filter(&context(leaf), None))),
            None => {
                self.unknown(leaf, "filter", "filter");
                None
            }
        }
    }

    fn urlmap(&mut self, leaf: &Leaf<Loc>, map: &rsgi_config::UrlMap<Loc>) -> Option<BoxApp> {
        let known = match self.registry.lookup(&leaf.factory.reference) {
            Some(Entry::UrlMap) => true,
            Some(entry) => {
                let entry = entry.clone();
                self.wrong(leaf, &entry, "a urlmap");
                false
            }
            None if self.registry.stubs_unknown() => true,
            None => {
                self.unknown(leaf, "composite", "urlmap");
                false
            }
        };
        let mut router: Option<UrlMap<BoxApp>> = Some(UrlMap::new());
        for mount in &map.mounts {
            let app = self.app(&mount.app);
            if let (Some(app), Some(r)) = (app, router.take()) {
                match r.try_mount(&mount.raw_key, app) {
                    Ok(r) => router = Some(r),
                    Err(e) => self.error(LoadDiagnostic::new(
                        ErrorKind::UrlMap,
                        e.to_string(),
                        mount.key_loc.clone(),
                        header(leaf),
                    )),
                }
            } else {
                router = None;
            }
        }
        let not_found = map.not_found.as_ref().map(|nf| self.app(nf));
        let router = router.filter(|_| known)?;
        match not_found {
            None => Some(BoxApp::new(router)),
            Some(Some(nf)) => Some(BoxApp::new(router.not_found(nf))),
            Some(None) => None,
        }
    }

    fn choice(&mut self, choice: &Choice<Loc>) -> Option<BoxApp> {
        let filters: Vec<Option<BoxFilter>> = choice.filters.iter().map(|f| self.filter(f)).collect();
        let app = self.app(&choice.app);
        wrap_all(filters, app)
    }

    /// A keyed pipeline choice: every alternative is built (so each is
    /// checked), the configured one is served.
    fn keyed(&mut self, leaf: &Leaf<Loc>, keyed: &Keyed<Loc>) -> Option<BoxApp> {
        let setting = |key: &str| keyed.settings.iter().find(|s| s.key == key).map(|s| s.value.clone());
        let choose = match self.registry.lookup(&leaf.factory.reference) {
            Some(Entry::Keyed(choose)) => Some(choose.clone()),
            Some(entry) => {
                let entry = entry.clone();
                self.wrong(leaf, &entry, "a keyed pipeline choice");
                None
            }
            None if self.registry.stubs_unknown() => {
                Some(Choose::Global { by: STUB_CHOICE.0.to_owned(), default: STUB_CHOICE.1.to_owned() })
            }
            None => {
                self.unknown(leaf, "composite", "keyed");
                None
            }
        };
        let built: Vec<(String, Option<BoxApp>)> =
            keyed.choices.iter().map(|c| (c.key.clone(), self.choice(c))).collect();
        let (by, value) = match choose? {
            Choose::Select => {
                let by = setting("by").unwrap_or_else(|| STUB_CHOICE.0.to_owned());
                let value = leaf
                    .conf
                    .global
                    .get(&by)
                    .cloned()
                    .or_else(|| setting("default"))
                    .unwrap_or_else(|| STUB_CHOICE.1.to_owned());
                (by, value)
            }
            Choose::Global { by, default } => {
                let value = leaf.conf.global.get(&by).cloned().unwrap_or(default);
                (by, value)
            }
        };
        let Some(index) = built.iter().position(|(k, _)| *k == value) else {
            let names: Vec<String> = built.iter().map(|(k, _)| format!("`{k}`")).collect();
            let mut d = LoadDiagnostic::new(
                ErrorKind::Choice,
                format!("`{by} = {value}` selects no pipeline; expected one of {}", names.join(", ")),
                leaf.section.as_ref().map(|s| s.loc.clone()),
                header(leaf),
            );
            if let Some(s) = suggest(&value, built.iter().map(|(k, _)| k.as_str())) {
                d = d.with_help(format!("did you mean `{s}`?"));
            }
            d = d.with_help(format!("set `{by}` in `[DEFAULT]` (or with `set {by} = …`) to one of the alternatives"));
            self.error(d);
            return None;
        };
        built.into_iter().nth(index).and_then(|(_, app)| app)
    }
}

/// Filters (first = outermost) around an app, if everything was built.
fn wrap_all(filters: Vec<Option<BoxFilter>>, app: Option<BoxApp>) -> Option<BoxApp> {
    let mut app = app?;
    let filters: Option<Vec<BoxFilter>> = filters.into_iter().collect();
    for f in filters?.iter().rev() {
        app = f.wrap(app);
    }
    Some(app)
}

/// The closest candidate within a third of the length (rustc's rule).
pub(crate) fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter(|c| *c != name)
        .map(|c| (distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The methods of a checked route (`*` is an empty list).
fn route_methods(route: &Route<Loc>) -> Methods {
    if route.methods.is_empty() {
        return Methods::ANY;
    }
    let text = route.methods.join("|");
    text.parse().unwrap_or(Methods::ANY)
}
