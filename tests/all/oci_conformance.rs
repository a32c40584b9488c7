//! An OCI distribution-spec conformance-style suite (pull, push, content
//! discovery, content management) against an emulated registry, through the
//! transparent proxy with the admin user's Basic credentials.

use crate::harness::{Emulator, SUBSCRIPTION};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn digest(b: &[u8]) -> String {
    format!(
        "sha256:{}",
        Sha256::digest(b)
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect::<String>()
    )
}

struct Reg {
    em: Emulator,
    http: reqwest::Client,
    host: String,
    user: String,
    pass: String,
}

impl Reg {
    async fn new(name: &str) -> Reg {
        Self::new_with(name, &[]).await
    }

    async fn new_with(name: &str, args: &[&str]) -> Reg {
        let em = Emulator::start_with(args);
        let owner = em.arm_token().await;
        let rg = format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/conf");
        em.arm(
            &owner,
            Method::PUT,
            &format!("{rg}?api-version=2024-07-01"),
            Some(json!({"location": "eastus"})),
        )
        .await;
        let id = format!("{rg}/providers/Microsoft.ContainerRegistry/registries/{name}");
        em.arm(&owner, Method::PUT, &format!("{id}?api-version=2023-07-01"), Some(json!({"location": "eastus", "sku": {"name": "Standard"}, "properties": {"adminUserEnabled": true}}))).await;
        let (_, c) = em
            .arm(
                &owner,
                Method::POST,
                &format!("{id}/listCredentials?api-version=2023-07-01"),
                None,
            )
            .await;
        let http = em.proxied();
        Reg {
            host: format!("{name}.azurecr.io"),
            user: c["username"].as_str().unwrap().into(),
            pass: c["passwords"][0]["value"].as_str().unwrap().into(),
            http,
            em,
        }
    }

    fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let url = if path.starts_with("https://") {
            path.to_string()
        } else {
            format!("https://{}{path}", self.host)
        };
        self.http
            .request(method, url)
            .basic_auth(&self.user, Some(&self.pass))
    }

    async fn push_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let d = digest(bytes);
        let r = self
            .req(
                Method::POST,
                &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
            )
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        d
    }

    async fn push_image(&self, repo: &str, tag: &str, layer: &[u8]) -> (String, Vec<u8>) {
        let l = self.push_blob(repo, layer).await;
        let config = br#"{"architecture":"amd64","os":"linux"}"#;
        let c = self.push_blob(repo, config).await;
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": c, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": l, "size": layer.len()}],
        }))
        .unwrap();
        let r = self
            .req(Method::PUT, &format!("/v2/{repo}/manifests/{tag}"))
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(manifest.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(
            r.headers()["docker-content-digest"],
            digest(&manifest).as_str()
        );
        (digest(&manifest), manifest)
    }
}

