//! ACR's metadata API (`/acr/v1/…`, the data-plane spec
//! `Azure.ContainerRegistry/stable/2021-07-01`, as `az acr repository` and
//! `az acr manifest` read it), where each repository, tag and manifest shows
//! and changes its `changeableAttributes`.
//!
//! | path | GET | PATCH | DELETE |
//! |---|---|---|---|
//! | `/acr/v1/_catalog` | repositories (`n`, `last`) | | |
//! | `/acr/v1/<name>` | attributes, counts | attributes | the repository (202 `{manifestsDeleted, tagsDeleted}`) |
//! | `/acr/v1/<name>/_tags` | tags (`n`, `last`, `orderby`, `digest`) | | |
//! | `/acr/v1/<name>/_tags/<tag>` | one tag | attributes | untag (202) |
//! | `/acr/v1/<name>/_manifests` | manifests with their tags (`n`, `last`, `orderby`) | | |
//! | `/acr/v1/<name>/_manifests/<digest>` | one manifest | attributes | the manifest (as `/v2/`) |
//!
//!
//! The locks themselves (what each attribute refuses) are [`super::locks`].

use super::routes::{Ctx, Req, Res, header, q, query};
use super::{OciError, tables};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{Map, Value, json};

use super::locks::*;

// ---- handlers --------------------------------------------------------------

