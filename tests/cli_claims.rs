//! `lattice-ctl keys` and `claims`: the signing walk-through of the README.
//!
//! An operator makes an account key, signs the hello actor with it, reads
//! the claims back, and runs the signed actor on a host that trusts only
//! that account, with no dev flag. The tests run the real binary and read
//! its JSON output and exit codes.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use lattice_tests::process::{lattice_ctl, printed_url};
use lattice_tests::{fixtures, hosts, http_client};

fn ctl(args: &[&str]) -> Output {
    lattice_ctl().args(args).output().unwrap()
}

/// `lattice-ctl up` of `manifest` on a host that runs only what
/// `account_key` signed.
fn up_trusting(account_key: &str, manifest: &Path) -> Command {
    let mut command = lattice_ctl();
    command
        .args(["up", "--no-cache", "--allowed-issuer", account_key])
        .arg(manifest);
    command
}

/// A new account seed in `dir/account.nk`, made by `keys gen`.
fn account_seed(dir: &Path) -> std::path::PathBuf {
    let seed = dir.join("account.nk");
    assert!(ctl(&[
        "keys",
        "gen",
        "account",
        "--seed-file",
        seed.to_str().unwrap()
    ])
    .status
    .success());
    seed
}

fn json(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn keys_gen_and_inspect_agree_and_inspect_never_prints_the_seed() {
    for kind in ["account", "module", "service", "server", "cluster", "user"] {
        let generated = json(&ctl(&["keys", "gen", kind, "-o", "json"]));
        let public_key = generated["public_key"].as_str().unwrap();
        let seed = generated["seed"].as_str().unwrap();
        assert!(seed.starts_with('S'));
        let inspected = ctl(&["keys", "inspect", seed, "-o", "json"]);
        assert!(!String::from_utf8_lossy(&inspected.stdout).contains(seed));
        let inspected = json(&inspected);
        assert_eq!(inspected["public_key"], public_key);
        assert_eq!(inspected["kind"], kind);
    }
    // A seed file: only its owner can read it, it is never overwritten,
    // and its public key is one command away, for scripts.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cluster.nk");
    let file_arg = file.to_str().unwrap();
    let made = json(&ctl(&[
        "keys",
        "gen",
        "cluster",
        "--seed-file",
        file_arg,
        "-o",
        "json",
    ]));
    assert!(made.get("seed").is_none(), "{made}");
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let key = ctl(&["keys", "inspect", file_arg, "--public-key"]);
    assert_eq!(
        String::from_utf8_lossy(&key.stdout).trim(),
        made["public_key"].as_str().unwrap()
    );
    // Asked again, it keeps the file and its key, and says so; a file of
    // another kind of key, or of no key, is refused.
    let seed = std::fs::read_to_string(&file).unwrap();
    let again = ctl(&[
        "keys",
        "gen",
        "cluster",
        "--seed-file",
        file_arg,
        "-o",
        "json",
    ]);
    assert!(again.status.success(), "{again:?}");
    assert_eq!(json(&again)["public_key"], made["public_key"]);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        seed,
        "a seed file was overwritten"
    );
    assert!(
        String::from_utf8_lossy(&again.stderr)
            .contains("holds a key of kind cluster already: kept"),
        "{again:?}"
    );
    let other_kind = ctl(&["keys", "gen", "account", "--seed-file", file_arg]);
    assert_eq!(
        String::from_utf8_lossy(&other_kind.stderr).trim(),
        format!("error: {file_arg}: holds a key of kind cluster, not account; name another file")
    );
    let not_a_seed = dir.path().join("notes.txt");
    std::fs::write(&not_a_seed, "shopping list").unwrap();
    let refused = ctl(&[
        "keys",
        "gen",
        "cluster",
        "--seed-file",
        not_a_seed.to_str().unwrap(),
    ]);
    assert!(!refused.status.success());
    assert_eq!(
        std::fs::read_to_string(&not_a_seed).unwrap(),
        "shopping list"
    );

    let bad = ctl(&["keys", "gen", "wizard"]);
    assert!(!bad.status.success());
    let bad = ctl(&["keys", "inspect", "SAnotaseed"]);
    assert_eq!(
        String::from_utf8_lossy(&bad.stderr).trim(),
        "error: not an nkeys seed (S…) or a file holding one"
    );
}

