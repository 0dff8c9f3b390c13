//! `describe!`: a resource declared once, and everything the engine needs generated from it.
//!
//! Each attribute is one line: its JSON:API name (which is also its column), its kind and
//! its flags. From those lines come the resource's [`ResourceDef`] attributes, the
//! attribute arms of its `cond` (filter SQL, by kind), and its `sort` (whose NULL order
//! follows the column's type). Each relationship is one line too: its target, and the
//! column linking the two tables; from it come the [`RelDef`] and the relationship-path
//! arm of `cond`, a subquery on the target filtered by the target's own `cond`.
//!
//! ```text
//! crate::engine::describe! {
//!     type_name: refunds,               // the table, the module and the JSON:API type
//!     default_sort: "-created_at",
//!     attributes {
//!         number: Text [filter, sort],  // the column `refunds.number`
//!         amount_float: shown,          // rendered only: no column, no flags
//!         order_id: Text [filter, hidden],
//!         // `refunds.id IN (SELECT refund_id FROM refund_captures WHERE <capture_id ...>)`
//!         capture_id: Text in refund_captures(refund_id) [filter, hidden],
//!     }
//!     relationships {
//!         order: one orders via order_id,               // refunds.order_id = orders.id
//!         versions: many versions via resource_id,      // versions.resource_id = refunds.id
//!         // (on captures) captures.id IN (SELECT capture_id FROM refund_captures ...)
//!         refunds: many refunds through refund_captures(capture_id, refund_id),
//!         attachable: poly ATTACHABLE_TYPES,            // not filterable
//!     }
//! }
//! ```
//!
//! A kind without filter SQL (`Derived`) does not compile as a column, a flag is a method
//! of [`AttrDef`] (so a misspelt one does not compile either), and an attribute reached
//! through another table cannot be sortable (a compile-time assertion). The generated
//! items are `DEF`, `cond` and `sort`; the resource's module imports nothing for them.
//!
//! [`ResourceDef`]: crate::jsonapi::resource::ResourceDef
//! [`RelDef`]: crate::jsonapi::resource::RelDef
//! [`AttrDef`]: crate::jsonapi::resource::AttrDef

/// Declares a resource: `pub static DEF`, `pub fn cond` and `fn sort` (see the module docs).
macro_rules! describe {
    (
        type_name: $table:ident,
        default_sort: $default_sort:literal,
        attributes { $($attrs:tt)* }
        relationships { $($rels:tt)* }
    ) => {
        pub static DEF: $crate::jsonapi::resource::ResourceDef =
            $crate::jsonapi::resource::ResourceDef {
                type_name: stringify!($table),
                attributes: DESCRIBED_ATTRIBUTES,
                relationships: DESCRIBED_RELATIONSHIPS,
                default_sort: $default_sort,
            };

        $crate::engine::describe::attributes!(@munch $table [] [] [] ; $($attrs)*);
        $crate::engine::describe::relationships!(@munch $table [] [] [] [] ; $($rels)*);

        /// The SQL condition of one filter target on this resource's table.
        pub fn cond(
            t: &$crate::jsonapi::filter::Target,
            backend: $crate::db::Backend,
        ) -> $crate::error::ApiResult<$crate::engine::sql::Cond<$crate::db::schema::$table::table>>
        {
            if t.path.is_empty() {
                attribute_cond(t, backend)
            } else {
                relationship_cond(t, backend)
            }
        }
    };
}

