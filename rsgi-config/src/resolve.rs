//! Name resolution with PasteDeploy's rules (`paste/SEMANTICS.md` §1-§5),
//! collecting every error on the way.
//!
//! The structure follows `loadwsgi.py`: [`Resolver::context`] is
//! `ConfigLoader.get_context` (find the section, build its configuration,
//! dispatch on pipeline / filter-app / `use` / explicit factory), and
//! [`Resolver::finish`] turns the context into a node once no `use` can
//! change it any more (that is when composites get their children, as the
//! composite factory would ask the loader for them).

use std::collections::BTreeMap;

use crate::check;
use crate::diag::{Code, Diagnostic, suggest};
use crate::ini::py_strip;
use crate::interp::{self, InterpError};
use crate::model::{
    AppNode, Choice, Classifier, Composite, CompositeKind, Conf, Factory, FactoryRef, FilterApp, FilterNode, Keyed,
    Leaf, Loadable, Mount, ObjectType, Pipeline, Protocol, Resolved, RouteTable, SectionKind, SectionRef, Setting,
    Shape, UrlMap,
};
use crate::raw::{DEFAULT_SECTION, RawDocument};
use crate::site::{Diag, Diags, Site};
use crate::urlmap_key::{KeyError, MountKey, parse_mount_key};

/// References nest at most this deep (sections inside sections); deeper is
/// reported instead of risking the stack of a proc-macro.
const MAX_NESTING: usize = 100;

/// At most this many nodes are built for one resolution, so that a
/// document whose pipelines share sub-pipelines cannot blow up
/// exponentially.
const MAX_NODES: usize = 100_000;

/// What the caller knows about the file being loaded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// The directory of the file (`here` in the defaults), absolute.
    pub here: Option<String>,
    /// The file's absolute path (`__file__` in the defaults).
    pub file: Option<String>,
    /// The `global_conf` passed to `loadapp`: visible to interpolation only
    /// where `[DEFAULT]` does not define the name, and in `global_conf`
    /// over `[DEFAULT]` (`paste/SEMANTICS.md` §5, case D56).
    pub global_conf: BTreeMap<String, String>,
}

impl Options {
    /// Options for a file at `path` (`here` is its parent directory).
    ///
    /// `Options::for_file("/etc/nova/api-paste.ini")` has `here` =
    /// `/etc/nova`.
    pub fn for_file(path: &str) -> Self {
        let here = match path.rfind('/') {
            Some(0) => "/".to_string(),
            Some(i) => path[..i].to_string(),
            None => String::new(),
        };
        Options { here: Some(here), file: Some(path.to_string()), global_conf: BTreeMap::new() }
    }
}

/// A parsed header: `[app:  main ]` is prefix `app`, kind app, name `main`.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub(crate) prefix: Option<String>,
    pub(crate) kind: Option<SectionKind>,
    pub(crate) name: String,
    /// False for the second and later sections with the same header (a
    /// duplicate, reported elsewhere): lookups only see the first.
    pub(crate) first: bool,
}

/// One raw default: `[DEFAULT]` entries, `here`, `__file__` and the
/// caller's globals, in configparser's order.
#[derive(Debug, Clone)]
struct RawDefault {
    key: String,
    raw: String,
    key_site: Site,
    value_site: Site,
}

/// A document prepared for resolution: headers parsed, defaults computed.
///
/// # Examples
///
/// ```
/// use rsgi_config::{ini, AppNode, Builtins, Model, Options};
/// let doc = ini::parse("[pipeline:main]\npipeline = auth api\n[filter:auth]\nuse = egg:rsgi#echo\n[app:api]\nuse = egg:rsgi#echo\n", "a.ini")?;
/// let model = Model::new(&doc, &Options::for_file("/etc/a.ini"));
/// let AppNode::Pipeline(p) = model.resolve_app("main", &Builtins)? else { panic!() };
/// assert_eq!((p.filters.len(), p.app.section().unwrap().name.as_str()), (1, "api"));
///
/// let doc = ini::parse("[pipeline:main]\npipeline = auht api\n[filter:auth]\nuse = egg:rsgi#echo\n[app:api]\nuse = egg:rsgi#echo\n", "a.ini")?;
/// let errs = Model::new(&doc, &Options::default()).resolve_app("main", &Builtins).unwrap_err();
/// assert_eq!(errs[0].to_string(), "error: unknown filter `auht`\n  --> a.ini:2\n  = help: did you mean `auth`?");
/// # Ok::<(), Vec<rsgi_config::Diagnostic<rsgi_config::Loc>>>(())
/// ```
#[derive(Debug)]
pub struct Model<'d, S> {
    doc: &'d RawDocument<S>,
    pub(crate) heads: Vec<Head>,
    raw_defaults: Vec<RawDefault>,
    /// `parser.defaults()`: the raw defaults, interpolated.
    defaults: BTreeMap<String, String>,
    passed: BTreeMap<String, String>,
    /// Errors found while preparing (bad `[DEFAULT]` interpolation).
    prepare_errors: Vec<Diag>,
}

impl<'d, S: Clone> Model<'d, S> {
    /// Prepares `doc` for resolution.
    pub fn new(doc: &'d RawDocument<S>, options: &Options) -> Self {
        let heads = parse_heads(doc);
        let raw_defaults = raw_defaults(doc, options);
        let mut diags = Diags::default();
        let defaults = interpolate_defaults(&raw_defaults, &mut diags);
        Model {
            doc,
            heads,
            raw_defaults,
            defaults,
            passed: options.global_conf.clone(),
            prepare_errors: diags.into_vec(),
        }
    }

    /// The raw document.
    pub fn document(&self) -> &'d RawDocument<S> {
        self.doc
    }

    /// The defaults every section sees (`parser.defaults()`): `[DEFAULT]`
    /// interpolated, `here`, `__file__`, and the caller's globals that
    /// `[DEFAULT]` does not define.
    pub fn defaults(&self) -> &BTreeMap<String, String> {
        &self.defaults
    }

    /// Resolves `name` as an object of type `object` (what `loadapp`,
    /// `loadfilter` and `loadserver` do), returning every error found:
    /// the document's own (duplicates, section kind typos, bad `[DEFAULT]`)
    /// and those on the way from `name`.
    pub fn resolve(
        &self,
        object: ObjectType,
        name: &str,
        classifier: &dyn Classifier,
    ) -> Result<Resolved<S>, Vec<Diagnostic<S>>> {
        let mut r = Resolver::new(self, classifier);
        let out = r.resolve(object, name, &self.passed, Site::None, Role::Top);
        let errors = self.finish_diags(r.diags);
        match out {
            Some(node) if errors.is_empty() => Ok(node),
            _ => Err(errors),
        }
    }

    /// [`Model::resolve`] for an app.
    pub fn resolve_app(&self, name: &str, classifier: &dyn Classifier) -> Result<AppNode<S>, Vec<Diagnostic<S>>> {
        match self.resolve(ObjectType::App, name, classifier)? {
            Resolved::App(app) => Ok(app),
            _ => Err(Vec::new()),
        }
    }

    /// [`Model::resolve`] for a filter.
    pub fn resolve_filter(&self, name: &str, classifier: &dyn Classifier) -> Result<FilterNode<S>, Vec<Diagnostic<S>>> {
        match self.resolve(ObjectType::Filter, name, classifier)? {
            Resolved::Filter(f) => Ok(f),
            _ => Err(Vec::new()),
        }
    }

    /// [`Model::resolve`] for a server.
    pub fn resolve_server(&self, name: &str, classifier: &dyn Classifier) -> Result<Leaf<S>, Vec<Diagnostic<S>>> {
        match self.resolve(ObjectType::Server, name, classifier)? {
            Resolved::Server(s) => Ok(s),
            _ => Err(Vec::new()),
        }
    }

    /// Every name an operator can load as an app (each app, composite,
    /// pipeline and filter-app section), once, in source order.
    pub fn loadable(&self) -> Vec<Loadable<S>> {
        let mut out: Vec<Loadable<S>> = Vec::new();
        for (i, head) in self.heads.iter().enumerate() {
            let Some(kind) = head.kind else { continue };
            if kind.object_type() != ObjectType::App || !head.first || out.iter().any(|l| l.name == head.name) {
                continue;
            }
            out.push(Loadable { name: head.name.clone(), section: self.section_ref(i) });
        }
        out
    }

    /// Checks the whole document the way `rsgi check` does without
    /// `--name`: the document's own errors, then every loadable app and
    /// every server, each error once.
    pub fn check_all(&self, classifier: &dyn Classifier) -> Vec<Diagnostic<S>> {
        let mut r = Resolver::new(self, classifier);
        for l in self.loadable() {
            r.resolve(ObjectType::App, &l.name, &self.passed, Site::None, Role::Top);
        }
        let servers: Vec<String> = self
            .heads
            .iter()
            .filter(|h| h.kind == Some(SectionKind::Server) && h.first)
            .map(|h| h.name.clone())
            .collect();
        for name in servers {
            r.resolve(ObjectType::Server, &name, &self.passed, Site::None, Role::Top);
        }
        self.finish_diags(r.diags)
    }

    /// The document-level errors, then `diags`, as the front end's type.
    fn finish_diags(&self, diags: Diags) -> Vec<Diagnostic<S>> {
        let mut out = crate::raw::duplicates(self.doc);
        let mut all = Diags::default();
        for d in check::section_kinds(self).into_iter().chain(self.prepare_errors.iter().cloned()) {
            all.push(d);
        }
        for d in diags.into_vec() {
            all.push(d);
        }
        out.extend(all.into_vec().into_iter().map(|d| d.into_diagnostic(self.doc)));
        out
    }

    pub(crate) fn section_ref(&self, sec: usize) -> SectionRef<S> {
        let head = &self.heads[sec];
        let raw = &self.doc.sections[sec];
        SectionRef {
            kind: head.kind.unwrap_or(SectionKind::App),
            name: head.name.clone(),
            header: raw.header.clone(),
            loc: raw.header_loc.clone(),
        }
    }
}

