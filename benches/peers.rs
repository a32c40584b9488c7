//! azemu side by side with its peers, on the same machine in one run:
//!
//! - start-up to the first answered request: azemu (warm data dir) vs Azurite
//!   (npm), moto's server (PyPI) and the reference distribution registry
//!   (Debian's docker-registry);
//! - registry: push and pull of a 256 MiB blob, push and pull of 1,000 small
//!   images, and manifest GETs per second (1 and 16 connections) — azemu with
//!   ACR's auth (bearer token from its token service, TLS, the proxy) vs
//!   docker-registry (plain HTTP, no auth), with the same client code and data.
//!
//! Peers are found through `AZEMU_BENCH_AZURITE` (azurite-blob), `AZEMU_BENCH_MOTO`
//! (moto_server) and `AZEMU_BENCH_REGISTRY` (docker-registry); `bench/run`
//! installs them and sets these. A peer not found is skipped with a note.
//! `cargo bench --bench peers`. Prints figures and ratios; asserts nothing about speed.

mod common;

use common::spawn;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn peer(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|p| Path::new(p).exists())
}

/// Spawn a peer on `port` and poll `url` until anything answers; the time from
/// spawn, and the child, which the caller stops (`stop`).
#[allow(clippy::zombie_processes)]
async fn time_to_answer(mut cmd: Command, url: &str) -> (Duration, Child) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let t = Instant::now();
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn peer");
    loop {
        if http.get(url).send().await.is_ok() {
            return (t.elapsed(), child);
        }
        if t.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{url} never answered");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// How to start a peer in a directory on a port, and the URL that answers once it is up.
type PeerCommand = Box<dyn Fn(&Path, u16) -> (Command, String)>;

fn stop(mut c: Child) {
    let _ = c.kill();
    let _ = c.wait();
}

async fn startup(runs: usize) -> Vec<(&'static str, Duration)> {
    let mut out = Vec::new();
    // azemu: spawn → the first 200 on /_emulator/health over HTTPS, warm data dir.
    out.push((
        "azemu (warm data dir)",
        median(common::startup(false, runs).await),
    ));

    let peers: Vec<(&str, &str, PeerCommand)> = vec![
        (
            "Azurite (blob)",
            "AZEMU_BENCH_AZURITE",
            Box::new(|d: &Path, p: u16| {
                let mut c = Command::new(peer("AZEMU_BENCH_AZURITE").unwrap());
                c.args([
                    "--silent",
                    "--skipApiVersionCheck",
                    "--blobHost",
                    "127.0.0.1",
                    "--blobPort",
                ])
                .arg(p.to_string())
                .arg("--location")
                .arg(d);
                (
                    c,
                    format!("http://127.0.0.1:{p}/devstoreaccount1?comp=list"),
                )
            }),
        ),
        (
            "moto server",
            "AZEMU_BENCH_MOTO",
            Box::new(|_: &Path, p: u16| {
                let mut c = Command::new(peer("AZEMU_BENCH_MOTO").unwrap());
                c.args(["-H", "127.0.0.1", "-p"]).arg(p.to_string());
                (c, format!("http://127.0.0.1:{p}/moto-api/"))
            }),
        ),
        (
            "docker-registry",
            "AZEMU_BENCH_REGISTRY",
            Box::new(|d: &Path, p: u16| registry_cmd(d, p)),
        ),
    ];
    for (name, var, make) in peers {
        if peer(var).is_none() {
            println!("  ({name}: not found; set {var})");
            continue;
        }
        let mut samples = Vec::new();
        for _ in 0..runs {
            let d = tempfile::tempdir().unwrap();
            let (cmd, url) = make(d.path(), free_port());
            let (t, c) = time_to_answer(cmd, &url).await;
            samples.push(t);
            stop(c);
        }
        out.push((name, median(samples)));
    }
    out
}

fn registry_cmd(dir: &Path, port: u16) -> (Command, String) {
    let config = dir.join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    let mut c = Command::new(peer("AZEMU_BENCH_REGISTRY").unwrap());
    c.arg("serve").arg(&config);
    (c, format!("http://127.0.0.1:{port}/v2/"))
}

use azemu_client::oci::sha256_digest as digest;

/// One registry, as the benchmark's client sees it.
struct Target {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Target {
    fn req(&self, m: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(m, format!("{}{path}", self.base));
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    /// Monolithic upload: POST for a session, PUT with the digest.
    async fn push_blob(&self, repo: &str, blob: Vec<u8>) -> String {
        let d = digest(&blob);
        let r = self
            .req(reqwest::Method::POST, &format!("/v2/{repo}/blobs/uploads/"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
        let loc = r.headers()["location"].to_str().unwrap().to_string();
        let url = if loc.starts_with("http") {
            loc
        } else {
            format!("{}{loc}", self.base)
        };
        let sep = if url.contains('?') { '&' } else { '?' };
        let mut put = self
            .http
            .put(format!("{url}{sep}digest={d}"))
            .header("content-type", "application/octet-stream")
            .body(blob);
        if let Some(t) = &self.token {
            put = put.bearer_auth(t);
        }
        let r = put.send().await.unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
        d
    }

    async fn get(&self, path: &str) -> Vec<u8> {
        let r = self
            .req(reqwest::Method::GET, path)
            .header("accept", "application/vnd.oci.image.manifest.v1+json")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        r.bytes().await.unwrap().to_vec()
    }

    async fn put_manifest(&self, repo: &str, tag: &str, config: &str, layers: &[(String, usize)]) {
        let m = serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
            "layers": layers.iter().map(|(d, s)| serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": s})).collect::<Vec<_>>(),
        });
        let r = self
            .req(reqwest::Method::PUT, &format!("/v2/{repo}/manifests/{tag}"))
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(serde_json::to_vec(&m).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    }
}

/// The registry figures for one target: (name, seconds) pairs.
async fn registry_figures(
    t: &Target,
    big: usize,
    images: usize,
    gets: usize,
) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    let blob: Vec<u8> = (0..big).map(|i| (i * 31 % 251) as u8).collect();
    let clock = Instant::now();
    let d = t.push_blob("big", blob).await;
    out.push((
        format!("push {} MiB blob", big >> 20),
        clock.elapsed().as_secs_f64(),
    ));
    let clock = Instant::now();
    let back = t.get(&format!("/v2/big/blobs/{d}")).await;
    assert_eq!(digest(&back), d);
    out.push((
        format!("pull {} MiB blob (digest checked)", big >> 20),
        clock.elapsed().as_secs_f64(),
    ));

    let config = t.push_blob("small", b"{}".to_vec()).await;
    let clock = Instant::now();
    for i in 0..images {
        let layer = format!("layer {i}").into_bytes();
        let n = layer.len();
        let ld = t.push_blob("small", layer).await;
        t.put_manifest("small", &format!("v{i}"), &config, &[(ld, n)])
            .await;
    }
    out.push((
        format!("push {images} small images"),
        clock.elapsed().as_secs_f64(),
    ));
    let clock = Instant::now();
    for i in 0..images {
        let m: serde_json::Value =
            serde_json::from_slice(&t.get(&format!("/v2/small/manifests/v{i}")).await).unwrap();
        let ld = m["layers"][0]["digest"].as_str().unwrap();
        t.get(&format!("/v2/small/blobs/{ld}")).await;
    }
    out.push((
        format!("pull {images} small images"),
        clock.elapsed().as_secs_f64(),
    ));

    let clock = Instant::now();
    for _ in 0..gets {
        t.get("/v2/small/manifests/v0").await;
    }
    out.push((
        format!("{gets} manifest GETs, 1 connection"),
        clock.elapsed().as_secs_f64(),
    ));
    let clock = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (http, base, token) = (t.http.clone(), t.base.clone(), t.token.clone());
        tasks.push(tokio::spawn(async move {
            let t = Target { http, base, token };
            for _ in 0..gets / 16 {
                t.get("/v2/small/manifests/v0").await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    out.push((
        format!("{gets} manifest GETs, 16 connections"),
        clock.elapsed().as_secs_f64(),
    ));
    out
}

#[tokio::main]
async fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let (runs, big, images, gets) = if quick {
        (2, 1 << 20, 20, 64)
    } else {
        (5, 256 << 20, 1000, 4096)
    };

    println!("start-up to the first answered request (median of {runs}):");
    let s = startup(runs).await;
    let azemu = s[0].1;
    for (name, d) in &s {
        println!(
            "  {name:<24} {:>8.1} ms   ({:.1}× azemu's)",
            d.as_secs_f64() * 1e3,
            d.as_secs_f64() / azemu.as_secs_f64()
        );
    }

    // azemu with ACR's auth.
    let dir = tempfile::tempdir().unwrap();
    let (child, port) = spawn(dir.path());
    let ca = std::fs::read(dir.path().join("ca.pem")).unwrap();
    let direct = common::client(dir.path());
    let arm = common::token(&direct, &format!("https://localhost:{port}")).await;
    let rg = format!(
        "https://localhost:{port}/subscriptions/{}/resourceGroups/peers",
        common::SUB
    );
    for (url, body) in [
        (
            format!("{rg}?api-version=2024-07-01"),
            serde_json::json!({"location": "eastus"}),
        ),
        (
            format!(
                "{rg}/providers/Microsoft.ContainerRegistry/registries/peerbench?api-version=2023-07-01"
            ),
            serde_json::json!({"location": "eastus", "sku": {"name": "Premium"}}),
        ),
    ] {
        let r = direct
            .put(url)
            .bearer_auth(&arm)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    let proxied = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .proxy(reqwest::Proxy::https(format!("http://localhost:{port}")).unwrap())
        .pool_max_idle_per_host(32)
        .build()
        .unwrap();
    let client = azemu_client::oci::RegistryClient::new(
        proxied.clone(),
        "peerbench.azurecr.io",
        azemu_client::oci::RegistryAuth::Entra {
            access_token: arm,
            tenant: "a2e0a2e0-0000-4000-8000-000000000001".into(),
        },
    );
    let token = client
        .access_token("repository:big:pull,push repository:small:pull,push")
        .await
        .unwrap();
    let ours = Target {
        http: proxied,
        base: "https://peerbench.azurecr.io".into(),
        token: Some(token),
    };
    let azemu_figures = registry_figures(&ours, big, images, gets).await;
    stop(child);

    let peer_figures = match peer("AZEMU_BENCH_REGISTRY") {
        Some(_) => {
            let d = tempfile::tempdir().unwrap();
            let port = free_port();
            let (cmd, url) = registry_cmd(d.path(), port);
            let (_, c) = time_to_answer(cmd, &url).await;
            let theirs = Target {
                http: reqwest::Client::builder()
                    .pool_max_idle_per_host(32)
                    .build()
                    .unwrap(),
                base: format!("http://127.0.0.1:{port}"),
                token: None,
            };
            let f = registry_figures(&theirs, big, images, gets).await;
            stop(c);
            Some(f)
        }
        None => {
            println!("(docker-registry: not found; set AZEMU_BENCH_REGISTRY)");
            None
        }
    };
    println!(
        "registry (same client and data; azemu: TLS through the proxy with ACR bearer tokens; docker-registry: plain HTTP, no auth):"
    );
    for (i, (name, secs)) in azemu_figures.iter().enumerate() {
        match &peer_figures {
            Some(p) => println!(
                "  {name:<40} azemu {:>9.1} ms   docker-registry {:>9.1} ms   ({:.2}×)",
                secs * 1e3,
                p[i].1 * 1e3,
                secs / p[i].1
            ),
            None => println!("  {name:<40} azemu {:>9.1} ms", secs * 1e3),
        }
    }
}
