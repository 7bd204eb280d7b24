//! Memory sizes as Redis's config accepts them: `100mb`, `1gb`, `64k`, plain bytes.

/// Parses a memory size: `k`/`m`/`g` are powers of 1000, `kb`/`mb`/`gb` powers of 1024
/// (Redis's `memtoull`), case-insensitive.
///
/// # Errors
/// A text saying what was wrong, for clap and config-file messages.
pub fn parse_memory(text: &str) -> Result<u64, String> {
    let lower = text.trim().to_ascii_lowercase();
    let split = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("'{text}' is not a memory size (e.g. 100mb, 1gb, 1048576)"))?;
    let mul: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => {
            return Err(format!(
                "'{text}' has an unknown unit (use b, k, kb, m, mb, g, gb)"
            ))
        }
    };
    n.checked_mul(mul)
        .ok_or_else(|| format!("'{text}' is too large"))
}

/// Formats bytes as Redis's `bytesToHuman` does (`1.50M`).
pub fn human_bytes(n: u64) -> String {
    let n = n as f64;
    const K: f64 = 1024.0;
    if n < K {
        format!("{n}B")
    } else if n < K * K {
        format!("{:.2}K", n / K)
    } else if n < K * K * K {
        format!("{:.2}M", n / (K * K))
    } else if n < K * K * K * K {
        format!("{:.2}G", n / (K * K * K))
    } else {
        format!("{:.2}T", n / (K * K * K * K))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_memory_accepts_redis_units() {
        assert_eq!(parse_memory("100mb"), Ok(100 * 1024 * 1024));
        assert_eq!(parse_memory("1GB"), Ok(1 << 30));
        assert_eq!(parse_memory("64k"), Ok(64_000));
        assert_eq!(parse_memory("12345"), Ok(12345));
        assert!(parse_memory("lots").is_err());
        assert!(parse_memory("10xb").is_err());
        assert!(parse_memory("99999999999999gb").is_err());
    }

    #[test]
    fn human_bytes_matches_redis() {
        assert_eq!(human_bytes(1000), "1000B");
        assert_eq!(human_bytes(1536), "1.50K");
        assert_eq!(human_bytes(1 << 30), "1.00G");
    }
}
