//! The documentation holds together: every relative link in the README, the
//! book under `docs/` and the deployment's README leads to a file that
//! exists (and to a heading in it, when it names one), and the host
//! settings page is the table the flags themselves generate.
//!
//! A moved page or a renamed flag fails here rather than in a reader's
//! browser. To rewrite the settings table after changing a flag, run this
//! test with `LATTICE_BLESS_DOCS=1`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use lattice_tests::fixtures::{documents, repo_root};

/// The lines of `markdown` outside code blocks.
fn prose_lines(markdown: &str) -> impl Iterator<Item = &str> {
    let mut in_code_block = false;
    markdown.lines().filter(move |line| {
        if line.trim_start().starts_with("```") {
            in_code_block = !in_code_block;
            return false;
        }
        !in_code_block
    })
}

/// The targets of the inline links `[text](target)` in `markdown`, code
/// blocks and code spans left out.
fn link_targets(markdown: &str) -> Vec<String> {
    let mut targets = Vec::new();
    for line in prose_lines(markdown) {
        // Code spans hold example text, not links.
        let prose: String = line
            .split('`')
            .enumerate()
            .filter(|(i, _)| i % 2 == 0)
            .map(|(_, part)| part)
            .collect::<Vec<_>>()
            .join(" ");
        let mut rest = prose.as_str();
        while let Some(start) = rest.find("](") {
            let after = &rest[start + 2..];
            let Some(end) = after.find(')') else { break };
            targets.push(after[..end].to_string());
            rest = &after[end..];
        }
    }
    targets
}

/// GitHub's (and mdBook's) anchor of each heading in `markdown`.
fn anchors(markdown: &str) -> BTreeSet<String> {
    prose_lines(markdown)
        .filter(|line| line.starts_with('#'))
        .map(|line| {
            line.trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
                .map(|c| if c == ' ' { '-' } else { c })
                .collect()
        })
        .collect()
}

#[test]
fn every_relative_link_in_the_docs_leads_somewhere() {
    let mut broken = Vec::new();
    let documents = documents();
    assert!(documents.len() > 10, "found only {documents:?}");
    for document in &documents {
        let text = std::fs::read_to_string(document).unwrap();
        for target in link_targets(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (path, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let file: PathBuf = if path.is_empty() {
                document.clone()
            } else {
                document.parent().unwrap().join(path)
            };
            if !file.exists() {
                broken.push(format!("{}: {target} (no such file)", shown(document)));
                continue;
            }
            if !anchor.is_empty() && file.extension().is_some_and(|e| e == "md") {
                let headings = anchors(&std::fs::read_to_string(&file).unwrap());
                if !headings.contains(anchor) {
                    broken.push(format!("{}: {target} (no such heading)", shown(document)));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn every_page_of_the_book_is_in_its_summary_and_the_readme_is_short() {
    let root = repo_root();
    let summary = std::fs::read_to_string(root.join("docs/SUMMARY.md")).unwrap();
    let listed: BTreeSet<String> = link_targets(&summary).into_iter().collect();
    for document in documents() {
        let Ok(page) = document.strip_prefix(root.join("docs")) else {
            continue;
        };
        let page = page.to_string_lossy().to_string();
        if page == "SUMMARY.md" {
            continue;
        }
        assert!(
            listed.contains(&page),
            "docs/{page} is not in docs/SUMMARY.md"
        );
    }
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(
        lines <= 200,
        "README.md has {lines} lines; the rest belongs in the book"
    );
}

#[test]
fn host_settings_page_matches_the_flags() {
    let page = repo_root().join("docs/operate/host-settings.md");
    let text = std::fs::read_to_string(&page).unwrap();
    let (begin, end) = ("<!-- settings:begin -->\n", "<!-- settings:end -->");
    let start = text.find(begin).expect("the page marks its settings table") + begin.len();
    let stop = text.find(end).expect("the page ends its settings table");
    let generated = lattice_host::cli::settings_markdown();
    if std::env::var_os("LATTICE_BLESS_DOCS").is_some() {
        let rewritten = format!("{}{generated}{}", &text[..start], &text[stop..]);
        std::fs::write(&page, rewritten).unwrap();
        return;
    }
    assert_eq!(
        &text[start..stop],
        generated,
        "docs/operate/host-settings.md differs from the flags: run this test with LATTICE_BLESS_DOCS=1 to rewrite it"
    );
}

fn shown(path: &Path) -> String {
    path.strip_prefix(repo_root())
        .unwrap_or(path)
        .display()
        .to_string()
}
