//! The project templates `lattice-ctl new` writes, built into the binary:
//! each a buildable project with its WIT, a manifest (`app.toml`), the
//! build settings (`lattice.toml`) and a README of three commands.

/// The toolchain a project is built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// `cargo build --release --target wasm32-wasip2`.
    Rust,
    /// `componentize-py`.
    Python,
}

impl Language {
    /// Its name in `lattice.toml`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rust => "rust",
            Self::Python => "python",
        }
    }
}

/// One template.
pub struct Template {
    /// What `new` is given: `rust-http`, say.
    pub kind: &'static str,
    /// One line for `new --list` and the README.
    pub about: &'static str,
    /// How it is built.
    pub language: Language,
    /// Its own files, by path; `{{name}}` stands for the project's name and
    /// `{{crate}}` for it with `_` for `-`. A file taken from the examples
    /// names its WIT under `../../interfaces/wit/`: in a project it is
    /// under `wit/`.
    files: &'static [(&'static str, &'static str)],
    /// The Rust crates it needs (`Cargo.toml`'s `[dependencies]` lines).
    dependencies: &'static str,
    /// The README's last command: how to try it.
    try_it: &'static str,
}

const WASI: &str = "wasi = \"0.14.7\"";
const WASI_AND_BINDGEN: &str = "wasi = \"0.14.7\"\nwit-bindgen = \"0.46\"";
const BINDGEN: &str = "wit-bindgen = \"0.46\"";

/// The WIT of `wasi:keyvalue` as Lattice serves it.
const KEYVALUE_WIT: &[(&str, &str)] = &[
    (
        "wit/keyvalue/store.wit",
        include_str!("../../../interfaces/wit/keyvalue/store.wit"),
    ),
    (
        "wit/keyvalue/atomics.wit",
        include_str!("../../../interfaces/wit/keyvalue/atomics.wit"),
    ),
    (
        "wit/keyvalue/batch.wit",
        include_str!("../../../interfaces/wit/keyvalue/batch.wit"),
    ),
    (
        "wit/keyvalue/world.wit",
        include_str!("../../../interfaces/wit/keyvalue/world.wit"),
    ),
];

/// Every template.
pub const TEMPLATES: &[Template] = &[
    Template {
        kind: "rust-http",
        about: "An HTTP handler in Rust (wasi:http)",
        language: Language::Rust,
        files: &[
            ("src/lib.rs", include_str!("../../templates/rust-http/src/lib.rs")),
            ("app.toml", include_str!("../../templates/rust-http/app.toml")),
        ],
        dependencies: WASI,
        try_it: "curl http://127.0.0.1:8080/hello",
    },
    Template {
        kind: "rust-kv-counter",
        about: "A counter in Rust: HTTP in, wasi:keyvalue atomics behind",
        language: Language::Rust,
        files: &[
            // The kv-counter example itself, its WIT path the project's.
            (
                "src/lib.rs",
                include_str!("../../../examples/kv-counter/src/lib.rs"),
            ),
            (
                "app.toml",
                include_str!("../../templates/rust-kv-counter/app.toml"),
            ),
        ],
        dependencies: WASI_AND_BINDGEN,
        try_it: "curl http://127.0.0.1:8080/visits",
    },
    Template {
        kind: "rust-messaging",
        about: "A messaging handler in Rust (wasmcloud:messaging): answers requests on NAME.>",
        language: Language::Rust,
        files: &[
            (
                "src/lib.rs",
                include_str!("../../templates/rust-messaging/src/lib.rs"),
            ),
            (
                "app.toml",
                include_str!("../../templates/rust-messaging/app.toml"),
            ),
            (
                "wit/messaging/messaging.wit",
                include_str!("../../../interfaces/wit/messaging/messaging.wit"),
            ),
        ],
        dependencies: BINDGEN,
        try_it: "lattice-ctl msg request {{name}}.hi hello",
    },
    Template {
        kind: "python-http",
        about: "An HTTP handler in Python (componentize-py, wasi:http)",
        language: Language::Python,
        files: &[
            ("app.py", include_str!("../../templates/python-http/app.py")),
            ("app.toml", include_str!("../../templates/python-http/app.toml")),
            (
                "wit/world.wit",
                "// The world this component is built for: wasi:http/proxy.\npackage lattice:app;\n\nworld app {\n  include wasi:http/proxy@0.2.12;\n}\n",
            ),
            (
                "wit/deps/cli.wit",
                include_str!("../../../examples/fixtures/python_hello/wit/deps/cli.wit"),
            ),
            (
                "wit/deps/clocks.wit",
                include_str!("../../../examples/fixtures/python_hello/wit/deps/clocks.wit"),
            ),
            (
                "wit/deps/filesystem.wit",
                include_str!("../../../examples/fixtures/python_hello/wit/deps/filesystem.wit"),
            ),
            (
                "wit/deps/http.wit",
                include_str!("../../../examples/fixtures/python_hello/wit/deps/http.wit"),
            ),
            (
                "wit/deps/io.wit",
                include_str!("../../../examples/fixtures/python_hello/wit/deps/io.wit"),
            ),
            (
                "wit/deps/random.wit",
                include_str!("../../../examples/fixtures/python_hello/wit/deps/random.wit"),
            ),
            (
                "wit/deps/sockets.wit",
                include_str!("../../../examples/fixtures/python_hello/wit/deps/sockets.wit"),
            ),
        ],
        dependencies: "",
        try_it: "curl http://127.0.0.1:8080/hello",
    },
];

