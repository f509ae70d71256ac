//! The control channel's messages, byte for byte as the original zeroG wrote them, so that its
//! `WorkerManager` can drive zeroG workers and zeroG's manager can drive its servers.
//!
//! A message is a JSON object: `msgtype`, `timestamp` (naive UTC, `2026-12-05T14:07:23.123456`,
//! the microseconds left out when they are zero, as Python's `isoformat()` does), then its own
//! fields in a fixed order. It is written as Python's `json.dumps` writes it: `", "` and `": "`
//! between items, non-ASCII escaped. To a worker: `requestInfo`, `drain`, `undrain`, `retire`,
//! `killJob` (uuid). From a worker, on the updates tube: `info` (workerId, state, uuid, mem,
//! retiring) and `job` (workerId, uuid, action `start` or `end`).

use crate::job::json_kind;
use serde_json::{Map, Value};

/// One message: when it was made, and what it says.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub timestamp: String,
    pub body: Body,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    Job {
        worker_id: String,
        uuid: String,
        action: JobAction,
    },
    Info(Info),
    RequestInfo,
    KillJob {
        uuid: String,
    },
    Drain,
    UnDrain,
    Retire,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobAction {
    Start,
    End,
}

impl JobAction {
    pub fn as_str(self) -> &'static str {
        match self {
            JobAction::Start => "start",
            JobAction::End => "end",
        }
    }
}

/// A worker's answer to `requestInfo`.
#[derive(Clone, Debug, PartialEq)]
pub struct Info {
    pub worker_id: String,
    /// One of [`super::WorkerState`]'s names (any string is read).
    pub state: String,
    /// The running job's uuid, or "" when idle.
    pub uuid: String,
    /// `{"available": bytes, "used": bytes}` from a zeroG worker; any object is read.
    pub mem: Map<String, Value>,
    pub retiring: bool,
}

/// Now, as the original stamped its messages: naive UTC, microseconds only when not zero.
pub fn timestamp_now() -> String {
    let now = chrono::Utc::now().naive_utc();
    if now.and_utc().timestamp_subsec_micros() == 0 {
        now.format("%Y-%m-%dT%H:%M:%S").to_string()
    } else {
        now.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
    }
}

impl Message {
    /// A message stamped now.
    pub fn new(body: Body) -> Message {
        Message {
            timestamp: timestamp_now(),
            body,
        }
    }

