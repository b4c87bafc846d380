//! `lattice-ctl up`: the command the README's quick start runs.
//!
//! A user's first contact is a manifest and this command. A good manifest
//! must print the URL and serve; a bad one must exit non-zero with one line
//! that names the file, the item and the reason, before anything listens.
//! The tests run the real binary and read its exit code and output.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use lattice_tests::http_client::HttpClient;
use lattice_tests::{fixtures, hosts};

fn lattice_ctl() -> Command {
    let mut command = Command::new(lattice_tests::fixtures::binary("lattice-ctl"));
    command
        .env("RUST_LOG", "warn")
        .args(["up", "--no-cache", "--allow-unsigned"]);
    command
}

/// Runs `lattice-ctl up` on a manifest with `text` in `dir`; returns its
/// exit code and stderr.
fn up_fails(dir: &Path, text: &str) -> (Option<i32>, String) {
    let manifest = dir.join("app.toml");
    std::fs::write(&manifest, text).unwrap();
    let output = lattice_ctl()
        .arg(&manifest)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).trim().to_string(),
    )
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
        (hello.replace("kind = \"http-server\"", "kind = \"http-server\"\ncolour = \"red\""), format!("error: {file}:8:1: unknown field `colour`")),
        (hello.replace("id = \"http\"", "id = \"hello\""), format!("error: {file}: provider \"hello\" is declared twice")),
        (hello.replace("target = \"hello\"", "target = \"nobody\""), format!("error: {file}: link http -> nobody wasi:http/incoming-handler: target \"nobody\" is neither an actor nor a provider")),
        (hello.replace("kind = \"http-server\"", "kind = \"ftp\""), format!("error: cannot apply {file}: provider \"http\": unknown kind \"ftp\"")),
        (hello.replace(&fixtures::wasm("hello").display().to_string(), "/nonexistent/x.wasm"), format!("error: cannot apply {file}: actor \"hello\": cannot read /nonexistent/x.wasm")),
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
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("lattice-ctl up ended before printing a URL")
            .unwrap();
        if let Some(rest) = line.trim().strip_prefix("http://") {
            let url = rest.split_whitespace().next().unwrap();
            assert!(line.trim().ends_with("-> hello"), "{line}");
            break format!("http://{url}");
        }
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let reply = runtime.block_on(HttpClient::default().get(&url)).unwrap();
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (200, "Hello from Lattice!\n")
    );

    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let exit = lattice_tests::wait_for(
        "lattice-ctl to exit on SIGTERM",
        Duration::from_secs(20),
        || child.try_wait().unwrap(),
    );
    assert!(exit.success(), "{exit:?}");
}
