//! Subjects and names. Every subject starts with `lattice.<L>.`, so one NATS
//! permission (`lattice.<L>.>`) scopes a tenant.

use std::fmt;

use crate::HostId;

/// The lattice joined when none is named.
pub const DEFAULT_LATTICE: &str = "default";

/// Whether `subject` is a reply inbox that hosts and provider processes
/// answer on: a plain subject (no wildcard, no empty token, no white
/// space, at most 256 bytes) under `_INBOX.`, where every NATS client's
/// replies go (provider processes' under `_INBOX.provider.<id>.`).
///
/// A request names its own reply subject, and NATS checks the requester's
/// right to publish on the request's subject only: answering anywhere else
/// would let a requester that may only ask make a host write where it may
/// not (a key of the state bucket, a control subject).
pub fn is_reply_inbox(subject: &str) -> bool {
    subject.len() <= 256
        && subject.starts_with("_INBOX.")
        && subject
            .split('.')
            .all(|token| !token.is_empty() && token != "*" && token != ">")
        && !subject.chars().any(char::is_whitespace)
}

/// Why a lattice id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("lattice id {0:?} must be 1 to 64 characters of A-Z, a-z, 0-9, '-' and '_'")]
pub struct LatticeIdError(pub String);

/// The subjects of one lattice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subjects {
    lattice: String,
}

impl Subjects {
    /// The subjects of lattice `lattice`, checked: it becomes a subject token
    /// and part of the KV bucket's name.
    pub fn new(lattice: &str) -> Result<Self, LatticeIdError> {
        let ok = !lattice.is_empty()
            && lattice.len() <= 64
            && lattice
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if ok {
            Ok(Self {
                lattice: lattice.to_string(),
            })
        } else {
            Err(LatticeIdError(lattice.to_string()))
        }
    }

    /// The lattice id.
    pub fn lattice(&self) -> &str {
        &self.lattice
    }

    /// `lattice.<L>.ctl.v1.<op>`.
    pub fn ctl(&self, op: &str) -> String {
        format!("lattice.{}.ctl.v1.{op}", self.lattice)
    }

    /// `lattice.<L>.activate.<actor>`: where a caller holding calls for an
    /// actor no host runs asks the reconciler's leader for a replica.
    pub fn activate(&self, actor: &str) -> String {
        format!("lattice.{}.activate.{actor}", self.lattice)
    }

    /// `lattice.<L>.activate.*`: what the reconciler's leader answers.
    pub fn activations(&self) -> String {
        format!("lattice.{}.activate.*", self.lattice)
    }

    /// The actor an activation subject names.
    pub fn parse_activate<'a>(&self, subject: &'a str) -> Option<&'a str> {
        subject
            .strip_prefix("lattice.")?
            .strip_prefix(self.lattice.as_str())?
            .strip_prefix(".activate.")
            .filter(|actor| !actor.is_empty() && !actor.contains('.'))
    }

    /// `lattice.<L>.ctl.v1.<op>.<host-id>`.
    pub fn ctl_host(&self, op: &str, host_id: &HostId) -> String {
        format!("lattice.{}.ctl.v1.{op}.{host_id}", self.lattice)
    }

    /// Everything aimed at one host: `lattice.<L>.ctl.v1.*.*.<host-id>`.
    pub fn ctl_for_host(&self, host_id: &HostId) -> String {
        format!("lattice.{}.ctl.v1.*.*.{host_id}", self.lattice)
    }

    /// The queue group of operations any one host answers.
    pub fn ctl_queue_group(&self) -> String {
        format!("lattice.{}.ctl", self.lattice)
    }

    /// Splits a control subject into (operation, host id).
    pub fn parse_ctl<'a>(&self, subject: &'a str) -> Option<(&'a str, Option<&'a str>)> {
        let rest = subject
            .strip_prefix("lattice.")?
            .strip_prefix(self.lattice.as_str())?
            .strip_prefix(".ctl.v1.")?;
        let mut tokens = rest.splitn(3, '.');
        let (noun, verb) = (tokens.next()?, tokens.next()?);
        let op = rest.get(..noun.len() + 1 + verb.len())?;
        Some((op, tokens.next()))
    }

    /// `lattice.<L>.evt.<type>`.
    pub fn event(&self, kind: &str) -> String {
        format!("lattice.{}.evt.{kind}", self.lattice)
    }

    /// `lattice.<L>.evt.>`: every event.
    pub fn all_events(&self) -> String {
        format!("lattice.{}.evt.>", self.lattice)
    }

    /// `lattice.<L>.rpc.<target>`: calls to an actor or provider.
    pub fn rpc(&self, target: &str) -> String {
        format!("lattice.{}.rpc.{target}", self.lattice)
    }

    /// `lattice.<L>.log.<actor>`: an actor's log lines, from every host
    /// that runs it (JSON, one line a message; `lattice-ctl logs`).
    pub fn log(&self, actor: &str) -> String {
        format!("lattice.{}.log.{actor}", self.lattice)
    }

    /// `lattice.<L>.provider.<id>.health`: a provider process's health checks.
    pub fn provider_health(&self, provider_id: &str) -> String {
        format!("lattice.{}.provider.{provider_id}.health", self.lattice)
    }

    /// `LATTICE_<L>`: the JetStream KV bucket of lattice state.
    pub fn bucket(&self) -> String {
        format!("LATTICE_{}", self.lattice)
    }
}

impl fmt::Display for Subjects {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.lattice)
    }
}

#[cfg(test)]
mod tests {
    // The unwraps below are assertions on values the tests build: a failure
    // fails the test. This module is compiled only for `cargo test`.
    use super::*;

    #[test]
    fn builds_and_parses_subjects() {
        let s = Subjects::new("prod").unwrap();
        assert_eq!(s.ctl("host.ping"), "lattice.prod.ctl.v1.host.ping");
        let (_, host) = HostId::generate();
        assert_eq!(
            s.ctl_host("actor.scale", &host),
            format!("lattice.prod.ctl.v1.actor.scale.{host}")
        );
        assert_eq!(
            s.parse_ctl("lattice.prod.ctl.v1.actor.scale.NABC"),
            Some(("actor.scale", Some("NABC")))
        );
        assert_eq!(
            s.parse_ctl("lattice.prod.ctl.v1.host.ping"),
            Some(("host.ping", None))
        );
        assert_eq!(s.parse_ctl("lattice.prod.ctl.v1.host"), None);
        assert_eq!(s.parse_ctl("lattice.other.ctl.v1.host.ping"), None);
        assert_eq!(s.bucket(), "LATTICE_prod");
    }

    #[test]
    fn refuses_lattice_ids_that_would_break_subjects() {
        for bad in ["", "a.b", "a b", "a*", "a>", &"x".repeat(65)] {
            assert!(Subjects::new(bad).is_err(), "{bad:?}");
        }
    }
}
