//! The developer's first minutes: `lattice-ctl new KIND NAME` for each
//! template, then `lattice-ctl build` in the project, as a new user runs
//! them. Each build must give a component signed with the developer's key
//! (made on first use, mode 600) and the claims its imports need, which a
//! host that enforces signing (`up --allowed-issuer KEY`, no
//! `--allow-unsigned`) runs and serves. Bad names, unknown templates and a
//! folder that is not a project are refused in one line.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use lattice_tests::nats::NatsServer;
use lattice_tests::process::{self, printed_url, terminate_and_wait, PrintedLines};
use lattice_tests::{free_port, http_client};

/// A new user: a home of their own (the developer key lives under its
/// config folder), and the tools the templates build with.
struct Developer {
    home: tempfile::TempDir,
}

impl Developer {
    fn new() -> Self {
        Self {
            home: tempfile::tempdir().unwrap(),
        }
    }

    /// `lattice-ctl ARGS` in `dir`, as this user, to the end.
    fn ctl(&self, dir: &Path, args: &[&str]) -> Output {
        self.command(dir, args).output().unwrap()
    }

    /// `lattice-ctl ARGS` in `dir`, as this user.
    fn command(&self, dir: &Path, args: &[&str]) -> Command {
        let mut command = process::lattice_ctl();
        command
            .args(args)
            .current_dir(dir)
            .env("XDG_CONFIG_HOME", self.home.path().join("config"))
            .env("PATH", tool_path());
        // Template crates build apart from the workspace, their
        // dependencies compiled once for every run of the suite.
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| self.home.path().join("target"), PathBuf::from)
            .join("templates");
        command.env("CARGO_TARGET_DIR", target);
        command
    }

    fn key_file(&self) -> PathBuf {
        self.home.path().join("config/lattice/developer.nk")
    }

    /// The developer key's public key, as `keys inspect` prints it.
    fn public_key(&self) -> String {
        let key = self.key_file();
        let out = self.ctl(
            self.home.path(),
            &["keys", "inspect", "--public-key", key.to_str().unwrap()],
        );
        String::from_utf8_lossy(&succeeded(&out)).trim().to_string()
    }

    /// `new KIND NAME` in the home folder, then `build` in the project:
    /// the project's folder.
    fn new_and_build(&self, kind: &str, name: &str) -> PathBuf {
        succeeded(&self.ctl(self.home.path(), &["new", kind, name]));
        let project = self.home.path().join(name);
        let built = self.ctl(&project, &["build", "-o", "json"]);
        let stdout = succeeded(&built);
        let built: serde_json::Value = serde_json::from_slice(&stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&stdout)));
        assert_eq!(built["path"], format!("build/{name}.wasm"));
        assert!(
            built["digest"].as_str().unwrap().starts_with("sha256:"),
            "{built}"
        );
        assert_eq!(built["issuer"], self.public_key());
        project
    }

    /// `lattice-ctl up --allowed-issuer KEY app.toml` in `project`, its
    /// address moved to a free port; the child and the URL it serves.
    fn up(&self, project: &Path) -> (Child, String) {
        serve_on_a_free_port(project);
        let mut child = process::lattice_ctl()
            .args(["up", "--no-cache", "--allowed-issuer", &self.public_key()])
            .arg(project.join("app.toml"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (url, _) = printed_url(&mut child);
        (child, url)
    }
}

/// Moves the address `project`'s `app.toml` serves on (127.0.0.1:8080) to
/// a free port; the port.
fn serve_on_a_free_port(project: &Path) -> u16 {
    let manifest = project.join("app.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let port = free_port();
    std::fs::write(
        &manifest,
        text.replace("127.0.0.1:8080", &format!("127.0.0.1:{port}")),
    )
    .unwrap();
    port
}

/// The folders the tools come from: PATH, and componentize-py's where
/// `./scripts/test` installed it.
fn tool_path() -> String {
    let mut path = std::env::var("PATH").unwrap_or_default();
    if let Some(componentize) = std::env::var_os("LATTICE_TEST_COMPONENTIZE_PY") {
        let dir = Path::new(&componentize)
            .parent()
            .unwrap()
            .display()
            .to_string();
        path = format!("{dir}:{path}");
    }
    path
}

fn succeeded(output: &Output) -> Vec<u8> {
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout.clone()
}

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_http_template_builds_signed_and_serves_on_a_host_that_enforces_signing() {
    let developer = Developer::new();
    for (kind, name, path, answer) in [
        (
            "rust-http",
            "greeter",
            "hello",
            "Hello from greeter! You asked for /hello\n",
        ),
        ("rust-kv-counter", "counter", "visits", "1\n"),
        (
            "python-http",
            "pygreeter",
            "hi",
            "Hello from pygreeter! You asked for /hi\n",
        ),
    ] {
        let project = developer.new_and_build(kind, name);
        let (mut host, url) = developer.up(&project);
        http_client::get(&format!("{url}{path}"))
            .await
            .assert_answer(200, answer);
        terminate_and_wait(&mut host, "lattice-ctl up", Duration::from_secs(20));
    }
    // The developer key was made once, readable by its owner alone.
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(developer.key_file())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_messaging_template_answers_requests_and_claims_what_it_imports() {
    let nats = NatsServer::start();
    let developer = Developer::new();
    let project = developer.new_and_build("rust-messaging", "echoer");
    // Claims inferred from the imports: the consumer, nothing else.
    let inspected = developer.ctl(
        &project,
        &["claims", "inspect", "build/echoer.wasm", "-o", "json"],
    );
    let claims: serde_json::Value = serde_json::from_slice(&succeeded(&inspected)).unwrap();
    assert!(
        claims.to_string().contains("wasmcloud:messaging/consumer"),
        "{claims}"
    );
    let manifest = project.join("app.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace("nats://127.0.0.1:4222", &nats.url()),
    )
    .unwrap();
    let mut host = process::lattice_ctl()
        .args([
            "up",
            "--no-cache",
            "--allowed-issuer",
            &developer.public_key(),
        ])
        .arg(&manifest)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    PrintedLines::of(&mut host)
        .wait_for("Press Ctrl-C", Duration::from_secs(60))
        .expect("lattice-ctl up serves");
    // The provider subscribes in the background: ask until it answers.
    let answer = lattice_tests::wait_for("echoer to answer", Duration::from_secs(20), || {
        let out = process::ctl_at(&nats.url(), &["msg", "request", "echoer.hi", "hello"]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    });
    assert_eq!(answer, "echoer: hello");
    terminate_and_wait(&mut host, "lattice-ctl up", Duration::from_secs(20));
}

#[test]
fn bad_names_unknown_templates_and_non_projects_are_refused_in_one_line() {
    let developer = Developer::new();
    let home = developer.home.path();
    let bad = developer.ctl(home, &["new", "rust-http", "Bad_Name"]);
    assert!(!bad.status.success());
    assert_eq!(
        stderr_of(&bad),
        "error: \"Bad_Name\" is not a project name: lowercase letters, digits and `-`, starting with a letter, at most 64"
    );
    let unknown = developer.ctl(home, &["new", "cobol-http", "x"]);
    assert_eq!(
        stderr_of(&unknown),
        "error: no template \"cobol-http\": the templates are rust-http, rust-kv-counter, rust-messaging, python-http (lattice-ctl new --list)"
    );
    // A folder in the way is not written into.
    std::fs::create_dir(home.join("taken")).unwrap();
    std::fs::write(home.join("taken/notes.txt"), "mine").unwrap();
    let taken = developer.ctl(home, &["new", "rust-http", "taken"]);
    assert!(
        stderr_of(&taken).contains("taken exists and is not empty"),
        "{taken:?}"
    );
    assert_eq!(std::fs::read_dir(home.join("taken")).unwrap().count(), 1);
    // `build` outside a project, and in one whose lattice.toml is wrong.
    let nowhere = developer.ctl(home, &["build"]);
    assert!(
        stderr_of(&nowhere).contains("lattice.toml: cannot be read: is this a project"),
        "{nowhere:?}"
    );
    std::fs::create_dir(home.join("odd")).unwrap();
    std::fs::write(
        home.join("odd/lattice.toml"),
        "[project]\nname = \"odd\"\nlanguage = \"cobol\"\n",
    )
    .unwrap();
    let odd = developer.ctl(&home.join("odd"), &["build"]);
    assert!(
        stderr_of(&odd).contains("language \"cobol\" is not one `build` knows"),
        "{odd:?}"
    );
    // `new --list` names every template.
    let listed = String::from_utf8(succeeded(&developer.ctl(home, &["new", "--list"]))).unwrap();
    for kind in [
        "rust-http",
        "rust-kv-counter",
        "rust-messaging",
        "python-http",
    ] {
        assert!(listed.contains(kind), "{listed}");
    }
    // A build that fails says so, and leaves no component.
    succeeded(&developer.ctl(home, &["new", "rust-http", "broken"]));
    std::fs::write(home.join("broken/src/lib.rs"), "this is not rust").unwrap();
    let failed = developer.ctl(&home.join("broken"), &["build"]);
    assert!(!failed.status.success());
    assert!(
        stderr_of(&failed)
            .ends_with("error: cargo build failed (exit status: 101): its messages are above"),
        "{failed:?}"
    );
    assert!(!home.join("broken/build/broken.wasm").exists());
}

/// `lattice-ctl dev` on a new rust-http project under a steady load: an
/// edit is built and swapped in with no request failing, and the new body
/// is served; a broken edit shows the compiler's error and the last good
/// build serves on. Each request is printed as it happens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_swaps_an_edit_under_load_with_no_failed_request_and_survives_a_broken_one() {
    let developer = Developer::new();
    let home = developer.home.path();
    succeeded(&developer.ctl(home, &["new", "rust-http", "live"]));
    let project = home.join("live");
    let port = serve_on_a_free_port(&project);
    let mut dev = developer.command(&project, &["dev"]);
    let mut child = dev
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("RUST_LOG")
        .spawn()
        .unwrap();
    let stderr = process::CapturedStderr::of(&mut child);
    let printed = PrintedLines::of(&mut child);
    printed
        .wait_for("Press Ctrl-C", Duration::from_secs(180))
        .expect("lattice-ctl dev serves");
    let url = format!("http://127.0.0.1:{port}/load");

    // A steady load: one request after another, each answer kept.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = tokio::spawn({
        let (stop, url) = (stop.clone(), url.clone());
        async move {
            let client = http_client::HttpClient::default();
            let mut answers: Vec<(u16, String)> = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let answer = match client.get(&url).await {
                    Ok(reply) => (reply.status, reply.body),
                    Err(error) => (0, error.to_string()),
                };
                answers.push(answer);
            }
            answers
        }
    });
    let source = project.join("src/lib.rs");
    let original = std::fs::read_to_string(&source).unwrap();
    std::fs::write(&source, original.replace("Hello from", "Howdy from")).unwrap();
    let edited = std::time::Instant::now();
    let client = http_client::HttpClient::default();
    lattice_tests::eventually_within(
        "the edit to be served",
        Duration::from_secs(120),
        async || {
            let reply = client.get(&url).await.ok()?;
            reply.body.starts_with("Howdy from live!").then_some(())
        },
    )
    .await;
    eprintln!(
        "the edit was served {:?} after the file was written",
        edited.elapsed()
    );
    // A broken edit: the error is shown, the last good build serves on.
    std::fs::write(&source, format!("{original}\nthis is not rust\n")).unwrap();
    lattice_tests::wait_for(
        "the broken build to be reported",
        Duration::from_secs(120),
        || {
            stderr
                .has_line(&["build failed: cargo build failed"])
                .then_some(())
        },
    );
    assert!(
        stderr.has_line(&["error", "expected"]),
        "the compiler's message is shown"
    );
    client
        .get_reply(&url)
        .await
        .assert_answer(200, "Howdy from live! You asked for /load\n");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let answers = load.await.unwrap();
    let failed: Vec<&(u16, String)> = answers
        .iter()
        .filter(|(status, _)| *status != 200)
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {failed:?}",
        failed.len(),
        answers.len()
    );
    let bodies: std::collections::BTreeSet<&str> =
        answers.iter().map(|(_, body)| body.as_str()).collect();
    // The load spanned the swap: both bodies were served.
    for body in ["Hello", "Howdy"] {
        let body = format!("{body} from live! You asked for /load\n");
        assert!(bodies.contains(body.as_str()), "{bodies:?}");
    }
    eprintln!("{} requests under load, none failed", answers.len());
    assert!(
        bodies
            .iter()
            .all(|b| b.ends_with("from live! You asked for /load\n")),
        "{bodies:?}"
    );
    // What dev printed: the swap with its time, and each request.
    let lines = printed.lines();
    assert!(
        lines.iter().any(|l| l.starts_with("swapped live (sha256:")),
        "{lines:?}"
    );
    assert!(stderr.has_line(&["GET /load -> 200 in"]));
    terminate_and_wait(&mut child, "lattice-ctl dev", Duration::from_secs(20));
}

