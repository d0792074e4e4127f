//! The `rsgi` binary against real files.
//!
//! - Every file of the corpus (the directory named by `RSGI_PASTE_CORPUS`,
//!   the shared `paste/corpus/`): `rsgi check --stub-unknown` passes, or
//!   fails with `file:line` errors exactly where the corpus's `INDEX.md`
//!   (`resolves` column) says PasteDeploy fails, name by name.
//! - `rsgi serve` of Nova's file answers over HTTP.
//! - `rsgi check` of a broken file prints every error with `file:line` and
//!   exits 1; `rsgi expand` prints a `deploy!` block.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const RSGI: &str = env!("CARGO_BIN_EXE_rsgi");

fn rsgi(args: &[&str]) -> Output {
    Command::new(RSGI).args(args).output().expect("run rsgi")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn corpus() -> Option<PathBuf> {
    match std::env::var_os("RSGI_PASTE_CORPUS") {
        Some(dir) => Some(PathBuf::from(dir)),
        None => {
            eprintln!("\n*** corpus tests NOT RUN: RSGI_PASTE_CORPUS unset ***\n");
            println!("corpus tests NOT RUN: RSGI_PASTE_CORPUS unset");
            None
        }
    }
}

/// `INDEX.md`'s `resolves` column: file → the names PasteDeploy fails to
/// load (`all 3 ok` → none; `2/6 fail (a, b)` → `a`, `b`).
fn expected_failures(index: &str) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for line in index.lines().filter(|l| l.starts_with("| ") && l.contains('`')) {
        let cols: Vec<&str> = line.split('|').map(str::trim).collect();
        let (Some(file), Some(resolves)) = (cols.get(2), cols.get(cols.len().saturating_sub(2))) else {
            continue;
        };
        let names = if resolves.starts_with("all ") {
            Vec::new()
        } else {
            resolves
                .split_once('(')
                .map(|(_, r)| r.trim_end_matches(')').split(',').map(|s| s.trim().to_owned()).collect())
                .unwrap_or_default()
        };
        out.insert(file.trim_matches('`').to_owned(), names);
    }
    out
}

/// Every loadable name of a file: the names of its app-type section
/// headers, in order.
fn loadable_names(file: &Path, failing: &[String]) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let mut names = Vec::new();
    for line in text.lines() {
        let Some(header) = line.trim_end().strip_prefix('[').and_then(|l| l.strip_suffix(']')) else {
            continue;
        };
        let Some((prefix, name)) = header.split_once(':') else {
            continue;
        };
        if ["app", "application", "composite", "composit", "pipeline", "filter-app"].contains(&prefix) {
            let name = name.trim().to_owned();
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    for f in failing {
        assert!(names.contains(f), "{}: INDEX lists `{f}` as failing, but it is not a loadable name", file.display());
    }
    names
}

#[test]
fn corpus_files_check_with_stubs() {
    let Some(dir) = corpus() else { return };
    let index = std::fs::read_to_string(dir.join("INDEX.md")).unwrap_or_default();
    let expected = expected_failures(&index);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read RSGI_PASTE_CORPUS")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| !matches!(p.file_name().and_then(|n| n.to_str()), Some("INDEX.md" | "manifest.tsv")))
        .collect();
    files.sort();
    let (mut passing, mut failing_as_expected) = (0, 0);
    let mut problems = Vec::new();
    for path in &files {
        let file = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        let fails = expected.get(&file).cloned().unwrap_or_default();
        let p = path.to_string_lossy();
        let out = rsgi(&["check", "--stub-unknown", &p]);
        let all = text(&out);
        match (fails.is_empty(), out.status.code()) {
            (true, Some(0)) => {
                passing += 1;
                println!("{file}: passes: {}", String::from_utf8_lossy(&out.stdout).trim());
            }
            (false, Some(1)) => {
                // A clear message: each error names `file:line` and its section.
                let located = all.matches("\n  --> ").count();
                let errors = all.matches("error: ").count().saturating_sub(1);
                if located < errors || !all.contains(&format!("{p}:")) {
                    problems.push(format!("{file}: errors without `file:line`:\n{all}"));
                    continue;
                }
                // Exactly the names PasteDeploy fails on fail.
                let mut ok = true;
                for name in loadable_names(path, &fails) {
                    let out = rsgi(&["check", "--stub-unknown", "--name", &name, &p]);
                    let want = if fails.contains(&name) { 1 } else { 0 };
                    if out.status.code() != Some(want) {
                        ok = false;
                        problems.push(format!(
                            "{file} [{name}]: exit {:?}, want {want}:\n{}",
                            out.status.code(),
                            text(&out)
                        ));
                    }
                }
                if ok {
                    failing_as_expected += 1;
                    println!("{file}: fails as in PasteDeploy ({}):\n{all}", fails.join(", "));
                }
            }
            (_, code) => problems.push(format!("{file}: exit {code:?}, PasteDeploy fails on {fails:?}:\n{all}")),
        }
    }
    println!(
        "corpus: {} files, {passing} pass `rsgi check --stub-unknown`, {failing_as_expected} fail as in PasteDeploy, {} problems",
        files.len(),
        problems.len()
    );
    for p in &problems {
        println!("PROBLEM: {p}\n");
    }
    assert!(problems.is_empty(), "{} corpus problems", problems.len());
}

/// Kills the child when dropped, so a failing assertion leaves no server.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").expect("write");
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    (head.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0), body.to_owned())
}

