//! The resolved deployment: what a name means once every `use`, pipeline,
//! `filter-with`, `next` and composite has been followed.
//!
//! Produced by [`crate::Model::resolve`]; consumed by the run-time loader
//! (which builds boxed apps) and by `deploy!` (which generates types).
//! Every node keeps the locations of the user's tokens (`S`).

use std::collections::BTreeMap;
use std::fmt;

/// The three object types PasteDeploy loads (`loadapp`, `loadfilter`,
/// `loadserver`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectType {
    /// An application (`app`, `composite`, `pipeline`, `filter-app` sections).
    App,
    /// A filter (`filter` sections).
    Filter,
    /// A server (`server` sections).
    Server,
}

impl ObjectType {
    /// The word used in messages: `app`, `filter`, `server`.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectType::App => "app",
            ObjectType::Filter => "filter",
            ObjectType::Server => "server",
        }
    }

    /// The prefix groups searched for a name, in order (PasteDeploy's
    /// `config_prefixes`): within a group the first prefix with a match wins.
    pub(crate) fn prefix_groups(self) -> &'static [&'static [&'static str]] {
        match self {
            ObjectType::App => {
                &[&["app", "application"], &["composite", "composit"], &["pipeline"], &["filter-app"], &["routes"]]
            }
            ObjectType::Filter => &[&["filter"]],
            ObjectType::Server => &[&["server"]],
        }
    }
}

impl fmt::Display for ObjectType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of a section, from its header prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SectionKind {
    /// `[app:x]` or `[application:x]`.
    App,
    /// `[composite:x]` or `[composit:x]`.
    Composite,
    /// `[pipeline:x]`.
    Pipeline,
    /// `[filter-app:x]`.
    FilterApp,
    /// `[filter:x]`.
    Filter,
    /// `[server:x]`.
    Server,
    /// `[routes:x]`: a route table, `METHOD "pattern" = handler` lines.
    Routes,
}

impl SectionKind {
    /// Every accepted prefix and its kind, in PasteDeploy's search order.
    pub const PREFIXES: &'static [(&'static str, SectionKind)] = &[
        ("app", SectionKind::App),
        ("application", SectionKind::App),
        ("composite", SectionKind::Composite),
        ("composit", SectionKind::Composite),
        ("pipeline", SectionKind::Pipeline),
        ("filter-app", SectionKind::FilterApp),
        ("filter", SectionKind::Filter),
        ("server", SectionKind::Server),
        ("routes", SectionKind::Routes),
    ];

    /// The kind for a prefix (case-sensitive): `app` and `application` are
    /// both [`SectionKind::App`]; `App` is nothing.
    pub fn from_prefix(prefix: &str) -> Option<SectionKind> {
        Self::PREFIXES.iter().find(|(p, _)| *p == prefix).map(|(_, k)| *k)
    }

    /// The object type a section of this kind is loaded as.
    pub fn object_type(self) -> ObjectType {
        match self {
            SectionKind::Filter => ObjectType::Filter,
            SectionKind::Server => ObjectType::Server,
            _ => ObjectType::App,
        }
    }

    /// The canonical prefix: `app`, `composite`, `pipeline`, `filter-app`,
    /// `filter`, `server`.
    pub fn as_str(self) -> &'static str {
        match self {
            SectionKind::App => "app",
            SectionKind::Composite => "composite",
            SectionKind::Pipeline => "pipeline",
            SectionKind::FilterApp => "filter-app",
            SectionKind::Filter => "filter",
            SectionKind::Server => "server",
            SectionKind::Routes => "routes",
        }
    }
}

impl fmt::Display for SectionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A factory calling convention (`paste/SEMANTICS.md` §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// `paste.app_factory`: `f(global_conf, **local_conf) -> app`.
    AppFactory,
    /// `paste.composite_factory` (also `paste.composit_factory`):
    /// `f(loader, global_conf, **local_conf) -> app`.
    CompositeFactory,
    /// `paste.filter_factory`: `f(global_conf, **local_conf) -> filter`.
    FilterFactory,
    /// `paste.filter_app_factory`: `f(app, global_conf, **local_conf) -> app`.
    FilterAppFactory,
    /// `paste.server_factory`: `f(global_conf, **local_conf) -> server`.
    ServerFactory,
    /// `paste.server_runner`: `f(app, global_conf, **local_conf)`.
    ServerRunner,
}

