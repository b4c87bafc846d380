//! How commands print: a table for people, JSON for programs (`-o json`).

use comfy_table::presets::NOTHING;
use comfy_table::Table;
use serde::Serialize;

/// The output format every command takes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned text for people.
    #[default]
    Table,
    /// One JSON document.
    Json,
    /// A wadm manifest (`get app NAME` only).
    Wadm,
}

/// Prints `value` as JSON, or `rows` (field, value) as a two-column table.
pub fn print<T: Serialize>(
    format: Format,
    value: &T,
    rows: &[(&str, String)],
) -> anyhow::Result<()> {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(value)?),
        Format::Table | Format::Wadm => {
            let mut table = Table::new();
            table.load_preset(NOTHING);
            for (field, value) in rows {
                table.add_row(vec![field.to_string(), value.clone()]);
            }
            println!("{}", trimmed(&table.to_string()));
        }
    }
    Ok(())
}

/// Prints `value` as JSON, or `rows` under `headers` as a table; with no
/// rows, the table is the line `no NOUN` (`no hosts`, `no links`).
pub fn print_list<T: Serialize>(
    format: Format,
    value: &T,
    (headers, noun): (&[&str], &str),
    rows: Vec<Vec<String>>,
) -> anyhow::Result<()> {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(value)?),
        Format::Table | Format::Wadm if rows.is_empty() => println!("no {noun}"),
        Format::Table | Format::Wadm => {
            let mut table = Table::new();
            table.load_preset(NOTHING);
            table.set_header(headers.to_vec());
            for row in rows {
                table.add_row(row);
            }
            println!("{}", trimmed(&table.to_string()));
        }
    }
    Ok(())
}

/// `text` without trailing spaces on any line.
fn trimmed(text: &str) -> String {
    text.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Writes `bytes` to `path` through a new file renamed into place: a
/// reader never sees it half-written, and a file that shares its bytes
/// with another (a hard link) is replaced, not written through.
///
/// # Errors
///
/// The folder cannot take the new file, or the rename fails.
pub fn write_replacing(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    let staged = path.with_file_name(format!(".{name}.{}.new", std::process::id()));
    std::fs::write(&staged, bytes)?;
    std::fs::rename(&staged, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&staged);
    })
}
