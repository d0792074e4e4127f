//! The run-time loader: PasteDeploy's `loadapp` for an `api-paste.ini` read
//! at start-up, composed from Rust factories (SPEC §2.2).
//!
//! ```text
//! api-paste.ini ──rsgi_config (parse, resolve, check)──> resolved tree ──Registry──> BoxApp
//! ```
//!
//! Parsing, name resolution and every check are those of `rsgi-config`,
//! shared with `deploy!`: PasteDeploy's rules for `use`, `[DEFAULT]`,
//! `set`/`get`, interpolation, `filter-with`, `filter-app`/`next`,
//! pipelines, urlmap and keyed pipeline choices. A [`Registry`] maps the
//! factory names the file writes (`egg:Paste#urlmap`, `egg:rsgi#echo`,
//! `module:attr`, `call:…`) to Rust factories; the loader composes the tree
//! with [`BoxApp`]s at the seams (the shape is only known at run time; use
//! `deploy!` for a statically typed composition).
//!
//! Factories with typed settings ([`crate::factory::Factory`]) get each key
//! of their section through [`Settings::set`](crate::factory::Settings::set):
//! an unknown key or a bad value is a load error naming `file:line`, the
//! section and the key. Every error names `file:line` and its section, and
//! one load reports every error it can find.
//!
//! # Examples
//!
//! ```
//! use rsgi::loader::{Registry, loadapp_str};
//! use rsgi::{App, Request};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), rsgi::BoxError> {
//! let ini = "\
//! [composite:main]
//! use = egg:Paste#urlmap
//! /: versions
//! /v2.1: api
//!
//! [pipeline:api]
//! pipeline = request_id sizelimit servers
//!
//! [filter:request_id]
//! paste.filter_factory = oslo_middleware:RequestId.factory
//! [filter:sizelimit]
//! paste.filter_factory = oslo_middleware:RequestBodySizeLimiter.factory
//! max_request_body_size = 1024
//! [app:servers]
//! use = egg:rsgi#echo
//! [app:versions]
//! use = egg:rsgi#echo
//! ";
//! let app = loadapp_str(ini, "api-paste.ini", "main", &Registry::default())?;
//! let res = app.call(Request::get("/v2.1/servers")).await;
//! let seen: serde_json::Value = serde_json::from_slice(&res.into_body().collect_bytes().await?)?;
//! assert_eq!((seen["app"].as_str(), seen["SCRIPT_NAME"].as_str()), (Some("servers"), Some("/v2.1")));
//!
//! // A typo'd setting is an error at its line.
//! let bad = ini.replace("max_request_body_size", "max_body_size");
//! let err = loadapp_str(&bad, "api-paste.ini", "main", &Registry::default()).unwrap_err();
//! assert!(err.to_string().starts_with(
//!     "error: unknown setting `max_body_size`; expected one of `max_request_body_size`\n  --> api-paste.ini:13 in [filter:sizelimit]"
//! ));
//! # Ok(())
//! # }
//! ```
//!
//! # DEVIATIONS
//!
//! Besides those of the shared model (see the `rsgi-config` crate docs:
//! cycles, `filter-with` on a pipeline, `call:` in `filter-app`, a bare
//! `%`, two factories in one section, … are load errors):
//!
//! - **Typed settings**: a key a typed factory does not take is an error
//!   (PasteDeploy passes it on as a keyword argument).
//! - **Keyed pipeline choices** build every alternative, so each is checked;
//!   the one configured is served.
//! - **`[server:…]`**: the section's factory is not called; its settings
//!   configure the rsgi server ([`Config::set`], plus `host`/`port` and
//!   `listen`). Settings that are not rsgi server options are reported as
//!   warnings and ignored.
//! - **`config:`** references to other files are not supported yet.
//! - **Unknown factories** are errors, or with [`Registry::stub_unknown`]
//!   echo apps and trace filters, so that any real file can be checked.

mod build;
mod error;
mod registry;
mod stub;

use std::collections::BTreeSet;
use std::path::Path;

