//! Tube names follow beanstalkd's rules on every backend, so a name that works on the embedded
//! queue also works in production.

use crate::error::{Error, Result};

pub const MAX_TUBE_NAME_LEN: usize = 200;

pub fn validate_tube_name(name: &str) -> Result<()> {
    let bad = |reason: &str| {
        Err(Error::BadTubeName {
            name: name.to_owned(),
            reason: reason.to_owned(),
        })
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.len() > MAX_TUBE_NAME_LEN {
        return bad("it is longer than 200 bytes");
    }
    if name.starts_with('-') {
        return bad("it starts with '-'");
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-+/;.$_()".contains(*c)))
    {
        return bad(&format!(
            "{c:?} is not allowed (only A-Z a-z 0-9 - + / ; . $ _ ( ))"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_beanstalkd_names() {
        for ok in [
            "default",
            "a",
            "my_job",
            "a-b+c/d;e.f$g_h(i)",
            &"x".repeat(200),
        ] {
            validate_tube_name(ok).unwrap();
        }
    }

    #[test]
    fn rejects_what_beanstalkd_rejects() {
        for bad in ["", "-bad", "tube:colon", "sp ace", "é", &"x".repeat(201)] {
            assert!(
                validate_tube_name(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }
}
