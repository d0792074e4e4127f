//! From syntax to `rsgi-config`'s raw document, the one model the macro and
//! the run-time loader share: the inline tokens (or the ini file) become a
//! `RawDocument<Tok>`, where every location is a [`Tok`]: the user's span
//! plus an index into [`Source::payloads`], which keeps what the model does
//! not (the path tokens of a factory, the literal tokens of a value, the
//! `file:line` of an ini token).

use std::path::PathBuf;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use rsgi_config::{Loc, RawDocument, RawEntry, RawSection};

use crate::parse::{RawBody, RawDeploy, RawFile, RawHeader, RawKey, RawValue};

/// A location in the user's input.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tok {
    /// What errors point at.
    pub(crate) span: Span,
    /// The index of its [`Payload`].
    pub(crate) id: usize,
}

impl PartialEq for Tok {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for Tok {}

/// What a token carries besides its span.
#[derive(Debug, Clone)]
pub(crate) enum Payload {
    /// Nothing more than the text the model has.
    Plain,
    /// A factory: the path as written (`rsgi::filters::SizeLimitFilter`).
    Path(syn::Path),
    /// A literal value, as tokens (`114688`, `"x"`, `-1`).
    Lit(TokenStream),
    /// A token of an ini file.
    Ini(Loc),
}

/// The deployment as the model sees it, with everything the expansion
/// needs to go back to the user's tokens.
#[derive(Debug)]
pub(crate) struct Source {
    pub(crate) doc: RawDocument<Tok>,
    pub(crate) payloads: Vec<Payload>,
    /// For the file form: the file literal, its absolute path, and the
    /// factory table.
    pub(crate) file: Option<FileSource>,
}

/// A `deploy!(file = …)` input.
#[derive(Debug)]
pub(crate) struct FileSource {
    pub(crate) lit: syn::LitStr,
    pub(crate) abs: PathBuf,
    pub(crate) factories: Vec<(String, syn::Path)>,
}

impl Source {
    fn tok(&mut self, span: Span, payload: Payload) -> Tok {
        self.payloads.push(payload);
        Tok { span, id: self.payloads.len() - 1 }
    }

    /// The payload of a token.
    pub(crate) fn payload(&self, tok: Tok) -> &Payload {
        &self.payloads[tok.id]
    }

