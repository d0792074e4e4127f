//! Syntax only: the `deploy!` input as written, every user token kept for
//! spans. No meaning here: names are resolved by `rsgi-config` (see
//! `model.rs`), and a syntax error stops parsing.
//!
//! ```text
//! deploy      := ("crate" "=" path ";")? (vis "mod" ident ";")? (inline | file)
//! inline      := section*
//! section     := "[" header "]" entry*
//! header      := "DEFAULT" | name ":" name | name
//! entry       := key "=" value
//! key         := name | "set" name | "get" name | string-literal | route
//! route       := ("*" | ident ("|" ident)*) string-literal      (in `[routes:…]`)
//! value       := literal | "-" literal | path | uri | name+
//! name        := ident (("-" | ".") ident)*
//! uri         := ("egg" | "call") ":" ident ((":" | "." | "#" | "-") ident)*
//! file        := "file" "=" string-literal ","? ("factories" "{" (string-literal "=" path),* "}")? ","?
//! ```

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::{Ident, LitStr, Token, Visibility, braced, bracketed};

/// Keywords of the DSL that are not Rust keywords.
mod kw {
    syn::custom_keyword!(file);
    syn::custom_keyword!(factories);
}

/// The whole macro input.
#[derive(Debug)]
pub(crate) struct RawDeploy {
    /// `crate = path;`: where `rsgi` is, for users who rename it.
    pub(crate) krate: Option<syn::Path>,
    /// `pub mod name;`: the module the items go in.
    pub(crate) module: Option<RawModule>,
    /// The sections, inline or from a file.
    pub(crate) body: RawBody,
}

/// `vis mod name;`
#[derive(Debug)]
pub(crate) struct RawModule {
    pub(crate) vis: Visibility,
    pub(crate) name: Ident,
}

/// Where the sections come from.
#[derive(Debug)]
pub(crate) enum RawBody {
    /// Written in the macro call.
    Inline(Vec<RawSection>),
    /// Read from an ini file at compile time.
    File(RawFile),
}

/// `file = "etc/api-paste.ini", factories { "egg:…" = path, … }`
#[derive(Debug)]
pub(crate) struct RawFile {
    pub(crate) path: LitStr,
    pub(crate) factories: Vec<RawFactory>,
}

/// `"egg:oslo.middleware#request_id" = rsgi::filters::RequestIdFilter`
#[derive(Debug)]
pub(crate) struct RawFactory {
    pub(crate) name: LitStr,
    pub(crate) path: syn::Path,
}

/// `[kind:name]` and its entries.
#[derive(Debug)]
pub(crate) struct RawSection {
    pub(crate) header: RawHeader,
    pub(crate) entries: Vec<RawEntry>,
}

/// What is between the brackets of a section header.
#[derive(Debug)]
pub(crate) enum RawHeader {
    /// `[kind:name]`
    Named { kind: RawName, name: RawName },
    /// `[name]`, including `[DEFAULT]`.
    Bare(RawName),
}

/// A name: `api_v21`, `filter-with`, `paste.app_factory`.
#[derive(Debug, Clone)]
pub(crate) struct RawName {
    /// The text, parts joined by their separators.
    pub(crate) text: String,
    /// The first token's span (what errors point at).
    pub(crate) span: Span,
}

/// `key = value`
#[derive(Debug)]
pub(crate) struct RawEntry {
    pub(crate) key: RawKey,
    pub(crate) value: RawValue,
}

/// The left of `=`.
#[derive(Debug)]
pub(crate) enum RawKey {
    /// `use`, `pipeline`, `max_request_body_size`, `filter-with`.
    Name(RawName),
    /// `set name` or `get name`: the keyword and the name.
    Global { kw: Ident, name: RawName },
    /// `"/v2.1"`: a urlmap key.
    Str(LitStr),
    /// `GET|HEAD "/servers/{id}"` or `* "/x"`: a route line's methods
    /// (`*` as the single name `*`) and pattern.
    Route { methods: Vec<RawName>, pattern: LitStr },
}

/// The right of `=`.
#[derive(Debug)]
pub(crate) enum RawValue {
    /// A literal (`114688`, `"x"`, `true`, `-1`), as tokens.
    Lit { text: String, tokens: TokenStream, span: Span },
    /// A Rust path with at least two segments (`rsgi::filters::SizeLimitFilter`).
    Path(syn::Path),
    /// `egg:Paste#urlmap`, `call:module:attr`.
    Uri { text: String, span: Span },
    /// One or more names: a section, a pipeline, or a single type (`Servers`).
    Names(Vec<RawName>),
}