impl Protocol {
    /// The explicit factory key: `paste.app_factory`, ...
    pub fn key(self) -> &'static str {
        match self {
            Protocol::AppFactory => "paste.app_factory",
            Protocol::CompositeFactory => "paste.composite_factory",
            Protocol::FilterFactory => "paste.filter_factory",
            Protocol::FilterAppFactory => "paste.filter_app_factory",
            Protocol::ServerFactory => "paste.server_factory",
            Protocol::ServerRunner => "paste.server_runner",
        }
    }

    /// The explicit factory keys accepted when loading `object`, as
    /// PasteDeploy's `egg_protocols`: groups of keys, only the first key of
    /// a group present counts, and two groups present is an error.
    pub(crate) fn explicit_groups(object: ObjectType) -> &'static [&'static [(&'static str, Protocol)]] {
        match object {
            ObjectType::App => &[
                &[("paste.app_factory", Protocol::AppFactory)],
                &[("paste.composite_factory", Protocol::CompositeFactory)],
                &[("paste.composit_factory", Protocol::CompositeFactory)],
            ],
            ObjectType::Filter => &[&[
                ("paste.filter_factory", Protocol::FilterFactory),
                ("paste.filter_app_factory", Protocol::FilterAppFactory),
            ]],
            ObjectType::Server => {
                &[&[("paste.server_factory", Protocol::ServerFactory), ("paste.server_runner", Protocol::ServerRunner)]]
            }
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// Where a factory comes from, as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FactoryRef {
    /// `egg:Dist#entry` (`entry` defaults to `main`): an entry point.
    Egg {
        /// The distribution, as written (`Paste`).
        dist: String,
        /// The entry point name (`urlmap`).
        entry: String,
    },
    /// `call:module:attr`: a Python object, protocol from the section kind.
    Call {
        /// The dotted module path.
        module: String,
        /// The attribute path inside the module (may be empty).
        attr: String,
    },
    /// The value of an explicit factory key: `module:attr` (an entry-point
    /// expression), or a Rust path for `deploy!`.
    Entry {
        /// The value as written.
        value: String,
    },
    /// `use = some::rust::path` (a value containing `::`): a Rust factory
    /// for `deploy!`; protocol from the section kind, like `call:`.
    Rust {
        /// The path as written.
        path: String,
    },
    /// `use = urlmap` or `use = select` naming no section: the built-in.
    Builtin {
        /// `urlmap` or `select`.
        name: String,
    },
}

impl FactoryRef {
    /// Whether this is `egg:<dist>#<entry>` with `dist` compared
    /// case-insensitively (pip normalises distribution names).
    pub fn is_egg(&self, dist: &str, entry: &str) -> bool {
        matches!(self, FactoryRef::Egg { dist: d, entry: e } if d.eq_ignore_ascii_case(dist) && e == entry)
    }
}

impl fmt::Display for FactoryRef {
    /// The canonical spelling, usable as a registry key: `egg:Paste#urlmap`,
    /// `call:nova.api.auth:pipeline_factory_v21`, `module:attr`, `a::b`,
    /// `urlmap`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FactoryRef::Egg { dist, entry } => write!(f, "egg:{dist}#{entry}"),
            FactoryRef::Call { module, attr } => write!(f, "call:{module}:{attr}"),
            FactoryRef::Entry { value } => f.write_str(value),
            FactoryRef::Rust { path } => f.write_str(path),
            FactoryRef::Builtin { name } => f.write_str(name),
        }
    }
}

/// A factory with its calling convention and the location of its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Factory<S> {
    /// What it is.
    pub reference: FactoryRef,
    /// How it is called. `None` only for an `egg:` entry point the
    /// [`Classifier`] does not know: PasteDeploy takes it from the entry
    /// point's group, so the registry that maps the name decides.
    pub protocol: Option<Protocol>,
    /// The token naming it (a `use` value, a `paste.*_factory` value, a
    /// pipeline item); `None` for a URI given by the caller.
    pub loc: Option<S>,
}

/// A section of the document, as the resolved tree refers to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionRef<S> {
    /// Its kind.
    pub kind: SectionKind,
    /// Its name (after the prefix and `:`, trimmed).
    pub name: String,
    /// The full header (`app:main`).
    pub header: String,
    /// Where the header is.
    pub loc: S,
}

/// One local setting passed to a factory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting<S> {
    /// The key (for `get x = y`, the local name `x`).
    pub key: String,
    /// The interpolated value.
    pub value: String,
    /// Where the key is, when it comes from the document.
    pub key_loc: Option<S>,
    /// Where the value is, when it comes from the document.
    pub value_loc: Option<S>,
}

/// What a factory receives: `local_conf` (its section's own settings, in
/// order) and `global_conf` (defaults, the caller's globals and `set`s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conf<S> {
    /// The local settings, in source order.
    pub local: Vec<Setting<S>>,
    /// The global settings.
    pub global: BTreeMap<String, String>,
}

