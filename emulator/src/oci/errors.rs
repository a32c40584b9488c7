//! The OCI wire surface's one error catalog: `{"errors":[{"code","message","detail"}]}`
//! with the distribution spec's codes and status codes, ACR's message texts
//! where known (../shared/notes/acr-aci-semantics.md §2), and
//! `Docker-Distribution-API-Version: registry/2.0` on every response.

use axum::Json;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct OciError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub detail: Option<Value>,
}

/// The media type ACR gives its JSON answers (errors, tag lists), as a live
/// conformance run against it recorded (distribution-spec v1.1, June 2024).
pub const JSON: &str = "application/json; charset=utf-8";

impl OciError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        OciError {
            status,
            code,
            message: message.into(),
            detail: None,
        }
    }

    pub fn with_detail(mut self, detail: Value) -> Self {
        self.detail = Some(detail);
        self
    }

    /// ACR, as a live conformance run against it recorded (distribution-spec
    /// v1.1, June 2024): the detail is the digest itself.
    pub fn blob_unknown(digest: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "BLOB_UNKNOWN",
            "blob unknown to registry",
        )
        .with_detail(json!(digest))
    }
    pub fn blob_upload_unknown() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "BLOB_UPLOAD_UNKNOWN",
            "blob upload unknown to registry",
        )
    }
    pub fn blob_upload_invalid(why: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "BLOB_UPLOAD_INVALID",
            format!("blob upload invalid: {why}"),
        )
    }
    pub fn digest_invalid(why: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
            format!("provided digest did not match uploaded content: {why}"),
        )
    }
    pub fn manifest_blob_unknown(digest: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "MANIFEST_BLOB_UNKNOWN",
            "blob unknown to registry",
        )
        .with_detail(json!({"digest": digest}))
    }
    pub fn manifest_invalid(why: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "MANIFEST_INVALID",
            format!("manifest invalid: {why}"),
        )
    }
    /// ACR: `manifest tagged by "1.1.2" is not found`, detail `{"Tag": "1.1.2"}`.
    pub fn manifest_unknown_tag(tag: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
            format!("manifest tagged by \"{tag}\" is not found"),
        )
        .with_detail(json!({"Tag": tag}))
    }
    pub fn manifest_unknown_digest(digest: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
            format!("manifest {digest} is not found"),
        )
        .with_detail(json!({"Digest": digest}))
    }
    /// A manifest pulled by a digest the repository lacks, as ACR answers it
    /// (the ACR conformance run, June 2024): detail `{"Name", "Revision"}`.
    /// Its DELETE gets the same without a detail.
    pub fn manifest_unknown_revision(repo: &str, digest: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
            format!("manifest {digest} is not found"),
        )
        .with_detail(json!({"Name": repo, "Revision": digest}))
    }
    /// The tag list of a repository with nothing in it, as ACR answers it (the
    /// ACR conformance run, June 2024, after its manifests were deleted).
    pub fn repository_not_found(name: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            format!("repository \"{name}\" is not found"),
        )
    }
    pub fn name_invalid(name: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "NAME_INVALID",
            "invalid repository name",
        )
        .with_detail(json!({"Name": name}))
    }
    pub fn name_unknown(name: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            "repository name not known to registry",
        )
        .with_detail(json!({"Name": name}))
    }
    pub fn size_invalid(why: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "SIZE_INVALID",
            format!("provided length did not match content length: {why}"),
        )
    }
    /// A chunk that starts past the upload's end (416), in ACR's words (a live
    /// conformance run against ACR, distribution-spec v1.1, June 2024:
    /// `Content-Range: 22-41` on an empty upload).
    pub fn range_invalid(content_range: &str, offset: u64) -> Self {
        Self::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "BLOB_UPLOAD_RANGE_INVALID",
            "blob upload range invalid",
        )
        .with_detail(json!({
            "Range": content_range,
            "Reason": format!("out of order chunk: content range should start at {offset}"),
        }))
    }
    pub fn unsupported(what: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            format!("the operation is unsupported: {what}"),
        )
    }
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "SIZE_INVALID",
            format!("the manifest exceeds the {limit} byte limit"),
        )
    }
    /// An upload past the registry's size cap (`--max-upload-bytes`): the
    /// session ends and its bytes are removed. TODO-fidelity: neither
    /// distribution (no cap on blob uploads) nor ACR's docs (a 200 GiB layer
    /// limit, no error text) say how a registry refuses one; searched the
    /// distribution spec's error codes, distribution's configuration docs and
    /// ACR's service-tier limits. BLOB_UPLOAD_INVALID is the spec's code for
    /// "the blob upload encountered an error and can no longer proceed".
    pub fn upload_too_large(limit: u64) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "BLOB_UPLOAD_INVALID",
            format!(
                "blob upload invalid: the upload exceeds the registry's limit of {limit} bytes"
            ),
        )
    }
    /// A request body over the limit, outside the manifest endpoint (which has [`Self::too_large`]).
    pub fn request_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "UNSUPPORTED",
            "the request body is too large",
        )
    }
    pub fn headers_too_large(bytes: usize, limit: usize) -> Self {
        Self::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "UNSUPPORTED",
            format!("the request headers ({bytes} bytes) exceed the limit of {limit} bytes"),
        )
    }
    pub fn unauthorized(message: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
    }
    pub fn denied(message: &str) -> Self {
        Self::new(StatusCode::FORBIDDEN, "DENIED", message)
    }
    /// 409: the stored row of `key` (`{registry}/{repository}/{reference}`)
    /// does not decode (an older version's, or damaged); only requests for it fail.
    // TODO-fidelity: an emulator condition with no registry counterpart (the
    // distribution spec's error codes have none for it); clients show the message.
    pub fn stored_state_unreadable(key: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "STORED_STATE_UNREADABLE",
            format!(
                "the stored state of '{key}' cannot be read (it was written by another version of azemu, or damaged): delete it and push it again"
            ),
        )
    }
    /// A failure the registry cannot classify (a bug): distribution's `UNKNOWN`,
    /// "unknown error", with a 500.
    pub fn unknown() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "UNKNOWN",
            "unknown error",
        )
    }
    pub fn internal(what: impl std::fmt::Display) -> Self {
        // Storage failures are the registry's, but clients retry on 5xx; keep it a 503.
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            format!("storage unavailable: {what}"),
        )
    }
}

