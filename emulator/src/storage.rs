//! The slice of Azure Blob Storage that ACR task logs are read from and
//! build contexts are uploaded to.
//!
//! `runs/{id}/listLogSasUrl` hands out a SAS URL to the run's log blob; az
//! streams it with the storage SDK: HEAD for size and metadata, ranged GETs
//! (`x-ms-range`, answered 206 with `Content-Range`), until the metadata
//! carries `Complete` (succeeded, failed, canceled). The blob lives at
//! `https://azemutasklogs.blob.core.windows.net/logs/…` (through the
//! transparent proxy) or, when the client came to `localhost`, at the
//! path-style `https://localhost:<port>/azemutasklogs/logs/…` the SDK uses
//! for local endpoints (as with Azurite). `registries/{r}/listBuildSourceUploadUrl`
//! hands out a write SAS to `sources/source/…/{id}.tar.gz` the same way.
//!
//! Links are service SAS tokens as Azure Storage signs them ("Create a service
//! SAS", version 2020-12-06 and later): HMAC-SHA256 with the account key over
//! the 16-line string-to-sign (`sp`, `st`, `se`, the canonicalized resource
//! `/blob/{account}/{container}/{blob}`, `si`, `sip`, `spr`, `sv`, `sr`,
//! the snapshot time, `ses`, `rscc`, `rscd`, `rsce`, `rscl`, `rsct`), base64 in
//! `sig`. Changing any field (a later expiry, another permission, another
//! blob) breaks the signature. The account key is per emulator instance, in
//! `<data-dir>/storage-account.key`. Errors are Storage's XML, with the
//! `AuthenticationErrorDetail` texts Azure Storage gives (its
//! `BlobSignedAccessHelper`: "Signature did not match. String to sign used
//! was …", "Signed expiry time [..] must be after signed start time [..]",
//! "Signature fields not well formed.", "sr is mandatory. Cannot be empty").
//!
//! Build contexts: a row per upload in `acr_sources` (`registry`, `digest`,
//! `expires` = the SAS expiry, `runs` = the runs that use it). A context is
//! claimed by the runs scheduled with it and lives as long as one of them (and
//! its registry) does; one never claimed is dropped once its link has expired
//! (see [`crate::maintenance`]).

use crate::arm::ArmError;
use crate::clock::arm_timestamp;
use crate::state::AppState;
use crate::store::tables;
use crate::web::BaseUrl;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use std::path::Path;
use time::OffsetDateTime;

/// The storage account log links point at.
pub const ACCOUNT: &str = "azemutasklogs";
pub const HOST: &str = "azemutasklogs.blob.core.windows.net";
const CONTAINER: &str = "logs";
/// How long a log link stays valid (ACR's links are short-lived).
const SAS_LIFETIME: time::Duration = time::Duration::hours(1);
/// The service version links are signed for (the 16-field string-to-sign).
const SAS_VERSION: &str = "2023-11-03";

const SOURCES: &str = "sources";
/// Largest build context accepted (ACR Tasks' own limit is far higher; this is an emulator).
pub(crate) const MAX_SOURCE: usize = 256 * 1024 * 1024;

/// The account key links are signed with: 512 random bits (as Azure's keys),
/// made on first start and kept in `<data-dir>/storage-account.key` (mode 0600),
/// so links survive a restart.
pub struct AccountKey(ring::hmac::Key);

impl AccountKey {
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<Self> {
        let key = crate::config::load_or_create_key(data_dir, "storage-account.key", 64)?;
        Ok(Self::from_bytes(&key))
    }

    pub fn from_bytes(key: &[u8]) -> Self {
        AccountKey(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key))
    }

    /// `sig` for a string-to-sign: base64 of its HMAC-SHA256.
    fn sign(&self, string_to_sign: &str) -> String {
        B64.encode(ring::hmac::sign(&self.0, string_to_sign.as_bytes()))
    }

    /// A 512-bit secret (base64, 88 characters: the shape of Azure's storage
    /// account and workspace keys) derived from this key for `label`, so a
    /// control-plane resource's keys need no storage of their own and change
    /// when `label` does.
    pub fn derive(&self, label: &str) -> String {
        let mut bytes = Vec::with_capacity(64);
        for half in ["1", "2"] {
            bytes.extend_from_slice(
                ring::hmac::sign(&self.0, format!("azemu-derived:{half}:{label}").as_bytes())
                    .as_ref(),
            );
        }
        B64.encode(bytes)
    }

    /// Does `sig` (the decoded signature) sign `string_to_sign`? Compared in constant time.
    fn verify(&self, string_to_sign: &str, sig: &[u8]) -> bool {
        ring::hmac::verify(&self.0, string_to_sign.as_bytes(), sig).is_ok()
    }
}

