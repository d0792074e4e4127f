//! `%(name)s` interpolation with CPython's `BasicInterpolation` rules, as
//! PasteDeploy applies it to every value it reads (`paste/SEMANTICS.md` §5).
//!
//! - `%(name)s` is replaced by the *raw* value of `name` (the same section's
//!   keys, then the defaults: `[DEFAULT]`, `here`, `__file__`, the caller's
//!   global conf), itself interpolated recursively.
//! - `%%` is a literal `%`.
//! - Any other `%` is an error (CPython: `InterpolationSyntaxError`).
//! - Nesting deeper than 10 levels is an error (`InterpolationDepthError`),
//!   so `a = %(a)s` fails instead of overflowing the stack.

use std::fmt;

/// CPython's `MAX_INTERPOLATION_DEPTH`.
pub const MAX_DEPTH: usize = 10;

/// Why a value cannot be interpolated.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InterpError {
    /// A `%` not followed by `%` or `(`: `100%`.
    BarePercent {
        /// The text from the offending `%` on (at most 20 chars).
        found: String,
    },
    /// `%(` without a closing `)s`: `%(name`.
    BadReference {
        /// The text from the offending `%` on (at most 20 chars).
        found: String,
    },
    /// `%(name)s` where `name` is not defined.
    Missing {
        /// The name.
        name: String,
    },
    /// More than [`MAX_DEPTH`] nested references (usually a reference cycle).
    TooDeep {
        /// The name whose expansion went too deep.
        name: String,
    },
}

impl fmt::Display for InterpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InterpError::BarePercent { found } => {
                write!(f, "`%` must be followed by `%` or `(`, found `{found}`")
            }
            InterpError::BadReference { found } => {
                write!(f, "bad interpolation reference `{found}`; expected `%(name)s`")
            }
            InterpError::Missing { name } => write!(f, "`%({name})s` names no setting"),
            InterpError::TooDeep { name } => {
                write!(f, "interpolation of `%({name})s` nests deeper than {MAX_DEPTH} levels")
            }
        }
    }
}

/// Interpolates `raw`, looking names up (exact case) with `lookup`, which
/// returns *raw* values.
///
/// # Examples
///
/// ```
/// use rsgi_config::interp::{interpolate, InterpError};
/// let vars = |n: &str| match n { "base" => Some("/srv"), "sub" => Some("%(base)s/x"), _ => None };
/// assert_eq!(interpolate("%(sub)s/y 100%%", &vars), Ok("/srv/x/y 100%".to_string()));
/// assert_eq!(interpolate("100%", &vars), Err(InterpError::BarePercent { found: "%".into() }));
/// assert_eq!(interpolate("%(nope)s", &vars), Err(InterpError::Missing { name: "nope".into() }));
/// ```
pub fn interpolate<'a>(raw: &str, lookup: &dyn Fn(&str) -> Option<&'a str>) -> Result<String, InterpError> {
    let mut out = String::with_capacity(raw.len());
    expand(raw, lookup, 1, "", &mut out)?;
    Ok(out)
}

/// The first 20 chars of `s`, for messages.
fn excerpt(s: &str) -> String {
    s.chars().take(20).collect()
}

/// One level of `_interpolate_some`: copy text, expand `%%` and `%(x)s`,
/// recursing only into values that contain a `%` (depth starts at 1, and
/// more than [`MAX_DEPTH`] fails).
fn expand<'a>(
    mut rest: &str,
    lookup: &dyn Fn(&str) -> Option<&'a str>,
    depth: usize,
    name: &str,
    out: &mut String,
) -> Result<(), InterpError> {
    if depth > MAX_DEPTH {
        return Err(InterpError::TooDeep { name: name.to_string() });
    }
    while let Some(p) = rest.find('%') {
        out.push_str(&rest[..p]);
        rest = &rest[p..];
        let after = &rest[1..];
        if let Some(r) = after.strip_prefix('%') {
            out.push('%');
            rest = r;
        } else if let Some(r) = after.strip_prefix('(') {
            // `%\(([^)]+)\)s`: a non-empty name without `)`, then `)s`.
            let close = r.find(')').filter(|&c| c > 0 && r[c + 1..].starts_with('s'));
            let Some(c) = close else {
                return Err(InterpError::BadReference { found: excerpt(rest) });
            };
            let var = &r[..c];
            rest = &r[c + 2..];
            let Some(value) = lookup(var) else {
                return Err(InterpError::Missing { name: var.to_string() });
            };
            if value.contains('%') {
                expand(value, lookup, depth + 1, var, out)?;
            } else {
                out.push_str(value);
            }
        } else {
            return Err(InterpError::BarePercent { found: excerpt(rest) });
        }
    }
    out.push_str(rest);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(n: &str) -> Option<&'static str> {
        match n {
            "a" => Some("1"),
            "b" => Some("%(a)s-2"),
            "self" => Some("%(self)s"),
            "pct" => Some("50%%"),
            "bad" => Some("x%y"),
            "Case" => Some("upper"),
            _ => None,
        }
    }

    macro_rules! case {
        ($name:ident: $raw:expr => ok $want:expr) => {
            #[test]
            fn $name() {
                assert_eq!(interpolate($raw, &vars), Ok($want.to_string()));
            }
        };
        ($name:ident: $raw:expr => err $want:expr) => {
            #[test]
            fn $name() {
                assert_eq!(interpolate($raw, &vars), Err($want));
            }
        };
    }

    case!(plain: "hello" => ok "hello");
    case!(simple: "%(a)s" => ok "1");
    case!(nested: "x%(b)sy" => ok "x1-2y");
    case!(double_pct: "100%%" => ok "100%");
    case!(nested_pct: "%(pct)s" => ok "50%");
    case!(case_sensitive: "%(Case)s" => ok "upper");
    case!(empty: "" => ok "");
    case!(unicode: "é%(a)sé" => ok "é1é");
    case!(bare: "100%" => err InterpError::BarePercent { found: "%".into() });
    case!(bare_mid: "%SERVICE_PASSWORD%" => err InterpError::BarePercent { found: "%SERVICE_PASSWORD%".into() });
    case!(bare_nested: "%(bad)s" => err InterpError::BarePercent { found: "%y".into() });
    case!(unclosed: "%(a" => err InterpError::BadReference { found: "%(a".into() });
    case!(no_s: "%(a)d" => err InterpError::BadReference { found: "%(a)d".into() });
    case!(empty_name: "%()s" => err InterpError::BadReference { found: "%()s".into() });
    case!(missing: "%(lower)s" => err InterpError::Missing { name: "lower".into() });
    case!(missing_case: "%(case)s" => err InterpError::Missing { name: "case".into() });
    case!(cycle: "%(self)s" => err InterpError::TooDeep { name: "self".into() });
}
