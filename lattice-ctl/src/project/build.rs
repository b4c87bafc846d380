//! `lattice-ctl build`: builds the project in a folder with its toolchain,
//! then signs the component with the developer's key and the claims its
//! imports need, into `build/NAME.wasm`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context as _};
use lattice_interfaces::claims::{sign_component, ComponentSigning};
use serde::{Deserialize, Serialize};

use super::templates::Language;
use crate::output::Format;

/// The toolchain command of `language`, as `build` shows it.
pub fn default_command_shown(language: Language) -> &'static str {
    match language {
        Language::Rust => "cargo build --release --target wasm32-wasip2",
        Language::Python => {
            "componentize-py -d wit -w app componentize app -o build/NAME.component.wasm"
        }
    }
}

/// `lattice.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProjectFile {
    project: ProjectTable,
    #[serde(default)]
    build: BuildTable,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProjectTable {
    name: String,
    language: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BuildTable {
    command: Option<String>,
    output: Option<PathBuf>,
}

/// A project as `lattice.toml` describes it.
#[derive(Debug)]
pub struct Project {
    /// Its folder.
    pub dir: PathBuf,
    /// Its name: the actor's id, and `build/NAME.wasm`.
    pub name: String,
    language: Language,
    /// Its own build command and output, when it sets them.
    custom: Option<(String, PathBuf)>,
}

impl Project {
    /// The project in `dir`.
    ///
    /// # Errors
    ///
    /// No `lattice.toml`, or one that says something it cannot mean, in one
    /// line naming the file.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let file = dir.join("lattice.toml");
        let text = std::fs::read_to_string(&file).with_context(|| {
            format!(
                "{}: cannot be read: is this a project (`lattice-ctl new` makes one)?",
                file.display()
            )
        })?;
        let parsed: ProjectFile = toml::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "{}: {}",
                file.display(),
                e.message().lines().next().unwrap_or_default()
            )
        })?;
        super::check_name(&parsed.project.name)
            .map_err(|e| anyhow::anyhow!("{}: project name: {e}", file.display()))?;
        let language = match parsed.project.language.as_str() {
            "rust" => Language::Rust,
            "python" => Language::Python,
            other => bail!(
                "{}: language {other:?} is not one `build` knows (rust, python); set [build] command and output to build it yourself",
                file.display()
            ),
        };
        let custom = match (parsed.build.command, parsed.build.output) {
            (Some(command), Some(output)) => Some((command, output)),
            (None, None) => None,
            _ => bail!(
                "{}: [build] sets `command` and `output` together (the component the command writes)",
                file.display()
            ),
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            name: parsed.project.name,
            language,
            custom,
        })
    }

    /// `build/NAME.wasm`, relative to the project's folder: where the
    /// signed component goes.
    pub fn signed_component(&self) -> String {
        format!("build/{}.wasm", self.name)
    }

    /// Runs the toolchain; the component it wrote.
    fn compile(&self) -> anyhow::Result<PathBuf> {
        if let Some((command, output)) = &self.custom {
            eprintln!("==> {command}");
            run(
                Command::new("sh")
                    .args(["-c", command])
                    .current_dir(&self.dir),
                command,
            )?;
            return Ok(self.dir.join(output));
        }
        match self.language {
            Language::Rust => self.cargo(),
            Language::Python => {
                let output = format!("build/{}.component.wasm", self.name);
                std::fs::create_dir_all(self.dir.join("build"))
                    .with_context(|| format!("cannot create {}/build", self.dir.display()))?;
                let args = [
                    "-d",
                    "wit",
                    "-w",
                    "app",
                    "componentize",
                    "app",
                    "-o",
                    &output,
                ];
                eprintln!("==> componentize-py {}", args.join(" "));
                let mut command = Command::new("componentize-py");
                command.args(args).current_dir(&self.dir);
                run(&mut command, "componentize-py").map_err(|e| {
                    if e.to_string().contains("cannot run") {
                        anyhow::anyhow!("componentize-py is not installed: `pip install componentize-py` (0.25 or later), or set [build] command and output in lattice.toml")
                    } else {
                        e
                    }
                })?;
                Ok(self.dir.join(output))
            }
        }
    }

    /// `cargo build`, its compiler messages shown; the `.wasm` it linked.
    fn cargo(&self) -> anyhow::Result<PathBuf> {
        eprintln!("==> {}", default_command_shown(Language::Rust));
        let output = Command::new("cargo")
            .args(["build", "--release", "--target", "wasm32-wasip2"])
            .arg("--message-format=json-render-diagnostics")
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .context("cannot run cargo: is Rust installed (rustup.rs)?")?;
        if !output.status.success() {
            bail!(
                "cargo build failed ({}): its messages are above",
                output.status
            );
        }
        // The last artifact that is a `.wasm` of a cdylib: this crate's.
        let stdout = String::from_utf8_lossy(&output.stdout);
        stdout
            .lines()
            .filter_map(|line| serde_json::from_str::<CargoMessage>(line).ok())
            .filter(|message| {
                message.reason == "compiler-artifact"
                    && message.target.kind.iter().any(|k| k == "cdylib")
            })
            .flat_map(|message| message.filenames)
            .rfind(|file| file.extension().is_some_and(|e| e == "wasm"))
            .context(
                "cargo built no .wasm: is the crate a cdylib ([lib] crate-type = [\"cdylib\"])?",
            )
    }
}

