//! Who a worker is: `zerog+$<host>+$<name>+$<pid>`, the original zeroG's worker id, which is also
//! the name of the worker's control tube.
//!
//! The host is the machine's name or a configured one (in containers every host name looks
//! alike, and tests simulate several hosts on one machine); the name says which service the
//! worker belongs to; the pid is the job-running process's.

/// What separates the id's four parts (two characters, as in the original).
pub const DELIM: &str = "+$";
/// The first part of every zeroG worker's id.
pub const WORKER_TYPE: &str = "zerog";

/// A worker id's parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerId {
    pub worker_type: String,
    pub host: String,
    pub name: String,
    pub pid: u32,
}

/// `zerog+$host+$name+$pid`, the original's `make_worker_id`.
pub fn make_worker_id(worker_type: &str, host: &str, name: &str, pid: u32) -> String {
    format!("{worker_type}{DELIM}{host}{DELIM}{name}{DELIM}{pid}")
}

/// The parts of a worker id; `None` for anything else (a tube that is not a worker's). The
/// original raised on a fourth part that is not a number; here it is just not a worker id, so
/// a stray tube name never stops a manager.
pub fn parse_worker_id(id: &str) -> Option<WorkerId> {
    let parts: Vec<&str> = id.split(DELIM).collect();
    let [worker_type, host, name, pid] = parts.as_slice() else {
        return None;
    };
    Some(WorkerId {
        worker_type: (*worker_type).to_owned(),
        host: (*host).to_owned(),
        name: (*name).to_owned(),
        pid: pid.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_made_and_read_back() {
        let id = make_worker_id(WORKER_TYPE, "host-1.example", "Frank", 55);
        assert_eq!(id, "zerog+$host-1.example+$Frank+$55");
        assert_eq!(
            parse_worker_id(&id),
            Some(WorkerId {
                worker_type: "zerog".into(),
                host: "host-1.example".into(),
                name: "Frank".into(),
                pid: 55
            })
        );
    }

    #[test]
    fn other_tube_names_are_not_worker_ids() {
        for name in [
            "updates",
            "zerog_jobs",
            "a+$b+$c",
            "a+$b+$c+$d+$1",
            "zerog+$h+$n+$x",
        ] {
            assert_eq!(parse_worker_id(name), None, "{name}");
        }
    }
}
