//! The container and object names every backend accepts, checked before
//! any backend sees them, so a name means the same on each and none can
//! reach outside its container.
//!
//! - A container name is 1 to 64 characters of `A-Z a-z 0-9 . _ -`, not
//!   starting with `.`: a directory name on any file system, and a part of
//!   a NATS subject.
//! - An object name is 1 to [`MAX_OBJECT_NAME`] bytes of UTF-8 made of
//!   `/`-separated segments, none of them empty, `.` or `..`; it does not
//!   start with `/` and holds no control character (NUL included) and no
//!   `\`. So `photos/2026/a.png` is a name, and `../x`, `/etc/passwd`,
//!   `a//b` and `a\b` are not.

use crate::BlobError;

/// The longest container name, in characters.
pub const MAX_CONTAINER_NAME: usize = 64;

/// The longest object name, in bytes.
pub const MAX_OBJECT_NAME: usize = 1024;

/// Checks a container name.
///
/// # Errors
///
/// [`BlobError::Invalid`] naming the rule it breaks.
pub fn container(name: &str) -> Result<(), BlobError> {
    let refuse = |why: &str| {
        Err(BlobError::Invalid(format!(
            "container name {:?} {why}",
            shown(name)
        )))
    };
    if name.is_empty() {
        return refuse("is empty");
    }
    if name.chars().count() > MAX_CONTAINER_NAME {
        return refuse(&format!("is longer than {MAX_CONTAINER_NAME} characters"));
    }
    if name.starts_with('.') {
        return refuse("starts with '.'");
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return refuse(&format!(
            "has {bad:?}; container names use only A-Z, a-z, 0-9, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// Checks an object name.
///
/// # Errors
///
/// [`BlobError::Invalid`] naming the rule it breaks.
pub fn object(name: &str) -> Result<(), BlobError> {
    let refuse = |why: &str| {
        Err(BlobError::Invalid(format!(
            "object name {:?} {why}",
            shown(name)
        )))
    };
    if name.is_empty() {
        return refuse("is empty");
    }
    if name.len() > MAX_OBJECT_NAME {
        return refuse(&format!("is longer than {MAX_OBJECT_NAME} bytes"));
    }
    if let Some(bad) = name.chars().find(|c| c.is_control() || *c == '\\') {
        return refuse(&format!("has {bad:?}"));
    }
    if name.starts_with('/') {
        return refuse("starts with '/'");
    }
    if name
        .split('/')
        .any(|segment| segment.is_empty() || segment == "." || segment == "..")
    {
        return refuse("has an empty, '.' or '..' segment");
    }
    Ok(())
}

/// The start of `name`, for a message: at most 80 characters.
fn shown(name: &str) -> String {
    let mut shown: String = name.chars().take(80).collect();
    if shown.len() < name.len() {
        shown.push('…');
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_are_portable_words() {
        for good in ["photos", "a", "My_Bucket-2.0", &"x".repeat(64)] {
            assert_eq!(container(good), Ok(()), "{good}");
        }
        for (bad, why) in [
            ("", "empty"),
            (".hidden", "'.'"),
            ("a/b", "'/'"),
            ("a b", "' '"),
            ("a\0", "'\\0'"),
            ("é", "'é'"),
        ] {
            let error = container(bad).unwrap_err().to_string();
            assert!(error.contains(why), "{bad:?}: {error}");
        }
        assert!(container(&"x".repeat(65)).is_err());
    }

    #[test]
    fn objects_cannot_leave_their_container() {
        for good in [
            "a.png",
            "photos/2026/a.png",
            "..a",
            "a..",
            "ünïcode/名前",
            "a b",
        ] {
            assert_eq!(object(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "..",
            ".",
            "../x",
            "a/../../x",
            "/etc/passwd",
            "a//b",
            "a/",
            "a\\b",
            "a\0b",
            "a\nb",
        ] {
            assert!(object(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(object(&"x".repeat(MAX_OBJECT_NAME)).is_ok());
        let long = object(&"x".repeat(MAX_OBJECT_NAME + 1)).unwrap_err();
        assert!(
            long.to_string().contains("longer than 1024 bytes"),
            "{long}"
        );
        assert!(
            long.to_string().len() < 200,
            "the message is one short line"
        );
    }
}
