//! What this binary was built from: the version of the crates, and the
//! commit and date `scripts/release` (or `install`, `image`) stamped it
//! with (`build.rs`); a development build has neither.

/// The crates' version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The commit built, or empty for a development build.
pub const COMMIT: &str = env!("LATTICE_BUILD_COMMIT");

/// The day it was built (`YYYY-MM-DD`), or empty for a development build.
pub const DATE: &str = env!("LATTICE_BUILD_DATE");

/// What `--version` prints after the name: `0.1.0 (commit 0123456789ab,
/// built 2026-12-08)`, or `0.1.0 (development build)`.
pub const LONG_VERSION: &str = env!("LATTICE_LONG_VERSION");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_long_version_names_the_commit_or_says_development() {
        assert!(LONG_VERSION.starts_with(VERSION), "{LONG_VERSION}");
        if COMMIT.is_empty() {
            assert!(
                LONG_VERSION.ends_with("(development build)"),
                "{LONG_VERSION}"
            );
        } else {
            assert!(LONG_VERSION.contains(COMMIT), "{LONG_VERSION}");
        }
    }
}
