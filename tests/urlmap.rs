//! urlmap against the cases recorded from Paste 3.10 (`tests/data/urlmap_cases.json`,
//! copied from the project's shared oracle runs), replayed twice: in process
//! (the request built by hand, so `wsgi.url_scheme` and `SERVER_NAME` can be
//! set) and through a real server on `127.0.0.1:0`.

mod common;

use std::collections::BTreeMap;

use common::{TestServer, echo};
use rsgi::filters::HttpProxyToWsgiFilter;
use rsgi::{App, BoxApp, Request, Scheme, UrlMap, pipeline};
use serde_json::Value;

/// Cases not replayed, each with the reason. Every other `direct` and `ini`
/// case is replayed and must match.
const SKIPPED: &[(&str, &str)] = &[
    ("U21", "Paste's HTML 404 lists every mount; rsgi's 404 never does (checked in `not_found_never_lists_mounts`)"),
    (
        "U25",
        "`/v2` and `/v2/` normalize to one mount: Paste keeps the later one, rsgi rejects the map (checked in `deviations`)",
    ),
    ("U30", "rsgi keeps PATH_INFO percent-encoded, so `/a%20b` matches the key `/a%20b` (checked in `deviations`)"),
    (
        "U44",
        "needs SERVER_NAME = example.com; rsgi's SERVER_NAME is the local address (the Host fallback itself is unit-tested)",
    ),
];

/// Cases replayed over HTTP only (the `http:*` runs), where rsgi keeps Paste's
/// behaviour; the others are deliberate deviations, checked in `deviations`.
const HTTP_KEPT: &[&str] = &["H04", "H06", "H08"];

fn cases() -> Vec<Value> {
    let text = include_str!("data/urlmap_cases.json");
    serde_json::from_str(text).expect("urlmap_cases.json parses")
}

/// configparser's rule: the first `=` or `:` on the line splits key and value.
fn split_ini_line(line: &str) -> (String, String) {
    let at = line.find(['=', ':']).expect("a delimiter");
    (line[..at].trim().to_owned(), line[at + 1..].trim().to_owned())
}

/// `[composite:NAME]` urlmap sections of a case's extra ini, as key lines.
fn extra_composites(extra_ini: &str) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in extra_ini.lines() {
        if let Some(name) = line.strip_prefix("[composite:").and_then(|l| l.strip_suffix(']')) {
            current = Some(name.to_owned());
            out.insert(name.to_owned(), Vec::new());
        } else if line.starts_with('[') {
            current = None;
        } else if let Some(name) = &current {
            if !line.starts_with("use") && line.contains(['=', ':']) {
                out.get_mut(name).unwrap().push(line.to_owned());
            }
        }
    }
    out
}

/// Builds the urlmap a case describes; apps are echo apps named by target.
fn build(
    entries: &[(String, String)],
    not_found: Option<&str>,
    composites: &BTreeMap<String, Vec<String>>,
) -> Result<BoxApp, String> {
    let mut map = UrlMap::new();
    let mut nf = not_found.map(str::to_owned);
    for (key, target) in entries.iter().cloned() {
        if key == "not_found_app" {
            nf = Some(target);
            continue;
        }
        let app = match composites.get(&target) {
            Some(inner) => build(&ini_entries(inner), None, composites)?,
            None => BoxApp::new(echo(Box::leak(target.into_boxed_str()))),
        };
        map = map.try_mount(&key, app).map_err(|e| e.to_string())?;
    }
    Ok(match nf {
        Some(name) => BoxApp::new(map.not_found(echo(Box::leak(name.into_boxed_str())))),
        None => BoxApp::new(map),
    })
}

fn ini_entries(lines: &[String]) -> Vec<(String, String)> {
    lines.iter().map(|l| split_ini_line(l)).collect()
}

fn case_map(case: &Value) -> Result<BoxApp, String> {
    let entries: Vec<(String, String)> = match case["mode"].as_str() {
        Some("direct") => case["map"]
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| {
                let (key, target) = (&entry[0], entry[1].as_str().unwrap());
                let key = match key {
                    // A `(domain, path)` tuple key.
                    Value::Array(t) => format!("http://{}{}", t[0].as_str().unwrap(), t[1].as_str().unwrap()),
                    k => k.as_str().unwrap().to_owned(),
                };
                (key, target.to_owned())
            })
            .collect(),
        _ => case["map"].as_array().unwrap().iter().map(|l| split_ini_line(l.as_str().unwrap())).collect(),
    };
    let defaults = case["defaults"].as_str().unwrap_or("");
    let not_found = defaults.lines().find_map(|l| {
        let (k, v) = split_ini_line(l);
        (k == "not_found_app").then_some(v)
    });
    build(&entries, not_found.as_deref(), &extra_composites(case["extra_ini"].as_str().unwrap_or("")))
}

