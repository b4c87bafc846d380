//! The example actors and guest fixtures, built once per test process by
//! `scripts/build-examples` (the same script the demo uses).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The repository's root folder.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The component file of example or fixture `name` (e.g. `hello`,
/// `http_loop_forever`), built if needed.
pub fn wasm(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| run_script("build-examples"));
    let path = repo_root()
        .join("examples")
        .join("build")
        .join(format!("{name}.wasm"));
    assert!(path.is_file(), "{} was not built", path.display());
    path
}

/// The folder of this test binary's profile (`<target>/debug`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    exe.parent()
        .and_then(Path::parent)
        .expect("test binaries live in <target>/<profile>/deps")
        .to_path_buf()
}

/// Runs `scripts/NAME`, failing the test when it fails. It builds into
/// this test binary's target folder, so what it builds is what runs.
/// `./scripts/test` builds everything before the tests start and says so
/// with `LATTICE_TEST_PREBUILT=1`; then nothing is built again.
fn run_script(name: &str) {
    if std::env::var_os("LATTICE_TEST_PREBUILT").is_some_and(|v| v == "1") {
        return;
    }
    let script = repo_root().join("scripts").join(name);
    let target = profile_dir()
        .parent()
        .expect("a profile folder sits in the target folder")
        .to_path_buf();
    let status = Command::new("bash")
        .arg(&script)
        .env("CARGO_TARGET_DIR", target)
        .status()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(status.success(), "{} failed: {status}", script.display());
}

/// The bytes of [`wasm`]`(name)`.
pub fn wasm_bytes(name: &str) -> Vec<u8> {
    let path = wasm(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Builds every binary of the workspace, once per test process, with
/// `scripts/build-providers` (the script the README runs), which also
/// copies the provider binaries to `examples/build/providers/`.
fn build_binaries() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| run_script("build-providers"));
}

/// The path of workspace binary `name` (`lattice-host`, `lattice-ctl`,
/// `lattice-provider-keyvalue`, ...), built if needed: it sits beside this
/// test binary's `deps/` folder.
pub fn binary(name: &str) -> String {
    build_binaries();
    let path = profile_dir().join(name);
    assert!(path.is_file(), "{} was not built", path.display());
    path.display().to_string()
}

/// The provider binary `name` (e.g. `lattice-provider-keyvalue`) as the
/// README's manifests name it, in `examples/build/providers/`.
pub fn provider_binary(name: &str) -> PathBuf {
    build_binaries();
    let path = repo_root()
        .join("examples")
        .join("build")
        .join("providers")
        .join(name);
    assert!(path.is_file(), "{} was not built", path.display());
    path
}

/// The Markdown files people read: the README, the benchmarks, the book
/// and the deployment's pages, in order.
pub fn documents() -> Vec<PathBuf> {
    let root = repo_root();
    let mut found = vec![root.join("README.md"), root.join("BENCHMARKS.md")];
    let mut folders = vec![root.join("docs"), root.join("deploy")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("a folder of the repository") {
            let path = entry.expect("an entry of the folder").path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}
