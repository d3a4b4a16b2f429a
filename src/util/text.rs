//! Words for counts in human output: `1 file`, `2 files`. One helper, so no message anywhere
//! says "1 frames".

/// `1 file`, `2 files`: `n` and the noun, plural unless `n` is 1 (nouns that add `s`).
pub fn count(n: impl TryInto<u64>, noun: &str) -> String {
    match n.try_into().ok() {
        Some(1) => format!("1 {noun}"),
        Some(n) => format!("{n} {noun}s"),
        // Counts are lengths and sizes; none exceeds u64.
        None => format!("many {noun}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn one_is_singular_everything_else_plural() {
        assert_eq!(count(1usize, "frame"), "1 frame");
        assert_eq!(count(0u64, "file"), "0 files");
        assert_eq!(count(3u32, "volume"), "3 volumes");
    }
}