/// The fields of a service SAS, as the query carries them (URL-decoded).
#[derive(Default)]
struct Sas {
    sp: Option<String>,
    st: Option<String>,
    se: Option<String>,
    si: Option<String>,
    sip: Option<String>,
    spr: Option<String>,
    sv: Option<String>,
    sr: Option<String>,
    snapshot: Option<String>,
    ses: Option<String>,
    rscc: Option<String>,
    rscd: Option<String>,
    rsce: Option<String>,
    rscl: Option<String>,
    rsct: Option<String>,
    sig: Option<String>,
}

impl Sas {
    fn from_query(query: &[(String, String)]) -> Sas {
        let q = |k: &str| {
            query
                .iter()
                .find(|(a, _)| a == k)
                .map(|(_, v)| v.to_string())
        };
        Sas {
            sp: q("sp"),
            st: q("st"),
            se: q("se"),
            si: q("si"),
            sip: q("sip"),
            spr: q("spr"),
            sv: q("sv"),
            sr: q("sr"),
            snapshot: q("snapshot"),
            ses: q("ses"),
            rscc: q("rscc"),
            rscd: q("rscd"),
            rsce: q("rsce"),
            rscl: q("rscl"),
            rsct: q("rsct"),
            sig: q("sig"),
        }
    }

    /// Does the query carry a SAS at all (anything but `sig` counts too)?
    fn present(&self) -> bool {
        self.sig.is_some() || self.sv.is_some() || self.se.is_some() || self.sr.is_some()
    }

    /// The string-to-sign for the version in `sv`: 2020-12-06 and later add
    /// the encryption scope to 2018-11-09's fields (signed resource and
    /// snapshot time), which add to 2015-04-05's.
    fn string_to_sign(&self, container: &str, blob: &str) -> String {
        let v = |f: &Option<String>| f.clone().unwrap_or_default();
        let version = v(&self.sv);
        let resource = if self.sr.as_deref() == Some("c") {
            format!("/blob/{ACCOUNT}/{container}")
        } else {
            format!("/blob/{ACCOUNT}/{container}/{blob}")
        };
        let mut fields = vec![
            v(&self.sp),
            v(&self.st),
            v(&self.se),
            resource,
            v(&self.si),
            v(&self.sip),
            v(&self.spr),
            version.clone(),
        ];
        if version.as_str() >= "2018-11-09" {
            fields.push(v(&self.sr));
            fields.push(v(&self.snapshot));
        }
        if version.as_str() >= "2020-12-06" {
            fields.push(v(&self.ses));
        }
        for f in [&self.rscc, &self.rscd, &self.rsce, &self.rscl, &self.rsct] {
            fields.push(v(f));
        }
        fields.join("\n")
    }
}

/// A service SAS query for `blob` in `container`: `permissions` until `expiry`.
fn sign_link(
    state: &AppState,
    container: &str,
    blob: &str,
    permissions: &str,
    expiry: OffsetDateTime,
) -> String {
    let sas = Sas {
        sp: Some(permissions.to_string()),
        se: Some(sas_time(expiry)),
        sv: Some(SAS_VERSION.to_string()),
        sr: Some("b".to_string()),
        ..Sas::default()
    };
    let sig = state.storage_key.sign(&sas.string_to_sign(container, blob));
    serde_urlencoded::to_string([
        ("sv", SAS_VERSION),
        ("sr", "b"),
        ("sp", permissions),
        ("se", sas.se.as_deref().unwrap_or_default()),
        ("sig", sig.as_str()),
    ])
    .unwrap_or_default()
}

/// SAS times: ISO 8601 in UTC to the second, `2026-01-31T12:00:00Z`.
fn sas_time(t: OffsetDateTime) -> String {
    format!("{}Z", &arm_timestamp(t)[..19])
}