impl IntoResponse for OciError {
    fn into_response(self) -> Response {
        let mut e = json!({"code": self.code, "message": self.message});
        if let Some(d) = self.detail {
            e["detail"] = d;
        }
        let mut r = (self.status, Json(json!({"errors": [e]}))).into_response();
        r.headers_mut().insert(
            "docker-distribution-api-version",
            HeaderValue::from_static("registry/2.0"),
        );
        r.headers_mut()
            .insert(http::header::CONTENT_TYPE, HeaderValue::from_static(JSON));
        r
    }
}

impl From<crate::store::StoreError> for OciError {
    fn from(e: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match e {
            StoreError::Backend(_) => OciError::internal(e),
            // A manifest's row is the only one of the data plane whose shape a client chooses.
            StoreError::TooDeep { depth, .. } => OciError::manifest_invalid(&format!(
                "it would be stored nested {depth} levels deep; at most {} levels are kept",
                crate::store::MAX_ROW_DEPTH
            )),
            StoreError::TooLarge { bytes, .. } => OciError::manifest_invalid(&format!(
                "it would be stored as {bytes} bytes; at most {} bytes are kept",
                crate::store::MAX_ROW_BYTES
            )),
            StoreError::Unreadable { ref key, .. } => {
                tracing::warn!(error = %e, "a registry request met an unreadable row");
                OciError::stored_state_unreadable(key)
            }
        }
    }
}

impl From<std::io::Error> for OciError {
    fn from(e: std::io::Error) -> Self {
        OciError::internal(e)
    }
}
