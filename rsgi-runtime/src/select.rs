//! The `select` composite: one of several apps, chosen at start-up from a
//! configuration value.
//!
//! This is the shape of Nova's `pipeline_factory_v21`, Cinder's and
//! Neutron's `pipeline_factory` (keyed by `auth_strategy`) and Glance's and
//! Heat's (keyed by `flavor`). Every alternative is type-checked; only the
//! chosen one is built; the result is an enum ([`Either`]), not a box.

use std::fmt;

use crate::app::{App, Either};

/// The error when the configured value names none of the alternatives.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SelectError {
    /// The setting the choice is read from, such as `auth_strategy`.
    pub setting: String,
    /// The value it had.
    pub value: String,
    /// The values that name an alternative, in declaration order.
    pub choices: Vec<&'static str>,
}

impl fmt::Display for SelectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{} = {}` selects no pipeline; expected one of ", self.setting, self.value)?;
        for (i, c) in self.choices.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "`{c}`")?;
        }
        Ok(())
    }
}

impl std::error::Error for SelectError {}

/// Starts a choice on `setting`, whose configured value is `value`.
///
/// # Examples
///
/// ```
/// use rsgi::{App, Request, app_fn, select};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), rsgi::BoxError> {
/// let auth_strategy = "noauth2";
/// let app = select("auth_strategy", auth_strategy)
///     .case("keystone", || app_fn(|_| async { "keystone" }))
///     .case("noauth2", || app_fn(|_| async { "noauth2" }))
///     .build()?;
/// let body = app.call(Request::get("/")).await.into_body().collect_bytes().await?;
/// assert_eq!(body, "noauth2");
///
/// let err = select("auth_strategy", "ldap").case("keystone", || app_fn(|_| async { "" })).build();
/// assert_eq!(err.unwrap_err().to_string(), "`auth_strategy = ldap` selects no pipeline; expected one of `keystone`");
/// # Ok(())
/// # }
/// ```
pub fn select(setting: impl Into<String>, value: impl Into<String>) -> SelectStart {
    SelectStart { setting: setting.into(), value: value.into() }
}

/// A choice with no alternatives yet; see [`select`].
#[derive(Debug)]
pub struct SelectStart {
    setting: String,
    value: String,
}

impl SelectStart {
    /// The first alternative: chosen when the value is `key`.
    pub fn case<A: App>(self, key: &'static str, make: impl FnOnce() -> A) -> Select<A> {
        let chosen = (self.value == key).then(make);
        Select { setting: self.setting, value: self.value, chosen, choices: vec![key] }
    }
}

/// A choice being built; see [`select`].
pub struct Select<A> {
    setting: String,
    value: String,
    chosen: Option<A>,
    choices: Vec<&'static str>,
}

impl<A> fmt::Debug for Select<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Select")
            .field("setting", &self.setting)
            .field("value", &self.value)
            .field("choices", &self.choices)
            .finish_non_exhaustive()
    }
}

impl<A: App> Select<A> {
    /// Another alternative, chosen when the value is `key` (the first
    /// matching alternative wins).
    pub fn case<B: App>(mut self, key: &'static str, make: impl FnOnce() -> B) -> Select<Either<A, B>> {
        let chosen = match self.chosen {
            Some(a) => Some(Either::Left(a)),
            None => (self.value == key).then(|| Either::Right(make())),
        };
        self.choices.push(key);
        Select { setting: self.setting, value: self.value, chosen, choices: self.choices }
    }

    /// The chosen app.
    ///
    /// # Errors
    ///
    /// [`SelectError`] when the value names no alternative.
    pub fn build(self) -> Result<A, SelectError> {
        self.chosen.ok_or(SelectError { setting: self.setting, value: self.value, choices: self.choices })
    }
}