#[test]
fn serve_nova_corpus_file_over_http() {
    let Some(dir) = corpus() else { return };
    let file = dir.join("openstack__nova__etc__nova__api-paste.ini");
    let child = Command::new(RSGI)
        .args(["serve", "--stub-unknown", "--name", "osapi_compute", "--bind", "127.0.0.1:0", "--log-format", ""])
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn rsgi serve");
    let mut server = Server(child);
    let mut line = String::new();
    BufReader::new(server.0.stdout.take().expect("stdout")).read_line(&mut line).expect("read banner");
    let addr = line.trim().rsplit("http://").next().expect("address in banner").to_owned();
    assert!(line.contains("serving"), "{line}");

    let (status, body) = http_get(&addr, "/v2.1/servers");
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON from the echo app");
    assert_eq!(v["app"], "osapi_compute_app_v21");
    assert_eq!((v["SCRIPT_NAME"].as_str(), v["PATH_INFO"].as_str()), (Some("/v2.1"), Some("/servers")));
    // The real filters run (cors, request id, faultwrap, …); the stubbed
    // ones trace, outermost first.
    assert_eq!(v["trace"], serde_json::json!(["osprofiler", "authtoken", "keystonecontext"]));

    // `/v2.1` alone goes to the unauthenticated version pipeline.
    let (status, body) = http_get(&addr, "/v2.1");
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(v["app"], "oscomputeversionapp_v2");
    let (status, _) = http_get(&addr, "/nope/x");
    assert_eq!(status, 200, "`/` is mounted: the versions app answers");
}

fn scratch(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rsgi-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write ini");
    path
}