/// Parses every header: the prefix is the text before the first `:`, the
/// name the rest, stripped (`[app:  main  ]` is found as `main`, case D08).
fn parse_heads<S>(doc: &RawDocument<S>) -> Vec<Head> {
    let mut seen = std::collections::BTreeSet::new();
    doc.sections
        .iter()
        .map(|s| {
            let first = seen.insert(s.header.as_str());
            match s.header.split_once(':') {
                Some((prefix, name)) => Head {
                    prefix: Some(prefix.to_string()),
                    kind: SectionKind::from_prefix(prefix),
                    name: py_strip(name).to_string(),
                    first,
                },
                None => Head { prefix: None, kind: None, name: s.header.clone(), first },
            }
        })
        .collect()
}

/// configparser's `_defaults`: `here` and `__file__` first (constructor
/// defaults), then `[DEFAULT]` entries (which may override them), then the
/// caller's globals that are not already there (`update_defaults(...,
/// overwrite=False)`).
fn raw_defaults<S>(doc: &RawDocument<S>, options: &Options) -> Vec<RawDefault> {
    let mut out: Vec<RawDefault> = Vec::new();
    let mut set = |key: &str, raw: &str, key_site: Site, value_site: Site, overwrite: bool| match out
        .iter_mut()
        .find(|d| d.key == key)
    {
        Some(d) if overwrite => {
            d.raw = raw.to_string();
            d.key_site = key_site;
            d.value_site = value_site;
        }
        Some(_) => {}
        None => out.push(RawDefault { key: key.to_string(), raw: raw.to_string(), key_site, value_site }),
    };
    if let Some(here) = &options.here {
        set("here", here, Site::None, Site::None, true);
    }
    if let Some(file) = &options.file {
        set("__file__", file, Site::None, Site::None, true);
    }
    for (s, section) in doc.sections.iter().enumerate() {
        if section.header != DEFAULT_SECTION {
            continue;
        }
        for (e, entry) in section.entries.iter().enumerate() {
            set(&entry.key, &entry.value, Site::Key(s, e), Site::Value(s, e), true);
        }
    }
    for (k, v) in &options.global_conf {
        set(k, v, Site::None, Site::None, false);
    }
    out
}

/// `NicerConfigParser.defaults()`: each default interpolated against the
/// defaults; an empty result falls back to the raw value (PasteDeploy's
/// `self.get('DEFAULT', key) or val`). Only values written in the document
/// are interpolated; `here`, `__file__` and the caller's globals are taken
/// literally.
fn interpolate_defaults(raw: &[RawDefault], diags: &mut Diags) -> BTreeMap<String, String> {
    let lookup = |name: &str| raw.iter().find(|d| d.key == name).map(|d| d.raw.as_str());
    let mut out = BTreeMap::new();
    for d in raw {
        let value = if d.value_site == Site::None {
            d.raw.clone()
        } else {
            match interp::interpolate(&d.raw, &lookup) {
                Ok(v) if v.is_empty() => d.raw.clone(),
                Ok(v) => v,
                Err(e) => {
                    let names: Vec<&str> = raw.iter().map(|d| d.key.as_str()).collect();
                    diags.push(interp_diag(&e, &d.key, DEFAULT_SECTION, d.value_site, &names));
                    d.raw.clone()
                }
            }
        };
        out.insert(d.key.clone(), value);
    }
    out
}

/// An interpolation error as a diagnostic on the value, with a fix.
fn interp_diag(e: &InterpError, key: &str, header: &str, site: Site, names: &[&str]) -> Diag {
    let d = Diag::new(Code::Interpolation, site, format!("bad interpolation in `{key}`: {e}"));
    match e {
        InterpError::BarePercent { .. } => d
            .help("write `%%` for a literal `%`")
            .note("PasteDeploy fails with `InterpolationSyntaxError` when it loads this section"),
        InterpError::BadReference { .. } => d.help("write `%(name)s`, or `%%` for a literal `%`"),
        InterpError::Missing { name } => d
            .help_opt(suggest(name, names.iter().copied()).map(|s| format!("did you mean `%({s})s`?")))
            .note(format!("`%(name)s` sees the keys of section `{header}`, `[DEFAULT]`, `here` and `__file__`")),
        InterpError::TooDeep { .. } => d.note("values refer to each other in a cycle, or nest too deep"),
    }
}

/// Why a name is being looked up; shapes the messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Given by the caller (`--name`, `loadapp(name=...)`).
    Top,
    /// `use = name`.
    Use,
    /// A pipeline item before the last.
    PipelineFilter,
    /// The last pipeline item.
    PipelineApp,
    /// `next = name` in a filter-app.
    Next,
    /// `filter-with = name`.
    FilterWith,
    /// A urlmap value or `not_found_app`.
    UrlMapValue,
    /// A filter in a keyed pipeline choice.
    ChoiceFilter,
    /// The app at the end of a keyed pipeline choice.
    ChoiceApp,
}

/// A local setting while resolving: interpolated value, sites, and the
/// entry whose per-word locations apply when the value was not changed by
/// interpolation.
#[derive(Debug, Clone)]
struct Local {
    key: String,
    value: String,
    key_site: Site,
    value_site: Site,
    words: Option<(usize, usize)>,
}

impl Local {
    /// The whitespace-separated words of the value, each with its site:
    /// `pipeline = a\n  b` gives `a` and `b` on their own lines.
    fn words(&self) -> Vec<(String, Site)> {
        self.value
            .split(crate::ini::is_py_space)
            .filter(|w| !w.is_empty())
            .enumerate()
            .map(|(i, w)| {
                let site = match self.words {
                    Some((s, e)) => Site::Word(s, e, i),
                    None => self.value_site,
                };
                (w.to_string(), site)
            })
            .collect()
    }
}

/// Sets `local[key]` like a Python dict: replaces in place, else appends.
fn set_local(local: &mut Vec<Local>, item: Local) {
    match local.iter_mut().find(|l| l.key == item.key) {
        Some(slot) => *slot = item,
        None => local.push(item),
    }
}

/// Removes and returns `local[key]`.
fn take_local(local: &mut Vec<Local>, key: &str) -> Option<Local> {
    let i = local.iter().position(|l| l.key == key)?;
    Some(local.remove(i))
}

/// How a leaf's factory is called, while resolving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    /// Known from an explicit key or the section kind.
    Known(Protocol),
    /// An `egg:` entry point: its group decides.
    Egg,
    /// A `call:` or Rust path not yet given a protocol by a `use`.
    Unset,
}

/// A factory call before `finish`.
#[derive(Debug, Clone)]
struct LeafCtx {
    factory: FactoryRef,
    proto: Proto,
    factory_site: Site,
    object: ObjectType,
    local: Vec<Local>,
    global: BTreeMap<String, String>,
    section: Option<usize>,
}

/// PasteDeploy's `LoaderContext`: what a name means before composites are
/// expanded (a later `use` may still add settings).
#[derive(Debug)]
enum Ctx<S> {
    Leaf(LeafCtx),
    Pipeline(Pipeline<S>),
    FilterApp(FilterApp<S>),
    FilterWith { inner: Box<Ctx<S>>, filter: FilterNode<S> },
    Routes(RouteTable<S>),
}

/// One option of a section (its own or a default), raw.
struct Opt {
    key: String,
    raw: String,
    key_site: Site,
    value_site: Site,
    /// The section entry, for per-word locations.
    entry: Option<(usize, usize)>,
}

/// The conf of a section being loaded (`get_context`'s loop).
struct SectionConf {
    global: BTreeMap<String, String>,
    additions: Vec<(String, String)>,
    local: Vec<Local>,
}

struct Resolver<'m, 'd, S> {
    m: &'m Model<'d, S>,
    classifier: &'m dyn Classifier,
    diags: Diags,
    /// The sections being resolved, outermost first, for cycle detection.
    stack: Vec<usize>,
    nodes: usize,
    too_large_reported: bool,
}

impl<'m, 'd, S: Clone> Resolver<'m, 'd, S> {
    fn new(m: &'m Model<'d, S>, classifier: &'m dyn Classifier) -> Self {
        Resolver { m, classifier, diags: Diags::default(), stack: Vec::new(), nodes: 0, too_large_reported: false }
    }