/// What `cargo build --message-format=json` says of one artifact (the
/// fields read; other messages do not parse as one).
#[derive(Debug, Deserialize)]
struct CargoMessage {
    reason: String,
    target: CargoTarget,
    filenames: Vec<PathBuf>,
}

#[derive(Debug, Deserialize)]
struct CargoTarget {
    kind: Vec<String>,
}

/// Runs `command` in the foreground, what it prints on standard error
/// (standard output is `build`'s own: `-o json`); an error naming `what`
/// when it fails.
fn run(command: &mut Command, what: &str) -> anyhow::Result<()> {
    let status = command
        .stdin(Stdio::null())
        .stdout(std::io::stderr())
        .status()
        .map_err(|e| anyhow::anyhow!("cannot run {what}: {e}"))?;
    if !status.success() {
        bail!("{what} failed ({status}): its messages are above");
    }
    Ok(())
}

/// What `build` made.
#[derive(Debug, Serialize)]
pub struct Built {
    /// `build/NAME.wasm`, in the project's folder.
    pub path: String,
    /// Its size.
    pub bytes: usize,
    /// Its digest, `sha256:…`.
    pub digest: String,
    /// The developer key that signed it.
    pub issuer: String,
    /// What its claims grant.
    pub capabilities: Vec<String>,
}

/// `lattice-ctl build [DIR]`.
pub fn build(dir: &Path, format: Format) -> anyhow::Result<()> {
    let project = Project::load(dir)?;
    let built = build_signed(&project)?;
    let claimed = if built.capabilities.is_empty() {
        "no capabilities".to_string()
    } else {
        built.capabilities.join(", ")
    };
    crate::lattice::done(
        format,
        &built,
        &format!(
            "built {}: {} bytes, {}, signed by {} for {claimed}",
            built.path, built.bytes, built.digest, built.issuer
        ),
    )
}

/// Builds `project` and signs what the toolchain wrote into
/// `build/NAME.wasm`; nothing is written there when the build fails.
///
/// # Errors
///
/// The toolchain fails (its messages shown), or the component cannot be
/// read or signed.
pub fn build_signed(project: &Project) -> anyhow::Result<Built> {
    let component = project.compile()?;
    let wasm = std::fs::read(&component)
        .with_context(|| format!("cannot read what the build wrote, {}", component.display()))?;
    let capabilities = lattice_host::claimable_imports(&wasm)
        .map_err(|e| anyhow::anyhow!("{}: {e}", component.display()))?;
    let issuer = super::keys::developer_key()?;
    let subject = super::keys::module_key(project)?;
    let signed = sign_component(
        &wasm,
        &issuer,
        &subject,
        &ComponentSigning {
            name: Some(project.name.clone()),
            ver: None,
            rev: None,
            tags: Vec::new(),
            capabilities: capabilities.clone(),
            not_before: None,
            expires: None,
        },
    )
    .with_context(|| format!("cannot sign {}", component.display()))?;
    let destination = project.dir.join(project.signed_component());
    std::fs::create_dir_all(project.dir.join("build"))
        .with_context(|| format!("cannot create {}/build", project.dir.display()))?;
    crate::output::write_replacing(&destination, &signed.wasm)
        .with_context(|| format!("cannot write {}", destination.display()))?;
    Ok(Built {
        path: project.signed_component(),
        bytes: signed.wasm.len(),
        digest: lattice_oci::reference::sha256_digest(&signed.wasm),
        issuer: issuer.public_key(),
        capabilities,
    })
}
