//! `container/`: the three files a bundle travels as — a single-file bundle, a set of volumes, a
//! delta against an older bundle — read and written here and nowhere else (`docs/format.md`
//! sections 1 and 7). Opening any of them yields the same thing: the *unverified* signed manifest
//! it carries ([`SignedManifest`]) and, for the payload, a [`FrameSource`] whose every frame is
//! checked against that manifest before it is decoded. Nothing here knows about keys or policy.
pub mod bundle;
pub mod delta;
pub mod payload;
pub mod volume;
