//! Compound documents: loads `include` paths and records the linkage they add.

use std::collections::HashMap;

use serde_json::Value;

use super::{field_in, resource, ListQuery};
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
) -> ApiResult<(Vec<Linked>, Vec<Linked>)> {
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
        expand(conn, scope, &mut store, def, keys, tree)?;
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
) -> ApiResult<()> {
    for (rel_name, subtree) in &tree.0 {
        let rel = def
            .rel(rel_name)
            .ok_or_else(|| ApiError::internal("include", rel_name))?;
        let target =
            resource(rel.target).ok_or_else(|| ApiError::internal("include", rel.target))?;
        let mut children = Vec::new();
        if rel.to_many {
            let sort = default_sort(target.def());
            for parent in &parents {
                let filter = field_in(target.def(), rel.inverse, vec![parent.1.clone()]);
                let (records, _) = target.list(
                    conn,
                    &ListQuery {
                        scope,
                        filters: &[filter],
                        sort: &sort,
                        page: None,
                        count: false,
                    },
                )?;
                let data: Vec<Value> = records.iter().map(Record::identifier).collect();
                store
                    .get(parent)
                    .linkage
                    .insert(rel.name, Value::Array(data));
                for r in records {
                    children.push(store.add(r));
                }
            }
        } else {
            let ids: Vec<String> = parents
                .iter()
                .filter_map(|p| store.get(p).record.to_one(rel.name).map(str::to_owned))
                .collect();
            let found: HashMap<String, Record> = target
                .find(conn, scope, ids)?
                .into_iter()
                .map(|r| (r.id.clone(), r))
                .collect();
            for parent in &parents {
                let related = store
                    .get(parent)
                    .record
                    .to_one(rel.name)
                    .and_then(|id| found.get(id))
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
            expand(conn, scope, store, target.def(), children, subtree)?;
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
