//! ACR Tasks with managed identities, with the real az CLI: the second seed
//! document's commands (task create with a system- or user-assigned
//! identity, role assignment, `task credential add --use-identity`, `task
//! run` streaming its log, `list-runs`, `logs`), the image the run pushed
//! pulled back by skopeo, and the failures a run reports in its log.

use crate::az::{Az, Mode};
use crate::harness::{CLIENT_SECRET, Emulator};
use crate::oci_clients::skopeo;
use serde_json::Value;

const CONTEXT: &str = "https://github.com/Azure-Samples/acr-build-helloworld-node.git#main";

pub(crate) async fn setup<'a>(em: &'a Emulator, registries: &[&str]) -> Az<'a> {
    let az = Az::new(em, Mode::Transparent).await;
    assert!(az.login(CLIENT_SECRET).await.ok);
    az.ok(&[
        "group",
        "create",
        "-n",
        "myResourceGroup",
        "-l",
        "eastus",
        "-o",
        "none",
    ])
    .await;
    for r in registries {
        az.acr_create("myResourceGroup", r, "Basic").await;
    }
    az
}

/// `az acr task create` as the seed writes it, plus `--assign-identity [value]`.
pub(crate) async fn task_create(az: &Az<'_>, registry: &str, identity: Option<&str>) -> Value {
    let mut args = vec![
        "acr",
        "task",
        "create",
        "--image",
        "hello-world:{{.Run.ID}}",
        "--name",
        "hello-world",
        "--registry",
        registry,
        "--context",
        CONTEXT,
        "--file",
        "Dockerfile",
        "--commit-trigger-enabled",
        "false",
        "--assign-identity",
    ];
    if let Some(i) = identity {
        args.push(i);
    }
    az.json(&args).await
}

/// skopeo `--creds` for a registry: the null-GUID user and an ACR refresh token from az.
pub(crate) async fn pull_creds(az: &Az<'_>, registry: &str) -> String {
    let token = az
        .ok(&[
            "acr",
            "login",
            "-n",
            registry,
            "--expose-token",
            "--query",
            "accessToken",
            "-o",
            "tsv",
        ])
        .await;
    format!("00000000-0000-0000-0000-000000000000:{}", token.trim())
}

pub(crate) async fn registry_id(az: &Az<'_>, name: &str) -> String {
    az.ok(&["acr", "show", "-n", name, "--query", "id", "-o", "tsv"])
        .await
        .trim()
        .to_string()
}

pub(crate) async fn acrpull(az: &Az<'_>, principal: &str, scope: &str) {
    az.ok(&[
        "role",
        "assignment",
        "create",
        "--assignee",
        principal,
        "--scope",
        scope,
        "--role",
        "acrpull",
        "-o",
        "none",
    ])
    .await;
}