impl<S> Conf<S> {
    /// The value of a local setting.
    pub fn local(&self, key: &str) -> Option<&str> {
        self.local.iter().find(|s| s.key == key).map(|s| s.value.as_str())
    }

    /// The local settings as a map.
    pub fn local_map(&self) -> BTreeMap<String, String> {
        self.local.iter().map(|s| (s.key.clone(), s.value.clone())).collect()
    }
}

/// A factory call: an app, a filter or a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf<S> {
    /// The factory.
    pub factory: Factory<S>,
    /// What it receives.
    pub conf: Conf<S>,
    /// The section it was configured in; `None` for an `egg:` URI written
    /// directly as a pipeline item, `next` or urlmap value.
    pub section: Option<SectionRef<S>>,
}

/// An application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppNode<S> {
    /// An app factory.
    App(Leaf<S>),
    /// A composite factory (urlmap, a keyed pipeline choice, or opaque).
    Composite(Composite<S>),
    /// `[pipeline:x]`: filters (first = outermost) around an app.
    Pipeline(Pipeline<S>),
    /// `[filter-app:x]`: one filter around `next`.
    FilterApp(FilterApp<S>),
    /// `filter-with = f` on an app or composite: `filter` wraps `inner`.
    FilterWith {
        /// The wrapped app.
        inner: Box<AppNode<S>>,
        /// The wrapping filter (outermost).
        filter: Box<FilterNode<S>>,
    },
    /// `[routes:x]`: a route table.
    Routes(RouteTable<S>),
}

/// A `[routes:x]` section: its routes, in source order, checked (valid
/// methods and patterns, no conflicts, no duplicates; see
/// [`crate::routes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTable<S> {
    /// The `[routes:x]` section.
    pub section: SectionRef<S>,
    /// The routes; a route's index is its id.
    pub routes: Vec<Route<S>>,
}

/// One line of a `[routes:x]` section: `GET|HEAD "/servers/{id}" = show`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route<S> {
    /// The methods, upper-case, in the order written; empty for `*` (any
    /// method).
    pub methods: Vec<String>,
    /// The path pattern, in `matchit` syntax (`/servers/{id}`).
    pub pattern: String,
    /// The handler as written: a Rust path, or a name the run-time
    /// registry knows.
    pub handler: String,
    /// Where the pattern is.
    pub pattern_loc: Option<S>,
    /// Where the handler is.
    pub handler_loc: Option<S>,
}

/// A filter: a factory of app wrappers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterNode<S> {
    /// A filter factory (`paste.filter_factory` or `paste.filter_app_factory`).
    Filter(Leaf<S>),
    /// `filter-with = f` on a filter: `filter` (outer) composed over `inner`.
    FilterWith {
        /// The inner filter.
        inner: Box<FilterNode<S>>,
        /// The outer filter.
        filter: Box<FilterNode<S>>,
    },
}

/// A pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pipeline<S> {
    /// The `[pipeline:x]` section.
    pub section: SectionRef<S>,
    /// The filters, first listed first: the first sees the request first.
    pub filters: Vec<FilterNode<S>>,
    /// The app at the end.
    pub app: Box<AppNode<S>>,
}

/// A filter-app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterApp<S> {
    /// The `[filter-app:x]` section.
    pub section: SectionRef<S>,
    /// The filter configured by the section.
    pub filter: Box<FilterNode<S>>,
    /// The app it wraps.
    pub next: Box<AppNode<S>>,
}

/// A composite app: its factory call, and its children when the
/// [`Classifier`] knows the factory's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composite<S> {
    /// The factory and its configuration.
    pub leaf: Leaf<S>,
    /// The children.
    pub shape: Shape<S>,
}

/// The children of a composite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape<S> {
    /// A urlmap.
    UrlMap(UrlMap<S>),
    /// One of several pipelines, chosen from configuration at start-up.
    Keyed(Keyed<S>),
    /// A factory the model does not know: children unresolved.
    Opaque,
}

/// A urlmap's mounts, in source order (the router sorts them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlMap<S> {
    /// The mounts.
    pub mounts: Vec<Mount<S>>,
    /// `not_found_app`, from the local or global conf.
    pub not_found: Option<Box<AppNode<S>>>,
}

/// One urlmap entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount<S> {
    /// The parsed, normalised key.
    pub key: crate::urlmap_key::MountKey,
    /// The key as written.
    pub raw_key: String,
    /// Where the key is.
    pub key_loc: Option<S>,
    /// The mounted app.
    pub app: AppNode<S>,
}

