//! Factories with typed settings: what a section's `use =` names.
//!
//! PasteDeploy calls `factory(global_conf, **local_conf)` with every value a
//! string and passes typos on as keyword arguments. In rsgi a factory
//! declares its settings as a Rust type: `deploy!` writes each key as a field
//! assignment (so a typo'd key or a wrongly typed value is a compile error at
//! that key), and the ini loader sets each key from its string with
//! [`Settings::set`] (so the same mistakes are start-up errors naming
//! `file:line` and the key).

use std::fmt;
use std::str::FromStr;

/// A factory: builds an app or a filter from its settings.
///
/// Implemented on the type a `use =` line names; for the standard filters
/// that is the filter type itself (`use = rsgi::filters::SizeLimitFilter`).
///
/// # Examples
///
/// ```
/// use rsgi::factory::{Factory, Settings};
/// use rsgi::filters::SizeLimitFilter;
///
/// let mut settings = <SizeLimitFilter as Factory>::Settings::default();
/// settings.set("max_request_body_size", "1024")?;
/// let _filter: SizeLimitFilter = SizeLimitFilter::build(settings);
/// assert!(settings_error("max_body").is_err());
///
/// fn settings_error(key: &str) -> Result<(), rsgi::factory::SettingError> {
///     <SizeLimitFilter as Factory>::Settings::default().set(key, "1")
/// }
/// # Ok::<(), rsgi::factory::SettingError>(())
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an rsgi factory",
    label = "expected a factory here",
    note = "a section's `use` names a type implementing `rsgi::factory::Factory` (its settings type and a `build` function)"
)]
pub trait Factory {
    /// The settings a section may give.
    type Settings: Settings;
    /// What the factory makes: an [`App`](crate::App) or a [`Filter`](crate::Filter).
    type Output;
    /// Makes it.
    fn build(settings: Self::Settings) -> Self::Output;
}

/// The settings of a [`Factory`], settable from ini strings.
///
/// Declare them with [`settings!`](crate::settings).
pub trait Settings: Default + Send + 'static {
    /// The keys this type accepts, for hints.
    const KEYS: &'static [&'static str];

    /// Sets `key` from its string `value`.
    ///
    /// # Errors
    ///
    /// [`SettingError::UnknownKey`] or [`SettingError::BadValue`].
    fn set(&mut self, key: &str, value: &str) -> Result<(), SettingError>;
}

/// A setting that could not be applied.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SettingError {
    /// The factory has no such setting.
    UnknownKey {
        /// The key as written.
        key: String,
        /// The keys the factory accepts.
        expected: &'static [&'static str],
    },
    /// The value does not parse as the setting's type.
    BadValue {
        /// The key.
        key: String,
        /// The value as written.
        value: String,
        /// The type expected, such as `u64` or `bool`.
        expected: &'static str,
    },
}

impl fmt::Display for SettingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingError::UnknownKey { key, expected } => {
                write!(f, "unknown setting `{key}`")?;
                if expected.is_empty() {
                    f.write_str("; this factory takes no settings")
                } else {
                    let list: Vec<String> = expected.iter().map(|k| format!("`{k}`")).collect();
                    write!(f, "; expected one of {}", list.join(", "))
                }
            }
            SettingError::BadValue { key, value, expected } => {
                write!(f, "invalid value `{value}` for setting `{key}`: expected {expected}")
            }
        }
    }
}

impl std::error::Error for SettingError {}

/// Parses one setting's string, as the ini loader does: `bool` accepts
/// PasteDeploy's `asbool` words (`true`/`false`, `yes`/`no`, `on`/`off`,
/// `1`/`0`), `Option<T>` treats an empty string as `None`, `Vec<String>` is
/// a comma-separated list; anything else uses `FromStr`.
pub trait SettingValue: Sized {
    /// The type's name in error messages.
    const EXPECTED: &'static str;
    /// Parses `value`.
    fn parse_setting(value: &str) -> Option<Self>;
}

impl SettingValue for bool {
    const EXPECTED: &'static str = "a boolean (`true` or `false`)";
    fn parse_setting(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "y" | "t" | "1" => Some(true),
            "false" | "no" | "off" | "n" | "f" | "0" => Some(false),
            _ => None,
        }
    }
}

macro_rules! from_str_setting {
    ($($ty:ty => $name:expr),* $(,)?) => {$(
        impl SettingValue for $ty {
            const EXPECTED: &'static str = $name;
            fn parse_setting(value: &str) -> Option<Self> {
                <$ty as FromStr>::from_str(value.trim()).ok()
            }
        }
    )*};
}
from_str_setting!(u16 => "an integer (`u16`)", u32 => "an integer (`u32`)", u64 => "an integer (`u64`)", usize => "an integer (`usize`)", i64 => "an integer (`i64`)", f64 => "a number (`f64`)");

impl SettingValue for String {
    const EXPECTED: &'static str = "a string";
    fn parse_setting(value: &str) -> Option<Self> {
        Some(value.to_owned())
    }
}

