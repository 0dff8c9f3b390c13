//! Background work of `refunds serve` (webhook deliveries, reconciliation): a named thread
//! that runs rounds, off the request path, until it is stopped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A running worker thread; stopping it lets its current round finish.
pub struct Worker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Worker {
    /// Runs `round` until stopped. A round answering `true` (more is waiting) is followed
    /// at once; otherwise the thread rests `pause`, waking often enough to notice a stop.
    pub fn spawn(
        name: &str,
        pause: Duration,
        mut round: impl FnMut() -> bool + Send + 'static,
    ) -> Result<Self, String> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                while !flag.load(Ordering::SeqCst) {
                    if round() {
                        continue;
                    }
                    let until = Instant::now() + pause;
                    while !flag.load(Ordering::SeqCst) && Instant::now() < until {
                        std::thread::sleep(Duration::from_millis(50).min(pause));
                    }
                }
            })
            .map_err(|e| format!("cannot start the {name} thread: {e}"))?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }

    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn runs_rounds_until_stopped() {
        let rounds = Arc::new(AtomicUsize::new(0));
        let seen = rounds.clone();
        // More work for the first three rounds, then rest.
        let worker = Worker::spawn("test", Duration::from_millis(10), move || {
            seen.fetch_add(1, Ordering::SeqCst) < 3
        })
        .expect("spawn");
        while rounds.load(Ordering::SeqCst) < 5 {
            std::thread::sleep(Duration::from_millis(5));
        }
        worker.stop();
        let after = rounds.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(rounds.load(Ordering::SeqCst), after, "no round after stop");
    }
}