    fn doc(&self) -> &'d RawDocument<S> {
        self.m.doc
    }

    fn header(&self, sec: usize) -> &'d str {
        &self.doc().sections[sec].header
    }

    /// Resolves a name to a finished node: `context`, then `finish` while
    /// the section is still on the cycle stack.
    fn resolve(
        &mut self,
        object: ObjectType,
        name: &str,
        passed: &BTreeMap<String, String>,
        site: Site,
        role: Role,
    ) -> Option<Resolved<S>> {
        if is_absolute(name) {
            let ctx = self.absolute(object, name, passed, site, role)?;
            return self.finish(ctx);
        }
        let sec = self.find(object, name, site, role)?;
        if !self.enter(sec, site) {
            return None;
        }
        let out = self.section_context(object, sec, passed).and_then(|ctx| self.finish(ctx));
        self.stack.pop();
        out
    }

    /// Resolves a name to a context, not finished (for `use`).
    fn context(
        &mut self,
        object: ObjectType,
        name: &str,
        passed: &BTreeMap<String, String>,
        site: Site,
        role: Role,
    ) -> Option<Ctx<S>> {
        if is_absolute(name) {
            return self.absolute(object, name, passed, site, role);
        }
        let sec = self.find(object, name, site, role)?;
        if !self.enter(sec, site) {
            return None;
        }
        let out = self.section_context(object, sec, passed);
        self.stack.pop();
        out
    }

    /// Pushes `sec` on the stack, unless it is already there (a cycle:
    /// `[app:a] use = b`, `[app:b] use = a` is "a → b → a") or the
    /// nesting is too deep.
    fn enter(&mut self, sec: usize, site: Site) -> bool {
        if let Some(start) = self.stack.iter().position(|s| *s == sec) {
            let mut names: Vec<&str> = self.stack[start..].iter().map(|s| self.m.heads[*s].name.as_str()).collect();
            names.push(&self.m.heads[sec].name);
            let path = names.join(" → ");
            self.diags.push(
                Diag::new(Code::Cycle, site, format!("cycle: `{}` refers to itself: {path}", self.m.heads[sec].name))
                    .label(Site::Header(sec), "defined here")
                    .note("PasteDeploy overflows the stack (`RecursionError`) on this"),
            );
            return false;
        }
        if self.stack.len() >= MAX_NESTING {
            self.diags.push(Diag::new(
                Code::TooLarge,
                site,
                format!("sections nest deeper than {MAX_NESTING} levels at `{}`", self.header(sec)),
            ));
            return false;
        }
        self.stack.push(sec);
        true
    }

    /// Counts a built node; false once the budget is exhausted.
    fn count_node(&mut self) -> bool {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            if !self.too_large_reported {
                self.too_large_reported = true;
                self.diags.push(Diag::new(
                    Code::TooLarge,
                    Site::None,
                    format!("the deployment expands to more than {MAX_NODES} objects"),
                ));
            }
            return false;
        }
        true
    }

    // ----------------------------------------------------------------
    // Section lookup (LW:577-625)
    // ----------------------------------------------------------------

    /// `find_config_section`: for each prefix group of `object`, the first
    /// prefix with a matching section counts; two groups matching is
    /// ambiguous (`[app:main]` + `[pipeline:main]`, case D06), while
    /// `[app:main]` + `[application:main]` is not (D07).
    fn find(&mut self, object: ObjectType, name: &str, site: Site, role: Role) -> Option<usize> {
        let mut possible = Vec::new();
        for group in object.prefix_groups() {
            for prefix in group.iter() {
                let found: Vec<usize> = self
                    .m
                    .heads
                    .iter()
                    .enumerate()
                    .filter(|(_, h)| h.first && h.prefix.as_deref() == Some(prefix) && h.name == name)
                    .map(|(i, _)| i)
                    .collect();
                if !found.is_empty() {
                    possible.extend(found);
                    break;
                }
            }
        }
        match possible.as_slice() {
            [] => {
                self.unknown(object, name, site, role);
                None
            }
            [one] => Some(*one),
            many => {
                let headers: Vec<String> = many.iter().map(|s| format!("`{}`", self.header(*s))).collect();
                let mut d = Diag::new(
                    Code::AmbiguousSection,
                    site,
                    format!("ambiguous name `{name}`: sections {} all define it", headers.join(", ")),
                )
                .help("rename all but one of them");
                for s in many {
                    d = d.label(Site::Header(*s), "defined here");
                }
                self.diags.push(d);
                None
            }
        }
    }

    /// Reports a name that matches no section of the wanted type, saying
    /// when it names a section of another type (a pipeline ending in a
    /// filter, an app in the middle of a pipeline) or a near miss.
    fn unknown(&mut self, object: ObjectType, name: &str, site: Site, role: Role) {
        let other = self.m.heads.iter().find(|h| h.first && h.name == name && h.kind.is_some()).and_then(|h| h.kind);
        if let Some(kind) = other {
            self.diags.push(self.wrong_kind(object, name, kind, site, role));
            return;
        }
        let candidates: Vec<&str> = self
            .m
            .heads
            .iter()
            .filter(|h| h.first && h.kind.is_some_and(|k| k.object_type() == object))
            .map(|h| h.name.as_str())
            .collect();
        let what = object.as_str();
        let mut d = Diag::new(Code::UnknownSection, site, format!("unknown {what} `{name}`"));
        if let Some(s) = suggest(name, candidates.iter().copied()) {
            d = d.help(format!("did you mean `{s}`?"));
        } else if role == Role::Top
            && object == ObjectType::App
            && name == "main"
            && self.has_bare(&["app", "application"])
        {
            d = d.help("a section `[app]` without a name is never loaded; name it `[app:main]`");
        } else if candidates.is_empty() {
            d = d.note(format!("the file defines no {what} sections"));
        } else {
            let mut list: Vec<String> = candidates.iter().take(8).map(|c| format!("`{c}`")).collect();
            if candidates.len() > 8 {
                list.push("…".to_string());
            }
            d = d.note(format!("{what}s defined: {}", list.join(", ")));
        }
        self.diags.push(d);
    }

    fn has_bare(&self, prefixes: &[&str]) -> bool {
        self.m.heads.iter().any(|h| h.prefix.is_none() && prefixes.contains(&h.name.as_str()))
    }

    /// The message for a name of the wrong kind.
    fn wrong_kind(&self, object: ObjectType, name: &str, kind: SectionKind, site: Site, role: Role) -> Diag {
        let found = kind.object_type();
        match (object, role) {
            (ObjectType::App, Role::PipelineApp | Role::ChoiceApp) if found == ObjectType::Filter => Diag::new(
                Code::Pipeline,
                site,
                format!("pipeline ends in filter `{name}`; the last item must be an app"),
            )
            .help(format!("add the app the filters wrap after it, e.g. `pipeline = … {name} api`")),
            (ObjectType::Filter, Role::PipelineFilter | Role::ChoiceFilter) => {
                let what = if kind == SectionKind::FilterApp { "filter-app" } else { found.as_str() };
                Diag::new(
                    Code::Pipeline,
                    site,
                    format!("{what} `{name}` comes before the end of the pipeline; only the last item can be an app"),
                )
                .help("every item but the last must be a `[filter:…]` section")
            }
            _ => Diag::new(
                Code::UnknownSection,
                site,
                format!("`{name}` is a {} section, but {} {object} is expected here", kind, article(object.as_str())),
            ),
        }
    }

    // ----------------------------------------------------------------
    // Absolute names: egg:, call:, config: (LW:283-343, LW:369-377)
    // ----------------------------------------------------------------

    /// A URI instead of a section name. `egg:Dist#entry` is an entry point
    /// (protocol from its group); `call:mod:attr` only works under `use`,
    /// where the section kind gives its protocol (cases D33, D40).
    fn absolute(
        &mut self,
        object: ObjectType,
        uri: &str,
        passed: &BTreeMap<String, String>,
        site: Site,
        role: Role,
    ) -> Option<Ctx<S>> {
        let (body, fragment) = match uri.split_once('#') {
            Some((b, f)) => (b, Some(f)),
            None => (uri, None),
        };
        let (scheme, spec) = body.split_once(':')?;
        let leaf = |factory, proto| {
            Some(Ctx::Leaf(LeafCtx {
                factory,
                proto,
                factory_site: site,
                object,
                local: Vec::new(),
                global: passed.clone(),
                section: None,
            }))
        };
        match scheme.to_ascii_lowercase().as_str() {
            "egg" => {
                let entry = fragment.unwrap_or("main").to_string();
                leaf(FactoryRef::Egg { dist: spec.to_string(), entry }, Proto::Egg)
            }
            "call" if role != Role::Use => {
                let d = Diag::new(
                    Code::CallNotAllowed,
                    site,
                    format!("`{uri}` cannot be used here: a `call:` factory needs a section to say how to call it"),
                )
                .help(format!("define a section, e.g. `[{object}:x]` with `use = {uri}`, and refer to it by name"))
                .note("PasteDeploy fails with `AssertionError: Protocol None unknown` when it builds this");
                self.diags.push(d);
                None
            }
            "call" => {
                let (module, attr) = spec.split_once(':').unwrap_or((spec, ""));
                leaf(FactoryRef::Call { module: module.to_string(), attr: attr.to_string() }, Proto::Unset)
            }
            "config" => {
                self.diags.push(
                    Diag::new(Code::Unsupported, site, format!("`{uri}`: references to other files are not supported"))
                        .help("copy the section into this file"),
                );
                None
            }
            other => {
                let hint = suggest(other, ["egg", "call", "config"]).map(|s| format!("did you mean `{s}:`?"));
                self.diags.push(
                    Diag::new(Code::UnknownScheme, site, format!("unknown scheme `{other}` in `{uri}`"))
                        .help_opt(hint)
                        .note("a name containing `:` is a URI; the known schemes are `egg:`, `call:` and `config:`"),
                );
                None
            }
        }
    }

    // ----------------------------------------------------------------
    // A section's context (ConfigLoader.get_context, LW:398-438)
    // ----------------------------------------------------------------

    /// Builds the conf, pops `filter-with` and `require`, then dispatches
    /// on the section kind: `[filter-app:]`, `[pipeline:]`, `use`, or an
    /// explicit factory key.
    fn section_context(&mut self, object: ObjectType, sec: usize, passed: &BTreeMap<String, String>) -> Option<Ctx<S>> {
        if self.m.heads[sec].kind == Some(SectionKind::Routes) {
            return self.routes_context(sec, passed);
        }
        let SectionConf { global, additions, mut local } = self.section_conf(sec, passed);
        let filter_with = match object {
            ObjectType::App | ObjectType::Filter => take_local(&mut local, "filter-with"),
            ObjectType::Server => None,
        };
        // `require = dist ...` checks Python distributions: nothing to do in rsgi.
        take_local(&mut local, "require");
        let ctx = match self.m.heads[sec].kind {
            Some(SectionKind::FilterApp) => self.filter_app_context(sec, global.clone(), additions, local),
            Some(SectionKind::Pipeline) => self.pipeline_context(sec, &global, local),
            _ if local.iter().any(|l| l.key == "use") => {
                self.use_context(object, sec, global.clone(), additions, local)
            }
            _ => self.explicit_context(object, sec, global.clone(), local),
        };
        let Some(fw) = filter_with else { return ctx };
        // Resolve the filter even when the section failed, to report its errors too.
        let filter = self.resolve(ObjectType::Filter, &fw.value, &global, fw.value_site, Role::FilterWith);
        let inner = ctx?;
        let Some(Resolved::Filter(filter)) = filter else {
            return None;
        };
        if object == ObjectType::App {
            self.check_filter_with_target(&inner, sec, &fw)?;
        }
        Some(Ctx::FilterWith { inner: Box::new(inner), filter })
    }

    /// A `[routes:x]` section: its route lines checked (`crate::routes`),
    /// wrapped by its `filter-with` if it has one. It takes no `[DEFAULT]`
    /// settings and no interpolation: every other line is a route.
    fn routes_context(&mut self, sec: usize, passed: &BTreeMap<String, String>) -> Option<Ctx<S>> {
        let doc = self.doc();
        let (routes, diags) = crate::routes::check(sec, &doc.sections[sec]);
        let failed = !diags.is_empty();
        for d in diags {
            self.diags.push(d);
        }
        let filter_with = doc.sections[sec].entries.iter().position(|e| e.key == "filter-with");
        let filter = filter_with.map(|e| {
            let mut global = self.m.defaults.clone();
            global.extend(passed.iter().map(|(k, v)| (k.clone(), v.clone())));
            let name = py_strip(&doc.sections[sec].entries[e].value).to_owned();
            self.resolve(ObjectType::Filter, &name, &global, Site::Value(sec, e), Role::FilterWith)
        });
        if failed {
            return None;
        }
        let table = Ctx::Routes(RouteTable {
            section: self.m.section_ref(sec),
            routes: routes.into_iter().map(|r| r.into_route(doc)).collect(),
        });
        match filter {
            None => Some(table),
            Some(Some(Resolved::Filter(filter))) => Some(Ctx::FilterWith { inner: Box::new(table), filter }),
            Some(_) => None,
        }
    }

    /// `filter-with` only wraps a plain app or composite: on a pipeline, a
    /// filter-app, or a section that already has `filter-with`, PasteDeploy
    /// loads a filter-composing function instead of an app and fails at the
    /// first request (cases D44, D45).
    fn check_filter_with_target(&mut self, inner: &Ctx<S>, sec: usize, fw: &Local) -> Option<()> {
        let what = match inner {
            Ctx::Leaf(_) | Ctx::Routes(_) => return Some(()),
            Ctx::Pipeline(_) => "a pipeline",
            Ctx::FilterApp(_) => "a filter-app",
            Ctx::FilterWith { .. } => "a section that already has `filter-with`",
        };
        let name = &self.m.heads[sec].name;
        let help = match inner {
            Ctx::Pipeline(_) => format!("put `{}` first in the pipeline instead", fw.value),
            _ => format!("list `{}` in a `[pipeline:…]` in front of `{name}` instead", fw.value),
        };
        self.diags.push(
            Diag::new(Code::FilterWith, fw.key_site, format!("`filter-with` cannot wrap `{name}`, which is {what}"))
                .help(help)
                .note("PasteDeploy loads this, then fails with `TypeError` at the first request"),
        );
        None
    }

    /// The options of a section, as configparser lists them: its own keys
    /// (first occurrence), then the defaults it does not shadow.
    fn options(&self, sec: usize) -> Vec<Opt> {
        let section = &self.doc().sections[sec];
        let mut out: Vec<Opt> = Vec::new();
        for (e, entry) in section.entries.iter().enumerate() {
            if out.iter().any(|o| o.key == entry.key) {
                continue;
            }
            out.push(Opt {
                key: entry.key.clone(),
                raw: entry.value.clone(),
                key_site: Site::Key(sec, e),
                value_site: Site::Value(sec, e),
                entry: Some((sec, e)),
            });
        }
        for d in &self.m.raw_defaults {
            if out.iter().any(|o| o.key == d.key) {
                continue;
            }
            out.push(Opt {
                key: d.key.clone(),
                raw: d.raw.clone(),
                key_site: d.key_site,
                value_site: d.value_site,
                entry: None,
            });
        }
        out
    }

    /// `parser.get(section, key)`: the raw value interpolated against the
    /// section's keys and the raw defaults; on error, reported at the value
    /// and the raw value is used so checking goes on.
    fn interpolated(&mut self, sec: usize, key: &str, raw: &str, site: Site) -> String {
        let section = &self.doc().sections[sec];
        let defaults = &self.m.raw_defaults;
        let lookup = |name: &str| {
            section
                .get(name)
                .map(|e| e.value.as_str())
                .or_else(|| defaults.iter().find(|d| d.key == name).map(|d| d.raw.as_str()))
        };
        match interp::interpolate(raw, &lookup) {
            Ok(v) => v,
            Err(e) => {
                let mut names: Vec<&str> = section.entries.iter().map(|e| e.key.as_str()).collect();
                names.extend(defaults.iter().map(|d| d.key.as_str()));
                let d = interp_diag(&e, key, &section.header, site, &names);
                self.diags.push(d);
                raw.to_string()
            }
        }
    }

    /// The loop of `get_context` (`paste/SEMANTICS.md` §5.3):
    /// - `global_conf` = defaults, then the caller's globals over them;
    /// - `set x = v` puts `x` in `global_conf` (and remembers it for `use`);
    /// - `get x = g` copies `global_conf[g]` to `local_conf[x]` after the
    ///   loop (an undefined `g` is an error);
    /// - a key that is also a default is skipped, even when the section
    ///   sets it (`[DEFAULT] debug = true`, `[app:x] debug = false` leaves
    ///   no local `debug`, case D47);
    /// - everything else is a local setting.
    fn section_conf(&mut self, sec: usize, passed: &BTreeMap<String, String>) -> SectionConf {
        let mut global = self.m.defaults.clone();
        global.extend(passed.iter().map(|(k, v)| (k.clone(), v.clone())));
        let mut additions = Vec::new();
        let mut local: Vec<Local> = Vec::new();
        let mut gets: Vec<Local> = Vec::new();
        for Opt { key, raw, key_site, value_site, entry } in self.options(sec) {
            if let Some(name) = key.strip_prefix("set ") {
                let value = self.interpolated(sec, &key, &raw, value_site);
                global.insert(py_strip(name).to_string(), value.clone());
                additions.push((py_strip(name).to_string(), value));
            } else if let Some(name) = key.strip_prefix("get ") {
                let value = self.interpolated(sec, &key, &raw, value_site);
                gets.push(Local { key: py_strip(name).to_string(), value, key_site, value_site, words: None });
            } else if self.m.defaults.contains_key(&key) {
                continue;
            } else {
                let value = self.interpolated(sec, &key, &raw, value_site);
                let words = entry.filter(|_| value == raw);
                local.push(Local { key, value, key_site, value_site, words });
            }
        }
        for get in gets {
            match global.get(&get.value) {
                Some(v) => set_local(&mut local, Local { value: v.clone(), ..get }),
                None => {
                    let hint =
                        suggest(&get.value, global.keys().map(String::as_str)).map(|s| format!("did you mean `{s}`?"));
                    self.diags.push(
                        Diag::new(
                            Code::UndefinedGlobal,
                            get.value_site,
                            format!("undefined global setting `{}`", get.value),
                        )
                        .help_opt(hint)
                        .note("`get` reads `[DEFAULT]`, `set` values and the globals passed to the loader"),
                    );
                }
            }
        }
        SectionConf { global, additions, local }
    }

    /// `_pipeline_app_context` (LW:555-575): a `pipeline` key, nothing else
    /// local; the last item is an app, the others filters.
    fn pipeline_context(
        &mut self,
        sec: usize,
        global: &BTreeMap<String, String>,
        mut local: Vec<Local>,
    ) -> Option<Ctx<S>> {
        let name = self.m.heads[sec].name.clone();
        let pipeline = take_local(&mut local, "pipeline");
        for extra in &local {
            let help = if extra.key == "use" {
                "a pipeline section takes only `pipeline`; list the sections in it".to_string()
            } else {
                format!("a pipeline section takes only `pipeline`; to pass a global, write `set {} = …`", extra.key)
            };
            self.diags.push(
                Diag::new(
                    Code::Pipeline,
                    extra.key_site,
                    format!("unexpected setting `{}` in pipeline `{name}`", extra.key),
                )
                .help(help),
            );
        }
        let Some(pipeline) = pipeline else {
            self.diags.push(
                Diag::new(Code::Pipeline, Site::Header(sec), format!("pipeline `{name}` has no `pipeline` key"))
                    .help("list filters then an app: `pipeline = auth api`"),
            );
            return None;
        };
        let items = pipeline.words();
        if items.is_empty() {
            self.diags.push(
                Diag::new(Code::Pipeline, pipeline.value_site, format!("pipeline `{name}` is empty"))
                    .help("list filters then an app: `pipeline = auth api`"),
            );
            return None;
        }
        if !local.is_empty() {
            // Still resolve the items to report their errors, but fail.
            self.pipeline_items(&items, global, Role::PipelineFilter, Role::PipelineApp);
            return None;
        }
        let (filters, app) = self.pipeline_items(&items, global, Role::PipelineFilter, Role::PipelineApp)?;
        Some(Ctx::Pipeline(Pipeline { section: self.m.section_ref(sec), filters, app: Box::new(app) }))
    }

    /// Resolves pipeline items: all but the last as filters, the last as an
    /// app; every item is resolved even when an earlier one fails.
    fn pipeline_items(
        &mut self,
        items: &[(String, Site)],
        global: &BTreeMap<String, String>,
        filter_role: Role,
        app_role: Role,
    ) -> Option<(Vec<FilterNode<S>>, AppNode<S>)> {
        let (last, filters) = items.split_last()?;
        let mut ok = true;
        let mut out = Vec::new();
        for (item, site) in filters {
            match self.resolve(ObjectType::Filter, item, global, *site, filter_role) {
                Some(Resolved::Filter(f)) => out.push(f),
                _ => ok = false,
            }
        }
        let app = match self.resolve(ObjectType::App, &last.0, global, last.1, app_role) {
            Some(Resolved::App(a)) => Some(a),
            _ => None,
        };
        if ok { Some((out, app?)) } else { None }
    }

    /// `_filter_app_context` (LW:534-553): `next` is an app; the rest of the
    /// section configures the filter (by `use` or an explicit key).
    fn filter_app_context(
        &mut self,
        sec: usize,
        global: BTreeMap<String, String>,
        additions: Vec<(String, String)>,
        mut local: Vec<Local>,
    ) -> Option<Ctx<S>> {
        let next = take_local(&mut local, "next");
        let next = match next {
            Some(n) => {
                let site = n.words().first().map_or(n.value_site, |w| w.1);
                self.resolve(ObjectType::App, &n.value, &global, site, Role::Next)
            }
            None => {
                let name = &self.m.heads[sec].name;
                self.diags.push(
                    Diag::new(Code::MissingNext, Site::Header(sec), format!("filter-app `{name}` has no `next` key"))
                        .help("name the app it wraps: `next = api`"),
                );
                None
            }
        };
        let filter = if local.iter().any(|l| l.key == "use") {
            self.use_context(ObjectType::Filter, sec, global, additions, local)
        } else {
            self.explicit_context(ObjectType::Filter, sec, global, local)
        };
        let filter = match self.finish(filter?)? {
            Resolved::Filter(f) => f,
            _ => return None,
        };
        let Some(Resolved::App(next)) = next else {
            return None;
        };
        Some(Ctx::FilterApp(FilterApp {
            section: self.m.section_ref(sec),
            filter: Box::new(filter),
            next: Box::new(next),
        }))
    }

    /// `_context_from_use` (LW:481-507): resolve the used name with the same
    /// object type, then merge this section's `set`s into its global conf
    /// and its other keys over its local conf (this section wins, case
    /// D12). A `call:` or Rust factory gets its protocol from this
    /// section's kind. `use = urlmap` / `use = select` naming no section is
    /// the built-in.
    fn use_context(
        &mut self,
        object: ObjectType,
        sec: usize,
        global: BTreeMap<String, String>,
        additions: Vec<(String, String)>,
        mut local: Vec<Local>,
    ) -> Option<Ctx<S>> {
        let used = take_local(&mut local, "use")?;
        self.check_use_and_explicit(object, sec, &used, &local);
        let target = used.value.as_str();
        let site = used.words().first().map_or(used.value_site, |w| w.1);
        let builtin = matches!(target, "urlmap" | "select") && !self.defines(object, target);
        let mut ctx = if target.contains("::") || builtin {
            let factory = if builtin {
                FactoryRef::Builtin { name: target.to_string() }
            } else {
                FactoryRef::Rust { path: target.to_string() }
            };
            let proto = if builtin { Proto::Known(Protocol::CompositeFactory) } else { Proto::Unset };
            Ctx::Leaf(LeafCtx {
                factory,
                proto,
                factory_site: site,
                object,
                local: Vec::new(),
                global: global.clone(),
                section: None,
            })
        } else {
            self.context(object, target, &global, site, Role::Use)?
        };
        merge_use(&mut ctx, &additions, &local, global.get("__file__"));
        if let Ctx::Leaf(leaf) = &mut ctx {
            // The node is named after the section that was loaded, not the
            // one it uses.
            leaf.section = Some(sec);
            if leaf.proto == Proto::Unset {
                leaf.proto = Proto::Known(self.protocol_from_kind(sec, &used)?);
            }
        }
        Some(ctx)
    }

    /// Whether a section of `object`'s kinds is named `name`.
    fn defines(&self, object: ObjectType, name: &str) -> bool {
        self.m.heads.iter().any(|h| h.first && h.name == name && h.kind.is_some_and(|k| k.object_type() == object))
    }

    /// rsgi rejects `use` next to an explicit factory key: PasteDeploy
    /// silently takes `use` and passes the key on as a setting.
    fn check_use_and_explicit(&mut self, object: ObjectType, sec: usize, used: &Local, local: &[Local]) {
        let header = self.header(sec);
        for group in Protocol::explicit_groups(object) {
            for (key, _) in group.iter() {
                if let Some(l) = local.iter().find(|l| l.key == *key) {
                    self.diags.push(
                        Diag::new(
                            Code::MultipleFactories,
                            l.key_site,
                            format!("section `{header}` has two factories: `use` and `{key}`"),
                        )
                        .label(used.key_site, "`use` given here")
                        .help("keep one of them")
                        .note("PasteDeploy uses `use` and passes the other on as a setting"),
                    );
                }
            }
        }
    }

    /// The protocol PasteDeploy gives a `call:` factory from the using
    /// section's prefix: `app`/`application` → app factory,
    /// `composite`/`composit` → composite factory, `filter` → filter
    /// factory, `server` → server factory; `filter-app` has none (case D40).
    fn protocol_from_kind(&mut self, sec: usize, used: &Local) -> Option<Protocol> {
        match self.m.heads[sec].kind {
            Some(SectionKind::App) => Some(Protocol::AppFactory),
            Some(SectionKind::Composite) => Some(Protocol::CompositeFactory),
            Some(SectionKind::Filter) => Some(Protocol::FilterFactory),
            Some(SectionKind::Server) => Some(Protocol::ServerFactory),
            _ => {
                self.diags.push(
                    Diag::new(
                        Code::CallNotAllowed,
                        used.value_site,
                        format!("`{}` cannot be used in a filter-app: its calling convention is unknown", used.value),
                    )
                    .help("define a `[filter:x]` section with this `use`, then write `use = x` here")
                    .note("PasteDeploy fails with `AssertionError: Protocol 'paste.filter-app_factory' unknown`"),
                );
                None
            }
        }
    }

    /// `_context_from_explicit` (LW:509-532): the factory keys of `object`
    /// (see [`Protocol::explicit_groups`]); none is an error (case D19), and
    /// so is more than one (D18; rsgi also rejects two keys of one group,
    /// which PasteDeploy accepts silently, D84).
    fn explicit_context(
        &mut self,
        object: ObjectType,
        sec: usize,
        global: BTreeMap<String, String>,
        mut local: Vec<Local>,
    ) -> Option<Ctx<S>> {
        let header = self.header(sec);
        let mut present: Vec<(&str, Protocol, Site)> = Vec::new();
        for group in Protocol::explicit_groups(object) {
            for (key, proto) in group.iter() {
                if let Some(l) = local.iter().find(|l| l.key == *key) {
                    present.push((key, *proto, l.key_site));
                }
            }
        }
        match present.as_slice() {
            [] => {
                self.diags.push(self.no_factory(object, sec, &local));
                None
            }
            [(key, proto, _)] => {
                let value = take_local(&mut local, key)?;
                Some(Ctx::Leaf(LeafCtx {
                    factory: FactoryRef::Entry { value: value.value.clone() },
                    proto: Proto::Known(*proto),
                    factory_site: value.value_site,
                    object,
                    local,
                    global,
                    section: Some(sec),
                }))
            }
            [(first, _, first_site), rest @ ..] => {
                for (key, _, site) in rest {
                    self.diags.push(
                        Diag::new(
                            Code::MultipleFactories,
                            *site,
                            format!("section `{header}` has two factories: `{first}` and `{key}`"),
                        )
                        .label(*first_site, "first factory given here")
                        .help("keep one of them"),
                    );
                }
                None
            }
        }
    }

    /// "section has no factory", with a hint for `Use` (keys are
    /// case-sensitive, case D76) and for factory keys of another type.
    fn no_factory(&self, object: ObjectType, sec: usize, local: &[Local]) -> Diag {
        let header = self.header(sec);
        let first_key = Protocol::explicit_groups(object)[0][0].0;
        let mut d = Diag::new(Code::NoFactory, Site::Header(sec), format!("section `{header}` has no factory"));
        if let Some(l) = local.iter().find(|l| l.key != "use" && l.key.eq_ignore_ascii_case("use")) {
            d = d.help(format!("keys are case-sensitive: write `use` instead of `{}`", l.key));
        }
        let others = [
            "paste.app_factory",
            "paste.composite_factory",
            "paste.filter_factory",
            "paste.filter_app_factory",
            "paste.server_factory",
            "paste.server_runner",
        ];
        if let Some(l) = local.iter().find(|l| others.contains(&l.key.as_str())) {
            d = d.note(format!("`{}` is not a factory key for {} {object}", l.key, article(object.as_str())));
        }
        d.help(format!("add `use = <section, egg:Dist#entry or call:module:attr>` or `{first_key} = module:attr`"))
    }

    // ----------------------------------------------------------------
    // Finishing: contexts become nodes; composites get their children
    // ----------------------------------------------------------------

    fn finish(&mut self, ctx: Ctx<S>) -> Option<Resolved<S>> {
        if !self.count_node() {
            return None;
        }
        match ctx {
            Ctx::Leaf(leaf) => self.finish_leaf(leaf),
            Ctx::Pipeline(p) => Some(Resolved::App(AppNode::Pipeline(p))),
            Ctx::FilterApp(f) => Some(Resolved::App(AppNode::FilterApp(f))),
            Ctx::Routes(t) => Some(Resolved::App(AppNode::Routes(t))),
            Ctx::FilterWith { inner, filter } => match self.finish(*inner)? {
                Resolved::App(app) => {
                    Some(Resolved::App(AppNode::FilterWith { inner: Box::new(app), filter: Box::new(filter) }))
                }
                Resolved::Filter(f) => {
                    Some(Resolved::Filter(FilterNode::FilterWith { inner: Box::new(f), filter: Box::new(filter) }))
                }
                Resolved::Server(_) => None,
            },
        }
    }

    /// A factory call: its protocol settled (the classifier knows `egg:`
    /// entry points), then an app, a composite (with its shape), a filter
    /// or a server.
    fn finish_leaf(&mut self, leaf: LeafCtx) -> Option<Resolved<S>> {
        let protocol = match leaf.proto {
            Proto::Known(p) => Some(p),
            Proto::Egg => self.classifier.egg_protocol(&leaf.factory, leaf.object),
            Proto::Unset => {
                self.diags.push(Diag::new(
                    Code::CallNotAllowed,
                    leaf.factory_site,
                    format!("`{}` has no calling convention here", leaf.factory),
                ));
                return None;
            }
        };
        let is_composite = leaf.object == ObjectType::App
            && match protocol {
                Some(p) => p == Protocol::CompositeFactory,
                None => self.classifier.composite_kind(&leaf.factory) != CompositeKind::Opaque,
            };
        let shape = if is_composite { Some(self.shape(&leaf)?) } else { None };
        let out = Leaf {
            factory: Factory {
                reference: leaf.factory,
                protocol: if is_composite { Some(Protocol::CompositeFactory) } else { protocol },
                loc: leaf.factory_site.loc(self.doc()),
            },
            conf: Conf { local: leaf.local.iter().map(|l| self.setting(l)).collect(), global: leaf.global },
            section: leaf.section.map(|s| self.m.section_ref(s)),
        };
        Some(match (leaf.object, shape) {
            (ObjectType::App, Some(shape)) => Resolved::App(AppNode::Composite(Composite { leaf: out, shape })),
            (ObjectType::App, None) => Resolved::App(AppNode::App(out)),
            (ObjectType::Filter, _) => Resolved::Filter(FilterNode::Filter(out)),
            (ObjectType::Server, _) => Resolved::Server(out),
        })
    }

    fn setting(&self, l: &Local) -> Setting<S> {
        Setting {
            key: l.key.clone(),
            value: l.value.clone(),
            key_loc: l.key_site.loc(self.doc()),
            value_loc: l.value_site.loc(self.doc()),
        }
    }

    /// The children of a composite, by the classifier's verdict.
    fn shape(&mut self, leaf: &LeafCtx) -> Option<Shape<S>> {
        match self.classifier.composite_kind(&leaf.factory) {
            CompositeKind::UrlMap => self.urlmap(leaf).map(Shape::UrlMap),
            CompositeKind::KeyedPipelines { settings } => self.keyed(leaf, &settings, false).map(Shape::Keyed),
            CompositeKind::Select => {
                self.keyed(leaf, &["by".to_string(), "default".to_string()], true).map(Shape::Keyed)
            }
            CompositeKind::Opaque => Some(Shape::Opaque),
        }
    }

    /// Paste's `urlmap_factory` (UM:16-28): every local key but
    /// `not_found_app` is a path expression mounting the app its value
    /// names (resolved with the composite's global conf); `not_found_app`
    /// comes from the local or the global conf. Two keys normalising to
    /// the same mount (`/v2` and `/v2/`) are an error: Paste silently keeps
    /// the later one.
    fn urlmap(&mut self, leaf: &LeafCtx) -> Option<UrlMap<S>> {
        let mut ok = true;
        let mut mounts = Vec::new();
        let mut seen: Vec<(MountKey, Site, String)> = Vec::new();
        for l in leaf.local.iter().filter(|l| l.key != "not_found_app") {
            let key = match parse_mount_key(&l.key) {
                Ok(k) => k,
                Err(e) => {
                    self.diags.push(urlmap_key_diag(&e, l));
                    ok = false;
                    continue;
                }
            };
            if let Some((_, first_site, first_raw)) = seen.iter().find(|(k, _, _)| *k == key) {
                self.diags.push(
                    Diag::new(
                        Code::DuplicateMount,
                        l.key_site,
                        format!("urlmap keys `{first_raw}` and `{}` both mount `{key}`", l.key),
                    )
                    .label(*first_site, "first mounted here")
                    .help("remove one of them")
                    .note("Paste silently keeps the later one"),
                );
                ok = false;
                continue;
            }
            seen.push((key.clone(), l.key_site, l.key.clone()));
            let site = l.words().first().map_or(l.value_site, |w| w.1);
            match self.resolve(ObjectType::App, &l.value, &leaf.global, site, Role::UrlMapValue) {
                Some(Resolved::App(app)) => {
                    mounts.push(Mount { key, raw_key: l.key.clone(), key_loc: l.key_site.loc(self.doc()), app })
                }
                _ => ok = false,
            }
        }
        let not_found = match leaf.local.iter().find(|l| l.key == "not_found_app") {
            Some(l) => Some((l.value.clone(), l.value_site)),
            None => {
                leaf.global.get("not_found_app").map(|v| (v.clone(), leaf.section.map_or(Site::None, Site::Header)))
            }
        };
        let not_found = match not_found {
            Some((name, site)) => match self.resolve(ObjectType::App, &name, &leaf.global, site, Role::UrlMapValue) {
                Some(Resolved::App(app)) => Some(Box::new(app)),
                _ => {
                    ok = false;
                    None
                }
            },
            None => None,
        };
        ok.then_some(UrlMap { mounts, not_found })
    }

    /// A keyed pipeline choice (Nova's `pipeline_factory_v21`, oracle's
    /// `pick_pipeline`, `egg:rsgi#select`): every local key but `settings`
    /// is an alternative whose value is a pipeline. Children get only the
    /// file's defaults as global conf (the factories call
    /// `loader.get_filter(name)` without it). Every alternative is resolved,
    /// not only the one configured now.
    fn keyed(&mut self, leaf: &LeafCtx, settings: &[String], select: bool) -> Option<Keyed<S>> {
        let mut ok = true;
        let mut choices = Vec::new();
        let mut kept = Vec::new();
        let no_globals = BTreeMap::new();
        let header_site = leaf.section.map_or(leaf.factory_site, Site::Header);
        for l in &leaf.local {
            if settings.contains(&l.key) {
                kept.push(self.setting(l));
                continue;
            }
            let items = l.words();
            if items.is_empty() {
                self.diags.push(
                    Diag::new(Code::Choice, l.value_site, format!("pipeline choice `{}` is empty", l.key))
                        .help("list filters then an app: `keystone = authtoken api`"),
                );
                ok = false;
                continue;
            }
            match self.pipeline_items(&items, &no_globals, Role::ChoiceFilter, Role::ChoiceApp) {
                Some((filters, app)) => choices.push(Choice {
                    key: l.key.clone(),
                    key_loc: l.key_site.loc(self.doc()),
                    filters,
                    app: Box::new(app),
                }),
                None => ok = false,
            }
        }
        if select {
            ok &= self.check_select_default(leaf);
        }
        if ok && choices.is_empty() {
            self.diags.push(
                Diag::new(Code::Choice, header_site, "this composite has no pipeline choices")
                    .help("add one, e.g. `keystone = authtoken api`"),
            );
            return None;
        }
        ok.then_some(Keyed { choices, settings: kept })
    }

    /// `egg:rsgi#select`'s `default` must name one of the alternatives.
    fn check_select_default(&mut self, leaf: &LeafCtx) -> bool {
        let Some(default) = leaf.local.iter().find(|l| l.key == "default") else {
            return true;
        };
        let names: Vec<&str> =
            leaf.local.iter().filter(|l| l.key != "by" && l.key != "default").map(|l| l.key.as_str()).collect();
        if names.contains(&default.value.as_str()) {
            return true;
        }
        let hint = suggest(&default.value, names.iter().copied()).map(|s| format!("did you mean `{s}`?"));
        self.diags.push(
            Diag::new(Code::Choice, default.value_site, format!("unknown choice `{}`", default.value))
                .help_opt(hint)
                .note(format!("choices: {}", names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", "))),
        );
        false
    }
}

