//! The journal: a `versions` row and an `events` row for every change, written by the
//! caller's transaction so no change is ever visible without them, with the webhook
//! deliveries of the event (`webhooks::outbox`).

use diesel::prelude::*;
use serde_json::{json, Map, Value};

use crate::auth::{Auth, Scope};
use crate::db::schema::{events, versions};
use crate::db::{counts, DbConnection};
use crate::ids::new_id;
use crate::jsonapi::document::Attributes;

/// Who made a change: the token's application and owner.
pub fn who(auth: &Auth) -> Value {
    let c = &auth.claims;
    json!({
        "application": { "id": c.application.id, "kind": c.application.kind },
        "owner": c.owner.as_ref().map(|o| json!({ "id": o.id, "type": o.kind })),
    })
}

/// The service itself as the author of a change (`kind`: the reconciler, a PSP's
/// notification), in the shape of `who`.
pub fn system(kind: &str) -> Value {
    json!({ "application": { "id": null, "kind": kind }, "owner": null })
}

/// One change of one resource.
pub struct Change<'a> {
    pub resource_type: &'static str,
    pub resource_id: &'a str,
    pub order_id: &'a str,
    /// `create`, `update` or `destroy`.
    pub event: &'static str,
    /// Attributes before the change (`None` for a create).
    pub before: Option<&'a Attributes>,
    /// Attributes after the change (before it, for a destroy).
    pub after: &'a Attributes,
    /// The event's name, e.g. `refunds.create` or `captures.refund`.
    pub name: &'a str,
}

/// `attribute → [before, after]` for every attribute that changed (`updated_at` aside).
pub fn changes(before: Option<&Attributes>, after: &Attributes) -> Map<String, Value> {
    after
        .iter()
        .filter(|(k, _)| *k != "updated_at")
        .filter_map(|(k, new)| {
            let old = before
                .and_then(|b| b.get(k))
                .cloned()
                .unwrap_or(Value::Null);
            (before.is_none() || &old != new).then(|| (k.to_owned(), json!([old, new])))
        })
        .collect()
}

/// Writes the version and the event of `change`.
pub fn record(
    conn: &mut DbConnection,
    scope: &Scope,
    who: &Value,
    change: Change,
) -> QueryResult<()> {
    let now = crate::clock::now();
    let snapshot = serde_json::to_string(change.after)
        .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
    let diff = match change.event {
        "destroy" => Map::new(),
        _ => changes(change.before, change.after),
    };
    diesel::insert_into(versions::table)
        .values((
            versions::id.eq(new_id()),
            versions::organization_id.eq(&scope.organization_id),
            versions::mode.eq(scope.mode),
            versions::order_id.eq(change.order_id),
            versions::resource_type.eq(change.resource_type),
            versions::resource_id.eq(change.resource_id),
            versions::event.eq(change.event),
            versions::changes.eq(Value::Object(diff).to_string()),
            versions::snapshot.eq(&snapshot),
            versions::who.eq(who.to_string()),
            versions::created_at.eq(now),
        ))
        .execute(conn)?;
    let event_id = new_id();
    diesel::insert_into(events::table)
        .values((
            events::id.eq(&event_id),
            events::organization_id.eq(&scope.organization_id),
            events::mode.eq(scope.mode),
            events::order_id.eq(change.order_id),
            events::name.eq(change.name),
            events::resource_type.eq(change.resource_type),
            events::resource_id.eq(change.resource_id),
            events::payload.eq(&snapshot),
            events::created_at.eq(now),
        ))
        .execute(conn)?;
    // The event's webhook deliveries, in its transaction (the outbox).
    crate::webhooks::outbox::enqueue(
        conn,
        scope,
        &crate::webhooks::outbox::Event {
            id: &event_id,
            name: change.name,
            resource_type: change.resource_type,
            resource_id: change.resource_id,
            created_at: now,
        },
    )?;
    counts::add(conn, &scope.organization_id, scope.mode, "versions", 1)?;
    counts::add(conn, &scope.organization_id, scope.mode, "events", 1)
}

#[cfg(test)]
mod tests {
    use super::changes;
    use crate::jsonapi::document::Attributes;
    use serde_json::json;

    fn attributes(members: [(&'static str, serde_json::Value); 3]) -> Attributes {
        let mut a = Attributes::default();
        for (k, v) in members {
            a.push(k, v);
        }
        a
    }

    #[test]
    fn lists_what_changed() {
        let before = attributes([
            ("a", json!(1)),
            ("b", json!("x")),
            ("updated_at", json!("t1")),
        ]);
        let after = attributes([
            ("a", json!(1)),
            ("b", json!("y")),
            ("updated_at", json!("t2")),
        ]);
        let diff = changes(Some(&before), &after);
        assert_eq!(serde_json::Value::Object(diff), json!({"b": ["x", "y"]}));
        let created = changes(None, &after);
        assert_eq!(created["a"], json!([null, 1]));
    }
}
