//! Trying again after a failure: waits that double from a first delay up to
//! a cap, reset once things work. Provider processes that die and
//! messaging links whose NATS server is down are retried this way.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Waits that double from `first` up to `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// Starts at `first`, doubles each time, never beyond `max`.
    pub fn new(first: Duration, max: Duration) -> Self {
        Self {
            first,
            max,
            next: first.min(max),
        }
    }

    /// The wait before the next try.
    pub fn delay(&self) -> Duration {
        self.next
    }

    /// Back to the first delay: the thing works again.
    pub fn reset(&mut self) {
        self.next = self.first.min(self.max);
    }

    /// Waits [`Self::delay`] and doubles it for next time; `false` when
    /// `stop` fired first.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropped, it has not doubled the delay.
    pub async fn wait(&mut self, stop: &CancellationToken) -> bool {
        tokio::select! {
            () = stop.cancelled() => return false,
            () = tokio::time::sleep(self.next) => {}
        }
        self.next = self.next.saturating_mul(2).min(self.max);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    const fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[tokio::test(start_paused = true)]
    async fn waits_double_up_to_the_cap_and_start_over_after_a_reset() {
        let stop = CancellationToken::new();
        let mut backoff = Backoff::new(ms(100), ms(5_000));
        for expected in [100, 200, 400, 800, 1_600, 3_200, 5_000, 5_000] {
            let before = Instant::now();
            assert!(backoff.wait(&stop).await);
            assert_eq!(before.elapsed(), ms(expected));
        }
        backoff.reset();
        assert_eq!(backoff.delay(), ms(100));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_ends_the_wait_at_once() {
        let stop = CancellationToken::new();
        let mut backoff = Backoff::new(ms(5_000), ms(5_000));
        let cancel = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(ms(50)).await;
            cancel.cancel();
        });
        let before = Instant::now();
        assert!(!backoff.wait(&stop).await);
        assert_eq!(before.elapsed(), ms(50));
    }
}