/// A urlmap key error on the key, with a fix.
fn urlmap_key_diag(e: &KeyError, l: &Local) -> Diag {
    let d = Diag::new(Code::UrlMapKey, l.key_site, e.to_string());
    match e {
        KeyError::NotAPath { given } if matches!(given.as_str(), "http" | "https") && l.value.starts_with("//") => {
            d.help("an ini key ends at the first `:`, so a URL cannot be a key; write `domain HOST /path = app`")
        }
        KeyError::NotAPath { given } => d
            .help(format!("did you mean `/{given}`?"))
            .note("every key of a urlmap except `not_found_app` is a path; it takes no other settings"),
        KeyError::PortWithoutDomain => d.help("write `domain example.com port 8080 /path`"),
        _ => d.note("a urlmap key is `[domain HOST] [port PORT] /path`"),
    }
}

/// Applies a using section's `set`s and settings to the used context
/// (`context.global_conf.update(...)`, `context.local_conf.update(...)`,
/// `__file__` kept). Through `filter-with` they reach the wrapped section,
/// whose dicts PasteDeploy shares; a pipeline or filter-app ignores them
/// (case D20).
fn merge_use<S>(ctx: &mut Ctx<S>, additions: &[(String, String)], local: &[Local], file: Option<&String>) {
    match ctx {
        Ctx::Leaf(leaf) => {
            for (k, v) in additions {
                leaf.global.insert(k.clone(), v.clone());
            }
            for l in local {
                set_local(&mut leaf.local, l.clone());
            }
            if let Some(f) = file {
                leaf.global.insert("__file__".to_string(), f.clone());
            }
        }
        Ctx::FilterWith { inner, .. } => merge_use(inner, additions, local, file),
        Ctx::Pipeline(_) | Ctx::FilterApp(_) | Ctx::Routes(_) => {}
    }
}

