//! The end-to-end tests live in `e2e/` (one test binary, `cargo test -p portico-tests`) and the
//! browser journeys in `browser/`; this library target is empty.
