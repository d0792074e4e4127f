//! An ini parser with CPython `configparser`'s rules, as PasteDeploy uses
//! it (`ConfigParser(strict=True)`, `optionxform = str`, default
//! delimiters and comment prefixes; `paste/SEMANTICS.md` §6).
//!
//! - `key = value` and `key: value`: the first `=` or `:` on the line wins,
//!   so `/v2: api` is key `/v2`, and `a:b = c` is key `a`, value `b = c`.
//! - Keys keep their case; sections are case-sensitive; `[DEFAULT]` is exact.
//! - Comments are whole lines starting with `#` or `;` (after indentation).
//!   There are no inline comments: `v = keep ; this` keeps `; this`.
//! - A line indented deeper than the line that started the current option
//!   continues its value; the pieces are joined with `\n`; blank lines inside
//!   a value are kept, trailing ones dropped.
//! - A line without a delimiter is an error; so is an option before any
//!   section. Duplicate sections and keys are errors ([`parse`]).
//!
//! The parser never panics and reports every syntax error of the file, each
//! with `file:line`.

use std::path::Path;
use std::sync::Arc;

use crate::diag::{Code, Diagnostic, Loc};
use crate::raw::{self, RawDocument, RawEntry, RawSection};

/// At most this many syntax errors are reported for one file; after that the
/// input is probably not an ini file at all.
const MAX_SYNTAX_ERRORS: usize = 50;

/// Parses `text` strictly: syntax errors and duplicate sections or keys
/// (CPython's `DuplicateSectionError`/`DuplicateOptionError`) all fail.
/// `file` names the file in locations.
///
/// # Examples
///
/// ```
/// let doc = rsgi_config::ini::parse("[composite:main]\nuse = egg:Paste#urlmap\n/v2: api\n", "api-paste.ini")?;
/// let entry = &doc.sections[0].entries[1];
/// assert_eq!((entry.key.as_str(), entry.value.as_str(), entry.key_loc.line), ("/v2", "api", 3));
///
/// let err = rsgi_config::ini::parse("[a]\nx = 1\nx = 2\n", "f.ini").unwrap_err();
/// assert_eq!(err[0].to_string(), "error: duplicate option `x` in section `a` (first defined at line 2)\n  --> f.ini:3\nnote: first defined here\n  --> f.ini:2");
/// # Ok::<(), Vec<rsgi_config::Diagnostic<rsgi_config::Loc>>>(())
/// ```
pub fn parse(text: &str, file: &str) -> Result<RawDocument<Loc>, Vec<Diagnostic<Loc>>> {
    let (doc, mut errors) = parse_lossy(text, file);
    errors.extend(duplicates_with_lines(&doc));
    if errors.is_empty() { Ok(doc) } else { Err(errors) }
}

/// Parses bytes; input that is not UTF-8 is a syntax error naming the line.
pub fn parse_bytes(bytes: &[u8], file: &str) -> Result<RawDocument<Loc>, Vec<Diagnostic<Loc>>> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse(text, file),
        Err(e) => {
            let valid = &bytes[..e.valid_up_to()];
            let line = 1 + valid.iter().filter(|b| **b == b'\n').count();
            Err(vec![Diagnostic::new(
                Code::Syntax,
                format!("file is not valid UTF-8 (byte offset {})", e.valid_up_to()),
                Some(Loc::new(file, u32::try_from(line).unwrap_or(u32::MAX))),
            )])
        }
    }
}

/// Reads and parses a file strictly; locations use `path` as written.
pub fn read_file(path: &Path) -> Result<RawDocument<Loc>, Vec<Diagnostic<Loc>>> {
    let name = path.display().to_string();
    match std::fs::read(path) {
        Ok(bytes) => parse_bytes(&bytes, &name),
        Err(e) => Err(vec![Diagnostic::new(Code::Io, format!("cannot read `{name}`: {e}"), None)]),
    }
}

/// Parses `text` keeping duplicates in the document (and not reporting
/// them), so that a caller can run every check in one pass; returns the
/// syntax errors next to the document built from the valid lines.
pub fn parse_lossy(text: &str, file: &str) -> (RawDocument<Loc>, Vec<Diagnostic<Loc>>) {
    let mut p = Parser::new(Arc::from(file));
    // A UTF-8 byte order mark is dropped (CPython would keep it and fail).
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (i, line) in split_lines(text).enumerate() {
        p.line(u32::try_from(i + 1).unwrap_or(u32::MAX), line);
    }
    p.finish()
}

/// [`raw::duplicates`], with the first definition's line in the message
/// (the ini front end knows lines; the model is generic over locations).
fn duplicates_with_lines(doc: &RawDocument<Loc>) -> Vec<Diagnostic<Loc>> {
    let mut out = raw::duplicates(doc);
    for d in &mut out {
        if let Some(first) = d.labels.first() {
            d.message = format!("{} (first defined at line {})", d.message, first.loc.line);
        }
    }
    out
}

