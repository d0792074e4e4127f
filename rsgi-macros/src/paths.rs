//! The single table of runtime paths: `expand.rs` never writes `rsgi` by
//! hand. Every path is absolute (`::rsgi::…`), or re-rooted by a leading
//! `crate = path;` in the block.

use proc_macro2::TokenStream;
use quote::quote;

/// Where the runtime is.
#[derive(Debug, Clone)]
pub(crate) struct Paths {
    root: TokenStream,
}

impl Paths {
    /// `::rsgi`, or the block's `crate = path;`.
    pub(crate) fn new(krate: Option<&syn::Path>) -> Self {
        let root = match krate {
            Some(p) => quote!(#p),
            None => quote!(::rsgi),
        };
        Paths { root }
    }

    /// `rsgi::__private`: helpers for generated code.
    pub(crate) fn private(&self) -> TokenStream {
        let root = &self.root;
        quote!(#root::__private)
    }

    /// The `App` trait.
    pub(crate) fn app(&self) -> TokenStream {
        let root = &self.root;
        quote!(#root::App)
    }

    /// The `Factory` trait.
    pub(crate) fn factory(&self) -> TokenStream {
        let root = &self.root;
        quote!(#root::factory::Factory)
    }

    /// `Request`.
    pub(crate) fn request(&self) -> TokenStream {
        let root = &self.root;
        quote!(#root::Request)
    }

    /// `Response`.
    pub(crate) fn response(&self) -> TokenStream {
        let root = &self.root;
        quote!(#root::Response)
    }

    /// `UrlMap`.
    pub(crate) fn urlmap(&self) -> TokenStream {
        let root = &self.root;
        quote!(#root::UrlMap)
    }

    /// `Stack` (two filters as one).
    pub(crate) fn stack(&self) -> TokenStream {
        let root = &self.root;
        quote!(#root::Stack)
    }

    /// The `routes` module (`Routes`, `Methods`, `Handler`, `Dispatch`).
    pub(crate) fn routes(&self) -> TokenStream {
        let root = &self.root;
        quote!(#root::routes)
    }

    /// `SelectError`.
    pub(crate) fn select_error(&self) -> TokenStream {
        let root = &self.root;
        quote!(#root::SelectError)
    }
}
