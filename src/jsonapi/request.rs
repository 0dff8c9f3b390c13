//! Request documents: `{"data": {"type", "id", "attributes", "relationships"}}` of POST and PATCH.

use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult, Code};

/// The resource object of a request body.
#[derive(Debug, Clone)]
pub struct Input {
    pub id: Option<String>,
    pub attributes: Attrs,
    pub relationships: Map<String, Value>,
}

/// The JSON pointer of the first string or member name holding a NUL character: no
/// text column of PostgreSQL can store one, so none is accepted on either backend.
pub fn nul_pointer(v: &Value) -> Option<String> {
    let escape = |k: &str| k.replace('~', "~0").replace('/', "~1");
    match v {
        Value::String(s) => s.contains('\0').then(String::new),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, x)| nul_pointer(x).map(|p| format!("/{i}{p}"))),
        Value::Object(m) => m.iter().find_map(|(k, x)| {
            if k.contains('\0') {
                return Some(format!("/{}", escape(k)));
            }
            nul_pointer(x).map(|p| format!("/{}{p}", escape(k)))
        }),
        _ => None,
    }
}

/// Parses a body for a resource of `type_name`; `url_id` is the id in the URL of a PATCH.
pub fn parse(body: &[u8], type_name: &str, url_id: Option<&str>) -> ApiResult<Input> {
    let invalid =
        |pointer: &str, detail: &str| ApiError::pointer(Code::InvalidDataFormat, pointer, detail);
    let doc: Value = serde_json::from_slice(body)
        .map_err(|e| invalid("", &format!("The body is not JSON: {e}")))?;
    if let Some(pointer) = nul_pointer(&doc) {
        return Err(invalid(&pointer, "NUL characters are not allowed"));
    }
    let data = doc
        .get("data")
        .and_then(Value::as_object)
        .ok_or_else(|| invalid("/data", "`data` must be a resource object"))?;
    match data.get("type").and_then(Value::as_str) {
        None => return Err(invalid("/data/type", "`type` is required")),
        Some(t) if t != type_name => {
            return Err(ApiError::pointer(
                Code::TypeMismatch,
                "/data/type",
                format!("`type` must be `{type_name}`"),
            ))
        }
        Some(_) => {}
    }
    let id = match data.get("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(invalid("/data/id", "`id` must be a string")),
    };
    match (url_id, &id) {
        (Some(url), Some(id)) if url != id => {
            return Err(ApiError::pointer(
                Code::KeyNotIncludedInUrl,
                "/data/id",
                "`id` must match the id in the URL",
            ))
        }
        (Some(_), None) => {
            return Err(ApiError::pointer(
                Code::KeyNotIncludedInUrl,
                "/data/id",
                "`id` is required and must match the URL",
            ))
        }
        (None, Some(_)) => {
            return Err(ApiError::pointer(
                Code::ParamNotAllowed,
                "/data/id",
                "Client-generated ids are not supported",
            ))
        }
        _ => {}
    }
    for key in data.keys() {
        if !matches!(
            key.as_str(),
            "type" | "id" | "attributes" | "relationships" | "meta" | "lid"
        ) {
            return Err(ApiError::pointer(
                Code::ParamNotAllowed,
                format!("/data/{key}"),
                format!("`{key}` is not a member of a resource object"),
            ));
        }
    }
    let attributes = match data.get("attributes") {
        None => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => {
            return Err(invalid(
                "/data/attributes",
                "`attributes` must be an object",
            ))
        }
    };
    let relationships = match data.get("relationships") {
        None => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => {
            return Err(invalid(
                "/data/relationships",
                "`relationships` must be an object",
            ))
        }
    };
    Ok(Input {
        id,
        attributes: Attrs(attributes),
        relationships,
    })
}

impl Input {
    /// Rejects every relationship (`{}` is accepted: clients send it on PATCH).
    pub fn no_relationships(&self) -> ApiResult<()> {
        match self.relationships.keys().next() {
            None => Ok(()),
            Some(name) => Err(ApiError::pointer(
                Code::ParamNotAllowed,
                format!("/data/relationships/{name}"),
                format!("Relationship `{name}` cannot be set here"),
            )),
        }
    }

