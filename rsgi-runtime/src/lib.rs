//! The rsgi runtime: the [`App`] and [`Filter`] interface, [`UrlMap`],
//! pipelines, the [`select`](fn@select) composite, the standard OpenStack filters and
//! the pooled server.
//!
//! Users depend on the `rsgi` facade crate, which re-exports all of this.
#![deny(missing_docs)]

pub mod app;
pub mod body;
pub mod echo;
pub mod factory;
pub mod filter;
pub mod filters;
pub mod loader;
mod panic;
#[doc(hidden)]
pub mod private;
pub mod request;
pub mod routes;
pub mod select;
pub mod server;
pub mod tower;
pub mod urlmap;

pub use app::{App, AppFn, BoxApp, Either, IntoResponse, Json, Never, Response, app_fn};
pub use body::{Body, BoxError};
pub use filter::{Filter, Identity, Pipeline, Stack, pipeline};
pub use request::{Request, Scheme};
pub use select::{Select, SelectError, select};
pub use urlmap::{NotFound, UrlMap};

pub use bytes;
pub use http;
