//! The docs' walk-throughs, run as a user would run them.
//!
//! A walk-through is the part of a Markdown page between
//! `<!-- walkthrough NAME: ports P1 P2 ...; copy DIR ... -->` and
//! `<!-- /walkthrough -->`. Its code blocks run in order, in a fresh
//! directory where `examples/` holds the repository's example folders
//! (linked, or copied where `copy` names them), with this workspace's
//! binaries first on `PATH`:
//!
//! - a ` ```sh ` block is commands, one per line. Those that serve until
//!   stopped (`nats-server`, `redis-server`, `lattice-host`, `lattice-ctl
//!   up`, `lattice-ctl ui`) start in the background and are waited for (the
//!   servers until their port answers, the others until they print `Press
//!   Ctrl-C`);
//!   the rest must exit 0.
//! - a ` ``` ` or ` ```console ` block is `$ COMMAND` lines, each followed
//!   by the output it must print (standard output and standard error, as
//!   a terminal shows them).
//! - a block after `<!-- file NAME -->` is a file the reader writes.
//! - `<!-- stop -->` stops what was started last (the reader's Ctrl-C);
//!   `<!-- stop TEXT -->` each running command that holds `TEXT`.
//!
//! The ports the header lists are replaced by free ones everywhere: in the
//! commands, the expected output and the copied folders' text files, so a
//! walk-through neither needs those ports nor collides with a test.
//! Expected output may hold `[..]` (any text within the line) and `...` on
//! a line of its own (any lines); host ids (`N` and 55 more characters)
//! match any host id, and lines naming host ids match in any order, as
//! hosts are listed by id. A `curl` or `lattice-ctl msg request` that fails
//! (no answer, an HTTP error status) is tried again for up to 20 s, as a
//! reader would when a link has not reached every host (or a provider's
//! subscription) yet; one that answers something else fails at once. Everything started is stopped at the end.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// One walk-through of a page.
#[derive(Debug, Clone)]
pub struct Walkthrough {
    /// Its name, from the header.
    pub name: String,
    /// The ports it names, replaced by free ones when it runs.
    ports: Vec<u16>,
    /// Folders of `examples/` it changes (copied, with ports replaced).
    copies: Vec<String>,
    /// Its blocks in order.
    blocks: Vec<Block>,
}

#[derive(Debug, Clone)]
enum Block {
    /// A file the reader writes: its name and text.
    File(String, String),
    /// Commands, one per line (a line ending in `\\` goes on).
    Commands(Vec<String>),
    /// Commands each with the output it prints.
    Console(Vec<(String, Vec<String>)>),
    /// Ctrl-C to what was started last (`None`), or to each running
    /// command holding this text.
    Stop(Option<String>),
}

/// The walk-throughs in `markdown`.
///
/// # Panics
///
/// On a header without a name, or a walk-through that does not end: the
/// page is wrong.
pub fn parse(markdown: &str) -> Vec<Walkthrough> {
    let mut walkthroughs = Vec::new();
    let mut current: Option<Walkthrough> = None;
    let mut file: Option<String> = None;
    let mut lines = markdown.lines();
    while let Some(line) = lines.next() {
        let trimmed = line.trim();
        if let Some(header) = trimmed
            .strip_prefix("<!-- walkthrough ")
            .and_then(|h| h.strip_suffix("-->"))
        {
            current = Some(header_of(header));
            continue;
        }
        if let Some(stop) = trimmed
            .strip_prefix("<!-- stop")
            .and_then(|s| s.strip_suffix("-->"))
        {
            if let Some(walkthrough) = current.as_mut() {
                let what = stop.trim();
                walkthrough
                    .blocks
                    .push(Block::Stop((!what.is_empty()).then(|| what.to_string())));
            }
            continue;
        }
        if trimmed == "<!-- /walkthrough -->" {
            walkthroughs.push(current.take().expect("a /walkthrough closes a walkthrough"));
            continue;
        }
        let Some(walkthrough) = current.as_mut() else {
            continue;
        };
        if let Some(name) = trimmed
            .strip_prefix("<!-- file ")
            .and_then(|h| h.strip_suffix("-->"))
        {
            file = Some(name.trim().to_string());
            continue;
        }
        let Some(fence) = trimmed.strip_prefix("```") else {
            continue;
        };
        let body: Vec<String> = lines
            .by_ref()
            .take_while(|l| l.trim() != "```")
            .map(str::to_string)
            .collect();
        if let Some(name) = file.take() {
            let mut text = body.join("\n");
            text.push('\n');
            walkthrough.blocks.push(Block::File(name, text));
            continue;
        }
        match fence {
            "sh" => walkthrough.blocks.push(Block::Commands(commands(&body))),
            "" | "console" => walkthrough.blocks.push(Block::Console(console(&body))),
            _ => {}
        }
    }
    assert!(current.is_none(), "a walkthrough does not end");
    walkthroughs
}

