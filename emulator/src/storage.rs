//! The slice of Azure Blob Storage that ACR task logs are read from.
//!
//! `runs/{id}/listLogSasUrl` hands out a SAS URL to the run's log blob; az
//! streams it with the storage SDK: HEAD for size and metadata, ranged GETs
//! (`x-ms-range`, answered 206 with `Content-Range`), until the metadata
//! carries `Complete` (succeeded, failed, canceled). The blob lives at
//! `https://azemutasklogs.blob.core.windows.net/logs/…` (through the
//! transparent proxy) or, when the client came to `localhost`, at the
//! path-style `https://localhost:<port>/azemutasklogs/logs/…` the SDK uses
//! for local endpoints (as with Azurite). Errors are Storage's XML.

use crate::arm::ArmError;
use crate::clock::arm_timestamp;
use crate::state::AppState;
use crate::store::tables;
use crate::web::BaseUrl;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use time::OffsetDateTime;

/// The storage account log links point at.
pub const ACCOUNT: &str = "azemutasklogs";
pub const HOST: &str = "azemutasklogs.blob.core.windows.net";
const CONTAINER: &str = "logs";
/// How long a log link stays valid (ACR's links are short-lived).
const SAS_LIFETIME: time::Duration = time::Duration::hours(1);

const SOURCES: &str = "sources";
/// Largest build context accepted (ACR Tasks' own limit is far higher; this is an emulator).
const MAX_SOURCE: usize = 256 * 1024 * 1024;

/// `registries/{r}/listBuildSourceUploadUrl`: where az uploads a local build
/// context (a tar.gz), and the `relativePath` a run request then names.
pub fn upload_location(
    state: &AppState,
    base: &BaseUrl,
    registry_key: &str,
    now: OffsetDateTime,
) -> Result<(String, String), ArmError> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let relative = format!(
        "source/{:04}{:02}{:02}{:02}{:02}/{id}.tar.gz",
        now.year(),
        now.month() as u8,
        now.day(),
        now.hour(),
        now.minute()
    );
    let token = uuid::Uuid::new_v4().simple().to_string();
    state.store.put(
        tables::ACR_SOURCES,
        &relative,
        json!({"registry": registry_key, "token": token, "digest": null}),
    )?;
    let expiry = arm_timestamp(now + SAS_LIFETIME);
    let url = format!(
        "{}/{SOURCES}/{relative}?sv=2023-11-03&sr=b&sp=cw&se={}Z&sig={token}",
        origin(base),
        &expiry[..19]
    );
    Ok((url, relative))
}

/// The bytes of an uploaded build context, if `relative` names one of `registry_key`'s.
pub fn uploaded_source(state: &AppState, registry_key: &str, relative: &str) -> Option<Vec<u8>> {
    let row = state.store.get(tables::ACR_SOURCES, relative).ok()??;
    if row["registry"].as_str() != Some(registry_key) {
        return None;
    }
    state.blobs.read(row["digest"].as_str()?).ok()
}

/// `https://{HOST}` through the proxy, or path-style on the client's own localhost address.
fn origin(base: &BaseUrl) -> String {
    let host = base.host();
    if crate::server::hosts::is_loopback(host.split(':').next().unwrap_or(host)) {
        format!("{}/{ACCOUNT}", base.0)
    } else {
        format!("https://{HOST}")
    }
}

/// Store (or replace) a run's log; `complete` is the `Complete` metadata once the run ended.
pub fn write_log(
    state: &AppState,
    run_key: &str,
    text: &str,
    complete: Option<&str>,
) -> Result<(), ArmError> {
    let existing = state.store.get(tables::ACR_RUN_LOGS, run_key)?;
    let token = existing
        .as_ref()
        .and_then(|e| e["token"].as_str().map(str::to_string))
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    state.store.put(
        tables::ACR_RUN_LOGS,
        run_key,
        json!({"text": text, "complete": complete, "token": token, "modified": arm_timestamp(state.clock.now())}),
    )?;
    Ok(())
}

/// The blob path of a run's log: `{base64url(run key)}/rawtext.log`.
fn blob_name(run_key: &str) -> String {
    use base64::Engine;
    format!(
        "{}/rawtext.log",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(run_key)
    )
}