/// A SAS time as Storage accepts them (`YYYY-MM-DD`, or with `Thh:mmZ`,
/// `Thh:mm:ssZ`, fractions, or an offset); `None` when it is none of those.
fn parse_sas_time(v: &str) -> Option<OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = OffsetDateTime::parse(v, &Rfc3339) {
        return Some(t);
    }
    let date = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(d) = time::Date::parse(v, &date) {
        return Some(d.midnight().assume_utc());
    }
    let minutes = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]Z");
    time::PrimitiveDateTime::parse(v, &minutes)
        .ok()
        .map(|t| t.assume_utc())
}

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
    let expiry = now + SAS_LIFETIME;
    state.store.put(
        tables::ACR_SOURCES,
        &relative,
        json!({"registry": registry_key, "digest": null, "expires": arm_timestamp(expiry), "runs": []}),
    )?;
    let url = format!(
        "{}/{SOURCES}/{relative}?{}",
        origin(base),
        sign_link(state, SOURCES, &relative, "cw", expiry)
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

/// A run scheduled with the build context `relative` claims it: the context
/// then lives as long as its runs. A context whose upload link expired before
/// any run claimed it is gone (the run will not find it).
pub fn claim_source(
    state: &AppState,
    registry_key: &str,
    relative: &str,
    run_key: &str,
    now: OffsetDateTime,
) -> Result<(), ArmError> {
    let Some(mut row) = state.store.get(tables::ACR_SOURCES, relative)? else {
        return Ok(());
    };
    if row["registry"].as_str() != Some(registry_key) {
        return Ok(());
    }
    let mut runs: Vec<Value> = row["runs"].as_array().cloned().unwrap_or_default();
    if runs.is_empty() && source_expired(&row, now) {
        state.store.delete(tables::ACR_SOURCES, relative)?;
        return Ok(());
    }
    if !runs.iter().any(|r| r == run_key) {
        runs.push(json!(run_key));
    }
    row["runs"] = Value::Array(runs);
    state.store.put(tables::ACR_SOURCES, relative, row)?;
    Ok(())
}

/// Has an unclaimed context's upload link expired? An expiry that is missing
/// or unreadable counts as expired (fail closed).
pub(crate) fn source_expired(row: &Value, now: OffsetDateTime) -> bool {
    row["expires"]
        .as_str()
        .and_then(|t| OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok())
        .is_none_or(|t| t <= now)
}

/// Drop the build contexts nobody needs any more: those claimed by runs that
/// are all gone, and those never claimed whose link has expired. Returns how many.
pub fn expire_sources(state: &AppState, now: OffsetDateTime) -> Result<usize, ArmError> {
    let mut n = 0;
    for (k, row) in state.store.scan(tables::ACR_SOURCES, "")? {
        let runs: Vec<String> = row["runs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_str().map(str::to_string))
            .collect();
        let gone = if runs.is_empty() {
            source_expired(&row, now)
        } else {
            let mut alive = false;
            for r in &runs {
                if state.store.get(tables::ACR_RUNS, r)?.is_some() {
                    alive = true;
                    break;
                }
            }
            !alive
        };
        if gone {
            state.store.delete(tables::ACR_SOURCES, &k)?;
            n += 1;
        }
    }
    Ok(n)
}

/// The build contexts uploaded for a registry go with it.
pub fn delete_sources_of(state: &AppState, registry_key: &str) -> Result<(), ArmError> {
    for (k, row) in state.store.scan(tables::ACR_SOURCES, "")? {
        if row["registry"].as_str() == Some(registry_key) {
            state.store.delete(tables::ACR_SOURCES, &k)?;
        }
    }
    Ok(())
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
    state.store.put(
        tables::ACR_RUN_LOGS,
        run_key,
        json!({"text": text, "complete": complete, "modified": arm_timestamp(state.clock.now())}),
    )?;
    Ok(())
}

/// The blob path of a run's log: `{base64url(run key)}/rawtext.log`.
fn blob_name(run_key: &str) -> String {
    format!(
        "{}/rawtext.log",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(run_key)
    )
}

fn run_key_of(blob: &str) -> Option<String> {
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
    if state.store.get(tables::ACR_RUN_LOGS, run_key)?.is_none() {
        write_log(state, run_key, "", None)?;
    }
    let blob = blob_name(run_key);
    Ok(format!(
        "{}/{CONTAINER}/{blob}?{}",
        origin(base),
        sign_link(state, CONTAINER, &blob, "r", now + SAS_LIFETIME)
    ))
}

/// Storage failed itself (a bug, not the request): 500 `InternalError` in Storage's XML.
pub fn internal_error() -> Response {
    storage_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalError",
        "The server encountered an internal error. Please retry the request.",
        None,
        // Answered where a panic was caught, with no plane state at hand: wall time.
        OffsetDateTime::now_utc(),
        false,
    )
}

/// Storage's error shape: `<Error><Code/><Message/>[<AuthenticationErrorDetail/>]</Error>`,
/// the code also in `x-ms-error-code`; HEAD answers carry no body.
fn storage_error(
    status: StatusCode,
    code: &str,
    message: &str,
    detail: Option<&str>,
    now: OffsetDateTime,
    head: bool,
) -> Response {
    let detail = detail
        .map(|d| {
            format!(
                "<AuthenticationErrorDetail>{}</AuthenticationErrorDetail>",
                xml_escape(d)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{code}</Code><Message>{}\nRequestId:{}\nTime:{}</Message>{detail}</Error>",
        xml_escape(message),
        uuid::Uuid::new_v4(),
        arm_timestamp(now)
    );
    let mut r = (status, if head { String::new() } else { body }).into_response();
    let h = r.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/xml"));
    if let Ok(v) = HeaderValue::from_str(code) {
        h.insert("x-ms-error-code", v);
    }
    r
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

const AUTHENTICATION_FAILED: &str = "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.";

/// 403 `AuthenticationFailed` with Storage's detail text.
fn authentication_failed(detail: &str, now: OffsetDateTime, head: bool) -> Response {
    storage_error(
        StatusCode::FORBIDDEN,
        "AuthenticationFailed",
        AUTHENTICATION_FAILED,
        Some(detail),
        now,
        head,
    )
}

fn permission_mismatch(now: OffsetDateTime, head: bool) -> Response {
    storage_error(
        StatusCode::FORBIDDEN,
        "AuthorizationPermissionMismatch",
        "This request is not authorized to perform this operation using this permission.",
        None,
        now,
        head,
    )
}

/// `/{container}/{blob}` of a request (after the account, path-style), URL-decoded.
fn container_and_blob(req: &Request<Body>) -> (String, String) {
    let path = crate::web::percent_decode(req.uri().path());
    let path = path.trim_start_matches('/');
    let path = path.strip_prefix(&format!("{ACCOUNT}/")).unwrap_or(path);
    match path.split_once('/') {
        Some((c, b)) => (c.to_string(), b.to_string()),
        None => (path.to_string(), String::new()),
    }
}

/// 413 in Storage's words (the edge answers it before the body is read).
pub(crate) fn body_too_large() -> Response {
    storage_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "RequestBodyTooLarge",
        "The request body is too large and exceeds the maximum permissible limit.",
        None,
        // The edge answers before any plane's state is at hand: wall time.
        OffsetDateTime::now_utc(),
        false,
    )
}

/// 431 in Storage's XML shape.
// TODO-fidelity: Storage's front end answers oversized headers itself (HTTP.sys
// "Header Field Too Long"); no Storage error code for it was found.
pub(crate) fn headers_too_large(bytes: usize, limit: usize) -> Response {
    storage_error(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "RequestHeaderFieldsTooLarge",
        &format!("The request headers ({bytes} bytes) exceed the limit of {limit} bytes."),
        None,
        OffsetDateTime::now_utc(),
        false,
    )
}

/// GET/HEAD of a log blob, PUT of a build context. The path is
/// `/{container}/{blob}` (after the account, path-style).
pub async fn handle(State(state): State<AppState>, req: Request<Body>) -> Response {
    let now = state.clock.now();
    let head = req.method() == Method::HEAD;
    let write = req.method() == Method::PUT;
    if !write && req.method() != Method::GET && !head {
        return permission_mismatch(now, head);
    }
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(req.uri().query().unwrap_or("")).unwrap_or_default();
    let (container, blob) = container_and_blob(&req);
    // The signature covers the resource: it is checked before anything is looked up.
    if let Err(r) = check_sas(
        &state,
        &Sas::from_query(&query),
        &container,
        &blob,
        if write { &['c', 'w'] } else { &['r'] },
        now,
        head,
    ) {
        return r;
    }
    if write {
        return put_source(&state, &container, &blob, req).await;
    }
    let not_found = |code: &str, message: &str| {
        storage_error(StatusCode::NOT_FOUND, code, message, None, now, head)
    };
    if container != CONTAINER {
        return not_found(
            "ContainerNotFound",
            "The specified container does not exist.",
        );
    }
    let row = match run_key_of(&blob).map(|key| state.store.get(tables::ACR_RUN_LOGS, &key)) {
        Some(Ok(Some(r))) => r,
        _ => return not_found("BlobNotFound", "The specified blob does not exist."),
    };
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
    set("x-ms-version", SAS_VERSION.into());
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
                None,
                now,
                false,
            );
        }
        None => (StatusCode::OK, text),
    };
    let mut r = (status, body).into_response();
    r.headers_mut().extend(headers);
    r
}