use rsgi_config::{Loc, Model, ObjectType, RawDocument, ini};

pub use error::{ErrorKind, LoadDiagnostic, LoadError};
pub use registry::{BoxFilter, Context, FactoryError, OSLO_CONFIG_KEYS, Registry};
/// The shared deployment model (`rsgi-config`), for [`Options`] and the
/// resolved tree.
pub use rsgi_config as config;
pub use rsgi_config::Options;

use crate::app::BoxApp;
use crate::server::Config;
use build::Builder;
use registry::RegistryClassifier;

/// A parsed deployment file, ready to load any of its names.
///
/// # Examples
///
/// ```
/// use rsgi::loader::{Deployment, Registry};
///
/// let d = Deployment::parse("[app:main]\nuse = egg:rsgi#echo\n[app:other]\nuse = egg:rsgi#echo\n", "a.ini")?;
/// assert_eq!(d.loadable(), ["main", "other"]);
/// let checked = d.check(None, &Registry::default())?;
/// assert_eq!(checked.apps, ["main", "other"]);
/// let _app = d.load("other", &Registry::default())?;
/// # Ok::<(), rsgi::loader::LoadError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Deployment {
    doc: RawDocument<Loc>,
    options: Options,
}

/// What [`Deployment::check`] found in a deployment without errors.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Checked {
    /// The app names checked (loaded and built).
    pub apps: Vec<String>,
    /// The `[server:…]` sections checked.
    pub servers: Vec<String>,
    /// Warnings (ignored server settings), rendered.
    pub warnings: Vec<String>,
}

impl Deployment {
    /// Reads and parses `path`; `here` and `__file__` are its absolute
    /// directory and path, locations use `path` as given.
    ///
    /// # Errors
    ///
    /// The file cannot be read, or has syntax errors or duplicates.
    pub fn read(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let doc = match std::fs::read(path) {
            Ok(bytes) => {
                ini::parse_bytes(&bytes, &name).map_err(|e| located(e, &String::from_utf8_lossy(&bytes), &name))?
            }
            Err(_) => {
                return Err(LoadError::from_config(ini::read_file(path).err().unwrap_or_default(), None));
            }
        };
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        Ok(Deployment { doc, options: Options::for_file(&absolute.to_string_lossy()) })
    }

    /// Parses `text` as the file `file` (used in locations, `here` and
    /// `__file__`).
    ///
    /// # Errors
    ///
    /// Syntax errors or duplicates.
    pub fn parse(text: &str, file: &str) -> Result<Self, LoadError> {
        let doc = ini::parse(text, file).map_err(|e| located(e, text, file))?;
        Ok(Deployment { doc, options: Options::for_file(file) })
    }

