//! The [`Registry`]: factory names as an ini writes them, mapped to Rust
//! factories.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use rsgi_config::{Builtins, Classifier, CompositeKind, FactoryRef, ObjectType, Protocol};

use crate::app::{App, BoxApp};
use crate::echo::{EchoApp, TraceFilter};
use crate::factory::{Factory, SettingError, Settings};
use crate::filter::Filter;
use crate::filters::{
    CorsFilter, FaultWrapFilter, Healthcheck, HttpProxyToWsgiFilter, RequestIdFilter, RequestLogFilter, SizeLimitFilter,
};

/// A type-erased filter: wraps a [`BoxApp`] into another. What the loader
/// composes pipelines from.
///
/// # Examples
///
/// ```
/// use rsgi::loader::BoxFilter;
/// use rsgi::filters::SizeLimitFilter;
/// use rsgi::{BoxApp, Filter, app_fn};
///
/// let filter = BoxFilter::new(SizeLimitFilter::new(1024));
/// let _app: BoxApp = filter.wrap(BoxApp::new(app_fn(|_| async { "ok" })));
/// ```
#[derive(Clone)]
pub struct BoxFilter {
    wrap: Arc<dyn Fn(BoxApp) -> BoxApp + Send + Sync>,
}

impl BoxFilter {
    /// Erases the type of `filter`.
    pub fn new<F>(filter: F) -> Self
    where
        F: Filter<BoxApp> + Send + Sync + 'static,
    {
        BoxFilter { wrap: Arc::new(move |app| BoxApp::new(filter.wrap(app))) }
    }

    /// A filter from a function of the wrapped app.
    pub fn from_fn(wrap: impl Fn(BoxApp) -> BoxApp + Send + Sync + 'static) -> Self {
        BoxFilter { wrap: Arc::new(wrap) }
    }

    /// `outer` around `inner`: `outer` sees the request first (PasteDeploy's
    /// `filter-with` on a filter section).
    pub fn compose(inner: BoxFilter, outer: BoxFilter) -> Self {
        BoxFilter::from_fn(move |app| outer.wrap(inner.wrap(app)))
    }
}

impl fmt::Debug for BoxFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoxFilter").finish_non_exhaustive()
    }
}

impl Filter<BoxApp> for BoxFilter {
    type Output = BoxApp;
    fn wrap(&self, inner: BoxApp) -> BoxApp {
        (self.wrap)(inner)
    }
}

/// What a factory receives: the section it is configured in and its
/// settings (PasteDeploy's `local_conf` and `global_conf`, all strings).
#[derive(Debug, Clone)]
pub struct Context<'a> {
    pub(crate) section: Option<&'a str>,
    pub(crate) local: Vec<(&'a str, &'a str)>,
    pub(crate) global: &'a BTreeMap<String, String>,
}

impl<'a> Context<'a> {
    /// A context for tests and hand-built compositions.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use rsgi::loader::Context;
    ///
    /// let global = BTreeMap::new();
    /// let ctx = Context::new(Some("api"), vec![("name", "v2")], &global);
    /// assert_eq!((ctx.section(), ctx.get("name")), (Some("api"), Some("v2")));
    /// ```
    pub fn new(section: Option<&'a str>, local: Vec<(&'a str, &'a str)>, global: &'a BTreeMap<String, String>) -> Self {
        Context { section, local, global }
    }

    /// The name of the section the factory is configured in (`api` for
    /// `[app:api]`); `None` for an `egg:` URI written in place.
    pub fn section(&self) -> Option<&'a str> {
        self.section
    }

    /// The local settings, in source order.
    pub fn local(&self) -> &[(&'a str, &'a str)] {
        &self.local
    }

    /// The value of a local setting.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.local.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }

    /// The local settings as a map.
    pub fn local_map(&self) -> BTreeMap<String, String> {
        self.local.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    /// The global settings (`[DEFAULT]`, `here`, `__file__`, `set`s).
    pub fn global(&self) -> &'a BTreeMap<String, String> {
        self.global
    }

    /// Applies every local setting to a typed `S` with [`Settings::set`],
    /// skipping `ignored` keys; every failing key is reported.
    ///
    /// # Errors
    ///
    /// [`FactoryError::Settings`] with one [`SettingError`] per bad key.
    pub fn settings<S: Settings>(&self, ignored: &[&str]) -> Result<S, FactoryError> {
        let mut settings = S::default();
        let errors: Vec<SettingError> = self
            .local
            .iter()
            .filter(|(k, _)| !ignored.contains(k))
            .filter_map(|(k, v)| settings.set(k, v).err())
            .collect();
        if errors.is_empty() { Ok(settings) } else { Err(FactoryError::Settings(errors)) }
    }
}

