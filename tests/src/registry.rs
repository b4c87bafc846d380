//! A real OCI registry (the CNCF Distribution registry, Debian's
//! `docker-registry`) on a free port, killed when dropped: plain HTTP, or
//! TLS with htpasswd logins and a CA made for the test.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use crate::{free_port, wait_for};

/// A running registry.
pub struct RegistryServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    ca: Option<PathBuf>,
}

/// A login the TLS registry accepts.
pub const USER: &str = "lattice";
/// Its password.
pub const PASSWORD: &str = "correct horse battery staple";

impl RegistryServer {
    /// A registry over plain HTTP with no logins.
    pub fn start() -> Self {
        Self::start_with(false)
    }

    /// A registry over TLS (a certificate for 127.0.0.1 and localhost,
    /// signed by [`Self::ca_file`]) that accepts only [`USER`] and
    /// [`PASSWORD`].
    pub fn start_tls_with_login() -> Self {
        Self::start_with(true)
    }

    fn start_with(tls: bool) -> Self {
        let dir = tempfile::tempdir().expect("a temp dir for the registry");
        let port = free_port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        let ca = tls.then(|| {
            let (ca, cert, key) = crate::tls::make_certificates(dir.path());
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            ));
            let htpasswd = dir.path().join("htpasswd");
            let hash = bcrypt::hash(PASSWORD, 5).expect("a bcrypt hash");
            std::fs::write(&htpasswd, format!("{USER}:{hash}\n")).expect("htpasswd written");
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: lattice-test\n    path: {}\n",
                htpasswd.display()
            ));
            ca
        });
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).expect("registry config written");
        // The access log goes to standard output, the rest to standard error.
        let log = std::fs::File::create(dir.path().join("registry.log")).expect("a log file");
        let access = std::fs::File::create(dir.path().join("access.log")).expect("a log file");
        let child = Command::new(binary())
            .arg("serve")
            .arg(&config_path)
            .stdout(access)
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start the registry ({e}): run ./scripts/test, or `apt-get install docker-registry`")
            });
        let server = Self {
            child,
            port,
            dir,
            ca,
        };
        wait_for("the registry to listen", Duration::from_secs(20), || {
            TcpStream::connect(("127.0.0.1", port)).ok().map(drop)
        });
        server
    }

    /// `127.0.0.1:PORT`: the registry part of a reference.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `ADDRESS/name`.
    pub fn reference(&self, name: &str) -> String {
        format!("{}/{name}", self.address())
    }

    /// The CA file of a TLS registry.
    pub fn ca_file(&self) -> &Path {
        self.ca.as_deref().expect("a TLS registry")
    }

    /// The registry's storage folder, to corrupt content in tests.
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// How many times a blob with `digest` was downloaded (a `GET` of it
    /// answered 200 or 307, in the registry's access log).
    pub fn blob_downloads(&self, digest: &str) -> usize {
        let path = format!("/blobs/{digest}");
        std::fs::read_to_string(self.dir.path().join("access.log"))
            .unwrap_or_default()
            .lines()
            .filter(|line| line.contains("\"GET ") && line.contains(&path))
            .filter(|line| line.contains("\" 200 ") || line.contains("\" 307 "))
            .count()
    }

    /// Stops the registry.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RegistryServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn binary() -> &'static str {
    if Path::new("/usr/bin/docker-registry").exists() {
        "/usr/bin/docker-registry"
    } else {
        "registry"
    }
}