    /// The `{type, id}` of a to-one relationship, if given; checks its type.
    pub fn to_one(&self, name: &str, type_name: &str) -> ApiResult<Option<String>> {
        let Some(rel) = self.relationships.get(name) else {
            return Ok(None);
        };
        let base = format!("/data/relationships/{name}");
        let data = rel.get("data").and_then(Value::as_object).ok_or_else(|| {
            ApiError::pointer(
                Code::InvalidDataFormat,
                format!("{base}/data"),
                "expected a resource identifier",
            )
        })?;
        if data.get("type").and_then(Value::as_str) != Some(type_name) {
            return Err(ApiError::pointer(
                Code::TypeMismatch,
                format!("{base}/data/type"),
                format!("`{name}` must be of type `{type_name}`"),
            ));
        }
        data.get("id")
            .and_then(Value::as_str)
            .map(|id| Some(id.to_owned()))
            .ok_or_else(|| {
                ApiError::pointer(
                    Code::InvalidDataFormat,
                    format!("{base}/data/id"),
                    "`id` must be a string",
                )
            })
    }
}

/// Attributes of a request, read with their types checked.
#[derive(Debug, Clone, Default)]
pub struct Attrs(pub Map<String, Value>);

fn pointer(name: &str) -> String {
    format!("/data/attributes/{name}")
}

fn wrong_type(name: &str, what: &str) -> ApiError {
    ApiError::pointer(
        Code::ValidationError,
        pointer(name),
        format!("`{name}` must be {what}"),
    )
}

impl Attrs {
    /// `400 PARAM_NOT_ALLOWED` for any attribute outside `allowed`.
    pub fn only(&self, allowed: &[&str]) -> ApiResult<()> {
        match self.0.keys().find(|k| !allowed.contains(&k.as_str())) {
            None => Ok(()),
            Some(k) => Err(ApiError::pointer(
                Code::ParamNotAllowed,
                pointer(k),
                format!("Attribute `{k}` is not allowed here"),
            )),
        }
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// Absent: `None`; `null`: `Some(None)`; a string: `Some(Some(s))`.
    pub fn text(&self, name: &str) -> ApiResult<Option<Option<String>>> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(Value::String(s)) if s.contains('\0') => {
                Err(wrong_type(name, "free of NUL characters"))
            }
            Some(Value::String(s)) if s.len() <= 255 => Ok(Some(Some(s.clone()))),
            Some(Value::String(_)) => Err(wrong_type(name, "at most 255 bytes long")),
            Some(_) => Err(wrong_type(name, "a string")),
        }
    }

    /// A string that may not be null or empty.
    pub fn required_text(&self, name: &str) -> ApiResult<Option<String>> {
        match self.text(name)? {
            None => Ok(None),
            Some(Some(s)) if !s.trim().is_empty() => Ok(Some(s)),
            Some(_) => Err(wrong_type(name, "a non-empty string")),
        }
    }

    pub fn int(&self, name: &str) -> ApiResult<Option<i64>> {
        match self.0.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| wrong_type(name, "an integer")),
        }
    }

    pub fn bool(&self, name: &str) -> ApiResult<Option<bool>> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(wrong_type(name, "a boolean")),
        }
    }

    /// `metadata`: a JSON object, stored as text.
    pub fn object(&self, name: &str) -> ApiResult<Option<String>> {
        match self.0.get(name) {
            None => Ok(None),
            Some(v @ Value::Object(_)) => Ok(Some(v.to_string())),
            Some(_) => Err(wrong_type(name, "an object")),
        }
    }

    /// A text that `valid` accepts; otherwise the error says it must be `what`.
    pub fn checked_text(
        &self,
        name: &str,
        what: &str,
        valid: impl Fn(&str) -> bool,
    ) -> ApiResult<Option<String>> {
        match self.required_text(name)? {
            None => Ok(None),
            Some(c) if valid(&c) => Ok(Some(c)),
            Some(_) => Err(wrong_type(name, what)),
        }
    }
}