/// The registry's login server, as ACR's answers name it (`registry`).
fn login_server(r: &Req) -> String {
    crate::web::host_header(&r.headers)
        .split(':')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// A PATCH body: an object whose members are the attributes, each a boolean.
/// TODO-fidelity: ACR's answer to a malformed attributes body is not found
/// (searched the data-plane spec's error responses, az's recordings and the
/// Azure/acr issues); this is the OCI error shape with a 400.
fn parse_attributes(body: &[u8]) -> Result<Map<String, Value>, OciError> {
    let bad = |why: &str| {
        OciError::new(
            StatusCode::BAD_REQUEST,
            "UNSUPPORTED",
            format!("invalid changeable attributes: {why}"),
        )
    };
    let v: Value = serde_json::from_slice(body).map_err(|_| bad("the body is not JSON"))?;
    let obj = v
        .as_object()
        .ok_or_else(|| bad("the body is not an object"))?;
    for (k, v) in obj {
        if !ATTRIBUTES.contains(&k.as_str()) {
            return Err(bad(&format!("unknown attribute '{k}'")));
        }
        if !v.is_boolean() {
            return Err(bad(&format!("'{k}' must be a boolean")));
        }
    }
    Ok(obj.clone())
}

/// `row` with `set` merged into its attributes (all four written, in order).
fn with_attributes(mut row: Value, set: &Map<String, Value>) -> Value {
    let mut a = attributes(Some(&row));
    for (k, v) in set {
        a[k] = v.clone();
    }
    if !row.is_object() {
        row = json!({});
    }
    row["changeableAttributes"] = a;
    row
}

/// `GET /acr/v1/_catalog` and `/v2/_catalog`: repositories, those with
/// `listEnabled:false` left out.
pub(super) fn catalog_names(ctx: &Ctx, r: &Req) -> Result<Vec<String>, OciError> {
    let prefix = format!("{}/", r.registry);
    let mut repos: Vec<String> = Vec::new();
    // Keys only: a repository is named by its manifests' keys.
    for k in ctx.store.keys(tables::MANIFESTS, &prefix)? {
        if let Some((repo, _)) = k[prefix.len()..].rsplit_once('/')
            && repos.last().is_none_or(|l| l != repo)
        {
            repos.push(repo.to_string());
        }
    }
    repos.dedup();
    let mut out = Vec::new();
    for repo in repos {
        if enabled(
            repository_row(ctx.store.as_ref(), &r.registry, &repo)?.as_ref(),
            "listEnabled",
        ) {
            out.push(repo);
        }
    }
    Ok(out)
}

/// A repository's manifests and tags (`(name, row)`, in key order).
type Rowset = Vec<(String, Value)>;

fn contents(ctx: &Ctx, r: &Req, repo: &str) -> Result<(Rowset, Rowset), OciError> {
    let prefix = r.key(repo, "");
    let strip = |rows: Vec<(String, Value)>| -> Rowset {
        rows.into_iter()
            .map(|(k, v)| (k[prefix.len()..].to_string(), v))
            .filter(|(n, _)| !n.contains('/'))
            .collect()
    };
    Ok((
        strip(ctx.store.scan(tables::MANIFESTS, &prefix)?),
        strip(ctx.store.scan(tables::TAGS, &prefix)?),
    ))
}

/// `GET /acr/v1/<name>`: `{registry, imageName, createdTime, lastUpdateTime,
/// manifestCount, tagCount, changeableAttributes}`.
pub(super) fn repository_show(ctx: &Ctx, r: &Req, repo: &str) -> Res {
    let (manifests, tags) = contents(ctx, r, repo)?;
    if manifests.is_empty() && tags.is_empty() {
        return Err(OciError::name_unknown(repo));
    }
    let times = |k: &str| -> Vec<String> {
        manifests
            .iter()
            .chain(tags.iter())
            .filter_map(|(_, v)| v[k].as_str().map(str::to_string))
            .collect()
    };
    let created = times("createdTime").into_iter().min().unwrap_or_default();
    let updated = times("lastUpdateTime")
        .into_iter()
        .max()
        .unwrap_or_default();
    let row = repository_row(ctx.store.as_ref(), &r.registry, repo)?;
    Ok(axum::Json(json!({
        "registry": login_server(r),
        "imageName": repo,
        "createdTime": created,
        "lastUpdateTime": updated,
        "manifestCount": manifests.len(),
        "tagCount": tags.len(),
        "changeableAttributes": attributes(row.as_ref()),
    }))
    .into_response())
}

/// `PATCH /acr/v1/<name>`: set the repository's attributes; answers as GET.
pub(super) fn repository_update(ctx: &Ctx, r: &Req, repo: &str, body: &[u8]) -> Res {
    let set = parse_attributes(body)?;
    let (manifests, tags) = contents(ctx, r, repo)?;
    if manifests.is_empty() && tags.is_empty() {
        return Err(OciError::name_unknown(repo));
    }
    let key = format!("{}/{repo}", r.registry);
    let row = ctx
        .store
        .get(tables::REPOSITORIES, &key)?
        .unwrap_or(json!({}));
    ctx.store
        .put(tables::REPOSITORIES, &key, with_attributes(row, &set))?;
    repository_show(ctx, r, repo)
}

/// `DELETE /acr/v1/<name>`: the repository, its manifests, tags and blob
/// links, unless it or anything in it is locked. 202
/// `{manifestsDeleted, tagsDeleted}` (the spec's `DeletedRepository`).
pub(super) fn repository_delete(ctx: &Ctx, r: &Req, repo: &str) -> Res {
    let (manifests, tags) = contents(ctx, r, repo)?;
    if manifests.is_empty() && tags.is_empty() {
        return Err(OciError::name_unknown(repo));
    }
    let row = repository_row(ctx.store.as_ref(), &r.registry, repo)?;
    if refuses(row.as_ref(), Op::Delete)
        || manifests
            .iter()
            .chain(tags.iter())
            .any(|(_, v)| refuses(Some(v), Op::Delete))
    {
        return Err(disallowed());
    }
    let prefix = r.key(repo, "");
    ctx.store.transaction(|tx| {
        for (n, _) in &manifests {
            tx.delete(tables::MANIFESTS, &r.key(repo, n))?;
        }
        for (n, _) in &tags {
            tx.delete(tables::TAGS, &r.key(repo, n))?;
        }
        for k in tx.keys(tables::BLOB_LINKS, &prefix)? {
            if !k[prefix.len()..].contains('/') {
                tx.delete(tables::BLOB_LINKS, &k)?;
            }
        }
        tx.delete(tables::REPOSITORIES, &format!("{}/{repo}", r.registry))?;
        Ok::<_, OciError>(())
    })?;
    // Each manifest deleted reaches the registry's webhooks as a delete would.
    // TODO-fidelity: ACR's webhook reference shows the delete event of a
    // manifest, not one for a whole repository; one event per manifest here.
    for (digest, row) in &manifests {
        super::routes::deleted(ctx, r, repo, digest, row);
    }
    let names = |rows: &Rowset| rows.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({"manifestsDeleted": names(&manifests), "tagsDeleted": names(&tags)})),
    )
        .into_response())
}