async fn errors_code(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    (
        status,
        v["errors"][0]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

#[tokio::test]
async fn pull() {
    pull_flow(Reg::new("confpull01").await).await;
}

#[tokio::test]
async fn pull_and_push_with_blobs_in_memory() {
    pull_flow(Reg::new_with("confmem01", &["--blob-store", "memory"]).await).await;
    push_flow(Reg::new_with("confmem02", &["--blob-store", "memory"]).await).await;
    let blobs = std::fs::read_dir(
        Reg::new_with("confmem03", &["--blob-store", "memory"])
            .await
            .em
            .data_dir(),
    )
    .unwrap()
    .filter_map(Result::ok)
    .any(|e| e.file_name() == "registry");
    assert!(!blobs, "memory mode writes no registry directory");
}

async fn pull_flow(reg: Reg) {
    let layer = b"layer bytes for the pull workflow".to_vec();
    let (md, manifest) = reg.push_image("pull/app", "v1", &layer).await;
    for reference in ["v1", md.as_str()] {
        let r = reg
            .req(Method::GET, &format!("/v2/pull/app/manifests/{reference}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers()["content-type"],
            "application/vnd.oci.image.manifest.v1+json"
        );
        assert_eq!(r.headers()["docker-content-digest"], md.as_str());
        assert_eq!(r.bytes().await.unwrap().to_vec(), manifest);
        let h = reg
            .req(Method::HEAD, &format!("/v2/pull/app/manifests/{reference}"))
            .send()
            .await
            .unwrap();
        assert_eq!(h.status(), 200);
        assert_eq!(
            h.headers()["content-length"],
            manifest.len().to_string().as_str()
        );
    }
    let ld = digest(&layer);
    let r = reg
        .req(Method::GET, &format!("/v2/pull/app/blobs/{ld}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().to_vec(), layer);
    let r = reg
        .req(Method::GET, &format!("/v2/pull/app/blobs/{ld}"))
        .header("range", "bytes=6-10")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 6-10/{}", layer.len()).as_str()
    );
    assert_eq!(r.bytes().await.unwrap().to_vec(), layer[6..=10].to_vec());
    let r = reg
        .req(Method::GET, &format!("/v2/pull/app/blobs/{ld}"))
        .header("range", "bytes=999-")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 416);
    // Unknowns.
    assert_eq!(
        errors_code(
            reg.req(Method::GET, "/v2/pull/app/manifests/nope")
                .send()
                .await
                .unwrap()
        )
        .await,
        (404, "MANIFEST_UNKNOWN".into())
    );
    let missing = digest(b"missing");
    assert_eq!(
        errors_code(
            reg.req(Method::GET, &format!("/v2/pull/app/blobs/{missing}"))
                .send()
                .await
                .unwrap()
        )
        .await,
        (404, "BLOB_UNKNOWN".into())
    );
    assert_eq!(
        errors_code(
            reg.req(Method::GET, "/v2/Bad_Name/manifests/v1")
                .send()
                .await
                .unwrap()
        )
        .await,
        (400, "NAME_INVALID".into())
    );
    // A blob pushed to one repository is not visible from another.
    assert_eq!(
        errors_code(
            reg.req(Method::GET, &format!("/v2/other/blobs/{ld}"))
                .send()
                .await
                .unwrap()
        )
        .await
        .1,
        "BLOB_UNKNOWN"
    );
}

#[tokio::test]
async fn push() {
    push_flow(Reg::new("confpush01").await).await;
}

async fn push_flow(reg: Reg) {
    // Chunked.
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
    let d = digest(&data);
    let r = reg
        .req(Method::POST, "/v2/push/app/blobs/uploads/")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let mut location = r.headers()["location"].to_str().unwrap().to_string();
    let mut offset = 0;
    for chunk in data.chunks(40_000) {
        let r = reg
            .req(Method::PATCH, &location)
            .header("content-type", "application/octet-stream")
            .header(
                "content-range",
                format!("{}-{}", offset, offset + chunk.len() - 1),
            )
            .body(chunk.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        offset += chunk.len();
        assert_eq!(r.headers()["range"], format!("0-{}", offset - 1).as_str());
        location = r.headers()["location"].to_str().unwrap().to_string();
    }
    // Out of order → 416.
    let r = reg
        .req(Method::PATCH, &location)
        .header("content-range", "5-9")
        .body(vec![0u8; 5])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 416);
    let r = reg.req(Method::GET, &location).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let r = reg
        .req(Method::PUT, &format!("{location}?digest={d}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["docker-content-digest"], d.as_str());
    // Streamed (PATCH without Content-Range), then PUT with the rest.
    let r = reg
        .req(Method::POST, "/v2/push/streamed/blobs/uploads/")
        .send()
        .await
        .unwrap();
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    reg.req(Method::PATCH, &loc)
        .body(data[..70_000].to_vec())
        .send()
        .await
        .unwrap();
    let r = reg
        .req(Method::PUT, &format!("{loc}?digest={d}"))
        .body(data[70_000..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // Cross-repository mount.
    let r = reg
        .req(
            Method::POST,
            &format!("/v2/push/mounted/blobs/uploads/?mount={d}&from=push/app"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(
        reg.req(Method::HEAD, &format!("/v2/push/mounted/blobs/{d}"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // A manifest naming a blob the repository lacks.
    let bad = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(b"nope"), "size": 4}, "layers": []})).unwrap();
    let r = reg
        .req(Method::PUT, "/v2/push/app/manifests/bad")
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(bad)
        .send()
        .await
        .unwrap();
    assert_eq!(errors_code(r).await, (400, "MANIFEST_BLOB_UNKNOWN".into()));
    let r = reg
        .req(Method::PUT, "/v2/push/app/manifests/bad")
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(errors_code(r).await, (400, "MANIFEST_INVALID".into()));
}

#[tokio::test]
async fn digest_mismatch_stores_nothing() {
    let reg = Reg::new("confdigest01").await;
    // Every blob file on disk (the public registries' sample image is there from the start).
    let blob_files = || -> usize {
        std::fs::read_dir(reg.em.data_dir().join("registry/blobs/sha256"))
            .unwrap()
            .map(|d| std::fs::read_dir(d.unwrap().path()).unwrap().count())
            .sum()
    };
    let before = blob_files();
    let claimed = digest(b"what I claim");
    let r = reg
        .req(
            Method::POST,
            &format!("/v2/app/blobs/uploads/?digest={claimed}"),
        )
        .body(b"what I send".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(errors_code(r).await, (400, "DIGEST_INVALID".into()));
    assert_eq!(
        reg.req(Method::HEAD, &format!("/v2/app/blobs/{claimed}"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let actual = digest(b"what I send");
    assert_eq!(
        reg.req(Method::HEAD, &format!("/v2/app/blobs/{actual}"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(blob_files(), before, "nothing stored");
    let uploads = std::fs::read_dir(reg.em.data_dir().join("registry/uploads"))
        .unwrap()
        .count();
    assert_eq!(uploads, 0, "no upload left behind");
}

/// POST, then PATCH for each chunk (with its Content-Range); the upload's location.
async fn chunked(reg: &Reg, repo: &str, chunks: &[&[u8]]) -> String {
    let r = reg
        .req(Method::POST, &format!("/v2/{repo}/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let mut loc = r.headers()["location"].to_str().unwrap().to_string();
    let mut offset = 0;
    for c in chunks {
        let r = reg
            .req(Method::PATCH, &loc)
            .header(
                "content-range",
                format!("{offset}-{}", (offset + c.len()).saturating_sub(1)),
            )
            .body(c.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        offset += c.len();
        assert_eq!(
            r.headers()["range"].to_str().unwrap(),
            format!("0-{}", offset - 1)
        );
        loc = r.headers()["location"].to_str().unwrap().to_string();
    }
    loc
}

/// The answer to a closing `PUT ?digest=` carrying `last`: status and body.
async fn close(reg: &Reg, loc: &str, digest: &str, last: &[u8]) -> (u16, Value) {
    Emulator::answer(
        reg.req(Method::PUT, &format!("{loc}?digest={digest}"))
            .body(last.to_vec()),
    )
    .await
}

/// A chunked upload is hashed as it streams: a wrong digest is refused as
/// before (400 DIGEST_INVALID naming what the content hashes to, nothing
/// stored, the session gone), the right one commits and reads back whole.
#[tokio::test]
async fn chunked_upload_digest_is_checked() {
    let reg = Reg::new("confchunk01").await;
    let chunks: [&[u8]; 3] = [&[7u8; 1_500_000], b"middle", &[9u8; 2_100_000]];
    let last = b"and the end".as_slice();
    let whole = [chunks.concat(), last.to_vec()].concat();
    let right = digest(&whole);

    let loc = chunked(&reg, "chunks/app", &chunks).await;
    let wrong = digest(b"not what was sent");
    assert_eq!(
        close(&reg, &loc, &wrong, last).await,
        (
            400,
            json!({"errors": [{"code": "DIGEST_INVALID", "message": format!("provided digest did not match uploaded content: content hashes to {right}")}]})
        )
    );
    for d in [&wrong, &right] {
        let r = reg
            .req(Method::HEAD, &format!("/v2/chunks/app/blobs/{d}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "nothing stored under {d}");
    }
    let r = reg.req(Method::GET, &loc).send().await.unwrap();
    assert_eq!(errors_code(r).await, (404, "BLOB_UPLOAD_UNKNOWN".into()));

    let loc = chunked(&reg, "chunks/app", &chunks).await;
    let r = reg
        .req(Method::PUT, &format!("{loc}?digest={right}"))
        .body(last.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["docker-content-digest"], right.as_str());
    assert_eq!(
        r.headers()["location"],
        format!("/v2/chunks/app/blobs/{right}").as_str()
    );
    let r = reg
        .req(Method::GET, &format!("/v2/chunks/app/blobs/{right}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), whole);
    let r = reg
        .req(Method::GET, &format!("/v2/chunks/app/blobs/{right}"))
        .header("range", "bytes=1499999-1500006")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().await.unwrap(), &whole[1_499_999..=1_500_006]);
}

/// An upload session outlives a restart (its row and bytes are on disk, its
/// running digest was not): it goes on, and its bytes are hashed once at commit.
#[tokio::test]
async fn chunked_upload_goes_on_after_a_restart() {
    let reg = Reg::new("confchunk02").await;
    let first: &[u8] = &[3u8; 700_000];
    let whole = [first, b"after the restart"].concat();
    let loc_wrong = chunked(&reg, "app", &[first]).await;
    let loc_right = chunked(&reg, "app", &[first]).await;
    let Reg {
        em,
        host,
        user,
        pass,
        ..
    } = reg;
    let (_, dir) = em.terminate();
    let em = Emulator::start_in(dir, &[]);
    let reg = Reg {
        http: em.proxied(),
        em,
        host,
        user,
        pass,
    };
    let r = reg.req(Method::GET, &loc_right).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        r.headers()["range"],
        format!("0-{}", first.len() - 1).as_str()
    );
    let wrong = digest(b"not it");
    assert_eq!(
        close(&reg, &loc_wrong, &wrong, b"after the restart").await,
        (
            400,
            json!({"errors": [{"code": "DIGEST_INVALID", "message": format!("provided digest did not match uploaded content: content hashes to {}", digest(&whole))}]})
        )
    );
    let right = digest(&whole);
    assert_eq!(
        close(&reg, &loc_right, &right, b"after the restart")
            .await
            .0,
        201
    );
    let r = reg
        .req(Method::GET, &format!("/v2/app/blobs/{right}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap(), whole);
}

#[tokio::test]
async fn sixteen_concurrent_pushes_of_one_blob_store_it_once() {
    let reg = std::sync::Arc::new(Reg::new("confrace01").await);
    let data: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(7) % 251) as u8)
        .collect();
    let d = digest(&data);
    let mut tasks = Vec::new();
    for i in 0..16 {
        let reg = reg.clone();
        let data = data.clone();
        tasks.push(tokio::spawn(async move {
            let r = reg
                .req(Method::POST, &format!("/v2/race/r{i}/blobs/uploads/"))
                .send()
                .await
                .unwrap();
            let loc = r.headers()["location"].to_str().unwrap().to_string();
            let d = digest(&data);
            reg.req(Method::PUT, &format!("{loc}?digest={d}"))
                .body(data)
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 201);
    }
    let hex = d.trim_start_matches("sha256:");
    let path = reg
        .em
        .data_dir()
        .join("registry/blobs/sha256")
        .join(&hex[..2]);
    let files: Vec<_> = std::fs::read_dir(&path)
        .unwrap()
        .map(|e| e.unwrap().path())
        // Other blobs may share the two-hex directory; this one's name is its digest.
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&hex[..8])
        })
        .collect();
    assert_eq!(files.len(), 1, "one file for the blob: {files:?}");
    assert_eq!(std::fs::read(&files[0]).unwrap(), data, "stored intact");
    for i in 0..16 {
        let r = reg
            .req(Method::GET, &format!("/v2/race/r{i}/blobs/{d}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.bytes().await.unwrap().len(), data.len());
    }
}

#[tokio::test]
async fn content_discovery() {
    let reg = Reg::new("confdisc01").await;
    let (md, _) = reg.push_image("disc/app", "v1", b"one").await;
    for t in ["v2", "v3", "latest"] {
        reg.push_image("disc/app", t, b"one").await;
    }
    reg.push_image("disc/other", "v1", b"two").await;
    let r = reg
        .req(Method::GET, "/v2/disc/app/tags/list")
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v,
        json!({"name": "disc/app", "tags": ["latest", "v1", "v2", "v3"]})
    );
    let r = reg
        .req(Method::GET, "/v2/disc/app/tags/list?n=2")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["link"],
        "</v2/disc/app/tags/list?n=2&last=v1>; rel=\"next\""
    );
    assert_eq!(
        r.json::<Value>().await.unwrap()["tags"],
        json!(["latest", "v1"])
    );
    let r = reg
        .req(Method::GET, "/v2/disc/app/tags/list?n=2&last=v1")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap()["tags"],
        json!(["v2", "v3"])
    );
    let cat: Value = reg
        .req(Method::GET, "/v2/_catalog")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cat["repositories"], json!(["disc/app", "disc/other"]));

    // Referrers: an artifact whose subject is the image.
    let config = b"{}";
    let c = reg.push_blob("disc/app", config).await;
    let sig = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "artifactType": "application/vnd.example.sbom",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": c, "size": 2}, "layers": [],
        "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": 1},
    }))
    .unwrap();
    let r = reg
        .req(
            Method::PUT,
            &format!("/v2/disc/app/manifests/{}", digest(&sig)),
        )
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(sig.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["oci-subject"], md.as_str());
    let idx: Value = reg
        .req(Method::GET, &format!("/v2/disc/app/referrers/{md}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(idx["manifests"][0]["digest"], digest(&sig).as_str());
    assert_eq!(
        idx["manifests"][0]["artifactType"],
        "application/vnd.example.sbom"
    );
    let r = reg
        .req(
            Method::GET,
            &format!("/v2/disc/app/referrers/{md}?artifactType=other"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["oci-filters-applied"], "artifactType");
    assert_eq!(r.json::<Value>().await.unwrap()["manifests"], json!([]));
}

#[tokio::test]
async fn content_management() {
    let reg = Reg::new("confmgmt01").await;
    let (md, _) = reg.push_image("mgmt/app", "v1", b"layer").await;
    reg.push_image("mgmt/app", "v2", b"layer").await;
    // ACR refuses DELETE by tag (live opencontainers/oci-conformance run against ACR, June 2024).
    let r = reg
        .req(Method::DELETE, "/v2/mgmt/app/manifests/v2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["errors"][0],
        json!({"code": "UNSUPPORTED", "message": "A manifest can only be deleted by digest."})
    );
    assert_eq!(
        reg.req(Method::GET, "/v2/mgmt/app/manifests/v2")
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "the tag is still there"
    );
    // An index naming a manifest the repository lacks.
    let index = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest(b"absent"), "size": 6}]})).unwrap();
    let r = reg
        .req(Method::PUT, "/v2/mgmt/app/manifests/idx")
        .header("content-type", "application/vnd.oci.image.index.v1+json")
        .body(index)
        .send()
        .await
        .unwrap();
    assert_eq!(errors_code(r).await, (400, "MANIFEST_BLOB_UNKNOWN".into()));
    // Delete by digest: the manifest and its tags go.
    assert_eq!(
        reg.req(Method::DELETE, &format!("/v2/mgmt/app/manifests/{md}"))
            .send()
            .await
            .unwrap()
            .status(),
        202
    );
    assert_eq!(
        reg.req(Method::GET, &format!("/v2/mgmt/app/manifests/{md}"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        reg.req(Method::GET, "/v2/mgmt/app/manifests/v2")
            .send()
            .await
            .unwrap()
            .status(),
        404,
        "its tags go too"
    );
    assert_eq!(
        reg.req(Method::GET, "/v2/mgmt/app/manifests/v1")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    // Blobs.
    let ld = digest(b"layer");
    assert_eq!(
        reg.req(Method::DELETE, &format!("/v2/mgmt/app/blobs/{ld}"))
            .send()
            .await
            .unwrap()
            .status(),
        202
    );
    assert_eq!(
        reg.req(Method::GET, &format!("/v2/mgmt/app/blobs/{ld}"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}
