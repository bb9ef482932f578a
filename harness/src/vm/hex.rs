//! Hex, for files crossing the guest's serial port (a tty would rewrite raw newlines).

/// Lower-case hex of `bytes`.
pub fn encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of `text` (`None` if it is not an even number of hex digits).
pub fn decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip_and_refusal() {
        let b: Vec<u8> = (0..=255).collect();
        assert_eq!(super::decode(&super::encode(&b)).unwrap(), b);
        assert!(super::decode("abc").is_none());
        assert!(super::decode("zz").is_none());
        assert!(super::decode("é0").is_none());
    }
}
