//! The rsgi deployment model: one parser, one resolver and one checker for
//! PasteDeploy-style deployments, shared by the `deploy!` macro (compile
//! time) and the run-time loader.
//!
//! ```text
//! ini text ──ini::parse──┐
//!                        ├─> RawDocument<S> ──Model::new──> Model ──resolve──> AppNode<S> (or every error)
//! deploy! tokens ────────┘        (S = Loc or a span)
//! ```
//!
//! - [`ini`]: CPython `configparser` rules (`=`/`:`, no inline comments,
//!   continuation lines, strict duplicates), every token with `file:line`.
//! - [`raw`]: the document as written, generic over the location type `S`.
//! - [`Model`]: PasteDeploy's name resolution (`paste/SEMANTICS.md` §1-§5):
//!   section prefixes and groups, `use`, explicit factory keys,
//!   `[DEFAULT]`, `set`/`get`, interpolation ([`interp`]), pipelines,
//!   `filter-app`/`next`, `filter-with`, composites. A [`Classifier`] says
//!   which composite factories are urlmaps or keyed pipeline choices, so
//!   their children are resolved and checked too.
//! - [`urlmap_key`]: urlmap key parsing and normalisation (§7).
//! - [`routes`]: `[routes:NAME]` sections (rsgi's own kind): route lines
//!   `METHOD "pattern" = handler`, their patterns checked with `matchit`.
//!
//! Every error is collected in one pass and located at the smallest
//! offending token; messages read like rustc's.
//!
//! # Examples
//!
//! ```
//! use rsgi_config::{ini, AppNode, Builtins, Model, Options, Shape};
//!
//! let text = "\
//! [composite:main]
//! use = egg:Paste#urlmap
//! /: versions
//! /v2.1: api
//!
//! [pipeline:api]
//! pipeline = request_id faultwrap servers
//!
//! [filter:request_id]
//! paste.filter_factory = oslo_middleware:RequestId.factory
//! [filter:faultwrap]
//! paste.filter_factory = nova.api.openstack:FaultWrapper.factory
//! [app:servers]
//! paste.app_factory = nova.api.openstack.compute:APIRouterV21.factory
//! [app:versions]
//! use = egg:rsgi#echo
//! ";
//! let doc = ini::parse(text, "api-paste.ini")?;
//! let model = Model::new(&doc, &Options::for_file("/etc/nova/api-paste.ini"));
//! let AppNode::Composite(main) = model.resolve_app("main", &Builtins)? else { panic!() };
//! let Shape::UrlMap(map) = &main.shape else { panic!() };
//! assert_eq!(map.mounts[1].key.path, "/v2.1");
//! # Ok::<(), Vec<rsgi_config::Diagnostic<rsgi_config::Loc>>>(())
//! ```
//!
//! # DEVIATIONS
//!
//! Where PasteDeploy fails late, crashes or silently does something
//! surprising, rsgi reports an error when the deployment is loaded:
//!
//! - **Cycles** through `use`, pipelines, `next`, `filter-with` and
//!   composites are errors spelled out as `a → b → a` (PasteDeploy:
//!   `RecursionError`, cases D21, D34).
//! - **`filter-with` on a pipeline, a filter-app, or a section that already
//!   has `filter-with`** is an error (PasteDeploy loads it and fails with
//!   `TypeError` at the first request, D44, D45).
//! - **`call:` where no section gives its calling convention** (a pipeline
//!   item, `next`, `filter-with`, a urlmap value) and **`use = call:` in a
//!   `[filter-app:]`** are errors at load (PasteDeploy: `AssertionError`
//!   when building, D33, D40).
//! - **Interpolation** errors (a bare `%`, an unknown `%(name)s`) are
//!   reported for every value of every section reached from the loaded name,
//!   and for `[DEFAULT]` always, in one pass.
//! - **Two factories in one section** are an error: `use` next to a
//!   `paste.*_factory` key (PasteDeploy takes `use` and passes the key on as
//!   a setting), and `paste.filter_factory` next to
//!   `paste.filter_app_factory` (PasteDeploy takes the first silently, D84).
//! - **urlmap keys normalising to the same mount** (`/v2` and `/v2/`) are an
//!   error (Paste keeps the later one silently, U25). A urlmap key that is
//!   not a path is reported as such, without resolving its value first (U28).
//!   The `/+` suffix (Nova's "something must follow") is understood by every
//!   urlmap, not only Nova's.
//! - **Keyed pipeline composites**: every alternative is resolved and
//!   checked, not only the one configured at start-up.
//! - **Section kinds that look like typos** of a known kind (`[aplication:x]`,
//!   `[App:x]`, `[app :x]`) and headers with an empty name are errors;
//!   PasteDeploy ignores such sections. Other unknown sections (`[loggers]`)
//!   are still ignored.
//! - **`require`** is dropped without checking Python distributions (D22).
//! - **`config:`** references to other files are not supported yet: an
//!   error says so.
//! - A UTF-8 **byte order mark** at the start of a file is skipped.
//! - **`use = some::path`** (a value containing `::`) names a Rust factory
//!   whose protocol comes from the section kind, like `call:`; **`use =
//!   urlmap`** and **`use = select`** name the built-ins when no section has
//!   that name. PasteDeploy would reject all three.
//! - **`[routes:NAME]`** sections are an rsgi extension (PasteDeploy
//!   ignores the kind): an app made of route lines, checked for unknown
//!   methods, invalid, conflicting and duplicate routes.
//! - **`here`, `__file__` and the caller's globals** are taken literally,
//!   never interpolated.
#![deny(missing_docs)]

mod check;
pub mod diag;
pub mod ini;
pub mod interp;
pub mod model;
pub mod raw;
mod resolve;
pub mod routes;
mod site;
pub mod uri;
pub mod urlmap_key;

pub use diag::{Code, Diagnostic, Label, Loc, render_all};
pub use model::{
    AppNode, Builtins, Choice, Classifier, Composite, CompositeKind, Conf, Factory, FactoryRef, FilterApp, FilterNode,
    Keyed, Leaf, Loadable, Mount, ObjectType, Pipeline, Protocol, Resolved, Route, RouteTable, SectionKind, SectionRef,
    Setting, Shape, UrlMap,
};
pub use raw::{RawDocument, RawEntry, RawSection};
pub use resolve::{Model, Options};
