//! `report/`: what airlock tells people and scripts — the transfer officer's `inspect` sheet, the
//! `diff` of two bundles, and the renderings of every command's result.
pub mod diff;
pub mod inspect;
pub mod render;