/// The template of `kind`.
pub fn find(kind: &str) -> Option<&'static Template> {
    TEMPLATES.iter().find(|t| t.kind == kind)
}

impl Template {
    /// Its files for project `name`, paths relative to the project;
    /// `key_file` is the developer key the README names.
    pub fn render(&self, name: &str, key_file: &str) -> Vec<(String, String)> {
        let crate_name = name.replace('-', "_");
        let fill = |text: &str| {
            text.replace("{{name}}", name)
                .replace("{{crate}}", &crate_name)
                .replace("\"../../interfaces/wit/", "\"wit/")
        };
        let mut files: Vec<(String, String)> = self
            .files
            .iter()
            .map(|(path, text)| ((*path).to_string(), fill(text)))
            .collect();
        if self.language == Language::Rust {
            files.push((
                "Cargo.toml".into(),
                fill(include_str!("../../templates/common/rust-Cargo.toml"))
                    .replace("{{dependencies}}", self.dependencies),
            ));
            if self.kind == "rust-kv-counter" {
                files.extend(
                    KEYVALUE_WIT
                        .iter()
                        .map(|(path, text)| ((*path).to_string(), (*text).to_string())),
                );
            }
        }
        files.push((
            ".gitignore".into(),
            include_str!("../../templates/common/gitignore").into(),
        ));
        files.push(("lattice.toml".into(), self.project_file(name)));
        files.push((
            "README.md".into(),
            fill(include_str!("../../templates/common/README.md"))
                .replace("{{about}}", self.about)
                .replace("{{kind}}", self.kind)
                .replace(
                    "{{toolchain}}",
                    super::build::default_command_shown(self.language),
                )
                .replace("{{key_file}}", key_file)
                .replace("{{try}}", &fill(self.try_it)),
        ));
        files
    }

    /// `lattice.toml`: the project's name, language and build settings.
    fn project_file(&self, name: &str) -> String {
        format!(
            "# How `lattice-ctl build` builds and signs this project.\n\
             [project]\n\
             name = \"{name}\"\n\
             language = \"{language}\"\n\
             \n\
             [build]\n\
             # The toolchain command `lattice-ctl build` runs, shown as it runs:\n\
             #   {shown}\n\
             # To build another way, set `command` (run by sh in this folder) and\n\
             # `output`, the component it writes:\n\
             # command = \"...\"\n\
             # output = \"...\"\n",
            language = self.language.name(),
            shown = super::build::default_command_shown(self.language),
        )
    }
}