/// Acceptance (seed, system-assigned): create, grant, add the credential, run
/// (the log streams and the run succeeds), list-runs, logs; the image the
/// run pushed is pulled back with skopeo.
#[tokio::test]
async fn seed_task_with_system_identity() {
    let em = Emulator::start();
    let az = setup(&em, &["myregistry", "targetregistry"]).await;
    let task = task_create(&az, "myregistry", None).await;
    assert_eq!(task["identity"]["type"], "SystemAssigned", "{task}");
    let principal = task["identity"]["principalId"]
        .as_str()
        .unwrap()
        .to_string();
    acrpull(&az, &principal, &registry_id(&az, "targetregistry").await).await;
    let creds = az
        .json(&[
            "acr",
            "task",
            "credential",
            "add",
            "--name",
            "hello-world",
            "--registry",
            "myregistry",
            "--login-server",
            "targetregistry.azurecr.io",
            "--use-identity",
            "[system]",
        ])
        .await;
    assert_eq!(
        creds["targetregistry.azurecr.io"]["identity"], "[system]",
        "{creds}"
    );

    let run = az
        .run(&[
            "acr",
            "task",
            "run",
            "--name",
            "hello-world",
            "--registry",
            "myregistry",
        ])
        .await;
    assert!(run.ok, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("Queued a run with ID: ca1"),
        "{}",
        run.stderr
    );
    for line in [
        "Logging in to registry: targetregistry.azurecr.io",
        "Successfully logged into targetregistry.azurecr.io",
        "Pushing image: myregistry.azurecr.io/hello-world:ca1, attempt 1",
        "Run ID: ca1 was successful after",
    ] {
        assert!(run.stdout.contains(line), "{line}: {}", run.stdout);
    }

    let runs = az
        .json(&["acr", "task", "list-runs", "--registry", "myregistry"])
        .await;
    assert_eq!(runs[0]["runId"], "ca1");
    assert_eq!(runs[0]["status"], "Succeeded");
    assert_eq!(runs[0]["task"], "hello-world");
    let digest = runs[0]["outputImages"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let logs = az
        .run(&["acr", "task", "logs", "--registry", "myregistry"])
        .await;
    assert!(
        logs.ok && logs.stdout.contains("Run ID: ca1 was successful"),
        "{}",
        logs.stdout
    );
    // The console's view of the same run: status and log, internals left out.
    let world = em.control_json("/_emulator/world").await;
    let run = &world["runs"][0];
    assert_eq!(run["properties"]["runId"], "ca1", "{run}");
    assert_eq!(run["properties"]["status"], "Succeeded", "{run}");
    assert!(
        run["log"]
            .as_str()
            .unwrap()
            .contains("Run ID: ca1 was successful"),
        "{run}"
    );
    assert!(run.get("_run").is_none(), "{run}");

    // The built image is a real one: skopeo pulls it with an ACR token.
    let creds = pull_creds(&az, "myregistry").await;
    let dir = tempfile::tempdir().unwrap();
    let out = skopeo(
        &em,
        &[
            "copy",
            "--src-creds",
            &creds,
            "docker://myregistry.azurecr.io/hello-world:ca1",
            &format!("oci:{}:ca1", dir.path().display()),
        ],
    )
    .await;
    assert!(out.ok, "{}\n{}", out.stdout, out.stderr);
    // The manifest it serves is the one the run recorded (skopeo re-compresses on copy, so
    // compare the raw manifest).
    let raw = skopeo(
        &em,
        &[
            "inspect",
            "--raw",
            "--creds",
            &creds,
            "docker://myregistry.azurecr.io/hello-world:ca1",
        ],
    )
    .await;
    assert!(raw.ok, "{}", raw.stderr);
    use sha2::Digest;
    let got = format!("sha256:{:x}", sha2::Sha256::digest(raw.stdout.as_bytes()));
    assert_eq!(got, digest);
}

/// Acceptance (seed, user-assigned): the identity's resource id on create,
/// its client id on the credential.
#[tokio::test]
async fn seed_task_with_user_identity() {
    let em = Emulator::start();
    let az = setup(&em, &["myregistry", "targetregistry"]).await;
    let ident = az
        .identity_create("myResourceGroup", "myUserAssignedIdentity")
        .await;
    let id = ident["id"].as_str().unwrap();
    let task = task_create(&az, "myregistry", Some(id)).await;
    assert_eq!(task["identity"]["type"], "UserAssigned", "{task}");
    acrpull(
        &az,
        ident["principalId"].as_str().unwrap(),
        &registry_id(&az, "targetregistry").await,
    )
    .await;
    az.ok(&[
        "acr",
        "task",
        "credential",
        "add",
        "--name",
        "hello-world",
        "--registry",
        "myregistry",
        "--login-server",
        "targetregistry.azurecr.io",
        "--use-identity",
        ident["clientId"].as_str().unwrap(),
        "-o",
        "none",
    ])
    .await;
    let run = az
        .run(&[
            "acr",
            "task",
            "run",
            "--name",
            "hello-world",
            "--registry",
            "myregistry",
        ])
        .await;
    assert!(run.ok, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("Successfully logged into targetregistry.azurecr.io"),
        "{}",
        run.stdout
    );
}

/// A credential the run cannot use fails the run: the log says which login
/// failed and why, and `az acr task run` exits non-zero.
#[tokio::test]
async fn run_fails_with_the_login_error_in_its_log() {
    let em = Emulator::start();
    let az = setup(&em, &["myregistry"]).await;
    task_create(&az, "myregistry", None).await;
    // A user-assigned identity's client id the task does not have.
    az.ok(&[
        "acr",
        "task",
        "credential",
        "add",
        "--name",
        "hello-world",
        "--registry",
        "myregistry",
        "--login-server",
        "nosuchregistry.azurecr.io",
        "--use-identity",
        "[system]",
        "-o",
        "none",
    ])
    .await;
    let run = az
        .run(&[
            "acr",
            "task",
            "run",
            "--name",
            "hello-world",
            "--registry",
            "myregistry",
        ])
        .await;
    assert!(!run.ok, "{}", run.stdout);
    assert!(run.stderr.contains("Run failed"), "{}", run.stderr);
    assert!(
        run.stdout
            .contains("Logging in to registry: nosuchregistry.azurecr.io")
            && run.stdout.contains("no such host")
            && run.stdout.contains("Run ID: ca1 failed"),
        "{}",
        run.stdout
    );
    let runs = az
        .json(&["acr", "task", "list-runs", "--registry", "myregistry"])
        .await;
    assert_eq!(runs[0]["status"], "Failed");
}

/// Acceptance (networkRuleBypassAllowedForTasks): with the target registry
/// closed to the public, a run logging in with the task's system-assigned
/// identity is refused while the flag is false and let through once it is
/// true; a user-assigned identity is let through either way (trusted services).
#[tokio::test]
async fn restricted_registry_and_the_tasks_bypass_flag() {
    let em = Emulator::start();
    let az = setup(&em, &["myregistry"]).await;
    az.acr_create("myResourceGroup", "lockedregistry", "Premium")
        .await;
    az.ok(&[
        "acr",
        "update",
        "-n",
        "lockedregistry",
        "--public-network-enabled",
        "false",
        "-o",
        "none",
    ])
    .await;
    let locked = registry_id(&az, "lockedregistry").await;
    let ident = az.identity_create("myResourceGroup", "taskIdentity").await;
    // Both identities on the task (`--assign-identity [system] <id>`): system for one
    // credential, user-assigned for the other.
    let task = az
        .json(&[
            "acr",
            "task",
            "create",
            "--image",
            "hello-world:{{.Run.ID}}",
            "--name",
            "hello-world",
            "--registry",
            "myregistry",
            "--context",
            CONTEXT,
            "--file",
            "Dockerfile",
            "--commit-trigger-enabled",
            "false",
            "--assign-identity",
            "[system]",
            ident["id"].as_str().unwrap(),
        ])
        .await;
    assert_eq!(
        task["identity"]["type"], "SystemAssigned, UserAssigned",
        "{task}"
    );
    acrpull(
        &az,
        task["identity"]["principalId"].as_str().unwrap(),
        &locked,
    )
    .await;
    acrpull(&az, ident["principalId"].as_str().unwrap(), &locked).await;
    let credential = |identity: String| {
        let az = &az;
        async move {
            for verb in ["remove", "add"] {
                let mut args = vec![
                    "acr",
                    "task",
                    "credential",
                    verb,
                    "--name",
                    "hello-world",
                    "--registry",
                    "myregistry",
                    "--login-server",
                    "lockedregistry.azurecr.io",
                    "-o",
                    "none",
                ];
                if verb == "add" {
                    args.extend(["--use-identity", identity.as_str()]);
                }
                let _ = az.run(&args).await;
            }
        }
    };
    let run = || async {
        az.run(&[
            "acr",
            "task",
            "run",
            "--name",
            "hello-world",
            "--registry",
            "myregistry",
        ])
        .await
    };

    credential("[system]".into()).await;
    let refused = run().await;
    assert!(!refused.ok, "{}", refused.stdout);
    assert!(
        refused
            .stdout
            .contains("Logging in to registry: lockedregistry.azurecr.io")
            && refused
                .stdout
                .contains("denied: client with IP '20.42.66.17' is not allowed access."),
        "{}",
        refused.stdout
    );

    let v = az
        .run(&[
            "rest",
            "--method",
            "patch",
            "--url",
            &format!("https://management.azure.com{locked}?api-version=2025-04-01"),
            "--body",
            r#"{"properties":{"networkRuleBypassAllowedForTasks":true}}"#,
        ])
        .await;
    assert!(v.ok, "{}", v.stderr);
    let allowed = run().await;
    assert!(allowed.ok, "{}\n{}", allowed.stdout, allowed.stderr);

    // Back to false: a user-assigned identity still gets through.
    az.ok(&[
        "rest",
        "--method",
        "patch",
        "--url",
        &format!("https://management.azure.com{locked}?api-version=2025-04-01"),
        "--body",
        r#"{"properties":{"networkRuleBypassAllowedForTasks":false}}"#,
        "-o",
        "none",
    ])
    .await;
    credential(ident["clientId"].as_str().unwrap().to_string()).await;
    let user = run().await;
    assert!(user.ok, "{}\n{}", user.stdout, user.stderr);
    assert!(
        user.stdout
            .contains("Successfully logged into lockedregistry.azurecr.io"),
        "{}",
        user.stdout
    );
}

/// A local build context whose Dockerfile builds FROM an image in another
/// registry: `az acr build` (no credential for it) fails with the registry's
/// error in the log; a task run with that context, a credential for the
/// registry and AcrPull on it succeeds, and its image (the base's layers plus
/// one) is pulled back in full by skopeo.
#[tokio::test]
async fn local_context_from_another_registry() {
    let em = Emulator::start();
    let az = setup(&em, &["myregistry", "baseregistry"]).await;
    em.push_sample("baseregistry.azurecr.io/hello-world:v1")
        .unwrap();
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "ARG BASE=baseregistry.azurecr.io/hello-world:v1\nFROM ${BASE}\nCOPY app.txt /app/\nCMD [\"/hello\"]\n",
    )
    .unwrap();
    std::fs::write(ctx.path().join("app.txt"), "hello").unwrap();
    let dir = ctx.path().to_string_lossy().into_owned();

    let build = az
        .run(&["acr", "build", "-r", "myregistry", "-t", "app:v1", &dir])
        .await;
    assert!(!build.ok, "{}", build.stdout);
    assert!(
        build.stdout.contains("Step 2/5 : FROM ${BASE}")
            && build.stdout.contains(
                "Error response from daemon: Head \"https://baseregistry.azurecr.io/v2/hello-world/manifests/v1\": unauthorized: authentication required"
            ),
        "{}",
        build.stdout
    );

    let task = az
        .json(&[
            "acr",
            "task",
            "create",
            "--image",
            "app:{{.Run.ID}}",
            "--name",
            "buildapp",
            "--registry",
            "myregistry",
            "--context",
            CONTEXT,
            "--file",
            "Dockerfile",
            "--commit-trigger-enabled",
            "false",
            "--assign-identity",
        ])
        .await;
    acrpull(
        &az,
        task["identity"]["principalId"].as_str().unwrap(),
        &registry_id(&az, "baseregistry").await,
    )
    .await;
    az.ok(&[
        "acr",
        "task",
        "credential",
        "add",
        "-n",
        "buildapp",
        "-r",
        "myregistry",
        "--login-server",
        "baseregistry.azurecr.io",
        "--use-identity",
        "[system]",
        "-o",
        "none",
    ])
    .await;
    let run = az
        .run_in(
            ctx.path(),
            &[
                "acr",
                "task",
                "run",
                "-n",
                "buildapp",
                "-r",
                "myregistry",
                "-c",
                ".",
                "-f",
                "Dockerfile",
            ],
        )
        .await;
    assert!(run.ok, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("v1: Pulling from hello-world")
            && run
                .stdout
                .contains("Pushing image: myregistry.azurecr.io/app:ca2, attempt 1"),
        "{}",
        run.stdout
    );

    let creds = pull_creds(&az, "myregistry").await;
    let out_dir = tempfile::tempdir().unwrap();
    let copy = skopeo(
        &em,
        &[
            "copy",
            "--src-creds",
            &creds,
            "docker://myregistry.azurecr.io/app:ca2",
            &format!("oci:{}:app", out_dir.path().display()),
        ],
    )
    .await;
    assert!(copy.ok, "{}\n{}", copy.stdout, copy.stderr);
    let raw = skopeo(
        &em,
        &[
            "inspect",
            "--creds",
            &creds,
            "docker://myregistry.azurecr.io/app:ca2",
        ],
    )
    .await;
    assert!(raw.ok, "{}", raw.stderr);
    let info: Value = serde_json::from_str(&raw.stdout).unwrap();
    assert_eq!(
        info["Layers"].as_array().unwrap().len(),
        2,
        "the base's layer and the build's: {info}"
    );
    assert_eq!(info["Labels"]["io.azemu.run-id"], "ca2");
}