fn header_of(header: &str) -> Walkthrough {
    let (name, rest) = header.split_once(':').unwrap_or((header, ""));
    let mut walkthrough = Walkthrough {
        name: name.trim().to_string(),
        ports: Vec::new(),
        copies: Vec::new(),
        blocks: Vec::new(),
    };
    assert!(!walkthrough.name.is_empty(), "a walkthrough without a name");
    for clause in rest.split(';') {
        let mut words = clause.split_whitespace();
        match words.next() {
            Some("ports") => walkthrough
                .ports
                .extend(words.map(|p| p.parse::<u16>().expect("a port number"))),
            Some("copy") => walkthrough.copies.extend(words.map(str::to_string)),
            _ => {}
        }
    }
    walkthrough
}

/// The commands of a shell block: a line ending in `\\` continues on the
/// next; blank lines and comment lines are skipped.
fn commands(body: &[String]) -> Vec<String> {
    let mut commands = Vec::new();
    let mut pending = String::new();
    for line in body {
        let trimmed = line.trim();
        if pending.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        match line.trim_end().strip_suffix('\\') {
            Some(start) => {
                pending.push_str(start);
                pending.push(' ');
            }
            None => {
                pending.push_str(line);
                commands.push(std::mem::take(&mut pending));
            }
        }
    }
    commands
}

fn console(body: &[String]) -> Vec<(String, Vec<String>)> {
    let mut steps: Vec<(String, Vec<String>)> = Vec::new();
    for line in body {
        if let Some(command) = line.strip_prefix("$ ") {
            steps.push((command.to_string(), Vec::new()));
        } else if let Some((_, expected)) = steps.last_mut() {
            expected.push(line.clone());
        }
    }
    for (_, expected) in &mut steps {
        while expected.last().is_some_and(|l| l.trim().is_empty()) {
            expected.pop();
        }
    }
    steps
}

/// The words of `command` after the `NAME=VALUE` settings of its
/// environment that lead it.
fn program_of(command: &str) -> Vec<&str> {
    command
        .split_whitespace()
        .skip_while(|word| word.contains('=') && !word.starts_with('-'))
        .collect()
}

/// `command` without the `&` (and the comment after it) that sends it to
/// the background in a terminal: here it is started and kept track of.
fn in_foreground(command: &str) -> String {
    let words: Vec<&str> = command.split_whitespace().collect();
    match words.iter().position(|w| *w == "&") {
        Some(at) if words.get(at + 1).is_none_or(|w| w.starts_with('#')) => words[..at].join(" "),
        _ => command.to_string(),
    }
}

/// Whether `command` is a request to what was just linked, which a
/// reader tries again when it comes before every host (or the provider's
/// subscription) has the link: `curl` and `lattice-ctl msg request`.
fn tried_again(command: &str) -> bool {
    command.starts_with("curl ") || command.starts_with("lattice-ctl msg request ")
}

/// Whether `command` serves until stopped.
fn serves(command: &str) -> bool {
    let program = program_of(command).join(" ");
    [
        "nats-server",
        "redis-server",
        "docker-registry",
        "lattice-host",
        "lattice-ctl up",
        "lattice-ctl ui",
    ]
    .iter()
    .any(|p| program.starts_with(p))
}