impl<T: SettingValue> SettingValue for Option<T> {
    const EXPECTED: &'static str = T::EXPECTED;
    fn parse_setting(value: &str) -> Option<Self> {
        if value.trim().is_empty() { Some(None) } else { T::parse_setting(value).map(Some) }
    }
}

impl SettingValue for Vec<String> {
    const EXPECTED: &'static str = "a comma-separated list";
    fn parse_setting(value: &str) -> Option<Self> {
        Some(value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect())
    }
}

/// Declares a settings struct: fields with defaults, `Default`, and the
/// [`Settings`] impl. Keys listed after `ignore` are accepted and dropped
/// (for ini keys another system reads, such as oslo's `oslo_config_project`).
///
/// # Examples
///
/// ```
/// use rsgi::factory::Settings;
///
/// rsgi::settings! {
///     /// Settings of a greeting app.
///     pub struct GreetSettings {
///         /// Whom to greet.
///         pub name: String = "world".to_owned(),
///         /// How many times.
///         pub times: u32 = 1,
///     }
///     ignore ["oslo_config_project"]
/// }
///
/// let mut s = GreetSettings::default();
/// s.set("times", "3")?;
/// s.set("oslo_config_project", "nova")?;
/// assert_eq!((s.name.as_str(), s.times), ("world", 3));
/// assert_eq!(
///     s.set("times", "many").unwrap_err().to_string(),
///     "invalid value `many` for setting `times`: expected an integer (`u32`)"
/// );
/// # Ok::<(), rsgi::factory::SettingError>(())
/// ```
#[macro_export]
macro_rules! settings {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty = $default:expr ),* $(,)?
        }
        $( ignore [$($ignored:literal),* $(,)?] )?
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq)]
        #[allow(missing_copy_implementations)]
        $vis struct $name {
            $( $(#[$fmeta])* $fvis $field: $ty, )*
        }

        impl ::core::default::Default for $name {
            fn default() -> Self {
                $name { $( $field: $default, )* }
            }
        }

        impl $crate::factory::Settings for $name {
            const KEYS: &'static [&'static str] = &[$(::core::stringify!($field)),*];

            fn set(&mut self, key: &str, value: &str) -> ::core::result::Result<(), $crate::factory::SettingError> {
                match key {
                    $(
                        ::core::stringify!($field) => {
                            self.$field = <$ty as $crate::factory::SettingValue>::parse_setting(value).ok_or_else(|| {
                                $crate::factory::SettingError::BadValue {
                                    key: key.to_owned(),
                                    value: value.to_owned(),
                                    expected: <$ty as $crate::factory::SettingValue>::EXPECTED,
                                }
                            })?;
                            ::core::result::Result::Ok(())
                        }
                    )*
                    $( $( $ignored => ::core::result::Result::Ok(()), )* )?
                    _ => ::core::result::Result::Err($crate::factory::SettingError::UnknownKey {
                        key: key.to_owned(),
                        expected: <Self as $crate::factory::Settings>::KEYS,
                    }),
                }
            }
        }
    };
}

/// Implements [`Factory`] without settings for app or filter types: each
/// `Type => expression` builds the value a `use = Type` line makes.
///
/// # Examples
///
/// ```
/// use rsgi::{App, IntoResponse, Request, Response};
///
/// struct Versions;
///
/// impl App for Versions {
///     async fn call(&self, _req: Request) -> Response {
///         rsgi::Json(r#"{"versions": []}"#).into_response()
///     }
/// }
///
/// rsgi::factory!(Versions => Versions);
///
/// let _: Versions = <Versions as rsgi::factory::Factory>::build(rsgi::factory::NoSettings);
/// ```
#[macro_export]
macro_rules! factory {
    ($($ty:ty => $make:expr),* $(,)?) => {$(
        impl $crate::factory::Factory for $ty {
            type Settings = $crate::factory::NoSettings;
            type Output = $ty;
            fn build(_: $crate::factory::NoSettings) -> $ty {
                $make
            }
        }
    )*};
}

/// The settings of a factory that takes none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoSettings;

impl Settings for NoSettings {
    const KEYS: &'static [&'static str] = &[];
    fn set(&mut self, key: &str, _value: &str) -> Result<(), SettingError> {
        Err(SettingError::UnknownKey { key: key.to_owned(), expected: Self::KEYS })
    }
}

/// Untyped settings, every key accepted as a string, in order (PasteDeploy's
/// `local_conf`): for the echo app and stubs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Conf {
    /// The `(key, value)` pairs, in the order set.
    pub pairs: Vec<(String, String)>,
}

impl Conf {
    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

impl Settings for Conf {
    const KEYS: &'static [&'static str] = &[];
    fn set(&mut self, key: &str, value: &str) -> Result<(), SettingError> {
        self.pairs.push((key.to_owned(), value.to_owned()));
        Ok(())
    }
}