/// `PUT /sources/{relativePath}?<SAS>` (a block blob, in one request as the SDK sends small ones).
async fn put_source(
    state: &AppState,
    container: &str,
    relative: &str,
    req: Request<Body>,
) -> Response {
    let now = state.clock.now();
    let fail =
        |status, code: &str, message: &str| storage_error(status, code, message, None, now, false);
    if container != SOURCES {
        return permission_mismatch(now, false);
    }
    let Ok(Some(mut row)) = state.store.get(tables::ACR_SOURCES, relative) else {
        // Signed by us, but gone (its registry was deleted, or it expired unclaimed).
        return fail(
            StatusCode::NOT_FOUND,
            "ContainerNotFound",
            "The specified container does not exist.",
        );
    };
    let Ok(bytes) = axum::body::to_bytes(req.into_body(), MAX_SOURCE).await else {
        return fail(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestBodyTooLarge",
            "The request body is too large and exceeds the maximum permissible limit.",
        );
    };
    let internal = || {
        fail(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "The server encountered an internal error. Please retry the request.",
        )
    };
    // A blob file and a store commit (both fsync): on the blocking pool.
    let (blobs, store, key, data) = (
        state.blobs.clone(),
        state.store.clone(),
        relative.to_string(),
        bytes.clone(),
    );
    let stored = crate::web::blocking(move || {
        let digest = blobs.put(&data).ok()?;
        row["digest"] = json!(digest);
        store.put(tables::ACR_SOURCES, &key, row).ok()
    })
    .await;
    if stored.is_none() {
        return internal();
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
        ("x-ms-version", SAS_VERSION.to_string()),
        ("x-ms-request-server-encrypted", "true".to_string()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    }
    r
}

/// Authenticate a service SAS as Azure Storage does, in its order: the
/// mandatory fields and their format, the time window (on the emulated
/// clock), the signature over every field and the resource, then whether the
/// signed permissions allow the operation (`needed`: any of these letters).
fn check_sas(
    state: &AppState,
    sas: &Sas,
    container: &str,
    blob: &str,
    needed: &[char],
    now: OffsetDateTime,
    head: bool,
) -> Result<(), Response> {
    let fail = |detail: &str| Err(authentication_failed(detail, now, head));
    if !sas.present() {
        // Anonymous access to a private container: Storage does not say the blob exists.
        return Err(storage_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            "The specified resource does not exist.",
            None,
            now,
            head,
        ));
    }
    let mandatory = |v: &Option<String>, name: &str| match v.as_deref() {
        Some(x) if !x.is_empty() => Ok(x.to_string()),
        _ => Err(authentication_failed(
            &format!("{name} is mandatory. Cannot be empty"),
            now,
            head,
        )),
    };
    let sr = mandatory(&sas.sr, "sr")?;
    let sig = mandatory(&sas.sig, "sig")?;
    let not_well_formed = "Signature fields not well formed.";
    let Ok(sig) = B64.decode(sig.as_bytes()) else {
        return fail(not_well_formed);
    };
    if !matches!(sr.as_str(), "b" | "c" | "bs" | "bv" | "d") {
        return fail(not_well_formed);
    }
    let sv_ok = sas.sv.as_deref().is_some_and(|v| {
        time::Date::parse(v, time::macros::format_description!("[year]-[month]-[day]")).is_ok()
            && v >= "2012-02-12"
    });
    if !sv_ok {
        return fail(
            "sv is either not in the correct format or is not equal or later than version 2012-02-12",
        );
    }
    let se = mandatory(&sas.se, "se")?;
    // An unreadable time is a malformed SAS, never one without a limit.
    let Some(expiry) = parse_sas_time(&se) else {
        return fail(not_well_formed);
    };
    let start = match sas.st.as_deref() {
        Some(st) => match parse_sas_time(st) {
            Some(t) => Some(t),
            None => return fail(not_well_formed),
        },
        None => None,
    };
    let sp = mandatory(&sas.sp, "sp")?;
    if !permissions_well_formed(&sp) {
        return fail(not_well_formed);
    }
    let from = start.unwrap_or(now);
    if from >= expiry || now >= expiry {
        let from = from.max(now);
        return fail(&format!(
            "Signed expiry time [{}] must be after signed start time [{}]",
            http_date(expiry),
            http_date(from)
        ));
    }
    let string_to_sign = sas.string_to_sign(container, blob);
    if !state.storage_key.verify(&string_to_sign, &sig) {
        return fail(&format!(
            "Signature did not match. String to sign used was {string_to_sign}"
        ));
    }
    if let Some(s) = start.filter(|s| *s > now) {
        // TODO-fidelity: Storage's detail for a SAS used before its start time
        // (searched Azurite's BlobSASAuthenticator, which answers a bare
        // AuthorizationFailure, and Storage's BlobSignedAccessHelper: not worded there).
        return fail(&format!(
            "Signed start time [{}] is in the future",
            http_date(s)
        ));
    }
    if !sp.chars().any(|c| needed.contains(&c)) {
        return Err(permission_mismatch(now, head));
    }
    Ok(())
}

