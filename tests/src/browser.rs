//! A real headless browser, and the dashboard it looks at.
//!
//! [`Browser`] is Debian's `chromium` driven through `chromedriver`
//! (WebDriver, over plain HTTP on a free port) with a fresh profile; its
//! process group (chromedriver and the browsers it starts) is killed when
//! it drops. [`Dashboard`] is `lattice-ctl ui` on a free port, killed when
//! it drops. `LATTICE_TEST_CHROMEDRIVER` and `LATTICE_TEST_CHROMIUM` pick
//! other binaries.

use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};

/// What to install when the browser is missing.
const INSTALL: &str = "apt-get install chromium chromium-driver (./scripts/test installs them)";

/// A script that says whether the page's dialog is open.
pub const DIALOG_OPEN: &str = "return document.getElementById('confirm').open";

/// A headless chromium under chromedriver.
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    log: std::path::PathBuf,
}

fn binary(variable: &str, default: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| default.to_string())
}

impl Browser {
    /// Starts chromedriver and a headless chromium with a `width` × `height`
    /// window; fails the test with the fix when either is missing.
    pub async fn start(width: u32, height: u32) -> Self {
        let driver_binary = binary("LATTICE_TEST_CHROMEDRIVER", "chromedriver");
        let chromium = binary("LATTICE_TEST_CHROMIUM", "/usr/bin/chromium");
        assert!(
            std::path::Path::new(&chromium).exists(),
            "no {chromium}: {INSTALL}"
        );
        let profile = tempfile::tempdir().expect("a temporary browser profile");
        let log = profile.path().join("chromedriver.log");
        let port = crate::free_port();
        let driver = Command::new(&driver_binary)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: the browsers it starts die with it.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {driver_binary} ({e}): {INSTALL}"));
        crate::wait_for("chromedriver to listen", Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        let args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-crash-reporter".into(),
            "--disable-breakpad".into(),
            "--hide-scrollbars".into(),
            format!("--window-size={width},{height}"),
            format!(
                "--user-data-dir={}",
                profile.path().join("chromium").display()
            ),
        ];
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), "chrome".into());
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "binary": chromium, "args": args }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|e| {
                panic!("chromedriver did not start a chromium session ({e}): {INSTALL}")
            });
        Self {
            client,
            driver,
            _profile: profile,
            log,
        }
    }

    /// Opens `url`.
    pub async fn open(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("the browser cannot open {url}: {e}"));
    }

    /// The element `css` selects, if there is one now.
    pub async fn find_now(&self, css: &str) -> Option<Element> {
        self.client.find(Locator::Css(css)).await.ok()
    }

    /// Waits up to `deadline` for an element `css` selects, polling as
    /// fast as WebDriver answers; the element and how long it took.
    pub async fn wait_for(&self, css: &str, deadline: Duration) -> (Element, Duration) {
        let started = Instant::now();
        loop {
            if let Some(element) = self.find_now(css).await {
                return (element, started.elapsed());
            }
            assert!(
                started.elapsed() < deadline,
                "no element {css} in the page after {deadline:?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Clicks the element `css` selects, waiting up to 5 s for it.
    pub async fn click(&self, css: &str) {
        self.wait_for(css, Duration::from_secs(5))
            .await
            .0
            .click()
            .await
            .unwrap_or_else(|e| panic!("cannot click {css}: {e}"));
    }

    /// Clicks `css` and waits up to 5 s for the page's dialog (a
    /// confirmation or a form) to open.
    pub async fn open_dialog(&self, css: &str) {
        self.click(css).await;
        self.wait_until(
            &format!("the dialog {css} opens"),
            DIALOG_OPEN,
            Duration::from_secs(5),
        )
        .await;
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the
    /// page and returns what it returns.
    pub async fn run(&self, script: &str, args: Vec<serde_json::Value>) -> serde_json::Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed in the page: {e}\n{script}"))
    }

    /// Runs asynchronous `script`, whose last argument is the callback it
    /// calls with its result.
    pub async fn run_async(&self, script: &str, args: Vec<serde_json::Value>) -> serde_json::Value {
        self.client
            .execute_async(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed in the page: {e}\n{script}"))
    }

    /// Waits up to `deadline` until `script` returns `true` in the page.
    pub async fn wait_until(&self, what: &str, script: &str, deadline: Duration) -> Duration {
        let started = Instant::now();
        loop {
            if self.run(script, vec![]).await == serde_json::Value::Bool(true) {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < deadline,
                "timed out after {deadline:?} waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A PNG of the window.
    pub async fn screenshot(&self) -> Vec<u8> {
        self.client
            .screenshot()
            .await
            .unwrap_or_else(|e| panic!("no screenshot: {e}"))
    }

    /// Ends the session (the browser exits), then chromedriver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Ok(log) = std::fs::read_to_string(&self.log) {
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                eprintln!(
                    "--- chromedriver log (last lines) ---\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
        }
        // The whole group: chromedriver and every chromium it started.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.driver.id())])
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// `lattice-ctl ui` serving the dashboard of lattice `default`.
pub struct Dashboard {
    child: Child,
    /// Where it serves, `http://127.0.0.1:PORT/` (`https` with a
    /// certificate).
    pub url: String,
    stderr: crate::process::CapturedStderr,
}

impl Dashboard {
    /// Starts `lattice-ctl ui` for the lattice at `nats_url` on a free
    /// port, with `extra` flags, and waits until it serves.
    pub fn start(nats_url: &str, extra: &[&str]) -> Self {
        let mut child = crate::process::lattice_ctl()
            .args(["ui", "--listen", "127.0.0.1:0", "--nats-url", nats_url])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("lattice-ctl ui starts");
        let stderr = crate::process::CapturedStderr::of(&mut child);
        let (url, _) = crate::process::printed_url(&mut child);
        Self { child, url, stderr }
    }

    /// `http://127.0.0.1:PORT` (no trailing `/`).
    pub fn origin(&self) -> &str {
        self.url.trim_end_matches('/')
    }

    /// `127.0.0.1:PORT`.
    pub fn address(&self) -> &str {
        let origin = self.origin();
        origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"))
            .unwrap_or(origin)
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr.show_if_failing("lattice-ctl ui");
    }
}