/// One tag as ACR describes it (the spec's `TagAttributesBase`).
fn describe_tag(name: &str, row: &Value) -> Value {
    json!({
        "name": name, "digest": row["digest"], "createdTime": row["createdTime"],
        "lastUpdateTime": row["lastUpdateTime"], "signed": false,
        "changeableAttributes": attributes(Some(row)),
    })
}

fn tag_row(ctx: &Ctx, r: &Req, repo: &str, tag: &str) -> Result<Value, OciError> {
    ctx.store
        .get(tables::TAGS, &r.key(repo, tag))?
        .ok_or_else(|| OciError::manifest_unknown_tag(tag))
}

/// Order rows by `lastUpdateTime` (`orderby=timedesc|timeasc`), or keep
/// them by name; then `last` (the name after which to start) and `n`.
/// Returns the page and whether more follow.
fn page(mut rows: Rowset, r: &Req) -> (Rowset, bool, Option<usize>) {
    let qs = query(&r.uri);
    let time = |v: &Value| v["lastUpdateTime"].as_str().unwrap_or_default().to_string();
    match q(&qs, "orderby") {
        Some("timedesc") => rows.sort_by_key(|(_, v)| std::cmp::Reverse(time(v))),
        Some("timeasc") => rows.sort_by_key(|(_, v)| time(v)),
        _ => rows.sort_by(|a, b| a.0.cmp(&b.0)),
    }
    let by_time = matches!(q(&qs, "orderby"), Some("timedesc" | "timeasc"));
    match q(&qs, "last") {
        // By name, `last` is a place in the order, present or not (as `/v2/`
        // tag lists and the catalog read it).
        Some(last) if !by_time => rows.retain(|(n, _)| n.as_str() > last),
        // By time, it names the item the previous page ended with.
        Some(last) => {
            if let Some(i) = rows.iter().position(|(n, _)| n == last) {
                rows.drain(..=i);
            }
        }
        None => {}
    }
    let n: Option<usize> = q(&qs, "n").and_then(|n| n.parse().ok());
    let more = n.is_some_and(|n| rows.len() > n);
    if let Some(n) = n {
        rows.truncate(n);
    }
    (rows, more, n)
}

/// The `Link` to the next page (`orderby` carried on).
fn link_next(resp: &mut axum::response::Response, r: &Req, path: &str, last: &str, n: usize) {
    let qs = query(&r.uri);
    let order = q(&qs, "orderby")
        .map(|o| format!("&orderby={o}"))
        .unwrap_or_default();
    header(
        resp,
        "link",
        &format!("<{path}?last={last}&n={n}{order}>; rel=\"next\""),
    );
}

/// `GET /acr/v1/<name>/_tags[/<tag>]` (`az acr repository show-tags`):
/// `{registry, imageName, tags: […]}` with `n`, `last`, `orderby`,
/// `digest` and a `Link` header; tags with `listEnabled:false` left out.
/// One tag: `{registry, imageName, tag}`.
pub(super) fn tags(ctx: &Ctx, r: &Req, repo: &str, tag: Option<&str>) -> Res {
    let host = login_server(r);
    if let Some(t) = tag {
        let row = tag_row(ctx, r, repo, t)?;
        return Ok(axum::Json(
            json!({"registry": host, "imageName": repo, "tag": describe_tag(t, &row)}),
        )
        .into_response());
    }
    let (manifests, tags) = contents(ctx, r, repo)?;
    if manifests.is_empty() && tags.is_empty() {
        return Err(OciError::name_unknown(repo));
    }
    let qs = query(&r.uri);
    let digest = q(&qs, "digest");
    let listed: Rowset = tags
        .into_iter()
        .filter(|(_, v)| enabled(Some(v), "listEnabled"))
        .filter(|(_, v)| digest.is_none_or(|d| v["digest"] == d))
        .collect();
    let (rows, more, n) = page(listed, r);
    let list: Vec<Value> = rows.iter().map(|(n, v)| describe_tag(n, v)).collect();
    let mut resp =
        axum::Json(json!({"registry": host, "imageName": repo, "tags": list})).into_response();
    if more && let (Some(n), Some((l, _))) = (n, rows.last()) {
        link_next(&mut resp, r, &format!("/acr/v1/{repo}/_tags"), l, n);
    }
    Ok(resp)
}

