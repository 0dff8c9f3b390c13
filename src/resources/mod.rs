//! The resources this service serves, each described once in its own file for the
//! generic engine (`crate::engine`), and the registry of them.

pub mod attachments;
pub mod authorizations;
pub mod captures;
pub mod event_callbacks;
pub mod events;
pub mod orders;
pub mod refund_captures;
pub mod refund_summaries;
pub mod refunds;
pub mod versions;
pub mod webhooks;

use crate::engine::Resource;
use crate::jsonapi::resource::ResourceDef;

static RESOURCES: &[&dyn Resource] = &[
    &refunds::Refunds,
    &orders::Orders,
    &authorizations::Authorizations,
    &captures::Captures,
    &refund_captures::RefundCaptures,
    &versions::Versions,
    &events::Events,
    &attachments::Attachments,
    &refund_summaries::RefundSummaries,
    &webhooks::Webhooks,
    &event_callbacks::EventCallbacks,
];

/// Every registered resource type, in registration order.
pub fn all() -> impl Iterator<Item = &'static dyn Resource> {
    RESOURCES.iter().copied()
}

/// The resource type served under `/api/<type_name>`.
pub fn resource(type_name: &str) -> Option<&'static dyn Resource> {
    all().find(|r| r.def().type_name == type_name)
}

/// The description of a resource type (the engine's [`crate::jsonapi::Lookup`]).
pub fn lookup(type_name: &str) -> Option<&'static ResourceDef> {
    resource(type_name).map(|r| r.def())
}

#[cfg(test)]
mod tests {
    /// Documents write these names without escaping them (`jsonapi::json::name_key`).
    #[test]
    fn every_name_a_document_writes_is_plain() {
        use crate::jsonapi::json::is_plain;
        for r in super::all() {
            let def = r.def();
            assert!(is_plain(def.type_name), "{}", def.type_name);
            for a in def.attributes {
                assert!(is_plain(a.name), "{}.{}", def.type_name, a.name);
            }
            for rel in def.relationships {
                assert!(is_plain(rel.name), "{}.{}", def.type_name, rel.name);
            }
        }
    }
}
