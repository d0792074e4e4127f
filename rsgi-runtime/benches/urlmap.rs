//! urlmap lookup cost against the number of mounts (SPEC §7: 10,000 mounts
//! must cost at most 1.5× of 10). Regression use only: run with
//! `cargo bench -p rsgi-runtime --bench urlmap`.

// criterion_group! generates an undocumented pub fn.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use rsgi_runtime::{Scheme, UrlMap};

/// A map of `n` mounts shaped like a large deployment: a catch-all, the
/// API versions, and `n - 3` service prefixes one or two segments deep.
fn map(n: usize) -> UrlMap<usize> {
    let mut map = UrlMap::new().mount("/", 0).mount("/v2", 1).mount("/v2.1", 2);
    for i in 3..n {
        let key = if i % 2 == 0 { format!("/svc{i}") } else { format!("/svc{}/admin{i}", i - 1) };
        map = map.mount(&key, i);
    }
    map
}

fn lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("urlmap_lookup");
    for n in [10usize, 100, 1_000, 10_000] {
        let m = map(n);
        let deep = format!("/svc{}/admin{}/things/1", (n / 2) & !1, ((n / 2) & !1) + 1);
        for (label, path) in [("api", "/v2.1/servers/detail"), ("deep", deep.as_str()), ("miss", "/nothing/here")] {
            group.bench_with_input(BenchmarkId::new(label, n), &path, |b, path| {
                b.iter(|| {
                    black_box(m.lookup(black_box(Some("example.com")), Scheme::Http, black_box(path)))
                        .map(|(i, len)| (*i, len))
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, lookup);
criterion_main!(benches);
