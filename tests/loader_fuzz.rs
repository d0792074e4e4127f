//! Property test: the loader never panics. Random ini text built from
//! PasteDeploy fragments, and byte- and line-level mutations of every
//! recorded case, go through `loadapp` (with and without stubs), the
//! whole-file check and, when loading succeeds, one request. Every input
//! must give an app or a rendered error, never a panic.
//!
//! `rsgi-config` fuzzes its parser and resolver the same way; this adds the
//! loader's layer (registry lookups, typed settings, composition, urlmap
//! mounting, choice of a keyed pipeline, `[server:…]` settings).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Loads that gave an app, to show the inputs reach composition.
static LOADED: AtomicUsize = AtomicUsize::new(0);

use rsgi::loader::{Deployment, Registry};
use rsgi::server::Config;
use rsgi::{App, Request};
use serde_json::Value;

/// One of `items`.
fn pick<'a>(rng: &mut fastrand::Rng, items: &[&'a str]) -> &'a str {
    items[rng.usize(..items.len())]
}

const NAMES: &[&str] = &["main", "api", "auth", "servers", "versions", "f1", "f2", "x", "main ", "", "a b", "ü", "%"];
const KINDS: &[&str] = &[
    "app",
    "application",
    "composite",
    "composit",
    "pipeline",
    "filter",
    "filter-app",
    "server",
    "DEFAULT",
    "App",
    "aplication",
    "loggers",
];
const KEYS: &[&str] = &[
    "use",
    "pipeline",
    "next",
    "filter-with",
    "name",
    "set auth_strategy",
    "get x",
    "auth_strategy",
    "not_found_app",
    "/",
    "/v2",
    "/v2/",
    "/v2.1/+",
    "domain example.com /",
    "port 80 /x",
    "max_request_body_size",
    "max_body",
    "paste.app_factory",
    "paste.filter_factory",
    "paste.filter_app_factory",
    "paste.composite_factory",
    "keystone",
    "noauth2",
    "by",
    "default",
    "host",
    "port",
    "pool_size",
    "bind",
    "listen",
    "log_format",
    "oslo_config_project",
    "enable_proxy_headers_parsing",
    "allowed_origin",
    "here",
    "require",
];
const VALUES: &[&str] = &[
    "egg:Paste#urlmap",
    "egg:rsgi#echo",
    "egg:rsgi#trace",
    "egg:rsgi#select",
    "urlmap",
    "select",
    "main",
    "api",
    "auth servers",
    "f1 f2 api",
    "auth",
    "",
    "%(here)s",
    "%(nope)s",
    "%",
    "%%",
    "call:oracle_apps:make_app",
    "oracle_apps:make_app",
    "oslo_middleware:RequestBodySizeLimiter.factory",
    "oslo_middleware.cors:filter_factory",
    "nova.api.openstack:FaultWrapper.factory",
    "oslo_middleware:Healthcheck.app_factory",
    "1024",
    "-1",
    "true",
    "maybe",
    "127.0.0.1:0",
    "*:80",
    "unix:/tmp/x.sock",
    "config:other.ini",
    "foo:bar",
    "egg:",
    "keystone",
    "noauth2",
    "auth_strategy",
    "x\n  continued",
    "http://x/y",
    "0.0.0.0",
    "99999999999999999999",
    "%(client_ip)s",
    "egg:Unknown#thing",
    "call:",
    "::",
    "a::b",
];

fn random_ini(rng: &mut fastrand::Rng) -> String {
    let mut out = String::new();
    for _ in 0..=rng.usize(..7) {
        match rng.usize(..10) {
            0 => out.push_str("[DEFAULT]\n"),
            1 => out.push_str(&format!("[{}]\n", pick(rng, NAMES))),
            _ => out.push_str(&format!("[{}:{}]\n", pick(rng, KINDS), pick(rng, NAMES))),
        }
        for _ in 0..rng.usize(..6) {
            let delim = pick(rng, &[" = ", ": ", "=", " :", " "]);
            out.push_str(&format!("{}{delim}{}\n", pick(rng, KEYS), pick(rng, VALUES)));
            if rng.usize(..12) == 0 {
                out.push_str(pick(rng, &["# comment\n", "; c\n", "  indented\n", "\n", "[\n", "]]\n"]));
            }
        }
    }
    out
}