impl Parse for RawDeploy {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut krate = None;
        if input.peek(Token![crate]) && input.peek2(Token![=]) {
            input.parse::<Token![crate]>()?;
            input.parse::<Token![=]>()?;
            krate = Some(input.call(syn::Path::parse_mod_style)?);
            input.parse::<Token![;]>()?;
        }
        let mut module = None;
        if input.peek(Token![mod]) || input.peek(Token![pub]) {
            let vis: Visibility = input.parse()?;
            input.parse::<Token![mod]>()?;
            let name: Ident = input.parse()?;
            input.parse::<Token![;]>()?;
            module = Some(RawModule { vis, name });
        }
        let body = if input.peek(kw::file) && input.peek2(Token![=]) {
            RawBody::File(input.parse()?)
        } else {
            let mut sections = Vec::new();
            while !input.is_empty() {
                sections.push(input.parse()?);
            }
            RawBody::Inline(sections)
        };
        Ok(RawDeploy { krate, module, body })
    }
}

impl Parse for RawFile {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        input.parse::<kw::file>()?;
        input.parse::<Token![=]>()?;
        let path: LitStr = input.parse()?;
        let mut factories = Vec::new();
        if input.peek(Token![,]) {
            input.parse::<Token![,]>()?;
        }
        if input.peek(kw::factories) {
            input.parse::<kw::factories>()?;
            let content;
            braced!(content in input);
            while !content.is_empty() {
                let name: LitStr = content.parse()?;
                content.parse::<Token![=]>()?;
                let path = content.call(syn::Path::parse_mod_style)?;
                factories.push(RawFactory { name, path });
                if content.is_empty() {
                    break;
                }
                content.parse::<Token![,]>()?;
            }
            if input.peek(Token![,]) {
                input.parse::<Token![,]>()?;
            }
        }
        if !input.is_empty() {
            return Err(input.error("expected `factories { \"egg:…\" = path, … }` or the end of the macro input"));
        }
        Ok(RawFile { path, factories })
    }
}

impl Parse for RawSection {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if !input.peek(syn::token::Bracket) {
            return Err(input.error("expected a section header such as `[app:name]`"));
        }
        let content;
        bracketed!(content in input);
        let first: RawName = content.parse()?;
        let header = if content.peek(Token![:]) {
            content.parse::<Token![:]>()?;
            if content.is_empty() {
                return Err(content.error(format!("expected a section name after `{}:`", first.text)));
            }
            let name: RawName = content.parse()?;
            RawHeader::Named { kind: first, name }
        } else {
            RawHeader::Bare(first)
        };
        if !content.is_empty() {
            return Err(content.error("expected `]`: a section header is `[kind:name]`"));
        }
        // Route keys (`GET "/x"`) only exist in `[routes:…]` sections;
        // elsewhere `urlmap "/v2.1" = api` is a value, then a urlmap key.
        let routes = matches!(&header, RawHeader::Named { kind, .. } if kind.text == "routes");
        let mut entries = Vec::new();
        while !input.is_empty() && !input.peek(syn::token::Bracket) {
            entries.push(RawEntry::parse_in(input, routes)?);
        }
        Ok(RawSection { header, entries })
    }
}

impl Parse for RawName {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let first = input.call(Ident::parse_any).map_err(|e| syn::Error::new(e.span(), "expected a name"))?;
        let mut text = first.unraw().to_string();
        loop {
            let sep = if input.peek(Token![-]) && input.peek2(Ident::peek_any) {
                input.parse::<Token![-]>()?;
                '-'
            } else if input.peek(Token![.]) && input.peek2(Ident::peek_any) {
                input.parse::<Token![.]>()?;
                '.'
            } else {
                break;
            };
            text.push(sep);
            text.push_str(&input.call(Ident::parse_any)?.unraw().to_string());
        }
        Ok(RawName { text, span: first.span() })
    }
}

impl RawEntry {
    /// An entry; `routes` in a `[routes:…]` section, where keys may be
    /// routes.
    fn parse_in(input: ParseStream<'_>, routes: bool) -> syn::Result<Self> {
        let key = RawKey::parse_in(input, routes)?;
        if !input.peek(Token![=]) {
            let msg = match key {
                RawKey::Name(_) if routes => {
                    "expected `=` after the key: a route is `METHOD \"/pattern\" = handler`, e.g. `GET \"/servers/{id}\" = servers::show`"
                }
                _ => "expected `=` after the key: entries are `key = value`",
            };
            return Err(input.error(msg));
        }
        input.parse::<Token![=]>()?;
        let value = RawValue::parse_in(input, routes)?;
        Ok(RawEntry { key, value })
    }
}

impl Parse for RawEntry {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        RawEntry::parse_in(input, false)
    }
}

