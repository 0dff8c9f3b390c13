//! Response documents: resource objects, linkage, compound documents and pagination links.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use serde::ser::Serializer;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use super::json;
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
pub struct Attributes(Vec<(&'static str, AttrValue)>);

/// One attribute's value.
#[derive(Debug, Clone)]
pub enum AttrValue {
    Value(Value),
    /// Stored JSON text (metadata, journal entries), checked to be valid JSON and written
    /// out as it is: every write stores serde_json's own compact text, so the bytes are
    /// the ones a parsed tree would give, without the tree. Parsed only when asked for
    /// as a value.
    Json(Box<RawValue>, OnceLock<Value>),
}

impl AttrValue {
    /// Stored JSON text; text that is not JSON (which writes prevent) reads as `{}`.
    pub fn json(text: String) -> Self {
        match RawValue::from_string(text) {
            Ok(raw) => AttrValue::Json(raw, OnceLock::new()),
            Err(_) => AttrValue::Value(Value::Object(Map::new())),
        }
    }

    pub fn value(&self) -> &Value {
        match self {
            AttrValue::Value(v) => v,
            AttrValue::Json(raw, parsed) => parsed.get_or_init(|| {
                // The text passed the same parser (and its depth limit) when stored.
                serde_json::from_str(raw.get()).unwrap_or_else(|_| Value::Object(Map::new()))
            }),
        }
    }
}

impl PartialEq for AttrValue {
    fn eq(&self, other: &Self) -> bool {
        self.value() == other.value()
    }
}

impl Attributes {
    /// Room for `n` attributes: a view knows how many it renders.
    pub fn with_capacity(n: usize) -> Self {
        Self(Vec::with_capacity(n))
    }

    /// Adds attribute `name`, which a view sets once: no search for an earlier value (a
    /// page's views set some 500 attributes).
    pub fn push(&mut self, name: &'static str, value: Value) {
        self.push_value(name, AttrValue::Value(value));
    }

    /// Adds attribute `name` from stored JSON text (see [`AttrValue::Json`]).
    pub fn push_json(&mut self, name: &'static str, text: String) {
        self.push_value(name, AttrValue::json(text));
    }

    fn push_value(&mut self, name: &'static str, value: AttrValue) {
        debug_assert!(self.get(name).is_none(), "attribute {name} set twice");
        self.0.push((name, value));
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.value())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &Value)> {
        self.0.iter().map(|(n, v)| (*n, v.value()))
    }

    /// The attributes as they are held, for writing them out.
    pub fn entries(&self) -> impl Iterator<Item = (&'static str, &AttrValue)> {
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
/// Documents are written straight from the records as bytes (see [`super::json`]): a page
/// of 25 refunds is about 60 KB of JSON, most of it links, and going through a `Value`
/// tree or serde's per-value dispatch cost more than the queries behind it.
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
        let mut w = self.writer(1 + included.len());
        w.out.extend_from_slice(b"{\"data\":");
        match primary {
            Some(linked) => w.object(linked),
            None => w.out.extend_from_slice(b"null"),
        }
        w.out.extend_from_slice(b",\"links\":{\"self\":");
        json::string(&mut w.out, self_link);
        w.out.push(b'}');
        w.included(included);
        w.out.push(b'}');
        w.out
    }

    /// A paginated collection document, as JSON bytes.
    pub fn collection(
        &self,
        primary: &[Linked],
        included: &[Linked],
        pagination: &Pagination,
    ) -> Vec<u8> {
        let mut w = self.writer(primary.len() + included.len());
        w.out.extend_from_slice(b"{\"data\":");
        w.objects(primary);
        w.out.extend_from_slice(b",\"meta\":");
        json::value(&mut w.out, &pagination.meta());
        w.out.extend_from_slice(b",\"links\":");
        json::value(&mut w.out, &pagination.links());
        w.included(included);
        w.out.push(b'}');
        w.out
    }

    fn writer(&self, resources: usize) -> Writer<'_> {
        let mut base = Vec::with_capacity(self.api_base.len() + 8);
        json::escaped(&mut base, self.api_base);
        Writer {
            renderer: self,
            // About 2.5 KB per resource: sized once instead of grown (and copied) a dozen times.
            out: Vec::with_capacity(512 + resources * 2560),
            base,
            url: Vec::with_capacity(128),
            rel_text: Vec::new(),
        }
    }
}