fn run_key_of(blob: &str) -> Option<String> {
    use base64::Engine;
    let b = blob.strip_suffix("/rawtext.log")?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(b)
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// `runs/{id}/listLogSasUrl`: a read SAS for the run's log blob, valid for an hour of emulated time.
pub fn log_link(
    state: &AppState,
    base: &BaseUrl,
    run_key: &str,
    now: OffsetDateTime,
) -> Result<String, ArmError> {
    let row = match state.store.get(tables::ACR_RUN_LOGS, run_key)? {
        Some(r) => r,
        None => {
            write_log(state, run_key, "", None)?;
            state
                .store
                .get(tables::ACR_RUN_LOGS, run_key)?
                .unwrap_or_default()
        }
    };
    let token = row["token"].as_str().unwrap_or_default();
    let expiry = arm_timestamp(now + SAS_LIFETIME);
    let expiry = &expiry[..19];
    Ok(format!(
        "{}/{CONTAINER}/{}?sv=2023-11-03&sr=b&sp=r&se={expiry}Z&sig={token}",
        origin(base),
        blob_name(run_key)
    ))
}

/// Storage failed itself (a bug, not the request): 500 `InternalError` in Storage's XML.
pub fn internal_error() -> Response {
    storage_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalError",
        "The server encountered an internal error. Please retry the request.",
        false,
    )
}

fn storage_error(status: StatusCode, code: &str, message: &str, head: bool) -> Response {
    let body = format!(
        "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{code}</Code><Message>{message}\nRequestId:{}\nTime:{}</Message></Error>",
        uuid::Uuid::new_v4(),
        arm_timestamp(OffsetDateTime::now_utc())
    );
    let mut r = (status, if head { String::new() } else { body }).into_response();
    let h = r.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/xml"));
    if let Ok(v) = HeaderValue::from_str(code) {
        h.insert("x-ms-error-code", v);
    }
    r
}

/// GET/HEAD of a log blob, PUT of a build context. The path is
/// `/{container}/{blob}` (after the account, path-style).
pub async fn handle(State(state): State<AppState>, req: Request<Body>) -> Response {
    let head = req.method() == Method::HEAD;
    if req.method() == Method::PUT {
        return put_source(&state, req).await;
    }
    if req.method() != Method::GET && !head {
        return storage_error(
            StatusCode::FORBIDDEN,
            "AuthorizationPermissionMismatch",
            "This request is not authorized to perform this operation using this permission.",
            head,
        );
    }
    let path = req.uri().path().trim_start_matches('/');
    let path = path.strip_prefix(&format!("{ACCOUNT}/")).unwrap_or(path);
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(req.uri().query().unwrap_or("")).unwrap_or_default();
    let Some(blob) = path.strip_prefix(&format!("{CONTAINER}/")) else {
        return storage_error(
            StatusCode::NOT_FOUND,
            "ContainerNotFound",
            "The specified container does not exist.",
            head,
        );
    };
    let Some(key) = run_key_of(blob) else {
        return storage_error(
            StatusCode::NOT_FOUND,
            "BlobNotFound",
            "The specified blob does not exist.",
            head,
        );
    };
    let row = match state.store.get(tables::ACR_RUN_LOGS, &key) {
        Ok(Some(r)) => r,
        _ => {
            return storage_error(
                StatusCode::NOT_FOUND,
                "BlobNotFound",
                "The specified blob does not exist.",
                head,
            );
        }
    };
    let now = state.clock.now();
    if let Err(r) = check_sas(&query, &row, now, head) {
        return r;
    }
    let text = row["text"].as_str().unwrap_or_default().as_bytes().to_vec();
    let total = text.len() as u64;
    let range = ["x-ms-range", "range"].iter().find_map(|h| {
        req.headers()
            .get(*h)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    });
    let mut headers = HeaderMap::new();
    let mut set = |k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            headers.insert(k, v);
        }
    };
    set("x-ms-blob-type", "AppendBlob".into());
    set("x-ms-version", "2023-11-03".into());
    set("x-ms-request-id", uuid::Uuid::new_v4().to_string());
    set("accept-ranges", "bytes".into());
    set("content-type", "text/plain; charset=utf-8".into());
    set(
        "etag",
        format!("\"0x{:016X}\"", crate::templates::hash::murmur64(&text)),
    );
    set("last-modified", http_date(now));
    if let Some(c) = row["complete"].as_str() {
        set("x-ms-meta-Complete", c.to_string());
    }
    if head {
        set("content-length", total.to_string());
        let mut r = StatusCode::OK.into_response();
        r.headers_mut().extend(headers);
        return r;
    }
    let (status, body) = match range.as_deref().and_then(|r| parse_range(r, total)) {
        Some((start, end)) => {
            set("content-range", format!("bytes {start}-{end}/{total}"));
            (
                StatusCode::PARTIAL_CONTENT,
                text[start as usize..=end as usize].to_vec(),
            )
        }
        None if range.is_some() => {
            return storage_error(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "InvalidRange",
                "The range specified is invalid for the current size of the resource.",
                false,
            );
        }
        None => (StatusCode::OK, text),
    };
    let mut r = (status, body).into_response();
    r.headers_mut().extend(headers);
    r
}