impl RawKey {
    fn parse_in(input: ParseStream<'_>, routes: bool) -> syn::Result<Self> {
        if routes && input.peek(Token![*]) {
            let star = input.parse::<Token![*]>()?;
            let pattern = input.parse().map_err(|e| {
                syn::Error::new(e.span(), "expected a route pattern such as `\"/servers/{id}\"` after `*`")
            })?;
            return Ok(RawKey::Route { methods: vec![RawName { text: "*".to_owned(), span: star.span }], pattern });
        }
        if routes && is_route(input) {
            let mut methods = vec![RawName::from(input.call(Ident::parse_any)?)];
            while input.peek(Token![|]) {
                input.parse::<Token![|]>()?;
                methods.push(RawName::from(input.call(Ident::parse_any)?));
            }
            return Ok(RawKey::Route { methods, pattern: input.parse()? });
        }
        input.parse()
    }
}

impl Parse for RawKey {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.peek(LitStr) {
            return Ok(RawKey::Str(input.parse()?));
        }
        if !input.peek(Ident::peek_any) {
            return Err(input.error("expected a key (`use`, `pipeline`, a setting, or a urlmap prefix such as `\"/v2.1\"`) or a section header"));
        }
        let fork = input.fork();
        let kw = fork.call(Ident::parse_any)?;
        if (kw == "set" || kw == "get") && fork.peek(Ident::peek_any) {
            input.call(Ident::parse_any)?;
            let name = input.parse()?;
            return Ok(RawKey::Global { kw, name });
        }
        Ok(RawKey::Name(input.parse()?))
    }
}

/// Whether the next tokens are a route key: `GET "/x"`, `GET | HEAD "/x"`.
fn is_route(input: ParseStream<'_>) -> bool {
    let fork = input.fork();
    loop {
        if fork.call(Ident::parse_any).is_err() {
            return false;
        }
        if fork.peek(LitStr) {
            return true;
        }
        if fork.parse::<Token![|]>().is_err() {
            return false;
        }
    }
}

impl From<Ident> for RawName {
    fn from(ident: Ident) -> Self {
        RawName { text: ident.unraw().to_string(), span: ident.span() }
    }
}

/// Whether the next tokens start an entry (`key =`), which ends a value.
fn at_key(input: ParseStream<'_>, routes: bool) -> bool {
    let fork = input.fork();
    RawKey::parse_in(&fork, routes).is_ok() && fork.peek(Token![=]) && !fork.peek(Token![==])
}

impl Parse for RawValue {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        RawValue::parse_in(input, false)
    }
}

