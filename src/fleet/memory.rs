//! The memory figures a worker reports in its `info` message, as the original did:
//! `available`, what the machine has free (`MemAvailable`), and `used`, what this process uses
//! on its own (its unique set size: private pages, which leave with it), in bytes.

use serde_json::{Map, Value};
use std::time::Duration;

/// The key, in `mem`, of how long the worker has been in its state, in whole seconds.
///
/// The original's `info` message has no field for it, and its schema refuses unknown fields,
/// so a new top-level field would break an original manager. `mem` is the one free-form
/// object in the message: an original manager keeps it as it is and ignores this key, and
/// zeroG's shows it as the worker's time in state.
pub const IN_STATE_SECONDS: &str = "inStateSeconds";

pub fn with_time_in_state(mut mem: Map<String, Value>, in_state: Duration) -> Map<String, Value> {
    mem.insert(IN_STATE_SECONDS.into(), in_state.as_secs().into());
    mem
}

pub fn mem() -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("available".into(), available().unwrap_or(0).into());
    m.insert("used".into(), used().unwrap_or(0).into());
    m
}

/// A `Name:   1234 kB` line's value in bytes.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
}

fn available() -> Option<u64> {
    kib_field(
        &std::fs::read_to_string("/proc/meminfo").ok()?,
        "MemAvailable",
    )
}

fn used() -> Option<u64> {
    match std::fs::read_to_string("/proc/self/smaps_rollup") {
        Ok(text) => Some(kib_field(&text, "Private_Clean")? + kib_field(&text, "Private_Dirty")?),
        // Older kernels: the resident set, which counts shared pages too.
        Err(_) => kib_field(&std::fs::read_to_string("/proc/self/status").ok()?, "VmRSS"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_figures_are_this_machines_and_this_processes() {
        let m = mem();
        let available = m["available"].as_u64().unwrap();
        let used = m["used"].as_u64().unwrap();
        assert!(available > 16 << 20, "{available}");
        // A test process uses more than a megabyte of its own, and less than the machine has.
        assert!(used > 1 << 20 && used < available + (64 << 30), "{used}");
    }

    #[test]
    fn time_in_state_rides_in_mem_in_whole_seconds() {
        let m = with_time_in_state(mem(), Duration::from_millis(3_900));
        assert_eq!(m[IN_STATE_SECONDS], 3);
        assert!(m.contains_key("available") && m.contains_key("used"));
    }

    #[test]
    fn kib_fields_are_read_in_bytes() {
        assert_eq!(
            kib_field(
                "MemTotal: 10 kB\nMemAvailable:    2048 kB\n",
                "MemAvailable"
            ),
            Some(2048 * 1024)
        );
        assert_eq!(kib_field("MemTotal: 10 kB\n", "MemAvailable"), None);
    }
}
