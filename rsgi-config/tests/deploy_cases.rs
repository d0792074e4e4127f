//! Replays every recorded PasteDeploy case (`tests/data/deploy_cases.json`,
//! recorded with the echo apps of `paste/cases/oracle_apps.py`) at the model
//! level: parse, resolve, then compute what the echo app would answer and
//! compare it with the recorded response. Cases PasteDeploy rejects must
//! fail to resolve with an error of the matching class.

use std::collections::BTreeMap;
use std::path::PathBuf;

use rsgi_config::uri::parse_load_uri;
use rsgi_config::{
    AppNode, Builtins, Classifier, Code, CompositeKind, FactoryRef, FilterNode, Leaf, Model, ObjectType, Options,
    Protocol, Resolved, Shape, ini,
};

/// Cases not replayed, each with the reason.
const SKIPPED: &[(&str, &str)] = &[
    ("D22", "rsgi drops `require` instead of checking Python distributions"),
    ("D68", "`relative_to` is a Python API argument; the rsgi loader resolves paths itself"),
];

/// Cases where rsgi deliberately answers differently (see DEVIATIONS in the
/// crate docs): they must fail with this code.
const DEVIATIONS: &[(&str, Code, &str)] = &[(
    "D84",
    Code::MultipleFactories,
    "two factory keys in one `[filter:]` are an error (PasteDeploy takes the first silently)",
)];

// ---------------------------------------------------------------------
// A tiny JSON reader (the crate has no dependencies, not even for tests).
// ---------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<Json>),
    Obj(BTreeMap<String, Json>),
}

impl Json {
    fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(m) => m.get(key),
            _ => None,
        }
    }

    fn str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }
}

struct Reader<'a> {
    s: &'a [u8],
    i: usize,
}