#[test]
fn sign_inspect_and_run_a_signed_actor_without_the_dev_flag() {
    let dir = tempfile::tempdir().unwrap();
    let account = json(&ctl(&["keys", "gen", "account", "-o", "json"]));
    let seed_file = dir.path().join("account.nk");
    std::fs::write(&seed_file, account["seed"].as_str().unwrap()).unwrap();
    let account_key = account["public_key"].as_str().unwrap();
    let signed = dir.path().join("hello_s.wasm");

    let output = ctl(&[
        "claims",
        "sign",
        fixtures::wasm("hello").to_str().unwrap(),
        "-d",
        signed.to_str().unwrap(),
        "--issuer",
        seed_file.to_str().unwrap(),
        "--name",
        "hello",
        "--ver",
        "1.0.0",
        "--rev",
        "2",
        "--cap",
        "wasi:keyvalue/store",
        "--expires-in",
        "30d",
        "-o",
        "json",
    ]);
    let sign = json(&output);
    assert_eq!(sign["issuer"], account_key);
    assert!(
        !String::from_utf8_lossy(&output.stdout).contains(account["seed"].as_str().unwrap()),
        "a seed was printed"
    );

    let inspected = json(&ctl(&[
        "claims",
        "inspect",
        signed.to_str().unwrap(),
        "-o",
        "json",
    ]));
    assert_eq!(inspected["issuer"], account_key);
    assert_eq!(inspected["name"], "hello");
    assert_eq!(
        inspected["capabilities"],
        serde_json::json!(["wasi:keyvalue/store"])
    );
    assert_eq!(inspected["valid"], true);
    assert_eq!(inspected["hash"], sign["hash"]);
    let table = ctl(&["claims", "inspect", signed.to_str().unwrap()]);
    assert!(
        String::from_utf8_lossy(&table.stdout).contains("Valid now"),
        "{}",
        String::from_utf8_lossy(&table.stdout)
    );

    // Unsigned input is refused by inspect with a reason.
    let unsigned = ctl(&[
        "claims",
        "inspect",
        fixtures::wasm("hello").to_str().unwrap(),
    ]);
    assert_eq!(unsigned.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unsigned.stderr).contains("not signed"));

    // A host that trusts only this account runs it, with no --allow-unsigned.
    let manifest = dir.path().join("hello.toml");
    std::fs::write(&manifest, hosts::hello_manifest(&signed, "127.0.0.1:0")).unwrap();
    let mut child = up_trusting(account_key, &manifest)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (url, _) = printed_url(&mut child);
    let reply = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(http_client::get(&url));
    assert_eq!(reply.status, 200);
    child.kill().unwrap();
    child.wait().unwrap();

    // The same host refuses the unsigned original, in one line.
    let unsigned_manifest = std::fs::read_to_string(&manifest).unwrap().replace(
        signed.to_str().unwrap(),
        fixtures::wasm("hello").to_str().unwrap(),
    );
    std::fs::write(&manifest, unsigned_manifest).unwrap();
    let refused = up_trusting(account_key, &manifest).output().unwrap();
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("actor \"hello\": ") && stderr.contains("refused: not signed"),
        "{stderr}"
    );
}

#[test]
fn a_bad_allowed_issuer_is_refused_at_the_command_line() {
    let out = ctl(&["up", "--allowed-issuer", "not-a-key"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not an account public key"));
}

#[test]
fn inspect_exits_non_zero_for_claims_not_valid_now_or_a_changed_component() {
    let dir = tempfile::tempdir().unwrap();
    let seed = account_seed(dir.path());
    let seed_arg = seed.to_str().unwrap();
    let later = dir.path().join("later.wasm");
    let signed = ctl(&[
        "claims",
        "sign",
        fixtures::wasm("hello").to_str().unwrap(),
        "-d",
        later.to_str().unwrap(),
        "--issuer",
        seed_arg,
        "--not-before",
        "1h",
    ]);
    assert!(signed.status.success());

    // Not valid yet: shown (also as JSON), and an error.
    let inspected = ctl(&["claims", "inspect", later.to_str().unwrap(), "-o", "json"]);
    assert!(!inspected.status.success());
    let shown: serde_json::Value = serde_json::from_slice(&inspected.stdout).unwrap();
    assert_eq!(shown["valid"], false);
    let stderr = String::from_utf8_lossy(&inspected.stderr);
    assert!(stderr.contains("claims not valid now"), "{stderr}");

    // One byte of the component changed after signing: the reason, one line.
    let mut bytes = std::fs::read(&later).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    let tampered = dir.path().join("tampered.wasm");
    std::fs::write(&tampered, bytes).unwrap();
    let inspected = ctl(&[
        "claims",
        "inspect",
        tampered.to_str().unwrap(),
        "-o",
        "json",
    ]);
    assert!(!inspected.status.success());
    let stderr = String::from_utf8_lossy(&inspected.stderr);
    assert!(stderr.contains("claims refused"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[test]
fn a_signed_provider_binary_is_inspected_from_the_binary_or_its_jwt() {
    let dir = tempfile::tempdir().unwrap();
    let seed = account_seed(dir.path());
    let seed_arg = seed.to_str().unwrap();
    let binary = dir.path().join("lattice-provider-keyvalue");
    std::fs::copy(fixtures::binary("lattice-provider-keyvalue"), &binary).unwrap();
    let binary_arg = binary.to_str().unwrap();
    let signed = ctl(&[
        "claims",
        "sign-provider",
        binary_arg,
        "--issuer",
        seed_arg,
        "--name",
        "keyvalue",
    ]);
    assert!(signed.status.success());

    let target = format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS);
    let jwt = format!("{binary_arg}.jwt");
    for given in [binary_arg, jwt.as_str()] {
        let shown = json(&ctl(&["claims", "inspect", given, "-o", "json"]));
        assert_eq!(
            (&shown["name"], &shown["valid"], &shown["matches_target"]),
            (&"keyvalue".into(), &true.into(), &target.clone().into()),
            "{given}"
        );
        assert!(shown["subject"].as_str().unwrap().starts_with('V'));
    }

    // Changed after signing: shown, and an error naming the cause.
    let mut bytes = std::fs::read(&binary).unwrap();
    bytes.push(0);
    std::fs::write(&binary, bytes).unwrap();
    let inspected = ctl(&["claims", "inspect", binary_arg]);
    assert!(!inspected.status.success());
    let stderr = String::from_utf8_lossy(&inspected.stderr);
    assert!(
        stderr.contains("none of the hashes its claims vouch for"),
        "{stderr}"
    );

    // Neither a component nor signed: said so.
    let plain = dir.path().join("plain");
    std::fs::write(&plain, b"text").unwrap();
    let inspected = ctl(&["claims", "inspect", plain.to_str().unwrap()]);
    assert!(!inspected.status.success());
    let stderr = String::from_utf8_lossy(&inspected.stderr);
    assert!(
        stderr.contains("neither a component nor a signed provider binary"),
        "{stderr}"
    );
}
