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
        // The log is in time order (see the push below), so a window's requests are a
        // suffix found by binary search: a large configured limit costs log(limit) per
        // request, not a scan of every logged request.
        let first_inside = |log: &VecDeque<Instant>, w: &Window| {
            log.partition_point(|t| now.duration_since(*t) >= w.interval)
        };
        let used = |log: &VecDeque<Instant>, w: &Window| (log.len() - first_inside(log, w)) as u32;
        let refused = windows.iter().find(|w| used(log, w) >= w.limit).copied();
        if let Some(w) = refused {
            // The oldest request inside the window frees a slot when it leaves it.
            let oldest = log.get(first_inside(log, &w)).copied().unwrap_or(now);
            let retry_after = w.interval.saturating_sub(now.duration_since(oldest));
            return Verdict {
                allowed: false,
                window: w,
                remaining: 0,
                retry_after,
            };
        }
        // `now` was read before the lock, so another thread may have logged a later
        // instant already; logging the later of the two keeps the log ordered.
        let at = log.back().map_or(now, |last| (*last).max(now));
        log.push_back(at);
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
    fn verdicts_match_a_full_scan_of_the_log_with_unordered_instants() {
        let (per_minute, burst) = (1_000usize, 300usize);
        let l = limiter(per_minute as u32, burst as u32);
        let t0 = Instant::now();
        // The reference: the logged instants, scanned in full for each request.
        let mut log: Vec<Instant> = Vec::new();
        let mut seed = 7u64;
        let (mut allowed, mut refused) = (0, 0);
        for n in 0..6_000u64 {
            // Mostly forward in time, now and then a few ms back: threads read the clock
            // before they take the lock.
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let back = (seed >> 33) % 16 * 4;
            let at = t0 + Duration::from_millis((n * 20 + 20).saturating_sub(back));
            // Like the limiter, forget what is a minute old by this request's clock.
            while log
                .first()
                .is_some_and(|t| at.duration_since(*t) >= Duration::from_secs(60))
            {
                log.remove(0);
            }
            let inside = |log: &[Instant], secs: u64| {
                log.iter()
                    .filter(|t| at.duration_since(**t) < Duration::from_secs(secs))
                    .count()
            };
            let (minute, ten) = (inside(&log, 60), inside(&log, 10));
            let v = l.check("a", Class::Read, false, at);
            if minute < per_minute && ten < burst {
                assert!(v.allowed, "request {n}");
                log.push(log.last().map_or(at, |last| (*last).max(at)));
                let left = (per_minute - minute - 1).min(burst - ten - 1);
                assert_eq!(v.remaining as usize, left, "request {n}");
                allowed += 1;
            } else {
                assert!(!v.allowed, "request {n}");
                let secs = if minute >= per_minute { 60 } else { 10 };
                let oldest = log
                    .iter()
                    .find(|t| at.duration_since(**t) < Duration::from_secs(secs))
                    .copied()
                    .unwrap_or(at);
                let wait = Duration::from_secs(secs).saturating_sub(at.duration_since(oldest));
                assert_eq!(v.retry_after, wait, "request {n}");
                refused += 1;
            }
        }
        assert!(
            allowed > 1_500 && refused > 1_500,
            "{allowed} allowed, {refused} refused"
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