    pub fn msgtype(&self) -> &'static str {
        match &self.body {
            Body::Job { .. } => "job",
            Body::Info(_) => "info",
            Body::RequestInfo => "requestInfo",
            Body::KillJob { .. } => "killJob",
            Body::Drain => "drain",
            Body::UnDrain => "undrain",
            Body::Retire => "retire",
        }
    }

    /// Its fields in the original's order: `msgtype`, `timestamp`, then its own.
    pub fn fields(&self) -> Vec<(&'static str, Value)> {
        let mut out = vec![
            ("msgtype", Value::from(self.msgtype())),
            ("timestamp", Value::from(self.timestamp.clone())),
        ];
        match &self.body {
            Body::Job {
                worker_id,
                uuid,
                action,
            } => out.extend([
                ("workerId", Value::from(worker_id.clone())),
                ("uuid", Value::from(uuid.clone())),
                ("action", Value::from(action.as_str())),
            ]),
            Body::Info(info) => out.extend([
                ("workerId", Value::from(info.worker_id.clone())),
                ("state", Value::from(info.state.clone())),
                ("uuid", Value::from(info.uuid.clone())),
                ("mem", Value::Object(info.mem.clone())),
                ("retiring", Value::from(info.retiring)),
            ]),
            Body::KillJob { uuid } => out.push(("uuid", Value::from(uuid.clone()))),
            Body::RequestInfo | Body::Drain | Body::UnDrain | Body::Retire => {}
        }
        out
    }

    /// The queue body: the JSON object as Python's `json.dumps` writes it.
    pub fn to_json(&self) -> String {
        let items: Vec<String> = self
            .fields()
            .iter()
            .map(|(k, v)| format!("{}: {}", py_json(&Value::from(*k)), py_json(v)))
            .collect();
        format!("{{{}}}", items.join(", "))
    }

    /// Reads a queue body. Fails, saying why, on anything that is not one of the messages: not
    /// JSON, not an object, no or an unknown `msgtype`, a field missing, of the wrong type, or
    /// one the message does not have.
    pub fn parse(body: &[u8]) -> Result<Message, String> {
        let value: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
        let Value::Object(map) = value else {
            return Err(format!("not a JSON object: {}", json_kind(&value)));
        };
        Message::from_map(map)
    }

    /// [`Message::parse`] for a JSON object already read.
    pub fn from_map(mut map: Map<String, Value>) -> Result<Message, String> {
        let msgtype = match map.remove("msgtype") {
            Some(Value::String(s)) => s,
            Some(other) => {
                return Err(format!(
                    "msgtype must be a string, not {}",
                    json_kind(&other)
                ))
            }
            None => return Err("no msgtype".into()),
        };
        let timestamp = match map.remove("timestamp") {
            Some(Value::String(s)) => s,
            None | Some(Value::Null) => timestamp_now(),
            Some(other) => {
                return Err(format!(
                    "timestamp must be an ISO string, not {}",
                    json_kind(&other)
                ))
            }
        };
        let mut take = Fields {
            map,
            msgtype: &msgtype,
        };
        let body = match msgtype.as_str() {
            "job" => Body::Job {
                worker_id: take.string("workerId", None)?,
                uuid: take.string("uuid", None)?,
                action: match take.string("action", None)?.as_str() {
                    "start" => JobAction::Start,
                    "end" => JobAction::End,
                    other => {
                        return Err(format!(
                            "job message: action must be \"start\" or \"end\", not {other:?}"
                        ))
                    }
                },
            },
            "info" => Body::Info(Info {
                worker_id: take.string("workerId", None)?,
                state: take.string("state", None)?,
                uuid: take.string("uuid", Some(""))?,
                mem: match take.map.remove("mem") {
                    None | Some(Value::Null) => Map::new(),
                    Some(Value::Object(m)) => m,
                    Some(other) => {
                        return Err(format!(
                            "info message: mem must be an object, not {}",
                            json_kind(&other)
                        ))
                    }
                },
                retiring: match take.map.remove("retiring") {
                    None | Some(Value::Null) => false,
                    Some(Value::Bool(b)) => b,
                    Some(other) => {
                        return Err(format!(
                            "info message: retiring must be true or false, not {}",
                            json_kind(&other)
                        ))
                    }
                },
            }),
            "requestInfo" => Body::RequestInfo,
            "killJob" => Body::KillJob {
                uuid: take.string("uuid", None)?,
            },
            "drain" => Body::Drain,
            "undrain" => Body::UnDrain,
            "retire" => Body::Retire,
            other => return Err(format!("unknown msgtype {other:?}")),
        };
        if let Some(extra) = take.map.keys().next() {
            return Err(format!("{msgtype} message has no field {extra:?}"));
        }
        Ok(Message { timestamp, body })
    }
}

struct Fields<'a> {
    map: Map<String, Value>,
    msgtype: &'a str,
}

impl Fields<'_> {
    fn string(&mut self, name: &str, default: Option<&str>) -> Result<String, String> {
        match (self.map.remove(name), default) {
            (Some(Value::String(s)), _) => Ok(s),
            (None | Some(Value::Null), Some(d)) => Ok(d.to_owned()),
            (None, None) => Err(format!("{} message needs {name}", self.msgtype)),
            (Some(other), _) => Err(format!(
                "{} message: {name} must be a string, not {}",
                self.msgtype,
                json_kind(&other)
            )),
        }
    }
}

