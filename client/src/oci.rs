//! An OCI distribution client with ACR's authentication: push an image (an
//! OCI image layout directory, or what `docker save` writes) and pull one into
//! an OCI layout, blobs streamed to disk and checked against their digests,
//! through the same flow Docker and az use (challenge → `/oauth2/exchange` →
//! `/oauth2/token`), or with Basic credentials (admin user, repository token).

use crate::Error;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::Path;

/// How to log in to the registry.
#[derive(Clone)]
pub enum RegistryAuth {
    /// Admin user or repository token (`GET /oauth2/token` with Basic auth).
    Basic { username: String, password: String },
    /// An Entra access token (ARM or `https://containerregistry.azure.net`), exchanged for an ACR refresh token.
    Entra {
        access_token: String,
        tenant: String,
    },
}

pub struct RegistryClient {
    http: reqwest::Client,
    /// `myreg.azurecr.io`
    pub login_server: String,
    auth: RegistryAuth,
    progress: Option<Box<dyn Fn(Progress) + Send + Sync>>,
}

/// What a push has done so far, for a progress display (`RegistryClient::on_progress`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// The image's blobs, before any is sent: how many, and their bytes.
    Planned { blobs: usize, bytes: u64 },
    /// One blob is in the repository: sent now, or there already (`existed`).
    Blob {
        digest: String,
        bytes: u64,
        existed: bool,
    },
}

