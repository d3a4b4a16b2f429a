//! `report/`: what airlock tells people and scripts — the transfer officer's `inspect` sheet, the
//! `diff` of two bundles, the CycloneDX ML-BOM of a bundle (`bom`), and the renderings of every
//! command's result.
pub mod bom;
pub mod diff;
pub mod inspect;
pub mod render;
