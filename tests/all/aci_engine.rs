//! Container groups that really run: an emulator started with
//! `--container-engine docker` against a private engine (its own bridge, so
//! ports are published on 127.0.0.1), real az 2.91, and a runnable image made
//! here (`FROM scratch` + Debian's static busybox) pushed to the emulated
//! registry. The engine is asynchronous: its state is polled, within a bound.

use crate::aci::{create_with_identity, grant_acrpull, setup};
use crate::docker::Dockerd;
use crate::harness::Emulator;
use serde_json::Value;
use std::process::Command;

/// An emulator whose container groups run in `engine` (on the data dir `dir`, a restart).
fn emulator_in(engine: &Dockerd, dir: tempfile::TempDir) -> Emulator {
    let host = engine.host();
    let env = [
        ("AZEMU_CONTAINER_ENGINE", "docker"),
        ("DOCKER_HOST", host.as_str()),
    ];
    Emulator::start_in_env(dir, &env)
}

pub(crate) fn emulator(engine: &Dockerd) -> Emulator {
    emulator_in(engine, tempfile::tempdir().unwrap())
}

/// Every container an emulator runs in `engine`: their groups' ids.
async fn labelled(engine: &Dockerd) -> String {
    let format = "{{.Label \"azemu.group\"}}";
    engine
        .ok(&[
            "ps",
            "-a",
            "--filter",
            "label=azemu.instance",
            "--format",
            format,
        ])
        .await
}

/// An OCI layout holding one image: `/bin/busybox` (Debian's busybox-static,
/// which `.ci/run` installs) in an uncompressed layer, entrypoint busybox,
/// running the shell script `script` unless told otherwise.
fn busybox_layout(script: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root = d.join("root/bin");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::copy("/bin/busybox", root.join("busybox")).expect("/bin/busybox (busybox-static)");
    let ok = Command::new("tar")
        .args(["--owner=0", "--group=0", "--numeric-owner", "-C"])
        .arg(d.join("root"))
        .arg("-cf")
        .arg(d.join("layer.tar"))
        .arg("bin")
        .status()
        .unwrap();
    assert!(ok.success());
    let blobs = d.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| -> String {
        use sha2::Digest;
        let hex = format!("{:x}", sha2::Sha256::digest(bytes));
        std::fs::write(blobs.join(&hex), bytes).unwrap();
        format!("sha256:{hex}")
    };
    let layer = std::fs::read(d.join("layer.tar")).unwrap();
    let layer_digest = put(&layer);
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Entrypoint": ["/bin/busybox"], "Cmd": ["sh", "-c", script]},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]}
    })
    .to_string();
    let config_digest = put(config.as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer.len()}]
    })
    .to_string();
    let manifest_digest = put(manifest.as_bytes());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest, "size": manifest.len(), "annotations": {"org.opencontainers.image.ref.name": "v1"}}]
    });
    std::fs::write(d.join("index.json"), index.to_string()).unwrap();
    std::fs::write(d.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    for f in ["layer.tar", "root"] {
        let p = d.join(f);
        if p.is_dir() {
            std::fs::remove_dir_all(p).unwrap();
        } else {
            std::fs::remove_file(p).unwrap();
        }
    }
    dir
}

/// `azemu push` of the busybox image to `target` (its default script: `script`).
pub(crate) fn push_busybox(em: &Emulator, target: &str, script: &str) {
    em.push_layout(busybox_layout(script).path(), target)
        .unwrap();
}

/// The engine's containers of group `id` (`docker ps -a` by label), its
/// sandbox included: "<name> <ports> <status>" lines.
async fn engine_containers(engine: &Dockerd, id: &str) -> Vec<String> {
    let filter = format!("label=azemu.group={id}");
    let out = engine
        .ok(&[
            "ps",
            "-a",
            "--filter",
            &filter,
            "--format",
            "{{.Names}} {{.Ports}} {{.Status}}",
        ])
        .await;
    out.lines().map(str::to_string).collect()
}