pub fn sha256_digest(bytes: &[u8]) -> String {
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// The blobs an image manifest names: its layers, then its config.
fn blobs_of(manifest: &Value) -> Vec<&str> {
    let layers = manifest["layers"].as_array().into_iter().flatten();
    let mut blobs: Vec<&str> = layers.filter_map(|l| l["digest"].as_str()).collect();
    blobs.extend(manifest["config"]["digest"].as_str());
    blobs
}

fn protocol(msg: impl Into<String>) -> Error {
    Error::Protocol(msg.into())
}

impl RegistryClient {
    /// `http` must reach `login_server` (through azemu's proxy for `*.azurecr.io`) and trust its CA.
    pub fn new(http: reqwest::Client, login_server: &str, auth: RegistryAuth) -> Self {
        RegistryClient {
            http,
            login_server: login_server.to_ascii_lowercase(),
            auth,
            progress: None,
        }
    }

    /// Report pushes' progress to `f` (the CLI draws a bar with it).
    pub fn on_progress(mut self, f: impl Fn(Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Box::new(f));
        self
    }

    fn report(&self, p: Progress) {
        if let Some(f) = &self.progress {
            f(p);
        }
    }

    fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.login_server)
    }

    /// An ACR access token for `scope` (`repository:app:pull,push`).
    pub async fn access_token(&self, scope: &str) -> Result<String, Error> {
        let service = self.login_server.as_str();
        let resp = match &self.auth {
            RegistryAuth::Basic { username, password } => {
                self.http
                    .get(self.url("/oauth2/token"))
                    .query(&[("service", service), ("scope", scope)])
                    .basic_auth(username, Some(password))
                    .send()
                    .await?
            }
            RegistryAuth::Entra {
                access_token,
                tenant,
            } => {
                let r = self
                    .http
                    .post(self.url("/oauth2/exchange"))
                    .form(&[
                        ("grant_type", "access_token"),
                        ("service", service),
                        ("tenant", tenant),
                        ("access_token", access_token),
                    ])
                    .send()
                    .await?;
                let body: Value = ok_json(r).await?;
                let refresh = body["refresh_token"]
                    .as_str()
                    .ok_or_else(|| protocol("exchange: no refresh_token"))?
                    .to_string();
                self.http
                    .post(self.url("/oauth2/token"))
                    .form(&[
                        ("grant_type", "refresh_token"),
                        ("service", service),
                        ("scope", scope),
                        ("refresh_token", &refresh),
                    ])
                    .send()
                    .await?
            }
        };
        let body: Value = ok_json(resp).await?;
        body["access_token"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| protocol("token: no access_token"))
    }

    /// Upload a blob (monolithic POST + PUT), unless the repository has it already.
    pub async fn push_blob(
        &self,
        token: &str,
        repo: &str,
        bytes: Vec<u8>,
    ) -> Result<String, Error> {
        let digest = sha256_digest(&bytes);
        let done = |existed| Progress::Blob {
            digest: digest.clone(),
            bytes: bytes.len() as u64,
            existed,
        };
        let head = self
            .http
            .head(self.url(&format!("/v2/{repo}/blobs/{digest}")))
            .bearer_auth(token)
            .send()
            .await?;
        if head.status().is_success() {
            self.report(done(true));
            return Ok(digest);
        }
        let start = self
            .http
            .post(self.url(&format!("/v2/{repo}/blobs/uploads/")))
            .bearer_auth(token)
            .send()
            .await?;
        if start.status() != reqwest::StatusCode::ACCEPTED {
            return Err(oci_error(start).await);
        }
        let location = start
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| protocol("upload: no Location"))?
            .to_string();
        let location = if location.starts_with("https://") {
            location
        } else {
            self.url(&location)
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let sent = done(false);
        let put = self
            .http
            .put(format!("{location}{sep}digest={digest}"))
            .bearer_auth(token)
            .header("content-type", "application/octet-stream")
            .body(bytes)
            .send()
            .await?;
        if put.status() != reqwest::StatusCode::CREATED {
            return Err(oci_error(put).await);
        }
        self.report(sent);
        Ok(digest)
    }

    pub async fn put_manifest(
        &self,
        token: &str,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: Vec<u8>,
    ) -> Result<String, Error> {
        let r = self
            .http
            .put(self.url(&format!("/v2/{repo}/manifests/{reference}")))
            .bearer_auth(token)
            .header("content-type", media_type)
            .body(bytes.clone())
            .send()
            .await?;
        if r.status() != reqwest::StatusCode::CREATED {
            return Err(oci_error(r).await);
        }
        Ok(sha256_digest(&bytes))
    }

    /// `(media type, bytes)` of a manifest.
    pub async fn get_manifest(
        &self,
        token: &str,
        repo: &str,
        reference: &str,
    ) -> Result<(String, Vec<u8>), Error> {
        let r = self
            .http
            .get(self.url(&format!("/v2/{repo}/manifests/{reference}")))
            .bearer_auth(token)
            .header(
                "accept",
                "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json",
            )
            .send()
            .await?;
        if !r.status().is_success() {
            return Err(oci_error(r).await);
        }
        let mt = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        Ok((mt, r.bytes().await?.to_vec()))
    }

    /// `GET /v2/<repo>/blobs/<digest>`, refused answers as registry errors.
    async fn blob_response(
        &self,
        token: &str,
        repo: &str,
        digest: &str,
    ) -> Result<reqwest::Response, Error> {
        let r = self
            .http
            .get(self.url(&format!("/v2/{repo}/blobs/{digest}")))
            .bearer_auth(token)
            .send()
            .await?;
        if !r.status().is_success() {
            return Err(oci_error(r).await);
        }
        Ok(r)
    }

    pub async fn get_blob(&self, token: &str, repo: &str, digest: &str) -> Result<Vec<u8>, Error> {
        let r = self.blob_response(token, repo, digest).await?;
        let bytes = r.bytes().await?.to_vec();
        if sha256_digest(&bytes) != digest {
            return Err(protocol(format!(
                "blob {digest}: content does not match its digest"
            )));
        }
        Ok(bytes)
    }

    /// Stream a blob into `file`, hashing as it arrives: a blob whose bytes do
    /// not match its digest is an error and the file is removed. Its size.
    pub async fn download_blob(
        &self,
        token: &str,
        repo: &str,
        digest: &str,
        file: &Path,
    ) -> Result<u64, Error> {
        use std::io::Write;
        let mut r = self.blob_response(token, repo, digest).await?;
        let io = |e: std::io::Error| protocol(format!("{}: {e}", file.display()));
        let mut out = std::fs::File::create(file).map_err(io)?;
        let mut hash = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = r.chunk().await? {
            hash.update(&chunk);
            size += chunk.len() as u64;
            out.write_all(&chunk).map_err(io)?;
        }
        out.sync_all().map_err(io)?;
        let got: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
        if format!("sha256:{got}") != digest {
            let _ = std::fs::remove_file(file);
            return Err(protocol(format!(
                "blob {digest}: content does not match its digest"
            )));
        }
        Ok(size)
    }

    /// Pull `repo:reference` into an OCI image layout directory `dir` (created):
    /// `oci-layout`, `index.json` naming the manifest, and every blob, each
    /// checked against its digest. The manifest digest.
    pub async fn pull_oci_layout(
        &self,
        repo: &str,
        reference: &str,
        dir: &Path,
    ) -> Result<String, Error> {
        let io = |e: std::io::Error| protocol(format!("{}: {e}", dir.display()));
        let token = self
            .access_token(&format!("repository:{repo}:pull"))
            .await?;
        let (media_type, manifest_bytes) = self.get_manifest(&token, repo, reference).await?;
        let manifest_digest = sha256_digest(&manifest_bytes);
        if reference.starts_with("sha256:") && reference != manifest_digest {
            return Err(protocol(format!(
                "manifest {reference}: content does not match its digest"
            )));
        }
        let manifest: Value = serde_json::from_slice(&manifest_bytes)
            .map_err(|e| protocol(format!("manifest: {e}")))?;
        let blobs_dir = dir.join("blobs").join("sha256");
        std::fs::create_dir_all(&blobs_dir).map_err(io)?;
        let path_of = |digest: &str| {
            digest
                .strip_prefix("sha256:")
                .filter(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
                .map(|hex| blobs_dir.join(hex))
                .ok_or_else(|| protocol(format!("not a sha256 digest: {digest}")))
        };
        for d in blobs_of(&manifest) {
            self.download_blob(&token, repo, d, &path_of(d)?).await?;
        }
        std::fs::write(path_of(&manifest_digest)?, &manifest_bytes).map_err(io)?;
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(io)?;
        let index = serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": media_type,
                "digest": manifest_digest,
                "size": manifest_bytes.len(),
                "annotations": {"org.opencontainers.image.ref.name": reference},
            }],
        });
        std::fs::write(dir.join("index.json"), index.to_string()).map_err(io)?;
        Ok(manifest_digest)
    }

    /// Push the image an OCI image layout directory holds (its first manifest in
    /// `index.json`) as `repo:tag`. Returns the manifest digest.
    pub async fn push_oci_layout(
        &self,
        dir: &Path,
        repo: &str,
        tag: &str,
    ) -> Result<String, Error> {
        let read =
            |p: &Path| std::fs::read(p).map_err(|e| protocol(format!("{}: {e}", p.display())));
        let blob_path = |digest: &str| -> Result<std::path::PathBuf, Error> {
            let (alg, hex) = digest
                .split_once(':')
                .ok_or_else(|| protocol(format!("bad digest {digest}")))?;
            Ok(dir.join("blobs").join(alg).join(hex))
        };
        let index: Value = serde_json::from_slice(&read(&dir.join("index.json"))?)
            .map_err(|e| protocol(format!("index.json: {e}")))?;
        let desc = index["manifests"]
            .get(0)
            .ok_or_else(|| protocol("index.json lists no manifests"))?;
        let manifest_digest = desc["digest"]
            .as_str()
            .ok_or_else(|| protocol("index.json: no digest"))?;
        let media_type = desc["mediaType"]
            .as_str()
            .unwrap_or("application/vnd.oci.image.manifest.v1+json")
            .to_string();
        let manifest_bytes = read(&blob_path(manifest_digest)?)?;
        let manifest: Value = serde_json::from_slice(&manifest_bytes)
            .map_err(|e| protocol(format!("manifest: {e}")))?;
        let token = self
            .access_token(&format!("repository:{repo}:pull,push"))
            .await?;
        let mut paths = Vec::new();
        for d in blobs_of(&manifest) {
            paths.push((d, blob_path(d)?));
        }
        self.plan(paths.iter().map(|(_, p)| p.as_path()));
        for (d, path) in paths {
            let bytes = read(&path)?;
            let pushed = self.push_blob(&token, repo, bytes).await?;
            if pushed != d {
                return Err(protocol(format!(
                    "blob {d} in the layout does not match its digest"
                )));
            }
        }
        self.put_manifest(&token, repo, tag, &media_type, manifest_bytes)
            .await
    }
}

