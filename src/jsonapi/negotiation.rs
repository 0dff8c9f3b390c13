//! Content negotiation: `Accept` (406) and `Content-Type` of request bodies (415).

use super::MEDIA_TYPE;
use crate::error::{ApiError, ApiResult, Code};

/// Splits `type/subtype; a=b; c=d` into the lower-cased type and its parameter names.
fn media_range(range: &str) -> (String, Vec<String>) {
    let mut parts = range.split(';');
    let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let params = parts
        .filter_map(|p| p.split('=').next())
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect();
    (media, params)
}

/// A parameter other than `ext` and `profile` (and `q`, which only weighs the range).
fn has_foreign_param(params: &[String], allow_q: bool) -> bool {
    params
        .iter()
        .any(|p| p != "ext" && p != "profile" && !(allow_q && p == "q"))
}

/// 406 when every media range is the JSON:API type modified by parameters.
pub fn check_accept(accept: Option<&str>) -> ApiResult<()> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok(());
    };
    let ranges: Vec<_> = accept.split(',').map(media_range).collect();
    let all_modified = ranges
        .iter()
        .all(|(media, params)| media == MEDIA_TYPE && has_foreign_param(params, true));
    if all_modified {
        return Err(ApiError::new(
            Code::NotAcceptable,
            format!("Accept must allow {MEDIA_TYPE} without media type parameters"),
        ));
    }
    Ok(())
}

/// 415 unless a request body is declared as the JSON:API type (with at most `ext`/`profile`).
pub fn check_content_type(content_type: Option<&str>) -> ApiResult<()> {
    let ok = content_type
        .map(media_range)
        .is_some_and(|(media, params)| media == MEDIA_TYPE && !has_foreign_param(&params, false));
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            Code::UnsupportedMediaType,
            format!("Request bodies must be sent as {MEDIA_TYPE}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept() {
        assert!(check_accept(None).is_ok());
        assert!(check_accept(Some("*/*")).is_ok());
        assert!(check_accept(Some("application/json")).is_ok());
        assert!(check_accept(Some(MEDIA_TYPE)).is_ok());
        assert!(check_accept(Some("application/vnd.api+json; ext=\"x\"")).is_ok());
        assert!(check_accept(Some("application/vnd.api+json; charset=utf-8")).is_err());
        assert!(check_accept(Some(
            "application/vnd.api+json;v=1, application/vnd.api+json;q=0.5"
        ))
        .is_ok());
        assert!(check_accept(Some("application/vnd.api+json;v=1, text/html")).is_ok());
    }

    #[test]
    fn content_type() {
        assert!(check_content_type(Some(MEDIA_TYPE)).is_ok());
        assert!(check_content_type(Some("application/vnd.api+json; profile=\"p\"")).is_ok());
        assert!(check_content_type(Some("application/vnd.api+json; charset=utf-8")).is_err());
        assert!(check_content_type(Some("application/json")).is_err());
        assert!(check_content_type(None).is_err());
    }
}
