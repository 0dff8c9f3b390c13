//! Response documents: resource objects, linkage, compound documents and pagination links.

use std::collections::{BTreeMap, BTreeSet};

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::query::Page;
use super::resource::{RelDef, ResourceDef};

/// A resource as the engine passes it around, before rendering.
#[derive(Debug, Clone)]
pub struct Record {
    pub def: &'static ResourceDef,
    pub id: String,
    pub attributes: Attributes,
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

/// The attributes of a record, in the order they are rendered. Names are the resource
/// description's own `&'static str`s: a page of records would otherwise allocate a `String`
/// per attribute per row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attributes(Vec<(&'static str, Value)>);

impl Attributes {
    /// Sets attribute `name` (replacing an earlier value).
    pub fn insert(&mut self, name: &'static str, value: Value) {
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => *v = value,
            None => self.0.push((name, value)),
        }
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &Value)> {
        self.0.iter().map(|(n, v)| (*n, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.0.iter().map(|(n, _)| *n)
    }
}

/// `attributes["name"]` is `null` when the record has no such attribute, as for a `Value`.
impl std::ops::Index<&str> for Attributes {
    type Output = Value;

    fn index(&self, name: &str) -> &Value {
        static NULL: Value = Value::Null;
        self.get(name).unwrap_or(&NULL)
    }
}

impl Serialize for Attributes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
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
///
/// Documents are serialized straight from the records (borrowed, never copied into a
/// `Value` tree first): a page of 25 refunds is about 60 KB of JSON, and building it as a
/// tree cost more than the queries behind it.
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
        let base = self.self_url(type_name, id);
        json!({
            "self": format!("{base}/relationships/{rel}"),
            "related": format!("{base}/{rel}"),
        })
    }

    /// A document whose primary data is one resource (or null), as JSON bytes.
    pub fn single(
        &self,
        primary: Option<&Linked>,
        included: &[Linked],
        self_link: &str,
    ) -> Vec<u8> {
        to_bytes(
            &SingleDoc {
                data: primary.map(|linked| self.object(linked)),
                links: SelfLink { url: self_link },
                included: self.objects(included),
            },
            1 + included.len(),
        )
    }

    /// A paginated collection document, as JSON bytes.
    pub fn collection(
        &self,
        primary: &[Linked],
        included: &[Linked],
        pagination: &Pagination,
    ) -> Vec<u8> {
        to_bytes(
            &CollectionDoc {
                data: self.objects(primary),
                meta: pagination.meta(),
                links: pagination.links(),
                included: self.objects(included),
            },
            primary.len() + included.len(),
        )
    }

    fn object<'r>(&'r self, linked: &'r Linked) -> ResourceObject<'r> {
        ResourceObject {
            renderer: self,
            linked,
        }
    }

    fn objects<'r>(&'r self, linked: &'r [Linked]) -> Objects<'r> {
        Objects {
            renderer: self,
            linked,
        }
    }

    /// Whether member `name` of `type_name` is in the sparse fieldset (all are without one).
    fn shown(&self, type_name: &str, name: &str) -> bool {
        self.fields
            .get(type_name)
            .is_none_or(|set| set.contains(name))
    }
}

/// Serializes a document. Maps with string keys and plain values cannot fail to serialize;
/// should one ever, the fallback is still a valid (empty) document, never a panic.
fn to_bytes(doc: &impl Serialize, resources: usize) -> Vec<u8> {
    // About 2.5 KB per resource: sized once instead of grown (and copied) a dozen times.
    let mut out = Vec::with_capacity(512 + resources * 2560);
    match serde_json::to_writer(&mut out, doc) {
        Ok(()) => out,
        Err(err) => {
            tracing::error!(%err, "a document failed to serialize");
            br#"{"data":null}"#.to_vec()
        }
    }
}

#[derive(Serialize)]
struct SingleDoc<'a> {
    data: Option<ResourceObject<'a>>,
    links: SelfLink<'a>,
    #[serde(skip_serializing_if = "Objects::is_empty")]
    included: Objects<'a>,
}