impl Reader<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Result<(), String> {
        self.ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected `{}` at byte {}", c as char, self.i))
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.ws();
        match self.s.get(self.i) {
            Some(b'{') => {
                self.i += 1;
                let mut m = BTreeMap::new();
                self.ws();
                if self.s.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(Json::Obj(m));
                }
                loop {
                    self.ws();
                    let k = self.string()?;
                    self.eat(b':')?;
                    let v = self.value()?;
                    m.insert(k, v);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Json::Obj(m));
                        }
                        _ => return Err(format!("bad object at byte {}", self.i)),
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut v = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(Json::Arr(v));
                }
                loop {
                    v.push(self.value()?);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Json::Arr(v));
                        }
                        _ => return Err(format!("bad array at byte {}", self.i)),
                    }
                }
            }
            Some(b'"') => Ok(Json::Str(self.string()?)),
            Some(b't') => self.word("true", Json::Bool(true)),
            Some(b'f') => self.word("false", Json::Bool(false)),
            Some(b'n') => self.word("null", Json::Null),
            Some(_) => {
                let start = self.i;
                while self.i < self.s.len() && b"+-0123456789.eE".contains(&self.s[self.i]) {
                    self.i += 1;
                }
                if start == self.i {
                    return Err(format!("unexpected byte at {start}"));
                }
                Ok(Json::Num(String::from_utf8_lossy(&self.s[start..self.i]).into_owned()))
            }
            None => Err("unexpected end".into()),
        }
    }

    fn word(&mut self, w: &str, v: Json) -> Result<Json, String> {
        if self.s[self.i..].starts_with(w.as_bytes()) {
            self.i += w.len();
            Ok(v)
        } else {
            Err(format!("bad literal at byte {}", self.i))
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let h = self.s.get(self.i..self.i + 4).ok_or("short \\u escape")?;
        self.i += 4;
        u32::from_str_radix(std::str::from_utf8(h).map_err(|e| e.to_string())?, 16).map_err(|e| e.to_string())
    }

    fn string(&mut self) -> Result<String, String> {
        self.eat(b'"')?;
        let mut out = Vec::new();
        loop {
            let c = *self.s.get(self.i).ok_or("unterminated string")?;
            self.i += 1;
            match c {
                b'"' => return String::from_utf8(out).map_err(|e| e.to_string()),
                b'\\' => {
                    let e = *self.s.get(self.i).ok_or("bad escape")?;
                    self.i += 1;
                    let ch = match e {
                        b'n' => '\n',
                        b't' => '\t',
                        b'r' => '\r',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'u' => {
                            let mut cp = self.hex4()?;
                            if (0xD800..0xDC00).contains(&cp) && self.s[self.i..].starts_with(b"\\u") {
                                self.i += 2;
                                let lo = self.hex4()?;
                                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                            }
                            char::from_u32(cp).unwrap_or('\u{fffd}')
                        }
                        other => other as char,
                    };
                    let mut buf = [0; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                _ => out.push(c),
            }
        }
    }
}

fn parse_json(text: &str) -> Json {
    let mut r = Reader { s: text.as_bytes(), i: 0 };
    r.value().unwrap_or_else(|e| panic!("deploy_cases.json: {e}"))
}

// ---------------------------------------------------------------------
// The oracle: what oracle_apps.py's factories are, and what they answer.
// ---------------------------------------------------------------------

/// Maps the oracle's factories: `egg:FakeOracle#…` entry points and
/// `pick_pipeline` (a keyed pipeline choice).
struct Oracle;

impl Classifier for Oracle {
    fn egg_protocol(&self, factory: &FactoryRef, object: ObjectType) -> Option<Protocol> {
        match oracle_function(factory).as_deref() {
            Some("make_app") => Some(Protocol::AppFactory),
            Some("make_filter") => Some(Protocol::FilterFactory),
            Some("make_filter_app") => Some(Protocol::FilterAppFactory),
            Some("run_server") => Some(Protocol::ServerRunner),
            _ => Builtins.egg_protocol(factory, object),
        }
    }

    fn composite_kind(&self, factory: &FactoryRef) -> CompositeKind {
        match oracle_function(factory).as_deref() {
            Some("pick_pipeline") => CompositeKind::KeyedPipelines { settings: vec![] },
            _ => Builtins.composite_kind(factory),
        }
    }
}

/// The oracle_apps function a factory reference names.
fn oracle_function(f: &FactoryRef) -> Option<String> {
    match f {
        FactoryRef::Entry { value } => value.strip_prefix("oracle_apps:").map(String::from),
        FactoryRef::Call { module, attr } if module == "oracle_apps" => Some(attr.clone()),
        FactoryRef::Egg { dist, entry } if dist == "FakeOracle" => Some(
            match entry.as_str() {
                "main" => "make_app",
                "trace" => "make_filter",
                "traceapp" => "make_filter_app",
                "runner" => "run_server",
                other => other,
            }
            .to_string(),
        ),
        _ => None,
    }
}

fn json_map(m: &BTreeMap<String, String>) -> Json {
    Json::Obj(m.iter().map(|(k, v)| (k.clone(), Json::Str(v.clone()))).collect())
}

/// The request as it travels through filters: trace and filter confs.
#[derive(Default)]
struct Seen {
    trace: Vec<Json>,
    confs: Vec<Json>,
}

/// A TraceFilter: appends its name (`name` setting, else the factory's
/// default) and its local conf.
fn apply_filter(f: &FilterNode<rsgi_config::Loc>, seen: &mut Seen) -> Result<(), String> {
    match f {
        FilterNode::Filter(leaf) => {
            let default = match oracle_function(&leaf.factory.reference).as_deref() {
                Some("make_filter") => "unnamed-filter",
                Some("make_filter_app") => "unnamed-filter-app",
                other => return Err(format!("not an oracle filter: {other:?}")),
            };
            let name = leaf.conf.local("name").unwrap_or(default).to_string();
            seen.trace.push(Json::Str(name.clone()));
            let mut conf = BTreeMap::new();
            conf.insert("name".to_string(), Json::Str(name));
            conf.insert("local_conf".to_string(), json_map(&leaf.conf.local_map()));
            seen.confs.push(Json::Obj(conf));
            Ok(())
        }
        FilterNode::FilterWith { inner, filter } => {
            apply_filter(filter, seen)?;
            apply_filter(inner, seen)
        }
    }
}

/// What the echo app answers to `GET /` through `node`.
fn serve(node: &AppNode<rsgi_config::Loc>, mut seen: Seen) -> Result<Json, String> {
    match node {
        AppNode::App(leaf) => {
            if oracle_function(&leaf.factory.reference).as_deref() != Some("make_app") {
                return Err(format!("not the echo app: {}", leaf.factory.reference));
            }
            let mut m = BTreeMap::new();
            m.insert("PATH_INFO".into(), Json::Str("/".into()));
            m.insert("SCRIPT_NAME".into(), Json::Str(String::new()));
            m.insert("app".into(), Json::Str(leaf.conf.local("name").unwrap_or("unnamed").into()));
            m.insert("filter_confs".into(), Json::Arr(seen.confs));
            m.insert("global_conf".into(), json_map(&leaf.conf.global));
            m.insert("local_conf".into(), json_map(&leaf.conf.local_map()));
            m.insert("status".into(), Json::Str("200 OK".into()));
            m.insert("trace".into(), Json::Arr(seen.trace));
            Ok(Json::Obj(m))
        }
        AppNode::Composite(c) => match &c.shape {
            Shape::Keyed(k) => {
                // pick_pipeline: global_conf.get('auth_strategy', 'keystone')
                let strategy = c.leaf.conf.global.get("auth_strategy").map_or("keystone", String::as_str);
                let choice = k.choices.iter().find(|ch| ch.key == strategy).ok_or(format!("KeyError: {strategy}"))?;
                for f in &choice.filters {
                    apply_filter(f, &mut seen)?;
                }
                serve(&choice.app, seen)
            }
            _ => Err("only keyed composites are replayed".into()),
        },
        AppNode::Pipeline(p) => {
            for f in &p.filters {
                apply_filter(f, &mut seen)?;
            }
            serve(&p.app, seen)
        }
        AppNode::FilterApp(fa) => {
            apply_filter(&fa.filter, &mut seen)?;
            serve(&fa.next, seen)
        }
        AppNode::FilterWith { inner, filter } => {
            apply_filter(filter, &mut seen)?;
            serve(inner, seen)
        }
        AppNode::Routes(_) => Err("PasteDeploy has no route tables".into()),
    }
}

/// The codes that count as PasteDeploy's exception `class` (with `message`).
fn acceptable(class: &str, message: &str) -> &'static [Code] {
    match class {
        "LookupError" if message.starts_with("No section") => &[Code::UnknownSection, Code::Pipeline],
        "LookupError" if message.starts_with("Ambiguous") => &[Code::AmbiguousSection],
        "LookupError" if message.starts_with("URI scheme not known") || message.starts_with("URI has no scheme") => {
            &[Code::UnknownScheme]
        }
        "LookupError" if message.starts_with("Multiple protocols") => &[Code::MultipleFactories],
        "LookupError" if message.starts_with("No loader given") => &[Code::NoFactory],
        "LookupError" => &[Code::Pipeline, Code::MissingNext],
        "RecursionError" => &[Code::Cycle],
        "AssertionError" => &[Code::CallNotAllowed],
        "KeyError" => &[Code::UndefinedGlobal],
        "IndexError" => &[Code::Pipeline],
        "TypeError" => &[Code::FilterWith],
        "DuplicateSectionError" => &[Code::DuplicateSection],
        "DuplicateOptionError" => &[Code::DuplicateKey],
        c if c.starts_with("Interpolation") => &[Code::Interpolation],
        _ => &[],
    }
}

/// The outcome of loading a case with rsgi.
enum Outcome {
    Loaded(Box<Resolved<rsgi_config::Loc>>),
    Failed(Vec<Code>, String),
}

fn load(case: &Json, dir: &std::path::Path) -> Outcome {
    let uri = case.get("uri").and_then(Json::str).unwrap_or_default();
    let name = case.get("kw").and_then(|k| k.get("name")).and_then(Json::str);
    let uri = match parse_load_uri(uri, name) {
        Ok(u) => u,
        Err(e) => return Outcome::Failed(vec![Code::UnknownScheme], e),
    };
    let path = dir.join(&uri.path);
    let doc = match ini::read_file(&path) {
        Ok(doc) => doc,
        Err(errs) => {
            return Outcome::Failed(errs.iter().map(|e| e.code).collect(), rsgi_config::render_all(&errs));
        }
    };
    let options =
        Options { here: Some("<DIR>".into()), file: Some(format!("<DIR>/{}", uri.path)), ..Options::default() };
    let model = Model::new(&doc, &options);
    let object = match case.get("op").and_then(Json::str) {
        Some("server") => ObjectType::Server,
        _ => ObjectType::App,
    };
    match model.resolve(object, &uri.name, &Oracle) {
        Ok(r) => Outcome::Loaded(Box::new(r)),
        Err(errs) => Outcome::Failed(errs.iter().map(|e| e.code).collect(), rsgi_config::render_all(&errs)),
    }
}

/// Compares a loaded result with the recorded one.
fn compare(case: &Json, loaded: &Resolved<rsgi_config::Loc>) -> Result<(), String> {
    let result = case.get("result").ok_or("no result")?;
    if let Some(want) = result.get("response") {
        let Resolved::App(app) = loaded else {
            return Err("not an app".into());
        };
        let got = serve(app, Seen::default())?;
        return if &got == want { Ok(()) } else { Err(format!("response differs:\n  got  {got:?}\n  want {want:?}")) };
    }
    if let Some(Json::Arr(want)) = result.get("server_result") {
        let Resolved::Server(leaf) = loaded else {
            return Err("not a server".into());
        };
        let kind = match leaf.factory.protocol {
            Some(Protocol::ServerFactory) => "served",
            Some(Protocol::ServerRunner) => "ran",
            other => return Err(format!("unexpected server protocol {other:?}")),
        };
        let got = vec![Json::Str(kind.into()), json_map(&leaf.conf.local_map()), Json::Str("APP".into())];
        return if &got == want { Ok(()) } else { Err(format!("server differs: {got:?} vs {want:?}")) };
    }
    if let Some(want) = result.get("appconfig") {
        let Resolved::App(AppNode::App(Leaf { conf, .. })) = loaded else {
            return Err("not an app".into());
        };
        let mut merged = conf.global.clone();
        merged.extend(conf.local_map());
        let got = json_map(&merged);
        let local = json_map(&conf.local_map());
        return if &got == want && Some(&local) == result.get("local_conf") {
            Ok(())
        } else {
            Err(format!("appconfig differs: {got:?} vs {want:?}"))
        };
    }
    Err(format!("unknown result shape: {result:?}"))
}

/// The expected error of a case, if PasteDeploy failed (at load or at the
/// first request).
fn expected_error(case: &Json) -> Option<(String, String)> {
    let result = case.get("result")?;
    let err = result.get("load").or_else(|| result.get("call"))?;
    Some((
        err.get("error").and_then(Json::str).unwrap_or_default().to_string(),
        err.get("message").and_then(Json::str).unwrap_or_default().to_string(),
    ))
}

fn scratch_dir(id: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rsgi-config-deploy-{}-{id}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

#[test]
fn replay_deploy_cases() {
    let text = include_str!("data/deploy_cases.json");
    let Json::Arr(cases) = parse_json(text) else { panic!("deploy_cases.json is not an array") };
    let (mut replayed, mut skipped, mut deviations) = (0, 0, 0);
    let mut failed: Vec<String> = Vec::new();
    for case in &cases {
        let id = case.get("id").and_then(Json::str).unwrap_or("?").to_string();
        if let Some((_, why)) = SKIPPED.iter().find(|(s, _)| *s == id) {
            println!("{id}: skipped: {why}");
            skipped += 1;
            continue;
        }
        let dir = scratch_dir(&id);
        if let Some(Json::Obj(files)) = case.get("files") {
            for (name, body) in files {
                std::fs::write(dir.join(name), body.str().unwrap_or_default()).expect("write case file");
            }
        }
        let outcome = load(case, &dir);
        let _ = std::fs::remove_dir_all(&dir);
        let verdict = if let Some((_, code, why)) = DEVIATIONS.iter().find(|(s, _, _)| *s == id) {
            deviations += 1;
            match &outcome {
                Outcome::Failed(codes, msg) if codes.contains(code) => {
                    println!("{id}: deviation ({why}):\n{msg}");
                    Ok(())
                }
                Outcome::Failed(codes, msg) => Err(format!("expected {code:?}, got {codes:?}:\n{msg}")),
                Outcome::Loaded(_) => Err(format!("expected {code:?}, but it loaded")),
            }
        } else {
            replayed += 1;
            match (expected_error(case), &outcome) {
                (Some((class, message)), Outcome::Failed(codes, msg)) => {
                    let ok = acceptable(&class, &message);
                    if codes.iter().any(|c| ok.contains(c)) {
                        println!("{id}: PasteDeploy {class}: {message}\n  rsgi:\n{msg}");
                        Ok(())
                    } else {
                        Err(format!("PasteDeploy {class} ({message}); rsgi failed with {codes:?}:\n{msg}"))
                    }
                }
                (Some((class, message)), Outcome::Loaded(_)) => {
                    Err(format!("PasteDeploy fails with {class} ({message}), rsgi loaded it"))
                }
                (None, Outcome::Failed(_, msg)) => Err(format!("PasteDeploy loads it, rsgi failed:\n{msg}")),
                (None, Outcome::Loaded(r)) => compare(case, r),
            }
        };
        if let Err(e) = verdict {
            println!("{id}: FAILED: {e}");
            failed.push(id);
        }
    }
    println!(
        "deploy cases: {} total, {replayed} replayed, {deviations} deliberate deviations, {skipped} skipped, {} failed {:?}",
        cases.len(),
        failed.len(),
        failed
    );
    assert_eq!(cases.len(), 55, "deploy_cases.json changed");
    assert!(failed.is_empty(), "failed cases: {failed:?}");
}

/// urlmap cases that rsgi deliberately rejects.
const URLMAP_DEVIATIONS: &[(&str, Code, &str)] =
    &[("U25", Code::DuplicateMount, "`/v2` and `/v2/` mount the same prefix (Paste keeps the later one silently)")];

/// Every echo app name reachable in a tree (for urlmap cases: the app a
/// request reaches must be one of them).
fn echo_names(node: &AppNode<rsgi_config::Loc>, out: &mut Vec<String>) {
    match node {
        AppNode::App(leaf) => out.push(leaf.conf.local("name").unwrap_or("unnamed").to_string()),
        AppNode::Composite(c) => match &c.shape {
            Shape::UrlMap(m) => {
                for mount in &m.mounts {
                    echo_names(&mount.app, out);
                }
                if let Some(nf) = &m.not_found {
                    echo_names(nf, out);
                }
            }
            Shape::Keyed(k) => k.choices.iter().for_each(|c| echo_names(&c.app, out)),
            Shape::Opaque => {}
        },
        AppNode::Pipeline(p) => echo_names(&p.app, out),
        AppNode::FilterApp(f) => echo_names(&f.next, out),
        AppNode::FilterWith { inner, .. } => echo_names(inner, out),
        AppNode::Routes(_) => {}
    }
}

/// The load step of every ini-mode case of `urlmap_cases.json` (dispatch
/// itself is the runtime's business): what Paste rejects at load, rsgi
/// rejects; what Paste loads, rsgi resolves, with the answering app among
/// the mounted ones.
#[test]
fn replay_urlmap_case_loading() {
    let Json::Arr(cases) = parse_json(include_str!("data/urlmap_cases.json")) else { panic!("not an array") };
    let (mut replayed, mut other_modes) = (0, 0);
    let mut failed: Vec<String> = Vec::new();
    for case in &cases {
        let id = case.get("id").and_then(Json::str).unwrap_or("?").to_string();
        if case.get("mode").and_then(Json::str) != Some("ini") {
            other_modes += 1;
            continue;
        }
        replayed += 1;
        let text = case.get("ini").and_then(Json::str).unwrap_or_default();
        let result = case.get("result");
        let loaded = ini::parse(text, &format!("{id}.ini"))
            .and_then(|doc| Model::new(&doc, &Options::default()).resolve_app("main", &Oracle));
        let load_error = result.and_then(|r| r.get("load"));
        let deviation = URLMAP_DEVIATIONS.iter().find(|(d, _, _)| *d == id);
        let verdict = match (&loaded, load_error, deviation) {
            (Err(errs), _, Some((_, code, why))) if errs.iter().any(|e| e.code == *code) => {
                println!("{id}: deviation ({why}):\n{}", rsgi_config::render_all(errs));
                Ok(())
            }
            (_, _, Some((_, code, _))) => Err(format!("expected {code:?}")),
            (Err(errs), Some(e), None) => {
                let ok = [Code::DuplicateKey, Code::UrlMapKey, Code::UnknownSection];
                if errs.iter().any(|d| ok.contains(&d.code)) {
                    println!("{id}: Paste {:?}\n  rsgi:\n{}", e.get("message"), rsgi_config::render_all(errs));
                    Ok(())
                } else {
                    Err(rsgi_config::render_all(errs))
                }
            }
            (Ok(_), Some(e), None) => Err(format!("Paste fails at load ({e:?}), rsgi loaded it")),
            (Err(errs), None, None) => Err(format!("Paste loads it, rsgi fails:\n{}", rsgi_config::render_all(errs))),
            (Ok(app), None, None) => {
                let mut names = Vec::new();
                echo_names(app, &mut names);
                let want = result.and_then(|r| r.get("app")).and_then(Json::str);
                match want {
                    Some(w) if !names.iter().any(|n| n == w) => Err(format!("app `{w}` is not mounted: {names:?}")),
                    _ => Ok(()),
                }
            }
        };
        if let Err(e) = verdict {
            println!("{id}: FAILED: {e}");
            failed.push(id);
        }
    }
    println!(
        "urlmap cases: {} total, {replayed} ini cases load-checked, {other_modes} other modes (runtime), {} failed {:?}",
        cases.len(),
        failed.len(),
        failed
    );
    assert!(failed.is_empty(), "failed cases: {failed:?}");
}
