//! Which subjects an actor may publish and request on: the data plane,
//! never the control plane.
//!
//! Refused whatever a link says: the lattice's own subjects (`lattice.>`),
//! JetStream and its key-value and object stores (`$JS.>`, `$KV.>`,
//! `$O.>`) and the server's system account (`$SYS.>`). A consumer link may
//! narrow what is left with `subjects = "orders.>,metrics.*"` in its config
//! (NATS wildcards); without it every other subject is open. Replies to a
//! message the actor received go to its reply subject (an `_INBOX.…`),
//! which stays allowed.

use lattice_interfaces::messaging::MessagingError;
use lattice_interfaces::Link;

/// Subject prefixes no actor may publish or request on.
pub const RESERVED: [&str; 5] = ["lattice.", "$JS.", "$KV.", "$O.", "$SYS."];

/// What one consumer link allows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubjectPolicy {
    /// Patterns from the link's `subjects`; empty: anything not reserved.
    allowed: Vec<String>,
}

impl SubjectPolicy {
    /// The policy of consumer `link`.
    pub fn of(link: &Link) -> Self {
        Self {
            allowed: subject_list(link, "subjects"),
        }
    }

    /// `Ok` when an actor may send on `subject`; else why not, in one line.
    ///
    /// # Errors
    ///
    /// A reserved subject, an empty or malformed one, or one outside the
    /// link's `subjects`.
    pub fn check(&self, subject: &str) -> Result<(), MessagingError> {
        let refuse = |why: String| {
            Err(MessagingError::Failed(format!(
                "subject {} refused: {why}",
                lattice_interfaces::shown(subject)
            )))
        };
        if subject.is_empty()
            || subject.split('.').any(str::is_empty)
            || subject.contains(|c: char| c.is_whitespace() || c == '*' || c == '>')
        {
            return refuse("not a subject one can publish on".into());
        }
        if let Some(prefix) = RESERVED.iter().find(|p| subject.starts_with(**p)) {
            return refuse(format!(
                "{prefix}> belongs to the lattice and NATS, not to actors"
            ));
        }
        if !self.allowed.is_empty() && !self.allowed.iter().any(|p| matches(p, subject)) {
            return refuse(format!("the link allows only {}", self.allowed.join(",")));
        }
        Ok(())
    }

    /// `Ok` when an actor may ask for answers on `reply_to`: a subject it
    /// may send on ([`Self::check`]) that is not another client's reply
    /// inbox: whoever answers would write there with their own rights.
    ///
    /// # Errors
    ///
    /// As [`Self::check`], and any `_INBOX.` subject.
    pub fn check_reply_to(&self, reply_to: &str) -> Result<(), MessagingError> {
        if reply_to.starts_with("_INBOX.") {
            return Err(MessagingError::Failed(format!(
                "reply-to {} refused: _INBOX.> holds other clients' replies",
                lattice_interfaces::shown(reply_to)
            )));
        }
        self.check(reply_to)
            .map_err(|e| MessagingError::Failed(format!("reply-to: {e}")))
    }
}

/// `Ok` when a handler link may subscribe to `pattern`; else why not, in
/// one line. A subscription may reach neither the reserved subjects nor
/// other clients' replies (`_INBOX.>`): its first token is a plain word
/// that is none of theirs, so `>` or `*.ctl.>` cannot show an actor the
/// lattice's invocations and control requests with their reply inboxes.
///
/// # Errors
///
/// A wildcard first token, a reserved or inbox namespace, or a pattern
/// that is not one.
pub fn check_subscription(pattern: &str) -> Result<(), String> {
    let refuse = |why: &str| {
        Err(format!(
            "subscription {:?} refused: {why}",
            lattice_interfaces::shown(pattern)
        ))
    };
    let tokens: Vec<&str> = pattern.split('.').collect();
    if pattern.is_empty()
        || tokens
            .iter()
            .any(|t| t.is_empty() || t.contains(char::is_whitespace))
        || tokens
            .iter()
            .enumerate()
            .any(|(i, t)| *t == ">" && i + 1 != tokens.len())
    {
        return refuse("not a subject pattern");
    }
    let first = tokens.first().copied().unwrap_or_default();
    if first == "*" || first == ">" {
        return refuse("its first token must be a word, not a wildcard");
    }
    let reserved = RESERVED
        .iter()
        .chain(&["_INBOX."])
        .find(|prefix| prefix.trim_end_matches('.') == first);
    if let Some(prefix) = reserved {
        return refuse(&format!(
            "{prefix}> belongs to the lattice, NATS or other clients' replies, not to actors"
        ));
    }
    Ok(())
}