/// A run follows emulated time: Queued, then Running until its operation is
/// due, then Succeeded; its log blob grows a `Complete` metadata header only
/// at the end, answers ranged reads with 206, and its SAS expires. A second
/// run is canceled before it finishes.
#[tokio::test]
async fn run_lifecycle_log_blob_and_cancel() {
    use reqwest::Method;
    use serde_json::json;
    let em = Emulator::start_with(&["--lro-delay-ms", "10000"]);
    let owner = em.arm_token().await;
    let rg = "/subscriptions/a2e0a2e0-0000-4000-8000-000000000002/resourceGroups/rg1";
    let (s, _) = em
        .arm(
            &owner,
            Method::PUT,
            &format!("{rg}?api-version=2024-07-01"),
            Some(json!({"location": "eastus"})),
        )
        .await;
    assert_eq!(s, 201);
    let reg = format!("{rg}/providers/Microsoft.ContainerRegistry/registries/lifereg01");
    let (s, _) = em
        .arm(
            &owner,
            Method::PUT,
            &format!("{reg}?api-version=2023-07-01"),
            Some(json!({"location": "eastus", "sku": {"name": "Basic"}})),
        )
        .await;
    assert_eq!(s, 201);
    em.advance_clock(10).await;
    let api = "api-version=2025-03-01-preview";
    let (s, t) = em
        .arm(
            &owner,
            Method::PUT,
            &format!("{reg}/tasks/lifetask?{api}"),
            Some(json!({"location": "eastus", "properties": {
                "platform": {"os": "Linux"},
                "step": {"type": "Docker", "dockerFilePath": "Dockerfile", "imageNames": ["life:{{.Run.ID}}"], "contextPath": "/dev/null"}
            }})),
        )
        .await;
    assert_eq!(s, 200, "{t}");
    let schedule = || async {
        let (s, r) = em
            .arm(
                &owner,
                Method::POST,
                &format!("{reg}/scheduleRun?{api}"),
                Some(json!({"type": "TaskRunRequest", "taskId": format!("{reg}/tasks/lifetask")})),
            )
            .await;
        assert_eq!(s, 200, "{r}");
        r["properties"]["runId"].as_str().unwrap().to_string()
    };
    let run = schedule().await;
    let get = |id: String| {
        let em = &em;
        let owner = owner.clone();
        let reg = reg.clone();
        async move {
            em.arm(&owner, Method::GET, &format!("{reg}/runs/{id}?{api}"), None)
                .await
                .1
        }
    };
    assert_eq!(get(run.clone()).await["properties"]["status"], "Running");
    let (_, link) = em
        .arm(
            &owner,
            Method::POST,
            &format!("{reg}/runs/{run}/listLogSasUrl?{api}"),
            None,
        )
        .await;
    let url = link["logLink"].as_str().unwrap().to_string();
    assert!(
        url.starts_with("https://localhost:"),
        "direct clients get a path-style URL: {url}"
    );
    let http = em.http();
    let head = http.head(&url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert!(
        head.headers().get("x-ms-meta-complete").is_none(),
        "not complete while running"
    );

    em.advance_clock(10).await;
    let done = get(run.clone()).await;
    assert_eq!(done["properties"]["status"], "Succeeded", "{done}");
    assert_eq!(done["properties"]["outputImages"][0]["tag"], run.as_str());
    let head = http.head(&url).send().await.unwrap();
    assert_eq!(head.headers()["x-ms-meta-complete"], "succeeded");
    let size: usize = head.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let part = http
        .get(&url)
        .header("x-ms-range", "bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 0-9/{size}").as_str()
    );
    assert_eq!(part.bytes().await.unwrap().len(), 10);
    let bad = http.get(url.replace("sig=", "sig=x")).send().await.unwrap();
    assert_eq!(bad.status(), 403);
    assert_eq!(bad.headers()["x-ms-error-code"], "AuthenticationFailed");
    em.advance_clock(3601).await;
    let expired = http.get(&url).send().await.unwrap();
    assert_eq!(expired.status(), 403, "the SAS lasts an hour");

    // Cancel a queued run: it never pushes.
    let second = schedule().await;
    let (s, _) = em
        .arm(
            &owner,
            Method::POST,
            &format!("{reg}/runs/{second}/cancel?{api}"),
            None,
        )
        .await;
    assert_eq!(s, 200);
    em.advance_clock(10).await;
    let c = get(second.clone()).await;
    assert_eq!(c["properties"]["status"], "Canceled", "{c}");
    assert_eq!(c["properties"]["outputImages"], json!([]));
    let (_, list) = em
        .arm(
            &owner,
            Method::GET,
            &format!("{reg}/runs?{api}&$filter=Status%20eq%20'Canceled'"),
            None,
        )
        .await;
    assert_eq!(list["value"].as_array().unwrap().len(), 1, "{list}");
}