/// The attribute lines of [`describe!`], munched one at a time into three lists: the
/// definitions, the columns and the attributes reached through another table.
macro_rules! attributes {
    (@munch $table:ident
        [$($def:expr,)*]
        [$($col:ident $ckind:ident,)*]
        [$($thr:ident $tkind:ident $link:ident $back:ident,)*] ;
    ) => {
        const DESCRIBED_ATTRIBUTES: &[$crate::jsonapi::resource::AttrDef] = &[$($def,)*];

        /// The SQL condition of a filter on one of this table's own attributes.
        #[allow(unused_variables)]
        fn attribute_cond(
            t: &$crate::jsonapi::filter::Target,
            backend: $crate::db::Backend,
        ) -> $crate::error::ApiResult<$crate::engine::sql::Cond<$crate::db::schema::$table::table>>
        {
            #[allow(unused_imports)]
            use diesel::prelude::*;
            Ok(match t.attr.name {
                "id" => $crate::engine::sql::text!($crate::db::schema::$table::id, t),
                $(
                    stringify!($col) => $crate::engine::describe::filter_sql!(
                        $ckind, $table, $col, t, backend
                    ),
                )*
                $(
                    stringify!($thr) => Box::new(
                        $crate::engine::sql::in_query(
                            $crate::db::schema::$table::id,
                            $crate::db::schema::$link::table
                                .select($crate::db::schema::$link::$back)
                                .into_boxed::<$crate::db::MultiBackend>()
                                .filter($crate::engine::describe::filter_sql!(
                                    $tkind, $link, $thr, t, backend
                                )),
                        )
                        .nullable(),
                    ),
                )*
                _ => return Err($crate::engine::sql::unsupported(t)),
            })
        }

        /// Adds `key` to the order; `false` for a field this table has no column for.
        fn sort(
            o: &mut $crate::engine::sql::OrderBy,
            key: &$crate::jsonapi::query::SortKey,
            backend: $crate::db::Backend,
        ) -> bool {
            match key.attr.name {
                $(stringify!($col) => o.column($crate::db::schema::$table::$col, key, backend),)*
                _ => return false,
            }
            true
        }
    };
    // `name: shown`: rendered only.
    (@munch $table:ident [$($defs:tt)*] [$($cols:tt)*] [$($thrs:tt)*] ;
        $name:ident : shown $(, $($rest:tt)*)?
    ) => {
        $crate::engine::describe::attributes!(@munch $table
            [$($defs)* $crate::jsonapi::resource::AttrDef::shown(stringify!($name)),]
            [$($cols)*] [$($thrs)*] ; $($($rest)*)?);
    };
    // `name: Kind in link(back) [flags]`: `id IN (SELECT link.back FROM link WHERE link.name ...)`.
    (@munch $table:ident [$($defs:tt)*] [$($cols:tt)*] [$($thrs:tt)*] ;
        $name:ident : $kind:ident in $link:ident ( $back:ident ) [$($flag:ident),* $(,)?]
        $(, $($rest:tt)*)?
    ) => {
        const _: () = assert!(
            !$crate::engine::describe::attr!($name, $kind, $($flag),*).sortable,
            concat!("`", stringify!($name), "` is reached through another table: it cannot sort"),
        );
        $crate::engine::describe::attributes!(@munch $table
            [$($defs)* $crate::engine::describe::attr!($name, $kind, $($flag),*),]
            [$($cols)*] [$($thrs)* $name $kind $link $back,] ; $($($rest)*)?);
    };
    // `name: Kind [flags]`: the column `table.name`.
    (@munch $table:ident [$($defs:tt)*] [$($cols:tt)*] [$($thrs:tt)*] ;
        $name:ident : $kind:ident [$($flag:ident),* $(,)?] $(, $($rest:tt)*)?
    ) => {
        $crate::engine::describe::attributes!(@munch $table
            [$($defs)* $crate::engine::describe::attr!($name, $kind, $($flag),*),]
            [$($cols)* $name $kind,] [$($thrs)*] ; $($($rest)*)?);
    };
}

/// `AttrDef::new("name", AttrKind::Kind).flag()...`.
macro_rules! attr {
    ($name:ident, $kind:ident, $($flag:ident),*) => {
        $crate::jsonapi::resource::AttrDef::new(
            stringify!($name),
            $crate::jsonapi::resource::AttrKind::$kind,
        )
        $(.$flag())*
    };
}

/// The filter SQL of the column `table.name`, by kind.
macro_rules! filter_sql {
    (Text, $table:ident, $name:ident, $t:ident, $backend:ident) => {
        $crate::engine::sql::text!($crate::db::schema::$table::$name, $t)
    };
    (Int, $table:ident, $name:ident, $t:ident, $backend:ident) => {
        $crate::engine::sql::typed!($crate::db::schema::$table::$name, $t, Int)
    };
    (Bool, $table:ident, $name:ident, $t:ident, $backend:ident) => {
        $crate::engine::sql::typed!($crate::db::schema::$table::$name, $t, Bool)
    };
    (Time, $table:ident, $name:ident, $t:ident, $backend:ident) => {
        $crate::engine::sql::typed!($crate::db::schema::$table::$name, $t, Time)
    };
    (Json, $table:ident, $name:ident, $t:ident, $backend:ident) => {{
        // Only checks that the column exists: containment is written as SQL text.
        let _ = $crate::db::schema::$table::$name;
        $crate::engine::sql::json_contains!(stringify!($table), stringify!($name), $t, $backend)
    }};
}

