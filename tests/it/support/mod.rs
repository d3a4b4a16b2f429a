//! Helpers shared by every integration test: `common` runs the real binary, makes keys, specs,
//! trust files and example trees; `craft` builds hostile bundles from their parts and signs them
//! with a real test key.
#![allow(dead_code)]

pub mod common;
pub mod craft;
pub mod pytools;
pub mod softhsm;
