//! Parsing of the query string: `page[...]`, `sort`, `filter[q][...]`, `include`, `fields[...]`.

use std::collections::{BTreeMap, BTreeSet};

use super::filter::{self, Condition};
use super::resource::{AttrDef, ResourceDef, ID};
use super::Lookup;
use crate::error::{ApiError, ApiResult, Code};

/// Which parameters a route takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A collection: every parameter.
    Collection,
    /// One resource or a linkage: only `include` and `fields`.
    Single,
}

/// One sort key; `id` is added by the query builder as the last tie-breaker.
#[derive(Debug, Clone)]
pub struct SortKey {
    pub attr: &'static AttrDef,
    pub desc: bool,
}

/// Requested page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub number: u32,
    pub size: u32,
    /// Rows skipped before the page, when not a whole number of pages (see [`Page::window`]).
    pub skip: Option<i64>,
}

impl Page {
    /// Page `number` (from 1) of `size` rows.
    pub fn numbered(number: u32, size: u32) -> Self {
        Self {
            number,
            size,
            skip: None,
        }
    }

    /// `size` rows after the first `offset` (limit/offset paging).
    pub fn window(offset: i64, size: u32) -> Self {
        let number = u32::try_from(offset / i64::from(size.max(1)) + 1).unwrap_or(u32::MAX);
        Self {
            number,
            size,
            skip: Some(offset),
        }
    }

    pub fn offset(&self) -> i64 {
        self.skip
            .unwrap_or_else(|| i64::from(self.number - 1) * i64::from(self.size))
    }
}

/// Include paths as a tree: `order,reference_capture.authorization`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Includes(pub BTreeMap<&'static str, Includes>);

/// Everything a request asked for in its query string.
#[derive(Debug, Clone)]
pub struct Params {
    pub page: Page,
    pub sort: Vec<SortKey>,
    pub filters: Vec<Condition>,
    pub include: Includes,
    /// `fields[type]` sets by type name.
    pub fields: BTreeMap<String, BTreeSet<String>>,
    /// The decoded pairs, in order, to rebuild pagination links.
    pub pairs: Vec<(String, String)>,
}

/// Limits from the settings on what one query string may ask for.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub default_size: u32,
    pub max_size: u32,
    /// Values in one filter's comma-separated list (`reference_cont_any=a,b,…`).
    pub filter_values_max: usize,
    /// Bytes in one filter value; SQLite refuses LIKE patterns over 50,000.
    pub filter_value_max_bytes: usize,
}

const MAX_INCLUDE_DEPTH: usize = 3;

/// Parses a raw (percent-encoded) query string for a resource of type `def`.
pub fn parse(
    raw: &str,
    def: &'static ResourceDef,
    lookup: Lookup,
    shape: Shape,
    limits: Limits,
) -> ApiResult<Params> {
    let pairs = pairs(raw)?;
    let mut seen = BTreeSet::new();
    let mut params = Params {
        page: Page::numbered(1, limits.default_size),
        sort: Vec::new(),
        filters: Vec::new(),
        include: Includes::default(),
        fields: BTreeMap::new(),
        pairs: pairs.clone(),
    };
    for (key, value) in &pairs {
        if !seen.insert(key.as_str()) {
            return Err(ApiError::param(
                Code::ParamNotAllowed,
                key,
                format!("Parameter `{key}` is given more than once"),
            ));
        }
        let collection_only = || {
            if shape == Shape::Collection {
                Ok(())
            } else {
                Err(ApiError::param(
                    Code::ParamNotAllowed,
                    key,
                    format!("Parameter `{key}` is only allowed on collections"),
                ))
            }
        };
        match key.as_str() {
            "page[number]" => {
                collection_only()?;
                params.page.number = page_value(key, value, u32::MAX)?;
            }
            "page[size]" => {
                collection_only()?;
                params.page.size = page_value(key, value, limits.max_size)?;
            }
            "sort" => {
                collection_only()?;
                params.sort = sort(def, key, value)?;
            }
            "include" => params.include = include(def, lookup, key, value)?,
            _ => {
                if let Some(name) = bracketed(key, "filter[q]") {
                    collection_only()?;
                    check_filter_value(key, value, limits)?;
                    params.filters.push(filter::parse(
                        def,
                        lookup,
                        name,
                        value,
                        key,
                        limits.filter_values_max,
                    )?);
                } else if let Some(type_name) = bracketed(key, "fields") {
                    let (t, set) = fields(lookup, key, type_name, value)?;
                    params.fields.insert(t, set);
                } else {
                    return Err(ApiError::param(
                        Code::ParamNotAllowed,
                        key,
                        format!("Parameter `{key}` is not allowed"),
                    ));
                }
            }
        }
    }
    Ok(params)
}

/// `prefix[inner]` → `inner` (non-empty, without further brackets).
fn bracketed<'a>(key: &'a str, prefix: &str) -> Option<&'a str> {
    key.strip_prefix(prefix)?
        .strip_prefix('[')?
        .strip_suffix(']')
        .filter(|s| !s.is_empty() && !s.contains(['[', ']']))
}

