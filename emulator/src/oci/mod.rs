//! The OCI Distribution Spec v1.1 data plane every emulated registry serves at
//! `https://<name>.azurecr.io/v2/…` (mounted by [`crate::acr`], which checks
//! network and credentials first through [`Gate`]).
//!
//! | spec endpoint | handler |
//! |---|---|
//! | `GET /v2/` | [`routes`] (base) |
//! | `GET|HEAD /v2/<name>/blobs/<digest>` (Range) | `blob_get` |
//! | `DELETE /v2/<name>/blobs/<digest>` | `blob_delete` |
//! | `POST /v2/<name>/blobs/uploads/` (`?digest=`, `?digest-algorithm=`, `?mount=&from=`) | `upload_start` |
//! | `PATCH|PUT|GET|HEAD|DELETE /v2/<name>/blobs/uploads/<id>` | `upload_*` |
//! | `GET|HEAD|PUT|DELETE /v2/<name>/manifests/<reference>` (PUT by digest: `?tag=`) | `manifest_*` |
//! | `GET /v2/<name>/tags/list?n=&last=` | `tags_list` |
//! | `GET /v2/_catalog?n=&last=` | `catalog` |
//! | `GET /v2/<name>/referrers/<digest>?artifactType=` | `referrers` |
//! | ACR: `/acr/v1/_catalog`, `/acr/v1/<name>[/_tags[/<tag>]|/_manifests[/<digest>]]` | [`acr_meta`] |
//!
//! Digests are sha256 or sha512, as the client addresses content
//! ([`blobs::Algorithm`]); other algorithms are refused `DIGEST_INVALID`.
//!
//! Bytes live in the content-addressed [`blobs::BlobStore`]; which repository
//! may see which blob, manifests, tags and upload sessions are rows in the
//! store's `oci_*` tables, keyed `{registry}/{repository}/…`.

pub mod acr_meta;
pub mod blobs;
pub mod errors;
pub mod images;
pub mod locks;
pub mod manifest;
pub mod names;
pub mod routes;

pub use errors::OciError;

/// Store tables of the data plane.
pub mod tables {
    /// `{registry}/{repo}/{digest}` → `{size}`: blobs a repository can see.
    pub const BLOB_LINKS: &str = "oci_blob_links";
    /// `{registry}/{repo}/{digest}` → `{mediaType, size, subject, artifactType,
    /// annotations, createdTime, lastUpdateTime, changeableAttributes?}`.
    pub const MANIFESTS: &str = "oci_manifests";
    /// `{registry}/{repo}/{tag}` → `{digest, createdTime, lastUpdateTime,
    /// changeableAttributes?}` (tags keep their case; the times and the
    /// attributes survive re-pushes, [`super::locks::renewed`]).
    pub const TAGS: &str = "oci_tags";
    /// `{registry}/{repo}` → `{changeableAttributes}`: a repository's own
    /// attributes (ACR's locks, [`super::acr_meta`]; its times and counts come
    /// from its manifests and tags).
    pub const REPOSITORIES: &str = "oci_repositories";
    /// `{uuid}` → `{registry, repository, offset}`.
    pub const UPLOADS: &str = "oci_uploads";
}

/// What a request needs from the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Pull,
    Push,
    Delete,
    /// ACR's metadata API (`/acr/v1/…`) reads, scope action `metadata_read`.
    MetadataRead,
    /// ACR's metadata API writes (`PATCH` of attributes), scope action `metadata_write`.
    MetadataWrite,
}

/// The check in front of the data plane: network, credentials, permissions.
/// `repository: None` is `/v2/` (`catalog: false`) or `/v2/_catalog` (`catalog: true`).
pub trait Gate: Send + Sync + 'static {
    fn registry_for_host(&self, host: &str) -> Option<String>;
    #[allow(clippy::too_many_arguments)]
    /// `who`: where to record the caller it found (for the request log).
    fn check(
        &self,
        headers: &http::HeaderMap,
        from: &crate::network::Source,
        repository: Option<&str>,
        actions: &[Action],
        catalog: bool,
        who: Option<&crate::web::Who>,
    ) -> Result<(), axum::response::Response>;

    /// A manifest was pushed or deleted in `registry` (after it committed):
    /// the host may record it (ACR's webhooks). Nothing by default.
    fn content_changed(&self, _registry: &str, _change: &ContentChange) {}
}

/// What a push or a delete changed, as a registry's webhooks report it.
pub struct ContentChange<'a> {
    /// `push` or `delete`.
    pub action: &'a str,
    pub repository: &'a str,
    /// The tag pushed (none for a push or delete by digest).
    pub tag: Option<&'a str>,
    pub digest: &'a str,
    pub media_type: &'a str,
    /// The manifest's size in bytes (pushes).
    pub size: Option<u64>,
    /// The request behind it.
    pub method: &'a str,
    pub host: &'a str,
    pub user_agent: &'a str,
}
