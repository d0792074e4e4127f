//! The standard filters of OpenStack pipelines, and the healthcheck app.
//!
//! | paste name (oslo.middleware / nova) | rsgi |
//! |---|---|
//! | `request_id` | [`RequestIdFilter`] |
//! | `faultwrap` | [`FaultWrapFilter`] |
//! | `sizelimit` | [`SizeLimitFilter`] |
//! | `http_proxy_to_wsgi` | [`HttpProxyToWsgiFilter`] |
//! | `cors` | [`CorsFilter`] |
//! | access log (eventlet's `log_format`) | [`RequestLogFilter`] |
//! | `healthcheck` | [`Healthcheck`] (an app) |

pub mod cors;
pub mod faultwrap;
pub mod healthcheck;
pub mod proxy;
pub mod request_id;
pub mod request_log;
pub mod sizelimit;

pub use cors::CorsFilter;
pub use faultwrap::FaultWrapFilter;
pub use healthcheck::Healthcheck;
pub use proxy::HttpProxyToWsgiFilter;
pub use request_id::RequestIdFilter;
pub use request_log::{LogFormat, RequestLogFilter};
pub use sizelimit::SizeLimitFilter;