/// `az acr run`: a `--cmd` (EncodedTaskRunRequest) pulls its image through the
/// run's registry login; a task file with build, push and cmd steps
/// (FileTaskRunRequest, local context) builds, pushes and resolves its image.
#[tokio::test]
async fn acr_run_cmd_and_task_file() {
    let em = Emulator::start();
    let az = setup(&em, &["myregistry"]).await;
    em.push_sample("myregistry.azurecr.io/sample/hello-world:v1")
        .unwrap();
    let cmd = az
        .run(&[
            "acr",
            "run",
            "--registry",
            "myregistry",
            "--cmd",
            "$Registry/sample/hello-world:v1",
            "/dev/null",
        ])
        .await;
    assert!(cmd.ok, "{}\n{}", cmd.stdout, cmd.stderr);
    assert!(
        cmd.stdout.contains("v1: Pulling from sample/hello-world")
            && cmd.stdout.contains("Run ID: ca1 was successful"),
        "{}",
        cmd.stdout
    );
    let missing = az
        .run(&[
            "acr",
            "run",
            "--registry",
            "myregistry",
            "--cmd",
            "$Registry/sample/nothing:v1",
            "/dev/null",
        ])
        .await;
    assert!(!missing.ok);
    assert!(
        missing.stdout.contains("manifest unknown"),
        "{}",
        missing.stdout
    );

    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM myregistry.azurecr.io/sample/hello-world:v1\nCMD [\"/hello\"]\n",
    )
    .unwrap();
    std::fs::write(
        ctx.path().join("acb.yaml"),
        "version: v1.1.0\nsteps:\n  - id: build\n    build: -t $Registry/hello-world:$ID -f Dockerfile .\n  - push: [\"$Registry/hello-world:$ID\"]\n  - cmd: $Registry/hello-world:$ID\n",
    )
    .unwrap();
    let file = run_file(&az, "myregistry", ctx.path()).await;
    assert!(file.ok, "{}\n{}", file.stdout, file.stderr);
    for line in [
        "Executing step ID: build.",
        "Pushing image: myregistry.azurecr.io/hello-world:ca3, attempt 1",
        "was built by this run and its command is not executed",
        "Run ID: ca3 was successful",
    ] {
        assert!(file.stdout.contains(line), "{line}: {}", file.stdout);
    }
    let tags = show_tags(&az, "myregistry", "hello-world").await;
    assert_eq!(tags, serde_json::json!(["ca3"]));
}

