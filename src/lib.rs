//! rsgi: PasteDeploy-style deployments — urlmap composites, pipelines of
//! filters, apps — composed statically in Rust and served by a pooled
//! tokio + hyper server.
//!
//! This facade re-exports the runtime ([`rsgi_runtime`]); depend on it
//! rather than on the member crates.

pub use rsgi_runtime::*;

// So that `::rsgi::…` paths (what `deploy!` expansions name) resolve inside
// this crate too.
#[allow(unused_extern_crates)]
extern crate self as rsgi;
