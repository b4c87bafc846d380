//! The autoscaler: how many hosts an autoscaled actor wants, from its
//! load. Pure: the reconciler's leader measures the load each pass (calls
//! in flight on all the actor's replicas, averaged over the pass) and
//! feeds it here; what comes back is the replica count the planner places.
//!
//! - **Out fast**: when the load asks for more replicas than it has, it
//!   gets them at that pass (within `max` and the hosts that can run it).
//! - **In slowly**: it gives replicas back only when every pass of the
//!   last `scale_in_after` asked for fewer, and to the most any of them
//!   asked for. A load that swings up and down within that window keeps
//!   the replicas of its peaks: it does not flap.
//! - **From zero**: a call held for it activates one replica at once
//!   ([`Autoscaler::activate`]); that replica then stays for a window.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use lattice_interfaces::placement::ScaleRule;

/// One actor's autoscaling state, kept by the leader between passes.
#[derive(Debug, Clone)]
pub(crate) struct Autoscaler {
    min: u32,
    max: u32,
    per_replica: f64,
    scale_in_after: Duration,
    desired: u32,
    /// Replicas the load asked for, pass by pass, over the window.
    asked: VecDeque<(Instant, u32)>,
    /// When `desired` last changed (or the autoscaler started).
    changed_at: Instant,
}

/// A change of the replicas wanted, with its figures.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Decision {
    pub from: u32,
    pub to: u32,
    pub load: f64,
    pub per_replica: f64,
    pub why: String,
}

impl Autoscaler {
    /// An autoscaler for `min..=max` replicas under `rule`, for replicas of
    /// `max_instances` instances, that wants `start` replicas now.
    pub fn new(
        (min, max, rule): (u32, u32, &ScaleRule),
        max_instances: u32,
        start: u32,
        now: Instant,
    ) -> Self {
        Self {
            min,
            max,
            per_replica: rule.per_replica(max_instances),
            scale_in_after: rule.scale_in_after(),
            desired: start.clamp(min, max),
            asked: VecDeque::new(),
            changed_at: now,
        }
    }

    /// Takes a new rule (the app was applied again), keeping what it wants
    /// within the new range.
    pub fn follow(&mut self, (min, max, rule): (u32, u32, &ScaleRule), max_instances: u32) {
        self.min = min;
        self.max = max;
        self.per_replica = rule.per_replica(max_instances);
        self.scale_in_after = rule.scale_in_after();
        self.desired = self.desired.clamp(min, max);
    }

    /// Replicas wanted now.
    pub fn desired(&self) -> u32 {
        self.desired
    }

    /// Its range.
    pub fn range(&self) -> (u32, u32) {
        (self.min, self.max)
    }

