//! ACR task runs that really build and run: an emulator started with
//! `--container-engine docker` against a private engine, real az 2.91, and a
//! base image made here (Debian's static busybox) pushed to the emulated
//! registry. `az acr build` runs the Dockerfile in the engine (the base image
//! pulled through the registry and loaded, `RUN` executed), the image it
//! pushed is pulled back by skopeo; a failing `RUN` and a `cmd` step whose
//! container exits 3 fail their runs with the engine's words in the log. A
//! run working in the engine holds up no ARM write, and a task file's `when`
//! orders its steps.

use crate::aci_engine::{emulator, push_busybox};
use crate::acr_tasks::{pull_creds, run_when_task, setup, task_create};
use crate::docker::Dockerd;
use crate::harness::Emulator;
use crate::harness::Output;
use crate::oci_clients::skopeo;
use std::process::Command;

/// The busybox image has no `/bin/sh`: the Dockerfiles name busybox's shell.
const SHELL: &str = "SHELL [\"/bin/busybox\", \"sh\", \"-c\"]";

/// `az acr build` to `tag` of a context holding a Dockerfile (`FROM` the
/// registry's busybox, then `lines`) and the executable script `greet.sh`.
async fn acr_build(az: &crate::az::Az<'_>, registry: &str, tag: &str, lines: &str) -> Output {
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM {registry}.azurecr.io/busybox:v1\n{SHELL}\n{lines}\n"),
    )
    .unwrap();
    // An executable script for COPY (its mode travels with the context).
    let script = ctx.path().join("greet.sh");
    std::fs::write(&script, "#!/bin/busybox sh\necho built\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = ctx.path().to_string_lossy().into_owned();
    az.run(&["acr", "build", "-r", registry, "-t", tag, &dir])
        .await
}

/// `az acr run --cmd <cmd> /dev/null` on the registry `cmdreg`.
async fn acr_run(az: &crate::az::Az<'_>, cmd: &str) -> Output {
    acr_run_on(az, "cmdreg", cmd).await
}

/// `az acr run --cmd <cmd> /dev/null` on `registry`.
async fn acr_run_on(az: &crate::az::Az<'_>, registry: &str, cmd: &str) -> Output {
    az.run(&[
        "acr",
        "run",
        "--registry",
        registry,
        "--cmd",
        cmd,
        "/dev/null",
    ])
    .await
}

