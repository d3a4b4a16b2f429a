//! Sizes as people write them (`4GiB`, `700MB`, `4.7GB`): parsing for `--max-volume-size` and
//! exact formatting for messages (`docs/format.md` section 7.2).

/// Parses a size: plain bytes (`123456`), or a number (decimals allowed) with a suffix:
/// `K`/`KiB`, `M`/`MiB`, `G`/`GiB`, `T`/`TiB` are powers of 1024 (as in GNU `split -b`);
/// `KB`, `MB`, `GB`, `TB` are powers of 1000; `B` is bytes. Suffixes are case-insensitive.
pub fn parse_size(text: &str) -> std::result::Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, suffix) = t.split_at(split);
    let unit: u64 = match suffix.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        other => {
            return Err(format!(
                "unknown size suffix `{other}` in `{text}`: use bytes, or K/KiB, M/MiB, G/GiB, T/TiB (powers of 1024) or KB, MB, GB, TB (powers of 1000), e.g. 4GiB or 700MB"
            ));
        }
    };
    let (whole, fraction) = match number.split_once('.') {
        Some((w, f)) => (w, f),
        None => (number, ""),
    };
    let bad = || format!("`{text}` is not a size: use e.g. 4GiB, 700MB, 4.7GB or 1048576");
    if whole.is_empty() && fraction.is_empty()
        || !whole.bytes().all(|c| c.is_ascii_digit())
        || !fraction.bytes().all(|c| c.is_ascii_digit())
        || fraction.len() > 9
    {
        return Err(bad());
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let mut value = whole.checked_mul(unit).ok_or_else(bad)?;
    if !fraction.is_empty() {
        let digits = fraction.len() as u32;
        let f: u128 = fraction.parse().map_err(|_| bad())?;
        let extra = f * unit as u128 / 10u128.pow(digits);
        value = value
            .checked_add(u64::try_from(extra).map_err(|_| bad())?)
            .ok_or_else(bad)?;
    }
    if value == 0 {
        return Err(format!("`{text}` is zero bytes"));
    }
    Ok(value)
}

/// A size as the shortest exact binary-suffixed text (`17MiB`), else plain bytes.
pub fn format_size(bytes: u64) -> String {
    for (unit, name) in [
        (1u64 << 40, "TiB"),
        (1 << 30, "GiB"),
        (1 << 20, "MiB"),
        (1 << 10, "KiB"),
    ] {
        if bytes >= unit && bytes.is_multiple_of(unit) {
            return format!("{}{name}", bytes / unit);
        }
    }
    bytes.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_documented_suffixes() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("4GiB"), Ok(4 << 30));
        assert_eq!(parse_size("4G"), Ok(4 << 30));
        assert_eq!(parse_size("700MB"), Ok(700_000_000));
        assert_eq!(parse_size("700M"), Ok(700 << 20));
        assert_eq!(parse_size("700mib"), Ok(700 << 20));
        assert_eq!(parse_size("4.7GB"), Ok(4_700_000_000));
        assert_eq!(parse_size("1.5KiB"), Ok(1536));
        assert_eq!(parse_size("12B"), Ok(12));
        assert!(parse_size("0").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("4 XB").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("1.2.3G").is_err());
        assert!(parse_size("99999999999999999999").is_err());
        assert!(parse_size("20000000TiB").is_err());
    }

    #[test]
    fn format_size_is_exact() {
        assert_eq!(format_size(17 << 20), "17MiB");
        assert_eq!(format_size(4 << 30), "4GiB");
        assert_eq!(format_size(1000), "1000");
    }
}
