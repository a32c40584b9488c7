//! Reading a pushed manifest or index: everything `PUT /v2/<name>/manifests/<ref>`
//! decides from the bytes alone, before it looks at the store. Kept free of
//! I/O so the fuzz target `oci_manifest` (fuzz/) can drive it directly.

use super::OciError;
use super::blobs::{Algorithm, digest_with, is_digest};
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
    /// The digest of the exact bytes sent: under the algorithm of the digest
    /// they were pushed to, sha256 when pushed to a tag.
    pub digest: String,
    /// The reference is a digest (no tag is written).
    pub by_digest: bool,
    /// An image index / manifest list rather than an image manifest.
    pub is_index: bool,
    /// What must already exist: child manifests of an index, or the layers
    /// then the config of an image (an absent `digest` field reads as "").
    /// Non-distributable layers that carry `urls` are not among them: their
    /// bytes live at those URLs (distribution's `verifyManifest`).
    pub references: Vec<String>,
    /// What the referrers API lists it as: its `artifactType`; for an image
    /// manifest without one, its config's `mediaType` (the spec's MUST); for
    /// an index without one, nothing.
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
    let by_digest = is_digest(reference);
    let algorithm = if by_digest {
        Algorithm::of(reference)
            .ok_or_else(|| OciError::digest_invalid("unsupported digest algorithm"))?
    } else {
        Algorithm::Sha256
    };
    let digest = digest_with(algorithm, bytes);
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
        let mut refs = Vec::new();
        for layer in doc["layers"]
            .as_array()
            .ok_or_else(|| OciError::manifest_invalid("layers is required"))?
        {
            if !hosted_elsewhere(layer)? {
                refs.push(digest_of_entry(layer));
            }
        }
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
        .filter(|a| !a.is_empty())
        .or_else(|| {
            (!is_index)
                .then(|| doc["config"]["mediaType"].as_str())
                .flatten()
        })
        .map(str::to_string);
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

/// The layer media types whose bytes may live outside the registry
/// (distribution accepts them without their blob when they carry `urls`).
const NON_DISTRIBUTABLE: &[&str] = &[
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
];

/// Is `layer` a non-distributable layer with `urls` (no blob needed)? Its
/// URLs must be http(s) without a fragment, or the manifest is refused for
/// that layer as distribution refuses it: MANIFEST_BLOB_UNKNOWN.
fn hosted_elsewhere(layer: &Value) -> Result<bool, OciError> {
    let urls = match layer["urls"].as_array() {
        Some(u) if !u.is_empty() => u,
        _ => return Ok(false),
    };
    let media_type = layer["mediaType"].as_str().unwrap_or_default();
    let valid = urls.iter().all(|u| {
        u.as_str().is_some_and(|u| {
            (u.starts_with("https://") || u.starts_with("http://")) && !u.contains('#')
        })
    });
    if !valid {
        return Err(OciError::manifest_blob_unknown(
            layer["digest"].as_str().unwrap_or_default(),
        ));
    }
    Ok(NON_DISTRIBUTABLE.contains(&media_type))
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
        // No artifactType: the config's media type (distribution-spec, "Listing Referrers").
        assert_eq!(
            m.artifact_type.as_deref(),
            Some("application/vnd.oci.image.config.v1+json")
        );
        assert_eq!(m.digest, digest_with(Algorithm::Sha256, IMAGE.as_bytes()));
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
        assert_eq!(code(IMAGE, None, "sha384:00"), "DIGEST_INVALID");
        assert_eq!(code(IMAGE, None, "-bad"), "MANIFEST_INVALID");
        let index = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json"}"#;
        assert_eq!(code(index, None, "v1"), "MANIFEST_INVALID");
    }

    #[test]
    fn by_sha512_digest() {
        let d = digest_with(Algorithm::Sha512, IMAGE.as_bytes());
        let m = read(IMAGE.as_bytes(), None, &d).unwrap();
        assert!(m.by_digest);
        assert_eq!(m.digest, d);
        let other = digest_with(Algorithm::Sha512, b"other");
        assert_eq!(
            read(IMAGE.as_bytes(), None, &other).unwrap_err().code,
            "DIGEST_INVALID"
        );
    }

    #[test]
    fn non_distributable_layers_with_urls_need_no_blob() {
        let with = |media_type: &str, urls: &str| {
            let doc = format!(
                r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
                "config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:c","size":2}},
                "layers":[{{"mediaType":"{media_type}","digest":"sha256:f","size":1,"urls":{urls}}}]}}"#
            );
            read(doc.as_bytes(), None, "v1").map(|m| m.references)
        };
        let foreign = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
        assert_eq!(
            with(foreign, r#"["https://example.com/f"]"#).unwrap(),
            ["sha256:c"]
        );
        // Without urls, or a distributable layer: the blob is needed.
        assert_eq!(with(foreign, "[]").unwrap(), ["sha256:f", "sha256:c"]);
        let gzip = "application/vnd.oci.image.layer.v1.tar+gzip";
        assert_eq!(
            with(gzip, r#"["https://example.com/f"]"#).unwrap(),
            ["sha256:f", "sha256:c"]
        );
        for bad in [
            r#"["ftp://example.com/f"]"#,
            r#"["https://example.com/f#x"]"#,
            "[1]",
        ] {
            assert_eq!(
                with(foreign, bad).unwrap_err().code,
                "MANIFEST_BLOB_UNKNOWN"
            );
        }
    }

    #[test]
    fn artifact_type() {
        let index = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
        assert_eq!(
            read(index.as_bytes(), None, "v1").unwrap().artifact_type,
            None
        );
        let typed = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","artifactType":"a/b","manifests":[]}"#;
        assert_eq!(
            read(typed.as_bytes(), None, "v1")
                .unwrap()
                .artifact_type
                .as_deref(),
            Some("a/b")
        );
    }
}
