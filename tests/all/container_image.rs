//! The container image (issue 24): the root `Dockerfile`, built offline
//! into a private engine and run as a user runs it. Its port is published on
//! the host's 127.0.0.1; the host's az (the venv's) logs in through the
//! transparent proxy with what `GET /_emulator/env` sets, and creates a
//! resource group; a second container on the same volume still has it. And
//! the README's Docker quick start runs as written.
//!
//! Nothing is pulled and nothing compiled: the base image is the host's own
//! glibc and libgcc (what the binary links, per `ldd`) with a non-root user,
//! imported with `docker import`; the binary is this build's, stripped, put
//! into the image by the Dockerfile's `prebuilt` target. The engine is
//! Debian's dockerd 20.10 with the classic builder. Port publishing needs a
//! bridge: each engine gets its own, on a private subnet, removed at the end
//! (still no iptables rules: the userland proxy forwards the published port).

use crate::docker::Dockerd;
use crate::first_run::{as_new_user, get};
use std::io::Write;
use std::path::Path;
use std::process::Command;
use tokio::io::AsyncBufReadExt;

/// A Linux bridge of the test's own, `10.2xx.<pid>.1/24`, deleted when dropped.
pub struct Bridge {
    pub name: String,
}

impl Bridge {
    pub fn new() -> Bridge {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let pid = std::process::id();
        // At most 15 characters, as Linux allows.
        let name = format!("azt{}n{n}", pid % 10_000_000);
        let cidr = format!("10.{}.{}.1/24", 200 + n % 50, pid % 256);
        for args in [
            vec!["link", "add", &name, "type", "bridge"],
            vec!["addr", "add", &cidr, "dev", &name],
            vec!["link", "set", &name, "up"],
        ] {
            let out = Command::new("ip")
                .args(&args)
                .output()
                .expect("ip (iproute2)");
            assert!(
                out.status.success(),
                "ip {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Bridge { name }
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.name])
            .status();
    }
}

/// An engine on a bridge of its own; the bridge goes after the engine.
pub struct Engine {
    pub docker: Dockerd,
    _bridge: Bridge,
}

impl Engine {
    pub fn start() -> Engine {
        let bridge = Bridge::new();
        Engine {
            docker: Dockerd::on_bridge(&bridge.name),
            _bridge: bridge,
        }
    }
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A minimal root file system as a tar: the shared libraries `binary` loads
/// (the host's, as `ldd` finds them), `/etc/passwd` and `/etc/group` with
/// distroless's `nonroot` (65532), `/tmp`.
fn base_rootfs(binary: &Path, out: &Path) {
    let ldd = Command::new("ldd").arg(binary).output().expect("ldd");
    let listing = String::from_utf8(ldd.stdout).unwrap();
    // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)` and `/lib64/ld-linux-x86-64.so.2 (0x…)`.
    let libs: Vec<&str> = listing
        .lines()
        .filter_map(|l| {
            let path = l.split("=>").last()?.split_whitespace().next()?;
            path.starts_with('/').then_some(path)
        })
        .collect();
    assert!(
        libs.iter().any(|l| l.contains("libc.so")),
        "ldd found no libc: {listing}"
    );
    let mut tar = tar::Builder::new(std::fs::File::create(out).unwrap());
    let mut entry = |path: &str, mode: u32, uid: u64, data: &[u8], dir: bool| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(if dir {
            tar::EntryType::Directory
        } else {
            tar::EntryType::Regular
        });
        h.set_mode(mode);
        h.set_uid(uid);
        h.set_gid(uid);
        h.set_size(data.len() as u64);
        h.set_mtime(0);
        tar.append_data(&mut h, path, data).unwrap();
    };
    // Directories first (the engine would make missing ones unreadable to a non-root user).
    let mut dirs: Vec<&str> = ["etc", "home"].into();
    for lib in &libs {
        let mut p = Path::new(&lib[1..]);
        while let Some(parent) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            dirs.push(parent.to_str().unwrap());
            p = parent;
        }
    }
    dirs.sort();
    dirs.dedup();
    for d in dirs {
        entry(d, 0o755, 0, b"", true);
    }
    for lib in &libs {
        // The file a symlink names, at the path the loader asks for.
        entry(&lib[1..], 0o755, 0, &std::fs::read(lib).unwrap(), false);
    }
    let passwd = "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n";
    entry("etc/passwd", 0o644, 0, passwd.as_bytes(), false);
    entry(
        "etc/group",
        0o644,
        0,
        b"root:x:0:\nnonroot:x:65532:\n",
        false,
    );
    entry("tmp", 0o1777, 0, b"", true);
    entry("home/nonroot", 0o700, 65532, b"", true);
    tar.into_inner().unwrap().flush().unwrap();
}

