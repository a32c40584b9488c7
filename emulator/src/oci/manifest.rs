//! Reading a pushed manifest or index: everything `PUT /v2/<name>/manifests/<ref>`
//! decides from the bytes alone, before it looks at the store. Kept free of
//! I/O so the fuzz target `oci_manifest` (fuzz/) can drive it directly.

use super::OciError;
use super::blobs::digest_of;
use super::names::valid_tag;
use serde_json::Value;

/// The media types a registry accepts as manifests.
pub const MANIFEST_TYPES: &[&str] = &[
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// A manifest that passed every check that needs no store.
#[derive(Debug)]
pub struct Manifest {
    pub doc: Value,
    pub media_type: String,
    /// `sha256:<hex>` of the exact bytes sent.
    pub digest: String,
    /// The reference is a digest (no tag is written).
    pub by_digest: bool,
    /// An image index / manifest list rather than an image manifest.
    pub is_index: bool,
    /// What must already exist: child manifests of an index, or the layers
    /// then the config of an image (an absent `digest` field reads as "").
    pub references: Vec<String>,
    pub artifact_type: Option<String>,
}

/// Checks `bytes` pushed with `content_type` (parameters already stripped) to
/// `reference` (a tag or a digest).
pub fn read(
    bytes: &[u8],
    content_type: Option<&str>,
    reference: &str,
) -> Result<Manifest, OciError> {
    let doc: Value =
        serde_json::from_slice(bytes).map_err(|e| OciError::manifest_invalid(&e.to_string()))?;
    let media_type = content_type
        .filter(|c| !c.is_empty())
        .or_else(|| doc["mediaType"].as_str())
        .unwrap_or_default()
        .to_string();
    if !MANIFEST_TYPES.contains(&media_type.as_str()) {
        return Err(OciError::manifest_invalid(&format!(
            "unsupported media type '{media_type}'"
        )));
    }
    if doc["mediaType"].as_str().is_some_and(|m| m != media_type) {
        return Err(OciError::manifest_invalid(
            "mediaType does not match Content-Type",
        ));
    }
    if doc["schemaVersion"] != 2 {
        return Err(OciError::manifest_invalid("schemaVersion must be 2"));
    }
    let digest = digest_of(bytes);
    let by_digest = reference.starts_with("sha256:") || reference.contains(':');
    if by_digest && reference != digest {
        return Err(OciError::digest_invalid(&format!(
            "the manifest digest is {digest}"
        )));
    }
    if !by_digest && !valid_tag(reference) {
        return Err(OciError::manifest_invalid("invalid tag"));
    }
    let is_index = media_type.ends_with("index.v1+json") || media_type.ends_with("list.v2+json");
    let digest_of_entry = |m: &Value| m["digest"].as_str().unwrap_or_default().to_string();
    let references = if is_index {
        doc["manifests"]
            .as_array()
            .ok_or_else(|| OciError::manifest_invalid("manifests is required"))?
            .iter()
            .map(digest_of_entry)
            .collect()
    } else {
        let mut refs: Vec<String> = doc["layers"]
            .as_array()
            .ok_or_else(|| OciError::manifest_invalid("layers is required"))?
            .iter()
            .map(digest_of_entry)
            .collect();
        refs.push(
            doc["config"]["digest"]
                .as_str()
                .ok_or_else(|| OciError::manifest_invalid("config is required"))?
                .to_string(),
        );
        refs
    };
    let artifact_type = doc["artifactType"]
        .as_str()
        .map(str::to_string)
        .or_else(|| {
            (!is_index)
                .then(|| {
                    doc["config"]["mediaType"]
                        .as_str()
                        .filter(|c| *c != "application/vnd.oci.image.config.v1+json")
                        .map(str::to_string)
                })
                .flatten()
        });
    Ok(Manifest {
        doc,
        media_type,
        digest,
        by_digest,
        is_index,
        references,
        artifact_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const IMAGE: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
        "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:c","size":2},
        "layers":[{"digest":"sha256:a"},{"digest":"sha256:b"}]}"#;

    #[test]
    fn image_references_layers_then_config() {
        let m = read(IMAGE.as_bytes(), None, "v1").unwrap();
        assert!(!m.is_index && !m.by_digest);
        assert_eq!(m.references, ["sha256:a", "sha256:b", "sha256:c"]);
        assert_eq!(m.artifact_type, None);
        assert_eq!(m.digest, digest_of(IMAGE.as_bytes()));
        let by_digest = read(IMAGE.as_bytes(), None, &m.digest).unwrap();
        assert!(by_digest.by_digest);
    }

    #[test]
    fn refusals() {
        let code = |b: &str, ct: Option<&str>, r: &str| read(b.as_bytes(), ct, r).unwrap_err().code;
        assert_eq!(code("{", None, "v1"), "MANIFEST_INVALID");
        assert_eq!(code(IMAGE, Some("text/plain"), "v1"), "MANIFEST_INVALID");
        assert_eq!(
            code(IMAGE, Some("application/vnd.oci.image.index.v1+json"), "v1"),
            "MANIFEST_INVALID"
        );
        assert_eq!(code(IMAGE, None, "sha256:00"), "DIGEST_INVALID");
        assert_eq!(code(IMAGE, None, "-bad"), "MANIFEST_INVALID");
        let index = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json"}"#;
        assert_eq!(code(index, None, "v1"), "MANIFEST_INVALID");
    }
}