/// Why a factory could not build its app or filter.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FactoryError {
    /// Settings that could not be applied, each naming its key.
    Settings(Vec<SettingError>),
    /// Anything else, as a lowercase message.
    Other(String),
}

impl fmt::Display for FactoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FactoryError::Settings(errors) => {
                for (i, e) in errors.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{e}")?;
                }
                Ok(())
            }
            FactoryError::Other(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for FactoryError {}

type AppMaker = Arc<dyn Fn(&Context<'_>) -> Result<BoxApp, FactoryError> + Send + Sync>;
type FilterMaker = Arc<dyn Fn(&Context<'_>) -> Result<BoxFilter, FactoryError> + Send + Sync>;

/// How a keyed composite picks its pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Choose {
    /// `egg:rsgi#select`: its own `by` (default `auth_strategy`) and
    /// `default` settings.
    Select,
    /// OpenStack's `pipeline_factory` shape: the global setting `by`, else
    /// `default`.
    Global { by: String, default: String },
}

/// A registered factory.
#[derive(Clone)]
pub(crate) enum Entry {
    App(AppMaker),
    Filter { make: FilterMaker, protocol: Protocol },
    UrlMap,
    Keyed(Choose),
}

impl Entry {
    fn protocol(&self) -> Protocol {
        match self {
            Entry::App(_) => Protocol::AppFactory,
            Entry::Filter { protocol, .. } => *protocol,
            Entry::UrlMap | Entry::Keyed(_) => Protocol::CompositeFactory,
        }
    }

    pub(crate) fn kind_word(&self) -> &'static str {
        match self {
            Entry::App(_) => "an app factory",
            Entry::Filter { protocol: Protocol::FilterAppFactory, .. } => "a filter-app factory",
            Entry::Filter { .. } => "a filter factory",
            Entry::UrlMap | Entry::Keyed(_) => "a composite factory",
        }
    }
}

/// The keys oslo.middleware's base class reads for itself on every
/// middleware; a typed factory registered under an oslo name ignores them.
pub const OSLO_CONFIG_KEYS: &[&str] = &["oslo_config_project", "oslo_config_program", "oslo_config_file"];

/// The built-in names and the Rust path each stands for (what `deploy!`
/// writes); kept next to [`Registry::default`], which registers them.
const RUST_PATHS: &[(&[&str], &str)] = &[
    (&["egg:Paste#urlmap", "urlmap", "nova.api.openstack.urlmap:urlmap_factory"], "urlmap"),
    (&["egg:rsgi#select", "select"], "select"),
    (&["egg:rsgi#echo"], "rsgi::echo::EchoApp"),
    (&["egg:rsgi#trace"], "rsgi::echo::TraceFilter"),
    (
        &[
            "oslo_middleware:RequestId.factory",
            "oslo_middleware.request_id:RequestId.factory",
            "nova.api.compute_req_id:ComputeReqIdMiddleware.factory",
            "egg:rsgi#request_id",
        ],
        "rsgi::filters::RequestIdFilter",
    ),
    (&["nova.api.openstack:FaultWrapper.factory", "egg:rsgi#faultwrap"], "rsgi::filters::FaultWrapFilter"),
    (
        &[
            "oslo_middleware:RequestBodySizeLimiter.factory",
            "oslo_middleware.sizelimit:RequestBodySizeLimiter.factory",
            "egg:rsgi#sizelimit",
        ],
        "rsgi::filters::SizeLimitFilter",
    ),
    (
        &[
            "oslo_middleware:HTTPProxyToWSGI.factory",
            "oslo_middleware.http_proxy_to_wsgi:HTTPProxyToWSGI.factory",
            "egg:rsgi#http_proxy_to_wsgi",
        ],
        "rsgi::filters::HttpProxyToWsgiFilter",
    ),
    (
        &[
            "oslo_middleware.cors:filter_factory",
            "oslo_middleware:CORS.factory",
            "oslo_middleware.cors:CORS.factory",
            "egg:rsgi#cors",
        ],
        "rsgi::filters::CorsFilter",
    ),
    (&["nova.api.openstack.requestlog:RequestLog.factory", "egg:rsgi#request_log"], "rsgi::filters::RequestLogFilter"),
    (
        &[
            "oslo_middleware:Healthcheck.app_factory",
            "oslo_middleware.healthcheck:Healthcheck.app_factory",
            "egg:rsgi#healthcheck",
        ],
        "rsgi::filters::Healthcheck",
    ),
];

/// Factory names as an ini writes them (`egg:Paste#urlmap`,
/// `oslo_middleware:RequestBodySizeLimiter.factory`, `call:m:f`,
/// `rsgi::filters::SizeLimitFilter`), mapped to Rust factories.
///
/// Names are matched as written, except that an `egg:` distribution is
/// compared case-insensitively with `#main` implied, and `call:m:f` and
/// `m:f` name the same object (as in Python).
///
/// [`Registry::default`] has the built-ins and the standard filters under
/// the names OpenStack files use for them:
///
/// | names | factory |
/// |---|---|
/// | `egg:Paste#urlmap`, `urlmap`, `call:nova.api.openstack.urlmap:urlmap_factory` | urlmap |
/// | `egg:rsgi#select`, `select` | select (`by`, default `auth_strategy`; `default`) |
/// | `egg:rsgi#echo` | [`EchoApp`] (named by its `name` setting, else its section) |
/// | `egg:rsgi#trace` | [`TraceFilter`] (same naming) |
/// | `oslo_middleware:RequestId.factory`, `oslo_middleware.request_id:RequestId.factory`, `nova.api.compute_req_id:ComputeReqIdMiddleware.factory`, `egg:rsgi#request_id` | [`RequestIdFilter`] |
/// | `nova.api.openstack:FaultWrapper.factory`, `egg:rsgi#faultwrap` | [`FaultWrapFilter`] |
/// | `oslo_middleware:RequestBodySizeLimiter.factory`, `oslo_middleware.sizelimit:RequestBodySizeLimiter.factory`, `egg:rsgi#sizelimit` | [`SizeLimitFilter`] |
/// | `oslo_middleware:HTTPProxyToWSGI.factory`, `oslo_middleware.http_proxy_to_wsgi:HTTPProxyToWSGI.factory`, `egg:rsgi#http_proxy_to_wsgi` | [`HttpProxyToWsgiFilter`] |
/// | `oslo_middleware.cors:filter_factory`, `oslo_middleware:CORS.factory`, `oslo_middleware.cors:CORS.factory`, `egg:rsgi#cors` | [`CorsFilter`] |
/// | `nova.api.openstack.requestlog:RequestLog.factory`, `egg:rsgi#request_log` | [`RequestLogFilter`] |
/// | `oslo_middleware:Healthcheck.app_factory`, `oslo_middleware.healthcheck:Healthcheck.app_factory`, `egg:rsgi#healthcheck` | [`Healthcheck`] (an app) |
///
/// Each standard factory is also registered under its Rust path
/// (`rsgi::filters::SizeLimitFilter`). The oslo names ignore
/// [`OSLO_CONFIG_KEYS`].
///
/// # Examples
///
/// ```
/// use rsgi::loader::Registry;
/// use rsgi::filters::SizeLimitFilter;
///
/// let mut registry = Registry::default();
/// registry.filter::<SizeLimitFilter>("mycompany.middleware:Limit.factory");
/// assert!(registry.contains("mycompany.middleware:Limit.factory"));
/// assert!(registry.contains("egg:paste#urlmap"));
/// ```
#[derive(Clone)]
pub struct Registry {
    entries: BTreeMap<String, Entry>,
    /// Route handlers of `[routes:…]` sections, by the name the ini gives.
    handlers: BTreeMap<String, crate::routes::BoxHandler>,
    stub_unknown: bool,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("names", &self.entries.keys().collect::<Vec<_>>())
            .field("handlers", &self.handlers.keys().collect::<Vec<_>>())
            .field("stub_unknown", &self.stub_unknown)
            .finish()
    }
}

