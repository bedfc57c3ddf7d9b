//! End-to-end tests of the firm workspace.
