//! The walk-throughs of the README and the book, run as written.
//!
//! Each walk-through (a part of a page between `<!-- walkthrough … -->`
//! and `<!-- /walkthrough -->`, see `lattice_tests::walkthrough`) runs
//! from a fresh directory against a fresh NATS server it starts itself, as
//! a reader would: its commands with this workspace's binaries, its
//! console blocks compared with what the commands print. A page that
//! drifts from the binaries fails here.

use std::path::{Path, PathBuf};

use lattice_tests::fixtures;
use lattice_tests::walkthrough::{self, matches, replace_ports};

/// A folder of the programs walk-throughs call by name: this workspace's
/// binaries and the NATS server the tests run.
fn programs(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for name in ["lattice-host", "lattice-ctl"] {
        std::os::unix::fs::symlink(fixtures::binary(name), bin.join(name)).unwrap();
    }
    let nats = std::env::var("LATTICE_TEST_NATS_SERVER").ok().or_else(|| {
        let found = std::process::Command::new("bash")
            .args(["-c", "command -v nats-server"])
            .output()
            .ok()?;
        found
            .status
            .success()
            .then(|| String::from_utf8_lossy(&found.stdout).trim().to_string())
    });
    let nats = nats.expect("nats-server on PATH or in LATTICE_TEST_NATS_SERVER");
    std::os::unix::fs::symlink(nats, bin.join("nats-server")).unwrap();
    bin
}

#[test]
fn every_walkthrough_runs_as_written() {
    let root = fixtures::repo_root();
    let dir = tempfile::tempdir().unwrap();
    let bin = programs(dir.path());
    let mut ran = Vec::new();
    for page in fixtures::documents() {
        let text = std::fs::read_to_string(&page).unwrap();
        for walkthrough in walkthrough::parse(&text) {
            walkthrough.run(&root, &bin);
            ran.push(format!(
                "{}#{}",
                page.strip_prefix(&root).unwrap().display(),
                walkthrough.name
            ));
        }
    }
    // The README's walk-through at least: a header lost by an edit would
    // otherwise skip it silently.
    assert!(
        ran.iter().any(|r| r.starts_with("README.md#")),
        "walk-throughs run: {ran:?}"
    );
}

#[test]
fn output_matches_with_host_ids_placeholders_and_host_order() {
    let id_a = format!("N{}", "A".repeat(55));
    let id_b = format!("N{}", "B".repeat(55));
    let expected = vec![
        " HOST ID   UPTIME S".to_string(),
        format!(" {id_a}  [..]  zone=west"),
        format!(" {id_b}  [..]  zone=east"),
        "...".to_string(),
        "done".to_string(),
    ];
    // Other ids, the other order, lines skipped by `...`.
    let (id_c, id_d) = (
        format!("N{}", "C".repeat(55)),
        format!("N{}", "D".repeat(55)),
    );
    let printed =
        format!(" HOST ID   UPTIME S\n {id_c}  3  zone=east\n {id_d}  3  zone=west\nnoise\ndone\n");
    assert_eq!(matches(&expected, &printed), Ok(()));
    let one_zone =
        format!(" HOST ID   UPTIME S\n {id_c}  3  zone=east\n {id_d}  3  zone=east\ndone\n");
    assert!(matches(&expected, &one_zone).is_err());
    let missing = " HOST ID   UPTIME S\n".to_string();
    assert!(matches(&expected, &missing).is_err());
    let more = format!("{printed}extra\n");
    assert!(matches(&expected, &more).is_err());
}

#[test]
fn documented_ports_are_replaced_as_whole_numbers() {
    assert_eq!(
        replace_ports(
            "nats://127.0.0.1:4222 42220 :8080/",
            &[(4222, 5), (8080, 6)]
        ),
        "nats://127.0.0.1:5 42220 :6/"
    );
}