impl Default for Registry {
    fn default() -> Self {
        let mut r = Registry::empty();
        for name in ["egg:Paste#urlmap", "urlmap", "call:nova.api.openstack.urlmap:urlmap_factory"] {
            r.urlmap(name);
        }
        for name in ["egg:rsgi#select", "select"] {
            r.insert(name, Entry::Keyed(Choose::Select));
        }
        r.echo("egg:rsgi#echo", None);
        r.trace("egg:rsgi#trace", None, Protocol::FilterFactory);
        let oslo = OSLO_CONFIG_KEYS;
        r.typed_filter::<RequestIdFilter>(
            &[
                "oslo_middleware:RequestId.factory",
                "oslo_middleware.request_id:RequestId.factory",
                "nova.api.compute_req_id:ComputeReqIdMiddleware.factory",
                "egg:rsgi#request_id",
                "rsgi::filters::RequestIdFilter",
            ],
            oslo,
        );
        r.typed_filter::<FaultWrapFilter>(
            &["nova.api.openstack:FaultWrapper.factory", "egg:rsgi#faultwrap", "rsgi::filters::FaultWrapFilter"],
            &[],
        );
        r.typed_filter::<SizeLimitFilter>(
            &[
                "oslo_middleware:RequestBodySizeLimiter.factory",
                "oslo_middleware.sizelimit:RequestBodySizeLimiter.factory",
                "egg:rsgi#sizelimit",
                "rsgi::filters::SizeLimitFilter",
            ],
            oslo,
        );
        r.typed_filter::<HttpProxyToWsgiFilter>(
            &[
                "oslo_middleware:HTTPProxyToWSGI.factory",
                "oslo_middleware.http_proxy_to_wsgi:HTTPProxyToWSGI.factory",
                "egg:rsgi#http_proxy_to_wsgi",
                "rsgi::filters::HttpProxyToWsgiFilter",
            ],
            oslo,
        );
        r.typed_filter::<CorsFilter>(
            &[
                "oslo_middleware.cors:filter_factory",
                "oslo_middleware:CORS.factory",
                "oslo_middleware.cors:CORS.factory",
                "egg:rsgi#cors",
                "rsgi::filters::CorsFilter",
            ],
            oslo,
        );
        r.typed_filter::<RequestLogFilter>(
            &[
                "nova.api.openstack.requestlog:RequestLog.factory",
                "egg:rsgi#request_log",
                "rsgi::filters::RequestLogFilter",
            ],
            &[],
        );
        for name in [
            "oslo_middleware:Healthcheck.app_factory",
            "oslo_middleware.healthcheck:Healthcheck.app_factory",
            "egg:rsgi#healthcheck",
            "rsgi::filters::Healthcheck",
        ] {
            r.typed_app::<Healthcheck>(name, oslo);
        }
        r
    }
}

