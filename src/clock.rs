//! The service's notion of now: UTC, truncated to milliseconds so both databases store
//! and return exactly the same instant.

use chrono::{NaiveDateTime, SubsecRound, Utc};

pub fn now() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(3)
}
