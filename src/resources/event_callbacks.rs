//! `event_callbacks`: every attempt to call a webhook, successful or not, newest first.

use diesel::prelude::*;
use serde_json::Value;

use crate::db::schema::event_callbacks;
use crate::engine::{time, Resource};
use crate::jsonapi::document::{Attributes, Record};
use crate::jsonapi::resource::ResourceDef;

crate::engine::describe! {
    type_name: event_callbacks,
    default_sort: "-created_at",
    attributes {
        callback_url: Text [filter],
        payload: shown,
        response_code: Int [filter, sort],
        response_message: Text [filter],
        attempt: Int [filter, sort],
        created_at: Time [filter, sort],
        webhook_id: Text [filter, hidden],
    }
    relationships {
        webhook: one webhooks via webhook_id,
    }
}

/// A row of `event_callbacks`, in column order.
#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = event_callbacks)]
pub struct Row {
    pub id: String,
    pub organization_id: String,
    pub mode: String,
    pub webhook_id: String,
    pub callback_url: String,
    pub payload: String,
    pub response_code: Option<i64>,
    pub response_message: Option<String>,
    pub attempt: i64,
    pub created_at: chrono::NaiveDateTime,
}

pub fn view(r: Row) -> Record {
    let mut a = Attributes::with_capacity(DEF.attributes.len());
    a.push("callback_url", Value::from(r.callback_url));
    a.push_json("payload", r.payload);
    a.push("response_code", Value::from(r.response_code));
    a.push("response_message", Value::from(r.response_message));
    a.push("attempt", Value::from(r.attempt));
    a.push("created_at", time(&r.created_at));
    Record {
        def: &DEF,
        id: r.id,
        attributes: a,
        to_one: vec![("webhook", Some(r.webhook_id))],
        to_one_types: vec![],
        organization_id: r.organization_id,
        mode: r.mode,
    }
}

/// The tenant's callbacks (see `webhooks::scope`).
pub fn scope(scope: &crate::auth::Scope) -> crate::engine::sql::Cond<event_callbacks::table> {
    Box::new(crate::engine::tenant!(event_callbacks, scope))
}

pub struct EventCallbacks;

impl Resource for EventCallbacks {
    fn def(&self) -> &'static ResourceDef {
        &DEF
    }

    crate::engine::list_impl!(event_callbacks, Row, view, cond, sort, scope);
}