/// Lines as Python's universal newlines split them: `\r\n`, `\r` or `\n`.
///
/// `"a\r\nb\rc\n"` gives `a`, `b`, `c`.
fn split_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        match rest.find(['\r', '\n']) {
            Some(i) => {
                let line = &rest[..i];
                let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = &rest[i + skip..];
                Some(line)
            }
            None => {
                let line = rest;
                rest = "";
                Some(line)
            }
        }
    })
}

/// Python's `str.isspace()`: Unicode whitespace plus the four information
/// separators `\x1c`..`\x1f`, which `str.strip()` also removes.
pub(crate) fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// Python's `str.strip()`.
pub(crate) fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

/// A section header is `[` + at least one char + `]`, greedy to the last
/// `]` of the (stripped) line; anything after it is ignored, as CPython's
/// `\[(?P<header>.+)\]` does. `[a]b]` is header `a]b`; `[]` is no header.
fn section_header(value: &str) -> Option<&str> {
    let inner = value.strip_prefix('[')?;
    let end = inner.rfind(']')?;
    (end > 0).then(|| &inner[..end])
}

/// Splits `key = value` at the first `=` or `:`: the key is right-stripped,
/// the value stripped. `a:b = c` is (`a`, `b = c`); `k =` is (`k`, ``).
fn split_option(value: &str) -> Option<(&str, &str)> {
    let at = value.find(['=', ':'])?;
    Some((value[..at].trim_end_matches(is_py_space), py_strip(&value[at + 1..])))
}

/// The value being collected: pieces of text with their lines.
struct Pending {
    pieces: Vec<(String, u32)>,
}

struct Parser {
    file: Arc<str>,
    doc: RawDocument<Loc>,
    errors: Vec<Diagnostic<Loc>>,
    /// Indentation (in chars) of the line that started the current option
    /// or section; a deeper line continues the current value.
    indent_level: usize,
    /// The option whose value continuation lines extend.
    pending: Option<Pending>,
    /// Whether an option before any section was already reported.
    reported_no_section: bool,
    syntax_errors: usize,
}

impl Parser {
    fn new(file: Arc<str>) -> Self {
        Parser {
            file,
            doc: RawDocument::new(),
            errors: Vec::new(),
            indent_level: 0,
            pending: None,
            reported_no_section: false,
            syntax_errors: 0,
        }
    }

    fn loc(&self, line: u32) -> Loc {
        Loc { file: self.file.clone(), line }
    }

    /// One physical line, following CPython's `RawConfigParser._read`.
    fn line(&mut self, lineno: u32, line: &str) {
        let stripped = py_strip(line);
        let is_comment = stripped.starts_with('#') || stripped.starts_with(';');
        if is_comment || stripped.is_empty() {
            // A blank line inside a value is kept (joined as an empty line);
            // a comment line is skipped without ending the value.
            if let (false, Some(p)) = (is_comment, &mut self.pending) {
                p.pieces.push((String::new(), lineno));
            }
            return;
        }
        let indent = line.chars().take_while(|c| is_py_space(*c)).count();
        if let (true, Some(p)) = (indent > self.indent_level, &mut self.pending) {
            p.pieces.push((stripped.to_string(), lineno));
            return;
        }
        self.indent_level = indent;
        if let Some(header) = section_header(stripped) {
            self.flush();
            self.doc.sections.push(RawSection {
                header: header.to_string(),
                header_loc: self.loc(lineno),
                entries: vec![],
            });
            return;
        }
        if self.doc.sections.is_empty() {
            self.flush();
            if !self.reported_no_section {
                self.reported_no_section = true;
                self.syntax(
                    lineno,
                    Diagnostic::new(
                        Code::Syntax,
                        "expected a section header such as `[app:main]`",
                        Some(self.loc(lineno)),
                    )
                    .with_note("every `key = value` line must follow a `[section]` header"),
                );
            }
            return;
        }
        match split_option(stripped) {
            Some((key, value)) if !key.is_empty() => {
                self.flush();
                self.pending = Some(Pending { pieces: vec![(value.to_string(), lineno)] });
                let loc = self.loc(lineno);
                if let Some(section) = self.doc.sections.last_mut() {
                    section.entries.push(RawEntry {
                        key: key.to_string(),
                        key_loc: loc.clone(),
                        value: String::new(),
                        value_loc: loc,
                        word_locs: Vec::new(),
                        key_word_locs: Vec::new(),
                    });
                }
            }
            Some(_) => {
                self.flush();
                self.syntax(
                    lineno,
                    Diagnostic::new(Code::Syntax, "missing key before `=`", Some(self.loc(lineno)))
                        .with_help("write `key = value`"),
                );
            }
            None => {
                self.flush();
                let shown: String = stripped.chars().take(40).collect();
                self.syntax(
                    lineno,
                    Diagnostic::new(
                        Code::Syntax,
                        format!("expected `key = value`, found `{shown}`"),
                        Some(self.loc(lineno)),
                    )
                    .with_help("a key needs a value after `=` or `:`; an empty value (`key =`) is allowed")
                    .with_note("to continue the previous value, indent this line"),
                );
            }
        }
    }