/// The file `path` in the image `reference` pulls back (skopeo, into an OCI
/// layout): its content in the top-most layer that has it.
async fn file_in_image(em: &Emulator, creds: &str, reference: &str, path: &str) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let out = skopeo(
        em,
        &[
            "copy",
            "--src-creds",
            creds,
            &format!("docker://{reference}"),
            &format!("oci:{}:pulled", dir.path().display()),
        ],
    )
    .await;
    assert!(out.ok, "{}\n{}", out.stdout, out.stderr);
    let blob = |digest: &str| {
        dir.path()
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).unwrap()).unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(blob(index["manifests"][0]["digest"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    let layers = manifest["layers"].as_array().unwrap();
    for layer in layers.iter().rev() {
        let out = Command::new("tar")
            .arg("-xOf")
            .arg(blob(layer["digest"].as_str().unwrap()))
            .arg(path)
            .output()
            .unwrap();
        if out.status.success() {
            return Some(String::from_utf8_lossy(&out.stdout).into_owned());
        }
    }
    None
}

/// The run ID az reports queueing (`Queued a build with ID: ca1`, on stderr).
fn queued_id(out: &Output) -> String {
    let text = format!("{}\n{}", out.stderr, out.stdout);
    text.lines()
        .find_map(|l| {
            l.split_once("with ID: ")
                .map(|(_, id)| id.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no run ID in:\n{text}"))
}

/// The second seed flow with a Dockerfile whose `RUN` writes a file: the
/// base comes from the registry, the engine copies the context's script
/// (`COPY`, executable still) and executes `RUN`, and the image pushed holds
/// the file the script wrote; `RUN exit 1` fails the run with the builder's
/// error in `az acr task logs`.
#[tokio::test]
async fn az_acr_build_runs_the_dockerfile_in_the_engine() {
    let engine = Dockerd::start_bridged();
    let em = emulator(&engine);
    let az = setup(&em, &["enginereg"]).await;
    push_busybox(&em, "enginereg.azurecr.io/busybox:v1", "echo base");

    let build = acr_build(
        &az,
        "enginereg",
        "built:v1",
        "COPY greet.sh /greet\nRUN /greet > /hello",
    )
    .await;
    assert!(build.ok, "{}\n{}", build.stdout, build.stderr);
    for line in [
        "v1: Pulling from busybox",
        "Step 3/4 : COPY greet.sh /greet",
        "Step 4/4 : RUN /greet > /hello",
        "Pushing image: enginereg.azurecr.io/built:v1, attempt 1",
        "was successful",
    ] {
        assert!(build.stdout.contains(line), "{line}:\n{}", build.stdout);
    }
    assert!(
        !build.stdout.contains("simulation"),
        "a real build says nothing of a simulation:\n{}",
        build.stdout
    );
    let creds = pull_creds(&az, "enginereg").await;
    assert_eq!(
        file_in_image(&em, &creds, "enginereg.azurecr.io/built:v1", "hello")
            .await
            .as_deref(),
        Some("built\n")
    );

    let build = acr_build(&az, "enginereg", "broken:v1", "RUN exit 1").await;
    assert!(!build.ok, "{}", build.stdout);
    let run_id = queued_id(&build);
    let logs = az
        .ok(&[
            "acr",
            "task",
            "logs",
            "-r",
            "enginereg",
            "--run-id",
            &run_id,
        ])
        .await;
    let error = "The command '/bin/busybox sh -c exit 1' returned a non-zero code: 1";
    assert!(
        logs.contains(error) && logs.contains(&format!("Run ID: {run_id} failed")),
        "{logs}"
    );
    let run = az
        .json(&[
            "acr",
            "task",
            "show-run",
            "-r",
            "enginereg",
            "--run-id",
            &run_id,
        ])
        .await;
    assert_eq!(run["status"], "Failed");
    assert_eq!(run["runErrorMessage"], error);
    let tags = az
        .run(&[
            "acr",
            "repository",
            "show-tags",
            "-n",
            "enginereg",
            "--repository",
            "broken",
        ])
        .await;
    assert!(!tags.ok, "nothing was pushed: {}", tags.stdout);
    // What the runs loaded and built left the engine with them.
    let images = engine.ok(&["images", "-a", "-q"]).await;
    assert_eq!(images.trim(), "", "images left behind");
}

/// `cmd` steps run their image in the engine: its output is in the run's
/// log, and its exit code decides the step (3 fails the run).
#[tokio::test]
async fn cmd_steps_run_their_image_and_its_exit_code_decides() {
    let engine = Dockerd::start_bridged();
    let em = emulator(&engine);
    let az = setup(&em, &["cmdreg"]).await;
    push_busybox(
        &em,
        "cmdreg.azurecr.io/busybox:v1",
        "echo hello from the cmd step",
    );

    let ok = acr_run(&az, "$Registry/busybox:v1").await;
    assert!(ok.ok, "{}\n{}", ok.stdout, ok.stderr);
    assert!(
        ok.stdout.contains("hello from the cmd step")
            && ok
                .stdout
                .contains("Successfully executed container: acb_step_0"),
        "{}",
        ok.stdout
    );

    let failing = acr_run(
        &az,
        "$Registry/busybox:v1 sh -c 'echo about to fail; exit 3'",
    )
    .await;
    assert!(!failing.ok, "{}", failing.stdout);
    let run_id = queued_id(&failing);
    let logs = az
        .ok(&["acr", "task", "logs", "-r", "cmdreg", "--run-id", &run_id])
        .await;
    assert!(
        logs.contains("about to fail")
            && logs.contains("failed to run step ID: acb_step_0: exit status 3")
            && !logs.contains("Successfully executed container"),
        "{logs}"
    );
    let run = az
        .json(&[
            "acr", "task", "show-run", "-r", "cmdreg", "--run-id", &run_id,
        ])
        .await;
    assert_eq!(run["status"], "Failed");
    // A task file's cmd step runs the image an earlier step of it built.
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!(
            "FROM cmdreg.azurecr.io/busybox:v1\n{SHELL}\nRUN echo made by the build step > /made\n"
        ),
    )
    .unwrap();
    std::fs::write(
        ctx.path().join("acb.yaml"),
        "version: v1.1.0\nsteps:\n  - id: build\n    build: -t $Registry/made:$ID -f Dockerfile .\n  - id: show\n    cmd: $Registry/made:$ID cat /made\n",
    )
    .unwrap();
    let file = az
        .run_in(
            ctx.path(),
            &["acr", "run", "-r", "cmdreg", "-f", "acb.yaml", "."],
        )
        .await;
    assert!(file.ok, "{}\n{}", file.stdout, file.stderr);
    assert!(
        file.stdout.contains("made by the build step")
            && file
                .stdout
                .contains("Successfully executed container: show"),
        "{}",
        file.stdout
    );
    // Nothing the runs made stays in the engine.
    let left = engine
        .ok(&["ps", "-a", "--filter", "label=azemu.instance", "-q"])
        .await;
    assert_eq!(left.trim(), "", "containers left behind");
}

/// The seed's task with its git context mirrored locally (`--task-context-dir`):
/// the engine builds the mirror's Dockerfile, copying its executable script.
#[tokio::test]
async fn a_task_builds_its_mirrored_git_context_in_the_engine() {
    let engine = Dockerd::start_bridged();
    let mirror = tempfile::tempdir().unwrap();
    let repo = mirror
        .path()
        .join("github.com/Azure-Samples/acr-build-helloworld-node");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    std::fs::write(repo.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
    std::fs::write(
        repo.join("Dockerfile"),
        format!("FROM mirrorreg.azurecr.io/busybox:v1\n{SHELL}\nCOPY . /src\nRUN /src/greet.sh > /hello\n"),
    )
    .unwrap();
    let script = repo.join("greet.sh");
    std::fs::write(&script, "#!/bin/busybox sh\necho built from the mirror\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let host = engine.host();
    let mirror_dir = mirror.path().to_string_lossy().into_owned();
    let env = [
        ("AZEMU_CONTAINER_ENGINE", "docker"),
        ("DOCKER_HOST", host.as_str()),
        ("AZEMU_TASK_CONTEXT_DIR", mirror_dir.as_str()),
    ];
    let em = Emulator::start_in_env(tempfile::tempdir().unwrap(), &env);
    let az = setup(&em, &["mirrorreg"]).await;
    push_busybox(&em, "mirrorreg.azurecr.io/busybox:v1", "echo base");
    task_create(&az, "mirrorreg", None).await;
    let run = az
        .run(&[
            "acr",
            "task",
            "run",
            "--name",
            "hello-world",
            "--registry",
            "mirrorreg",
        ])
        .await;
    assert!(run.ok, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("Using the local mirror of")
            && run.stdout.contains("Step 4/4 : RUN /src/greet.sh > /hello"),
        "{}",
        run.stdout
    );
    let creds = pull_creds(&az, "mirrorreg").await;
    let image = "mirrorreg.azurecr.io/hello-world:ca1";
    assert_eq!(
        file_in_image(&em, &creds, image, "hello").await.as_deref(),
        Some("built from the mirror\n")
    );
    assert_eq!(
        file_in_image(&em, &creds, image, "src/.git/HEAD").await,
        None,
        "the mirror's .git stays out of the context"
    );
}

/// The names of the engine's containers (this emulator's) that are running.
async fn running(engine: &Dockerd) -> Vec<String> {
    engine
        .ok(&[
            "ps",
            "--filter",
            "label=azemu.instance",
            "--format",
            "{{.Names}}",
        ])
        .await
        .lines()
        .map(str::to_string)
        .collect()
}

/// A run working in the engine holds up no other request: while its `cmd`
/// step's container waits for a file the test has not yet made, `az group
/// create` (an ARM write) completes; then the test makes the file, and the
/// run goes on to succeed.
#[tokio::test]
async fn arm_writes_go_on_while_a_run_works_in_the_engine() {
    let engine = Dockerd::start_bridged();
    let em = emulator(&engine);
    let az = setup(&em, &["holdreg"]).await;
    push_busybox(&em, "holdreg.azurecr.io/busybox:v1", "echo base");

    let run = acr_run_on(
        &az,
        "holdreg",
        "$Registry/busybox:v1 sh -c 'until [ -e /released ]; do /bin/busybox sleep 1; done; echo released by the test'",
    );
    let meanwhile = async {
        // The step's container is running (its name ends in the step's id).
        let mut step = None;
        for _ in 0..600 {
            step = running(&engine)
                .await
                .into_iter()
                .find(|n| n.ends_with("-acb-step-0"));
            if step.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let step = step.expect("the run's cmd step never ran in the engine");
        let created = tokio::time::timeout(
            std::time::Duration::from_secs(120),
            az.run(&[
                "group",
                "create",
                "-n",
                "meanwhile",
                "-l",
                "eastus",
                "-o",
                "none",
            ]),
        )
        .await;
        // Still working: the run has not ended.
        let still = running(&engine).await.contains(&step);
        engine
            .ok(&["exec", &step, "/bin/busybox", "touch", "/released"])
            .await;
        (created, still)
    };
    let (run, (created, still)) = tokio::join!(run, meanwhile);
    let created = created.expect("az group create waited for the run in the engine");
    assert!(created.ok, "{}", created.stderr);
    assert!(
        still,
        "the step was still running when the group was created"
    );
    assert!(
        run.ok && run.stdout.contains("released by the test"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    let group = az.json(&["group", "show", "-n", "meanwhile"]).await;
    assert_eq!(group["properties"]["provisioningState"], "Succeeded");
}

/// A task file's `when` orders its steps in the engine as ACR's DAG does
/// (`build-tools`, `when: ["-"]`, before `show-app`, which waits for the step
/// before it); `show-app` runs the image `build-app` built.
#[tokio::test]
async fn a_task_files_when_orders_its_steps_in_the_engine() {
    let engine = Dockerd::start_bridged();
    let em = emulator(&engine);
    let az = setup(&em, &["whenreg"]).await;
    push_busybox(&em, "whenreg.azurecr.io/busybox:v1", "echo base");
    let dockerfile =
        format!("FROM whenreg.azurecr.io/busybox:v1\n{SHELL}\nRUN echo made in order > /made\n");
    let log = run_when_task(&az, "whenreg", &dockerfile).await;
    assert!(log.contains("made in order"), "{log}");
}

/// A FROM naming its base by digest: the base is pulled through the registry
/// by that digest and the engine builds on it; the log names the FROM as the
/// Dockerfile does, and the context the build copies is the one az uploaded.
#[tokio::test]
async fn a_from_by_digest_builds_in_the_engine() {
    let engine = Dockerd::start_bridged();
    let em = emulator(&engine);
    let az = setup(&em, &["digestreg"]).await;
    push_busybox(&em, "digestreg.azurecr.io/busybox:v1", "echo base");
    let digest = az
        .ok(&[
            "acr",
            "repository",
            "show",
            "-n",
            "digestreg",
            "--image",
            "busybox:v1",
            "--query",
            "digest",
            "-o",
            "tsv",
        ])
        .await;
    let base = format!("digestreg.azurecr.io/busybox@{}", digest.trim());
    let dockerfile = format!("FROM {base}\n{SHELL}\nCOPY . /src\nRUN echo by digest > /made\n");
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), &dockerfile).unwrap();
    let dir = ctx.path().to_string_lossy().into_owned();
    let out = az
        .run(&["acr", "build", "-r", "digestreg", "-t", "bydigest:v1", &dir])
        .await;
    assert!(out.ok, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains(&format!("Step 1/4 : FROM {base}")) && !out.stdout.contains(":azemu-"),
        "{}",
        out.stdout
    );
    let creds = pull_creds(&az, "digestreg").await;
    let image = "digestreg.azurecr.io/bydigest:v1";
    assert_eq!(
        file_in_image(&em, &creds, image, "made").await.as_deref(),
        Some("by digest\n")
    );
    assert_eq!(
        file_in_image(&em, &creds, image, "src/Dockerfile")
            .await
            .as_deref(),
        Some(dockerfile.as_str()),
        "the context's own Dockerfile"
    );
    assert_eq!(
        file_in_image(&em, &creds, image, "src/.dockerignore").await,
        None
    );
}
