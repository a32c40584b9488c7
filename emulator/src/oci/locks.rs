//! The locks of ACR's repositories, tags and manifests: each has
//! `changeableAttributes` (`deleteEnabled`, `writeEnabled`, `readEnabled`,
//! `listEnabled`, all `true` until changed), set through `/acr/v1`
//! ([`super::acr_meta`]) and met by every writer and reader: the data plane,
//! the one pull sequence ([`crate::pull`]), task runs.
//!
//! How the locks bind (ACR's "Lock a container image" article: a write lock
//! "denies the delete and push operations"; the troubleshooting article for
//! deletes: a repository cannot be deleted while it, a manifest or a tag in it
//! is locked): `writeEnabled:false` refuses pushes to the object (a tag moved
//! or re-pushed, a manifest re-pushed or given a referrer, any manifest push
//! into a locked repository) and its deletion; `deleteEnabled:false` refuses
//! its deletion; `readEnabled:false` refuses pulls of the manifest (by the tag,
//! by the digest, anything in the repository); `listEnabled:false` hides it
//! from the catalog, tag and manifest lists (it stays readable by name).
//! Every refusal is ACR's 405 `REGISTRY_DISALLOWED_OPERATION` ([`disallowed`]).
//! A tag's or a manifest's attributes survive re-pushes and imports (an
//! `az acr import --force` over a locked tag moves it and the lock stays, as
//! on ACR: a lab run with az 2.90, published in the code corpus).
//!
//! TODO-fidelity: three edges no source settles (searched ACR's lock and
//! troubleshooting articles, the Azure/acr and azure-cli issues, the
//! data-plane spec): whether a write-locked repository refuses blob uploads
//! (here only the manifest is refused, as docker's "Layer already exists"
//! before the refusal in ACR's docs suggests), whether a tag's or a
//! manifest's read lock guards its blobs (here only the repository's does),
//! and the status of a refused pull (here the same 405 as for pushes; the
//! FAQ entry the message links covers pulls and pushes alike).

use super::{OciError, tables};
use crate::store::{Rows, StoreResult};
use axum::http::StatusCode;
use serde_json::{Map, Value, json};

/// The four attributes, in the order ACR answers them (the spec's examples).
pub const ATTRIBUTES: [&str; 4] = [
    "deleteEnabled",
    "writeEnabled",
    "readEnabled",
    "listEnabled",
];

/// A row's attributes, in ACR's order, `true` where unset.
pub fn attributes(row: Option<&Value>) -> Value {
    let mut out = Map::new();
    for k in ATTRIBUTES {
        out.insert(k.into(), json!(enabled(row, k)));
    }
    Value::Object(out)
}

/// Is attribute `which` of a row on (a row without it: yes)?
pub fn enabled(row: Option<&Value>, which: &str) -> bool {
    row.and_then(|r| r["changeableAttributes"][which].as_bool())
        .unwrap_or(true)
}

/// ACR's refusal for a locked object: 405 REGISTRY_DISALLOWED_OPERATION
/// (an ACR answer recorded in Azure/azure-sdk-for-net#22827, the same text
/// docker prints for a push to a write-locked tag in ACR's docs).
pub fn disallowed() -> OciError {
    OciError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "REGISTRY_DISALLOWED_OPERATION",
        "The operation is disallowed on this registry, repository or image. View troubleshooting steps at https://aka.ms/acr/faq/#why-does-my-pull-or-push-request-fail-with-disallowed-operation",
    )
    .with_detail(json!({}))
}

/// What an operation needs of an object's attributes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Op {
    Read,
    Write,
    Delete,
}

/// Does the row refuse `op`? (A write lock refuses deletes too.)
pub fn refuses(row: Option<&Value>, op: Op) -> bool {
    match op {
        Op::Read => !enabled(row, "readEnabled"),
        Op::Write => !enabled(row, "writeEnabled"),
        Op::Delete => !enabled(row, "writeEnabled") || !enabled(row, "deleteEnabled"),
    }
}