/// `dev --nats-url`: the project's host joins the lattice, labelled so no
/// app is placed on it; its link is in the lattice's state while it runs
/// (and gone when it stops), it serves, and `logs` reaches its actor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_with_a_nats_url_joins_the_lattice_and_takes_its_links_away_on_exit() {
    let nats = NatsServer::start();
    let developer = Developer::new();
    let home = developer.home.path();
    succeeded(&developer.ctl(home, &["new", "rust-http", "joined"]));
    let project = home.join("joined");
    let port = serve_on_a_free_port(&project);
    let mut child = developer
        .command(&project, &["dev", "--nats-url", &nats.url()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _stderr = process::CapturedStderr::of(&mut child);
    let printed = PrintedLines::of(&mut child);
    printed
        .wait_for("Press Ctrl-C", Duration::from_secs(180))
        .expect("lattice-ctl dev serves");
    assert!(
        printed
            .lines()
            .iter()
            .any(|l| l.contains("joined lattice default at nats://")),
        "{:?}",
        printed.lines()
    );
    http_client::HttpClient::default()
        .get_reply(&format!("http://127.0.0.1:{port}/there"))
        .await
        .assert_answer(200, "Hello from joined! You asked for /there\n");

    let links = process::succeeded(&process::ctl_at(
        &nats.url(),
        &["get", "links", "-o", "json"],
    ));
    assert!(
        links.contains(r#""target":"joined""#) || links.contains(r#""target": "joined""#),
        "{links}"
    );
    let hosts = process::succeeded(&process::ctl_at(
        &nats.url(),
        &["get", "hosts", "-o", "json"],
    ));
    assert!(hosts.contains("lattice.draining"), "{hosts}");
    let logs = process::ctl_at(&nats.url(), &["logs", "joined"]);
    assert!(
        logs.status.success(),
        "a host runs the actor: {}",
        String::from_utf8_lossy(&logs.stderr)
    );

    terminate_and_wait(&mut child, "lattice-ctl dev", Duration::from_secs(20));
    let links = process::succeeded(&process::ctl_at(
        &nats.url(),
        &["get", "links", "-o", "json"],
    ));
    assert!(!links.contains("joined"), "{links}");
}