/// `PATCH /acr/v1/<name>/_tags/<tag>`.
pub(super) fn tag_update(ctx: &Ctx, r: &Req, repo: &str, tag: &str, body: &[u8]) -> Res {
    let set = parse_attributes(body)?;
    let row = tag_row(ctx, r, repo, tag)?;
    ctx.store
        .put(tables::TAGS, &r.key(repo, tag), with_attributes(row, &set))?;
    tags(ctx, r, repo, Some(tag))
}

/// `DELETE /acr/v1/<name>/_tags/<tag>` (`az acr repository untag`): 202, the
/// manifest stays.
pub(super) fn tag_delete(ctx: &Ctx, r: &Req, repo: &str, tag: &str) -> Res {
    let row = tag_row(ctx, r, repo, tag)?;
    if refuses(Some(&row), Op::Delete)
        || refuses(
            repository_row(ctx.store.as_ref(), &r.registry, repo)?.as_ref(),
            Op::Delete,
        )
    {
        return Err(disallowed());
    }
    ctx.store.delete(tables::TAGS, &r.key(repo, tag))?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// One manifest as ACR describes it (the spec's `ManifestAttributesBase`):
/// size, platform and config media type read from the manifest and its config.
fn describe_manifest(ctx: &Ctx, digest: &str, row: &Value, tags: Vec<String>) -> Value {
    let doc: Value = ctx
        .blobs
        .read(digest)
        .ok()
        .and_then(|b: Vec<u8>| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    let mut m = Map::new();
    m.insert("digest".into(), json!(digest));
    let size = |v: &Value| v["size"].as_u64().unwrap_or(0);
    let mut platform = (Value::Null, Value::Null);
    let mut references = None;
    // TODO-fidelity: how ACR sums `imageSize` is not documented (the spec says
    // "Image size"); this is the config and layers (an index: its manifests).
    let image_size: u64 = if let Some(children) = doc["manifests"].as_array() {
        references = Some(
            children
                .iter()
                .map(|c| json!({"digest": c["digest"], "architecture": c["platform"]["architecture"], "os": c["platform"]["os"]}))
                .collect::<Vec<_>>(),
        );
        children.iter().map(size).sum()
    } else {
        if let Some(c) = doc["config"]["digest"].as_str()
            && let Ok::<Vec<u8>, _>(bytes) = ctx.blobs.read(c)
            && let Ok(config) = serde_json::from_slice::<Value>(&bytes)
        {
            platform = (config["architecture"].clone(), config["os"].clone());
        }
        size(&doc["config"])
            + doc["layers"]
                .as_array()
                .map(|l| l.iter().map(size).sum())
                .unwrap_or(0)
    };
    m.insert("imageSize".into(), json!(image_size));
    m.insert("createdTime".into(), row["createdTime"].clone());
    m.insert("lastUpdateTime".into(), row["lastUpdateTime"].clone());
    if !platform.0.is_null() {
        m.insert("architecture".into(), platform.0);
    }
    if !platform.1.is_null() {
        m.insert("os".into(), platform.1);
    }
    if let Some(refs) = references {
        m.insert("references".into(), json!(refs));
    }
    m.insert("mediaType".into(), row["mediaType"].clone());
    if doc["config"]["mediaType"].is_string() {
        m.insert("configMediaType".into(), doc["config"]["mediaType"].clone());
    }
    if !tags.is_empty() {
        m.insert("tags".into(), json!(tags));
    }
    m.insert("changeableAttributes".into(), attributes(Some(row)));
    Value::Object(m)
}

/// The tags of each digest.
fn tags_by_digest(tags: &Rowset) -> std::collections::HashMap<String, Vec<String>> {
    let mut out: std::collections::HashMap<String, Vec<String>> = Default::default();
    for (n, v) in tags {
        if let Some(d) = v["digest"].as_str() {
            out.entry(d.to_string()).or_default().push(n.clone());
        }
    }
    out
}

fn manifest_row(ctx: &Ctx, r: &Req, repo: &str, digest: &str) -> Result<Value, OciError> {
    if super::blobs::parse_digest(digest).is_none() {
        return Err(OciError::digest_invalid("malformed digest"));
    }
    ctx.store
        .get(tables::MANIFESTS, &r.key(repo, digest))?
        .ok_or_else(|| OciError::manifest_unknown_digest(digest))
}

/// `GET /acr/v1/<name>/_manifests[/<digest>]` (`az acr manifest
/// list-metadata`, `show-metadata`; `az acr repository show-manifests`).
pub(super) fn manifests(ctx: &Ctx, r: &Req, repo: &str, digest: Option<&str>) -> Res {
    let host = login_server(r);
    let (manifests, tags) = contents(ctx, r, repo)?;
    let mut by_digest = tags_by_digest(&tags);
    if let Some(d) = digest {
        let row = manifest_row(ctx, r, repo, d)?;
        let m = describe_manifest(ctx, d, &row, by_digest.remove(d).unwrap_or_default());
        return Ok(
            axum::Json(json!({"registry": host, "imageName": repo, "manifest": m})).into_response(),
        );
    }
    if manifests.is_empty() && tags.is_empty() {
        return Err(OciError::name_unknown(repo));
    }
    let listed: Rowset = manifests
        .into_iter()
        .filter(|(_, v)| enabled(Some(v), "listEnabled"))
        .collect();
    let (rows, more, n) = page(listed, r);
    let list: Vec<Value> = rows
        .iter()
        .map(|(d, v)| describe_manifest(ctx, d, v, by_digest.remove(d).unwrap_or_default()))
        .collect();
    let mut resp =
        axum::Json(json!({"registry": host, "imageName": repo, "manifests": list})).into_response();
    if more && let (Some(n), Some((l, _))) = (n, rows.last()) {
        link_next(&mut resp, r, &format!("/acr/v1/{repo}/_manifests"), l, n);
    }
    Ok(resp)
}

/// `PATCH /acr/v1/<name>/_manifests/<digest>`.
pub(super) fn manifest_update(ctx: &Ctx, r: &Req, repo: &str, digest: &str, body: &[u8]) -> Res {
    let set = parse_attributes(body)?;
    let row = manifest_row(ctx, r, repo, digest)?;
    ctx.store.put(
        tables::MANIFESTS,
        &r.key(repo, digest),
        with_attributes(row, &set),
    )?;
    manifests(ctx, r, repo, Some(digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks() {
        let open = json!({"digest": "d"});
        assert_eq!(
            attributes(Some(&open)),
            json!({"deleteEnabled": true, "writeEnabled": true, "readEnabled": true, "listEnabled": true})
        );
        let write = json!({"changeableAttributes": {"writeEnabled": false}});
        assert!(refuses(Some(&write), Op::Write) && refuses(Some(&write), Op::Delete));
        assert!(!refuses(Some(&write), Op::Read));
        let delete = json!({"changeableAttributes": {"deleteEnabled": false}});
        assert!(refuses(Some(&delete), Op::Delete) && !refuses(Some(&delete), Op::Write));
        assert!(!refuses(None, Op::Read));
        // A re-push keeps the creation time and the attributes.
        let old = json!({"digest": "a", "createdTime": "t0", "lastUpdateTime": "t0", "changeableAttributes": {"writeEnabled": false}});
        let new = renewed(Some(&old), json!({"digest": "b"}), "t1");
        assert_eq!(new["createdTime"], "t0");
        assert_eq!(new["lastUpdateTime"], "t1");
        assert_eq!(new["changeableAttributes"]["writeEnabled"], false);
        assert!(parse_attributes(br#"{"writeEnabled": 1}"#).is_err());
        assert!(parse_attributes(br#"{"nope": true}"#).is_err());
        assert!(parse_attributes(b"[]").is_err());
        assert!(parse_attributes(br#"{"readEnabled": false}"#).is_ok());
    }
}