/// The relationship lines of [`describe!`], munched into the definitions and three lists
/// of filterable paths: to-one, to-many and to-many through a link table.
macro_rules! relationships {
    (@munch $table:ident
        [$($def:expr,)*]
        [$($one:ident $otarget:ident $local:ident,)*]
        [$($many:ident $mtarget:ident $remote:ident,)*]
        [$($thr:ident $ttarget:ident $link:ident $near:ident $far:ident,)*] ;
    ) => {
        const DESCRIBED_RELATIONSHIPS: &[$crate::jsonapi::resource::RelDef] = &[$($def,)*];

        /// The SQL condition of a filter through a relationship: a subquery on the
        /// target's table, filtered by the target's own `cond`.
        #[allow(unused_variables)]
        fn relationship_cond(
            t: &$crate::jsonapi::filter::Target,
            backend: $crate::db::Backend,
        ) -> $crate::error::ApiResult<$crate::engine::sql::Cond<$crate::db::schema::$table::table>>
        {
            #[allow(unused_imports)]
            use diesel::prelude::*;
            #[allow(unused_imports)]
            use $crate::{db::schema as s, engine::sql::in_query};
            let Some(rel) = t.path.first() else {
                return Err($crate::engine::sql::unsupported(t));
            };
            match rel.name {
                $(
                    // `table.local IN (SELECT target.id FROM target WHERE ...)`
                    stringify!($one) => Ok(Box::new(
                        in_query(
                            s::$table::$local,
                            s::$otarget::table
                                .select(s::$otarget::id)
                                .into_boxed::<$crate::db::MultiBackend>()
                                .filter($crate::resources::$otarget::cond(&t.inner(), backend)?),
                        )
                        .nullable(),
                    )),
                )*
                $(
                    // `table.id IN (SELECT target.remote FROM target WHERE ...)`
                    stringify!($many) => Ok(Box::new(
                        in_query(
                            s::$table::id,
                            s::$mtarget::table
                                .select(s::$mtarget::$remote)
                                .into_boxed::<$crate::db::MultiBackend>()
                                .filter($crate::resources::$mtarget::cond(&t.inner(), backend)?),
                        )
                        .nullable(),
                    )),
                )*
                $(
                    // `table.id IN (SELECT link.near FROM link WHERE link.far IN
                    // (SELECT target.id FROM target WHERE ...))`
                    stringify!($thr) => {
                        let targets = s::$ttarget::table
                            .select(s::$ttarget::id)
                            .into_boxed::<$crate::db::MultiBackend>()
                            .filter($crate::resources::$ttarget::cond(&t.inner(), backend)?);
                        let links = s::$link::table
                            .select(s::$link::$near)
                            .into_boxed::<$crate::db::MultiBackend>()
                            .filter(in_query(s::$link::$far, targets));
                        Ok(Box::new(in_query(s::$table::id, links).nullable()))
                    }
                )*
                _ => Err($crate::engine::sql::unsupported(t)),
            }
        }
    };
    // `name: one target via local`: `table.local` holds the target's id.
    (@munch $table:ident [$($defs:tt)*] [$($ones:tt)*] [$($manys:tt)*] [$($thrs:tt)*] ;
        $name:ident : one $target:ident via $local:ident $(, $($rest:tt)*)?
    ) => {
        $crate::engine::describe::relationships!(@munch $table
            [$($defs)* $crate::jsonapi::resource::RelDef::one(
                stringify!($name), stringify!($target)),]
            [$($ones)* $name $target $local,] [$($manys)*] [$($thrs)*] ; $($($rest)*)?);
    };
    // `name: many target via remote`: `target.remote` holds this table's id.
    (@munch $table:ident [$($defs:tt)*] [$($ones:tt)*] [$($manys:tt)*] [$($thrs:tt)*] ;
        $name:ident : many $target:ident via $remote:ident $(, $($rest:tt)*)?
    ) => {
        $crate::engine::describe::relationships!(@munch $table
            [$($defs)* $crate::jsonapi::resource::RelDef::many(
                stringify!($name), stringify!($target), stringify!($remote)),]
            [$($ones)*] [$($manys)* $name $target $remote,] [$($thrs)*] ; $($($rest)*)?);
    };
    // `name: many target through link(near, far)`: `link.near` holds this table's id and
    // `link.far` the target's; the target filters on `near` (its inverse).
    (@munch $table:ident [$($defs:tt)*] [$($ones:tt)*] [$($manys:tt)*] [$($thrs:tt)*] ;
        $name:ident : many $target:ident through $link:ident ( $near:ident, $far:ident )
        $(, $($rest:tt)*)?
    ) => {
        $crate::engine::describe::relationships!(@munch $table
            [$($defs)* $crate::jsonapi::resource::RelDef::many(
                stringify!($name), stringify!($target), stringify!($near)),]
            [$($ones)*] [$($manys)*] [$($thrs)* $name $target $link $near $far,] ;
            $($($rest)*)?);
    };
    // `name: poly TYPES`: a polymorphic to-one, rendered and included but not filtered.
    (@munch $table:ident [$($defs:tt)*] [$($ones:tt)*] [$($manys:tt)*] [$($thrs:tt)*] ;
        $name:ident : poly $types:path $(, $($rest:tt)*)?
    ) => {
        $crate::engine::describe::relationships!(@munch $table
            [$($defs)* $crate::jsonapi::resource::RelDef::poly(stringify!($name), $types),]
            [$($ones)*] [$($manys)*] [$($thrs)*] ; $($($rest)*)?);
    };
}

pub(crate) use {attr, attributes, describe, filter_sql, relationships};