    /// Replaces the options: `here`, `__file__` and the caller's
    /// `global_conf` (PasteDeploy's `loadapp(global_conf=…)`).
    pub fn with_options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }

    /// The parsed document.
    pub fn document(&self) -> &RawDocument<Loc> {
        &self.doc
    }

    /// Every name an operator can load as an app, in source order.
    pub fn loadable(&self) -> Vec<String> {
        self.model().loadable().into_iter().map(|l| l.name).collect()
    }

    /// The names of the `[server:…]` sections, in source order.
    pub fn servers(&self) -> Vec<String> {
        let mut seen = BTreeSet::new();
        self.doc
            .sections
            .iter()
            .filter_map(|s| s.header.strip_prefix("server:").map(str::trim))
            .filter(|n| seen.insert(n.to_string()))
            .map(str::to_owned)
            .collect()
    }

    fn model(&self) -> Model<'_, Loc> {
        Model::new(&self.doc, &self.options)
    }

    fn classifier<'r>(&self, registry: &'r Registry) -> RegistryClassifier<'r> {
        let guessed = if registry.stubs_unknown() { stub::guess_composites(&self.doc) } else { Default::default() };
        RegistryClassifier { registry, guessed }
    }

    /// Loads `name` as an app (PasteDeploy's `loadapp`).
    ///
    /// # Errors
    ///
    /// Every error found: resolution (unknown sections, cycles, …),
    /// unknown factories, bad settings.
    pub fn load(&self, name: &str, registry: &Registry) -> Result<BoxApp, LoadError> {
        let classifier = self.classifier(registry);
        let node =
            self.model().resolve_app(name, &classifier).map_err(|e| LoadError::from_config(e, Some(&self.doc)))?;
        let mut builder = Builder { registry, errors: Vec::new() };
        match builder.app(&node) {
            Some(app) if builder.errors.is_empty() => Ok(app),
            _ => Err(self.errors(builder.errors)),
        }
    }

    fn errors(&self, mut errors: Vec<error::LoadDiagnostic>) -> LoadError {
        if errors.is_empty() {
            errors.push(LoadDiagnostic::new(ErrorKind::Factory, "the deployment could not be built", None, None));
        }
        LoadError { errors }
    }

    /// Checks like `nginx -t`: loads and builds `name`, or without a name
    /// every loadable app, and applies every `[server:…]` section to a
    /// default server [`Config`]; reports every error once.
    ///
    /// # Errors
    ///
    /// Every error found.
    pub fn check(&self, name: Option<&str>, registry: &Registry) -> Result<Checked, LoadError> {
        let classifier = self.classifier(registry);
        let model = self.model();
        let mut errors: Vec<LoadDiagnostic> = Vec::new();
        let names = match name {
            Some(n) => vec![n.to_owned()],
            None => {
                let diags = model.check_all(&classifier);
                errors.extend(LoadError::from_config(diags, Some(&self.doc)).errors.into_iter().filter(|e| {
                    !(e.kind == ErrorKind::Factory && e.message == "the deployment could not be resolved")
                }));
                self.loadable()
            }
        };
        for n in &names {
            match model.resolve_app(n, &classifier) {
                Ok(node) => {
                    let mut builder = Builder { registry, errors: Vec::new() };
                    builder.app(&node);
                    errors.extend(builder.errors);
                }
                Err(diags) => errors.extend(LoadError::from_config(diags, Some(&self.doc)).errors),
            }
        }
        let servers = if name.is_none() { self.servers() } else { Vec::new() };
        let mut warnings = Vec::new();
        for s in &servers {
            match self.server_config(s, registry, &mut Config::default()) {
                Ok(w) => warnings.extend(w),
                Err(e) => errors.extend(e.errors),
            }
        }
        let mut seen = BTreeSet::new();
        errors.retain(|e| seen.insert(e.to_string()));
        if errors.is_empty() { Ok(Checked { apps: names, servers, warnings }) } else { Err(LoadError { errors }) }
    }

    /// Applies the settings of `[server:NAME]` to `config` ([`Config::set`]
    /// names; `host` and `port`, or `listen = host:port`, give `bind`) and
    /// returns warnings for the settings that are not rsgi server options.
    ///
    /// # Errors
    ///
    /// No such section, or a bad value (naming `file:line`, the section
    /// and the key).
    ///
    /// # Examples
    ///
    /// ```
    /// use rsgi::loader::{Deployment, Registry};
    /// use rsgi::server::Config;
    ///
    /// let d = Deployment::parse("[server:main]\nuse = egg:Paste#http\nhost = 127.0.0.1\nport = 8080\npool_size = 8\nthreads = 4\n", "a.ini")?;
    /// let mut config = Config::default();
    /// let warnings = d.server_config("main", &Registry::default(), &mut config)?;
    /// assert_eq!((config.bind.to_string().as_str(), config.pool_size), ("127.0.0.1:8080", 8));
    /// assert!(warnings[0].starts_with("warning: ignoring server setting `threads`"));
    /// # Ok::<(), rsgi::loader::LoadError>(())
    /// ```
    pub fn server_config(
        &self,
        name: &str,
        registry: &Registry,
        config: &mut Config,
    ) -> Result<Vec<String>, LoadError> {
        let classifier = self.classifier(registry);
        let leaf = self
            .model()
            .resolve(ObjectType::Server, name, &classifier)
            .map_err(|e| LoadError::from_config(e, Some(&self.doc)))?;
        let rsgi_config::Resolved::Server(leaf) = leaf else {
            return Err(self.errors(Vec::new()));
        };
        let section = leaf.section.as_ref().map(|s| s.header.clone());
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        // `host` and `port`, each with where its value is.
        type Given<'a> = Option<(&'a str, Option<Loc>)>;
        let (mut host, mut port): (Given<'_>, Given<'_>) = (None, None);
        for s in &leaf.conf.local {
            let value = s.value.as_str();
            let result = match s.key.as_str() {
                "host" => {
                    host = Some((value, s.value_loc.clone()));
                    Ok(true)
                }
                "port" => {
                    port = Some((value, s.value_loc.clone()));
                    Ok(true)
                }
                "listen" => resolve_bind(value, None).map(|b| config.set("bind", &b)).and_then(|r| r),
                key => config.set(key, value),
            };
            match result {
                Ok(true) => {}
                Ok(false) => {
                    let at = s.key_loc.as_ref().map_or_else(String::new, |l| {
                        format!("\n  --> {l} in [{}]", section.as_deref().unwrap_or(name))
                    });
                    warnings
                        .push(format!("warning: ignoring server setting `{}`: not an rsgi server option{at}", s.key));
                }
                Err(message) => errors.push(LoadDiagnostic::new(
                    ErrorKind::Server,
                    message,
                    s.value_loc.clone().or(s.key_loc.clone()),
                    section.clone(),
                )),
            }
        }
        if host.is_some() || port.is_some() {
            let loc = host.as_ref().or(port.as_ref()).and_then(|(_, l)| l.clone());
            let result =
                resolve_bind(host.map_or("0.0.0.0", |h| h.0), port.map(|p| p.0)).and_then(|b| config.set("bind", &b));
            if let Err(message) = result {
                errors.push(LoadDiagnostic::new(ErrorKind::Server, message, loc, section.clone()));
            }
        }
        if errors.is_empty() { Ok(warnings) } else { Err(LoadError { errors }) }
    }
}