/// A walk-through being run: its directory, ports and what it started.
struct Run {
    dir: tempfile::TempDir,
    ports: Vec<(u16, u16)>,
    path: String,
    background: Vec<(String, Child, crate::process::CapturedStderr)>,
}

impl Walkthrough {
    /// Runs it from its first block to its last; panics naming the command
    /// that failed or printed something else.
    pub fn run(&self, repo: &Path, binaries: &Path) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let ports: Vec<(u16, u16)> = self
            .ports
            .iter()
            .map(|&p| (p, crate::free_port()))
            .collect();
        // curl prints no progress meter to a terminal; it would to a pipe.
        // An HTTP error status makes it fail (body still printed), so that
        // only failures are tried again.
        std::fs::write(
            dir.path().join(".curlrc"),
            "--silent\n--show-error\n--fail-with-body\n--max-time 10\n",
        )
        .expect(".curlrc");
        let examples = dir.path().join("examples");
        std::fs::create_dir(&examples).expect("examples/");
        for entry in std::fs::read_dir(repo.join("examples")).expect("the repository's examples") {
            let entry = entry.expect("an entry of examples/");
            let name = entry.file_name().to_string_lossy().into_owned();
            let target = examples.join(&name);
            let changed = self.copies.iter().any(|c| c == &format!("examples/{name}"));
            copy_tree(&entry.path(), &target, changed.then_some(&ports[..]));
        }
        let path = format!(
            "{}:{}",
            binaries.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut run = Run {
            dir,
            ports,
            path,
            background: Vec::new(),
        };
        for block in &self.blocks {
            match block {
                Block::File(name, text) => {
                    let path = run.dir.path().join(name);
                    // A new file, never written through a hard link into
                    // the repository's copy.
                    let _ = std::fs::remove_file(&path);
                    std::fs::write(&path, run.replaced(text)).unwrap_or_else(|e| {
                        panic!("walkthrough {}: cannot write {name}: {e}", self.name)
                    });
                }
                Block::Stop(None) => run.stop_last(),
                Block::Stop(Some(what)) => run.stop_matching(&self.name, what),
                Block::Commands(commands) => {
                    for command in commands {
                        run.command(&self.name, command, None);
                    }
                }
                Block::Console(steps) => {
                    for (command, expected) in steps {
                        run.command(&self.name, command, Some(expected));
                    }
                }
            }
        }
        run.stop();
    }
}

impl Run {
    fn replaced(&self, text: &str) -> String {
        replace_ports(text, &self.ports)
    }