impl RawValue {
    fn parse_in(input: ParseStream<'_>, routes: bool) -> syn::Result<Self> {
        if input.is_empty() || input.peek(syn::token::Bracket) || at_key(input, routes) {
            return Err(input.error("expected a value after `=`"));
        }
        if input.peek(syn::Lit) || (input.peek(Token![-]) && input.peek2(syn::Lit)) {
            let span = input.span();
            let mut tokens = TokenStream::new();
            let mut text = String::new();
            if input.peek(Token![-]) {
                input.parse::<Token![-]>()?.to_tokens(&mut tokens);
                text.push('-');
            }
            let lit: syn::Lit = input.parse()?;
            text.push_str(&lit_text(&lit));
            lit.to_tokens(&mut tokens);
            return Ok(RawValue::Lit { text, tokens, span });
        }
        if input.peek(Token![::]) || (input.peek(Ident::peek_any) && input.peek2(Token![::])) {
            return Ok(RawValue::Path(input.call(syn::Path::parse_mod_style)?));
        }
        if input.peek(Ident::peek_any) && input.peek2(Token![:]) && !input.peek2(Token![::]) {
            let span = input.span();
            let mut text = input.call(Ident::parse_any)?.to_string();
            while (input.peek(Token![:]) && !input.peek(Token![::]))
                || input.peek(Token![.])
                || input.peek(Token![#])
                || input.peek(Token![-])
            {
                let punct: proc_macro2::Punct = input.parse()?;
                text.push(punct.as_char());
                text.push_str(&input.call(Ident::parse_any)?.to_string());
            }
            return Ok(RawValue::Uri { text, span });
        }
        let mut names = Vec::new();
        while !input.is_empty() && !input.peek(syn::token::Bracket) && !at_key(input, routes) {
            if !input.peek(Ident::peek_any) {
                return Err(input.error("expected a section name, or the next `key = value`"));
            }
            names.push(input.parse()?);
        }
        Ok(RawValue::Names(names))
    }
}

/// The text of a literal as an ini file would hold it: a string's
/// contents, a number's digits, `true`/`false`.
fn lit_text(lit: &syn::Lit) -> String {
    match lit {
        syn::Lit::Str(s) => s.value(),
        syn::Lit::Int(i) => i.base10_digits().to_owned(),
        syn::Lit::Float(f) => f.base10_digits().to_owned(),
        syn::Lit::Bool(b) => b.value.to_string(),
        syn::Lit::Char(c) => c.value().to_string(),
        other => other.to_token_stream().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn names(v: &RawValue) -> Vec<String> {
        match v {
            RawValue::Names(n) => n.iter().map(|n| n.text.clone()).collect(),
            other => panic!("not names: {other:?}"),
        }
    }

    #[test]
    fn parses_sections_and_entries() {
        let raw: RawDeploy = syn::parse2(quote! {
            [composite:main]
            use = call:nova.api.openstack.urlmap:urlmap_factory
            "/v2.1" = api_v21
            [pipeline:api_v21]
            pipeline = request_id faultwrap servers
            [filter:sizelimit]
            use = rsgi::filters::SizeLimitFilter
            max_request_body_size = 114688
            set x = -1
            get y = x
            filter-with = auth
        })
        .unwrap();
        let RawBody::Inline(sections) = raw.body else { panic!() };
        assert_eq!(sections.len(), 3);
        let e = &sections[0].entries;
        assert!(
            matches!(&e[0].value, RawValue::Uri { text, .. } if text == "call:nova.api.openstack.urlmap:urlmap_factory")
        );
        assert!(matches!(&e[1].key, RawKey::Str(s) if s.value() == "/v2.1"));
        assert_eq!(names(&sections[1].entries[0].value), ["request_id", "faultwrap", "servers"]);
        let e = &sections[2].entries;
        assert!(matches!(&e[0].value, RawValue::Path(p) if p.segments.len() == 3));
        assert!(matches!(&e[1].value, RawValue::Lit { text, .. } if text == "114688"));
        assert!(matches!(&e[2].key, RawKey::Global { kw, name } if kw == "set" && name.text == "x"));
        assert!(matches!(&e[2].value, RawValue::Lit { text, .. } if text == "-1"));
        assert!(matches!(&e[4].key, RawKey::Name(n) if n.text == "filter-with"));
    }

    #[test]
    fn parses_routes() {
        let raw: RawDeploy = syn::parse2(quote! {
            [routes:api]
            GET "/servers" = servers::index
            GET | HEAD "/servers/{id}" = show
            * "/images/{*path}" = images::proxy
            filter-with = auth
        })
        .unwrap();
        let RawBody::Inline(sections) = raw.body else { panic!() };
        let e = &sections[0].entries;
        assert_eq!(e.len(), 4);
        let RawKey::Route { methods, pattern } = &e[1].key else { panic!("{:?}", e[1].key) };
        assert_eq!((methods.len(), methods[1].text.as_str(), pattern.value().as_str()), (2, "HEAD", "/servers/{id}"));
        assert_eq!(names(&e[1].value), ["show"]);
        assert!(matches!(&e[2].key, RawKey::Route { methods, .. } if methods[0].text == "*"));
        assert!(matches!(&e[3].key, RawKey::Name(n) if n.text == "filter-with"));
    }

    #[test]
    fn parses_header_options() {
        let raw: RawDeploy = syn::parse2(quote! { crate = ::my_rsgi; pub mod api; [app:x] use = X }).unwrap();
        assert!(raw.krate.is_some());
        assert_eq!(raw.module.unwrap().name, "api");
    }

    #[test]
    fn parses_file_form() {
        let raw: RawDeploy =
            syn::parse2(quote! { file = "etc/a.ini", factories { "egg:Paste#urlmap" = a::B, "x:y" = c::D } }).unwrap();
        let RawBody::File(f) = raw.body else { panic!() };
        assert_eq!((f.path.value().as_str(), f.factories.len()), ("etc/a.ini", 2));
    }

    macro_rules! error_case {
        ($name:ident: { $($t:tt)* } => $msg:expr) => {
            #[test]
            fn $name() {
                let err = syn::parse2::<RawDeploy>(quote! { $($t)* }).unwrap_err();
                assert_eq!(err.to_string(), $msg);
            }
        };
    }

    error_case!(no_header: { use = x } => "expected a section header such as `[app:name]`");
    error_case!(no_value: { [app:x] use = } => "unexpected end of input, expected a value after `=`");
    error_case!(no_eq: { [app:x] use x } => "expected `=` after the key: entries are `key = value`");
    error_case!(empty_name: { [app:] } => "unexpected end of input, expected a section name after `app:`");
}
