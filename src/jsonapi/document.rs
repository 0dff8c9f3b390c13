//! Response documents: resource objects, linkage, compound documents and pagination links.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use super::query::Page;
use super::resource::{RelDef, ResourceDef};

/// A resource as the engine passes it around, before rendering.
#[derive(Debug, Clone)]
pub struct Record {
    pub def: &'static ResourceDef,
    pub id: String,
    pub attributes: Map<String, Value>,
    /// Ids behind the to-one relationships (`None`: the relationship is empty).
    pub to_one: Vec<(&'static str, Option<String>)>,
    /// The target type of each polymorphic to-one relationship that is not empty
    /// (the others point to their `RelDef::target`).
    pub to_one_types: Vec<(&'static str, &'static str)>,
    pub organization_id: String,
    pub mode: String,
}

impl Record {
    pub fn identifier(&self) -> Value {
        json!({ "type": self.def.type_name, "id": self.id })
    }

    pub fn to_one(&self, rel: &str) -> Option<&str> {
        self.to_one
            .iter()
            .find(|(name, _)| *name == rel)
            .and_then(|(_, id)| id.as_deref())
    }

    /// The type and id a to-one relationship points to, if it is not empty.
    pub fn target(&self, rel: &RelDef) -> Option<(&'static str, &str)> {
        let id = self.to_one(rel.name)?;
        if !rel.is_poly() {
            return Some((rel.target, id));
        }
        self.to_one_types
            .iter()
            .find(|(name, _)| *name == rel.name)
            .map(|(_, t)| (*t, id))
    }
}

/// A record with the linkage (`data`) of the relationships that were included.
#[derive(Debug, Clone)]
pub struct Linked {
    pub record: Record,
    pub linkage: BTreeMap<&'static str, Value>,
}

impl From<Record> for Linked {
    fn from(record: Record) -> Self {
        Self {
            record,
            linkage: BTreeMap::new(),
        }
    }
}

/// What every rendered document needs: the absolute base and the sparse fieldsets.
pub struct Renderer<'a> {
    /// Scheme, host and `/api`, e.g. `https://refunds.example.com/api`.
    pub api_base: &'a str,
    pub fields: &'a BTreeMap<String, BTreeSet<String>>,
}

impl Renderer<'_> {
    /// The URL of a resource.
    pub fn self_url(&self, type_name: &str, id: &str) -> String {
        format!("{}/{}/{}", self.api_base, type_name, id)
    }

    /// `links` of one relationship.
    pub fn relationship_links(&self, type_name: &str, id: &str, rel: &str) -> Value {
        links_under(&self.self_url(type_name, id), rel)
    }

    /// The resource object, with sparse fieldsets applied.
    pub fn resource(&self, linked: &Linked) -> Value {
        let rec = &linked.record;
        let def = rec.def;
        let wanted = self.fields.get(def.type_name);
        let shown = |name: &str| wanted.is_none_or(|set| set.contains(name));
        let attributes: Map<String, Value> = rec
            .attributes
            .iter()
            .filter(|(k, _)| shown(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let self_url = self.self_url(def.type_name, &rec.id);
        let mut relationships = Map::new();
        for rel in def.relationships.iter().filter(|r| shown(r.name)) {
            let mut obj = Map::new();
            obj.insert("links".into(), links_under(&self_url, rel.name));
            if let Some(data) = linked.linkage.get(rel.name) {
                obj.insert("data".into(), data.clone());
            }
            relationships.insert(rel.name.to_owned(), Value::Object(obj));
        }
        let self_url = Value::String(self_url);
        let mut out = object([
            ("id", Value::String(rec.id.clone())),
            ("type", Value::String(def.type_name.to_owned())),
            ("links", Value::Object(object([("self", self_url)]))),
        ]);
        if !attributes.is_empty() {
            out.insert("attributes".into(), Value::Object(attributes));
        }
        if !relationships.is_empty() {
            out.insert("relationships".into(), Value::Object(relationships));
        }
        let meta = object([
            ("mode", Value::String(rec.mode.clone())),
            (
                "organization_id",
                Value::String(rec.organization_id.clone()),
            ),
        ]);
        out.insert("meta".into(), Value::Object(meta));
        Value::Object(out)
    }

    /// A document whose primary data is one resource (or null).
    pub fn single(&self, primary: Option<&Linked>, included: &[Linked], self_link: &str) -> Value {
        let mut doc = object([
            (
                "data",
                primary.map(|p| self.resource(p)).unwrap_or(Value::Null),
            ),
            (
                "links",
                Value::Object(object([("self", Value::String(self_link.to_owned()))])),
            ),
        ]);
        self.add_included(&mut doc, included);
        Value::Object(doc)
    }

    /// A paginated collection document.
    pub fn collection(
        &self,
        primary: &[Linked],
        included: &[Linked],
        pagination: &Pagination,
    ) -> Value {
        let mut doc = object([
            ("data", primary.iter().map(|p| self.resource(p)).collect()),
            ("meta", pagination.meta()),
            ("links", pagination.links()),
        ]);
        self.add_included(&mut doc, included);
        Value::Object(doc)
    }

    fn add_included(&self, doc: &mut Map<String, Value>, included: &[Linked]) {
        if !included.is_empty() {
            doc.insert(
                "included".into(),
                included.iter().map(|i| self.resource(i)).collect(),
            );
        }
    }
}

/// `links` of relationship `rel` of the resource at `base`.
fn links_under(base: &str, rel: &str) -> Value {
    Value::Object(object([
        ("self", Value::String(format!("{base}/relationships/{rel}"))),
        ("related", Value::String(format!("{base}/{rel}"))),
    ]))
}

/// An object from members already built as values. (`json!` would serialize each `Value`
/// member into a new one: a deep copy of every resource of a page.)
fn object<const N: usize>(members: [(&str, Value); N]) -> Map<String, Value> {
    members
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

/// Counts and links of one page of a collection.
pub struct Pagination<'a> {
    pub url: &'a str,
    pub pairs: &'a [(String, String)],
    pub page: Page,
    pub record_count: i64,
}

impl Pagination<'_> {
    pub fn page_count(&self) -> i64 {
        let size = i64::from(self.page.size);
        (self.record_count + size - 1) / size
    }

    pub fn meta(&self) -> Value {
        json!({ "record_count": self.record_count, "page_count": self.page_count() })
    }

    /// `first`, `prev` (not on page 1), `next` (not on the last page) and `last`,
    /// repeating the request's other parameters.
    pub fn links(&self) -> Value {
        let number = i64::from(self.page.number);
        let last = self.page_count().max(1);
        let mut links = Map::new();
        links.insert("first".into(), json!(self.link(1)));
        if number > 1 {
            links.insert("prev".into(), json!(self.link(number.min(last + 1) - 1)));
        }
        if number < last {
            links.insert("next".into(), json!(self.link(number + 1)));
        }
        links.insert("last".into(), json!(self.link(last)));
        Value::Object(links)
    }

    fn link(&self, number: i64) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, v) in self
            .pairs
            .iter()
            .filter(|(k, _)| k != "page[number]" && k != "page[size]")
        {
            query.append_pair(k, v);
        }
        query.append_pair("page[number]", &number.to_string());
        query.append_pair("page[size]", &self.page.size.to_string());
        format!("{}?{}", self.url, query.finish())
    }
}