/// One document being written.
struct Writer<'a> {
    renderer: &'a Renderer<'a>,
    out: Vec<u8>,
    /// `api_base`, escaped once for every link of the document.
    base: Vec<u8>,
    /// `"{base}/{type}/{id}` of the resource being written: the start of each of its links.
    url: Vec<u8>,
    /// The relationship text of each type written so far.
    rel_text: Vec<RelText>,
}

/// The fixed text of one type's relationships, made once per document: for each, the three
/// pieces around its two links, `"name":{"links":{"self":` · url ·
/// `/relationships/name","related":` · url · `/name"}`. A page of 25 refunds writes 175
/// relationships, and piecing each together from names cost more than copying it.
struct RelText {
    def: &'static ResourceDef,
    text: Vec<u8>,
    /// Where each relationship's pieces end in `text`, in `def.relationships` order.
    ends: Vec<[usize; 3]>,
}

impl RelText {
    fn new(def: &'static ResourceDef) -> Self {
        let mut text = Vec::new();
        let mut ends = Vec::with_capacity(def.relationships.len());
        for rel in def.relationships {
            debug_assert!(json::is_plain(rel.name));
            json::name_key(&mut text, rel.name);
            text.extend_from_slice(b"{\"links\":{\"self\":");
            let a = text.len();
            text.extend_from_slice(b"/relationships/");
            text.extend_from_slice(rel.name.as_bytes());
            text.extend_from_slice(b"\",\"related\":");
            let b = text.len();
            text.push(b'/');
            text.extend_from_slice(rel.name.as_bytes());
            text.extend_from_slice(b"\"}");
            ends.push([a, b, text.len()]);
        }
        Self { def, text, ends }
    }

    /// The pieces of relationship `i`.
    fn pieces(&self, i: usize) -> [&[u8]; 3] {
        let start = if i == 0 { 0 } else { self.ends[i - 1][2] };
        let [a, b, c] = self.ends[i];
        [&self.text[start..a], &self.text[a..b], &self.text[b..c]]
    }
}

