//! Human-readable quantities in scenario files: durations (`"250ms"`) and sizes (`"4KiB"`).

use std::time::Duration;

/// Why a quantity string could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    /// The text has no leading number.
    #[error("`{0}` does not start with a number")]
    NoNumber(String),
    /// The suffix is not one this quantity knows.
    #[error("`{text}` has unknown unit `{unit}` (expected one of {expected})")]
    UnknownUnit {
        /// The whole text.
        text: String,
        /// The suffix found.
        unit: String,
        /// The accepted suffixes.
        expected: &'static str,
    },
    /// The value does not fit in 64 bits.
    #[error("`{0}` is too large")]
    Overflow(String),
}

fn split_number(text: &str) -> Result<(f64, &str), UnitError> {
    let t = text.trim();
    let end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(t.len());
    let digits: String = t[..end].chars().filter(|&c| c != '_').collect();
    let value = digits
        .parse::<f64>()
        .map_err(|_| UnitError::NoNumber(text.to_string()))?;
    Ok((value, t[end..].trim()))
}

const DURATION_UNITS: &str = "ns, us, ms, s, m";

/// Parses `"250ms"`, `"1.5s"`, `"20us"`, `"2m"`. A bare number is an error: the unit is
/// what tells a reader of the scenario how long a wait is.
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let (value, unit) = split_number(text)?;
    let scale_ns = match unit {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" | "min" => 60e9,
        _ => {
            return Err(UnitError::UnknownUnit {
                text: text.to_string(),
                unit: unit.to_string(),
                expected: DURATION_UNITS,
            })
        }
    };
    let ns = value * scale_ns;
    if !ns.is_finite() || ns > u64::MAX as f64 {
        return Err(UnitError::Overflow(text.to_string()));
    }
    Ok(Duration::from_nanos(ns.round() as u64))
}

const SIZE_UNITS: &str = "B, KiB, MiB, GiB, K, M, G (binary)";

/// Parses `"4KiB"`, `"1MiB"`, `"1024"` (bytes), `"300B"`. `K`/`M`/`G` are binary too,
/// as in the kernel's and `ip`'s usage for buffer sizes.
pub fn parse_size(text: &str) -> Result<u64, UnitError> {
    let (value, unit) = split_number(text)?;
    let scale: f64 = match unit {
        "" | "B" => 1.0,
        "K" | "KiB" | "k" => 1024.0,
        "M" | "MiB" => 1024.0 * 1024.0,
        "G" | "GiB" => 1024.0 * 1024.0 * 1024.0,
        _ => {
            return Err(UnitError::UnknownUnit {
                text: text.to_string(),
                unit: unit.to_string(),
                expected: SIZE_UNITS,
            })
        }
    };
    let bytes = value * scale;
    if !bytes.is_finite() || bytes > u64::MAX as f64 {
        return Err(UnitError::Overflow(text.to_string()));
    }
    Ok(bytes.round() as u64)
}

/// Formats a duration the way scenario files write it, for reports.
pub fn format_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        "0s".into()
    } else if ns.is_multiple_of(1_000_000_000) {
        format!("{}s", ns / 1_000_000_000)
    } else if ns.is_multiple_of(1_000_000) {
        format!("{}ms", ns / 1_000_000)
    } else if ns.is_multiple_of(1_000) {
        format!("{}us", ns / 1_000)
    } else {
        format!("{ns}ns")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("250ms", Duration::from_millis(250))]
    #[case("1.5s", Duration::from_millis(1500))]
    #[case("20us", Duration::from_micros(20))]
    #[case(" 7ns ", Duration::from_nanos(7))]
    #[case("2m", Duration::from_secs(120))]
    #[case("0s", Duration::ZERO)]
    fn durations(#[case] text: &str, #[case] want: Duration) {
        assert_eq!(parse_duration(text), Ok(want));
    }

    #[rstest]
    #[case("250")]
    #[case("ms")]
    #[case("3 parsecs")]
    fn bad_durations(#[case] text: &str) {
        assert!(parse_duration(text).is_err(), "{text} parsed");
    }

    #[rstest]
    #[case("1024", 1024)]
    #[case("4KiB", 4096)]
    #[case("1MiB", 1 << 20)]
    #[case("1.5K", 1536)]
    #[case("300B", 300)]
    #[case("8_192", 8192)]
    fn sizes(#[case] text: &str, #[case] want: u64) {
        assert_eq!(parse_size(text), Ok(want));
    }

    #[test]
    fn size_unit_error_names_choices() {
        let err = parse_size("4kb").unwrap_err().to_string();
        assert!(err.contains("KiB"), "{err}");
    }

    #[test]
    fn duration_round_trip() {
        for d in ["250ms", "3s", "20us", "7ns"] {
            assert_eq!(format_duration(parse_duration(d).unwrap()), d);
        }
    }
}