impl Registry {
    /// A registry that knows nothing, not even urlmap.
    pub fn empty() -> Self {
        Registry { entries: BTreeMap::new(), handlers: BTreeMap::new(), stub_unknown: false }
    }

    /// Makes unknown factories stubs instead of errors (`--stub-unknown`):
    /// an unknown app factory becomes an [`EchoApp`], an unknown filter
    /// factory a [`TraceFilter`] (each named by its `name` setting, else its
    /// section), and an unknown composite whose settings are pipelines
    /// (OpenStack's `pipeline_factory` shape) a select over them on the
    /// global setting `auth_strategy`, `keystone` when unset. An unknown
    /// composite whose keys are paths is a urlmap.
    pub fn stub_unknown(mut self, on: bool) -> Self {
        self.stub_unknown = on;
        self
    }

    /// Whether unknown factories become stubs.
    pub fn stubs_unknown(&self) -> bool {
        self.stub_unknown
    }

    /// Whether `name` is registered (spelled as in an ini).
    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(&normalize(name))
    }

    /// The Rust path of the built-in factory registered under `name`
    /// (`oslo_middleware:RequestId.factory` → `rsgi::filters::RequestIdFilter`),
    /// for `rsgi expand`.
    ///
    /// # Examples
    ///
    /// ```
    /// use rsgi::loader::Registry;
    /// assert_eq!(Registry::rust_path("egg:paste#urlmap"), Some("urlmap"));
    /// assert_eq!(Registry::rust_path("oslo_middleware:RequestBodySizeLimiter.factory"), Some("rsgi::filters::SizeLimitFilter"));
    /// ```
    pub fn rust_path(name: &str) -> Option<&'static str> {
        let name = normalize(name);
        let name = name.strip_prefix("call:").unwrap_or(&name);
        RUST_PATHS.iter().find(|(names, _)| names.iter().any(|n| normalize(n) == name)).map(|(_, path)| *path)
    }

    /// Registers a typed app factory: each local setting goes through
    /// [`Settings::set`].
    pub fn app<F>(&mut self, name: &str) -> &mut Self
    where
        F: Factory,
        F::Output: App,
    {
        self.typed_app::<F>(name, &[])
    }

    /// Registers a typed filter factory (`paste.filter_factory`): each local
    /// setting goes through [`Settings::set`].
    ///
    /// # Examples
    ///
    /// ```
    /// use rsgi::loader::Registry;
    /// use rsgi::filters::SizeLimitFilter;
    ///
    /// let mut registry = Registry::empty();
    /// registry.filter::<SizeLimitFilter>("oslo_middleware:RequestBodySizeLimiter.factory");
    /// ```
    pub fn filter<F>(&mut self, name: &str) -> &mut Self
    where
        F: Factory,
        F::Output: Filter<BoxApp> + Send + Sync + 'static,
    {
        self.typed_filter::<F>(&[name], &[])
    }

    /// Registers a typed filter-app factory (`paste.filter_app_factory`:
    /// the protocol an `egg:` entry point of this name has).
    pub fn filter_app<F>(&mut self, name: &str) -> &mut Self
    where
        F: Factory,
        F::Output: Filter<BoxApp> + Send + Sync + 'static,
    {
        let make: FilterMaker = Arc::new(|ctx: &Context<'_>| Ok(BoxFilter::new(F::build(ctx.settings(&[])?))));
        self.insert(name, Entry::Filter { make, protocol: Protocol::FilterAppFactory })
    }

    /// Registers an untyped app factory, given the whole [`Context`].
    ///
    /// # Examples
    ///
    /// ```
    /// use rsgi::loader::Registry;
    /// use rsgi::{BoxApp, app_fn};
    ///
    /// let mut registry = Registry::default();
    /// registry.app_with("myapp:make", |ctx| {
    ///     let greeting = ctx.get("greeting").unwrap_or("hello").to_owned();
    ///     Ok(BoxApp::new(app_fn(move |_| { let g = greeting.clone(); async move { g } })))
    /// });
    /// ```
    pub fn app_with(
        &mut self,
        name: &str,
        make: impl Fn(&Context<'_>) -> Result<BoxApp, FactoryError> + Send + Sync + 'static,
    ) -> &mut Self {
        self.insert(name, Entry::App(Arc::new(make)))
    }

    /// Registers an untyped filter factory, given the whole [`Context`].
    pub fn filter_with(
        &mut self,
        name: &str,
        make: impl Fn(&Context<'_>) -> Result<BoxFilter, FactoryError> + Send + Sync + 'static,
    ) -> &mut Self {
        self.insert(name, Entry::Filter { make: Arc::new(make), protocol: Protocol::FilterFactory })
    }

    /// Registers an untyped filter-app factory, given the whole [`Context`].
    pub fn filter_app_with(
        &mut self,
        name: &str,
        make: impl Fn(&Context<'_>) -> Result<BoxFilter, FactoryError> + Send + Sync + 'static,
    ) -> &mut Self {
        self.insert(name, Entry::Filter { make: Arc::new(make), protocol: Protocol::FilterAppFactory })
    }

    /// Registers `name` as Paste's urlmap (for clones such as
    /// `call:cinder.api:root_app_factory`).
    pub fn urlmap(&mut self, name: &str) -> &mut Self {
        self.insert(name, Entry::UrlMap)
    }

    /// Registers `name` as a keyed pipeline choice in OpenStack's
    /// `pipeline_factory` shape: every setting is an alternative (a
    /// pipeline), chosen by the global setting `by` (`[DEFAULT]` or `set`),
    /// `default` when unset. Every alternative is built and checked.
    ///
    /// # Examples
    ///
    /// ```
    /// use rsgi::loader::Registry;
    ///
    /// let mut registry = Registry::default();
    /// registry.keyed("call:nova.api.auth:pipeline_factory_v21", "auth_strategy", "keystone");
    /// ```
    pub fn keyed(&mut self, name: &str, by: &str, default: &str) -> &mut Self {
        self.insert(name, Entry::Keyed(Choose::Global { by: by.to_owned(), default: default.to_owned() }))
    }

    /// Registers `name` as an [`EchoApp`] factory, named by its `name`
    /// setting, else `unnamed` when given (`oracle_apps:make_app` says
    /// `unnamed`), else its section name.
    pub fn echo(&mut self, name: &str, unnamed: Option<&'static str>) -> &mut Self {
        self.app_with(name, move |ctx| Ok(BoxApp::new(echo_app(ctx, unnamed))))
    }

    /// Registers `name` as a [`TraceFilter`] factory with `protocol`
    /// (`paste.filter_factory` or `paste.filter_app_factory`), named by its
    /// `name` setting, else `unnamed` when given, else its section name.
    pub fn trace(&mut self, name: &str, unnamed: Option<&'static str>, protocol: Protocol) -> &mut Self {
        let make: FilterMaker = Arc::new(move |ctx: &Context<'_>| Ok(BoxFilter::new(trace_filter(ctx, unnamed))));
        self.insert(name, Entry::Filter { make, protocol })
    }

    /// Adds `keys` to the keys a registered factory ignores (for settings
    /// another system reads, such as oslo.config's).
    pub fn ignore_keys(&mut self, name: &str, keys: &'static [&'static str]) -> &mut Self {
        let key = normalize(name);
        let wrapped = match self.entries.get(&key) {
            Some(Entry::App(make)) => {
                let make = Arc::clone(make);
                Entry::App(Arc::new(move |ctx: &Context<'_>| make(&without(ctx, keys))))
            }
            Some(Entry::Filter { make, protocol }) => {
                let make = Arc::clone(make);
                Entry::Filter {
                    make: Arc::new(move |ctx: &Context<'_>| make(&without(ctx, keys))),
                    protocol: *protocol,
                }
            }
            _ => return self,
        };
        self.entries.insert(key, wrapped);
        self
    }

    fn typed_app<F>(&mut self, name: &str, ignored: &'static [&'static str]) -> &mut Self
    where
        F: Factory,
        F::Output: App,
    {
        let make: AppMaker = Arc::new(move |ctx: &Context<'_>| Ok(BoxApp::new(F::build(ctx.settings(ignored)?))));
        self.insert(name, Entry::App(make))
    }

    fn typed_filter<F>(&mut self, names: &[&str], ignored: &'static [&'static str]) -> &mut Self
    where
        F: Factory,
        F::Output: Filter<BoxApp> + Send + Sync + 'static,
    {
        let make: FilterMaker = Arc::new(move |ctx: &Context<'_>| Ok(BoxFilter::new(F::build(ctx.settings(ignored)?))));
        for name in names {
            self.insert(name, Entry::Filter { make: Arc::clone(&make), protocol: Protocol::FilterFactory });
        }
        self
    }

    /// Registers a route handler under `name`, the value of a route line in
    /// a `[routes:…]` section (`GET "/servers/{id}" = servers.show`). Any
    /// name works, a Rust path (`servers::show`) as well as a dotted one.
    ///
    /// # Examples
    ///
    /// ```
    /// use rsgi::loader::{Deployment, Registry};
    /// use rsgi::{IntoResponse, Request};
    ///
    /// async fn show(req: Request) -> impl IntoResponse {
    ///     format!("server {}", rsgi::routes::params(&req).get("id").unwrap_or_default())
    /// }
    ///
    /// let mut registry = Registry::default();
    /// registry.handler("servers::show", show);
    /// let ini = "[routes:main]\nGET \"/servers/{id}\" = servers::show\n";
    /// let app = Deployment::parse(ini, "api-paste.ini")?.load("main", &registry)?;
    /// # let _ = app;
    /// # Ok::<(), rsgi::loader::LoadError>(())
    /// ```
    pub fn handler<H: crate::routes::Handler>(&mut self, name: &str, handler: H) -> &mut Self {
        self.handlers.insert(name.to_owned(), crate::routes::BoxHandler::new(handler));
        self
    }

    /// The route handler registered under `name`.
    pub(crate) fn lookup_handler(&self, name: &str) -> Option<&crate::routes::BoxHandler> {
        self.handlers.get(name)
    }

    /// The names of the registered route handlers.
    pub(crate) fn handler_names(&self) -> impl Iterator<Item = &str> {
        self.handlers.keys().map(String::as_str)
    }

    fn insert(&mut self, name: &str, entry: Entry) -> &mut Self {
        self.entries.insert(normalize(name), entry);
        self
    }

    /// The entry for a factory reference: as written, then `call:m:f` as
    /// `m:f` and the other way round.
    pub(crate) fn lookup(&self, factory: &FactoryRef) -> Option<&Entry> {
        let written = normalize(&factory.to_string());
        if let Some(e) = self.entries.get(&written) {
            return Some(e);
        }
        match factory {
            FactoryRef::Call { module, attr } => self.entries.get(&format!("{module}:{attr}")),
            FactoryRef::Entry { value } => self.entries.get(&format!("call:{value}")),
            _ => None,
        }
    }

    /// Registered names close to `factory`, for "did you mean".
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }
}

fn without<'a>(ctx: &Context<'a>, keys: &[&str]) -> Context<'a> {
    Context {
        section: ctx.section,
        local: ctx.local.iter().filter(|(k, _)| !keys.contains(k)).copied().collect(),
        global: ctx.global,
    }
}

/// `egg:Dist#entry` with the distribution lower-cased and `#main` implied;
/// any other name as written.
pub(crate) fn normalize(name: &str) -> String {
    match name.strip_prefix("egg:") {
        Some(rest) => {
            let (dist, entry) = rest.split_once('#').unwrap_or((rest, "main"));
            format!("egg:{}#{entry}", dist.to_ascii_lowercase())
        }
        None => name.to_owned(),
    }
}

/// The name a stub or echo reports: its `name` setting, else `unnamed`,
/// else its section's name.
pub(crate) fn stub_name(ctx: &Context<'_>, unnamed: Option<&'static str>) -> String {
    ctx.get("name").or(unnamed).or(ctx.section).unwrap_or("unnamed").to_owned()
}

pub(crate) fn echo_app(ctx: &Context<'_>, unnamed: Option<&'static str>) -> EchoApp {
    EchoApp::new(&stub_name(ctx, unnamed), ctx.local_map(), ctx.global.clone())
}

pub(crate) fn trace_filter(ctx: &Context<'_>, unnamed: Option<&'static str>) -> TraceFilter {
    TraceFilter::new(&stub_name(ctx, unnamed), ctx.local_map())
}

/// The [`Classifier`] the model resolves with: the registry's protocols
/// and composite shapes, then the built-ins, then (with stubs) the shapes
/// guessed from the document.
pub(crate) struct RegistryClassifier<'r> {
    pub(crate) registry: &'r Registry,
    /// Unknown composite factories and the shape their sections have.
    pub(crate) guessed: BTreeMap<String, CompositeKind>,
}

impl Classifier for RegistryClassifier<'_> {
    fn egg_protocol(&self, factory: &FactoryRef, object: ObjectType) -> Option<Protocol> {
        match self.registry.lookup(factory) {
            Some(entry) => Some(entry.protocol()),
            None => Builtins.egg_protocol(factory, object),
        }
    }

    fn composite_kind(&self, factory: &FactoryRef) -> CompositeKind {
        match self.registry.lookup(factory) {
            Some(Entry::UrlMap) => CompositeKind::UrlMap,
            Some(Entry::Keyed(Choose::Select)) => CompositeKind::Select,
            Some(Entry::Keyed(Choose::Global { .. })) => CompositeKind::KeyedPipelines { settings: Vec::new() },
            Some(_) => CompositeKind::Opaque,
            None => match Builtins.composite_kind(factory) {
                CompositeKind::Opaque => {
                    self.guessed.get(&normalize(&factory.to_string())).cloned().unwrap_or(CompositeKind::Opaque)
                }
                known => known,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rust_path_name_is_registered() {
        let r = Registry::default();
        for (names, path) in RUST_PATHS {
            for name in *names {
                let name = if name.contains("urlmap_factory") { format!("call:{name}") } else { (*name).to_owned() };
                assert!(r.contains(&name), "{name} ({path}) is not registered");
            }
            if path.starts_with("rsgi::filters::") {
                assert!(r.contains(path), "{path} is not registered");
            }
        }
    }

    #[test]
    fn names_match_as_python_does() {
        let r = Registry::default();
        let egg = FactoryRef::Egg { dist: "paste".into(), entry: "urlmap".into() };
        assert!(r.lookup(&egg).is_some());
        let call = FactoryRef::Call { module: "oslo_middleware".into(), attr: "RequestId.factory".into() };
        assert!(r.lookup(&call).is_some());
        assert_eq!(normalize("egg:FakeOracle"), "egg:fakeoracle#main");
    }
}
