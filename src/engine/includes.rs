//! Compound documents: loads `include` paths and records the linkage they add.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::{field_in, ListQuery, Registry};
use crate::auth::Scope;
use crate::db::DbConnection;
use crate::error::{ApiError, ApiResult};
use crate::jsonapi::document::{Linked, Record};
use crate::jsonapi::query::{Includes, SortKey};
use crate::jsonapi::resource::ResourceDef;

type Key = (&'static str, String);

/// Primary and included records, each resource once.
struct Store {
    records: Vec<Linked>,
    primary_len: usize,
    index: HashMap<Key, usize>,
}

impl Store {
    fn add(&mut self, record: Record) -> Key {
        let key = (record.def.type_name, record.id.clone());
        if !self.index.contains_key(&key) {
            self.index.insert(key.clone(), self.records.len());
            self.records.push(record.into());
        }
        key
    }

    fn get(&mut self, key: &Key) -> &mut Linked {
        let i = self.index[key];
        &mut self.records[i]
    }
}

/// Loads every included path for `primary`; returns the primary records with their
/// linkage and the included resources (never repeating a primary one).
pub fn load(
    conn: &mut DbConnection,
    scope: &Scope,
    primary: Vec<Record>,
    tree: &Includes,
    resource: Registry,
) -> ApiResult<(Vec<Linked>, Vec<Linked>)> {
    if tree.0.is_empty() {
        return Ok((primary.into_iter().map(Linked::from).collect(), Vec::new()));
    }
    let mut store = Store {
        records: Vec::new(),
        primary_len: 0,
        index: HashMap::new(),
    };
    let mut by_type: HashMap<&'static str, (&'static ResourceDef, Vec<Key>)> = HashMap::new();
    for record in primary {
        let def = record.def;
        let key = store.add(record);
        by_type
            .entry(def.type_name)
            .or_insert((def, vec![]))
            .1
            .push(key);
    }
    store.primary_len = store.records.len();
    for (def, keys) in by_type.into_values() {
        expand(conn, scope, &mut store, def, keys, tree, resource)?;
    }
    let included = store.records.split_off(store.primary_len);
    Ok((store.records, included))
}

fn expand(
    conn: &mut DbConnection,
    scope: &Scope,
    store: &mut Store,
    def: &'static ResourceDef,
    parents: Vec<Key>,
    tree: &Includes,
    resource: Registry,
) -> ApiResult<()> {
    for (rel_name, subtree) in &tree.0 {
        let rel = def
            .rel(rel_name)
            .ok_or_else(|| ApiError::internal("include", rel_name))?;
        let mut children = Vec::new();
        if rel.to_many {
            let target =
                resource(rel.target).ok_or_else(|| ApiError::internal("include", rel.target))?;
            let sort = default_sort(target.def());
            let list = |conn: &mut DbConnection, ids: Vec<String>| {
                let filter = field_in(target.def(), rel.inverse, ids);
                let query = ListQuery {
                    scope,
                    filters: &[filter],
                    sort: &sort,
                    page: None,
                    count: false,
                };
                target.list(conn, &query).map(|(records, _)| records)
            };
            // When each child names its parent (`order_id` ↔ the child's `order`), one query
            // serves every parent; otherwise (many-to-many) one query per parent.
            let back = rel
                .inverse
                .strip_suffix("_id")
                .filter(|b| target.def().rel(b).is_some_and(|r| !r.to_many));
            let groups: Vec<(Key, Vec<Record>)> = match back {
                Some(back) => {
                    let ids = parents.iter().map(|p| p.1.clone()).collect();
                    let mut by_parent: HashMap<String, Vec<Record>> = HashMap::new();
                    for r in list(conn, ids)? {
                        if let Some(parent) = r.to_one(back).map(str::to_owned) {
                            by_parent.entry(parent).or_default().push(r);
                        }
                    }
                    parents
                        .iter()
                        .map(|p| (p.clone(), by_parent.remove(&p.1).unwrap_or_default()))
                        .collect()
                }
                None => parents
                    .iter()
                    .map(|p| Ok((p.clone(), list(conn, vec![p.1.clone()])?)))
                    .collect::<ApiResult<_>>()?,
            };
            for (parent, records) in groups {
                let data: Vec<Value> = records.iter().map(Record::identifier).collect();
                store
                    .get(&parent)
                    .linkage
                    .insert(rel.name, Value::Array(data));
                for r in records {
                    children.push(store.add(r));
                }
            }
        } else {
            // Targets by type: one type for a plain relationship, the rows' for a polymorphic one.
            let mut ids: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
            for parent in &parents {
                if let Some((t, id)) = store.get(parent).record.target(rel) {
                    ids.entry(t).or_default().push(id.to_owned());
                }
            }
            let mut found: HashMap<Key, Record> = HashMap::new();
            for (type_name, ids) in ids {
                let target =
                    resource(type_name).ok_or_else(|| ApiError::internal("include", type_name))?;
                for r in target.find(conn, scope, ids)? {
                    found.insert((r.def.type_name, r.id.clone()), r);
                }
            }
            for parent in &parents {
                let related = store
                    .get(parent)
                    .record
                    .target(rel)
                    .and_then(|(t, id)| found.get(&(t, id.to_owned())))
                    .cloned();
                let data = related.as_ref().map_or(Value::Null, Record::identifier);
                store.get(parent).linkage.insert(rel.name, data);
                if let Some(r) = related {
                    children.push(store.add(r));
                }
            }
        }
        children.sort();
        children.dedup();
        if !subtree.0.is_empty() {
            let mut by_type: BTreeMap<&'static str, Vec<Key>> = BTreeMap::new();
            for child in children {
                by_type.entry(child.0).or_default().push(child);
            }
            for (type_name, keys) in by_type {
                let target =
                    resource(type_name).ok_or_else(|| ApiError::internal("include", type_name))?;
                expand(conn, scope, store, target.def(), keys, subtree, resource)?;
            }
        }
    }
    Ok(())
}

/// The sort keys of a type's default order.
pub fn default_sort(def: &'static ResourceDef) -> Vec<SortKey> {
    def.default_sort
        .split(',')
        .filter_map(|item| {
            let (desc, name) = item.strip_prefix('-').map_or((false, item), |n| (true, n));
            def.attr(name).map(|attr| SortKey { attr, desc })
        })
        .collect()
}
