//! End-to-end tests of this area.
