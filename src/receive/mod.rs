//! `receive/`: the high side — `verify` (everything decided from the signed manifest, then every
//! frame), `unpack` (the same, then an atomic install), and the hash-chained audit log of every
//! decision.
pub mod audit;
pub mod unpack;
pub mod verify;