    fn syntax(&mut self, _line: u32, d: Diagnostic<Loc>) {
        self.syntax_errors += 1;
        if self.syntax_errors <= MAX_SYNTAX_ERRORS {
            self.errors.push(d);
        } else if self.syntax_errors == MAX_SYNTAX_ERRORS + 1 {
            self.errors.push(Diagnostic::new(
                Code::Syntax,
                format!("too many syntax errors; stopped reporting after {MAX_SYNTAX_ERRORS}"),
                d.loc,
            ));
        }
    }

    /// Joins the pending value into the last entry: pieces joined with
    /// `\n`, then right-stripped (so trailing blank lines go away); each
    /// word gets the line it is on.
    fn flush(&mut self) {
        let Some(p) = self.pending.take() else { return };
        let mut joined = String::new();
        let mut word_lines = Vec::new();
        for (i, (piece, line)) in p.pieces.iter().enumerate() {
            if i > 0 {
                joined.push('\n');
            }
            joined.push_str(piece);
            word_lines.extend(piece.split(is_py_space).filter(|w| !w.is_empty()).map(|_| *line));
        }
        let value = joined.trim_end_matches(is_py_space).to_string();
        let first_line = word_lines.first().copied();
        let file = self.file.clone();
        if let Some(entry) = self.doc.sections.last_mut().and_then(|s| s.entries.last_mut()) {
            if let Some(line) = first_line {
                entry.value_loc = Loc { file: file.clone(), line };
            }
            entry.word_locs = word_lines.into_iter().map(|line| Loc { file: file.clone(), line }).collect();
            entry.value = value;
        }
    }