/// The decoded `key=value` pairs of a raw query string. Stricter than
/// `application/x-www-form-urlencoded` parsers, which take a malformed escape (`%G1`)
/// literally and replace bytes that are not UTF-8 (`%FF`): either is a client's mistake
/// that would otherwise filter on something it did not mean.
pub fn pairs(raw: &str) -> ApiResult<Vec<(String, String)>> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let key = decode(k).ok_or_else(|| {
                let shown = String::from_utf8_lossy(&form_decode_lossy(k)).into_owned();
                ApiError::param(
                    Code::ParamNotAllowed,
                    shown,
                    "The parameter name is not valid percent-encoded UTF-8",
                )
            })?;
            let value = decode(v).ok_or_else(|| {
                ApiError::param(
                    value_code(&key),
                    &key,
                    format!("The value of `{key}` is not valid percent-encoded UTF-8"),
                )
            })?;
            Ok((key, value))
        })
        .collect()
}

/// The error code for a bad value of parameter `key`.
fn value_code(key: &str) -> Code {
    match key {
        "page[number]" | "page[size]" => Code::InvalidPageValue,
        "sort" => Code::InvalidSortCriteria,
        "include" => Code::InvalidInclude,
        _ if key.starts_with("filter[") => Code::InvalidFilterValue,
        _ if key.starts_with("fields[") => Code::InvalidField,
        _ => Code::ParamNotAllowed,
    }
}

/// Strict form decoding: `+` is a space, `%` takes exactly two hex digits, the result is UTF-8.
fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hi = (hex[0] as char).to_digit(16)?;
                let lo = (hex[1] as char).to_digit(16)?;
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// A bad name as far as it can be read, for the error's `source.parameter`.
fn form_decode_lossy(s: &str) -> Vec<u8> {
    form_urlencoded::parse(s.as_bytes())
        .next()
        .map(|(k, _)| k.into_owned().into_bytes())
        .unwrap_or_default()
}

/// A filter's value within the configured size (its count is checked by the list forms).
fn check_filter_value(key: &str, value: &str, limits: Limits) -> ApiResult<()> {
    if value.len() > limits.filter_value_max_bytes {
        return Err(ApiError::param(
            Code::InvalidFilterValue,
            key,
            format!(
                "The value of `{key}` is longer than {} bytes",
                limits.filter_value_max_bytes
            ),
        ));
    }
    Ok(())
}

fn page_value(key: &str, value: &str, max: u32) -> ApiResult<u32> {
    // Digits only: `u32::from_str` also takes a leading `+`.
    let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
    match value.parse::<u32>() {
        Ok(n) if digits && n >= 1 && n <= max => Ok(n),
        _ => Err(ApiError::param(
            Code::InvalidPageValue,
            key,
            format!("`{key}` must be an integer from 1 to {max}"),
        )),
    }
}

/// `id` and the sortable attributes of `def`: the fields `sort` may name.
pub fn sortable_fields(def: &'static ResourceDef) -> impl Iterator<Item = &'static AttrDef> {
    std::iter::once(&ID).chain(def.attributes.iter().filter(|a| a.sortable))
}

/// Each field at most once, so a list has at most as many keys as there are sortable fields.
fn sort(def: &'static ResourceDef, key: &str, value: &str) -> ApiResult<Vec<SortKey>> {
    let invalid = |detail: String| ApiError::param(Code::InvalidSortCriteria, key, detail);
    let max = sortable_fields(def).count();
    if value.split(',').nth(max).is_some() {
        return Err(invalid(format!(
            "`sort` names more than the {max} sortable fields of {}",
            def.type_name
        )));
    }
    let mut keys: Vec<SortKey> = Vec::new();
    for item in value.split(',') {
        let (desc, name) = match item.strip_prefix('-') {
            Some(n) => (true, n),
            None => (false, item),
        };
        let attr = sortable_fields(def)
            .find(|a| a.name == name)
            .ok_or_else(|| {
                invalid(format!(
                    "`{item}` is not a sortable field of {}",
                    def.type_name
                ))
            })?;
        if keys.iter().any(|k| k.attr.name == name) {
            return Err(invalid(format!("`{name}` is named more than once")));
        }
        keys.push(SortKey { attr, desc });
    }
    Ok(keys)
}

pub fn include(
    def: &'static ResourceDef,
    lookup: Lookup,
    key: &str,
    value: &str,
) -> ApiResult<Includes> {
    let mut tree = Includes::default();
    for path in value.split(',') {
        let invalid = || {
            ApiError::param(
                Code::InvalidInclude,
                key,
                format!(
                    "`{path}` is not an includable relationship of {}",
                    def.type_name
                ),
            )
        };
        let segments: Vec<&str> = path.split('.').collect();
        if segments.len() > MAX_INCLUDE_DEPTH {
            return Err(invalid());
        }
        let mut node = &mut tree;
        let mut current = Some(def);
        for segment in segments {
            // A polymorphic relationship ends a path: what lies past it depends on the row.
            let rel = current.and_then(|d| d.rel(segment)).ok_or_else(invalid)?;
            current = if rel.is_poly() {
                None
            } else {
                Some(lookup(rel.target).ok_or_else(invalid)?)
            };
            node = node.0.entry(rel.name).or_default();
        }
    }
    Ok(tree)
}

fn fields(
    lookup: Lookup,
    key: &str,
    type_name: &str,
    value: &str,
) -> ApiResult<(String, BTreeSet<String>)> {
    let def = lookup(type_name).ok_or_else(|| {
        ApiError::param(
            Code::InvalidField,
            key,
            format!("`{type_name}` is not a resource type"),
        )
    })?;
    let mut set = BTreeSet::new();
    for name in value.split(',').filter(|n| !n.is_empty()) {
        if !def.has_field(name) {
            return Err(ApiError::param(
                Code::InvalidField,
                key,
                format!("`{name}` is not a field of {type_name}"),
            ));
        }
        set.insert(name.to_owned());
    }
    Ok((def.type_name.to_owned(), set))
}