/// `PUT /sources/{relativePath}?sig=…` (a block blob, in one request as the SDK sends small ones).
async fn put_source(state: &AppState, req: Request<Body>) -> Response {
    let path = req.uri().path().trim_start_matches('/');
    let path = path.strip_prefix(&format!("{ACCOUNT}/")).unwrap_or(path);
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(req.uri().query().unwrap_or("")).unwrap_or_default();
    let Some(relative) = path
        .strip_prefix(&format!("{SOURCES}/"))
        .map(str::to_string)
    else {
        return storage_error(
            StatusCode::FORBIDDEN,
            "AuthorizationPermissionMismatch",
            "This request is not authorized to perform this operation using this permission.",
            false,
        );
    };
    let Ok(Some(mut row)) = state.store.get(tables::ACR_SOURCES, &relative) else {
        return storage_error(
            StatusCode::FORBIDDEN,
            "AuthenticationFailed",
            "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.",
            false,
        );
    };
    let now = state.clock.now();
    if let Err(r) = check_sas(&query, &row, now, false) {
        return r;
    }
    let Ok(bytes) = axum::body::to_bytes(req.into_body(), MAX_SOURCE).await else {
        return storage_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestBodyTooLarge",
            "The request body is too large and exceeds the maximum permissible limit.",
            false,
        );
    };
    let digest = match state.blobs.put(&bytes) {
        Ok(d) => d,
        Err(_) => {
            return internal_error();
        }
    };
    row["digest"] = json!(digest);
    if state
        .store
        .put(tables::ACR_SOURCES, &relative, row)
        .is_err()
    {
        return internal_error();
    }
    let mut r = StatusCode::CREATED.into_response();
    let h = r.headers_mut();
    for (k, v) in [
        (
            "etag",
            format!("\"0x{:016X}\"", crate::templates::hash::murmur64(&bytes)),
        ),
        ("last-modified", http_date(now)),
        ("x-ms-request-id", uuid::Uuid::new_v4().to_string()),
        ("x-ms-version", "2023-11-03".to_string()),
        ("x-ms-request-server-encrypted", "true".to_string()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    }
    r
}

/// The SAS in the query must carry the blob's signature and not have expired (emulated time).
fn check_sas(
    query: &[(String, String)],
    row: &serde_json::Value,
    now: OffsetDateTime,
    head: bool,
) -> Result<(), Response> {
    let q = |k: &str| query.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str());
    let expired = q("se")
        .and_then(|se| {
            OffsetDateTime::parse(se, &time::format_description::well_known::Rfc3339).ok()
        })
        .is_none_or(|se| se < now);
    if q("sig") != row["token"].as_str() || expired {
        return Err(storage_error(
            StatusCode::FORBIDDEN,
            "AuthenticationFailed",
            "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.",
            head,
        ));
    }
    Ok(())
}

/// `bytes=a-b` (or `bytes=a-`) within `total`; the end is clamped to the blob.
fn parse_range(v: &str, total: u64) -> Option<(u64, u64)> {
    let spec = v.trim().strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let start: u64 = a.trim().parse().ok()?;
    let end: u64 = match b.trim() {
        "" => total.checked_sub(1)?,
        e => e.parse::<u64>().ok()?.min(total.checked_sub(1)?),
    };
    (start <= end && start < total).then_some((start, end))
}

fn http_date(t: OffsetDateTime) -> String {
    let f = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.to_offset(time::UtcOffset::UTC)
        .format(&f)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-4095", 100), Some((0, 99)));
        assert_eq!(parse_range("bytes=10-", 100), Some((10, 99)));
        assert_eq!(parse_range("bytes=100-200", 100), None);
        assert_eq!(parse_range("bytes=0-1", 0), None);
        assert_eq!(parse_range("nonsense", 10), None);
    }

    #[test]
    fn blob_names_round_trip() {
        let key = "/subscriptions/s/resourcegroups/rg/providers/microsoft.containerregistry/registries/r/runs/ca1";
        let name = blob_name(key);
        assert!(!name.contains("//") && !name.contains('?'));
        assert_eq!(run_key_of(&name).as_deref(), Some(key));
        assert_eq!(run_key_of("nope/rawtext.log"), None);
    }
}
