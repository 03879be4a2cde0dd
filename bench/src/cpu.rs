//! CPU time: the generator's own (getrusage) and that of processes it is
//! told to watch (/proc/<pid>/stat), so a report can say who was busy.

use std::collections::HashMap;
use std::fs;
use std::time::Duration;

/// User + system CPU of this process (all threads) so far.
pub fn own_cpu() -> Duration {
    // SAFETY: getrusage fills the zeroed struct we own.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no memory effects.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// Machine-wide CPU ticks from /proc/stat: (busy, steal). Busy is user,
/// nice, system, irq and softirq on all cores; steal is time the hypervisor
/// gave to someone else.
#[derive(Debug, Clone, Copy, Default)]
pub struct Machine {
    busy: u64,
    steal: u64,
}

impl Machine {
    pub fn sample() -> Machine {
        let Ok(s) = fs::read_to_string("/proc/stat") else {
            return Machine::default();
        };
        let Some(line) = s.lines().find(|l| l.starts_with("cpu ")) else {
            return Machine::default();
        };
        let f: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .map(|v| v.parse().unwrap_or(0))
            .collect();
        let at = |i: usize| f.get(i).copied().unwrap_or(0);
        // user nice system idle iowait irq softirq steal ...
        Machine {
            busy: at(0) + at(1) + at(2) + at(5) + at(6),
            steal: at(7),
        }
    }

    /// (busy, steal) between two samples.
    pub fn used(&self, later: &Machine) -> (Duration, Duration) {
        let tps = ticks_per_second();
        (
            Duration::from_secs_f64(later.busy.saturating_sub(self.busy) as f64 / tps),
            Duration::from_secs_f64(later.steal.saturating_sub(self.steal) as f64 / tps),
        )
    }
}

/// Machine-wide count of UDP datagrams dropped because a socket's receive
/// buffer was full (RcvbufErrors in /proc/net/snmp): where a timeout went.
pub fn udp_rcvbuf_errors() -> u64 {
    let Ok(s) = fs::read_to_string("/proc/net/snmp") else {
        return 0;
    };
    let mut udp = s.lines().filter(|l| l.starts_with("Udp: "));
    let (Some(names), Some(values)) = (udp.next(), udp.next()) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "RcvbufErrors")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

/// (ppid, utime+stime, cutime+cstime) in ticks, from /proc/<pid>/stat.
fn stat(pid: u32) -> Option<(u32, u64, u64)> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state): ppid = field 4, utime..cstime = fields 14..17.
    let num = |i: usize| f.get(i - 3).and_then(|v| v.parse::<u64>().ok());
    Some((num(4)? as u32, num(14)? + num(15)?, num(16)? + num(17)?))
}

/// A watched process (and, if asked, its children), e.g. radiusd, or the
/// postmaster whose backends do rlm_sql's work.
#[derive(Debug, Clone)]
pub struct Watch {
    pub name: String,
    pub pid: u32,
    pub children: bool,
}

impl std::str::FromStr for Watch {
    type Err = String;
    /// `NAME=PID` or `NAME=PID+` (with its children).
    fn from_str(s: &str) -> Result<Watch, String> {
        let (name, pid) = s
            .split_once('=')
            .ok_or_else(|| format!("--watch {s}: expected NAME=PID or NAME=PID+"))?;
        let (pid, children) = match pid.strip_suffix('+') {
            Some(p) => (p, true),
            None => (pid, false),
        };
        let pid = pid
            .parse()
            .map_err(|_| format!("--watch {s}: PID must be a number"))?;
        Ok(Watch {
            name: name.to_string(),
            pid,
            children,
        })
    }
}

/// Ticks per process at one moment.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    own: HashMap<u32, u64>,
    /// The watched process's reaped children (cutime + cstime).
    reaped: u64,
}

impl Watch {
    pub fn sample(&self) -> Sample {
        let mut out = Sample::default();
        if let Some((_, t, c)) = stat(self.pid) {
            out.own.insert(self.pid, t);
            out.reaped = c;
        }
        if self.children {
            if let Ok(dir) = fs::read_dir("/proc") {
                for e in dir.flatten() {
                    let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok())
                    else {
                        continue;
                    };
                    if let Some((ppid, t, _)) = stat(pid) {
                        if ppid == self.pid {
                            out.own.insert(pid, t);
                        }
                    }
                }
            }
        }
        out
    }

    /// CPU used between two samples. A child born in between counts from
    /// zero; one that exited is in the parent's reaped time.
    pub fn used(&self, before: &Sample, after: &Sample) -> Duration {
        let mut ticks = after.reaped.saturating_sub(before.reaped);
        for (pid, t) in &after.own {
            ticks += t.saturating_sub(before.own.get(pid).copied().unwrap_or(0));
        }
        Duration::from_secs_f64(ticks as f64 / ticks_per_second())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_udp_drop_counter() {
        // Present on every Linux with IPv4; a counter only grows.
        let a = udp_rcvbuf_errors();
        assert!(std::fs::read_to_string("/proc/net/snmp")
            .unwrap()
            .contains("RcvbufErrors"));
        assert!(udp_rcvbuf_errors() >= a);
    }

    #[test]
    fn parses_watch_specs() {
        let w: Watch = "postgres=123+".parse().unwrap();
        assert_eq!(
            (w.name.as_str(), w.pid, w.children),
            ("postgres", 123, true)
        );
        let w: Watch = "radiusd=9".parse().unwrap();
        assert!(!w.children);
        assert!("x".parse::<Watch>().is_err());
        assert!("x=y".parse::<Watch>().is_err());
    }

    #[test]
    fn measures_own_busy_loop() {
        let me = Watch {
            name: "self".into(),
            pid: std::process::id(),
            children: false,
        };
        // Burn 200 ms of CPU (not wall time: other work may share the cores).
        let (b, c0) = (me.sample(), own_cpu());
        let mut x = 0u64;
        while own_cpu() - c0 < Duration::from_millis(200) {
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
        }
        let used = me.used(&b, &me.sample());
        // /proc counts in clock ticks (10 ms).
        assert!(used >= Duration::from_millis(170), "{used:?}");
        assert!(used <= Duration::from_millis(400), "{used:?}");
    }
}