fn expectation(case: &Value) -> &Value {
    &case["result"]
}

async fn check_reply(id: &str, status: u16, body: &[u8], expected: &Value) {
    let want_status: u16 = expected["status"].as_str().unwrap()[..3].parse().unwrap();
    assert_eq!(status, want_status, "{id}: status");
    if let Some(app) = expected.get("app") {
        let got: Value = serde_json::from_slice(body).unwrap_or_else(|_| panic!("{id}: JSON body"));
        assert_eq!(&got["app"], app, "{id}: app");
        assert_eq!(got["SCRIPT_NAME"], expected["SCRIPT_NAME"], "{id}: SCRIPT_NAME");
        assert_eq!(got["PATH_INFO"], expected["PATH_INFO"], "{id}: PATH_INFO");
    } else {
        assert_eq!(std::str::from_utf8(body).unwrap(), expected["body"].as_str().unwrap(), "{id}: body");
    }
}

#[tokio::test]
async fn recorded_cases_in_process() {
    let (mut replayed, mut errors) = (0, 0);
    for case in cases() {
        let id = case["id"].as_str().unwrap();
        let mode = case["mode"].as_str().unwrap();
        if mode.starts_with("http:") || SKIPPED.iter().any(|(s, _)| *s == id) {
            continue;
        }
        let expected = expectation(&case);
        let map = case_map(&case);
        if let Some(load) = expected.get("load") {
            assert!(map.is_err(), "{id}: Paste fails to load ({}), rsgi must too", load["message"]);
            errors += 1;
            continue;
        }
        let map = map.unwrap_or_else(|e| panic!("{id}: {e}"));
        let r = &case["request"];
        let mut req = Request::get(r["path"].as_str().unwrap());
        if let Some(host) = r["host"].as_str() {
            req.headers_mut().insert("host", host.parse().unwrap());
        }
        if r["scheme"] == "https" {
            req.set_url_scheme(Scheme::Https);
        }
        if let Some(sn) = r["script_name"].as_str().filter(|s| !s.is_empty()) {
            req.set_script_name(sn);
        }
        if let Some(accept) = r["accept"].as_str() {
            req.headers_mut().insert("accept", accept.parse().unwrap());
        }
        let res = map.call(req).await;
        let status = res.status().as_u16();
        let body = res.into_body().collect_bytes().await.unwrap();
        check_reply(id, status, &body, expected).await;
        replayed += 1;
    }
    println!("urlmap cases in process: {replayed} replayed, {errors} load errors matched, {} skipped", SKIPPED.len());
    assert!(replayed >= 30, "too few cases replayed: {replayed}");
}

/// The same cases through a real server: the Host header, the scheme (via
/// a trusted proxy header) and SCRIPT_NAME (via `X-Forwarded-Prefix`) are
/// what a client can send.
#[tokio::test]
async fn recorded_cases_over_http() {
    let mut replayed = 0;
    for case in cases() {
        let id = case["id"].as_str().unwrap();
        let mode = case["mode"].as_str().unwrap();
        let expected = expectation(&case);
        if SKIPPED.iter().any(|(s, _)| *s == id) || expected.get("load").is_some() {
            continue;
        }
        if mode.starts_with("http:") && !HTTP_KEPT.contains(&id) {
            continue;
        }
        let map = if mode.starts_with("http:") {
            let lines: Vec<String> =
                case["map"].as_array().unwrap().iter().map(|l| l.as_str().unwrap().to_owned()).collect();
            build(&ini_entries(&lines), None, &BTreeMap::new()).unwrap()
        } else {
            case_map(&case).unwrap()
        };
        let server = TestServer::start(pipeline().filter(HttpProxyToWsgiFilter::new(true)).app(map)).await;
        let r = &case["request"];
        let target = r["raw_target"].as_str().or(r["path"].as_str()).unwrap();
        let mut head = format!("GET {target} HTTP/1.1\r\nConnection: close\r\n");
        if let Some(host) = r["host"].as_str() {
            head.push_str(&format!("Host: {host}\r\n"));
        }
        if r["scheme"] == "https" {
            head.push_str("X-Forwarded-Proto: https\r\n");
        }
        if let Some(sn) = r["script_name"].as_str().filter(|s| !s.is_empty()) {
            head.push_str(&format!("X-Forwarded-Prefix: {sn}\r\n"));
        }
        head.push_str("\r\n");
        let raw = common::raw(server.addr, head.as_bytes()).await;
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or_else(|| panic!("{id}: no response: {raw:?}"));
        let status: u16 = head[9..12].parse().unwrap();
        check_reply(id, status, body.as_bytes(), expected).await;
        server.stop().await;
        replayed += 1;
    }
    println!("urlmap cases over HTTP: {replayed} replayed");
    assert!(replayed >= 30, "too few cases replayed: {replayed}");
}

