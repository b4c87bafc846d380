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
    /// Hosts that run it (default 1), or a range the `scale` rule keeps
    /// it in; not with `daemon`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<Replicas>,
    /// One on every host that matches `constraints`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub daemon: bool,
    /// Labels a host must have, with these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub constraints: BTreeMap<String, String>,
    /// Replicas spread over the values of one label, by weight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spread: Option<Spread>,
    /// How its replicas follow its load, within `replicas = { min, max }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<ScaleRule>,
}

/// How many hosts run a component: a fixed count (`replicas = 3`), or a
/// range its load moves it in (`replicas = { min = 0, max = 20 }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Replicas {
    /// Always this many.
    Count(u32),
    /// Between these, as the `scale` rule decides.
    Range {
        /// Fewest; 0: it gives every replica back when idle and the first
        /// call activates one.
        min: u32,
        /// Most.
        max: u32,
    },
}

impl From<u32> for Replicas {
    fn from(count: u32) -> Self {
        Self::Count(count)
    }
}

impl<'de> Deserialize<'de> for Replicas {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// The range form, strictly.
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Range {
            min: u32,
            max: u32,
        }
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Replicas;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a number of hosts, or { min = N, max = M }")
            }
            fn visit_u64<E: serde::de::Error>(self, count: u64) -> Result<Replicas, E> {
                u32::try_from(count)
                    .map(Replicas::Count)
                    .map_err(|_| E::custom(format!("replicas = {count} is too many")))
            }
            fn visit_i64<E: serde::de::Error>(self, count: i64) -> Result<Replicas, E> {
                u64::try_from(count)
                    .map_err(|_| E::custom(format!("replicas = {count} is negative")))
                    .and_then(|count| self.visit_u64(count))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Replicas, A::Error> {
                let range = Range::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(Replicas::Range {
                    min: range.min,
                    max: range.max,
                })
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// How an autoscaled component's replicas follow its load. The load is
/// the calls in flight on all its replicas, averaged over each pass of
/// the reconciler (a call counts for the time it holds an instance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleRule {
    /// Calls in flight one replica should carry: replicas wanted are the
    /// load divided by this, rounded up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_in_flight: Option<u32>,
    /// Or: the share of one replica's instances (`max_instances`) in use,
    /// in percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_utilisation: Option<u32>,
    /// How long the load must stay low before replicas are given back, in
    /// milliseconds (default 60,000); replicas are added at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_in_after_ms: Option<u64>,
}

impl ScaleRule {
    /// The window over which a lower load must hold before scaling in.
    pub const DEFAULT_SCALE_IN_AFTER_MS: u64 = 60_000;

    /// The scale-in window.
    pub fn scale_in_after(&self) -> std::time::Duration {
        std::time::Duration::from_millis(
            self.scale_in_after_ms
                .unwrap_or(Self::DEFAULT_SCALE_IN_AFTER_MS),
        )
    }

    /// Calls in flight one replica should carry, for a replica of
    /// `max_instances` instances.
    pub fn per_replica(&self, max_instances: u32) -> f64 {
        match (self.target_in_flight, self.target_utilisation) {
            (Some(calls), _) => f64::from(calls),
            (None, Some(percent)) => f64::from(max_instances) * f64::from(percent) / 100.0,
            (None, None) => 1.0,
        }
        .max(0.01)
    }

    fn check(&self) -> Result<(), String> {
        match (self.target_in_flight, self.target_utilisation) {
            (Some(_), Some(_)) => {
                Err("scale takes target_in_flight or target_utilisation, not both".into())
            }
            (None, None) => Err(
                "scale needs target_in_flight (calls per replica) or target_utilisation (percent)"
                    .into(),
            ),
            (Some(0), _) => Err("scale target_in_flight must be at least 1".into()),
            (_, Some(p)) if p == 0 || p > 100 => Err(format!(
                "scale target_utilisation = {p} is not a percentage (1 to 100)"
            )),
            _ => Ok(()),
        }
    }
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
    /// Hosts wanted, when not a daemon and not autoscaled; for an
    /// autoscaled component, its minimum (at least 1): what runs it where
    /// nothing scales it (`lattice-ctl up`).
    pub fn replicas(&self) -> u32 {
        match self.replicas {
            None => 1,
            Some(Replicas::Count(count)) => count,
            Some(Replicas::Range { min, .. }) => min.max(1),
        }
    }

    /// Its replicas' range and rule, when its load decides them.
    pub fn autoscaled(&self) -> Option<(u32, u32, &ScaleRule)> {
        match (self.replicas, &self.scale) {
            (Some(Replicas::Range { min, max }), Some(rule)) => Some((min, max, rule)),
            _ => None,
        }
    }

    /// The same placement with exactly `count` replicas: what the
    /// autoscaler decided, for the planner.
    pub fn with_replicas(&self, count: u32) -> Self {
        Self {
            replicas: Some(Replicas::Count(count)),
            scale: None,
            ..self.clone()
        }
    }

    /// Checks the placement; the error is the reason alone.
    pub fn check(&self) -> Result<(), String> {
        if self.daemon && (self.replicas.is_some() || self.spread.is_some()) {
            return Err(
                "daemon runs one on every matching host: leave out replicas and spread".into(),
            );
        }
        match (self.replicas, &self.scale) {
            (Some(Replicas::Count(0)), _) => {
                return Err("replicas must be at least 1 (delete the app to stop it)".into())
            }
            (Some(Replicas::Range { min, max }), _) if max == 0 || min > max => {
                return Err(format!(
                    "replicas = {{ min = {min}, max = {max} }} is not a range (0 <= min <= max, max >= 1)"
                ))
            }
            (Some(Replicas::Range { .. }), None) => {
                return Err("replicas = { min, max } needs a scale rule (scale = { target_in_flight = N })".into())
            }
            (Some(Replicas::Count(_)) | None, Some(_)) => {
                return Err("a scale rule needs replicas = { min, max }".into())
            }
            (_, Some(rule)) => rule.check()?,
            _ => {}
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
            replicas: Some(replicas.into()),
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
            replicas: Some(2.into()),
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

    #[test]
    fn replicas_are_a_count_or_a_range_with_a_scale_rule() {
        let parse = |text: &str| -> Result<Placement, String> {
            let placement: Placement = toml::from_str(text).map_err(|e| e.message().to_string())?;
            placement.check().map(|()| placement)
        };
        let fixed = parse("replicas = 3").unwrap();
        assert_eq!((fixed.replicas(), fixed.autoscaled().is_some()), (3, false));
        let scaled =
            parse("replicas = { min = 0, max = 20 }\nscale = { target_in_flight = 50 }").unwrap();
        let (min, max, rule) = scaled.autoscaled().unwrap();
        assert_eq!((min, max, rule.per_replica(100)), (0, 20, 50.0));
        assert_eq!(scaled.replicas(), 1, "up runs an autoscaled actor once");
        assert_eq!(scaled.with_replicas(0).replicas(), 0);
        let by_share =
            parse("replicas = { min = 1, max = 4 }\nscale = { target_utilisation = 50 }").unwrap();
        assert_eq!(by_share.autoscaled().unwrap().2.per_replica(8), 4.0);

        for (text, reason) in [
            ("replicas = { min = 0, max = 4 }", "needs a scale rule"),
            ("replicas = 2\nscale = { target_in_flight = 5 }", "needs replicas = { min, max }"),
            ("replicas = { min = 3, max = 2 }\nscale = { target_in_flight = 5 }", "is not a range"),
            ("replicas = { min = 0, max = 0 }\nscale = { target_in_flight = 5 }", "is not a range"),
            ("replicas = { min = 0, max = 2 }\nscale = { }", "needs target_in_flight"),
            ("replicas = { min = 0, max = 2 }\nscale = { target_in_flight = 0 }", "at least 1"),
            ("replicas = { min = 0, max = 2 }\nscale = { target_utilisation = 150 }", "not a percentage"),
            (
                "replicas = { min = 0, max = 2 }\nscale = { target_in_flight = 1, target_utilisation = 5 }",
                "not both",
            ),
            ("replicas = { min = 0, most = 2 }", "unknown field"),
            ("replicas = -1", "negative"),
            ("replicas = \"many\"", "a number of hosts, or { min = N, max = M }"),
        ] {
            let refused = parse(text).unwrap_err();
            assert!(refused.contains(reason), "{text:?}: {refused}");
        }
    }
}
