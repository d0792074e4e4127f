//! Procedural macros of rsgi. `deploy!` is not implemented yet (tracked by the `deploy!` issue).