/// A repository's attribute row.
pub fn repository_row<R: Rows + ?Sized>(
    rows: &R,
    registry: &str,
    repo: &str,
) -> StoreResult<Option<Value>> {
    rows.get(tables::REPOSITORIES, &format!("{registry}/{repo}"))
}

/// A locked object: what it is (`repository 'x'`, `tag 'x:t'`, `manifest
/// 'x@d'`) and the `az acr repository update` argument that names it.
#[derive(Debug, PartialEq)]
pub struct Locked {
    pub what: String,
    pub arg: String,
}

/// The lock that refuses reading manifest `digest` of `{registry}/{repo}`
/// (reached through `tag`, when by tag), or `None` when it may be read.
pub fn read_lock<R: Rows + ?Sized>(
    rows: &R,
    registry: &str,
    repo: &str,
    tag: Option<&str>,
    digest: &str,
) -> StoreResult<Option<Locked>> {
    let locked = |what: String, arg: String| Ok(Some(Locked { what, arg }));
    if refuses(repository_row(rows, registry, repo)?.as_ref(), Op::Read) {
        return locked(
            format!("repository '{repo}'"),
            format!("--repository {repo}"),
        );
    }
    if let Some(t) = tag
        && refuses(
            rows.get(tables::TAGS, &format!("{registry}/{repo}/{t}"))?
                .as_ref(),
            Op::Read,
        )
    {
        return locked(format!("tag '{repo}:{t}'"), format!("--image {repo}:{t}"));
    }
    if refuses(
        rows.get(tables::MANIFESTS, &format!("{registry}/{repo}/{digest}"))?
            .as_ref(),
        Op::Read,
    ) {
        return locked(
            format!("manifest '{repo}@{digest}'"),
            format!("--image {repo}@{digest}"),
        );
    }
    Ok(None)
}

/// Would pushing manifest `digest` as `tag` into `{registry}/{repo}` meet a
/// write lock (the repository's, the manifest's, the tag's)?
pub fn write_refused<R: Rows + ?Sized>(
    rows: &R,
    registry: &str,
    repo: &str,
    tag: Option<&str>,
    digest: &str,
) -> StoreResult<bool> {
    let key = |rest: &str| format!("{registry}/{repo}/{rest}");
    Ok(
        refuses(repository_row(rows, registry, repo)?.as_ref(), Op::Write)
            || refuses(
                rows.get(tables::MANIFESTS, &key(digest))?.as_ref(),
                Op::Write,
            )
            || match tag {
                Some(t) => refuses(rows.get(tables::TAGS, &key(t))?.as_ref(), Op::Write),
                None => false,
            },
    )
}

/// Refuse deleting manifest `digest` when it, a tag naming it or its repository is locked.
pub fn check_manifest_delete<R: Rows + ?Sized>(
    rows: &R,
    registry: &str,
    repo: &str,
    digest: &str,
) -> Result<(), OciError> {
    let key = |rest: &str| format!("{registry}/{repo}/{rest}");
    if refuses(repository_row(rows, registry, repo)?.as_ref(), Op::Delete)
        || refuses(
            rows.get(tables::MANIFESTS, &key(digest))?.as_ref(),
            Op::Delete,
        )
    {
        return Err(disallowed());
    }
    for (_, t) in rows.scan(tables::TAGS, &key(""))? {
        if t["digest"] == digest && refuses(Some(&t), Op::Delete) {
            return Err(disallowed());
        }
    }
    Ok(())
}

/// The row written for a tag or a manifest pushed again: `fresh`, keeping
/// the old row's `createdTime` and attributes, `lastUpdateTime` now.
pub fn renewed(old: Option<&Value>, mut fresh: Value, now: &str) -> Value {
    let created = old
        .and_then(|o| o["createdTime"].as_str())
        .unwrap_or(now)
        .to_string();
    fresh["createdTime"] = json!(created);
    fresh["lastUpdateTime"] = json!(now);
    if let Some(a) = old.map(|o| &o["changeableAttributes"])
        && a.is_object()
    {
        fresh["changeableAttributes"] = a.clone();
    }
    fresh
}
