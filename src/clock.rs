//! Time as the document stores it: ISO 8601 UTC strings, plus epoch seconds for the queue.

use chrono::{SecondsFormat, Utc};

/// Now as ISO 8601 UTC with microseconds, the form Python's `datetime.isoformat()` writes
/// (`2026-11-28T01:46:20.123456+00:00`), so documents written by either side look alike.
pub fn now_iso() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Micros, false)
}

/// The time `ago` before now, in the same form: compares with stored timestamps as text.
pub fn iso_before(ago: std::time::Duration) -> String {
    let ago = chrono::Duration::from_std(ago).unwrap_or(chrono::Duration::MAX);
    (Utc::now() - ago).to_rfc3339_opts(SecondsFormat::Micros, false)
}

/// Seconds since the epoch as an ISO 8601 UTC string, in the same form.
pub fn iso_at(epoch: f64) -> String {
    let micros = (epoch * 1e6).round() as i64;
    chrono::DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Micros, false)
}

/// Seconds since the epoch, as a float.
pub fn now_epoch() -> f64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    d.as_secs_f64()
}