/// With a local mirror of the seed's git context (`--task-context-dir`), the
/// seed's task builds the mirrored Dockerfile: its FROM comes from the
/// offline Docker Hub, and the pushed image carries that base's layer.
#[tokio::test]
async fn git_context_from_a_local_mirror() {
    let mirror = tempfile::tempdir().unwrap();
    let repo = mirror
        .path()
        .join("github.com/Azure-Samples/acr-build-helloworld-node");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(repo.join("Dockerfile"), "FROM hello-world\nCOPY . /src\n").unwrap();
    let mirror_arg = mirror.path().to_string_lossy().into_owned();
    let em = Emulator::start_with(&["--task-context-dir", &mirror_arg]);
    let az = setup(&em, &["myregistry"]).await;
    task_create(&az, "myregistry", None).await;
    let run = az
        .run(&[
            "acr",
            "task",
            "run",
            "--name",
            "hello-world",
            "--registry",
            "myregistry",
        ])
        .await;
    assert!(run.ok, "{}\n{}", run.stdout, run.stderr);
    for line in [
        "Using the local mirror of 'https://github.com/Azure-Samples/acr-build-helloworld-node.git#main'",
        "Step 1/3 : FROM hello-world",
        "latest: Pulling from library/hello-world",
        "Run ID: ca1 was successful",
    ] {
        assert!(run.stdout.contains(line), "{line}: {}", run.stdout);
    }
    let creds = pull_creds(&az, "myregistry").await;
    let info = skopeo(
        &em,
        &[
            "inspect",
            "--creds",
            &creds,
            "docker://myregistry.azurecr.io/hello-world:ca1",
        ],
    )
    .await;
    assert!(info.ok, "{}", info.stderr);
    let info: Value = serde_json::from_str(&info.stdout).unwrap();
    assert_eq!(info["Layers"].as_array().unwrap().len(), 2, "{info}");
}

/// A template runs a task (Microsoft.ContainerRegistry/registries/taskRuns,
/// the way templates do it): the deployment creates the task and the taskRun,
/// its output reads the run id through reference(); `az acr taskrun show`
/// and `logs` follow the run.
#[tokio::test]
async fn task_run_from_a_template() {
    let em = Emulator::start();
    let az = setup(&em, &["myregistry"]).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("taskrun.json");
    std::fs::write(
        &file,
        r#"{
  "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
  "contentVersion": "1.0.0.0",
  "parameters": { "registryName": { "type": "string" } },
  "resources": [
    {
      "type": "Microsoft.ContainerRegistry/registries/tasks",
      "apiVersion": "2019-06-01-preview",
      "name": "[concat(parameters('registryName'), '/buildtask')]",
      "location": "[resourceGroup().location]",
      "properties": {
        "platform": { "os": "Linux" },
        "step": { "type": "Docker", "dockerFilePath": "Dockerfile", "contextPath": "/dev/null",
                  "imageNames": [ "fromtemplate:{{.Run.ID}}" ] }
      }
    },
    {
      "type": "Microsoft.ContainerRegistry/registries/taskRuns",
      "apiVersion": "2019-06-01-preview",
      "name": "[concat(parameters('registryName'), '/firstrun')]",
      "dependsOn": [ "[resourceId('Microsoft.ContainerRegistry/registries/tasks', parameters('registryName'), 'buildtask')]" ],
      "properties": {
        "runRequest": {
          "type": "TaskRunRequest",
          "taskId": "[resourceId('Microsoft.ContainerRegistry/registries/tasks', parameters('registryName'), 'buildtask')]"
        }
      }
    }
  ],
  "outputs": {
    "runId": {
      "type": "string",
      "value": "[reference(resourceId('Microsoft.ContainerRegistry/registries/taskRuns', parameters('registryName'), 'firstrun'), '2019-06-01-preview').runResult.properties.runId]"
    }
  }
}"#,
    )
    .unwrap();
    let out = az
        .json(&[
            "deployment",
            "group",
            "create",
            "-g",
            "myResourceGroup",
            "--template-file",
            &file.to_string_lossy(),
            "--parameters",
            "registryName=myregistry",
        ])
        .await;
    assert_eq!(out["properties"]["provisioningState"], "Succeeded", "{out}");
    assert_eq!(out["properties"]["outputs"]["runId"]["value"], "ca1");
    let tr = az
        .json(&[
            "acr",
            "taskrun",
            "show",
            "--name",
            "firstrun",
            "--registry",
            "myregistry",
        ])
        .await;
    assert_eq!(tr["runResult"]["status"], "Succeeded", "{tr}");
    let logs = az
        .run(&[
            "acr",
            "taskrun",
            "logs",
            "--name",
            "firstrun",
            "--registry",
            "myregistry",
        ])
        .await;
    assert!(
        logs.ok && logs.stdout.contains("Run ID: ca1 was successful"),
        "{}\n{}",
        logs.stdout,
        logs.stderr
    );

    // A run that fails fails its taskRun, and the deployment with it.
    let failing = std::fs::read_to_string(&file)
        .unwrap()
        .replace(
            "\"contextPath\": \"/dev/null\",",
            "\"contextPath\": \"source/nowhere.tar.gz\",",
        )
        .replace("buildtask", "badtask")
        .replace("firstrun", "badrun");
    let bad_file = dir.path().join("failing.json");
    std::fs::write(&bad_file, failing).unwrap();
    let bad = az
        .run(&[
            "deployment",
            "group",
            "create",
            "-g",
            "myResourceGroup",
            "-n",
            "failing",
            "--template-file",
            &bad_file.to_string_lossy(),
            "--parameters",
            "registryName=myregistry",
        ])
        .await;
    assert!(!bad.ok, "{}", bad.stdout);
    assert!(
        bad.stderr.contains("DeploymentFailed") && bad.stderr.contains("TaskRunFailed"),
        "{}",
        bad.stderr
    );
}

