//! Parsing of the query string: `page[...]`, `sort`, `filter[q][...]`, `include`, `fields[...]`.

use std::collections::{BTreeMap, BTreeSet};

use super::filter::{self, Condition};
use super::resource::{AttrDef, ResourceDef};
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
}

impl Page {
    pub fn offset(&self) -> i64 {
        i64::from(self.number - 1) * i64::from(self.size)
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

/// Paging limits from the settings.
#[derive(Debug, Clone, Copy)]
pub struct PageLimits {
    pub default_size: u32,
    pub max_size: u32,
}

const MAX_INCLUDE_DEPTH: usize = 3;

/// Parses a raw (percent-encoded) query string for a resource of type `def`.
pub fn parse(
    raw: &str,
    def: &'static ResourceDef,
    lookup: Lookup,
    shape: Shape,
    limits: PageLimits,
) -> ApiResult<Params> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut seen = BTreeSet::new();
    let mut params = Params {
        page: Page {
            number: 1,
            size: limits.default_size,
        },
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
                    params
                        .filters
                        .push(filter::parse(def, lookup, name, value, key)?);
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

fn page_value(key: &str, value: &str, max: u32) -> ApiResult<u32> {
    match value.parse::<u32>() {
        Ok(n) if n >= 1 && n <= max => Ok(n),
        _ => Err(ApiError::param(
            Code::InvalidPageValue,
            key,
            format!("`{key}` must be an integer from 1 to {max}"),
        )),
    }
}

fn sort(def: &'static ResourceDef, key: &str, value: &str) -> ApiResult<Vec<SortKey>> {
    value
        .split(',')
        .map(|item| {
            let (desc, name) = match item.strip_prefix('-') {
                Some(n) => (true, n),
                None => (false, item),
            };
            def.attr(name)
                .filter(|a| a.sortable)
                .map(|attr| SortKey { attr, desc })
                .ok_or_else(|| {
                    ApiError::param(
                        Code::InvalidSortCriteria,
                        key,
                        format!("`{item}` is not a sortable field of {}", def.type_name),
                    )
                })
        })
        .collect()
}

fn include(
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