/// A value as Python's `json.dumps` writes it: `", "` and `": "` separators, non-ASCII as
/// `\uXXXX` escapes (surrogate pairs beyond the BMP).
fn py_json(v: &Value) -> String {
    match v {
        Value::String(s) => {
            let plain = serde_json::to_string(s).expect("a string serializes");
            let mut out = String::with_capacity(plain.len());
            for c in plain.chars() {
                if c.is_ascii() {
                    out.push(c);
                } else {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        out.push_str(&format!("\\u{unit:04x}"));
                    }
                }
            }
            out
        }
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(py_json).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{}: {}", py_json(&Value::from(k.clone())), py_json(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(body: Body) -> Message {
        Message {
            timestamp: "2021-11-10T18:22:03.123456".into(),
            body,
        }
    }

    #[test]
    fn bodies_are_the_originals_bytes() {
        let mut mem = Map::new();
        mem.insert("available".into(), 8_000_000_000u64.into());
        mem.insert("used".into(), 123_456_789u64.into());
        let cases = [
            (
                at(Body::Job {
                    worker_id: "zerog+$h+$svc+$4242".into(),
                    uuid: "6f1c".into(),
                    action: JobAction::Start,
                }),
                r#"{"msgtype": "job", "timestamp": "2021-11-10T18:22:03.123456", "workerId": "zerog+$h+$svc+$4242", "uuid": "6f1c", "action": "start"}"#,
            ),
            (
                at(Body::Info(Info {
                    worker_id: "zerog+$h+$svc+$4242".into(),
                    state: "activeIdle".into(),
                    uuid: String::new(),
                    mem,
                    retiring: false,
                })),
                r#"{"msgtype": "info", "timestamp": "2021-11-10T18:22:03.123456", "workerId": "zerog+$h+$svc+$4242", "state": "activeIdle", "uuid": "", "mem": {"available": 8000000000, "used": 123456789}, "retiring": false}"#,
            ),
            (
                at(Body::RequestInfo),
                r#"{"msgtype": "requestInfo", "timestamp": "2021-11-10T18:22:03.123456"}"#,
            ),
            (
                at(Body::KillJob {
                    uuid: "6f1c".into(),
                }),
                r#"{"msgtype": "killJob", "timestamp": "2021-11-10T18:22:03.123456", "uuid": "6f1c"}"#,
            ),
            (
                at(Body::Drain),
                r#"{"msgtype": "drain", "timestamp": "2021-11-10T18:22:03.123456"}"#,
            ),
            (
                at(Body::UnDrain),
                r#"{"msgtype": "undrain", "timestamp": "2021-11-10T18:22:03.123456"}"#,
            ),
            (
                at(Body::Retire),
                r#"{"msgtype": "retire", "timestamp": "2021-11-10T18:22:03.123456"}"#,
            ),
        ];
        for (msg, bytes) in cases {
            assert_eq!(msg.to_json(), bytes);
            assert_eq!(Message::parse(bytes.as_bytes()).unwrap(), msg, "{bytes}");
        }
    }

    #[test]
    fn info_defaults_and_non_ascii_are_written_as_python_does() {
        let msg = Message::parse(
            r#"{"msgtype": "info", "timestamp": "2021-01-01T00:00:00", "workerId": "zerog+$hôst+$n+$1", "state": "x"}"#
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(
            msg.to_json(),
            r#"{"msgtype": "info", "timestamp": "2021-01-01T00:00:00", "workerId": "zerog+$h\u00f4st+$n+$1", "state": "x", "uuid": "", "mem": {}, "retiring": false}"#
        );
    }

    #[test]
    fn a_timestamp_is_naive_utc_with_microseconds_unless_zero() {
        let t = timestamp_now();
        assert!(
            chrono::NaiveDateTime::parse_from_str(&t, "%Y-%m-%dT%H:%M:%S%.f").is_ok(),
            "{t}"
        );
        assert!(!t.ends_with('Z') && !t.contains('+'), "{t}");
    }

    #[test]
    fn bad_messages_are_refused_saying_why() {
        for (body, why) in [
            ("nope", "not JSON"),
            ("[1]", "not a JSON object: an array"),
            ("{}", "no msgtype"),
            (r#"{"msgtype": 3}"#, "msgtype must be a string"),
            (r#"{"msgtype": "explode"}"#, "unknown msgtype \"explode\""),
            (r#"{"msgtype": "killJob"}"#, "killJob message needs uuid"),
            (
                r#"{"msgtype": "killJob", "uuid": 7}"#,
                "uuid must be a string, not a number",
            ),
            (
                r#"{"msgtype": "drain", "uuid": "x"}"#,
                "drain message has no field \"uuid\"",
            ),
            (
                r#"{"msgtype": "job", "workerId": "w", "uuid": "u", "action": "pause"}"#,
                "action must be \"start\" or \"end\"",
            ),
        ] {
            let e = Message::parse(body.as_bytes()).unwrap_err();
            assert!(e.contains(why), "{body}: {e}");
        }
    }
}