    /// Replaces the documented ports in the files `command` names that an
    /// earlier step wrote here (a manifest `lattice-ctl new` made, say), as
    /// in the copied folders; each rewritten as a new file.
    fn replace_ports_in_files_of(&self, command: &str) {
        for word in command.split_whitespace() {
            let path = self.dir.path().join(word.trim_matches('"'));
            if word.contains("..") || !path.starts_with(self.dir.path()) || !path.is_file() {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let replaced = replace_ports(&text, &self.ports);
            if replaced != text {
                let _ = std::fs::remove_file(&path);
                std::fs::write(&path, replaced).expect("a file with its ports replaced");
            }
        }
    }

    /// A shell running `script`, the walk-through's `command` wrapped. A
    /// `lattice-ctl` that takes no `--nats-url` talks to the documented
    /// server (127.0.0.1:4222), wherever it runs here; hosts, and `up`,
    /// join only when told to, as in a reader's terminal.
    fn shell(&self, script: &str, command: &str) -> Command {
        let mut shell = Command::new("bash");
        shell
            .args(["-c", script])
            .current_dir(self.dir.path())
            .env("PATH", &self.path)
            .env("RUST_LOG", "warn")
            .env("CURL_HOME", self.dir.path())
            // The developer key `lattice-ctl build` makes stays here.
            .env("XDG_CONFIG_HOME", self.dir.path().join(".config"))
            .stdin(Stdio::null());
        // Projects build apart from the workspace's target folder (whose
        // lock the running suite may hold).
        match std::env::var_os("CARGO_TARGET_DIR") {
            Some(dir) => shell.env("CARGO_TARGET_DIR", PathBuf::from(dir).join("templates")),
            None => shell.env_remove("CARGO_TARGET_DIR"),
        };
        let program = program_of(command);
        let ctl = program.first() == Some(&"lattice-ctl") && program.get(1) != Some(&"up");
        match self.ports.iter().find(|(doc, _)| *doc == 4222) {
            Some((_, nats)) if ctl => {
                shell.env("LATTICE_NATS_URL", format!("nats://127.0.0.1:{nats}"));
            }
            _ => {
                shell.env_remove("LATTICE_NATS_URL");
            }
        }
        shell
    }

    fn command(&mut self, walkthrough: &str, command: &str, expected: Option<&Vec<String>>) {
        let command = self.replaced(command);
        let expected: Option<Vec<String>> =
            expected.map(|lines| lines.iter().map(|l| self.replaced(l)).collect());
        if serves(&command) {
            self.replace_ports_in_files_of(&command);
            let printed = self.start(walkthrough, &in_foreground(&command));
            // What it printed until it served, when the page shows it.
            if let Some(expected) = &expected {
                self.check_printed(walkthrough, &command, expected, &printed);
            }
            return;
        }
        let run_once = || {
            // Both streams into one pipe, in the order a terminal shows.
            let output = self
                .shell(&format!("{{\n{command}\n}} 2>&1"), &command)
                .output()
                .unwrap_or_else(|e| {
                    panic!("walkthrough {walkthrough}: `{command}` cannot run: {e}")
                });
            let printed = String::from_utf8_lossy(&output.stdout).into_owned();
            (output, printed)
        };
        let (mut output, mut printed) = run_once();
        // A request to what was just linked may come before every host
        // applied the link: a reader tries again, and so does this, for a
        // while.
        if let Some(expected) = expected.as_ref().filter(|_| tried_again(&command)) {
            let until = std::time::Instant::now() + Duration::from_secs(20);
            // Only a failure is tried again (no answer, or an HTTP error
            // status): a wrong answer is wrong, and trying again could
            // change what the next step reads (a counter, say).
            while !output.status.success()
                && matches(expected, &printed).is_err()
                && std::time::Instant::now() < until
            {
                std::thread::sleep(Duration::from_millis(200));
                (output, printed) = run_once();
            }
        }
        match &expected {
            None => assert!(
                output.status.success(),
                "walkthrough {walkthrough}: `{command}` failed ({}):\n{printed}",
                output.status
            ),
            Some(expected) => self.check_printed(walkthrough, &command, expected, &printed),
        }
    }

    /// Fails the walk-through, after stopping what it started, when
    /// `printed` is not what the page shows.
    fn check_printed(
        &mut self,
        walkthrough: &str,
        command: &str,
        expected: &[String],
        printed: &str,
    ) {
        if let Err(why) = matches(expected, printed) {
            self.stop();
            panic!(
                "walkthrough {walkthrough}: `{command}` printed something else ({why}).\nExpected:\n{}\nPrinted:\n{printed}",
                expected.join("\n")
            );
        }
    }

    /// Starts `command` in the background and waits until it serves; what
    /// it printed on standard output until then.
    fn start(&mut self, walkthrough: &str, command: &str) -> String {
        let mut child = self
            .shell(
                &if program_of(command).len() == command.split_whitespace().count() {
                    format!("exec {command}")
                } else {
                    format!("exec env {command}")
                },
                command,
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("walkthrough {walkthrough}: `{command}` cannot start: {e}"));
        let stderr = crate::process::CapturedStderr::of(&mut child);
        let stdout = crate::process::PrintedLines::of(&mut child);
        let deadline = Duration::from_secs(60);
        let program = program_of(command).first().copied();
        let server_port = match program {
            // `-p PORT`, or the `port:` of its `-c CONFIG`.
            Some("nats-server") => port_after(command, "-p")
                .or_else(|| {
                    let config = program_of(command)
                        .windows(2)
                        .find(|w| w[0] == "-c")
                        .map(|w| w[1].to_string())?;
                    config_port(&self.dir.path().join(config), "port:")
                })
                .or(Some(4222)),
            Some("redis-server") => Some(port_after(command, "--port").unwrap_or(6379)),
            // `docker-registry serve CONFIG`: the port of its `addr:`.
            Some("docker-registry") => program_of(command)
                .last()
                .and_then(|config| config_port(&self.dir.path().join(config), "addr:")),
            _ => None,
        };
        // A server is up when its port answers (it prints nothing to
        // compare); a host or `lattice-ctl` when it says `Press Ctrl-C`.
        let printed: Option<String> = match server_port {
            Some(port) => crate::wait_for_opt(deadline, || {
                std::net::TcpStream::connect(("127.0.0.1", port)).ok()
            })
            .map(|_| String::new()),
            None => stdout.wait_for("Press Ctrl-C", deadline),
        };
        let ready = printed.is_some();
        let exited = child.try_wait().ok().flatten();
        self.background.push((command.to_string(), child, stderr));
        if !ready || exited.is_some() {
            self.stop();
            panic!("walkthrough {walkthrough}: `{command}` did not come up ({exited:?}); its stderr is above");
        }
        printed.unwrap_or_default()
    }

    /// Stops what it started, last first.
    fn stop(&mut self) {
        while !self.background.is_empty() {
            self.stop_last();
        }
    }

    /// Stops each running command that holds `what`; at least one.
    fn stop_matching(&mut self, walkthrough: &str, what: &str) {
        let before = self.background.len();
        let (matching, others): (Vec<_>, Vec<_>) = std::mem::take(&mut self.background)
            .into_iter()
            .partition(|(command, _, _)| command.contains(what));
        self.background = matching;
        self.stop();
        self.background = others;
        assert!(
            self.background.len() < before,
            "walkthrough {walkthrough}: <!-- stop {what} --> matches nothing it started"
        );
    }

    /// Stops what it started last, as Ctrl-C would.
    fn stop_last(&mut self) {
        if let Some((command, mut child, stderr)) = self.background.pop() {
            // Ended already (and reaped): its pid may be another's now.
            if child.try_wait().ok().flatten().is_none() {
                let _ = Command::new("kill")
                    .args(["-TERM", &child.id().to_string()])
                    .stderr(Stdio::null())
                    .status();
            }
            let stopped =
                crate::wait_for_opt(Duration::from_secs(20), || child.try_wait().ok().flatten())
                    .is_some();
            if !stopped {
                let _ = child.kill();
                let _ = child.wait();
            }
            stderr.show_if_failing(&command);
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The port in the line of the file at `path` that starts with `key`
/// (`port: 4222`, `addr: 127.0.0.1:5000`).
fn config_port(path: &Path, key: &str) -> Option<u16> {
    let text = std::fs::read_to_string(path).ok()?;
    let value = text.lines().find_map(|l| l.trim().strip_prefix(key))?;
    value.trim().rsplit(':').next()?.trim().parse().ok()
}

/// The number after `flag` in `command`.
fn port_after(command: &str, flag: &str) -> Option<u16> {
    let mut words = command.split_whitespace();
    words.find(|w| *w == flag)?;
    words.next()?.parse().ok()
}

/// `text` with each documented port replaced by its free one (as a whole
/// number, not inside a longer one).
pub fn replace_ports(text: &str, ports: &[(u16, u16)]) -> String {
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() && (i == 0 || !bytes[i - 1].is_ascii_digit()) {
            let end = (i..bytes.len())
                .find(|&j| !bytes[j].is_ascii_digit())
                .unwrap_or(bytes.len());
            let number = &text[i..end];
            match ports.iter().find(|(doc, _)| doc.to_string() == number) {
                Some((_, free)) => out.push_str(&free.to_string()),
                None => out.push_str(number),
            }
            i = end;
        } else {
            let c = text[i..].chars().next().expect("a character");
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// Copies `from` to `to`: a file as a hard link to the same bytes (a
/// copy where the two cannot share them), so what a walk-through writes
/// beside it (a signed copy, a `.jwt`) stays in its own directory; with
/// `ports`, text files are copied with those ports replaced.
fn copy_tree(from: &Path, to: &Path, ports: Option<&[(u16, u16)]>) {
    if from.is_dir() {
        if from.file_name().is_some_and(|n| n == "target") {
            return;
        }
        std::fs::create_dir_all(to).expect("a copied folder");
        for entry in std::fs::read_dir(from).expect("a folder to copy") {
            let entry = entry.expect("an entry");
            copy_tree(&entry.path(), &to.join(entry.file_name()), ports);
        }
        return;
    }
    if let Some(ports) = ports {
        let bytes = std::fs::read(from).expect("a file to copy");
        if let Ok(text) = String::from_utf8(bytes) {
            let target: PathBuf = to.to_path_buf();
            std::fs::write(target, replace_ports(&text, ports)).expect("a copied file");
            return;
        }
    }
    if std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to).expect("a copied file");
    }
}

/// Host ids (`N` and 55 base-32 characters) as `[HOST]`, runs of spaces
/// as one, no trailing space.
fn normalised(line: &str) -> String {
    let words: Vec<String> = line
        .split_whitespace()
        .map(|word| {
            let mut word = word.to_string();
            while let Some(start) = host_id_in(&word) {
                word.replace_range(start..start + 56, "[HOST]");
            }
            word
        })
        .collect();
    words.join(" ")
}

fn host_id_in(word: &str) -> Option<usize> {
    let bytes = word.as_bytes();
    (0..bytes.len().saturating_sub(55)).find(|&i| {
        bytes[i] == b'N'
            && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric())
            && bytes[i + 1..i + 56]
                .iter()
                .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(b))
            && bytes.get(i + 56).is_none_or(|b| !b.is_ascii_alphanumeric())
    })
}

/// Whether `line` matches `pattern`, where `[..]` is any text.
fn line_matches(pattern: &str, line: &str) -> bool {
    let parts: Vec<&str> = pattern.split("[..]").collect();
    if parts.len() == 1 {
        return pattern == line;
    }
    let Some(rest) = line.strip_prefix(parts[0]) else {
        return false;
    };
    let mut rest = rest;
    for (index, part) in parts.iter().enumerate().skip(1) {
        if index == parts.len() - 1 {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// Whether `printed` is what `expected` says; else why not.
///
/// # Errors
///
/// The first line that does not match, said.
pub fn matches(expected: &[String], printed: &str) -> Result<(), String> {
    let expected: Vec<String> = expected.iter().map(|l| normalised(l)).collect();
    let printed: Vec<String> = printed
        .lines()
        .map(normalised)
        .filter(|l| !l.is_empty())
        .collect();
    let expected: Vec<String> = expected.into_iter().filter(|l| !l.is_empty()).collect();
    match_from(&expected, &printed)
}

fn match_from(expected: &[String], printed: &[String]) -> Result<(), String> {
    let Some(first) = expected.first() else {
        return if printed.is_empty() {
            Ok(())
        } else {
            Err(format!("more lines than expected, from {:?}", printed[0]))
        };
    };
    if first == "..." {
        return (0..=printed.len())
            .find(|&skip| match_from(&expected[1..], &printed[skip..]).is_ok())
            .map(drop)
            .ok_or_else(|| format!("no lines match what follows `...`: {:?}", expected.get(1)));
    }
    // Lines naming hosts come in the order of their ids: a run of them
    // matches in any order.
    let run = expected
        .iter()
        .take_while(|l| l.contains("[HOST]") && *l != "...")
        .count()
        .max(1);
    if printed.len() < run {
        return Err(format!("missing {first:?}"));
    }
    let mut unused: Vec<&String> = printed[..run].iter().collect();
    for pattern in &expected[..run] {
        let Some(at) = unused.iter().position(|l| line_matches(pattern, l)) else {
            return Err(format!("no line matches {pattern:?}"));
        };
        unused.remove(at);
    }
    match_from(&expected[run..], &printed[run..])
}
