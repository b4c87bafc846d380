//! Manifests as tests write them: a builder that writes the TOML a user
//! would, one table at a time, so each test names only what it runs.
//!
//! ```
//! use lattice_tests::manifest::ManifestBuilder;
//!
//! let manifest = ManifestBuilder::new()
//!     .actor("hello", std::path::Path::new("hello.wasm"))
//!     .provider("http", "http-server")
//!     .http_link("http", "hello", "127.0.0.1:0")
//!     .build();
//! assert_eq!(manifest.links[0].target.as_str(), "hello");
//! ```
//!
//! The text is parsed by [`Manifest::from_toml`], the parser `lattice-ctl up`
//! uses, so what a test applies went through the same checks as a file.

use std::fmt::Write as _;
use std::path::Path;

use lattice_interfaces::Manifest;

/// One `[[actors]]`, `[[providers]]` or `[[links]]` table: its array's name
/// and its `key = value` lines, values already written as TOML.
#[derive(Debug, Clone)]
struct Table {
    array: &'static str,
    entries: Vec<(String, String)>,
}

/// A manifest written table by table, in the order the calls come.
#[derive(Debug, Clone, Default)]
pub struct ManifestBuilder {
    /// `[app] name`, when an app.
    app: Option<String>,
    tables: Vec<Table>,
    /// `[config.NAME]` tables, in the order added.
    named_config: Vec<(String, String)>,
}

/// `text` as a TOML basic string.
fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `pairs` as a TOML inline table of strings.
fn inline_table(pairs: &[(&str, &str)]) -> String {
    let body: Vec<String> = pairs
        .iter()
        .map(|(key, value)| format!("{key} = {}", quoted(value)))
        .collect();
    format!("{{ {} }}", body.join(", "))
}

impl ManifestBuilder {
    /// An empty manifest.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a table in `array` with `entries` (values quoted as strings).
    fn table(mut self, array: &'static str, entries: &[(&str, &str)]) -> Self {
        let entries = entries
            .iter()
            .map(|(key, value)| (key.to_string(), quoted(value)))
            .collect();
        self.tables.push(Table { array, entries });
        self
    }

    /// Adds `key = value` to the last table, `value` written as TOML as it
    /// is (a number, or an inline table).
    pub fn set(mut self, key: &str, value: impl std::fmt::Display) -> Self {
        self.tables
            .last_mut()
            .expect("set follows an actor, a provider or a link")
            .entries
            .push((key.to_string(), value.to_string()));
        self
    }

    /// Adds `key = "value"` to the last table.
    pub fn set_str(self, key: &str, value: &str) -> Self {
        self.set(key, quoted(value))
    }

    /// Makes it app `name` (an `[app]` table first).
    pub fn app(mut self, name: &str) -> Self {
        self.app = Some(name.to_string());
        self
    }

    /// Lists the named config entries the last actor reads, in order.
    pub fn reads(self, names: &[&str]) -> Self {
        let names: Vec<String> = names.iter().map(|name| quoted(name)).collect();
        self.set("config", format!("[{}]", names.join(", ")))
    }

    /// Sets the last actor's secret references to `pairs`.
    pub fn secrets(self, pairs: &[(&str, &str)]) -> Self {
        self.set("secrets", inline_table(pairs))
    }

    /// Adds named config `name` holding `pairs` (a `[config.NAME]` table).
    pub fn named_config(mut self, name: &str, pairs: &[(&str, &str)]) -> Self {
        let body: String = pairs
            .iter()
            .map(|(key, value)| format!("{key} = {}\n", quoted(value)))
            .collect();
        self.named_config.push((name.to_string(), body));
        self
    }

    /// Adds actor `id` run from the component at `wasm`.
    pub fn actor(self, id: &str, wasm: &Path) -> Self {
        let path = wasm.display().to_string();
        self.table("actors", &[("id", id), ("path", &path)])
    }

    /// Adds provider `id` running `reference` (a built-in name or a
    /// binary).
    pub fn provider(self, id: &str, reference: &str) -> Self {
        self.table("providers", &[("id", id), ("reference", reference)])
    }

    /// Adds a link from `source` to `target` for `interface`.
    pub fn link(self, source: &str, target: &str, interface: &str) -> Self {
        self.table(
            "links",
            &[
                ("source", source),
                ("target", target),
                ("interface", interface),
            ],
        )
    }

    /// Adds a `wasi:http/incoming-handler` link from `source` to `target`
    /// listening on `address`.
    pub fn http_link(self, source: &str, target: &str, address: &str) -> Self {
        self.link(source, target, "wasi:http/incoming-handler")
            .source_config(&[("address", address)])
    }

    /// Names the last link `name`.
    pub fn name(self, name: &str) -> Self {
        self.set_str("name", name)
    }

    /// Sets the last provider's `config` to `pairs`.
    pub fn config(self, pairs: &[(&str, &str)]) -> Self {
        self.set("config", inline_table(pairs))
    }

    /// Sets the last link's `source_config` to `pairs`.
    pub fn source_config(self, pairs: &[(&str, &str)]) -> Self {
        self.set("source_config", inline_table(pairs))
    }

    /// Sets the last link's `target_config` to `pairs`.
    pub fn target_config(self, pairs: &[(&str, &str)]) -> Self {
        self.set("target_config", inline_table(pairs))
    }

    /// The manifest as a TOML file: the tables in the order they were added,
    /// a blank line between two.
    pub fn toml(&self) -> String {
        let mut text = String::new();
        if let Some(app) = &self.app {
            let _ = writeln!(text, "[app]\nname = {}\n", quoted(app));
        }
        for (n, table) in self.tables.iter().enumerate() {
            if n > 0 {
                text.push('\n');
            }
            let _ = writeln!(text, "[[{}]]", table.array);
            for (key, value) in &table.entries {
                let _ = writeln!(text, "{key} = {value}");
            }
        }
        for (name, body) in &self.named_config {
            let _ = write!(text, "\n[config.{name}]\n{body}");
        }
        text
    }

    /// The manifest, parsed and checked as `lattice-ctl up` would.
    pub fn build(&self) -> Manifest {
        let text = self.toml();
        Manifest::from_toml(&text)
            .unwrap_or_else(|e| panic!("a test manifest is refused: {e}\n{text}"))
    }
}
