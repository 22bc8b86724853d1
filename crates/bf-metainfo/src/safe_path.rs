//! The rules a file name from a torrent must pass before it may touch a disk.
//!
//! A torrent names its files with lists of components; a download joins them under the
//! directory the user chose. These rules keep every joined path inside that directory on
//! Unix and on Windows alike:
//!
//! - no empty component, no `.` and no `..`;
//! - no `/`, `\` or NUL inside a component (so no absolute path can be spelled either);
//! - no component that starts with a drive letter and a colon (`C:`), which Windows reads as
//!   another drive. Other colons are allowed: `Artist: Title.mp3` is a normal Unix name.
//!
//! Windows reserved device names (`CON`, `aux.c`, …) are valid Unix names that real torrents
//! carry (the Linux sources have `aux.c`), so they are accepted here; only a Windows build
//! refuses them, where they would open a device instead of a file.

/// Why a path component is refused, or `None` when it is safe.
pub fn component_problem(c: &str) -> Option<&'static str> {
    if c.is_empty() {
        return Some("empty path component");
    }
    if c == "." || c == ".." {
        return Some("`.` or `..` component");
    }
    if c.contains('/') || c.contains('\\') {
        return Some("path separator inside a component");
    }
    if c.contains('\0') {
        return Some("NUL byte inside a component");
    }
    let b = c.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        return Some("drive letter component");
    }
    if cfg!(windows) && is_windows_reserved(c) {
        return Some("Windows reserved device name");
    }
    None
}

/// Checks every component of `path`; the error names the whole path and the rule broken.
pub fn check_components(path: &[String]) -> Result<(), crate::MetainfoError> {
    if path.is_empty() {
        return Err(crate::MetainfoError::UnsafePath {
            path: String::new(),
            reason: "empty path",
        });
    }
    for c in path {
        if let Some(reason) = component_problem(c) {
            return Err(crate::MetainfoError::UnsafePath {
                path: path.join("/"),
                reason,
            });
        }
    }
    Ok(())
}

fn is_windows_reserved(c: &str) -> bool {
    let stem = c
        .split('.')
        .next()
        .unwrap_or(c)
        .trim_end()
        .to_ascii_uppercase();
    matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || ((stem.starts_with("COM") || stem.starts_with("LPT"))
            && stem.len() == 4
            && stem.as_bytes()[3].is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_escapes_and_accepts_ordinary_names() {
        for bad in ["", ".", "..", "a/b", "a\\b", "/etc", "a\0b", "C:", "c:x"] {
            assert!(component_problem(bad).is_some(), "{bad:?} accepted");
        }
        for good in [
            "a",
            "..a",
            "a..",
            ".hidden",
            "Artist: Title.mp3",
            "aux.c",
            "é",
        ] {
            assert_eq!(component_problem(good), None, "{good:?} refused");
        }
    }

    #[test]
    fn whole_path_error_names_the_path() {
        let p = vec!["a".to_string(), "..".to_string(), "b".to_string()];
        let e = check_components(&p).unwrap_err().to_string();
        assert!(e.contains("a/../b"), "{e}");
        assert!(check_components(&[]).is_err());
    }
}