/// Which builder the engine uses.
#[derive(Clone, Copy, PartialEq)]
pub enum Builder {
    /// The classic builder (`DOCKER_BUILDKIT=0`): builds every stage before the target.
    Classic,
    /// The engine's own BuildKit, driven by Debian's docker.io CLI (20.10,
    /// which needs no buildx plugin for it): builds only what the target needs.
    BuildKit,
}

/// Build the root Dockerfile's image offline into `engine` as `tag`: BASE
/// imported from [`base_rootfs`], the binary this test run built, stripped.
pub async fn build_image(engine: &Dockerd, tag: &str) {
    build_image_with(engine, tag, Builder::Classic).await
}

pub async fn build_image_with(engine: &Dockerd, tag: &str, builder: Builder) {
    let binary = Path::new(env!("CARGO_BIN_EXE_azemu"));
    let ctx = tempfile::tempdir().unwrap();
    let c = ctx.path();
    base_rootfs(binary, &c.join("base.tar"));
    let base = format!("{tag}-base");
    engine
        .ok(&["import", &c.join("base.tar").display().to_string(), &base])
        .await;
    std::fs::remove_file(c.join("base.tar")).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(root.join("Dockerfile"), c.join("Dockerfile")).unwrap();
    // The build context is the binary alone.
    std::fs::write(c.join(".dockerignore"), "Dockerfile\n.dockerignore\n").unwrap();
    let strip = Command::new("strip")
        .arg("-o")
        .arg(c.join("azemu"))
        .arg(binary)
        .status()
        .expect("strip (binutils)");
    assert!(strip.success());
    let build_arg = format!("BASE={base}");
    let ctx = c.display().to_string();
    let args = [
        "build",
        "-q",
        "--target",
        "prebuilt",
        "--build-arg",
        &build_arg,
        "-t",
        tag,
        &ctx,
    ];
    if builder == Builder::Classic {
        engine.ok(&args).await;
        return;
    }
    let mut cmd = tokio::process::Command::new("/usr/bin/docker");
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(engine.env())
        .env("DOCKER_BUILDKIT", "1")
        .args(args);
    let out = crate::harness::run(&mut cmd).await;
    assert!(out.ok, "BuildKit: {}\n{}", out.stdout, out.stderr);
}

/// What an image says about itself: user, volumes, ports, health check, entry point, command.
async fn image_config(engine: &Dockerd, tag: &str) -> String {
    engine
        .ok(&[
            "image",
            "inspect",
            "--format",
            "{{.Config.User}} {{json .Config.Volumes}} {{json .Config.ExposedPorts}} {{json .Config.Healthcheck.Test}} {{json .Config.Entrypoint}} {{json .Config.Cmd}}",
            tag,
        ])
        .await
        .trim()
        .to_string()
}

const CONFIG: &str = r#"65532:65532 {"/data":{}} {"8443/tcp":{}} ["CMD","/usr/local/bin/azemu","health"] ["/usr/local/bin/azemu"] ["serve"]"#;

/// Wait until `container` says it is ready (its log), however long the
/// engine takes to start it: nothing answers before that.
pub async fn ready(engine: &Dockerd, container: &str) {
    let mut cmd = tokio::process::Command::new("docker");
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(engine.env())
        .args(["logs", "-f", container])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let mut child = cmd.spawn().unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let wait = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.starts_with("azemu ready on port ") {
                return true;
            }
        }
        false
    };
    let ok = tokio::time::timeout(std::time::Duration::from_secs(120), wait).await;
    if ok != Ok(true) {
        let logs = engine.docker(&["logs", container], None).await;
        panic!(
            "{container} did not become ready:\n{}\n{}",
            logs.stdout, logs.stderr
        );
    }
}

/// Run `line` in bash as a new user of `engine` (`DOCKER_HOST`) with `home`.
async fn user(engine: &Dockerd, home: &Path, line: &str) -> String {
    let env = engine.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = as_new_user("bash", line, home, &env).await;
    assert!(out.ok, "{line}\n{}\n{}", out.stdout, out.stderr);
    out.stdout
}

