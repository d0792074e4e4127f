//! rsgi: PasteDeploy-style deployments — urlmap composites, pipelines of
//! filters, apps — composed statically in Rust and served by a pooled
//! tokio + hyper server.
//!
//! This facade re-exports the runtime ([`rsgi_runtime`]) and the
//! [`deploy!`] macro; depend on it rather than on the member crates.

pub use rsgi_runtime::*;

#[doc = include_str!("../docs/deploy.md")]
pub use rsgi_macros::deploy;

/// What `deploy!` expansions call; not a public API. Every item is
/// commented with the `rsgi-macros/src/expand.rs` function that emits it.
#[doc(hidden)]
pub mod __private {
    pub use rsgi_runtime::private::*;
}

// So that `::rsgi::…` paths (what `deploy!` expansions name) resolve inside
// this crate too.
#[allow(unused_extern_crates)]
extern crate self as rsgi;

// The README's quickstart is compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme {}
