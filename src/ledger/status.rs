//! The statuses of a refund and of its parts, and the rule that derives one from the other.

pub const PENDING: &str = "pending";
pub const SUCCEEDED: &str = "succeeded";
pub const FAILED: &str = "failed";
pub const PARTIALLY_SUCCEEDED: &str = "partially_succeeded";

/// A refund's status from its parts' statuses: `pending` while any part is, `succeeded` or
/// `failed` when every part is, `partially_succeeded` otherwise. No parts: `failed`.
pub fn of_refund<'a>(parts: impl IntoIterator<Item = &'a str>) -> &'static str {
    let (mut pending, mut succeeded, mut failed) = (false, false, false);
    for p in parts {
        match p {
            SUCCEEDED => succeeded = true,
            FAILED => failed = true,
            _ => pending = true,
        }
    }
    match (pending, succeeded, failed) {
        (true, _, _) => PENDING,
        (false, true, false) => SUCCEEDED,
        (false, true, true) => PARTIALLY_SUCCEEDED,
        _ => FAILED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refund_follows_its_parts() {
        assert_eq!(of_refund([SUCCEEDED, SUCCEEDED]), SUCCEEDED);
        assert_eq!(of_refund([FAILED, FAILED]), FAILED);
        assert_eq!(of_refund([SUCCEEDED, FAILED]), PARTIALLY_SUCCEEDED);
        assert_eq!(of_refund([SUCCEEDED, PENDING, FAILED]), PENDING);
        assert_eq!(of_refund([PENDING]), PENDING);
        assert_eq!(of_refund([]), FAILED);
    }
}
