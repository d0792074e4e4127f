//! What `deploy!` expansions call and users should not: not a public API,
//! no semver guarantees. Each item names the `rsgi-macros/src/expand.rs`
//! function that emits it.

use std::fmt;

use crate::app::{App, Response};
use crate::factory::{Factory, Settings};
use crate::filter::Filter;
use crate::request::Request;

/// What a factory makes: `Made<SizeLimitFilter>` is the filter a
/// `[filter:…] use = SizeLimitFilter` section builds. Used by
/// `expand_leaf_type`.
pub type Made<P> = <P as Factory>::Output;

/// The app `F` makes of `A`: `Wrap<RequestId, Servers>`. Nested, it spells
/// a pipeline outermost first. Used by `expand_app_type`.
pub type Wrap<F, A> = <F as Filter<A>>::Output;

/// `filter.wrap(app)`, one pipeline stage, spanned at the user's pipeline
/// item so that a bad stage is reported there. Used by `expand_app_build`.
#[inline]
pub fn wrap<F: Filter<A>, A>(filter: F, app: A) -> F::Output {
    filter.wrap(app)
}

/// A `[routes:…]` section's app, from its table (checked by `deploy!`
/// when it compiled, so building it cannot fail). Used by `expand_routes`.
#[track_caller]
pub fn routes<D: crate::routes::Dispatch>(
    table: &[(crate::routes::Methods, &str)],
    dispatch: D,
) -> crate::routes::Routes<D> {
    match crate::routes::Routes::new(table, dispatch) {
        Ok(routes) => routes,
        Err(e) => panic!("a route table deploy! checked was rejected at run time: {e}"),
    }
}

/// Checks that `P` makes an app. Used by `expand_checks`.
#[inline]
pub const fn check_app<A: App>() {}

/// Checks that `P` makes a filter (of apps in general). Used by
/// `expand_checks`.
#[inline]
pub const fn check_filter<F: Filter<SomeApp>>() {}

/// Stands for "any app" in [`check_filter`]; never built.
#[derive(Debug)]
pub enum SomeApp {}

impl App for SomeApp {
    async fn call(&self, _req: Request) -> Response {
        match *self {}
    }
}

/// The settings of factory `P`, defaulted. Used by `expand_leaf_build`.
#[inline]
pub fn settings<P: Factory>() -> P::Settings {
    P::Settings::default()
}

/// Sets one setting from its ini string at start-up (the file form, where
/// the setting's type is only known to the compiler). Panics with the
/// setting's `file:line` when the value does not parse. Used by
/// `expand_leaf_build`.
#[track_caller]
pub fn set<S: Settings>(settings: &mut S, key: &str, value: &str, at: &str) {
    if let Err(e) = settings.set(key, value) {
        panic!("{at}: {e}");
    }
}

/// A literal written in a `deploy!` block, converted to its setting's type:
/// the same type as is (`114688` for a `u64`), a string for a `String`, a
/// comma-separated string for a `Vec<String>`, a value for an `Option`.
/// Used by `expand_leaf_build`.
#[diagnostic::on_unimplemented(
    message = "a `{Self}` cannot be a setting of type `{T}`",
    label = "expected a value of type `{T}`",
    note = "settings take a literal of the field's type; strings also convert to `String`, `Option<String>` and `Vec<String>` (comma-separated)"
)]
pub trait IntoSetting<T> {
    /// Does the conversion.
    fn into_setting(self) -> T;
}

impl<T> IntoSetting<T> for T {
    #[inline]
    fn into_setting(self) -> T {
        self
    }
}

impl<T> IntoSetting<Option<T>> for T {
    #[inline]
    fn into_setting(self) -> Option<T> {
        Some(self)
    }
}

impl IntoSetting<String> for &'static str {
    fn into_setting(self) -> String {
        self.to_owned()
    }
}

impl IntoSetting<Option<String>> for &'static str {
    fn into_setting(self) -> Option<String> {
        Some(self.to_owned())
    }
}

impl IntoSetting<Vec<String>> for &'static str {
    fn into_setting(self) -> Vec<String> {
        self.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
    }
}

/// The value a `select` composite chooses by: the environment variable
/// named after the setting in upper case (`AUTH_STRATEGY`) when set, else
/// the block's `[DEFAULT]` value, else the composite's `default`. Used by
/// `expand_select`.
pub fn select_value(by: &str, configured: Option<&'static str>) -> String {
    let var = by.to_ascii_uppercase().replace(['-', '.'], "_");
    match std::env::var(&var) {
        Ok(v) => v,
        Err(_) => configured.unwrap_or_default().to_owned(),
    }
}

/// Panics with a start-up error (a `select` value naming no choice). Used by
/// `expand_select`.
#[track_caller]
pub fn startup_error(e: impl fmt::Display) -> ! {
    panic!("{e}")
}

/// The stand-in `deploy!` emits for every section when the block has
/// errors, next to the `compile_error!`s, so that code using the
/// deployment still type-checks and no secondary errors pile up. Never
/// built. Used by `expand_fallback`.
#[derive(Debug)]
pub enum Placeholder {}

impl App for Placeholder {
    async fn call(&self, _req: Request) -> Response {
        match *self {}
    }
}

impl<A> Filter<A> for Placeholder {
    type Output = Placeholder;
    fn wrap(&self, _inner: A) -> Placeholder {
        match *self {}
    }
}

/// The body of a placeholder constructor. Used by `expand_fallback`.
pub fn placeholder() -> Placeholder {
    unreachable!("a `deploy!` block with errors is never built")
}

/// The error of a `select` composite whose value names no choice. Used by
/// `expand_select`.
pub fn select_error(setting: &str, value: &str, choices: &[&'static str]) -> crate::select::SelectError {
    crate::select::SelectError { setting: setting.to_owned(), value: value.to_owned(), choices: choices.to_vec() }
}

/// `expand::either_arm`: dispatch over the variants of a generated urlmap
/// mount enum or `select` enum without an `async` block.
pub use crate::app::EitherFuture;
