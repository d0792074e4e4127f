//! The main job, end to end: `examples/nova.rs` (built by `cargo test` like
//! every example) started as a process on loopback, driven over HTTP, then
//! stopped with SIGTERM.
#![cfg(unix)]

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{WAIT, get_with, send};
use http_body_util::Full;

fn example(name: &str) -> PathBuf {
    // target/<profile>/deps/nova-<hash> → target/<profile>/examples/<name>
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(|deps| deps.parent()).unwrap().join("examples").join(name)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts the example and waits until it accepts connections.
fn start(auth_strategy: &str) -> (Child, u16) {
    let port = free_port();
    let child = Command::new(example("nova"))
        .args(["--bind", &format!("127.0.0.1:{port}")])
        .env("AUTH_STRATEGY", auth_strategy)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("examples/nova is built by `cargo test`");
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < WAIT, "nova did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, port)
}

fn stop(mut child: Child) {
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "nova exits 0 on SIGTERM: {status:?}");
            return;
        }
        assert!(start.elapsed() < WAIT, "nova did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn nova_noauth2_servers_api() {
    let (child, port) = start("noauth2");
    let url = |p: &str| format!("http://127.0.0.1:{port}{p}");
    let project = [("x-auth-project-id", "demo")];

    // Version documents: `/` lists them, `/v2.1` and `/v2.1/` are the unauthenticated document.
    let root = get_with(&url("/"), &[]).await;
    assert_eq!(root.status, 300);
    assert_eq!(root.json()["versions"].as_array().unwrap().len(), 2);
    for p in ["/v2.1", "/v2.1/"] {
        assert_eq!(get_with(&url(p), &[]).await.json()["version"]["id"], "v2.1", "{p}");
    }

    // The API behind the noauth2 pipeline and the route table.
    let create = http::Request::post(url("/v2.1/servers"))
        .header("x-auth-project-id", "demo")
        .body(Full::new(Bytes::from_static(br#"{"server": {"name": "vm1"}}"#)))
        .unwrap();
    let created = send(create).await;
    assert_eq!(created.status, 202);
    assert!(created.headers.contains_key("x-openstack-request-id"));
    let id = created.json()["server"]["id"].as_str().unwrap().to_owned();
    let listed = get_with(&url("/v2.1/servers/detail"), &project).await.json();
    assert_eq!(listed["servers"][0]["name"], "vm1");
    assert_eq!(get_with(&url(&format!("/v2.1/servers/{id}")), &project).await.json()["server"]["status"], "ACTIVE");
    // Another project sees nothing.
    assert_eq!(get_with(&url(&format!("/v2.1/servers/{id}")), &[("x-auth-project-id", "other")]).await.status, 404);
    // 405 with Allow; 404 for an unknown path under the API.
    let put = send(http::Request::put(url("/v2.1/servers")).body(Full::default()).unwrap()).await;
    assert_eq!(put.status, 405);
    assert_eq!(put.headers["allow"], "GET, HEAD, POST");
    assert_eq!(get_with(&url("/v2.1/flavors"), &project).await.status, 404);
    stop(child);
}

#[tokio::test]
async fn nova_keystone_needs_the_token() {
    let (child, port) = start("keystone");
    let url = format!("http://127.0.0.1:{port}/v2.1/servers");
    let denied = get_with(&url, &[]).await;
    assert_eq!(denied.status, 401);
    assert!(denied.headers.contains_key("www-authenticate"));
    assert_eq!(get_with(&url, &[("x-auth-token", "secret")]).await.status, 200);
    stop(child);
}
