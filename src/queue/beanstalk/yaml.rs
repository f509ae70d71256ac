//! The little YAML beanstalkd writes: a flat dict (`---\nkey: value\n`) for the stats commands and
//! a flat list (`---\n- name\n`) for the tube lists. Nothing nests, so a full YAML parser would
//! be a dependency for nothing.

use std::collections::HashMap;

/// A stats dict, values as text with YAML's double quotes removed (`version: "1.12"`).
pub fn parse_dict(body: &[u8]) -> Result<HashMap<String, String>, String> {
    let text = std::str::from_utf8(body).map_err(|_| "stats are not UTF-8".to_owned())?;
    let mut out = HashMap::new();
    for line in lines(text) {
        let (key, value) = line
            .split_once(':')
            .ok_or_else(|| format!("stats line {line:?} is not `key: value`"))?;
        out.insert(key.trim().to_owned(), unquote(value.trim()).to_owned());
    }
    Ok(out)
}

/// A tube list.
pub fn parse_list(body: &[u8]) -> Result<Vec<String>, String> {
    let text = std::str::from_utf8(body).map_err(|_| "tube list is not UTF-8".to_owned())?;
    lines(text)
        .map(|line| {
            line.strip_prefix("- ")
                .map(|name| unquote(name.trim()).to_owned())
                .ok_or_else(|| format!("list line {line:?} is not `- item`"))
        })
        .collect()
}

fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.trim().is_empty() && *l != "---")
}

fn unquote(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stats_job() {
        let d = parse_dict(
            b"---\nid: 1\ntube: default\nstate: ready\npri: 1\nversion: \"1.12\"\nos: #1 SMP @0\n",
        )
        .unwrap();
        assert_eq!(d["id"], "1");
        assert_eq!(d["tube"], "default");
        assert_eq!(d["version"], "1.12");
        assert_eq!(d["os"], "#1 SMP @0");
        assert_eq!(d.len(), 6);
    }

    #[test]
    fn reads_tube_lists() {
        assert_eq!(
            parse_list(b"---\n- default\n- a-b\n").unwrap(),
            vec!["default", "a-b"]
        );
        assert_eq!(parse_list(b"---\n").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn rejects_what_is_not_flat_yaml() {
        assert!(parse_dict(b"---\nno colon here\n").is_err());
        assert!(parse_list(b"---\nkey: value\n").is_err());
        assert!(parse_dict(b"\xff: 1\n").is_err());
    }
}
