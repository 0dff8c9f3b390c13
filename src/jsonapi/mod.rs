//! The JSON:API engine, written once for every resource: query parsing, filter grammar,
//! documents, and content negotiation.

pub mod document;
pub mod filter;
pub mod json;
pub mod negotiation;
pub mod query;
pub mod request;
pub mod resource;

/// The JSON:API media type (defined with the error documents, the lowest layer writing one).
pub use crate::error::MEDIA_TYPE;

/// Finds the description of a resource type by its name.
pub type Lookup = fn(&str) -> Option<&'static resource::ResourceDef>;
