//! The ARM core every resource provider uses: resource ids, api-versions,
//! the error catalog, bearer authentication, long-running operations, paging,
//! ETags, the envelope pieces, request-body shapes (from Azure's specs) and
//! the cloud metadata document.
//! Nothing in here knows any particular provider.

pub mod api_version;
pub mod auth;
pub mod envelope;
pub mod error;
pub mod etag;
pub mod id;
pub mod locations;
pub mod lro;
pub mod metadata;
pub mod paging;
pub mod request;
pub mod rows;
pub mod shapes;
pub mod spec;

pub use api_version::ApiVersion;
pub use error::ArmError;
pub use id::ResourceId;
pub use request::ArmRequest;
pub use rows::Resources;
