//! The real Docker engine against emulated registries: `az acr login` runs
//! `docker login` with the exchanged token, and the engine pushes and pulls
//! (a multi-arch image too) through the transparent proxy, trusting azemu's CA.
//!
//! Each test starts its own `dockerd` (Debian's `docker.io`, which `.ci/run`
//! installs) with its data under `target/tmp`: the engine reads its proxy and
//! trusted CAs once, at start, and every emulator has its own port and CA. No
//! bridge, no iptables; images are built `FROM scratch`, nothing is pulled
//! from a public registry.

use crate::az::{Az, Mode};
use crate::harness::{Emulator, Output, run, words};
use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A private Docker engine whose proxy and trusted CA are one emulator's.
pub struct Dockerd {
    child: Child,
    dir: tempfile::TempDir,
    /// The client's configuration (`DOCKER_CONFIG`): where logins are kept.
    config: tempfile::TempDir,
    /// The engine's and its clients' proxy and CA bundle (none on a bridge of its own).
    env: Vec<(&'static str, String)>,
    /// A bridge of the engine's own ([`Dockerd::start_bridged`]): dropped after the engine stops.
    bridge: Option<crate::container_image::Bridge>,
}

impl Dockerd {
    pub fn start(em: &Emulator) -> Dockerd {
        let env = vec![
            ("HTTPS_PROXY", format!("http://localhost:{}", em.port)),
            ("SSL_CERT_FILE", em.bundle().display().to_string()),
        ];
        Self::launch(env, "none")
    }

    /// An engine with no proxy whose containers sit on `bridge` (a
    /// [`crate::container_image::Bridge`]'s name, or `none`): on a bridge,
    /// ports can be published on the host's loopback through the engine's
    /// userland proxy; still no iptables rules.
    pub fn on_bridge(bridge: &str) -> Dockerd {
        Self::launch(Vec::new(), bridge)
    }