impl RegistryClient {
    /// Report the blobs a push will send (files; a missing one counts 0 and fails later).
    fn plan<'p>(&self, files: impl Iterator<Item = &'p Path>) {
        let sizes: Vec<u64> = files
            .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
            .collect();
        self.report(Progress::Planned {
            blobs: sizes.len(),
            bytes: sizes.iter().sum(),
        });
    }

    /// Push what `docker save` writes (`manifest.json` with `Config` and
    /// `Layers`, unpacked into `dir`) as a Docker v2 schema 2 image `repo:tag`.
    pub async fn push_docker_archive(
        &self,
        dir: &Path,
        repo: &str,
        tag: &str,
    ) -> Result<String, Error> {
        let read =
            |p: &Path| std::fs::read(p).map_err(|e| protocol(format!("{}: {e}", p.display())));
        let list: Value = serde_json::from_slice(&read(&dir.join("manifest.json"))?)
            .map_err(|e| protocol(format!("manifest.json: {e}")))?;
        let entry = list
            .get(0)
            .ok_or_else(|| protocol("manifest.json lists no image"))?;
        let token = self
            .access_token(&format!("repository:{repo}:pull,push"))
            .await?;
        let config_path = dir.join(
            entry["Config"]
                .as_str()
                .ok_or_else(|| protocol("manifest.json: no Config"))?,
        );
        let layer_paths: Vec<std::path::PathBuf> = entry["Layers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|l| dir.join(l))
            .collect();
        self.plan(
            std::iter::once(config_path.as_path()).chain(layer_paths.iter().map(|p| p.as_path())),
        );
        let config_bytes = read(&config_path)?;
        let config_len = config_bytes.len();
        let config = self.push_blob(&token, repo, config_bytes).await?;
        let mut layers = Vec::new();
        for l in &layer_paths {
            let bytes = read(l)?;
            let size = bytes.len();
            let digest = self.push_blob(&token, repo, bytes).await?;
            layers.push(serde_json::json!({"mediaType": "application/vnd.docker.image.rootfs.diff.tar", "size": size, "digest": digest}));
        }
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": config_len, "digest": config},
            "layers": layers,
        });
        let bytes = serde_json::to_vec(&manifest).map_err(|e| protocol(e.to_string()))?;
        self.put_manifest(
            &token,
            repo,
            tag,
            "application/vnd.docker.distribution.manifest.v2+json",
            bytes,
        )
        .await
    }
}

async fn ok_json(r: reqwest::Response) -> Result<Value, Error> {
    if !r.status().is_success() {
        return Err(oci_error(r).await);
    }
    r.json().await.map_err(Error::from)
}

/// `{"errors":[{code,message}]}` → [`Error::Registry`].
async fn oci_error(r: reqwest::Response) -> Error {
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    Error::Registry {
        status,
        code: body["errors"][0]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        message: body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    }
}