/// rsgi's deliberate differences from Paste (SPEC §3), each checked.
#[tokio::test]
async fn deviations() {
    let map = || {
        UrlMap::new()
            .mount("/", BoxApp::new(echo("root")))
            .mount("/v2", BoxApp::new(echo("v2")))
            .mount("/public", BoxApp::new(echo("public")))
            .mount("/admin", BoxApp::new(echo("admin")))
            .mount("/a%20b", BoxApp::new(echo("a")))
    };
    let server = TestServer::start(map()).await;
    let via = |target: &str| format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let json = |raw: String| -> Value { serde_json::from_str(raw.split_once("\r\n\r\n").unwrap().1).unwrap() };

    // Dot segments are removed before matching: `/public/..` cannot reach a sibling mount as `/public`.
    let v = json(common::raw(server.addr, via("/public/../admin/users").as_bytes()).await);
    assert_eq!(
        (v["app"].as_str(), v["SCRIPT_NAME"].as_str(), v["PATH_INFO"].as_str()),
        (Some("admin"), Some("/admin"), Some("/users"))
    );
    let v = json(common::raw(server.addr, via("/public/%2e%2e/admin").as_bytes()).await);
    assert_eq!(v["app"], "admin");
    // `%2F` is never a separator (Paste behind wsgiref/eventlet decodes it: H02).
    let v = json(common::raw(server.addr, via("/v2%2Fservers").as_bytes()).await);
    assert_eq!((v["app"].as_str(), v["PATH_INFO"].as_str()), (Some("root"), Some("/v2%2Fservers")));
    // No percent-decoding at all (H03, U30).
    let v = json(common::raw(server.addr, via("/v%32/x").as_bytes()).await);
    assert_eq!(v["app"], "root");
    let v = json(common::raw(server.addr, via("/a%20b").as_bytes()).await);
    assert_eq!(v["app"], "a");
    server.stop().await;

    // Two keys normalizing to one mount are rejected (U25: Paste keeps the later).
    let dup = UrlMap::new().try_mount("/v2", echo("a")).unwrap().try_mount("/v2/", echo("b"));
    assert!(dup.is_err());
}

#[tokio::test]
async fn not_found_never_lists_mounts() {
    let map = UrlMap::new().mount("/v2", echo("v2")).mount("/secret-admin", echo("admin"));
    let server = TestServer::start(map).await;
    let reply = common::get_with(&server.url("/nope"), &[("accept", "text/html")]).await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.headers["content-type"], "text/plain; charset=utf-8");
    assert_eq!(reply.text(), "404 Not Found\r\nThe resource could not be found.\r\n/nope\r\n\r\n");
    assert!(!reply.text().contains("secret-admin") && !reply.text().contains("/v2"));
    server.stop().await;
}

#[tokio::test]
async fn nova_plus_mounts_over_http() {
    let map = UrlMap::new()
        .mount("/", BoxApp::new(echo("versions")))
        .mount("/v2.1", BoxApp::new(echo("v21_versions")))
        .mount("/v2.1/+", BoxApp::new(echo("api_v21")));
    let server = TestServer::start(map).await;
    for (path, app, sn, pi) in [
        ("/v2.1", "v21_versions", "/v2.1", ""),
        ("/v2.1/", "v21_versions", "/v2.1", "/"),
        ("/v2.1/servers", "api_v21", "/v2.1", "/servers"),
        ("/v2.1/servers/", "api_v21", "/v2.1", "/servers/"),
        ("/v2.10", "versions", "", "/v2.10"),
    ] {
        let v = common::get(&server.url(path)).await.json();
        assert_eq!(
            (v["app"].as_str().unwrap(), v["SCRIPT_NAME"].as_str().unwrap(), v["PATH_INFO"].as_str().unwrap()),
            (app, sn, pi),
            "{path}"
        );
    }
    server.stop().await;
}