/// The sandbox's line of [`engine_containers`]' (named `..._sandbox-<n>`).
fn sandbox_line(ps: &[String]) -> &str {
    let mut sandboxes = ps.iter().filter(|l| l.contains("_sandbox-"));
    let found = sandboxes
        .next()
        .unwrap_or_else(|| panic!("no sandbox: {ps:?}"));
    assert!(sandboxes.next().is_none(), "two sandboxes: {ps:?}");
    found
}

fn group_path(name: &str) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/myResourceGroup/providers/Microsoft.ContainerInstance/containerGroups/{name}?api-version=2023-05-01",
        crate::harness::SUBSCRIPTION
    )
}

/// GET the group until `done` holds of it (bounded: the engine is asynchronous).
pub(crate) async fn until(
    em: &Emulator,
    name: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let token = em.arm_token().await;
    let mut last = Value::Null;
    for _ in 0..300 {
        let (status, body) = em
            .arm(&token, reqwest::Method::GET, &group_path(name), None)
            .await;
        assert_eq!(status, 200, "{body}");
        if done(&body) {
            return body;
        }
        last = body;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{name}: never {what}:\n{last:#}");
}

pub(crate) fn container(g: &Value) -> &Value {
    &g["properties"]["containers"][0]["properties"]["instanceView"]
}

/// The container's event named `name`.
pub(crate) fn event<'a>(iv: &'a Value, name: &str) -> &'a Value {
    iv["events"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no {name} event: {iv:#}"))
}

/// `az container logs` of group `name`.
pub(crate) async fn logs(az: &crate::az::Az<'_>, name: &str) -> String {
    az.ok(&["container", "logs", "-g", "myResourceGroup", "-n", name])
        .await
}

/// `az container logs` of one container of group `group`.
pub(crate) async fn container_logs(az: &crate::az::Az<'_>, group: &str, container: &str) -> String {
    let args = ["container", "logs", "-g", "myResourceGroup", "-n", group];
    az.ok(&[&args[..], &["--container-name", container]].concat())
        .await
}

fn event_names(iv: &Value) -> Vec<String> {
    iv["events"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The seed's flow with a runnable image: refused without AcrPull (no
/// container made), then it runs with its command, variables (the secure one
/// too, never shown by ARM) and port on 127.0.0.1; `az container logs` shows its
/// output; restart bumps `restartCount` with ACI's `Killing` event; delete removes it.
#[tokio::test]
async fn a_group_runs_in_the_engine_from_create_to_delete() {
    let engine = Dockerd::start_bridged();
    let em = emulator(&engine);
    let (az, userid, spid) = setup(&em, "acieng0001").await;
    let image = "acieng0001.azurecr.io/busybox:v1";
    push_busybox(&em, image, "echo no command");
    let extra = [
        "--command-line",
        "/bin/busybox sh -c 'echo hello from $GREETING; echo secret=$SECRET; /bin/busybox mkdir /www; echo answer from the container > /www/index.html; exec /bin/busybox httpd -f -p 80 -h /www'",
        "--environment-variables",
        "GREETING=aci",
        "--secure-environment-variables",
        "SECRET=s3cret",
        "--ports",
        "80",
        "--dns-name-label",
        "aci-engine-demo",
        "--cpu",
        "1",
        "--memory",
        "0.5",
        "-o",
        "json",
    ];
    let group_id = |name: &str| {
        format!(
            "/subscriptions/{}/resourceGroups/myResourceGroup/providers/Microsoft.ContainerInstance/containerGroups/{name}",
            crate::harness::SUBSCRIPTION
        )
    };

    // Without AcrPull: the create fails as ever, and nothing reaches the engine.
    let out = create_with_identity(&az, "engine-cg", image, &userid, &extra).await;
    assert!(!out.ok);
    assert!(
        out.stderr.contains("(InaccessibleImage) The image 'acieng0001.azurecr.io/busybox:v1' in container group 'engine-cg' is not accessible. Please check the image and registry credential."),
        "{}",
        out.stderr
    );
    assert_eq!(
        engine_containers(&engine, &group_id("engine-cg")).await,
        Vec::<String>::new()
    );

    grant_acrpull(&az, "acieng0001", &spid).await;
    let out = create_with_identity(&az, "engine-cg", image, &userid, &extra).await;
    assert!(out.ok, "{}", out.stderr);
    let created = std::time::Instant::now();
    assert!(!out.stdout.contains("s3cret"), "{}", out.stdout);
    let g = until(&em, "engine-cg", "ran", |g| {
        container(g)["currentState"]["state"] == "Running"
            && g["properties"]["instanceView"]["state"] == "Running"
    })
    .await;
    // The benchmark's figure: from az's create returning to the container running.
    eprintln!(
        "aci_engine: Running {} ms after az container create returned",
        created.elapsed().as_millis()
    );
    let iv = container(&g);
    assert_eq!(iv["restartCount"], 0);
    assert_eq!(event_names(iv), ["Pulling", "Pulled", "Created", "Started"]);
    assert_eq!(iv["events"][3]["message"], "Started container");
    assert!(!g.to_string().contains("s3cret"));

    // The engine runs it and the group's sandbox, labelled with its group;
    // the sandbox publishes port 80, on 127.0.0.1 only.
    let ps = engine_containers(&engine, &group_id("engine-cg")).await;
    assert_eq!(ps.len(), 2, "{ps:?}");
    let sandbox = sandbox_line(&ps);
    assert!(sandbox.contains(" 127.0.0.1:"), "{ps:?}");
    assert!(sandbox.contains("->80/tcp"), "{ps:?}");
    assert!(!sandbox.contains("0.0.0.0"), "{ps:?}");

    // ACI's front end: a plain HTTP request for the group's name, through the
    // proxy, reaches the container; a name no group holds does not.
    let proxy = reqwest::Proxy::http(format!("http://localhost:{}", em.port)).unwrap();
    let web = reqwest::Client::builder().proxy(proxy).build().unwrap();
    let r = web
        .get("http://aci-engine-demo.eastus.azurecontainer.io/")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "answer from the container\n");
    let r = web
        .get("http://nobody-here.eastus.azurecontainer.io/")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);

    // Its real output, secure variable included.
    let logs = logs(&az, "engine-cg").await;
    assert!(logs.contains("hello from aci\n"), "{logs}");
    assert!(logs.contains("secret=s3cret\n"), "{logs}");

    // Restart: the container is killed and started again.
    az.ok(&[
        "container",
        "restart",
        "-g",
        "myResourceGroup",
        "-n",
        "engine-cg",
    ])
    .await;
    let g = until(&em, "engine-cg", "restarted", |g| {
        container(g)["restartCount"] == 1 && container(g)["currentState"]["state"] == "Running"
    })
    .await;
    let iv = container(&g);
    assert_eq!(iv["previousState"]["state"], "Terminated", "{iv:#}");
    assert!(iv["previousState"]["exitCode"].is_i64(), "{iv:#}");
    let killing = event(iv, "Killing");
    assert!(
        killing["message"]
            .as_str()
            .unwrap()
            .starts_with("Killing container with id "),
        "{killing}"
    );
    assert_eq!(event(iv, "Started")["count"], 2, "{iv:#}");

    // Stop: the group is Stopped, its container and sandbox ended; start runs them anew.
    let group = ["-g", "myResourceGroup", "-n", "engine-cg"];
    for (action, container_state, group_state, docker_status) in [
        ("stop", "Terminated", "Stopped", " Exited ("),
        ("start", "Running", "Running", " Up "),
    ] {
        az.ok(&[&["container", action][..], &group].concat()).await;
        let g = until(&em, "engine-cg", action, |g| {
            container(g)["currentState"]["state"] == container_state
        })
        .await;
        assert_eq!(g["properties"]["instanceView"]["state"], group_state);
        let ps = engine_containers(&engine, &group_id("engine-cg")).await;
        assert!(
            ps.len() == 2 && ps.iter().all(|l| l.contains(docker_status)),
            "{ps:?}"
        );
    }

    // Delete: the engine's container and sandbox go with the group.
    az.ok(&[
        "container",
        "delete",
        "-g",
        "myResourceGroup",
        "-n",
        "engine-cg",
        "--yes",
        "-o",
        "none",
    ])
    .await;
    assert_eq!(
        engine_containers(&engine, &group_id("engine-cg")).await,
        Vec::<String>::new()
    );

    // The emulator stops: what it still runs goes.
    let out = create_with_identity(&az, "engine-cg2", image, &userid, &extra).await;
    assert!(out.ok, "{}", out.stderr);
    until(&em, "engine-cg2", "ran", |g| {
        container(g)["currentState"]["state"] == "Running"
    })
    .await;
    // Its container and sandbox.
    assert_eq!(labelled(&engine).await.lines().count(), 2);
    let (status, _dir) = em.terminate();
    assert!(status.success());
    assert_eq!(labelled(&engine).await, "");
}

/// `restartPolicy: Never` and exit 3: `Terminated`, exit code 3, the group
/// `Failed`, and no restart; `OnFailure` restarts it, with ACI's `BackOff`.
/// What a crashed emulator left is swept when it starts again, and its groups run anew.
#[tokio::test]
async fn restart_policies_follow_the_exit_code() {
    let engine = Dockerd::start_bridged();
    let em = emulator(&engine);
    let (az, userid, spid) = setup(&em, "acieng0002").await;
    let image = "acieng0002.azurecr.io/busybox:v1";
    push_busybox(&em, image, "echo no command");
    grant_acrpull(&az, "acieng0002", &spid).await;
    for (name, policy) in [("never-cg", "Never"), ("onfailure-cg", "OnFailure")] {
        let extra = [
            "--command-line",
            "/bin/busybox sh -c 'echo bye; exit 3'",
            "--restart-policy",
            policy,
            "-o",
            "none",
        ];
        let out = create_with_identity(&az, name, image, &userid, &extra).await;
        assert!(out.ok, "{}", out.stderr);
    }

    let g = until(&em, "never-cg", "ended", |g| {
        container(g)["currentState"]["state"] == "Terminated"
    })
    .await;
    let iv = container(&g);
    assert_eq!(iv["currentState"]["exitCode"], 3, "{iv:#}");
    assert_eq!(iv["currentState"]["detailStatus"], "Error", "{iv:#}");
    assert!(iv["currentState"]["startTime"].is_string(), "{iv:#}");
    assert!(iv["currentState"]["finishTime"].is_string(), "{iv:#}");
    assert_eq!(iv["restartCount"], 0);
    assert_eq!(event_names(iv), ["Pulling", "Pulled", "Created", "Started"]);
    assert_eq!(g["properties"]["instanceView"]["state"], "Failed");
    let shown = az
        .ok(&[
            "container",
            "show",
            "-g",
            "myResourceGroup",
            "-n",
            "never-cg",
            "--query",
            "containers[0].instanceView.currentState.{state:state,exitCode:exitCode}",
            "-o",
            "json",
        ])
        .await;
    let shown: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(
        shown,
        serde_json::json!({"state": "Terminated", "exitCode": 3})
    );
    assert_eq!(logs(&az, "never-cg").await.trim_end(), "bye");
    // --follow streams until the container has ended.
    let follow = [
        "container",
        "logs",
        "-g",
        "myResourceGroup",
        "-n",
        "never-cg",
        "--follow",
    ];
    let followed = az.ok(&follow).await;
    assert!(followed.contains("bye\n"), "{followed}");

    let g = until(&em, "onfailure-cg", "restarted", |g| {
        container(g)["restartCount"].as_u64().unwrap_or(0) >= 2
    })
    .await;
    let iv = container(&g);
    let backoff = event(iv, "BackOff");
    assert_eq!(backoff["message"], "Back-off restarting failed container");
    assert_eq!(backoff["type"], "Warning");

    // A crashed emulator leaves its containers; started again, it sweeps
    // them and runs its groups anew.
    let ids = || {
        engine.ok(&[
            "ps",
            "-aq",
            "--no-trunc",
            "--filter",
            "label=azemu.instance",
        ])
    };
    let before = ids().await;
    let dir = em.kill9();
    assert_eq!(ids().await, before);
    // Two groups: a container and a sandbox each.
    assert_eq!(before.lines().count(), 4);
    let em = emulator_in(&engine, dir);
    let g = until(&em, "never-cg", "ran again", |g| {
        container(g)["currentState"]["state"] == "Terminated"
    })
    .await;
    assert_eq!(container(&g)["currentState"]["exitCode"], 3);
    let after = ids().await;
    assert_eq!(after.lines().count(), 4, "{after}");
    assert!(
        before.lines().all(|id| !after.contains(id)),
        "{before}\n{after}"
    );
}

/// The seed's two-container YAML (lower-case names): both containers run from
/// the image's own command, sharing the group's network, each with its variables.
#[tokio::test]
async fn the_seed_yaml_runs_both_containers() {
    let engine = Dockerd::start_bridged();
    let em = emulator(&engine);
    let (az, userid, spid) = setup(&em, "acieng0003").await;
    // The seed's image, runnable: it prints its CONTAINER variable and stays up.
    push_busybox(
        &em,
        "acieng0003.azurecr.io/hello-world:v1",
        "echo CONTAINER=$CONTAINER; exec /bin/busybox sleep 3600",
    );
    grant_acrpull(&az, "acieng0003", &spid).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("my.yaml");
    let yaml = crate::aci::seed_yaml("acieng0003", &userid, ["mycontainer-1", "mycontainer-2"]);
    std::fs::write(&file, yaml).unwrap();
    let file = file.to_str().unwrap();
    let create = [
        "container",
        "create",
        "-g",
        "myResourceGroup",
        "-n",
        "yaml-group",
        "--file",
        file,
        "-o",
        "none",
    ];
    az.ok(&create).await;
    let g = until(&em, "yaml-group", "ran both", |g| {
        g["properties"]["containers"].as_array().is_some_and(|cs| {
            cs.iter()
                .all(|c| c["properties"]["instanceView"]["currentState"]["state"] == "Running")
        })
    })
    .await;
    assert_eq!(g["properties"]["instanceView"]["state"], "Running");
    for (n, name) in ["mycontainer-1", "mycontainer-2"].iter().enumerate() {
        let logs = container_logs(&az, "yaml-group", name).await;
        // az prints the content, then a line end of its own.
        assert_eq!(logs, format!("CONTAINER={}\n\n", n + 1));
    }
}

/// A three-container group whose network outlives its first container:
/// `setup` exits 0 at once (`OnFailure`: not restarted), yet `web` serves the
/// group's port 80 and reaches `sidecar` on `localhost:8080`, all three in the
/// namespace of the group's sandbox. `az container restart` restarts all three
/// in that sandbox, and the group answers again; delete removes the sandbox too.
#[tokio::test]
async fn a_groups_network_outlives_its_first_container() {
    let engine = Dockerd::start_bridged();
    let em = emulator(&engine);
    let (az, userid, spid) = setup(&em, "acieng0006").await;
    let image = "acieng0006.azurecr.io/busybox:v1";
    push_busybox(&em, image, "echo no command");
    grant_acrpull(&az, "acieng0006", &spid).await;
    let serve = |text: &str, at: &str| {
        format!(
            "/bin/busybox mkdir -p /www; echo {text} > /www/index.html; exec /bin/busybox httpd -f -p {at} -h /www"
        )
    };
    let container = |name: &str, script: &str, ports: &str| {
        format!(
            "  - name: {name}
    properties:
      image: {image}
      command: ['/bin/busybox', 'sh', '-c', '{script}']
      resources:
        requests:
          cpu: '.2'
          memoryInGb: '.3'
{ports}"
        )
    };
    let more = "  restartPolicy: OnFailure
  ipAddress:
    type: Public
    ports:
    - port: 80
      protocol: TCP
";
    let yaml = format!(
        "{}  containers:
{}{}{}",
        crate::aci::yaml_head("acieng0006", &userid, more),
        container("setup", "echo setup done", ""),
        container(
            "web",
            &serve("answer from web", "80"),
            "      ports:\n      - port: 80\n"
        ),
        container(
            "sidecar",
            &serve("answer from the sidecar", "127.0.0.1:8080"),
            ""
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("group.yaml");
    std::fs::write(&file, yaml).unwrap();
    let file = file.to_str().unwrap();
    let group = ["-g", "myResourceGroup", "-n", "net-cg"];
    az.ok(&[
        &["container", "create"][..],
        &group,
        &["--file", file, "-o", "none"],
    ]
    .concat())
        .await;
    let states = |g: &Value| -> Vec<(String, i64)> {
        g["properties"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                let iv = &c["properties"]["instanceView"];
                (
                    iv["currentState"]["state"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    iv["restartCount"].as_i64().unwrap_or(-1),
                )
            })
            .collect()
    };
    let ran = |restarts: i64| {
        move |g: &Value| {
            let s = states(g);
            s.len() == 3
                && s[0] == ("Terminated".to_string(), restarts)
                && s[1..]
                    .iter()
                    .all(|c| *c == ("Running".to_string(), restarts))
        }
    };
    let g = until(
        &em,
        "net-cg",
        "ran web and sidecar after setup ended",
        ran(0),
    )
    .await;
    assert_eq!(g["properties"]["instanceView"]["state"], "Running");
    let setup_state = &g["properties"]["containers"][0]["properties"]["instanceView"];
    assert_eq!(
        setup_state["currentState"]["exitCode"], 0,
        "{setup_state:#}"
    );
    // The sandbox is not one of the group's containers.
    assert_eq!(g["properties"]["containers"].as_array().unwrap().len(), 3);
    assert!(!g.to_string().contains("sandbox"), "{g:#}");
    let ip = g["properties"]["ipAddress"]["ip"]
        .as_str()
        .unwrap()
        .to_string();
    let id = g["id"].as_str().unwrap().to_string();

    let proxy = reqwest::Proxy::http(format!("http://localhost:{}", em.port)).unwrap();
    let web = reqwest::Client::builder().proxy(proxy).build().unwrap();
    let web_container = "label=azemu.container=web";
    let group_filter = format!("label=azemu.group={id}");
    let answers = || async {
        // The group's port, through ACI's front end.
        let r = web.get(format!("http://{ip}/")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), "answer from web\n");
        // localhost, shared: from web, the sidecar's port.
        let web_id = engine
            .ok(&[
                "ps",
                "-q",
                "--filter",
                &group_filter,
                "--filter",
                web_container,
            ])
            .await;
        engine
            .ok(&[
                "exec",
                web_id.trim(),
                "/bin/busybox",
                "wget",
                "-qO-",
                "http://localhost:8080/",
            ])
            .await
    };
    assert_eq!(answers().await, "answer from the sidecar\n");
    let ps = engine_containers(&engine, &id).await;
    assert_eq!(ps.len(), 4, "{ps:?}");
    let sandbox = sandbox_line(&ps).to_string();
    assert!(sandbox.contains(" Up "), "{ps:?}");

    // Restart: all three start again, in the same sandbox.
    az.ok(&[&["container", "restart"][..], &group].concat())
        .await;
    let g = until(&em, "net-cg", "restarted all three", ran(1)).await;
    assert_eq!(g["properties"]["instanceView"]["state"], "Running");
    let started = |i: usize| {
        event(
            &g["properties"]["containers"][i]["properties"]["instanceView"],
            "Started",
        )["count"]
            .clone()
    };
    assert_eq!([started(0), started(1), started(2)], [2, 2, 2]);
    assert_eq!(answers().await, "answer from the sidecar\n");
    // The same sandbox, its port published where it was ("<name> <ports> Up ...").
    let ps = engine_containers(&engine, &id).await;
    let name_and_ports = |l: &str| l.split(' ').take(2).collect::<Vec<_>>().join(" ");
    assert_eq!(
        name_and_ports(sandbox_line(&ps)),
        name_and_ports(&sandbox),
        "{ps:?}"
    );
    assert!(sandbox_line(&ps).contains(" Up "), "{ps:?}");

    // Delete: the sandbox goes with the containers.
    az.ok(&[
        &["container", "delete"][..],
        &group,
        &["--yes", "-o", "none"],
    ]
    .concat())
        .await;
    assert_eq!(engine_containers(&engine, &id).await, Vec::<String>::new());
}

/// `az container exec` under a pseudo-terminal runs its command in the
/// container and shows its output; `az container attach` shows the
/// container's state and output, and ends when the container does (here: when
/// an exec has told it to).
#[tokio::test]
async fn exec_and_attach_reach_the_running_container() {
    let engine = Dockerd::start_bridged();
    let host = engine.host();
    let env = [
        ("AZEMU_CONTAINER_ENGINE", "docker"),
        ("DOCKER_HOST", host.as_str()),
    ];
    // Logged: the request log shows when attach has begun to stream.
    let em = Emulator::start_logged_env(&[], &env);
    let (az, userid, spid) = setup(&em, "acieng0004").await;
    let image = "acieng0004.azurecr.io/busybox:v1";
    push_busybox(&em, image, "echo no command");
    grant_acrpull(&az, "acieng0004", &spid).await;
    let extra = [
        "--command-line",
        "/bin/busybox sh -c 'echo attached output; while [ ! -f /bin/done ]; do /bin/busybox sleep 0.2; done; echo bye'",
        "--restart-policy",
        "Never",
        "-o",
        "none",
    ];
    let out = create_with_identity(&az, "exec-cg", image, &userid, &extra).await;
    assert!(out.ok, "{}", out.stderr);
    until(&em, "exec-cg", "ran", |g| {
        container(g)["currentState"]["state"] == "Running"
    })
    .await;
    let exec = |command: &'static str| {
        let az = &az;
        async move {
            az.run_in_terminal(&[
                "container",
                "exec",
                "-g",
                "myResourceGroup",
                "-n",
                "exec-cg",
                "--exec-command",
                command,
            ])
            .await
        }
    };

    let out = exec("/bin/busybox echo hi from exec").await;
    assert!(out.ok, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("hi from exec\r\n"), "{:?}", out.stdout);

    // attach follows the container until it ends; an exec ends it.
    let attach = az.run(&[
        "container",
        "attach",
        "-g",
        "myResourceGroup",
        "-n",
        "exec-cg",
    ]);
    let finish = async {
        // Once attach streams the logs (it has seen the container running), the
        // container is told to end.
        let mut tries = 0;
        while !em.log().contains("/containers/exec-cg/logs") {
            tries += 1;
            assert!(tries < 1200, "attach never streamed the logs");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let out = exec("/bin/busybox touch /bin/done").await;
        assert!(out.ok, "{}\n{}", out.stdout, out.stderr);
    };
    let (attached, ()) = tokio::join!(attach, finish);
    assert!(attached.ok, "{}", attached.stderr);
    let shown = attached.stdout;
    assert!(
        shown.contains("Container 'exec-cg' is in state 'Running'..."),
        "{shown}"
    );
    assert!(shown.contains("Start streaming logs:"), "{shown}");
    assert!(shown.contains("attached output\n"), "{shown}");
    let g = until(&em, "exec-cg", "ended", |g| {
        container(g)["currentState"]["state"] == "Terminated"
    })
    .await;
    assert_eq!(container(&g)["currentState"]["exitCode"], 0);
    let logs = logs(&az, "exec-cg").await;
    assert!(logs.contains("attached output\nbye\n"), "{logs}");
}

/// The exec action over HTTP: 200 with ACI's two fields, a `wss://` address on
/// the host the request came to, ACI's path and query, and a password ending
/// as ACI's do. The websocket (az's own client library, websocket-client)
/// refuses a wrong password with a close frame, and a session is used once.
/// The attach action's websocket streams the container's output.
#[tokio::test]
async fn exec_sessions_are_single_use_and_need_their_password() {
    let engine = Dockerd::start_bridged();
    let em = emulator(&engine);
    let (az, userid, spid) = setup(&em, "acieng0005").await;
    let image = "acieng0005.azurecr.io/busybox:v1";
    push_busybox(
        &em,
        image,
        "echo ready for attach; exec /bin/busybox sleep 1000",
    );
    grant_acrpull(&az, "acieng0005", &spid).await;
    let out = create_with_identity(&az, "ws-cg", image, &userid, &["-o", "none"]).await;
    assert!(out.ok, "{}", out.stderr);
    until(&em, "ws-cg", "ran", |g| {
        container(g)["currentState"]["state"] == "Running"
    })
    .await;
    let token = em.arm_token().await;
    let exec_path = group_path("ws-cg").replace("?", "/containers/ws-cg/exec?");
    let (status, body) = em
        .arm(
            &token,
            reqwest::Method::POST,
            &exec_path,
            Some(serde_json::json!({"command": "/bin/busybox echo hi", "terminalSize": {"rows": 30, "cols": 100}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["webSocketUri", "password"]);
    let uri = body["webSocketUri"].as_str().unwrap();
    let prefix = format!("wss://localhost:{}/execstream/sessionId/", em.port);
    assert!(uri.starts_with(&prefix), "{uri}");
    assert!(uri.ends_with("?api-version=1.0&rows=30&cols=100"), "{uri}");
    let password = body["password"].as_str().unwrap();
    assert!(
        password.ends_with("[[EOM]]") && password.len() == 31,
        "{password}"
    );

    // A wrong password: the socket closes (1008) with nothing run; the session is spent.
    let script = r#"
import json, sys, websocket
uri, password = sys.argv[1], sys.argv[2]
ws = websocket.create_connection(uri)
ws.send(password)
opcode, data = ws.recv_data(control_frame=True)
print(json.dumps({"opcode": opcode, "code": int.from_bytes(data[:2], "big"), "reason": data[2:].decode()}))
try:
    websocket.create_connection(uri)
    print(json.dumps({"again": "opened"}))
except websocket.WebSocketBadStatusException as e:
    print(json.dumps({"again": e.status_code}))
ws = websocket.create_connection(sys.argv[3])
ws.send(sys.argv[4])
print(json.dumps({"attached": ws.recv().decode()}))
"#;
    let mut cmd = tokio::process::Command::new(crate::harness::venv().join("bin/python"));
    crate::harness::python_env(&mut cmd, &em);
    let (status, attach) = em
        .arm(
            &token,
            reqwest::Method::POST,
            &exec_path.replace("/exec?", "/attach?"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{attach}");
    let attach_uri = attach["webSocketUri"].as_str().unwrap();
    assert!(
        attach_uri.starts_with(&prefix) && attach_uri.ends_with("?api-version=1.0"),
        "{attach_uri}"
    );
    cmd.args([
        "-c",
        script,
        uri,
        "not the password",
        attach_uri,
        attach["password"].as_str().unwrap(),
    ]);
    let out = crate::harness::run(&mut cmd).await;
    assert!(out.ok, "{}", out.stderr);
    let lines: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines,
        [
            serde_json::json!({"opcode": 8, "code": 1008, "reason": "azemu: wrong password for this exec session"}),
            serde_json::json!({"again": 404}),
            serde_json::json!({"attached": "ready for attach\n"}),
        ]
    );
}