#[derive(Serialize)]
struct CollectionDoc<'a> {
    data: Objects<'a>,
    meta: Value,
    links: Value,
    #[serde(skip_serializing_if = "Objects::is_empty")]
    included: Objects<'a>,
}

#[derive(Serialize)]
struct SelfLink<'a> {
    #[serde(rename = "self")]
    url: &'a str,
}

/// A list of resource objects.
struct Objects<'a> {
    renderer: &'a Renderer<'a>,
    linked: &'a [Linked],
}

impl Objects<'_> {
    fn is_empty(&self) -> bool {
        self.linked.is_empty()
    }
}

impl Serialize for Objects<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.linked.iter().map(|l| self.renderer.object(l)))
    }
}

/// One resource object: `id`, `type`, `links`, `attributes`, `relationships`, `meta`,
/// with sparse fieldsets applied.
struct ResourceObject<'a> {
    renderer: &'a Renderer<'a>,
    linked: &'a Linked,
}

impl Serialize for ResourceObject<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let rec = &self.linked.record;
        let def = rec.def;
        let shown = |name: &str| self.renderer.shown(def.type_name, name);
        let url = Url {
            base: self.renderer.api_base,
            type_name: def.type_name,
            id: &rec.id,
            tail: [""; 2],
        };
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("id", &rec.id)?;
        m.serialize_entry("type", def.type_name)?;
        m.serialize_entry("links", &Links([("self", url)]))?;
        if rec.attributes.keys().any(&shown) {
            m.serialize_entry("attributes", &ShownAttributes { rec, shown: &shown })?;
        }
        if def.relationships.iter().any(|r| shown(r.name)) {
            m.serialize_entry(
                "relationships",
                &Relationships {
                    linked: self.linked,
                    url,
                    shown: &shown,
                },
            )?;
        }
        m.serialize_entry(
            "meta",
            &Meta {
                mode: &rec.mode,
                organization_id: &rec.organization_id,
            },
        )?;
        m.end()
    }
}

#[derive(Serialize)]
struct Meta<'a> {
    mode: &'a str,
    organization_id: &'a str,
}

struct ShownAttributes<'a, F> {
    rec: &'a Record,
    shown: &'a F,
}

impl<F: Fn(&str) -> bool> Serialize for ShownAttributes<'_, F> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.rec.attributes.iter().filter(|(k, _)| (self.shown)(k)))
    }
}

struct Relationships<'a, F> {
    linked: &'a Linked,
    url: Url<'a>,
    shown: &'a F,
}

impl<F: Fn(&str) -> bool> Serialize for Relationships<'_, F> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let rels = self.linked.record.def.relationships.iter();
        s.collect_map(rels.filter(|r| (self.shown)(r.name)).map(|rel| {
            let links = Links([
                ("self", self.url.under(["/relationships/", rel.name])),
                ("related", self.url.under(["/", rel.name])),
            ]);
            let data = self.linked.linkage.get(rel.name);
            (rel.name, Relationship { links, data })
        }))
    }
}

#[derive(Serialize)]
struct Relationship<'a, const N: usize> {
    links: Links<'a, N>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a Value>,
}

/// A `links` object whose URLs are written as they are serialized.
struct Links<'a, const N: usize>([(&'static str, Url<'a>); N]);

impl<const N: usize> Serialize for Links<'_, N> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

/// `{base}/{type}/{id}{tail}`, never built as a `String`.
#[derive(Clone, Copy)]
struct Url<'a> {
    base: &'a str,
    type_name: &'a str,
    id: &'a str,
    tail: [&'a str; 2],
}

impl<'a> Url<'a> {
    fn under(self, tail: [&'a str; 2]) -> Self {
        Self { tail, ..self }
    }
}

impl Serialize for Url<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let [a, b] = self.tail;
        s.collect_str(&format_args!(
            "{}/{}/{}{a}{b}",
            self.base, self.type_name, self.id
        ))
    }
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