    fn finish(mut self) -> (RawDocument<Loc>, Vec<Diagnostic<Loc>>) {
        self.flush();
        (self.doc, self.errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders a parsed document as `[header]@line` and `key=value@key_line`
    /// lines for compact expectations.
    fn show(text: &str) -> String {
        match parse(text, "t.ini") {
            Ok(doc) => {
                let mut out = Vec::new();
                for s in &doc.sections {
                    out.push(format!("[{}]@{}", s.header, s.header_loc.line));
                    for e in &s.entries {
                        out.push(format!("{}={:?}@{}", e.key, e.value, e.key_loc.line));
                    }
                }
                out.join(" ")
            }
            Err(errs) => errs
                .iter()
                .map(|e| format!("ERR@{}: {}", e.loc.as_ref().map_or(0, |l| l.line), e.message))
                .collect::<Vec<_>>()
                .join(" | "),
        }
    }

    macro_rules! case {
        ($name:ident: $text:expr => $want:expr) => {
            #[test]
            fn $name() {
                assert_eq!(show($text), $want);
            }
        };
    }

    case!(basic: "[app:main]\nuse = egg:X\n" => r#"[app:main]@1 use="egg:X"@2"#);
    case!(colon_first: "[c]\n/v2: api\n" => r#"[c]@1 /v2="api"@2"#);
    case!(first_delim_wins: "[c]\na:b = c\n" => r#"[c]@1 a="b = c"@2"#);
    case!(url_key_breaks: "[c]\nhttp://h/p = app\n" => r#"[c]@1 http="//h/p = app"@2"#);
    case!(no_inline_comment: "[a]\nv = keep ; this\np = a b # note\n" => r##"[a]@1 v="keep ; this"@2 p="a b # note"@3"##);
    case!(comments: "# c\n; c\n[a]\n  # indented comment\nx=1\n" => r#"[a]@3 x="1"@5"#);
    case!(continuation: "[p]\npipeline =\n    f1\n    f2 leaf\n" => r#"[p]@1 pipeline="\nf1\nf2 leaf"@2"#);
    case!(blank_in_value: "[p]\nk = a\n\n  b\n\n\n[q]\n" => r#"[p]@1 k="a\n\nb"@2 [q]@7"#);
    case!(comment_in_value: "[p]\nk = a\n# x\n  b\n" => r#"[p]@1 k="a\nb"@2"#);
    case!(value_stripped: "[a]\nk =   v  \n" => r#"[a]@1 k="v"@2"#);
    case!(empty_value: "[a]\nk =\n" => r#"[a]@1 k=""@2"#);
    case!(case_kept: "[A]\nUse = x\n" => r#"[A]@1 Use="x"@2"#);
    case!(header_greedy: "[a]b] trailing\n" => "[a]b]@1");
    case!(header_spaces: "[app:  main  ]\n" => "[app:  main  ]@1");
    case!(crlf: "[a]\r\nx = 1\r\ny = 2\r" => r#"[a]@1 x="1"@2 y="2"@3"#);
    case!(indented_key_same_level: "[a]\n  x = 1\n  y = 2\n" => r#"[a]@1 x="1"@2 y="2"@3"#);
    case!(indented_header_after_option: "[a]\nx = 1\n  [b]\n" => r#"[a]@1 x="1\n[b]"@2"#);
    case!(bom: "\u{feff}[a]\n" => "[a]@1");
    case!(no_delimiter: "[a]\nnovalue\n" => "ERR@2: expected `key = value`, found `novalue`");
    case!(empty_key: "[a]\n= v\n" => "ERR@2: missing key before `=`");
    case!(no_section: "x = 1\ny = 2\n[a]\n" => "ERR@1: expected a section header such as `[app:main]`");
    case!(empty_brackets: "[a]\n[]\n" => "ERR@2: expected `key = value`, found `[]`");
    case!(all_errors: "[a]\nb\nc\n" => "ERR@2: expected `key = value`, found `b` | ERR@3: expected `key = value`, found `c`");
    case!(dup_section: "[a]\n[a]\n" => "ERR@2: duplicate section `a` (first defined at line 1)");
    case!(dup_key: "[composite:main]\nuse = x\n/v2 = a\n/v2: b\n" =>
        "ERR@4: duplicate option `/v2` in section `composite:main` (first defined at line 3)");
    case!(default_exact: "[DEFAULT]\na=1\n[default]\na=2\n" => r#"[DEFAULT]@1 a="1"@2 [default]@3 a="2"@4"#);

    #[test]
    fn word_locations() {
        let doc = parse("[p]\npipeline = a\n  b c\n\n  d\n", "t.ini").unwrap();
        let e = &doc.sections[0].entries[0];
        let lines: Vec<u32> = e.word_locs.iter().map(|l| l.line).collect();
        assert_eq!(lines, [2, 3, 3, 5]);
        assert_eq!(e.word_loc(3).line, 5);
        let doc = parse("[p]\npipeline =\n  x\n", "t.ini").unwrap();
        assert_eq!(doc.sections[0].entries[0].value_loc.line, 3);
    }

    #[test]
    fn bytes_not_utf8() {
        let err = parse_bytes(b"[a]\nx = \xff\n", "b.ini").unwrap_err();
        assert_eq!(err[0].loc.as_ref().unwrap().line, 2);
        assert!(err[0].message.contains("not valid UTF-8"));
    }

    #[test]
    fn error_cap() {
        let text = format!("[a]\n{}", "bad\n".repeat(200));
        let (_, errs) = parse_lossy(&text, "t");
        assert_eq!(errs.len(), MAX_SYNTAX_ERRORS + 1);
    }

    const ALPHABET: &[&str] = &[
        "[",
        "]",
        "=",
        ":",
        "#",
        ";",
        " ",
        "\t",
        "\n",
        "\r",
        "\r\n",
        "%",
        "(",
        ")s",
        "app:",
        "a",
        "é",
        "\u{feff}",
        "\x1c",
        "\u{2028}",
        "\u{a0}",
        "[DEFAULT]",
        "pipeline",
        "use",
        "\0",
    ];

    #[test]
    fn never_panics_on_garbage() {
        // Seeded, so a failure replays.
        let mut rng = fastrand::Rng::with_seed(0x9E37_79B9_7F4A_7C15);
        for _ in 0..3000 {
            let len = rng.usize(..64);
            let mut bytes = Vec::new();
            for _ in 0..len {
                if rng.usize(..4) == 0 {
                    bytes.push(rng.u8(..));
                } else {
                    bytes.extend_from_slice(ALPHABET[rng.usize(..ALPHABET.len())].as_bytes());
                }
            }
            let _ = parse_bytes(&bytes, "fuzz.ini");
            let text = String::from_utf8_lossy(&bytes);
            let (doc, _) = parse_lossy(&text, "fuzz.ini");
            // Every word location count matches the value's words.
            for s in &doc.sections {
                for e in &s.entries {
                    assert_eq!(
                        e.word_locs.len(),
                        e.value.split(is_py_space).filter(|w| !w.is_empty()).count(),
                        "{e:?}"
                    );
                }
            }
        }
    }
}
