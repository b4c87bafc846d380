//! `lattice-ctl up`: the command the README's quick start runs.
//!
//! A user's first contact is a manifest and this command. A good manifest
//! must print the URL and serve; a bad one must exit non-zero with one line
//! that names the file, the item and the reason, before anything listens.
//! The tests run the real binary and read its exit code and output.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use lattice_tests::process::{self, printed_url, terminate_and_wait};
use lattice_tests::{fixtures, hosts, http_client};

/// `lattice-ctl up` for development: no compile cache, unsigned actors run.
fn lattice_ctl() -> Command {
    let mut command = process::lattice_ctl();
    command.args(["up", "--no-cache", "--allow-unsigned"]);
    command
}

/// Runs `lattice-ctl up` on a manifest with `text` in `dir`; returns its
/// exit code and stderr.
fn up_fails(dir: &Path, text: &str) -> (Option<i32>, String) {
    let manifest = dir.join("app.toml");
    std::fs::write(&manifest, text).unwrap();
    let mut child = lattice_ctl()
        .arg(&manifest)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A manifest that should fail but does not would run for ever: it
    // fails the test after 60 s instead.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("lattice-ctl up kept running on a manifest it should refuse:\n{text}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status.code(), stderr.trim().to_string())
}

fn hello_manifest(wasm: &Path) -> String {
    hosts::hello_manifest(wasm, "127.0.0.1:0")
}

#[test]
fn bad_manifests_exit_non_zero_with_one_line_naming_file_item_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.toml").display().to_string();
    let hello = hello_manifest(&fixtures::wasm("hello"));
    let not_wasm = dir.path().join("notes.wasm");
    std::fs::write(&not_wasm, "just text").unwrap();
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();

    let cases: Vec<(String, String)> = vec![
        (hello.replace("reference = \"http-server\"", "reference = \"http-server\"\ncolour = \"red\""), format!("error: {file}:8:1: unknown field `colour`")),
        (hello.replace("id = \"http\"", "id = \"hello\""), format!("error: {file}: provider \"hello\" is declared twice")),
        (hello.replace("target = \"hello\"", "target = \"nobody\""), format!("error: {file}: link http -> nobody wasi:http/incoming-handler: target \"nobody\" is neither an actor nor a provider")),
        (hello.replace("reference = \"http-server\"", "reference = \"ftp\""), format!("error: cannot apply {file}: provider \"http\": unknown provider \"ftp\"")),
        // The old spelling of `reference` reads the same.
        (hello.replace("reference = \"http-server\"", "kind = \"ftp\""), format!("error: cannot apply {file}: provider \"http\": unknown provider \"ftp\"")),
        (hello.replace(&fixtures::wasm("hello").display().to_string(), "/nonexistent/x.wasm"), format!("error: {file}: actor \"hello\": cannot read /nonexistent/x.wasm: No such file or directory")),
        (hello.replace(&fixtures::wasm("hello").display().to_string(), &not_wasm.display().to_string()), format!("error: cannot apply {file}: actor \"hello\": {} is not a WebAssembly file", not_wasm.display())),
        (hello.replace(&fixtures::wasm("hello").display().to_string(), &core.display().to_string()), format!("error: cannot apply {file}: actor \"hello\": {} is a core WebAssembly module, not a component", core.display())),
        ("this is = not toml [".to_string(), format!("error: {file}:1:")),
    ];
    for (text, expected) in cases {
        let (code, stderr) = up_fails(dir.path(), &text);
        assert_eq!(code, Some(1), "{expected}\n{stderr}");
        assert!(
            stderr.starts_with(&expected),
            "expected {expected:?}\n     got {stderr:?}"
        );
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}

#[test]
fn up_prints_the_url_serves_hello_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("hello.toml");
    std::fs::write(&manifest, hello_manifest(&fixtures::wasm("hello"))).unwrap();
    let mut child = lattice_ctl()
        .arg(&manifest)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (url, line) = printed_url(&mut child);
    assert!(line.trim().ends_with("-> hello"), "{line}");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let reply = runtime.block_on(http_client::get(&url));
    reply.assert_answer(200, "Hello from Lattice!\n");

    let exit = terminate_and_wait(&mut child, "lattice-ctl", Duration::from_secs(20));
    assert!(exit.success(), "{exit:?}");
}

#[test]
fn boolean_settings_from_the_environment_take_1_0_yes_and_no() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("hello.toml");
    std::fs::write(&manifest, hello_manifest(&fixtures::wasm("hello"))).unwrap();
    // Without the flag: `LATTICE_ALLOW_UNSIGNED=1` runs the unsigned actor…
    let mut child = process::lattice_ctl()
        .args(["up", "--no-cache"])
        .arg(&manifest)
        .env("LATTICE_ALLOW_UNSIGNED", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (url, _) = printed_url(&mut child);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime
        .block_on(http_client::get(&url))
        .assert_answer(200, "Hello from Lattice!\n");
    terminate_and_wait(&mut child, "lattice-ctl", Duration::from_secs(20));
    // …and `no` refuses it, as without the variable.
    let refused = process::lattice_ctl()
        .args(["up", "--no-cache"])
        .arg(&manifest)
        .env("LATTICE_ALLOW_UNSIGNED", "no")
        .env("LATTICE_NO_CACHE", "yes")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("not signed"), "{stderr}");
}
