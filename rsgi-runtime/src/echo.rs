//! The `egg:rsgi#echo` app and the trace filter: what an ini deployment
//! looks like from the inside, as JSON.
//!
//! They follow the contract of the oracle apps the PasteDeploy cases were
//! recorded with (`paste/cases/oracle_apps.py`), so those recordings replay
//! against rsgi unchanged:
//!
//! - [`EchoApp`] answers `200` with
//!   `{"app", "SCRIPT_NAME", "PATH_INFO", "trace", "filter_confs", "local_conf", "global_conf"}`;
//! - [`TraceFilter`] appends its name to the request's [`Trace`] (and its
//!   `local_conf` to `filter_confs`) before calling the app it wraps, so
//!   `trace` lists the filters outermost first.
//!
//! `rsgi check --stub-unknown` and `rsgi serve --stub-unknown` put these in
//! place of factories the registry does not know.
//!
//! # Examples
//!
//! ```
//! use std::collections::BTreeMap;
//! use rsgi::echo::{EchoApp, TraceFilter};
//! use rsgi::{App, Request, pipeline};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), rsgi::BoxError> {
//! let app = pipeline()
//!     .filter(TraceFilter::new("auth", BTreeMap::new()))
//!     .filter(TraceFilter::new("ratelimit", BTreeMap::new()))
//!     .app(EchoApp::new("api", BTreeMap::new(), BTreeMap::new()));
//! let body = app.call(Request::get("/servers")).await.into_body().collect_bytes().await?;
//! let seen: serde_json::Value = serde_json::from_slice(&body)?;
//! assert_eq!(seen["app"], "api");
//! assert_eq!(seen["trace"], serde_json::json!(["auth", "ratelimit"]));
//! assert_eq!(seen["PATH_INFO"], "/servers");
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use http::StatusCode;
use serde_json::{Map, Value};

use crate::app::{App, Response, json_response};
use crate::filter::Filter;
use crate::request::Request;

/// The filters a request went through, outermost first: what
/// [`TraceFilter`]s record in the request's extensions (the oracle's
/// `environ['oracle.trace']` and `environ['oracle.filter_confs']`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    /// The filter names, outermost first.
    pub names: Vec<String>,
    /// Each filter's name and `local_conf`, outermost first.
    pub confs: Vec<(String, Arc<BTreeMap<String, String>>)>,
}

/// An app answering `200` with a JSON description of what it saw (see the
/// [module docs](self)).
#[derive(Clone, Debug)]
pub struct EchoApp {
    /// The rendered parts that never change: `app`, `local_conf`,
    /// `global_conf`.
    name: Arc<str>,
    local_conf: Arc<Value>,
    global_conf: Arc<Value>,
}

