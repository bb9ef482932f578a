//! Which bundled baseline a kernel is compared with: the one measured on the same
//! release, or else one of the same upstream version (the same source built again, as
//! CI machines get a rebuilt kernel of one version with a new build tag).

/// How a baseline was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// Measured on this very release.
    Exact,
    /// Measured on another build of the same upstream version (`6.18.44`).
    SameUpstream(String),
}

/// The upstream version of a release: `6.18.44` of `6.18.44-fc-v1272` and of
/// `6.18.44+deb13-amd64`; `6.1.0` of `6.1.0-57-cloud-amd64`.
pub fn upstream(release: &str) -> &str {
    let end = release
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(release.len());
    release[..end].trim_end_matches('.')
}

/// A release that can name a file: no separator, no leading dot, a small alphabet.
pub fn names_a_file(release: &str) -> bool {
    !release.is_empty()
        && release.len() <= 128
        && !release.starts_with('.')
        && release
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._+-~".contains(&b))
}

/// The baseline for `release` among the profile file names `names` (`<release>.json`):
/// the exact one, else the last by name of the same upstream version.
pub fn choose<'a>(release: &str, names: &'a [String]) -> Option<(&'a str, Match)> {
    let releases = names.iter().filter_map(|n| n.strip_suffix(".json"));
    if let Some(n) = names
        .iter()
        .find(|n| n.strip_suffix(".json") == Some(release))
    {
        return Some((n, Match::Exact));
    }
    let up = upstream(release);
    if up.is_empty() {
        return None;
    }
    let found = releases.filter(|r| upstream(r) == up).max()?;
    let name = names
        .iter()
        .find(|n| n.strip_suffix(".json") == Some(found))?;
    Some((name, Match::SameUpstream(up.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_versions() {
        assert_eq!(upstream("6.18.44-fc-v1272"), "6.18.44");
        assert_eq!(upstream("6.1.0-57-cloud-amd64"), "6.1.0");
        assert_eq!(upstream("6.12.118+deb12-cloud-amd64"), "6.12.118");
        assert_eq!(upstream("6.8.0"), "6.8.0");
        assert_eq!(upstream("weird"), "");
    }

    #[test]
    fn exact_first_then_same_upstream_never_another_version() {
        let names: Vec<String> = [
            "6.18.44-fc-v1252.json",
            "6.18.44-fc-v1272.json",
            "6.1.0-57-cloud-amd64.json",
            "README.md",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            choose("6.1.0-57-cloud-amd64", &names),
            Some(("6.1.0-57-cloud-amd64.json", Match::Exact))
        );
        assert_eq!(
            choose("6.18.44-fc-v1300", &names),
            Some((
                "6.18.44-fc-v1272.json",
                Match::SameUpstream("6.18.44".into())
            ))
        );
        assert_eq!(choose("6.18.45-fc-v1272", &names), None);
        assert_eq!(
            choose("6.1.0-58-cloud-amd64", &names).unwrap().0,
            "6.1.0-57-cloud-amd64.json"
        );
        assert_eq!(choose("x", &names), None);
    }

    #[test]
    fn releases_that_cannot_name_a_file() {
        assert!(names_a_file("6.18.44-fc-v1272"));
        for bad in ["", "../x", "a/b", ".hidden", "a b"] {
            assert!(!names_a_file(bad), "{bad}");
        }
    }
}