#[tokio::test]
async fn the_image_serves_the_host_and_keeps_its_state_in_the_volume() {
    let engine = Engine::start();
    let e = &engine.docker;
    build_image(e, "azemu-test").await;

    assert_eq!(image_config(e, "azemu-test").await, CONFIG);

    let port = free_port();
    let publish = format!("127.0.0.1:{port}:8443");
    let run = |name: &'static str| {
        let publish = publish.clone();
        async move {
            e.ok(&[
                "run",
                "-d",
                "--name",
                name,
                "-p",
                &publish,
                "-v",
                "state:/data",
                "azemu-test",
            ])
            .await;
            ready(e, name).await;
        }
    };
    run("first").await;
    // Docker's own health check: the image's HEALTHCHECK command, in the container.
    let probe = e
        .ok(&["exec", "first", "/usr/local/bin/azemu", "health"])
        .await;
    assert_eq!(probe, "{\"status\":\"ok\"}\n");
    // Not root.
    let top = e.ok(&["top", "first", "-o", "pid,uid,comm"]).await;
    let uids: Vec<&str> = top
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    assert_eq!(uids, ["65532"], "{top}");
    // The published port, from the host.
    let (status, _, body) = get(port, "/_emulator/health").await;
    assert_eq!((status, body.as_str()), (200, "{\"status\":\"ok\"}"));

    // The host's az, set up by the control API's script, through the transparent proxy.
    let home = tempfile::tempdir().unwrap();
    let env = format!("eval \"$(curl -fsS http://localhost:{port}/_emulator/env)\"");
    let out = user(
        e,
        home.path(),
        &format!(
            "set -e; {env}
             az login --service-principal -u \"$AZURE_CLIENT_ID\" -p \"$AZURE_CLIENT_SECRET\" --tenant \"$AZURE_TENANT_ID\" -o none
             az group create -n kept -l westeurope --query properties.provisioningState -o tsv"
        ),
    )
    .await;
    assert_eq!(out, "Succeeded\n");

    // A second container on the same volume: the group, the CA and the
    // signing keys are still there (az's cached token still signs in).
    e.ok(&["stop", "first"]).await;
    e.ok(&["rm", "first"]).await;
    run("second").await;
    let out = user(
        e,
        home.path(),
        &format!("set -e; {env}; az group list --query '[].name' -o tsv"),
    )
    .await;
    assert_eq!(out, "kept\n");
}

/// The README's Docker quick start: the block after the marker, three commands.
fn readme_quick_start() -> Vec<String> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let marker = "<!-- Docker quick start: tests/all/container_image.rs runs it -->";
    let block = readme
        .split_once(marker)
        .expect("the README's Docker quick start marker")
        .1
        .split_once("```sh\n")
        .unwrap()
        .1
        .split_once("```")
        .unwrap()
        .0;
    block
        .replace("\\\n", "")
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[tokio::test]
async fn the_readme_docker_quick_start_ends_with_az_group_list() {
    let commands = readme_quick_start();
    assert_eq!(commands.len(), 3, "{commands:?}");
    // 1. `docker build`: online it compiles azemu; here the same Dockerfile is
    // built offline (base and binary supplied) under the name the README uses.
    assert!(
        commands[0].starts_with("docker build -t azemu ."),
        "{}",
        commands[0]
    );
    let engine = Engine::start();
    let e = &engine.docker;
    build_image(e, "azemu").await;
    // 2. and 3. as written, on a free host port instead of 8443.
    let port = free_port().to_string();
    let home = tempfile::tempdir().unwrap();
    let local = |c: &str| {
        c.replace("127.0.0.1:8443:", &format!("127.0.0.1:{port}:"))
            .replace("localhost:8443", &format!("localhost:{port}"))
    };
    user(e, home.path(), &local(&commands[1])).await;
    let listed = user(e, home.path(), &local(&commands[2])).await;
    let groups: serde_json::Value = serde_json::from_str(&listed)
        .unwrap_or_else(|err| panic!("az group list printed JSON: {err}: {listed}"));
    assert_eq!(groups, serde_json::json!([]));
}

/// Current Docker builds with BuildKit: the same offline target gives the same
/// image (BuildKit skips the stages the target does not need; the classic
/// builder, above, builds them on the way, which the Dockerfile allows for).
#[tokio::test]
async fn buildkit_builds_the_same_image_offline() {
    let e = Dockerd::on_bridge("none");
    build_image_with(&e, "azemu-buildkit", Builder::BuildKit).await;
    assert_eq!(image_config(&e, "azemu-buildkit").await, CONFIG);
    let version = e
        .ok(&[
            "run",
            "--rm",
            "--entrypoint",
            "/usr/local/bin/azemu",
            "azemu-buildkit",
            "--version",
        ])
        .await;
    assert_eq!(version, format!("azemu {}\n", env!("CARGO_PKG_VERSION")));
}
