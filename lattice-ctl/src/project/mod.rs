//! A developer's projects: `lattice-ctl new KIND NAME` writes one from a
//! template built into the binary ([`templates`]), `lattice-ctl build`
//! builds it with its toolchain and signs the component with the
//! developer's key and the claims its imports need ([`build`], [`keys`]),
//! `lattice-ctl dev` serves it and swaps it on each change ([`dev`]).

pub mod build;
pub mod dev;
pub mod keys;
pub mod templates;

use std::path::Path;

use anyhow::{bail, Context as _};
use serde::Serialize;

use crate::output::{print_list, Format};

/// Whether `name` can name a project: its actor id, its crate and its
/// `build/NAME.wasm`.
///
/// # Errors
///
/// Why not, in a few words.
pub fn check_name(name: &str) -> Result<(), String> {
    let valid = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{:?} is not a project name: lowercase letters, digits and `-`, starting with a letter, at most 64",
            lattice_interfaces::shown(name)
        ))
    }
}

#[derive(Serialize)]
struct Listed {
    kind: &'static str,
    language: &'static str,
    about: &'static str,
}

/// `lattice-ctl new --list`.
pub fn list(format: Format) -> anyhow::Result<()> {
    let listed: Vec<Listed> = templates::TEMPLATES
        .iter()
        .map(|t| Listed {
            kind: t.kind,
            language: t.language.name(),
            about: t.about,
        })
        .collect();
    let rows = listed
        .iter()
        .map(|l| {
            vec![
                l.kind.to_string(),
                l.language.to_string(),
                l.about.to_string(),
            ]
        })
        .collect();
    print_list(
        format,
        &listed,
        (&["KIND", "LANGUAGE", "WHAT"], "templates"),
        rows,
    )
}

#[derive(Serialize)]
struct Made {
    kind: &'static str,
    name: String,
    dir: String,
    files: Vec<String>,
}

/// `lattice-ctl new KIND NAME [--dir DIR]`: the project in `DIR` (by
/// default `./NAME`), which must not exist yet or be empty.
pub fn new(kind: &str, name: &str, dir: Option<&Path>, format: Format) -> anyhow::Result<()> {
    let Some(template) = templates::find(kind) else {
        let kinds: Vec<&str> = templates::TEMPLATES.iter().map(|t| t.kind).collect();
        bail!(
            "no template {:?}: the templates are {} (lattice-ctl new --list)",
            lattice_interfaces::shown(kind),
            kinds.join(", ")
        );
    };
    check_name(name).map_err(anyhow::Error::msg)?;
    let dir = dir.map_or_else(|| Path::new(name).to_path_buf(), Path::to_path_buf);
    if dir.exists() {
        let empty = std::fs::read_dir(&dir)
            .with_context(|| format!("{} exists and cannot be read", dir.display()))?
            .next()
            .is_none();
        if !empty {
            bail!(
                "{} exists and is not empty: name another folder (--dir) or move it away",
                dir.display()
            );
        }
    }
    let key_file = keys::developer_key_file()?.display().to_string();
    let files = template.render(name, &key_file);
    for (path, text) in &files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let made = Made {
        kind: template.kind,
        name: name.to_string(),
        dir: dir.display().to_string(),
        files: files.into_iter().map(|(path, _)| path).collect(),
    };
    crate::lattice::done(
        format,
        &made,
        &format!(
            "made {} project {name} in {}: `cd {}`, then `lattice-ctl build` (its README says the rest)",
            template.kind,
            made.dir,
            made.dir
        ),
    )
}
