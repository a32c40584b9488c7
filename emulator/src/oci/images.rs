//! Writing an image into a registry from inside the emulator (the offline
//! public registries' sample, images built by ACR task runs): blobs into the
//! content-addressed store, then the same rows a push through the data plane
//! writes (blob links, manifest, tag).

use super::tables;
use crate::store::{Store, StoreResult};
use serde_json::{Value, json};

pub const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG_TYPE: &str = "application/vnd.oci.image.config.v1+json";
pub const LAYER_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";

/// Link already-stored blobs and a stored manifest into `{registry}/{repo}`, tagged `tag`.
/// `blobs` are `(digest, size)`; `manifest` is `(digest, size)`. `now`: the tag's timestamps.
pub fn link(
    store: &dyn Store,
    registry: &str,
    repo: &str,
    blobs: &[(String, usize)],
    manifest: (&str, usize),
    tag: Option<&str>,
    now: &str,
) -> StoreResult<()> {
    // One transaction (or a part of the caller's): an image is linked whole or not at all.
    store.transaction(|store| {
        for (d, size) in blobs {
        store.put(
            tables::BLOB_LINKS,
            &format!("{registry}/{repo}/{d}"),
            json!({"size": size}),
        )?;
    }
    // Pushed again, a manifest or a tag keeps its creation time and its locks.
    let key = format!("{registry}/{repo}/{}", manifest.0);
    let old = store.get(tables::MANIFESTS, &key)?;
    store.put(
        tables::MANIFESTS,
        &key,
        super::locks::renewed(old.as_ref(), json!({"mediaType": MANIFEST_TYPE, "size": manifest.1, "subject": null, "artifactType": null, "annotations": null}), now),
    )?;
    if let Some(t) = tag {
        let key = format!("{registry}/{repo}/{t}");
        let old = store.get(tables::TAGS, &key)?;
        store.put(
            tables::TAGS,
            &key,
            super::locks::renewed(old.as_ref(), json!({"digest": manifest.0}), now),
        )?;
    }
    Ok(())
    })
}

/// The image a build starts from: its config and its layer descriptors.
pub struct Base {
    pub config: Value,
    pub layers: Vec<Value>,
}

/// An OCI image: `base`'s layers (if any) plus one layer, a tar holding
/// `files` (name, bytes), with `labels` added to the config. Returns
/// (manifest bytes, [config bytes, new layer bytes]); the base's blobs are
/// already stored.
pub fn build(
    files: &[(&str, Vec<u8>)],
    labels: &Value,
    created: &str,
    base: Option<&Base>,
) -> (Vec<u8>, Vec<Vec<u8>>) {
    let layer = tar(files);
    let layer_digest = super::blobs::digest_of(&layer);
    let mut config = base.map(|b| b.config.clone()).filter(Value::is_object).unwrap_or_else(|| {
        json!({"architecture": "amd64", "os": "linux", "config": {}, "rootfs": {"type": "layers", "diff_ids": []}, "history": []})
    });
    config["created"] = json!(created);
    if !config["config"].is_object() {
        config["config"] = json!({});
    }
    let mut all_labels = config["config"]["Labels"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    all_labels.extend(labels.as_object().cloned().unwrap_or_default());
    config["config"]["Labels"] = Value::Object(all_labels);
    let mut diff_ids = config["rootfs"]["diff_ids"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    diff_ids.push(json!(layer_digest));
    config["rootfs"] = json!({"type": "layers", "diff_ids": diff_ids});
    let mut history = config["history"].as_array().cloned().unwrap_or_default();
    history.push(json!({"created": created, "created_by": "azemu: ACR task run (offline build)"}));
    config["history"] = Value::Array(history);
    let config = serde_json::to_vec(&config).unwrap_or_default();
    let mut layers = base.map(|b| b.layers.clone()).unwrap_or_default();
    layers.push(json!({"mediaType": LAYER_TYPE, "digest": layer_digest, "size": layer.len()}));
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": CONFIG_TYPE, "digest": super::blobs::digest_of(&config), "size": config.len()},
        "layers": layers,
    }))
    .unwrap_or_default();
    (manifest, vec![config, layer])
}

/// A ustar archive of regular files (mode 0644, mtime 0: reproducible).
fn tar(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut b = ::tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = ::tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_entry_type(::tar::EntryType::Regular);
        // Writing into a Vec cannot fail; a name too long for ustar is skipped.
        let _ = b.append_data(&mut h, name, data.as_slice());
    }
    b.into_inner().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_valid_one_layer_image() {
        let (manifest, blobs) = build(
            &[("azemu-build.json", b"{}".to_vec())],
            &json!({"a": "b"}),
            "2026-01-01T00:00:00Z",
            None,
        );
        let m: Value = serde_json::from_slice(&manifest).unwrap();
        assert_eq!(
            m["config"]["digest"],
            super::super::blobs::digest_of(&blobs[0])
        );
        assert_eq!(
            m["layers"][0]["digest"],
            super::super::blobs::digest_of(&blobs[1])
        );
        let layer = &blobs[1];
        assert_eq!(layer.len() % 512, 0);
        assert_eq!(&layer[..16], b"azemu-build.json");
        assert_eq!(&layer[257..262], b"ustar");
        // Deterministic: same inputs, same digest.
        let (again, _) = build(
            &[("azemu-build.json", b"{}".to_vec())],
            &json!({"a": "b"}),
            "2026-01-01T00:00:00Z",
            None,
        );
        assert_eq!(manifest, again);
        // On a base: its layers first, its diff_ids kept, labels merged.
        let base = Base {
            config: json!({"os": "linux", "config": {"Labels": {"x": "y"}}, "rootfs": {"type": "layers", "diff_ids": ["sha256:aa"]}}),
            layers: vec![
                json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:bb", "size": 1}),
            ],
        };
        let (m2, b2) = build(&[("f", vec![1])], &json!({"a": "b"}), "t", Some(&base));
        let m2: Value = serde_json::from_slice(&m2).unwrap();
        assert_eq!(m2["layers"][0]["digest"], "sha256:bb");
        assert_eq!(m2["layers"].as_array().unwrap().len(), 2);
        let c2: Value = serde_json::from_slice(&b2[0]).unwrap();
        assert_eq!(c2["rootfs"]["diff_ids"][0], "sha256:aa");
        assert_eq!(c2["config"]["Labels"], json!({"x": "y", "a": "b"}));
    }
}
