//! The host's settings as a Markdown table, generated from the clap
//! definitions of [`HostArgs`] and [`NatsArgs`], so the reference page
//! (`docs/operate/host-settings.md`) cannot drift from `--help`: the
//! `host_settings_page_matches_the_flags` test compares them.

use clap::{ArgAction, Args as _, Command};

use super::HostArgs;
use crate::lattice::NatsArgs;

/// Every setting of `lattice-host` (and `lattice-ctl up`) as Markdown table
/// rows under a header: flag, environment variable, default, meaning.
pub fn settings_markdown() -> String {
    let command = NatsArgs::augment_args(HostArgs::augment_args(Command::new("lattice-host")));
    let mut table = String::from("| flag | env | default | meaning |\n|---|---|---|---|\n");
    let mut arguments: Vec<&clap::Arg> = command
        .get_arguments()
        .filter(|arg| !arg.is_hide_set() && arg.get_long().is_some())
        .collect();
    arguments.sort_by_key(|arg| arg.get_long());
    for arg in arguments {
        let Some(long) = arg.get_long() else {
            continue;
        };
        let takes_value = !matches!(
            arg.get_action(),
            ArgAction::SetTrue | ArgAction::SetFalse | ArgAction::Count | ArgAction::Help
        );
        let flag = match (takes_value, arg.get_value_names()) {
            (true, Some([name, ..])) => format!("--{long} {name}"),
            (true, _) => format!("--{long} VALUE"),
            (false, _) => format!("--{long}"),
        };
        let env = arg
            .get_env()
            .map(|env| format!("`{}`", env.to_string_lossy()))
            .unwrap_or_default();
        let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
        let (meaning, stated_default) = split_default(&help);
        let default = match arg.get_default_values() {
            [] => stated_default.map_or_else(
                || if takes_value { "none" } else { "off" }.to_string(),
                str::to_string,
            ),
            values => values
                .iter()
                .map(|v| format!("`{}`", v.to_string_lossy()))
                .collect::<Vec<_>>()
                .join(", "),
        };
        table.push_str(&format!(
            "| `{}` | {env} | {} | {} |\n",
            cell(&flag),
            cell(&default),
            cell(meaning)
        ));
    }
    table
}

/// `help` without a trailing `[default: …]`, and what that said.
fn split_default(help: &str) -> (&str, Option<&str>) {
    match help.rsplit_once("[default: ") {
        Some((meaning, rest)) if rest.ends_with(']') => {
            (meaning.trim_end(), rest.strip_suffix(']').map(str::trim))
        }
        _ => (help.trim_end(), None),
    }
}

/// `text` safe inside a Markdown table cell: no column breaks, no line
/// breaks, no HTML tags.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
        .replace('\n', " ")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
