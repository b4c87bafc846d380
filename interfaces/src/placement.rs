//! Where an application's component runs: how many replicas (hosts running
//! it), spread over the values of a label by weight, or one on every
//! matching host (`daemon`), on hosts whose labels match `constraints`.
//! Constraints are hard; the spread is a preference: replicas of a label
//! value with no host left run on the other matching hosts until one comes
//! back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The host label that marks a host as draining (`lattice-ctl host drain`):
/// the reconciler places nothing on it and places what it runs elsewhere.
pub const DRAINING_LABEL: &str = "lattice.draining";

/// A component's placement in an application.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    /// Hosts that run it (default 1); not with `daemon`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
    /// One on every host that matches `constraints`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub daemon: bool,
    /// Labels a host must have, with these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub constraints: BTreeMap<String, String>,
    /// Replicas spread over the values of one label, by weight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spread: Option<Spread>,
}

/// Replicas spread over the values of `label`: value → weight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spread {
    /// The label, e.g. `zone`.
    pub label: String,
    /// Its values and their weights, e.g. `east = 50, west = 50`.
    pub weights: BTreeMap<String, u32>,
}

fn label_ok(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 63
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

impl Placement {
    /// Hosts wanted, when not a daemon.
    pub fn replicas(&self) -> u32 {
        self.replicas.unwrap_or(1)
    }

    /// Checks the placement; the error is the reason alone.
    pub fn check(&self) -> Result<(), String> {
        if self.daemon && (self.replicas.is_some() || self.spread.is_some()) {
            return Err(
                "daemon runs one on every matching host: leave out replicas and spread".into(),
            );
        }
        if self.replicas == Some(0) {
            return Err("replicas must be at least 1 (delete the app to stop it)".into());
        }
        for (key, value) in &self.constraints {
            if !label_ok(key) || value.is_empty() || value.len() > 63 {
                return Err(format!(
                    "constraint {key:?} = {value:?} is not a label (a-z, 0-9, '-', '_', '.', '/'; a value)"
                ));
            }
        }
        if let Some(spread) = &self.spread {
            if !label_ok(&spread.label) {
                return Err(format!("spread label {:?} is not a label", spread.label));
            }
            if spread.weights.values().all(|w| *w == 0) {
                return Err(format!(
                    "spread over {} cannot be satisfied: every weight is 0",
                    spread.label
                ));
            }
            if let Some(value) = self.constraints.get(&spread.label) {
                if spread.weights.iter().any(|(v, w)| *w > 0 && v != value) {
                    return Err(format!(
                        "spread over {} cannot be satisfied: the constraint {}={value} excludes its other values",
                        spread.label, spread.label
                    ));
                }
            }
        }
        Ok(())
    }

    /// Replicas per value of the spread label (largest remainder), for
    /// `replicas` hosts; values weighted 0 get none.
    pub fn spread_counts(&self) -> BTreeMap<String, u32> {
        let Some(spread) = &self.spread else {
            return BTreeMap::new();
        };
        let replicas = u64::from(self.replicas());
        let total: u64 = spread.weights.values().map(|w| u64::from(*w)).sum();
        if total == 0 {
            return BTreeMap::new();
        }
        let mut counts: BTreeMap<String, u32> = BTreeMap::new();
        let mut remainders: Vec<(u64, &String)> = Vec::new();
        let mut given = 0u64;
        for (value, weight) in &spread.weights {
            let exact = replicas * u64::from(*weight);
            let whole = exact / total;
            given += whole;
            counts.insert(value.clone(), u32::try_from(whole).unwrap_or(u32::MAX));
            if *weight > 0 {
                remainders.push((exact % total, value));
            }
        }
        // Largest remainder first; ties by value, so every host computes the same.
        remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
        for (_, value) in remainders
            .iter()
            .take(usize::try_from(replicas - given).unwrap_or(0))
        {
            if let Some(count) = counts.get_mut(*value) {
                *count += 1;
            }
        }
        counts
    }

    /// Whether a host with `labels` may run the component: it has every
    /// constraint. The spread is a preference, not a constraint: replicas
    /// whose label value has no host run on other admitted hosts (a zone
    /// that dies fails over to the others).
    pub fn admits(&self, labels: &BTreeMap<String, String>) -> bool {
        self.constraints
            .iter()
            .all(|(key, value)| labels.get(key) == Some(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spread(replicas: u32, weights: &[(&str, u32)]) -> Placement {
        Placement {
            replicas: Some(replicas),
            spread: Some(Spread {
                label: "zone".into(),
                weights: weights.iter().map(|(v, w)| (v.to_string(), *w)).collect(),
            }),
            ..Placement::default()
        }
    }

    #[test]
    fn replicas_spread_by_weight_with_the_remainder_to_the_largest() {
        let counts = |p: Placement| p.spread_counts().into_iter().collect::<Vec<_>>();
        assert_eq!(
            counts(spread(4, &[("east", 50), ("west", 50)])),
            [("east".into(), 2), ("west".into(), 2)]
        );
        assert_eq!(
            counts(spread(3, &[("east", 50), ("west", 50)])),
            [("east".into(), 2), ("west".into(), 1)]
        );
        assert_eq!(
            counts(spread(3, &[("east", 1), ("west", 2)])),
            [("east".into(), 1), ("west".into(), 2)]
        );
        assert_eq!(
            counts(spread(2, &[("east", 1), ("west", 0)])),
            [("east".into(), 2), ("west".into(), 0)]
        );
    }

    #[test]
    fn unsatisfiable_placements_are_refused_with_the_reason() {
        assert!(spread(2, &[("east", 0)])
            .check()
            .unwrap_err()
            .contains("every weight is 0"));
        let mut p = spread(2, &[("east", 1), ("west", 1)]);
        p.constraints.insert("zone".into(), "east".into());
        assert!(p.check().unwrap_err().contains("excludes its other values"));
        let daemon = Placement {
            daemon: true,
            replicas: Some(2),
            ..Placement::default()
        };
        assert!(daemon.check().is_err());
        let bad_label = Placement {
            constraints: [("zo ne".to_string(), "x".to_string())].into(),
            ..Placement::default()
        };
        assert!(bad_label.check().unwrap_err().contains("is not a label"));
    }

    #[test]
    fn hosts_are_admitted_by_constraints_and_spread_values() {
        let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let mut p = spread(2, &[("east", 1), ("west", 0)]);
        // The spread prefers, it does not exclude.
        assert!(p.admits(&labels(&[("zone", "west")])));
        p.constraints.insert("tier".into(), "edge".into());
        assert!(p.admits(&labels(&[("zone", "west"), ("tier", "edge")])));
        assert!(!p.admits(&labels(&[("zone", "east")])));
    }
}
