//! Time spent on OpenVPN's thread per event: the plugin's promise is that it
//! never holds OpenVPN up, so it measures itself and reports at close. Both
//! wall time and the thread's CPU time are kept: on a busy host the wall time
//! also counts the moments the scheduler gave the CPU to someone else.

use std::time::Duration;

/// Samples kept per event kind (enough for percentiles, bounded memory).
const MAX_SAMPLES: usize = 100_000;

#[derive(Debug, Default)]
pub struct Timings {
    kinds: Vec<(&'static str, Vec<u32>)>,
    /// Events during which OpenVPN's thread blocked (voluntary switch).
    blocked: usize,
}

impl Timings {
    /// Records wall and CPU time under `<kind> wall` and `<kind> cpu`.
    pub fn record_both(&mut self, kind: &'static str, wall: Duration, cpu: Duration) {
        let (w, c) = match kind {
            "TLS_VERIFY" => ("TLS_VERIFY wall", "TLS_VERIFY cpu"),
            "CLIENT_CONNECT_V2" => ("CLIENT_CONNECT_V2 wall", "CLIENT_CONNECT_V2 cpu"),
            "CLIENT_DISCONNECT" => ("CLIENT_DISCONNECT wall", "CLIENT_DISCONNECT cpu"),
            _ => ("OTHER wall", "OTHER cpu"),
        };
        self.record(w, wall);
        self.record(c, cpu);
    }

    pub fn record_blocked(&mut self) {
        self.blocked += 1;
    }

    pub fn record(&mut self, kind: &'static str, elapsed: Duration) {
        let nanos = u32::try_from(elapsed.as_nanos()).unwrap_or(u32::MAX);
        match self.kinds.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, v)) if v.len() < MAX_SAMPLES => v.push(nanos),
            Some(_) => {}
            None => self.kinds.push((kind, vec![nanos])),
        }
    }

    /// One line per event kind: count, median, 99th percentile, maximum (µs).
    pub fn summary(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .kinds
            .iter()
            .map(|(kind, samples)| {
                let mut s = samples.clone();
                s.sort_unstable();
                let pick = |q: f64| {
                    let i = ((s.len() as f64 - 1.0) * q).round() as usize;
                    f64::from(s.get(i).copied().unwrap_or(0)) / 1000.0
                };
                format!(
                    "timing {kind}: n={} p50={:.1}us p99={:.1}us max={:.1}us",
                    s.len(),
                    pick(0.5),
                    pick(0.99),
                    pick(1.0)
                )
            })
            .collect();
        if !self.kinds.is_empty() {
            lines.push(format!("timing events that blocked: {}", self.blocked));
        }
        lines
    }
}

/// Voluntary context switches of the calling thread so far: one that grows
/// during an event means the event waited (lock, I/O), not just got preempted.
pub fn thread_voluntary_switches() -> i64 {
    // SAFETY: an all-zero rusage is a valid value for getrusage to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the rusage we own.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    if rc != 0 {
        return 0;
    }
    usage.ru_nvcsw
}

/// CPU time consumed by the calling thread so far.
pub fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_reports_percentiles_in_microseconds() {
        let mut t = Timings::default();
        for us in 1..=100 {
            t.record("TLS_VERIFY", Duration::from_micros(us));
        }
        assert_eq!(
            t.summary(),
            vec![
                "timing TLS_VERIFY: n=100 p50=51.0us p99=99.0us max=100.0us".to_string(),
                "timing events that blocked: 0".to_string()
            ]
        );
    }
}