/// A keyed choice of pipelines (Nova's `pipeline_factory_v21`, `egg:rsgi#select`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyed<S> {
    /// The alternatives, in source order.
    pub choices: Vec<Choice<S>>,
    /// The composite's settings that are not alternatives (for
    /// `egg:rsgi#select`: `by` and `default`).
    pub settings: Vec<Setting<S>>,
}

/// One alternative of a [`Keyed`] composite: a pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice<S> {
    /// The key that selects it (`keystone`).
    pub key: String,
    /// Where the key is.
    pub key_loc: Option<S>,
    /// The filters, first = outermost.
    pub filters: Vec<FilterNode<S>>,
    /// The app at the end.
    pub app: Box<AppNode<S>>,
}

/// A resolved name of any object type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved<S> {
    /// An app.
    App(AppNode<S>),
    /// A filter.
    Filter(FilterNode<S>),
    /// A server.
    Server(Leaf<S>),
}

/// A section an operator can load as an app (`rsgi check` without `--name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loadable<S> {
    /// The name to load.
    pub name: String,
    /// The section it resolves to.
    pub section: SectionRef<S>,
}

/// The shape of a composite factory, as the [`Classifier`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CompositeKind {
    /// Paste's urlmap (and clones): every local key except `not_found_app`
    /// is a path expression, every value an app name.
    UrlMap,
    /// A keyed pipeline choice: every local key except `settings` maps to a
    /// whitespace-separated pipeline (filters, then an app). Children get
    /// only the file's defaults as global conf, as Nova's factory does.
    KeyedPipelines {
        /// Local keys that are settings, not alternatives.
        settings: Vec<String>,
    },
    /// `egg:rsgi#select`: like [`CompositeKind::KeyedPipelines`], with the
    /// settings `by` (the global setting that chooses, default
    /// `auth_strategy`) and `default` (the alternative taken when it is
    /// unset; it must name an alternative).
    Select,
    /// Unknown: the children are not resolved.
    Opaque,
}

/// Tells the model what it cannot read from the document: the protocol of
/// an `egg:` entry point, and the shape of a composite factory.
///
/// [`Builtins`] knows Paste's urlmap, Nova's urlmap and `egg:rsgi#…`;
/// wrap it to add more.
pub trait Classifier {
    /// The protocol of the `egg:` entry point `factory` when loaded as
    /// `object` (PasteDeploy reads it from the entry point's group), or
    /// `None` when unknown.
    fn egg_protocol(&self, factory: &FactoryRef, object: ObjectType) -> Option<Protocol> {
        Builtins.egg_protocol(factory, object)
    }

    /// The shape of the composite factory `factory`.
    fn composite_kind(&self, factory: &FactoryRef) -> CompositeKind {
        Builtins.composite_kind(factory)
    }
}

/// The built-in factories: `egg:Paste#urlmap` (any case of `Paste`, and the
/// bare `urlmap`), Nova's `call:nova.api.openstack.urlmap:urlmap_factory`,
/// `egg:rsgi#select` (and bare `select`), `egg:rsgi#echo`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Builtins;

impl Classifier for Builtins {
    fn egg_protocol(&self, factory: &FactoryRef, _object: ObjectType) -> Option<Protocol> {
        if factory.is_egg("Paste", "urlmap") || factory.is_egg("rsgi", "select") {
            Some(Protocol::CompositeFactory)
        } else if factory.is_egg("rsgi", "echo") {
            Some(Protocol::AppFactory)
        } else {
            None
        }
    }

    fn composite_kind(&self, factory: &FactoryRef) -> CompositeKind {
        match factory {
            f if f.is_egg("Paste", "urlmap") => CompositeKind::UrlMap,
            FactoryRef::Builtin { name } if name == "urlmap" => CompositeKind::UrlMap,
            FactoryRef::Call { module, attr } if module == "nova.api.openstack.urlmap" && attr == "urlmap_factory" => {
                CompositeKind::UrlMap
            }
            f if f.is_egg("rsgi", "select") => CompositeKind::Select,
            FactoryRef::Builtin { name } if name == "select" => CompositeKind::Select,
            _ => CompositeKind::Opaque,
        }
    }
}

impl<S> AppNode<S> {
    /// The section this node was configured in, when it has one.
    pub fn section(&self) -> Option<&SectionRef<S>> {
        match self {
            AppNode::App(leaf) => leaf.section.as_ref(),
            AppNode::Composite(c) => c.leaf.section.as_ref(),
            AppNode::Pipeline(p) => Some(&p.section),
            AppNode::FilterApp(f) => Some(&f.section),
            AppNode::FilterWith { inner, .. } => inner.section(),
            AppNode::Routes(t) => Some(&t.section),
        }
    }
}