#[test]
fn check_reports_every_error_with_file_and_line() {
    let path = scratch(
        "broken.ini",
        "[composite:main]\nuse = egg:Paste#urlmap\n/: versions\n/v2.1: api\n\n\
         [pipeline:api]\npipeline = sizelimit servres\n\n\
         [filter:sizelimit]\npaste.filter_factory = oslo_middleware:RequestBodySizeLimiter.factory\nmax_body = 10\n\n\
         [app:servers]\nuse = egg:rsgi#echo\n[app:versions]\nuse = egg:rsgi#echo\n",
    );
    let p = path.to_string_lossy();
    let out = rsgi(&["check", &p]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains(&format!("error: unknown app `servres`\n  --> {p}:7 in [pipeline:api]")), "{all}");
    assert!(all.contains("help: did you mean `servers`?"), "{all}");
    assert!(all.ends_with("error: could not load the deployment due to 1 previous error\n"), "{all}");

    // Fixed, the typed setting error shows up next.
    let fixed = scratch("fixed.ini", &std::fs::read_to_string(&path).unwrap().replace("servres", "servers"));
    let f = fixed.to_string_lossy();
    let out = rsgi(&["check", &f]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains(&format!("error: unknown setting `max_body`; expected one of `max_request_body_size`\n  --> {f}:11 in [filter:sizelimit]")),
        "{all}"
    );

    let good =
        scratch("good.ini", &std::fs::read_to_string(&fixed).unwrap().replace("max_body", "max_request_body_size"));
    let out = rsgi(&["check", &good.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("ok: 4 apps (main, api, servers, versions)"), "{}", text(&out));

    // An unknown factory is an error without `--stub-unknown` only.
    let unknown =
        scratch("unknown.ini", "[app:main]\npaste.app_factory = nova.api.openstack.compute:APIRouterV21.factory\n");
    let u = unknown.to_string_lossy();
    let out = rsgi(&["check", &u]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains(&format!(
            "error: unknown app factory `nova.api.openstack.compute:APIRouterV21.factory`\n  --> {u}:2 in [app:main]"
        )),
        "{}",
        text(&out)
    );
    assert_eq!(rsgi(&["check", "--stub-unknown", &u]).status.code(), Some(0));

    // A missing file.
    let out = rsgi(&["check", "/nonexistent/api-paste.ini"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("cannot read `/nonexistent/api-paste.ini`"), "{}", text(&out));
}

#[test]
fn expand_prints_a_deploy_block() {
    // Printed text only: `deploy!`'s inline grammar is being written in
    // parallel, so the block is checked structurally, not compiled.
    let path = scratch(
        "expand.ini",
        "[DEFAULT]\nauth_strategy = keystone\n\n[composite:osapi_compute]\nuse = call:nova.api.openstack.urlmap:urlmap_factory\n/: versions\n/v2.1/+: api-v21\n\n\
         [composite:api-v21]\nuse = call:nova.api.auth:pipeline_factory_v21\nkeystone = sizelimit authtoken servers\nnoauth2 = sizelimit servers\n\n\
         [filter:sizelimit]\npaste.filter_factory = oslo_middleware:RequestBodySizeLimiter.factory\nmax_request_body_size = 1024\n\n\
         [filter:authtoken]\npaste.filter_factory = keystonemiddleware.auth_token:filter_factory\n\n\
         [app:servers]\npaste.app_factory = nova.api.openstack.compute:APIRouterV21.factory\n[app:versions]\nuse = egg:rsgi#echo\n",
    );
    let out = rsgi(&["expand", &path.to_string_lossy()]);
    let all = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for want in [
        "mod factories {",
        "    /// `keystonemiddleware.auth_token:filter_factory` (filter)\n    pub type AuthTokenFilter = ::rsgi::echo::TraceFilter;",
        "    pub type APIRouterV21 = ::rsgi::echo::EchoApp;",
        "::rsgi::deploy! {\n    [DEFAULT]\n    auth_strategy = \"keystone\"\n",
        "    [composite:osapi_compute]\n    use = urlmap\n    \"/\" = versions\n    \"/v2.1/+\" = api_v21\n",
        "    // [composite:api-v21]\n    [composite:api_v21]\n",
        "    use = select\n    by = \"auth_strategy\"\n    default = \"keystone\"\n    keystone = sizelimit authtoken servers\n    noauth2 = sizelimit servers\n",
        "    [filter:sizelimit]\n    use = ::rsgi::filters::SizeLimitFilter\n    max_request_body_size = 1024\n",
        "    [app:servers]\n    use = factories::APIRouterV21\n",
        "    [app:versions]\n    use = ::rsgi::echo::EchoApp\n",
    ] {
        assert!(all.contains(want), "missing:\n{want}\nin:\n{all}");
    }
    assert!(all.trim_end().ends_with('}'));
    let brackets = |open: char, close: char| all.matches(open).count() == all.matches(close).count();
    assert!(brackets('{', '}') && brackets('[', ']'), "unbalanced:\n{all}");

    // With `--name`, only what that name uses.
    let out = rsgi(&["expand", "--name", "versions", &path.to_string_lossy()]);
    let only = String::from_utf8_lossy(&out.stdout);
    assert!(only.contains("[app:versions]") && !only.contains("[filter:sizelimit]"), "{only}");
}
