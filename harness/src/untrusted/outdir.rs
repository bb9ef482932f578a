//! Output directories whose contents are named from untrusted text: every entry is one
//! checked path component, directories are made with `mkdir` (which never follows a
//! symlink at the last component) and files with `O_CREAT | O_EXCL | O_NOFOLLOW`, and the
//! canonical path of everything made is checked to stay below the root.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

/// A directory nlstorm writes into, canonicalised when opened.
#[derive(Debug, Clone)]
pub struct OutDir {
    root: PathBuf,
}

/// Why an output entry could not be made.
#[derive(Debug, thiserror::Error)]
pub enum OutDirError {
    /// The name is not a single plain path component.
    #[error("`{}` is not a plain file name (no `/`, `.`, `..` or NUL)", super::terminal(.0))]
    Component(String),
    /// The kernel refused.
    #[error("failed to create {}", .path.display())]
    Io {
        /// What was being made.
        path: PathBuf,
        /// The errno.
        #[source]
        source: std::io::Error,
    },
    /// What was made resolves outside the root (a symlink swapped in underneath).
    #[error("{} resolves outside {}", .path.display(), .root.display())]
    Escaped {
        /// What was made.
        path: PathBuf,
        /// The directory it had to stay in.
        root: PathBuf,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> OutDirError + '_ {
    move |source| OutDirError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Checks that `name` is exactly one normal component.
fn component(name: &str) -> Result<&str, OutDirError> {
    let mut parts = Path::new(name).components();
    match (parts.next(), parts.next()) {
        (Some(Component::Normal(c)), None) if c == name && !name.contains('\0') => Ok(name),
        _ => Err(OutDirError::Component(name.to_string())),
    }
}

impl OutDir {
    /// Opens `root` (the user's choice, so it may be any path), creating it if needed.
    pub fn create(root: &Path) -> Result<Self, OutDirError> {
        std::fs::create_dir_all(root).map_err(io(root))?;
        let root = root.canonicalize().map_err(io(root))?;
        Ok(OutDir { root })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Makes a new directory `name` inside; it must not exist yet.
    pub fn subdir(&self, name: &str) -> Result<OutDir, OutDirError> {
        let path = self.root.join(component(name)?);
        std::fs::create_dir(&path).map_err(io(&path))?;
        let real = path.canonicalize().map_err(io(&path))?;
        if real.parent() != Some(self.root.as_path()) {
            return Err(OutDirError::Escaped {
                path,
                root: self.root.clone(),
            });
        }
        Ok(OutDir { root: real })
    }

    /// Writes a new file `name` inside; it must not exist yet, not even as a symlink.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, OutDirError> {
        let path = self.root.join(component(name)?);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(io(&path))?;
        f.write_all(bytes).map_err(io(&path))?;
        Ok(path)
    }

    /// Fails unless a file can be created here now, so that a run does not find out
    /// after an hour of measuring that its results cannot be kept.
    pub fn check_writable(&self) -> Result<(), OutDirError> {
        can_create_in(&self.root).map_err(io(&self.root))
    }
}

/// Creates and removes a file in `dir`: trying is the only honest check, since root
/// passes access(2) on a read-only mount.
pub fn can_create_in(dir: &Path) -> std::io::Result<()> {
    tempfile::Builder::new()
        .prefix(".nlstorm-write-check")
        .tempfile_in(dir)
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_that_leave_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let out = OutDir::create(t.path()).unwrap();
        for bad in ["..", ".", "a/b", "/tmp/x", "", "a\0b", "x/../../y"] {
            assert!(
                matches!(out.subdir(bad), Err(OutDirError::Component(_))),
                "want: refused / got: accepted {bad:?}"
            );
            assert!(matches!(
                out.write(bad, b""),
                Err(OutDirError::Component(_))
            ));
        }
    }

    #[test]
    fn a_planted_symlink_is_not_followed() {
        let t = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let out = OutDir::create(t.path()).unwrap();
        std::os::unix::fs::symlink(outside.path(), t.path().join("d")).unwrap();
        assert!(out.subdir("d").is_err());
        std::os::unix::fs::symlink(outside.path().join("f"), t.path().join("f")).unwrap();
        assert!(out.write("f", b"x").is_err());
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    }

    #[test]
    fn files_land_inside() {
        let t = tempfile::tempdir().unwrap();
        let out = OutDir::create(&t.path().join("new")).unwrap();
        let d = out.subdir("run-1").unwrap();
        let f = d.write("plan.json", b"{}").unwrap();
        assert!(f.starts_with(t.path().canonicalize().unwrap()));
        assert!(
            d.write("plan.json", b"{}").is_err(),
            "an existing file is not replaced"
        );
        out.check_writable().unwrap();
    }
}
