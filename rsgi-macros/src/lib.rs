//! The `deploy!` procedural macro of rsgi: a PasteDeploy-like description
//! (inline tokens or an ini file read at compile time) checked and compiled
//! into statically typed pipelines and routers.
//!
//! Use it through the `rsgi` facade (`rsgi::deploy!`), which documents the
//! grammar. The phases, one direction:
//!
//! ```text
//! lib.rs ──> parse.rs ──> model.rs ──> check.rs ──> expand.rs
//! tokens     syntax       rsgi-config   all errors   tokens
//!                         RawDocument   at once
//! ```

mod check;
mod ctxt;
mod expand;
mod model;
mod parse;
mod paths;

/// Compiles a PasteDeploy-like deployment into static types; see the
/// `rsgi::deploy!` documentation for the grammar.
#[proc_macro]
pub fn deploy(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    expand::deploy(input.into()).into()
}
