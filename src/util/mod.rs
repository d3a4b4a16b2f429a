//! `util/`: machinery every layer shares — the ordered parallel pipeline, atomic output files,
//! the progress line, file-system helpers, counted nouns.
pub mod fs;
pub mod output;
pub mod pipeline;
pub mod progress;
pub mod size;
pub mod text;
pub mod writer;
