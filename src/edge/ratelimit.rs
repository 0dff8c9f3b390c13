//! Sliding-window rate limits per token (per client IP without one), in process memory.
//!
//! Each client has a log of its recent request times per class (reads, writes); a request
//! is allowed when every window (60 s and 10 s) still has room. Several instances behind a
//! load balancer each enforce the limits on their own share of the traffic.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::Settings;

/// Reads (GET, HEAD) or writes (everything else).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    Read,
    Write,
}

/// One window: at most `limit` requests per `interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub limit: u32,
    pub interval: Duration,
}

/// What the limiter decided, for the response headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    /// The window closest to its limit.
    pub window: Window,
    pub remaining: u32,
    /// When refused: how long until the request would be allowed.
    pub retry_after: Duration,
}

/// The windows of one class and mode.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub per_minute: u32,
    pub burst: u32,
}

impl Limits {
    fn windows(self, test_mode: bool) -> [Window; 2] {
        // Test mode gets half of live mode's limits, as with Commerce Layer.
        let scale = |n: u32| if test_mode { (n / 2).max(1) } else { n };
        [
            Window {
                limit: scale(self.per_minute),
                interval: Duration::from_secs(60),
            },
            Window {
                limit: scale(self.burst),
                interval: Duration::from_secs(10),
            },
        ]
    }
}

/// The limiter shared by every worker of a process.
pub struct RateLimiter {
    reads: Limits,
    writes: Limits,
    clients: Mutex<HashMap<(String, Class), VecDeque<Instant>>>,
    last_sweep: Mutex<Instant>,
}

impl RateLimiter {
    pub fn new(settings: &Settings) -> Self {
        Self {
            reads: Limits {
                per_minute: settings.rate_limit_reads_per_minute,
                burst: settings.rate_limit_reads_burst,
            },
            writes: Limits {
                per_minute: settings.rate_limit_writes_per_minute,
                burst: settings.rate_limit_writes_burst,
            },
            clients: Mutex::new(HashMap::new()),
            last_sweep: Mutex::new(Instant::now()),
        }
    }

    /// Records a request of `client` at `now` if it is allowed.
    pub fn check(&self, client: &str, class: Class, test_mode: bool, now: Instant) -> Verdict {
        let limits = match class {
            Class::Read => self.reads,
            Class::Write => self.writes,
        };
        let windows = limits.windows(test_mode);
        self.sweep(now);
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        let log = clients.entry((client.to_owned(), class)).or_default();
        let longest = windows.iter().map(|w| w.interval).max().unwrap_or_default();
        while log
            .front()
            .is_some_and(|t| now.duration_since(*t) >= longest)
        {
            log.pop_front();
        }
        let used = |log: &VecDeque<Instant>, w: &Window| {
            log.iter()
                .filter(|t| now.duration_since(**t) < w.interval)
                .count() as u32
        };
        let refused = windows.iter().find(|w| used(log, w) >= w.limit).copied();
        if let Some(w) = refused {
            // The oldest request inside the window frees a slot when it leaves it.
            let oldest = log
                .iter()
                .find(|t| now.duration_since(**t) < w.interval)
                .copied()
                .unwrap_or(now);
            let retry_after = w.interval.saturating_sub(now.duration_since(oldest));
            return Verdict {
                allowed: false,
                window: w,
                remaining: 0,
                retry_after,
            };
        }
        log.push_back(now);
        let (window, remaining) = windows
            .iter()
            .map(|w| (*w, w.limit.saturating_sub(used(log, w))))
            .min_by_key(|(_, r)| *r)
            .unwrap_or((windows[0], windows[0].limit));
        Verdict {
            allowed: true,
            window,
            remaining,
            retry_after: Duration::ZERO,
        }
    }

    /// Forgets clients idle for a minute, at most once a minute.
    fn sweep(&self, now: Instant) {
        let mut last = self.last_sweep.lock().unwrap_or_else(|e| e.into_inner());
        if now.duration_since(*last) < Duration::from_secs(60) {
            return;
        }
        *last = now;
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        clients.retain(|_, log| {
            log.back()
                .is_some_and(|t| now.duration_since(*t) < Duration::from_secs(60))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_minute: u32, burst: u32) -> RateLimiter {
        let mut s = Settings::defaults();
        s.rate_limit_reads_per_minute = per_minute;
        s.rate_limit_reads_burst = burst;
        RateLimiter::new(&s)
    }

    #[test]
    fn burst_window_slides() {
        let l = limiter(100, 3);
        let t0 = Instant::now();
        for i in 0..3 {
            let v = l.check("a", Class::Read, false, t0 + Duration::from_secs(i));
            assert!(v.allowed);
            assert_eq!(v.remaining, 2 - i as u32);
        }
        let refused = l.check("a", Class::Read, false, t0 + Duration::from_secs(3));
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after, Duration::from_secs(7));
        assert!(
            l.check("b", Class::Read, false, t0).allowed,
            "clients are separate"
        );
        assert!(
            l.check("a", Class::Write, false, t0).allowed,
            "classes are separate"
        );
        assert!(
            l.check("a", Class::Read, false, t0 + Duration::from_secs(10))
                .allowed,
            "the first request left the window"
        );
    }

    #[test]
    fn minute_window_and_test_mode() {
        let l = limiter(4, 100);
        let t0 = Instant::now();
        assert!(l.check("a", Class::Read, true, t0).allowed);
        assert!(l.check("a", Class::Read, true, t0).allowed);
        let v = l.check("a", Class::Read, true, t0);
        assert!(!v.allowed, "test mode has half the limit");
        assert_eq!(v.window.interval, Duration::from_secs(60));
    }
}