/// PasteDeploy's absolute-name rule `^[a-zA-Z]+:`: `egg:X`, `call:m:f`,
/// `config:f.ini`, and also `foo:bar` (an unknown scheme).
pub(crate) fn is_absolute(name: &str) -> bool {
    match name.split_once(':') {
        Some((scheme, _)) => !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphabetic()),
        None => false,
    }
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Loc;
    use crate::ini;
    use crate::model::Builtins;

    /// Each diagnostic as `L<line>: <message>` plus `| help: …` parts.
    fn show(errs: &[Diagnostic<Loc>]) -> Vec<String> {
        errs.iter()
            .map(|e| {
                let mut s = format!("L{}: {}", e.loc.as_ref().map_or(0, |l| l.line), e.message);
                for h in &e.help {
                    s.push_str(&format!(" | help: {h}"));
                }
                s
            })
            .collect()
    }

    /// Errors of resolving `name` as an app in `text` (parsed leniently so
    /// duplicates reach the model).
    fn errors(text: &str, name: &str) -> Vec<String> {
        let (doc, syntax) = ini::parse_lossy(text, "t.ini");
        assert!(syntax.is_empty(), "{syntax:?}");
        let model = Model::new(&doc, &Options::for_file("/d/t.ini"));
        match model.resolve_app(name, &Builtins) {
            Ok(_) => Vec::new(),
            Err(errs) => show(&errs),
        }
    }

    fn resolve(text: &str, name: &str) -> AppNode<Loc> {
        let doc = ini::parse(text, "t.ini").unwrap();
        let model = Model::new(&doc, &Options::for_file("/d/t.ini"));
        model.resolve_app(name, &Builtins).unwrap_or_else(|e| panic!("{}", crate::render_all(&e)))
    }

    macro_rules! case {
        ($name:ident: $text:expr => [$($want:expr),* $(,)?]) => {
            #[test]
            fn $name() {
                let want: Vec<&str> = vec![$($want),*];
                assert_eq!(errors($text, "main"), want);
            }
        };
    }

    const ECHO: &str = "use = egg:rsgi#echo";

    case!(ok_pipeline: &format!("[pipeline:main]\npipeline = auth api\n[filter:auth]\n{ECHO}\n[app:api]\n{ECHO}\n") => []);
    case!(unknown_app_did_you_mean: &format!("[pipeline:main]\npipeline = auth servres\n[filter:auth]\n{ECHO}\n[app:servers]\n{ECHO}\n") =>
        ["L2: unknown app `servres` | help: did you mean `servers`?"]);
    case!(all_errors_at_once: &format!("[pipeline:main]\npipeline = a\n  b\n  api\n[app:api]\n{ECHO}\n") =>
        ["L2: unknown filter `a`", "L3: unknown filter `b`"]);
    case!(app_in_middle: &format!("[pipeline:main]\npipeline = api api\n[app:api]\n{ECHO}\n") =>
        ["L2: app `api` comes before the end of the pipeline; only the last item can be an app | help: every item but the last must be a `[filter:…]` section"]);
    case!(ends_in_filter: &format!("[pipeline:main]\npipeline = auth\n[filter:auth]\n{ECHO}\n") =>
        ["L2: pipeline ends in filter `auth`; the last item must be an app | help: add the app the filters wrap after it, e.g. `pipeline = … auth api`"]);
    case!(empty_pipeline: "[pipeline:main]\npipeline =\n" =>
        ["L2: pipeline `main` is empty | help: list filters then an app: `pipeline = auth api`"]);
    case!(missing_pipeline_key: "[pipeline:main]\n" =>
        ["L1: pipeline `main` has no `pipeline` key | help: list filters then an app: `pipeline = auth api`"]);
    case!(filter_app_missing_next: &format!("[filter-app:main]\n{ECHO}\n") =>
        ["L1: filter-app `main` has no `next` key | help: name the app it wraps: `next = api`"]);
    case!(cycle_through_urlmap: &format!("[composite:main]\nuse = egg:Paste#urlmap\n/ = pl\n[pipeline:pl]\npipeline = f main\n[filter:f]\n{ECHO}\n") =>
        ["L5: cycle: `main` refers to itself: main → pl → main"]);
    case!(cycle_filter_with: &format!("[app:main]\n{ECHO}\nfilter-with = f\n[filter:f]\n{ECHO}\nfilter-with = f\n") =>
        ["L6: cycle: `f` refers to itself: f → f"]);
    case!(duplicate_mount: &format!("[composite:main]\nuse = egg:Paste#urlmap\n/v2 = api\n/v2/ = api\n[app:api]\n{ECHO}\n") =>
        ["L4: urlmap keys `/v2` and `/v2/` both mount `/v2` | help: remove one of them"]);
    case!(urlmap_key_not_path: &format!("[composite:main]\nuse = egg:Paste#urlmap\nv2 = api\ndebug = true\n[app:api]\n{ECHO}\n") =>
        ["L3: urlmap key `v2` must start with `/` | help: did you mean `/v2`?",
         "L4: urlmap key `debug` must start with `/` | help: did you mean `/debug`?"]);
    case!(urlmap_port_without_domain: &format!("[composite:main]\nuse = urlmap\nport 80 /x = api\n[app:api]\n{ECHO}\n") =>
        ["L3: a `port` needs a `domain` | help: write `domain example.com port 8080 /path`"]);
    case!(urlmap_unknown_value: &format!("[composite:main]\nuse = egg:Paste#urlmap\n/v2: ap1\n[app:api]\n{ECHO}\n") =>
        ["L3: unknown app `ap1` | help: did you mean `api`?"]);
    case!(urlmap_call_value: "[composite:main]\nuse = egg:Paste#urlmap\n/: call:m:f\n" =>
        ["L3: `call:m:f` cannot be used here: a `call:` factory needs a section to say how to call it | help: define a section, e.g. `[app:x]` with `use = call:m:f`, and refer to it by name"]);
    case!(get_undefined: &format!("[DEFAULT]\ndebug = 1\n[app:main]\n{ECHO}\nget d = debgu\n") =>
        ["L5: undefined global setting `debgu` | help: did you mean `debug`?"]);
    case!(section_kind_typo_anywhere: &format!("[app:main]\n{ECHO}\n[aplication:x]\n{ECHO}\n") =>
        ["L3: unknown section kind `aplication` | help: did you mean `application`?"]);
    case!(use_and_explicit: &format!("[app:main]\n{ECHO}\npaste.app_factory = m:f\n") =>
        ["L3: section `app:main` has two factories: `use` and `paste.app_factory` | help: keep one of them"]);
    case!(no_factory_case_hint: "[app:main]\nUse = egg:rsgi#echo\n" =>
        ["L1: section `app:main` has no factory | help: keys are case-sensitive: write `use` instead of `Use` | help: add `use = <section, egg:Dist#entry or call:module:attr>` or `paste.app_factory = module:attr`"]);
    case!(filter_with_on_pipeline: &format!("[pipeline:main]\npipeline = api\nfilter-with = f\n[filter:f]\n{ECHO}\n[app:api]\n{ECHO}\n") =>
        ["L3: `filter-with` cannot wrap `main`, which is a pipeline | help: put `f` first in the pipeline instead"]);
    case!(filter_with_unknown: &format!("[app:main]\n{ECHO}\nfilter-with = nothere\n") => ["L3: unknown filter `nothere`"]);
    case!(select_unknown_default: &format!("[composite:main]\nuse = select\nby = auth_strategy\ndefault = keystnoe\nkeystone = api\nnoauth = api\n[app:api]\n{ECHO}\n") =>
        ["L4: unknown choice `keystnoe` | help: did you mean `keystone`?"]);
    case!(select_choice_checked: &format!("[composite:main]\nuse = egg:rsgi#select\nkeystone = authtoken api\nnoauth = api\n[app:api]\n{ECHO}\n") =>
        ["L3: unknown filter `authtoken`"]);
    case!(select_empty_choice: &format!("[composite:main]\nuse = egg:rsgi#select\nkeystone =\n[app:api]\n{ECHO}\n") =>
        ["L3: pipeline choice `keystone` is empty | help: list filters then an app: `keystone = authtoken api`"]);
    case!(bad_default_always: &format!("[DEFAULT]\npw = %SECRET%\n[app:main]\n{ECHO}\n") =>
        ["L2: bad interpolation in `pw`: `%` must be followed by `%` or `(`, found `%SECRET%` | help: write `%%` for a literal `%`"]);
    case!(interp_missing_suggest: &format!("[app:main]\n{ECHO}\nbase = /srv\npath = %(bsae)s/x\n") =>
        ["L4: bad interpolation in `path`: `%(bsae)s` names no setting | help: did you mean `%(base)s`?"]);
    case!(duplicate_reported_when_loading_other: &format!("[app:main]\n{ECHO}\n[app:x]\n{ECHO}\n[app:x]\n{ECHO}\n") =>
        ["L5: duplicate section `app:x` | help: rename one of them, or merge their settings"]);
    case!(ambiguous: &format!("[app:main]\n{ECHO}\n[composite:main]\nuse = urlmap\n") =>
        ["L0: ambiguous name `main`: sections `app:main`, `composite:main` all define it | help: rename all but one of them"]);
    case!(scheme_typo: "[app:main]\nuse = eg:rsgi#echo\n" => ["L2: unknown scheme `eg` in `eg:rsgi#echo` | help: did you mean `egg:`?"]);
    case!(config_unsupported: "[app:main]\nuse = config:other.ini#x\n" =>
        ["L2: `config:other.ini#x`: references to other files are not supported | help: copy the section into this file"]);
    case!(bare_app_hint: &format!("[app]\n{ECHO}\n") =>
        ["L0: unknown app `main` | help: a section `[app]` without a name is never loaded; name it `[app:main]`"]);

    #[test]
    fn defaults_shadow_local_keys_and_set_get() {
        let AppNode::App(leaf) = resolve(
            &format!("[DEFAULT]\ndebug = true\n[app:main]\n{ECHO}\ndebug = false\nset x = 1\nget y = x\nname = n\n"),
            "main",
        ) else {
            panic!()
        };
        assert_eq!(
            leaf.conf.local_map().into_iter().collect::<Vec<_>>(),
            [("name".into(), "n".into()), ("y".into(), "1".into())]
        );
        assert_eq!(leaf.conf.global.get("debug").map(String::as_str), Some("true"));
        assert_eq!(leaf.conf.global.get("here").map(String::as_str), Some("/d"));
        assert_eq!(leaf.factory.protocol, Some(Protocol::AppFactory));
    }

    #[test]
    fn use_merges_over_used_section() {
        let AppNode::App(leaf) = resolve(
            &format!("[app:main]\nuse = base\ncolor = red\n[app:base]\n{ECHO}\ncolor = blue\nsize = 1\n"),
            "main",
        ) else {
            panic!()
        };
        assert_eq!(
            leaf.conf.local_map().into_iter().collect::<Vec<_>>(),
            [("color".into(), "red".into()), ("size".into(), "1".into())]
        );
        assert_eq!(leaf.section.unwrap().name, "main");
    }

    #[test]
    fn nova_urlmap_plus_and_keyed_globals() {
        let text = format!(
            "[composite:main]\nuse = call:nova.api.openstack.urlmap:urlmap_factory\nset g = 1\n/v2.1: v\n/v2.1/+: api\n\
             [app:v]\n{ECHO}\n[composite:api]\nuse = select\nkeystone = f a\n[filter:f]\n{ECHO}\n[app:a]\n{ECHO}\n"
        );
        let AppNode::Composite(c) = resolve(&text, "main") else { panic!() };
        let Shape::UrlMap(map) = &c.shape else { panic!() };
        let keys: Vec<String> = map.mounts.iter().map(|m| format!("{} {}", m.key.path, m.key.plus)).collect();
        assert_eq!(keys, ["/v2.1 false", "/v2.1 true"]);
        // urlmap children get the composite's globals; keyed choices only the defaults.
        let AppNode::App(v) = &map.mounts[0].app else { panic!() };
        assert_eq!(v.conf.global.get("g").map(String::as_str), Some("1"));
        let AppNode::Composite(sel) = &map.mounts[1].app else { panic!() };
        let Shape::Keyed(k) = &sel.shape else { panic!() };
        let AppNode::App(a) = &*k.choices[0].app else { panic!() };
        assert_eq!(a.conf.global.get("g"), None);
        assert_eq!(k.choices[0].filters.len(), 1);
    }

    #[test]
    fn filter_with_order() {
        let text = format!(
            "[app:main]\n{ECHO}\nfilter-with = f1\n[filter:f1]\n{ECHO}\nfilter-with = f2\n[filter:f2]\n{ECHO}\n"
        );
        let AppNode::FilterWith { filter, .. } = resolve(&text, "main") else { panic!() };
        let FilterNode::FilterWith { inner, filter: outer } = *filter else { panic!() };
        let (FilterNode::Filter(i), FilterNode::Filter(o)) = (*inner, *outer) else { panic!() };
        assert_eq!((i.section.unwrap().name, o.section.unwrap().name), ("f1".into(), "f2".into()));
    }

    #[test]
    fn rust_path_factory() {
        let AppNode::App(leaf) = resolve("[app:main]\nuse = my_crate::apps::hello\n", "main") else { panic!() };
        assert_eq!(leaf.factory.reference, FactoryRef::Rust { path: "my_crate::apps::hello".into() });
        assert_eq!(leaf.factory.protocol, Some(Protocol::AppFactory));
    }

    #[test]
    fn deep_chain_is_an_error_not_a_stack_overflow() {
        let mut text = String::new();
        for i in 0..2000 {
            text.push_str(&format!("[app:a{i}]\nuse = a{}\n", i + 1));
        }
        text.push_str(&format!("[app:a2000]\n{ECHO}\n"));
        let errs = errors(&text, "a0");
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].contains("nest deeper than"), "{errs:?}");
    }

    #[test]
    fn exponential_sharing_is_bounded() {
        let mut text = String::new();
        for i in 0..40 {
            text.push_str(&format!("[composite:l{i}]\nuse = urlmap\n/a = l{n}\n/b = l{n}\n", n = i + 1));
        }
        text.push_str(&format!("[app:l40]\n{ECHO}\n"));
        let errs = errors(&text, "l0");
        assert!(errs.iter().any(|e| e.contains("more than")), "{errs:?}");
    }

    #[test]
    fn loadable_names_once_in_order() {
        let doc = ini::parse(
            &format!("[app:b]\n{ECHO}\n[application:b]\n{ECHO}\n[filter:f]\n{ECHO}\n[pipeline:a]\npipeline = b\n"),
            "t",
        )
        .unwrap();
        let model = Model::new(&doc, &Options::default());
        let names: Vec<String> = model.loadable().into_iter().map(|l| l.name).collect();
        assert_eq!(names, ["b", "a"]);
        assert!(model.check_all(&Builtins).is_empty());
    }

    #[test]
    fn word_location_on_continuation_line() {
        let errs = errors(
            &format!("[pipeline:main]\npipeline =\n  auth\n  nope\n  api\n[filter:auth]\n{ECHO}\n[app:api]\n{ECHO}\n"),
            "main",
        );
        assert_eq!(errs, ["L4: unknown filter `nope`"]);
    }

    #[test]
    fn absolute_names() {
        assert!(is_absolute("egg:Paste#urlmap"));
        assert!(is_absolute("foo:bar"));
        assert!(!is_absolute("a1:b"));
        assert!(!is_absolute(":b"));
        assert!(!is_absolute("main"));
    }
}