    fn launch(env: Vec<(&'static str, String)>, bridge: &str) -> Dockerd {
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let dir = tempfile::Builder::new()
            .prefix("dockerd-")
            .tempdir_in(tmp)
            .unwrap();
        let d = dir.path();
        let mut child = Command::new("dockerd")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(env.iter().map(|(k, v)| (k, v)))
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("x"))
            .arg("--pidfile")
            .arg(d.join("pid"))
            .arg("-H")
            .arg(format!("unix://{}", d.join("sock").display()))
            .arg(format!("--bridge={bridge}"))
            .args(["--iptables=false", "--ip6tables=false"])
            .args(["--storage-driver=vfs"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("dockerd (Debian's docker.io; .ci/run installs it)");
        // Ready when it says so; its log goes on being read (and dropped).
        let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let mut log = Vec::new();
        loop {
            match lines.next() {
                Some(Ok(l)) if l.contains("API listen on") => break,
                Some(Ok(l)) => log.push(l),
                _ => panic!("dockerd stopped before it was ready:\n{}", log.join("\n")),
            }
        }
        std::thread::spawn(move || lines.for_each(drop));
        Dockerd {
            child,
            dir,
            config: tempfile::tempdir().unwrap(),
            env,
            bridge: None,
        }
    }

    /// An engine whose containers are on a private bridge of its own (made
    /// here, removed after the engine), so ports can be published on
    /// 127.0.0.1; no proxy or CA: it pulls nothing, images are loaded into it.
    /// Started before an emulator that runs containers in it.
    pub fn start_bridged() -> Dockerd {
        let bridge = crate::container_image::Bridge::new();
        let mut engine = Self::on_bridge(&bridge.name);
        engine.bridge = Some(bridge);
        engine
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.dir.path().join("sock").display())
    }

    pub fn config(&self) -> String {
        self.config.path().display().to_string()
    }

    /// What a client of this engine needs (`az acr login` runs `docker login`).
    pub fn env(&self) -> [(&'static str, String); 2] {
        [
            ("DOCKER_HOST", self.host()),
            ("DOCKER_CONFIG", self.config()),
        ]
    }

    /// The docker CLI against this engine. The CLI itself talks to the
    /// registry for `docker manifest`: it gets the proxy and CA too.
    pub async fn docker(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = tokio::process::Command::new("docker");
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.config.path())
            .env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.config.path())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            // The classic builder: `FROM scratch` needs nothing else installed.
            .env("DOCKER_BUILDKIT", "0")
            .args(args);
        let Some(input) = stdin else {
            return run(&mut cmd).await;
        };
        use tokio::io::AsyncWriteExt;
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut w = child.stdin.take().unwrap();
        w.write_all(input.as_bytes()).await.unwrap();
        drop(w);
        let out = child.wait_with_output().await.unwrap();
        Output {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub async fn ok(&self, args: &[&str]) -> String {
        let out = self.docker(args, None).await;
        assert!(
            out.ok,
            "docker {args:?} failed:\n{}\n{}",
            out.stdout, out.stderr
        );
        out.stdout
    }

    /// Build `tag` (`FROM scratch`, one file holding `content`) for `platform`.
    pub async fn build(&self, tag: &str, content: &str, platform: &str) {
        let ctx = tempfile::tempdir().unwrap();
        std::fs::write(ctx.path().join("hello.txt"), content).unwrap();
        std::fs::write(
            ctx.path().join("Dockerfile"),
            "FROM scratch\nCOPY hello.txt /\n",
        )
        .unwrap();
        let path = ctx.path().display().to_string();
        self.ok(&["build", "-q", "--platform", platform, "-t", tag, &path])
            .await;
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // SIGTERM: the engine stops the containerd it started, then itself.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

async fn registry(az: &Az<'_>, name: &str) {
    az.ok(&words("group create -n g -l eastus -o none")).await;
    az.acr_create("g", name, "Standard").await;
}

#[tokio::test]
async fn az_acr_login_then_docker_pushes_and_pulls_a_multi_arch_image() {
    let em = Emulator::start();
    let az = Az::new(&em, Mode::Transparent).await;
    assert!(az.login(crate::harness::CLIENT_SECRET).await.ok);
    registry(&az, "dockreg").await;
    let engine = Dockerd::start(&em);
    let env = engine.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();

    // az exchanges its Entra token for a refresh token and hands it to `docker login`.
    let out = az
        .run_with_env(&["acr", "login", "-n", "dockreg"], &env)
        .await;
    assert!(out.ok, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("Login Succeeded"), "{}", out.stdout);
    let saved: serde_json::Value = serde_json::from_slice(
        &std::fs::read(Path::new(&engine.config()).join("config.json")).unwrap(),
    )
    .unwrap();
    let auth = saved["auths"]["dockreg.azurecr.io"]["auth"]
        .as_str()
        .unwrap();
    let auth = String::from_utf8(
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, auth).unwrap(),
    )
    .unwrap();
    assert!(
        auth.starts_with("00000000-0000-0000-0000-000000000000:"),
        "az logs docker in with the null user and the ACR refresh token: {auth}"
    );

    // One image per architecture, then the list that names both.
    engine
        .build("dockreg.azurecr.io/hello:amd64", "amd64\n", "linux/amd64")
        .await;
    engine
        .build("dockreg.azurecr.io/hello:arm64", "arm64\n", "linux/arm64")
        .await;
    for arch in ["amd64", "arm64"] {
        let out = engine
            .ok(&["push", &format!("dockreg.azurecr.io/hello:{arch}")])
            .await;
        assert!(out.contains(&format!("{arch}: digest: sha256:")), "{out}");
    }
    engine
        .ok(&[
            "manifest",
            "create",
            "dockreg.azurecr.io/multi:v1",
            "dockreg.azurecr.io/hello:amd64",
            "dockreg.azurecr.io/hello:arm64",
        ])
        .await;
    let pushed = engine
        .ok(&["manifest", "push", "dockreg.azurecr.io/multi:v1"])
        .await;
    let list_digest = pushed.split_whitespace().last().unwrap().to_string();
    assert!(list_digest.starts_with("sha256:"), "{pushed}");

    // The registry holds the list, as ACR lists it.
    let tags = az
        .json(&words(
            "acr repository show-tags -n dockreg --repository multi",
        ))
        .await;
    assert_eq!(tags, serde_json::json!(["v1"]));
    let shown = engine
        .ok(&["manifest", "inspect", "dockreg.azurecr.io/multi:v1"])
        .await;
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(
        shown["mediaType"],
        "application/vnd.docker.distribution.manifest.list.v2+json"
    );
    let archs: Vec<&str> = shown["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(archs, ["amd64", "arm64"]);

    // A fresh engine state: each platform pulls its own image through the list.
    engine
        .ok(&[
            "rmi",
            "-f",
            "dockreg.azurecr.io/hello:amd64",
            "dockreg.azurecr.io/hello:arm64",
        ])
        .await;
    for arch in ["arm64", "amd64"] {
        let out = engine
            .ok(&[
                "pull",
                "--platform",
                &format!("linux/{arch}"),
                "dockreg.azurecr.io/multi:v1",
            ])
            .await;
        assert!(out.contains(&format!("Digest: {list_digest}")), "{out}");
        let got = engine
            .ok(&[
                "image",
                "inspect",
                "-f",
                "{{.Architecture}}",
                "dockreg.azurecr.io/multi:v1",
            ])
            .await;
        assert_eq!(got.trim(), arch);
    }
}

#[tokio::test]
async fn docker_login_with_the_admin_user_and_with_a_repository_token() {
    let em = Emulator::start();
    let az = Az::new(&em, Mode::Transparent).await;
    assert!(az.login(crate::harness::CLIENT_SECRET).await.ok);
    registry(&az, "dockadmin").await;
    az.ok(&words(
        "acr update -n dockadmin --admin-enabled true -o none",
    ))
    .await;
    let creds = az.json(&words("acr credential show -n dockadmin")).await;
    let password = creds["passwords"][0]["value"].as_str().unwrap().to_string();
    let engine = Dockerd::start(&em);
    let host = "dockadmin.azurecr.io";

    // A wrong password: the engine's own check against the registry fails, in ACR's words.
    let out = engine
        .docker(
            &["login", "-u", "dockadmin", "--password-stdin", host],
            Some("wrong\n"),
        )
        .await;
    assert!(!out.ok);
    assert_eq!(
        out.stderr.trim(),
        format!(
            "Error response from daemon: Get \"https://{host}/v2/\": unauthorized: authentication required, visit https://aka.ms/acr/authorization for more information."
        )
    );
    // The admin user pushes.
    let out = engine
        .docker(
            &["login", "-u", "dockadmin", "--password-stdin", host],
            Some(&password),
        )
        .await;
    assert!(out.ok, "{}", out.stderr);
    assert!(out.stdout.contains("Login Succeeded"));
    engine
        .build(&format!("{host}/app:v1"), "v1\n", "linux/amd64")
        .await;
    engine.ok(&["push", &format!("{host}/app:v1")]).await;
    engine.ok(&["logout", host]).await;

    // A token on the built-in pull scope map pulls, and is refused a push.
    let token = az
        .json(&words(
            "acr token create -n puller -r dockadmin --scope-map _repositories_pull",
        ))
        .await;
    let token_password = token["credentials"]["passwords"][0]["value"]
        .as_str()
        .unwrap()
        .to_string();
    let out = engine
        .docker(
            &["login", "-u", "puller", "--password-stdin", host],
            Some(&token_password),
        )
        .await;
    assert!(out.ok, "{}", out.stderr);
    engine.ok(&["rmi", &format!("{host}/app:v1")]).await;
    let pulled = engine.ok(&["pull", &format!("{host}/app:v1")]).await;
    assert!(
        pulled.contains(&format!("Downloaded newer image for {host}/app:v1")),
        "{pulled}"
    );
    engine
        .ok(&["tag", &format!("{host}/app:v1"), &format!("{host}/app:v2")])
        .await;
    let out = engine
        .docker(&["push", &format!("{host}/app:v2")], None)
        .await;
    assert!(!out.ok);
    // ACR's 401 (insufficient_scope) on the manifest, under the engine's own
    // "denied" for a push it may not make (Docker 20.10's composition).
    assert_eq!(
        out.stderr.trim(),
        "errors:\ndenied: requested access to the resource is denied\nunauthorized: authentication required, visit https://aka.ms/acr/authorization for more information."
    );
}