    /// The `file:line` of a token of the file form.
    pub(crate) fn loc(&self, tok: Tok) -> Option<&Loc> {
        match self.payload(tok) {
            Payload::Ini(loc) => Some(loc),
            _ => None,
        }
    }
}

/// Builds the raw document of an inline block.
pub(crate) fn inline(raw: &RawDeploy) -> Source {
    let mut src = Source { doc: RawDocument::new(), payloads: Vec::new(), file: None };
    let RawBody::Inline(sections) = &raw.body else { unreachable!("inline() is called on inline input") };
    for section in sections {
        let (header, header_span) = match &section.header {
            RawHeader::Bare(name) => (name.text.clone(), name.span),
            RawHeader::Named { kind, name } => {
                // A typo'd kind is reported on the kind, anything else on the name.
                let known = rsgi_config::SectionKind::from_prefix(&kind.text).is_some();
                (format!("{}:{}", kind.text, name.text), if known { name.span } else { kind.span })
            }
        };
        let header_loc = src.tok(header_span, Payload::Plain);
        let mut entries = Vec::new();
        for entry in &section.entries {
            let (key, key_span) = match &entry.key {
                RawKey::Name(n) => (n.text.clone(), n.span),
                RawKey::Global { kw, name } => (format!("{kw} {}", name.text), name.span),
                RawKey::Str(s) => (s.value(), s.span()),
                RawKey::Route { methods, pattern } => {
                    let methods: Vec<&str> = methods.iter().map(|m| m.text.as_str()).collect();
                    (format!("{} \"{}\"", methods.join("|"), pattern.value()), pattern.span())
                }
            };
            let key_loc = src.tok(key_span, Payload::Plain);
            // A route's methods, then its pattern, each at its own token.
            let key_word_locs = match &entry.key {
                RawKey::Route { methods, pattern } => {
                    let mut locs: Vec<Tok> = methods.iter().map(|m| src.tok(m.span, Payload::Plain)).collect();
                    locs.push(src.tok(pattern.span(), Payload::Plain));
                    locs
                }
                _ => Vec::new(),
            };
            // A factory, or a route's handler: a single name is a Rust path.
            let is_route = matches!(entry.key, RawKey::Route { .. });
            let factory_key = key == "use" || key.starts_with("paste.") || is_route;
            let (value, value_loc, word_locs) = match &entry.value {
                RawValue::Lit { text, tokens, span } => {
                    (text.clone(), src.tok(*span, Payload::Lit(tokens.clone())), Vec::new())
                }
                RawValue::Path(p) => (path_text(p), src.tok(first_span(p), Payload::Path(p.clone())), Vec::new()),
                RawValue::Uri { text, span } => (text.clone(), src.tok(*span, Payload::Plain), Vec::new()),
                // `use = Servers`: a single CamelCase name is a Rust type
                // (section names are snake_case); the model knows Rust
                // factories by their `::`, so it reads `self::Servers`.
                RawValue::Names(names)
                    if factory_key && names.len() == 1 && is_type_name(&names[0].text) && !is_route =>
                {
                    let ident = syn::Ident::new(&names[0].text, names[0].span);
                    let path = syn::Path::from(ident);
                    (format!("self::{}", names[0].text), src.tok(names[0].span, Payload::Path(path)), Vec::new())
                }
                // A route's handler: `show` is a path of one segment.
                RawValue::Names(names) if is_route && names.len() == 1 => {
                    let n = &names[0];
                    let path = syn::parse_str::<syn::Path>(&n.text).map(|p| respan_path(p, n.span));
                    let payload = path.map_or(Payload::Plain, Payload::Path);
                    (n.text.clone(), src.tok(n.span, payload), Vec::new())
                }
                RawValue::Names(names) => {
                    let text = names.iter().map(|n| n.text.as_str()).collect::<Vec<_>>().join(" ");
                    let first = names.first().map_or(key_span, |n| n.span);
                    let value_loc = src.tok(first, Payload::Plain);
                    let words = names
                        .iter()
                        .map(|n| match syn::parse_str::<syn::Path>(&n.text) {
                            Ok(p) if factory_key => src.tok(n.span, Payload::Path(respan_path(p, n.span))),
                            _ => src.tok(n.span, Payload::Plain),
                        })
                        .collect();
                    (text, value_loc, words)
                }
            };
            entries.push(RawEntry { key, key_loc, value, value_loc, word_locs, key_word_locs });
        }
        src.doc.sections.push(RawSection { header, header_loc, entries });
    }
    src
}

/// Reads and parses the ini file of the file form; every location is the
/// file literal's span, with the `file:line` as payload.
pub(crate) fn file(raw: &RawFile) -> Result<Source, Vec<syn::Error>> {
    let rel = raw.path.value();
    let root = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from).unwrap_or_default();
    let abs = root.join(&rel);
    let span = raw.path.span();
    let bytes = std::fs::read(&abs).map_err(|e| {
        vec![syn::Error::new(
            span,
            format!("cannot read `{rel}` (relative to the crate root, `CARGO_MANIFEST_DIR`): {}", io_reason(&e)),
        )]
    })?;
    let doc = rsgi_config::ini::parse_bytes(&bytes, &rel).map_err(|diags| {
        diags.into_iter().map(|d| crate::check::file_error(span, d.map_loc(Some))).collect::<Vec<_>>()
    })?;
    let mut src = Source {
        doc: RawDocument::new(),
        payloads: Vec::new(),
        file: Some(FileSource {
            lit: raw.path.clone(),
            abs,
            factories: raw.factories.iter().map(|f| (f.name.value(), f.path.clone())).collect(),
        }),
    };
    for section in doc.sections {
        let header_loc = src.tok(span, Payload::Ini(section.header_loc));
        let entries = section
            .entries
            .into_iter()
            .map(|e| RawEntry {
                key_loc: src.tok(span, Payload::Ini(e.key_loc)),
                value_loc: src.tok(span, Payload::Ini(e.value_loc)),
                word_locs: e.word_locs.into_iter().map(|l| src.tok(span, Payload::Ini(l))).collect(),
                key_word_locs: e.key_word_locs.into_iter().map(|l| src.tok(span, Payload::Ini(l))).collect(),
                key: e.key,
                value: e.value,
            })
            .collect();
        src.doc.sections.push(RawSection { header: section.header, header_loc, entries });
    }
    Ok(src)
}

/// `rsgi::filters::SizeLimitFilter`, without spaces.
fn path_text(p: &syn::Path) -> String {
    p.to_token_stream().to_string().replace(' ', "")
}

fn first_span(p: &syn::Path) -> Span {
    p.leading_colon
        .map(|c| c.spans[0])
        .or_else(|| p.segments.first().map(|s| s.ident.span()))
        .unwrap_or_else(Span::call_site)
}

fn respan_path(mut p: syn::Path, span: Span) -> syn::Path {
    for seg in &mut p.segments {
        seg.ident.set_span(span);
    }
    p
}

/// `Servers`, `SizeLimitFilter`: an identifier starting with an upper-case
/// letter (Rust's type names); section names are snake_case.
pub(crate) fn is_type_name(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_uppercase()) && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// An I/O error without its OS-specific code, so messages are the same on
/// every machine.
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => e.to_string(),
    }
}
