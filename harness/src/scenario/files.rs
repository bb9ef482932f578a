//! Which files a command's path arguments name, and all of them compiled at once.

use std::path::PathBuf;

use super::{load_source, ScenarioErrors, Source};

/// Every `.toml` file named, or found directly inside a named directory, sorted.
pub fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        // metadata, not exists(): a path in a directory nlstorm may not search is
        // "permission denied", not "does not exist".
        let meta = std::fs::metadata(p).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => format!("{} does not exist", p.display()),
            _ => format!("{}: {e}", p.display()),
        })?;
        if meta.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| format!("cannot read directory {}: {e}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "toml"))
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(format!("{} has no .toml scenario files", p.display()));
            }
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Loads every file; all problems of all files are returned together.
pub fn load_all(files: &[PathBuf]) -> Result<Vec<(PathBuf, Source)>, Vec<ScenarioErrors>> {
    let mut plans = Vec::new();
    let mut errors = Vec::new();
    for f in files {
        match load_source(f) {
            Ok(p) => plans.push((f.clone(), p)),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(plans)
    } else {
        Err(errors)
    }
}