fn mutate(rng: &mut fastrand::Rng, text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for _ in 0..=rng.usize(..4) {
        if bytes.is_empty() {
            break;
        }
        let i = rng.usize(..bytes.len().max(1));
        match rng.usize(..6) {
            0 => {
                let set = b"[]:=%#; \n\tx/";
                bytes[i] = set[rng.usize(..set.len().max(1))];
            }
            1 => {
                bytes.remove(i);
            }
            2 => bytes.insert(i, pick(rng, &["%", ":", "=", "\n", "[", " ", "/"]).as_bytes()[0]),
            3 => {
                // Duplicate or drop a line.
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let mut lines: Vec<&str> = text.lines().collect();
                if lines.is_empty() {
                    continue;
                }
                let j = rng.usize(..lines.len().max(1));
                if rng.usize(..2) == 0 {
                    lines.insert(j, lines[j])
                } else {
                    lines.remove(j);
                }
                bytes = lines.join("\n").into_bytes();
            }
            4 => {
                // Swap two names.
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let (a, b) = (pick(rng, NAMES), pick(rng, NAMES));
                bytes = text.replacen(a, b, 1).into_bytes();
            }
            _ => bytes.truncate(i),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Everything the loader does with one input; panics propagate.
fn exercise(rt: &tokio::runtime::Runtime, text: &str, registries: &[Registry]) {
    let Ok(d) = Deployment::parse(text, "fuzz.ini") else {
        return;
    };
    for registry in registries {
        let _ = d.check(None, registry).map_err(|e| e.to_string());
        for name in d.loadable().iter().map(String::as_str).chain(["main"]) {
            match d.load(name, registry) {
                Ok(app) => {
                    LOADED.fetch_add(1, Ordering::Relaxed);
                    let res = rt.block_on(app.call(Request::get("/v2/x")));
                    let _ = res.status();
                }
                Err(e) => {
                    let rendered = e.to_string();
                    assert!(rendered.starts_with("error: "), "{rendered}");
                }
            }
        }
        for server in d.servers() {
            let _ = d.server_config(&server, registry, &mut Config::default());
        }
    }
}

fn cases() -> Vec<String> {
    let mut out = Vec::new();
    let deploy: Vec<Value> = serde_json::from_str(include_str!("data/deploy_cases.json")).expect("deploy cases");
    for c in &deploy {
        if let Some(files) = c["files"].as_object() {
            out.extend(files.values().filter_map(|v| v.as_str().map(str::to_owned)));
        }
    }
    let urlmap: Vec<Value> = serde_json::from_str(include_str!("data/urlmap_cases.json")).expect("urlmap cases");
    out.extend(urlmap.iter().filter_map(|c| c["ini"].as_str().map(str::to_owned)));
    out
}

#[test]
fn loader_never_panics() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let mut oracle = Registry::default();
    oracle.echo("oracle_apps:make_app", Some("unnamed"));
    oracle.keyed("oracle_apps:pick_pipeline", "auth_strategy", "keystone");
    let registries = [Registry::default(), Registry::default().stub_unknown(true), oracle];
    // Seeded, so a failure replays.
    let mut rng = fastrand::Rng::with_seed(0x5eed_1234_abcd_0001);
    let seeds = cases();
    let mut inputs: Vec<String> = (0..1500).map(|_| random_ini(&mut rng)).collect();
    for seed in &seeds {
        inputs.push(seed.clone());
        for _ in 0..12 {
            inputs.push(mutate(&mut rng, seed));
        }
    }
    let mut panics = Vec::new();
    for input in &inputs {
        if catch_unwind(AssertUnwindSafe(|| exercise(&rt, input, &registries))).is_err() {
            panics.push(input.clone());
        }
    }
    let loaded = LOADED.load(Ordering::Relaxed);
    println!("loader fuzz: {} inputs, {loaded} apps loaded and called, {} panics", inputs.len(), panics.len());
    assert!(loaded > 100, "too few inputs load: {loaded}");
    for p in panics.iter().take(5) {
        println!("PANIC on input:\n{p}\n---");
    }
    assert!(panics.is_empty(), "{} inputs panicked", panics.len());
}