/// A blob SAS's permissions: letters of `racwdxltmeop` (Storage's set), each at most once, in that order.
fn permissions_well_formed(sp: &str) -> bool {
    const ORDER: &str = "racwdxyltmeopi";
    let mut last = None;
    sp.chars().all(|c| match ORDER.find(c) {
        Some(i) if last.is_none_or(|l| i > l) => {
            last = Some(i);
            true
        }
        _ => false,
    })
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

    /// Vectors from Azure's own SDK (azure-storage-blob 12.29,
    /// `BlobSharedAccessSignature.generate_blob` with the key `b"k" * 64`).
    #[test]
    fn signatures_match_the_storage_sdk() {
        let key = AccountKey::from_bytes(&[b'k'; 64]);
        let sas = |sp: &str, se: &str, sv: &str| Sas {
            sp: Some(sp.into()),
            se: Some(se.into()),
            sv: Some(sv.into()),
            sr: Some("b".into()),
            ..Sas::default()
        };
        let read = sas("r", "2030-01-01T00:00:00Z", "2026-04-06");
        assert_eq!(
            key.sign(&read.string_to_sign("logs", "abc/rawtext.log")),
            "9+8kwqdgHim8F/KhH+pTYOfYDKWESh3uTOC6Ng9yiek="
        );
        let write = sas("cw", "2026-01-01T13:00:00Z", SAS_VERSION);
        let sts = write.string_to_sign("sources", "source/202601011200/x.tar.gz");
        assert_eq!(
            sts,
            "cw\n\n2026-01-01T13:00:00Z\n/blob/azemutasklogs/sources/source/202601011200/x.tar.gz\n\n\n\n2023-11-03\nb\n\n\n\n\n\n\n"
        );
        assert_eq!(
            key.sign(&sts),
            "Nt/jfeQkr0wBkrulHqZEYuaL1wfdjxOwxBEQf6UAWmI="
        );
        assert!(
            key.verify(
                &sts,
                &B64.decode("Nt/jfeQkr0wBkrulHqZEYuaL1wfdjxOwxBEQf6UAWmI=")
                    .unwrap()
            )
        );
        assert!(
            !key.verify(
                &sts.replace("cw", "rcw"),
                &B64.decode("Nt/jfeQkr0wBkrulHqZEYuaL1wfdjxOwxBEQf6UAWmI=")
                    .unwrap()
            )
        );
    }

    #[test]
    fn sas_times_and_permissions() {
        assert!(parse_sas_time("2026-01-01T13:00:00Z").is_some());
        assert!(parse_sas_time("2026-01-01T13:00Z").is_some());
        assert!(parse_sas_time("2026-01-01").is_some());
        assert!(parse_sas_time("2026-01-01T13:00:00.5+02:00").is_some());
        for bad in [
            "",
            "never",
            "2026-13-01T00:00:00Z",
            "9999999999",
            "2026-01-01T25:00:00Z",
        ] {
            assert!(parse_sas_time(bad).is_none(), "{bad}");
        }
        assert!(
            permissions_well_formed("r")
                && permissions_well_formed("cw")
                && permissions_well_formed("racwd")
        );
        assert!(
            !permissions_well_formed("wc")
                && !permissions_well_formed("rr")
                && !permissions_well_formed("q")
        );
    }

    #[test]
    fn unreadable_source_expiry_counts_as_expired() {
        let now = OffsetDateTime::now_utc();
        assert!(source_expired(&json!({"expires": "soon"}), now));
        assert!(source_expired(&json!({}), now));
        assert!(source_expired(&json!({"expires": 5}), now));
        assert!(!source_expired(
            &json!({"expires": arm_timestamp(now + time::Duration::hours(1))}),
            now
        ));
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