impl Writer<'_> {
    fn objects(&mut self, linked: &[Linked]) {
        self.out.push(b'[');
        for (i, l) in linked.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            self.object(l);
        }
        self.out.push(b']');
    }

    fn included(&mut self, included: &[Linked]) {
        if !included.is_empty() {
            self.out.extend_from_slice(b",\"included\":");
            self.objects(included);
        }
    }

    /// `"{url}"`: the resource's own link.
    fn self_link(&mut self) {
        self.out.extend_from_slice(&self.url);
        self.out.push(b'"');
    }

    /// The index in `rel_text` of `def`'s text, made on first use.
    fn rel_text(&mut self, def: &'static ResourceDef) -> usize {
        match self.rel_text.iter().position(|t| std::ptr::eq(t.def, def)) {
            Some(i) => i,
            None => {
                self.rel_text.push(RelText::new(def));
                self.rel_text.len() - 1
            }
        }
    }

    /// One resource object: `id`, `type`, `links`, `attributes`, `relationships`, `meta`,
    /// with sparse fieldsets applied.
    fn object(&mut self, linked: &Linked) {
        let rec = &linked.record;
        let def = rec.def;
        // The type's sparse fieldset, looked up once for all of its members.
        let fieldset = self.renderer.fields.get(def.type_name);
        let shown = |name: &str| fieldset.is_none_or(|set| set.contains(name));
        self.url.clear();
        self.url.push(b'"');
        self.url.extend_from_slice(&self.base);
        self.url.push(b'/');
        self.url.extend_from_slice(def.type_name.as_bytes());
        self.url.push(b'/');
        json::escaped(&mut self.url, &rec.id);

        self.out.extend_from_slice(b"{\"id\":");
        json::string(&mut self.out, &rec.id);
        self.out.extend_from_slice(b",\"type\":\"");
        self.out.extend_from_slice(def.type_name.as_bytes());
        self.out.push(b'"');
        self.out.extend_from_slice(b",\"links\":{\"self\":");
        self.self_link();
        self.out.push(b'}');

        let mut first = true;
        for (name, v) in rec.attributes.entries().filter(|(k, _)| shown(k)) {
            self.out
                .extend_from_slice(if first { b",\"attributes\":{" } else { b"," });
            first = false;
            json::name_key(&mut self.out, name);
            match v {
                AttrValue::Value(v) => json::value(&mut self.out, v),
                AttrValue::Json(raw, _) => self.out.extend_from_slice(raw.get().as_bytes()),
            }
        }
        if !first {
            self.out.push(b'}');
        }

        let text = self.rel_text(def);
        let (out, url, text) = (&mut self.out, &self.url, &self.rel_text[text]);
        let mut first = true;
        for (i, rel) in def.relationships.iter().enumerate() {
            if !shown(rel.name) {
                continue;
            }
            out.extend_from_slice(if first { b",\"relationships\":{" } else { b"," });
            first = false;
            let [name_and_self, related, end] = text.pieces(i);
            out.extend_from_slice(name_and_self);
            out.extend_from_slice(url);
            out.extend_from_slice(related);
            out.extend_from_slice(url);
            out.extend_from_slice(end);
            if let Some(data) = linked.linkage.get(rel.name) {
                out.extend_from_slice(b",\"data\":");
                json::value(out, data);
            }
            out.push(b'}');
        }
        if !first {
            out.push(b'}');
        }

        self.out.extend_from_slice(b",\"meta\":{\"mode\":");
        json::string(&mut self.out, &rec.mode);
        self.out.extend_from_slice(b",\"organization_id\":");
        json::string(&mut self.out, &rec.organization_id);
        self.out.extend_from_slice(b"}}");
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
        // The links differ only in the page number: the rest is encoded once.
        let prefix = format!("{}?", self.url);
        let mut query = form_urlencoded::Serializer::for_suffix(prefix, self.url.len() + 1);
        for (k, v) in self
            .pairs
            .iter()
            .filter(|(k, _)| k != "page[number]" && k != "page[size]")
        {
            query.append_pair(k, v);
        }
        query.append_pair("page[number]", "");
        let start = query.finish();
        let link = |n: i64| json!(format!("{start}{n}&page%5Bsize%5D={}", self.page.size));
        let mut links = Map::new();
        links.insert("first".into(), link(1));
        if number > 1 {
            links.insert("prev".into(), link(number.min(last + 1) - 1));
        }
        if number < last {
            links.insert("next".into(), link(number + 1));
        }
        links.insert("last".into(), link(last));
        Value::Object(links)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::{AttrValue, Attributes};

    /// Stored text is written as it is, so it must be what serde_json writes for its value:
    /// the form every write stores.
    #[test]
    fn stored_json_is_written_as_serde_json_writes_its_value() {
        let stored = [
            json!({}),
            json!({"channel": "web", "priority": true, "tags": ["gift", "vip"]}),
            json!({"z": 1, "a": {"nested": [1.5, -2, null, "é\"\\\n\u{1}"]}, "m": 1e300}),
            json!({"big": u64::MAX, "small": i64::MIN, "x": 0.1}),
        ];
        for value in stored {
            let text = value.to_string();
            let AttrValue::Json(raw, _) = AttrValue::json(text.clone()) else {
                panic!("valid JSON kept as text: {text}");
            };
            assert_eq!(raw.get(), text);
            let mut parsed = Vec::new();
            super::json::value(&mut parsed, &serde_json::from_str::<Value>(&text).unwrap());
            assert_eq!(String::from_utf8(parsed).unwrap(), text);
        }
    }

    #[test]
    fn stored_json_reads_as_its_value_and_bad_text_as_an_empty_object() {
        let mut a = Attributes::default();
        a.push_json("metadata", r#"{"a":[1,2]}"#.into());
        a.push_json("broken", "{not json".into());
        a.push_json("deep", "[".repeat(200) + &"]".repeat(200));
        assert_eq!(a["metadata"], json!({"a": [1, 2]}));
        assert_eq!(a["broken"], json!({}));
        assert_eq!(a["deep"], json!({}), "past serde_json's depth limit");

        let mut b = Attributes::default();
        b.push("metadata", json!({"a": [1, 2]}));
        b.push("broken", json!({}));
        b.push("deep", json!({}));
        assert_eq!(a, b, "equal values, however they are held");
        assert_eq!(
            serde_json::to_value(&a).unwrap(),
            json!({"metadata": {"a": [1, 2]}, "broken": {}, "deep": {}})
        );
    }
}
