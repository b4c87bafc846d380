//! Stamps the build: `LATTICE_BUILD_COMMIT` and `LATTICE_BUILD_DATE`, set
//! by `scripts/release`, `scripts/install` and `scripts/image` from the
//! checkout, reach the binaries' `--version` and the hosts' heartbeats.
//! Without them the build says it is a development build (reading git
//! here would rebuild the host on every commit).

/// One short token, whatever the environment held.
fn token(name: &str) -> String {
    println!("cargo:rerun-if-env-changed={name}");
    std::env::var(name)
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == ':')
        .take(40)
        .collect()
}

fn main() {
    let commit = token("LATTICE_BUILD_COMMIT");
    let date = token("LATTICE_BUILD_DATE");
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let long = match (commit.is_empty(), date.is_empty()) {
        (true, _) => format!("{version} (development build)"),
        (false, true) => format!("{version} (commit {commit})"),
        (false, false) => format!("{version} (commit {commit}, built {date})"),
    };
    println!("cargo:rustc-env=LATTICE_BUILD_COMMIT={commit}");
    println!("cargo:rustc-env=LATTICE_BUILD_DATE={date}");
    println!("cargo:rustc-env=LATTICE_LONG_VERSION={long}");
}
