//! A registry's content as whole images, for what copies it server-side
//! (`importImage`): find an image by tag or digest with everything it
//! references (an index's manifests, each manifest's config and layers), and
//! link it into another repository. The bytes are content-addressed and
//! shared ([`crate::oci::blobs::BlobStore`]): a copy writes only rows.

use crate::oci::tables;
use crate::state::AppState;
use crate::store::StoreResult;
use serde_json::{Value, json};

/// An image found in a repository: its top manifest and its closure.
pub struct Image {
    /// The digest a tag names (or the digest asked for).
    pub digest: String,
    pub media_type: String,
    pub size: u64,
    /// Every manifest row (`{digest}` → `{mediaType, size, …}`), the top one first.
    pub manifests: Vec<(String, Value)>,
    /// Every blob (config and layers) with its link row (`{size}`).
    pub blobs: Vec<(String, Value)>,
}

/// `reference` (a tag, or a digest) in `{registry}/{repository}`, with all it needs.
pub fn find(
    state: &AppState,
    registry: &str,
    repository: &str,
    reference: &str,
) -> StoreResult<Option<Image>> {
    let key = |rest: &str| format!("{}/{repository}/{rest}", registry.to_ascii_lowercase());
    let digest = if crate::oci::blobs::is_digest(reference) {
        reference.to_string()
    } else {
        match state.store.get(tables::TAGS, &key(reference))? {
            Some(t) => t["digest"].as_str().unwrap_or_default().to_string(),
            None => return Ok(None),
        }
    };
    let mut manifests: Vec<(String, Value)> = Vec::new();
    let mut blobs: Vec<(String, Value)> = Vec::new();
    let mut todo = vec![digest.clone()];
    while let Some(d) = todo.pop() {
        if manifests.iter().any(|(m, _)| *m == d) {
            continue;
        }
        let Some(meta) = state.store.get(tables::MANIFESTS, &key(&d))? else {
            // A top manifest missing is "not found"; a child missing, a broken image.
            return Ok(None);
        };
        let Ok(bytes) = state.blobs.read(&d) else {
            return Ok(None);
        };
        let doc: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        for m in doc["manifests"].as_array().into_iter().flatten() {
            if let Some(c) = m["digest"].as_str() {
                todo.push(c.to_string());
            }
        }
        let refs = doc["layers"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(std::iter::once(&doc["config"]));
        for r in refs {
            let Some(b) = r["digest"].as_str() else {
                continue;
            };
            if blobs.iter().any(|(x, _)| x == b) {
                continue;
            }
            let link = state
                .store
                .get(tables::BLOB_LINKS, &key(b))?
                .unwrap_or_else(|| json!({"size": r["size"]}));
            blobs.push((b.to_string(), link));
        }
        manifests.push((d, meta));
    }
    let (media_type, size) = manifests
        .first()
        .map(|(_, m)| {
            (
                m["mediaType"].as_str().unwrap_or_default().to_string(),
                m["size"].as_u64().unwrap_or(0),
            )
        })
        .unwrap_or_default();
    Ok(Some(Image {
        digest,
        media_type,
        size,
        manifests,
        blobs,
    }))
}

/// Is `tag` taken in `{registry}/{repository}`?
pub fn tag_exists(
    state: &AppState,
    registry: &str,
    repository: &str,
    tag: &str,
) -> StoreResult<bool> {
    Ok(state
        .store
        .get(
            tables::TAGS,
            &format!("{}/{repository}/{tag}", registry.to_ascii_lowercase()),
        )?
        .is_some())
}

/// Link `image` into `{registry}/{repository}`, tagged `tag` (none: untagged).
pub fn link(
    state: &AppState,
    registry: &str,
    repository: &str,
    image: &Image,
    tag: Option<&str>,
    now: &str,
) -> StoreResult<()> {
    let key = |rest: &str| format!("{}/{repository}/{rest}", registry.to_ascii_lowercase());
    for (d, row) in &image.blobs {
        state.store.put(tables::BLOB_LINKS, &key(d), row.clone())?;
    }
    for (d, row) in &image.manifests {
        // The source's times and locks stay with the source.
        let mut fresh = row.clone();
        if let Some(o) = fresh.as_object_mut() {
            for k in ["createdTime", "lastUpdateTime", "changeableAttributes"] {
                o.shift_remove(k);
            }
        }
        let old = state.store.get(tables::MANIFESTS, &key(d))?;
        let renewed = crate::oci::locks::renewed(old.as_ref(), fresh, now);
        state.store.put(tables::MANIFESTS, &key(d), renewed)?;
    }
    if let Some(t) = tag {
        // A tag imported over keeps its creation time and its locks (on ACR a
        // forced import moves a write-locked tag and the lock stays).
        let old = state.store.get(tables::TAGS, &key(t))?;
        state.store.put(
            tables::TAGS,
            &key(t),
            crate::oci::locks::renewed(old.as_ref(), json!({"digest": image.digest}), now),
        )?;
    }
    Ok(())
}
