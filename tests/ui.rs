//! Compile-time checks of `deploy!`: one file per mistake of SPEC §2.1's
//! table in `ui/fail/` (each with its reviewed `.stderr`), and hygiene in
//! `ui/pass/`. Bless with `TRYBUILD=overwrite cargo test --test ui`, then
//! review every changed `.stderr`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