/// Parse errors, each with the section its line is in.
fn located(errors: Vec<rsgi_config::Diagnostic<Loc>>, text: &str, file: &str) -> LoadError {
    let (doc, _) = ini::parse_lossy(text, file);
    LoadError::from_config(errors, Some(&doc))
}

/// `host` (possibly `host:port`, `*` for any, a name resolved now) and an
/// optional `port` as `IP:PORT`.
fn resolve_bind(host: &str, port: Option<&str>) -> Result<String, String> {
    use std::net::ToSocketAddrs;
    let host = host.trim();
    let host = if host == "*" { "0.0.0.0" } else { host };
    let joined = match port {
        Some(p) => format!("{host}:{}", p.trim()),
        None if host.contains(':') => host.replace("*:", "0.0.0.0:"),
        None => format!("{host}:8774"),
    };
    if joined.starts_with("unix:") || joined.parse::<std::net::SocketAddr>().is_ok() {
        return Ok(joined);
    }
    match joined.to_socket_addrs() {
        Ok(mut addrs) => {
            addrs.next().map(|a| a.to_string()).ok_or_else(|| format!("`{joined}` resolves to no address"))
        }
        Err(e) => Err(format!("invalid server address `{joined}`: {e}")),
    }
}

/// Loads `name` from the ini file at `path` (PasteDeploy's
/// `loadapp('config:' + path, name=name)`).
///
/// # Errors
///
/// Every error found, each with `file:line` and its section.
pub fn loadapp(path: impl AsRef<Path>, name: &str, registry: &Registry) -> Result<BoxApp, LoadError> {
    Deployment::read(path)?.load(name, registry)
}

/// [`loadapp`] from text, as the file `file` (for tests and embedded
/// deployments).
///
/// # Errors
///
/// Every error found, each with `file:line` and its section.
pub fn loadapp_str(text: &str, file: &str, name: &str, registry: &Registry) -> Result<BoxApp, LoadError> {
    Deployment::parse(text, file)?.load(name, registry)
}