fn json_conf(conf: &BTreeMap<String, String>) -> Value {
    Value::Object(conf.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
}

impl EchoApp {
    /// An echo app called `name`, reporting `local_conf` and `global_conf`
    /// as the factory received them.
    pub fn new(name: &str, local_conf: BTreeMap<String, String>, global_conf: BTreeMap<String, String>) -> Self {
        EchoApp {
            name: Arc::from(name),
            local_conf: Arc::new(json_conf(&local_conf)),
            global_conf: Arc::new(json_conf(&global_conf)),
        }
    }

    /// The name it reports as `app`.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl App for EchoApp {
    async fn call(&self, req: Request) -> Response {
        let trace = req.extensions().get::<Trace>();
        let names: Vec<Value> =
            trace.map(|t| t.names.iter().map(|n| Value::String(n.clone())).collect()).unwrap_or_default();
        let confs: Vec<Value> = trace
            .map(|t| {
                t.confs
                    .iter()
                    .map(|(name, conf)| {
                        let mut m = Map::new();
                        m.insert("local_conf".into(), json_conf(conf));
                        m.insert("name".into(), Value::String(name.clone()));
                        Value::Object(m)
                    })
                    .collect()
            })
            .unwrap_or_default();
        // serde_json's map is sorted (no `preserve_order`), like the
        // oracle's `json.dumps(..., sort_keys=True)`.
        let mut m = Map::new();
        m.insert("PATH_INFO".into(), Value::String(req.path_info().to_owned()));
        m.insert("SCRIPT_NAME".into(), Value::String(req.script_name().to_owned()));
        m.insert("app".into(), Value::String(self.name.to_string()));
        m.insert("filter_confs".into(), Value::Array(confs));
        m.insert("global_conf".into(), (*self.global_conf).clone());
        m.insert("local_conf".into(), (*self.local_conf).clone());
        m.insert("trace".into(), Value::Array(names));
        json_response(StatusCode::OK, serde_json::to_vec(&Value::Object(m)).unwrap_or_default())
    }
}

/// A pass-through filter that records its name (and `local_conf`) in the
/// request's [`Trace`] before calling the app it wraps.
#[derive(Clone, Debug)]
pub struct TraceFilter {
    name: String,
    local_conf: Arc<BTreeMap<String, String>>,
}

impl TraceFilter {
    /// A trace filter called `name`, reporting `local_conf` in
    /// `filter_confs`.
    pub fn new(name: &str, local_conf: BTreeMap<String, String>) -> Self {
        TraceFilter { name: name.to_owned(), local_conf: Arc::new(local_conf) }
    }

    /// The name it records.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// An app wrapped by [`TraceFilter`].
#[derive(Clone, Debug)]
pub struct Traced<A> {
    inner: A,
    name: String,
    local_conf: Arc<BTreeMap<String, String>>,
}

impl<A: App> Filter<A> for TraceFilter {
    type Output = Traced<A>;
    fn wrap(&self, inner: A) -> Traced<A> {
        Traced { inner, name: self.name.clone(), local_conf: Arc::clone(&self.local_conf) }
    }
}

impl<A: App> App for Traced<A> {
    async fn call(&self, mut req: Request) -> Response {
        let ext = req.extensions_mut();
        if ext.get::<Trace>().is_none() {
            ext.insert(Trace::default());
        }
        if let Some(trace) = ext.get_mut::<Trace>() {
            trace.names.push(self.name.clone());
            trace.confs.push((self.name.clone(), Arc::clone(&self.local_conf)));
        }
        self.inner.call(req).await
    }
}

/// As a typed factory (what `deploy!` and `rsgi expand` name): every
/// setting is kept; the app is named by its `name` setting, else `unnamed`.
impl crate::factory::Factory for EchoApp {
    type Settings = crate::factory::Conf;
    type Output = EchoApp;
    fn build(conf: crate::factory::Conf) -> EchoApp {
        let local: BTreeMap<String, String> = conf.pairs.into_iter().collect();
        let name = local.get("name").cloned().unwrap_or_else(|| "unnamed".to_owned());
        EchoApp::new(&name, local, BTreeMap::new())
    }
}

/// As a typed factory: every setting is kept; the filter is named by its
/// `name` setting, else `unnamed-filter`.
impl crate::factory::Factory for TraceFilter {
    type Settings = crate::factory::Conf;
    type Output = TraceFilter;
    fn build(conf: crate::factory::Conf) -> TraceFilter {
        let local: BTreeMap<String, String> = conf.pairs.into_iter().collect();
        let name = local.get("name").cloned().unwrap_or_else(|| "unnamed-filter".to_owned());
        TraceFilter::new(&name, local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::pipeline;

    #[tokio::test]
    async fn echo_reports_filters_outermost_first_with_confs() {
        let mut conf = BTreeMap::new();
        conf.insert("name".to_owned(), "f1".to_owned());
        let mut global = BTreeMap::new();
        global.insert("here".to_owned(), "/etc".to_owned());
        let app = pipeline()
            .filter(TraceFilter::new("f1", conf.clone()))
            .filter(TraceFilter::new("f2", BTreeMap::new()))
            .app(EchoApp::new("leaf", BTreeMap::new(), global));
        let res = app.call(Request::get("/x")).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "application/json");
        let v: Value = serde_json::from_slice(&res.into_body().collect_bytes().await.unwrap()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "PATH_INFO": "/x", "SCRIPT_NAME": "", "app": "leaf",
                "filter_confs": [{"local_conf": {"name": "f1"}, "name": "f1"}, {"local_conf": {}, "name": "f2"}],
                "global_conf": {"here": "/etc"}, "local_conf": {}, "trace": ["f1", "f2"],
            })
        );
    }
}
