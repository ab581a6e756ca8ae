//! What `GET /metrics` reports, in the Prometheus text format: requests by route and status,
//! the latency of inferences (a histogram), inferences in flight, and the keys stored and
//! loaded.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the inference latency buckets: from a small network at `N = 2^13`
/// (tens of milliseconds) to a CIFAR-10 network at `N = 2^16` (tens of seconds).
const BUCKETS: [f64; 14] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0,
];

/// The service's counters. Updates are lock-free except the per-route request counts.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    latency_counts: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
    in_flight: AtomicI64,
}

/// Values read from elsewhere at the time of a scrape.
#[derive(Debug, Clone, Copy)]
pub struct Gauges {
    /// Key sets in the key store.
    pub stored_keys: usize,
    /// Their bytes.
    pub stored_key_bytes: u64,
    /// Key sets bound to the circuit in memory.
    pub loaded_keys: usize,
}

/// Decrements the in-flight gauge when dropped (so a failed or cancelled request is counted
/// out too).
#[derive(Debug)]
pub struct InFlight<'a>(&'a Metrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// Counts one answered request.
    pub fn count_request(&self, route: &str, status: u16) {
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *requests.entry((route.to_owned(), status)).or_default() += 1;
    }

    /// Records the server time of one successful inference.
    pub fn observe_inference(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        for (bound, count) in BUCKETS.iter().zip(&self.latency_counts) {
            if seconds <= *bound {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.latency_sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Marks an inference as admitted until the guard is dropped.
    pub fn in_flight(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }

    /// Inferences admitted and not yet answered.
    pub fn in_flight_now(&self) -> i64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// The Prometheus text exposition.
    pub fn render(&self, gauges: Gauges) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP blindfold_http_requests_total HTTP requests answered, by route and status.\n\
             # TYPE blindfold_http_requests_total counter\n",
        );
        let requests = self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for ((route, status), n) in &requests {
            let _ = writeln!(
                out,
                "blindfold_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str(
            "# HELP blindfold_inference_seconds Server time of successful inferences (reading \
             the input, running the circuit, writing the output).\n\
             # TYPE blindfold_inference_seconds histogram\n",
        );
        for (bound, count) in BUCKETS.iter().zip(&self.latency_counts) {
            let _ = writeln!(
                out,
                "blindfold_inference_seconds_bucket{{le=\"{bound}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let sum = self.latency_sum_micros.load(Ordering::Relaxed) as f64 * 1e-6;
        let _ = writeln!(
            out,
            "blindfold_inference_seconds_bucket{{le=\"+Inf\"}} {count}\n\
             blindfold_inference_seconds_sum {sum}\n\
             blindfold_inference_seconds_count {count}"
        );
        let _ = write!(
            out,
            "# HELP blindfold_inferences_in_flight Inferences admitted (running or queued).\n\
             # TYPE blindfold_inferences_in_flight gauge\n\
             blindfold_inferences_in_flight {}\n\
             # HELP blindfold_stored_keys Evaluation key sets in the key store.\n\
             # TYPE blindfold_stored_keys gauge\n\
             blindfold_stored_keys {}\n\
             # HELP blindfold_stored_key_bytes Bytes of the evaluation keys in the key store.\n\
             # TYPE blindfold_stored_key_bytes gauge\n\
             blindfold_stored_key_bytes {}\n\
             # HELP blindfold_loaded_keys Evaluation key sets bound to the circuit in memory.\n\
             # TYPE blindfold_loaded_keys gauge\n\
             blindfold_loaded_keys {}\n",
            self.in_flight_now(),
            gauges.stored_keys,
            gauges.stored_key_bytes,
            gauges.loaded_keys,
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_histogram_is_cumulative_and_the_text_is_prometheus() {
        let m = Metrics::default();
        m.observe_inference(Duration::from_millis(70));
        m.observe_inference(Duration::from_secs(3));
        m.count_request("/v1/infer", 200);
        m.count_request("/v1/infer", 200);
        m.count_request("/v1/keys", 400);
        let guard = m.in_flight();
        let text = m.render(Gauges {
            stored_keys: 2,
            stored_key_bytes: 1234,
            loaded_keys: 1,
        });
        drop(guard);
        for line in [
            "blindfold_http_requests_total{route=\"/v1/infer\",status=\"200\"} 2",
            "blindfold_http_requests_total{route=\"/v1/keys\",status=\"400\"} 1",
            "blindfold_inference_seconds_bucket{le=\"0.05\"} 0",
            "blindfold_inference_seconds_bucket{le=\"0.1\"} 1",
            "blindfold_inference_seconds_bucket{le=\"5\"} 2",
            "blindfold_inference_seconds_bucket{le=\"+Inf\"} 2",
            "blindfold_inference_seconds_count 2",
            "blindfold_inferences_in_flight 1",
            "blindfold_stored_key_bytes 1234",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
        }
        assert_eq!(m.in_flight_now(), 0);
    }
}