/// The API path for a quick build's own credentials (`az acr build` has no
/// flag for them): a DockerBuildRequest whose `credentials.customRegistries`
/// hold the base registry's admin user pulls the FROM; without them the run
/// fails with the registry's error. The context is uploaded through the SAS
/// URL `listBuildSourceUploadUrl` hands out, as the storage SDK does it.
#[tokio::test]
async fn quick_build_with_request_credentials() {
    use reqwest::Method;
    use serde_json::json;
    let em = Emulator::start();
    let owner = em.arm_token().await;
    let rg = "/subscriptions/a2e0a2e0-0000-4000-8000-000000000002/resourceGroups/rg1";
    em.arm(
        &owner,
        Method::PUT,
        &format!("{rg}?api-version=2024-07-01"),
        Some(json!({"location": "eastus"})),
    )
    .await;
    let reg = |n: &str| format!("{rg}/providers/Microsoft.ContainerRegistry/registries/{n}");
    for (n, admin) in [("quickhome1", false), ("quickbase1", true)] {
        let (s, b) = em
            .arm(
                &owner,
                Method::PUT,
                &format!("{}?api-version=2023-07-01", reg(n)),
                Some(json!({"location": "eastus", "sku": {"name": "Basic"}, "properties": {"adminUserEnabled": admin}})),
            )
            .await;
        assert_eq!(s, 201, "{b}");
    }
    em.push_sample("quickbase1.azurecr.io/hello-world:v1")
        .unwrap();
    let (_, creds) = em
        .arm(
            &owner,
            Method::POST,
            &format!(
                "{}/listCredentials?api-version=2023-07-01",
                reg("quickbase1")
            ),
            None,
        )
        .await;
    let (user, pass) = (
        creds["username"].as_str().unwrap().to_string(),
        creds["passwords"][0]["value"].as_str().unwrap().to_string(),
    );

    // Upload a context: a Dockerfile FROM the base registry.
    let mut tarball = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    let dockerfile = b"FROM quickbase1.azurecr.io/hello-world:v1\nCMD [\"/hello\"]\n";
    let mut h = tar::Header::new_gnu();
    h.set_size(dockerfile.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    tarball
        .append_data(&mut h, "Dockerfile", &dockerfile[..])
        .unwrap();
    let gz = tarball.into_inner().unwrap().finish().unwrap();
    let upload = |_: ()| async {
        let (s, loc) = em
            .arm(
                &owner,
                Method::POST,
                &format!(
                    "{}/listBuildSourceUploadUrl?api-version=2025-03-01-preview",
                    reg("quickhome1")
                ),
                None,
            )
            .await;
        assert_eq!(s, 200, "{loc}");
        let r = em
            .http()
            .put(loc["uploadUrl"].as_str().unwrap())
            .header("x-ms-blob-type", "BlockBlob")
            .body(gz.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        loc["relativePath"].as_str().unwrap().to_string()
    };
    let schedule = |source: String, with_creds: bool| {
        let em = &em;
        let owner = owner.clone();
        let home = reg("quickhome1");
        let (user, pass) = (user.clone(), pass.clone());
        async move {
            let mut body = json!({
                "type": "DockerBuildRequest", "sourceLocation": source, "dockerFilePath": "Dockerfile",
                "imageNames": ["app:{{.Run.ID}}"], "isPushEnabled": true, "platform": {"os": "Linux"}
            });
            if with_creds {
                body["credentials"] = json!({"customRegistries": {"quickbase1.azurecr.io": {
                    "userName": {"type": "Opaque", "value": user}, "password": {"type": "Opaque", "value": pass}
                }}});
            }
            let (s, run) = em
                .arm(
                    &owner,
                    Method::POST,
                    &format!("{home}/scheduleRun?api-version=2025-03-01-preview"),
                    Some(body),
                )
                .await;
            assert_eq!(s, 200, "{run}");
            let id = run["properties"]["runId"].as_str().unwrap().to_string();
            let (_, done) = em
                .arm(
                    &owner,
                    Method::GET,
                    &format!("{home}/runs/{id}?api-version=2025-03-01-preview"),
                    None,
                )
                .await;
            done["properties"]["status"].as_str().unwrap().to_string()
        }
    };
    assert_eq!(schedule(upload(()).await, false).await, "Failed");
    assert_eq!(schedule(upload(()).await, true).await, "Succeeded");
}

/// A timer trigger fires as emulated time passes its schedule: the run is an
/// AutoRun carrying the trigger's name and occurrence (`az acr task list-runs`
/// shows it as Timer-triggered); a disabled task does not fire.
#[tokio::test]
async fn timer_trigger_fires_on_the_emulated_clock() {
    let em = Emulator::start();
    let az = setup(&em, &["myregistry"]).await;
    az.ok(&[
        "acr",
        "task",
        "create",
        "--image",
        "timed:{{.Run.ID}}",
        "--name",
        "nightly",
        "--registry",
        "myregistry",
        "--context",
        "/dev/null",
        "--cmd",
        "$Registry/timed:latest",
        "--schedule",
        "hourly:0 * * * *",
        "-o",
        "none",
    ])
    .await;
    let runs = az
        .json(&["acr", "task", "list-runs", "-r", "myregistry"])
        .await;
    assert_eq!(runs.as_array().unwrap().len(), 0, "nothing before its time");
    em.advance_clock(2 * 3600).await;
    // az's cached token expired in emulated time (az judges expiry by the wall clock):
    // drop it and log in again.
    az.ok(&["account", "clear"]).await;
    let relog = az.login(CLIENT_SECRET).await;
    assert!(relog.ok, "{}", relog.stderr);
    let runs = az
        .json(&["acr", "task", "list-runs", "-r", "myregistry"])
        .await;
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 2, "one run per hour passed: {runs:?}");
    assert_eq!(runs[0]["runType"], "AutoRun");
    assert_eq!(runs[0]["timerTrigger"]["timerTriggerName"], "hourly");
    let table = az
        .ok(&[
            "acr",
            "task",
            "list-runs",
            "-r",
            "myregistry",
            "-o",
            "table",
        ])
        .await;
    assert!(table.contains("Timer"), "{table}");

    az.ok(&[
        "acr",
        "task",
        "update",
        "-n",
        "nightly",
        "-r",
        "myregistry",
        "--status",
        "Disabled",
        "-o",
        "none",
    ])
    .await;
    em.advance_clock(3600).await;
    az.ok(&["account", "clear"]).await;
    let relog = az.login(CLIENT_SECRET).await;
    assert!(relog.ok, "{}", relog.stderr);
    let runs = az
        .json(&["acr", "task", "list-runs", "-r", "myregistry"])
        .await;
    assert_eq!(
        runs.as_array().unwrap().len(),
        2,
        "a disabled task does not fire"
    );
}

/// Tasks, runs and taskRuns as azure-cli's recordings (`test_acr_task`,
/// `test_acr_taskrun`) show them, through the spec layer: a task answers 200
/// to PUT (new or not) in the RP's field order, without `tags` when none were
/// sent; a run is `type, properties, id, name`; PATCH archives it;
/// `list-runs --top` is the whole answer (no `nextLink`); a taskRun's PUT is
/// 201 with its run's own operation to poll, and its run fails it.
#[tokio::test]
async fn tasks_runs_and_task_runs_as_recorded() {
    use reqwest::Method;
    use serde_json::json;
    let em = Emulator::start();
    let owner = em.arm_token().await;
    let rg = em.resource_group(&owner, "rg1").await;
    let reg = format!("{rg}/providers/Microsoft.ContainerRegistry/registries/recordreg01");
    let (s, _) = em
        .arm(
            &owner,
            Method::PUT,
            &format!("{reg}?api-version=2023-07-01"),
            Some(json!({"location": "eastus", "sku": {"name": "Basic"}})),
        )
        .await;
    assert_eq!(s, 201);
    em.advance_clock(10).await;
    let api = "api-version=2025-03-01-preview";
    let task_body = json!({"location": "eastus", "properties": {
        "platform": {"os": "linux", "architecture": "amd64"},
        "step": {"type": "Docker", "dockerFilePath": "Dockerfile", "imageNames": ["rec:{{.Run.ID}}"], "contextPath": "/dev/null"}
    }});
    for _ in 0..2 {
        let (s, t) = em
            .arm(
                &owner,
                Method::PUT,
                &format!("{reg}/tasks/rectask?{api}"),
                Some(task_body.clone()),
            )
            .await;
        assert_eq!(s, 200, "{t}");
        let keys: Vec<&str> = keys_of(&t);
        assert_eq!(
            keys,
            ["type", "properties", "id", "name", "location", "systemData"],
            "{t}"
        );
        let props: Vec<&str> = t["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(props[..2], ["provisioningState", "creationDate"], "{t}");
        assert_eq!(t["properties"]["provisioningState"], "Succeeded");
        assert_eq!(t["properties"]["status"], "Enabled");
        assert_eq!(t["properties"]["timeout"], 3600);
        assert_eq!(t["properties"]["agentConfiguration"], json!({"cpu": 2}));
        assert_eq!(t["properties"]["isSystemTask"], false);
        assert_eq!(t["properties"]["step"]["type"], "Docker");
    }
    // A task name the RP refuses, before the body is read.
    let (s, e) = em
        .arm(
            &owner,
            Method::PUT,
            &format!("{reg}/tasks/abc?{api}"),
            Some(task_body.clone()),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(e["error"]["code"], "InvalidTaskName", "{e}");

    let (s, run) = em
        .arm(
            &owner,
            Method::POST,
            &format!("{reg}/scheduleRun?{api}"),
            Some(json!({"type": "TaskRunRequest", "taskId": format!("{reg}/tasks/rectask")})),
        )
        .await;
    assert_eq!(s, 200, "{run}");
    let keys: Vec<&str> = run
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["type", "properties", "id", "name"], "{run}");
    assert_eq!(run["name"], "ca1");
    assert_eq!(run["properties"]["task"], "rectask");
    let (s, patched) = em
        .arm(
            &owner,
            Method::PATCH,
            &format!("{reg}/runs/ca1?{api}"),
            Some(json!({"isArchiveEnabled": true})),
        )
        .await;
    assert_eq!(s, 200, "{patched}");
    assert_eq!(patched["properties"]["isArchiveEnabled"], true);
    assert!(patched.get("isArchiveEnabled").is_none(), "{patched}");
    assert!(patched.get("_run").is_none(), "{patched}");
    let (s, missing) = em
        .arm(&owner, Method::GET, &format!("{reg}/runs/ca9?{api}"), None)
        .await;
    assert_eq!(s, 404);
    assert_eq!(missing["error"]["code"], "ResourceNotFound");

    for _ in 0..2 {
        em.arm(
            &owner,
            Method::POST,
            &format!("{reg}/scheduleRun?{api}"),
            Some(json!({"type": "TaskRunRequest", "taskId": format!("{reg}/tasks/rectask")})),
        )
        .await;
    }
    let (s, list) = em
        .arm(
            &owner,
            Method::GET,
            &format!("{reg}/runs?{api}&$filter=TaskName%20eq%20'rectask'&$top=2"),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        list,
        json!({"value": [list["value"][0].clone(), list["value"][1].clone()]}),
        "--top is the whole answer: {list}"
    );
    assert_eq!(list["value"][0]["name"], "ca3");
    assert_eq!(list["value"][1]["name"], "ca2");

    // A taskRun: 201, polled through its run's operation.
    let r = em
        .arm_response(
            &owner,
            reqwest::Method::PUT,
            &format!("{reg}/taskRuns/rectaskrun?{api}"),
            Some(
                json!({"properties": {"runRequest": {"type": "TaskRunRequest",
            "taskId": format!("{reg}/tasks/rectask")}}}),
            ),
        )
        .await;
    assert_eq!(r.status(), 201);
    let poll = r.headers()["azure-asyncoperation"]
        .to_str()
        .unwrap()
        .to_string();
    let tr: Value = r.json().await.unwrap();
    let keys: Vec<&str> = keys_of(&tr);
    assert_eq!(
        keys,
        ["type", "properties", "location", "id", "name", "systemData"],
        "{tr}"
    );
    assert_eq!(tr["location"], "eastus", "the registry's location");
    assert_eq!(tr["properties"]["runResult"]["name"], "ca4");
    assert!(tr["properties"].get("forceUpdateTag").is_none(), "{tr}");
    em.advance_clock(10).await;
    let done = Emulator::json_of(em.http().get(&poll).bearer_auth(&owner)).await;
    assert_eq!(done["status"], "Succeeded", "{done}");
    let (_, tr) = em
        .arm(
            &owner,
            Method::GET,
            &format!("{reg}/taskRuns/rectaskrun?{api}"),
            None,
        )
        .await;
    assert_eq!(tr["properties"]["provisioningState"], "Succeeded", "{tr}");
    assert_eq!(
        tr["properties"]["runResult"]["properties"]["status"],
        "Succeeded"
    );
    let delete = |path: String| {
        let (em, owner) = (&em, owner.clone());
        async move { em.arm(&owner, Method::DELETE, &path, None).await.0 }
    };
    assert_eq!(
        delete(format!("{reg}/taskRuns/rectaskrun?{api}")).await,
        200
    );
    assert_eq!(delete(format!("{reg}/tasks/rectask?{api}")).await, 200);
    assert_eq!(delete(format!("{reg}/tasks/rectask?{api}")).await, 204);
}

/// The keys of a JSON object, in order.
fn keys_of(v: &Value) -> Vec<&str> {
    v.as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

/// A task file whose `when`s reorder it: `build-tools` starts at once
/// (`["-"]`), `show-app` waits for the step before it, `push` for both builds.
const WHEN_TASK: &str = "version: v1.1.0
steps:
  - id: build-app
    build: -t $Registry/app:$ID -f Dockerfile .
  - id: show-app
    cmd: $Registry/app:$ID cat /made
  - id: build-tools
    build: -t $Registry/tools:$ID -f Dockerfile .
    when: [\"-\"]
  - id: push
    push: [\"$Registry/app:$ID\", \"$Registry/tools:$ID\"]
    when: [\"build-app\", \"build-tools\"]
";

/// The ids of a run log's steps, in the order they were executed.
pub(crate) fn executed(log: &str) -> Vec<&str> {
    log.lines()
        .filter_map(|l| l.split_once("Executing step ID: "))
        .filter_map(|(_, rest)| rest.split_once(". Timeout"))
        .map(|(id, _)| id)
        .collect()
}

/// `az acr repository show-tags` of `repo` in `registry`.
async fn show_tags(az: &Az<'_>, registry: &str, repo: &str) -> Value {
    az.json(&[
        "acr",
        "repository",
        "show-tags",
        "-n",
        registry,
        "--repository",
        repo,
    ])
    .await
}

/// `az acr run -f acb.yaml .` on `registry`, in `ctx`.
async fn run_file(az: &Az<'_>, registry: &str, ctx: &std::path::Path) -> crate::harness::Output {
    az.run_in(ctx, &["acr", "run", "-r", registry, "-f", "acb.yaml", "."])
        .await
}

/// [`WHEN_TASK`] as `registry`'s first run, with `dockerfile` beside it: its
/// steps ran in the DAG's order and both builds' images were pushed. Its log.
pub(crate) async fn run_when_task(az: &Az<'_>, registry: &str, dockerfile: &str) -> String {
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
    std::fs::write(ctx.path().join("acb.yaml"), WHEN_TASK).unwrap();
    let out = run_file(az, registry, ctx.path()).await;
    assert!(out.ok, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(
        executed(&out.stdout),
        ["build-app", "build-tools", "show-app", "push"],
        "{}",
        out.stdout
    );
    for repo in ["app", "tools"] {
        let tags = show_tags(az, registry, repo).await;
        assert_eq!(tags, serde_json::json!(["ca1"]), "{repo}");
    }
    out.stdout
}

/// `az acr run -f` with `when`, no engine: the steps run in the DAG's order
/// and both images are pushed; a `when` naming no earlier step fails the run
/// before any step, in acr-builder's words.
#[tokio::test]
async fn a_task_files_when_orders_its_steps() {
    let em = Emulator::start();
    let az = setup(&em, &["whenreg"]).await;
    em.push_sample("whenreg.azurecr.io/sample/hello-world:v1")
        .unwrap();
    let dockerfile = "FROM whenreg.azurecr.io/sample/hello-world:v1\nCMD [\"/hello\"]\n";
    run_when_task(&az, "whenreg", dockerfile).await;

    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
    std::fs::write(
        ctx.path().join("acb.yaml"),
        "version: v1.1.0\nsteps:\n  - id: build\n    build: -t $Registry/app:$ID -f Dockerfile .\n  - id: show\n    cmd: $Registry/app:$ID\n    when: [\"test\"]\n  - id: test\n    cmd: $Registry/app:$ID\n",
    )
    .unwrap();
    let bad = run_file(&az, "whenreg", ctx.path()).await;
    assert!(!bad.ok, "{}", bad.stdout);
    let error = "failed to unmarshal task before running: test does not exist as a vertex [from: test, to: show]";
    assert!(
        bad.stdout.contains(error) && executed(&bad.stdout).is_empty(),
        "{}",
        bad.stdout
    );
    let run = az
        .json(&[
            "acr", "task", "show-run", "-r", "whenreg", "--run-id", "ca2",
        ])
        .await;
    assert_eq!(run["status"], "Failed");
    assert_eq!(run["runErrorMessage"], error);
}
