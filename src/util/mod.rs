//! `util/`: machinery every layer shares — the ordered parallel pipeline, atomic output files,
//! the progress line, file-system helpers.
pub(crate) mod fs;
pub(crate) mod output;
pub mod pipeline;
pub mod progress;
pub mod size;