/// The comma-separated subjects under `key` in `link`'s config (blank
/// entries dropped): a handler link's `subscriptions`, a consumer link's
/// `subjects`.
pub(crate) fn subject_list(link: &Link, key: &str) -> Vec<String> {
    link.config(key)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Whether NATS pattern `pattern` (`*` one token, `>` the rest) matches
/// `subject`.
fn matches(pattern: &str, subject: &str) -> bool {
    let mut tokens = subject.split('.');
    for part in pattern.split('.') {
        match (part, tokens.next()) {
            (">", Some(_)) => return true,
            ("*", Some(_)) => {}
            (want, Some(got)) if want == got => {}
            _ => return false,
        }
    }
    tokens.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(subjects: &str) -> SubjectPolicy {
        SubjectPolicy {
            allowed: subjects.split(',').map(str::to_string).collect(),
        }
    }

    #[test]
    fn the_control_plane_is_refused_whatever_the_link_allows() {
        for subject in [
            "lattice.default.ctl.v1.host.stop.NABC",
            "$KV.LATTICE_default.link.a.b.c.default",
            "$JS.API.STREAM.DELETE.KV_LATTICE_default",
            "$SYS.REQ.SERVER.PING",
            "$O.bucket.x",
        ] {
            assert!(
                SubjectPolicy::default().check(subject).is_err(),
                "{subject}"
            );
            assert!(policy(">").check(subject).is_err(), "{subject}");
        }
        assert!(SubjectPolicy::default().check("orders.new").is_ok());
        assert!(SubjectPolicy::default().check("_INBOX.abc.1").is_ok());
        for reply_to in ["_INBOX.abc.1", "lattice.default.ctl.v1.link.put", "$KV.x.y"] {
            assert!(
                SubjectPolicy::default().check_reply_to(reply_to).is_err(),
                "{reply_to}"
            );
        }
        assert!(SubjectPolicy::default()
            .check_reply_to("replies.here")
            .is_ok());
    }

    #[test]
    fn a_handler_subscribes_to_neither_the_control_plane_nor_others_replies() {
        for refused in [
            ">",
            "*.>",
            "*.default.rpc.*",
            "lattice.>",
            "lattice.default.ctl.v1.>",
            "_INBOX.>",
            "$KV.>",
            "$SYS.>",
            "",
            "a..b",
            "a.>.b",
            "has space",
        ] {
            assert!(check_subscription(refused).is_err(), "{refused:?}");
        }
        for allowed in ["orders.>", "orders.*.new", "metrics", "lattice-demo.>"] {
            assert!(check_subscription(allowed).is_ok(), "{allowed:?}");
        }
    }

    #[test]
    fn a_link_narrows_with_wildcards_and_garbage_is_refused() {
        let p = policy("orders.>,metrics.*");
        assert!(p.check("orders.eu.new").is_ok());
        assert!(p.check("metrics.cpu").is_ok());
        assert!(p.check("metrics.cpu.total").is_err());
        assert!(p.check("payments.new").is_err());
        for garbage in ["", "a..b", "a.*", "a.>", "has space", "."] {
            assert!(
                SubjectPolicy::default().check(garbage).is_err(),
                "{garbage:?}"
            );
        }
    }
}