    /// The load of the pass that ended at `now` (calls in flight, on
    /// average), with `hosts` able to run it: the change it makes, if any.
    pub fn observe(&mut self, now: Instant, load: f64, hosts: u32) -> Option<Decision> {
        let load = if load.is_finite() { load.max(0.0) } else { 0.0 };
        let asked = self.asked_for(load);
        self.asked.push_back((now, asked));
        while self
            .asked
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) > self.scale_in_after)
        {
            self.asked.pop_front();
        }
        let from = self.desired;
        if asked > from {
            // Out at once, but not past the hosts that can run it.
            let to = asked.min(hosts.max(self.min)).max(from);
            if to == from {
                return None;
            }
            let capped = if to < asked {
                format!(" (only {hosts} hosts can run it)")
            } else {
                String::new()
            };
            return Some(self.change(
                now,
                to,
                load,
                format!(
                    "scale out: {load:.1} calls in flight at {:.1} per replica asks for {asked}{capped}",
                    self.per_replica
                ),
            ));
        }
        let window_passed = now.duration_since(self.changed_at) >= self.scale_in_after;
        let most = self.asked.iter().map(|(_, n)| *n).max().unwrap_or(from);
        if most < from && window_passed {
            return Some(self.change(
                now,
                most,
                load,
                format!(
                    "scale in: at most {most} asked for over {:?} (now {load:.1} calls in flight at {:.1} per replica)",
                    self.scale_in_after, self.per_replica
                ),
            ));
        }
        None
    }

    /// A call is held for it and it has no replica: one now, kept for a
    /// window.
    pub fn activate(&mut self, now: Instant) -> Option<Decision> {
        self.asked.push_back((now, 1));
        (self.desired == 0).then(|| {
            self.change(
                now,
                1,
                0.0,
                "activation: a call waits for it and no host runs it".into(),
            )
        })
    }

    /// Replicas `load` asks for, within the range.
    fn asked_for(&self, load: f64) -> u32 {
        let replicas = (load / self.per_replica).ceil();
        // Saturating: a load past u32 replicas is the maximum anyway.
        let replicas = if replicas >= f64::from(u32::MAX) {
            u32::MAX
        } else {
            replicas as u32
        };
        replicas.clamp(self.min, self.max)
    }

    fn change(&mut self, now: Instant, to: u32, load: f64, why: String) -> Decision {
        let from = std::mem::replace(&mut self.desired, to);
        self.changed_at = now;
        Decision {
            from,
            to,
            load,
            per_replica: self.per_replica,
            why,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(target: u32, window_ms: u64) -> ScaleRule {
        ScaleRule {
            target_in_flight: Some(target),
            target_utilisation: None,
            scale_in_after_ms: Some(window_ms),
        }
    }

    fn at(start: Instant, ms: u64) -> Instant {
        start + Duration::from_millis(ms)
    }

    #[test]
    fn it_scales_out_at_once_and_in_only_after_a_quiet_window() {
        let t0 = Instant::now();
        let rule = rule(2, 3_000);
        let mut scaler = Autoscaler::new((1, 4, &rule), 100, 1, t0);
        assert_eq!(scaler.observe(at(t0, 1_000), 1.5, 4), None);
        let out = scaler.observe(at(t0, 2_000), 7.2, 4).unwrap();
        assert_eq!((out.from, out.to), (1, 4));
        assert!(out.why.contains("7.2 calls in flight"), "{}", out.why);
        // The load stops: nothing given back until 3 s of low passes.
        for ms in [3_000, 4_000, 5_000] {
            assert_eq!(scaler.observe(at(t0, ms), 0.0, 4), None, "at {ms} ms");
        }
        let back = scaler.observe(at(t0, 6_100), 0.0, 4).unwrap();
        assert_eq!((back.from, back.to), (4, 1), "{}", back.why);
        assert_eq!(scaler.desired(), 1, "never below min");
    }

    #[test]
    fn a_load_that_swings_within_the_window_keeps_its_peak() {
        let t0 = Instant::now();
        let rule = rule(2, 3_000);
        let mut scaler = Autoscaler::new((0, 4, &rule), 100, 1, t0);
        let mut decisions = 0;
        for pass in 0..40u64 {
            // High for a second, low for a second, for 40 s.
            let load = if pass % 2 == 0 { 6.0 } else { 0.5 };
            decisions += usize::from(scaler.observe(at(t0, pass * 1_000), load, 4).is_some());
        }
        assert_eq!((decisions, scaler.desired()), (1, 3));
    }

    #[test]
    fn scale_out_stops_at_the_hosts_that_can_run_it() {
        let t0 = Instant::now();
        let rule = rule(1, 1_000);
        let mut scaler = Autoscaler::new((1, 20, &rule), 100, 1, t0);
        let out = scaler.observe(at(t0, 100), 12.0, 3).unwrap();
        assert_eq!(out.to, 3);
        assert!(out.why.contains("only 3 hosts"), "{}", out.why);
        assert_eq!(scaler.observe(at(t0, 200), 12.0, 3), None);
        // A fourth host joins: one more.
        assert_eq!(scaler.observe(at(t0, 300), 12.0, 4).unwrap().to, 4);
    }

    #[test]
    fn from_zero_a_held_call_activates_one_replica_that_stays_a_window() {
        let t0 = Instant::now();
        let rule = rule(5, 2_000);
        let mut scaler = Autoscaler::new((0, 3, &rule), 100, 1, t0);
        assert_eq!(scaler.observe(at(t0, 2_500), 0.0, 3).unwrap().to, 0);
        let activated = scaler.activate(at(t0, 9_000)).unwrap();
        assert_eq!((activated.from, activated.to), (0, 1));
        assert_eq!(scaler.activate(at(t0, 9_001)), None, "once");
        assert_eq!(scaler.observe(at(t0, 10_000), 0.0, 3), None);
        assert_eq!(scaler.observe(at(t0, 11_200), 0.0, 3).unwrap().to, 0);
    }

    #[test]
    fn a_utilisation_target_counts_a_share_of_the_instances_and_garbage_load_is_zero() {
        let t0 = Instant::now();
        let rule = ScaleRule {
            target_in_flight: None,
            target_utilisation: Some(50),
            scale_in_after_ms: None,
        };
        let mut scaler = Autoscaler::new((1, 10, &rule), 8, 1, t0);
        // 4 in flight per replica: 9 in flight asks for 3.
        assert_eq!(scaler.observe(at(t0, 1), 9.0, 10).unwrap().to, 3);
        assert_eq!(scaler.observe(at(t0, 2), f64::NAN, 10), None);
        assert_eq!(scaler.observe(at(t0, 3), f64::INFINITY, 10), None);
    }
}
