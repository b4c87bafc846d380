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

/// Runs `scripts/NAME`, failing the test when it fails.
fn run_script(name: &str) {
    let script = repo_root().join("scripts").join(name);
    let status = Command::new("bash")
        .arg(&script)
        .status()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(status.success(), "{} failed: {status}", script.display());
}

/// The bytes of [`wasm`]`(name)`.
pub fn wasm_bytes(name: &str) -> Vec<u8> {
    let path = wasm(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The provider binary `name` (e.g. `lattice-provider-keyvalue`), built
/// once per test process into `examples/build/providers/` by
/// `scripts/build-providers`, the script the README runs.
pub fn provider_binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| run_script("build-providers"));
    let path = repo_root()
        .join("examples")
        .join("build")
        .join("providers")
        .join(name);
    assert!(path.is_file(), "{} was not built", path.display());
    path
}
