//! The per-resource description that drives the generic engine.

/// Value type of an attribute, which decides how filter values are parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrKind {
    Text,
    Int,
    Bool,
    Time,
    Json,
    /// Rendered only (floats, formatted amounts): never filtered or sorted.
    Derived,
}

/// One attribute of a resource type.
#[derive(Debug)]
pub struct AttrDef {
    pub name: &'static str,
    pub kind: AttrKind,
    pub filterable: bool,
    pub sortable: bool,
    /// Filter-only fields (foreign keys such as `order_id`) are not rendered.
    pub rendered: bool,
}

impl AttrDef {
    /// An attribute of `kind` that is rendered, and neither filtered nor sorted until
    /// [`filter`](Self::filter) or [`sort`](Self::sort) says so.
    pub const fn new(name: &'static str, kind: AttrKind) -> Self {
        Self {
            name,
            kind,
            filterable: false,
            sortable: false,
            rendered: true,
        }
    }

    /// An attribute that is only rendered (floats, formatted amounts, JSON documents).
    pub const fn shown(name: &'static str) -> Self {
        Self::new(name, AttrKind::Derived)
    }

    /// `filter[q][<name>_<predicate>]` may name it.
    pub const fn filter(self) -> Self {
        Self {
            filterable: true,
            ..self
        }
    }

    /// `sort` may name it.
    pub const fn sort(self) -> Self {
        Self {
            sortable: true,
            ..self
        }
    }

    /// Not rendered: a filter-only field such as a foreign key.
    pub const fn hidden(self) -> Self {
        Self {
            rendered: false,
            ..self
        }
    }
}

/// One relationship of a resource type.
#[derive(Debug)]
pub struct RelDef {
    pub name: &'static str,
    /// The JSON:API type of the related resources (empty when polymorphic).
    pub target: &'static str,
    pub to_many: bool,
    /// For to-many relationships: the target's filter field that, compared
    /// with a parent's id, selects the parent's children (e.g. `order_id`).
    pub inverse: &'static str,
    /// For polymorphic to-one relationships: the types a record may point to; each
    /// record names its own target's type (see `Record::to_one_types`).
    pub targets: &'static [&'static str],
}

impl RelDef {
    pub const fn one(name: &'static str, target: &'static str) -> Self {
        Self {
            name,
            target,
            to_many: false,
            inverse: "",
            targets: &[],
        }
    }

    /// A polymorphic to-one relationship: the target's type comes from each record.
    pub const fn poly(name: &'static str, targets: &'static [&'static str]) -> Self {
        Self {
            name,
            target: "",
            to_many: false,
            inverse: "",
            targets,
        }
    }

    pub const fn many(name: &'static str, target: &'static str, inverse: &'static str) -> Self {
        Self {
            name,
            target,
            to_many: true,
            inverse,
            targets: &[],
        }
    }

    pub const fn is_poly(&self) -> bool {
        !self.targets.is_empty()
    }
}

/// A resource type: its attributes, relationships and default order.
#[derive(Debug)]
pub struct ResourceDef {
    pub type_name: &'static str,
    pub attributes: &'static [AttrDef],
    pub relationships: &'static [RelDef],
    /// Order of collections without `sort` (before the `id` tie-breaker).
    pub default_sort: &'static str,
}

impl ResourceDef {
    pub fn attr(&self, name: &str) -> Option<&'static AttrDef> {
        self.attributes.iter().find(|a| a.name == name)
    }

    pub fn rel(&self, name: &str) -> Option<&'static RelDef> {
        self.relationships.iter().find(|r| r.name == name)
    }

    /// Whether `name` may appear in `fields[<type>]`.
    pub fn has_field(&self, name: &str) -> bool {
        self.attr(name).is_some_and(|a| a.rendered) || self.rel(name).is_some()
    }
}

/// `id` is filterable on every resource.
pub const ID: AttrDef = AttrDef::new("id", AttrKind::Text).filter().hidden();
