//! Property test: parsing and checking never panic, whatever the input.
//!
//! Feeds mutated deployment files (built-in samples, plus every corpus file
//! when `RSGI_PASTE_CORPUS` is set) through the parser and the whole
//! checker, with classifiers that make every composite a urlmap or a keyed
//! pipeline so that all shapes are exercised. No external crates: a tiny
//! seeded RNG drives the mutations, deterministically.

use rsgi_config::{Builtins, Classifier, CompositeKind, FactoryRef, Model, Options, ini};

const SAMPLES: &[&str] = &[
    "[composite:main]\nuse = egg:Paste#urlmap\n/: versions\n/v2.1: api\n/v2.1/+: api\nnot_found_app = versions\n\n\
     [pipeline:api]\npipeline = cors faultwrap\n    authtoken servers\n[filter:cors]\npaste.filter_factory = a:b\n\
     [filter:faultwrap]\nuse = call:x:y\nfilter-with = cors\n[filter:authtoken]\nuse = egg:ks#auth\n\
     [app:servers]\npaste.app_factory = m:f\nset g = %(here)s/x\nget l = g\n[app:versions]\nuse = servers\n",
    "[DEFAULT]\na = 1\nb = %(a)s-2\n[composite:sel]\nuse = select\nby = auth\ndefault = k\nk = f app\nn = app\n\
     [filter:f]\nuse = egg:rsgi#echo\n[filter-app:fa]\nuse = f\nnext = sel\nfilter-with = f\n[app:app]\nuse = egg:rsgi#echo\n\
     pct = 100%%\n[server:main]\nuse = egg:waitress#main\nport = 80\n",
];

const TOKENS: &[&str] = &[
    "[",
    "]",
    "=",
    ":",
    "#",
    ";",
    " ",
    "\n",
    "  ",
    "%",
    "%(",
    ")s",
    "use",
    "pipeline",
    "main",
    "next",
    "filter-with",
    "set ",
    "get ",
    "egg:",
    "call:",
    "config:",
    "/",
    "//",
    "/+",
    "domain",
    "port",
    "[DEFAULT]",
    "[app:",
    "[filter:",
    "[pipeline:",
    "[composite:",
    "not_found_app",
    "é",
    "\u{feff}",
    "\r",
];

/// One random edit of `text`.
fn mutate(text: &str, rng: &mut fastrand::Rng) -> String {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    if lines.is_empty() {
        lines.push(String::new());
    }
    match rng.usize(..6) {
        0 => {
            let i = rng.usize(..lines.len().max(1));
            lines.remove(i);
        }
        1 => {
            let i = rng.usize(..lines.len().max(1));
            let l = lines[i].clone();
            lines.insert(rng.usize(..=lines.len()), l);
        }
        2 => {
            let (i, j) = (rng.usize(..lines.len().max(1)), rng.usize(..lines.len().max(1)));
            lines.swap(i, j);
        }
        3 => {
            // Replace a word with another word of the text (references!).
            let words: Vec<String> = text.split_whitespace().map(String::from).collect();
            let i = rng.usize(..lines.len().max(1));
            if let (Some(w), false) = (words.get(rng.usize(..words.len().max(1))), lines[i].is_empty()) {
                let parts: Vec<&str> = lines[i].split(' ').collect();
                let k = rng.usize(..parts.len().max(1));
                let mut parts: Vec<String> = parts.iter().map(|s| s.to_string()).collect();
                parts[k] = w.clone();
                lines[i] = parts.join(" ");
            }
        }
        _ => {
            let i = rng.usize(..lines.len().max(1));
            let line = &lines[i];
            let cut: Vec<usize> = line.char_indices().map(|(i, _)| i).chain([line.len()]).collect();
            let at = cut[rng.usize(..cut.len().max(1))];
            let tok = TOKENS[rng.usize(..TOKENS.len().max(1))];
            lines[i] = format!("{}{tok}{}", &line[..at], &line[at..]);
        }
    }
    lines.join("\n")
}

/// Makes every factory a composite of one shape.
struct Everything(CompositeKind);

impl Classifier for Everything {
    fn composite_kind(&self, _factory: &FactoryRef) -> CompositeKind {
        self.0.clone()
    }
}

fn check_everything(text: &str) {
    let (doc, _) = ini::parse_lossy(text, "fuzz.ini");
    let _ = ini::parse(text, "fuzz.ini");
    let model = Model::new(&doc, &Options::for_file("/f/fuzz.ini"));
    let _ = model.check_all(&Builtins);
    let _ = model.check_all(&Everything(CompositeKind::UrlMap));
    let _ = model.check_all(&Everything(CompositeKind::KeyedPipelines { settings: vec!["by".into()] }));
    let _ = model.check_all(&Everything(CompositeKind::Select));
    for name in ["main", "api", "egg:Paste#urlmap", "call:a:b", "x:y"] {
        let _ = model.resolve_app(name, &Builtins);
        let _ = model.resolve_filter(name, &Builtins);
        let _ = model.resolve_server(name, &Builtins);
    }
}

#[test]
fn mutated_files_never_panic() {
    let mut inputs: Vec<String> = SAMPLES.iter().map(|s| s.to_string()).collect();
    if let Some(dir) = std::env::var_os("RSGI_PASTE_CORPUS") {
        let mut paths: Vec<_> =
            std::fs::read_dir(dir).expect("corpus dir").filter_map(Result::ok).map(|e| e.path()).collect();
        paths.sort();
        inputs.extend(paths.iter().filter_map(|p| std::fs::read_to_string(p).ok()));
    } else {
        println!("corpus mutation NOT RUN: RSGI_PASTE_CORPUS unset (built-in samples only)");
    }
    let mut rng = fastrand::Rng::with_seed(0xD1B5_4A32_D192_ED03);
    let mut runs = 0;
    for input in &inputs {
        check_everything(input);
        for _ in 0..150 {
            let mut text = input.clone();
            for _ in 0..1 + rng.usize(..4) {
                text = mutate(&text, &mut rng);
            }
            check_everything(&text);
            runs += 1;
        }
    }
    println!("never_panics: {runs} mutated inputs checked");
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = fastrand::Rng::with_seed(0x2545_F491_4F6C_DD1D);
    for _ in 0..2000 {
        let len = rng.usize(..200);
        let bytes: Vec<u8> = (0..len)
            .flat_map(|_| {
                if rng.usize(..3) == 0 {
                    vec![rng.u8(..)]
                } else {
                    TOKENS[rng.usize(..TOKENS.len().max(1))].as_bytes().to_vec()
                }
            })
            .collect();
        let _ = ini::parse_bytes(&bytes, "fuzz.ini");
        check_everything(&String::from_utf8_lossy(&bytes));
    }
}
