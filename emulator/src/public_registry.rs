//! Public registries served offline: `mcr.microsoft.com` and Docker Hub
//! (`registry-1.docker.io`, `docker.io`). They are the same OCI data plane
//! ([`crate::oci`]) with an open gate: anyone may pull, and anyone may push
//! (so tests can seed them). At start they hold the built-in sample image
//! (`fixtures/images/hello-world`) as `mcr.microsoft.com/azuredocs/aci-helloworld:latest`
//! and `docker.io/library/hello-world:latest`.

use crate::oci::{Action, Gate, tables};
use crate::state::AppState;
use axum::response::Response;
use serde_json::json;

/// The storage name of the public registry a host belongs to.
pub fn registry_of_host(host: &str) -> Option<&'static str> {
    match host
        .split(':')
        .next()
        .unwrap_or(host)
        .to_ascii_lowercase()
        .as_str()
    {
        "mcr.microsoft.com" => Some("mcr.microsoft.com"),
        "registry-1.docker.io" | "index.docker.io" | "docker.io" => Some("docker.io"),
        _ => None,
    }
}

pub struct PublicGate;

impl Gate for PublicGate {
    fn registry_for_host(&self, host: &str) -> Option<String> {
        registry_of_host(host).map(str::to_string)
    }

    fn check(
        &self,
        _headers: &http::HeaderMap,
        _from: &crate::network::Source,
        _repository: Option<&str>,
        _actions: &[Action],
        _catalog: bool,
        _who: Option<&crate::web::Who>,
    ) -> Result<(), Response> {
        Ok(())
    }
}

pub fn router(state: &AppState) -> axum::Router {
    crate::oci::routes::router(std::sync::Arc::new(crate::oci::routes::Ctx {
        store: state.store.clone(),
        blobs: state.blobs.clone(),
        gate: std::sync::Arc::new(PublicGate),
        clock: state.clock.clone(),
        max_upload: state.config.max_upload_bytes,
    }))
}

// The built-in sample image, embedded (an OCI layout: config, one layer, manifest).
const SAMPLE_MANIFEST: &[u8] = include_bytes!(
    "../../fixtures/images/hello-world/blobs/sha256/81cf7d0913189459a8b0dcf73acef3919223513976f22ba0eb4a5691c6f18f2e"
);
const SAMPLE_CONFIG: &[u8] = include_bytes!(
    "../../fixtures/images/hello-world/blobs/sha256/20c72fd641169997e88564713237c783c832d6143e67cb237c7405eab8533f63"
);
const SAMPLE_LAYER: &[u8] = include_bytes!(
    "../../fixtures/images/hello-world/blobs/sha256/00a5825a95891ccf4059812fe5b29b12c7aff328c3c445e13c8350091a5814bf"
);

/// The sample image: (manifest, [config, layer]).
pub fn sample_image() -> (Vec<u8>, Vec<Vec<u8>>) {
    (
        SAMPLE_MANIFEST.to_vec(),
        vec![SAMPLE_CONFIG.to_vec(), SAMPLE_LAYER.to_vec()],
    )
}

/// Put the sample image into both public registries.
pub fn seed(state: &AppState) -> anyhow::Result<()> {
    let manifest = state.blobs.put(SAMPLE_MANIFEST)?;
    let mut links = Vec::new();
    for blob in [SAMPLE_CONFIG, SAMPLE_LAYER] {
        let d = state.blobs.put(blob)?;
        links.push((d, blob.len()));
    }
    for (registry, repo) in [
        ("mcr.microsoft.com", "azuredocs/aci-helloworld"),
        ("docker.io", "library/hello-world"),
    ] {
        for (d, size) in &links {
            state.store.put(
                tables::BLOB_LINKS,
                &format!("{registry}/{repo}/{d}"),
                json!({"size": size}),
            )?;
        }
        state.store.put(
            tables::MANIFESTS,
            &format!("{registry}/{repo}/{manifest}"),
            json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": SAMPLE_MANIFEST.len(), "subject": null, "artifactType": null, "annotations": null}),
        )?;
        state.store.put(tables::TAGS, &format!("{registry}/{repo}/latest"), json!({"digest": manifest, "createdTime": "2026-01-01T00:00:00Z", "lastUpdateTime": "2026-01-01T00:00:00Z"}))?;
    }
    Ok(())
}
