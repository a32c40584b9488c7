//! A container group's volumes in a real engine: `emptyDir` shared by its
//! containers, `secret` files, `gitRepo` from the local mirror (azemu is
//! offline), and `azureFile`, out of scope, mounted empty with an event that
//! says so; a `gitRepo` with no mirror keeps its container from being
//! created, and says why.

use crate::aci::{grant_acrpull, setup};
use crate::aci_engine::{container, event, logs, push_busybox, until};
use crate::docker::Dockerd;

fn yaml(userid: &str, script: &str, repo: &str) -> String {
    format!(
        "apiVersion: '2021-10-01'
location: eastus
type: Microsoft.ContainerInstance/containerGroups
identity:
  type: UserAssigned
  userAssignedIdentities: {{ '{userid}': {{}} }}
properties:
  osType: Linux
  restartPolicy: Never
  imageRegistryCredentials:
  - server: acivol0001.azurecr.io
    identity: '{userid}'
  volumes:
  - name: scratch
    emptyDir: {{}}
  - name: keys
    secret:
      token: czNjcmV0
  - name: site
    gitRepo:
      repository: {repo}
  - name: share
    azureFile:
      shareName: s
      storageAccountName: a
      storageAccountKey: a2V5
  containers:
  - name: writer
    properties:
      image: acivol0001.azurecr.io/busybox:v1
      command: ['/bin/busybox', 'sh', '-c', 'echo shared > /scratch/note; cat /keys/token; echo; cat /src/site/index.html; ls /share | wc -l; exec /bin/busybox sleep 3600']
      resources: {{ requests: {{ cpu: '.5', memoryInGb: '.5' }} }}
      volumeMounts:
      - {{ name: scratch, mountPath: /scratch }}
      - {{ name: keys, mountPath: /keys, readOnly: true }}
      - {{ name: site, mountPath: /src }}
      - {{ name: share, mountPath: /share }}
  - name: reader
    properties:
      image: acivol0001.azurecr.io/busybox:v1
      command: ['/bin/busybox', 'sh', '-c', '{script}']
      resources: {{ requests: {{ cpu: '.5', memoryInGb: '.5' }} }}
      volumeMounts:
      - {{ name: scratch, mountPath: /data }}
"
    )
}

/// `az container create -n name --file` of `yaml` (written into `dir`).
async fn create(az: &crate::az::Az<'_>, dir: &std::path::Path, name: &str, yaml: &str) {
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, yaml).unwrap();
    let file = file.to_str().unwrap();
    let args = [
        "container",
        "create",
        "-g",
        "myResourceGroup",
        "-n",
        name,
        "--file",
        file,
    ];
    az.ok(&[&args[..], &["-o", "none"]].concat()).await;
}

#[tokio::test]
async fn volumes_are_mounted_in_the_engine() {
    let engine = Dockerd::start_bridged();
    let mirrors = tempfile::tempdir().unwrap();
    let site = mirrors.path().join("github.com/contoso/site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("index.html"), "<h1>from the mirror</h1>\n").unwrap();
    let host = engine.host();
    let context = mirrors.path().to_str().unwrap();
    let em = crate::harness::Emulator::start_in_env(
        tempfile::tempdir().unwrap(),
        &[
            ("AZEMU_CONTAINER_ENGINE", "docker"),
            ("DOCKER_HOST", host.as_str()),
            ("AZEMU_TASK_CONTEXT_DIR", context),
        ],
    );
    let (az, userid, spid) = setup(&em, "acivol0001").await;
    push_busybox(&em, "acivol0001.azurecr.io/busybox:v1", "true");
    grant_acrpull(&az, "acivol0001", &spid).await;
    let dir = tempfile::tempdir().unwrap();
    // The reader waits for the writer's file in the shared emptyDir.
    let wait = "until [ -f /data/note ]; do /bin/busybox sleep 0.1; done; cat /data/note";
    create(
        &az,
        dir.path(),
        "vols",
        &yaml(&userid, wait, "https://github.com/contoso/site"),
    )
    .await;
    // The writer stays up (the group's network is its), the reader ends.
    let g = until(&em, "vols", "read the note", |g| {
        g["properties"]["containers"][1]["properties"]["instanceView"]["currentState"]["state"]
            == "Terminated"
    })
    .await;
    let writer = container(&g);
    assert_eq!(writer["currentState"]["state"], "Running", "{writer:#}");
    let reader = &g["properties"]["containers"][1]["properties"]["instanceView"];
    assert_eq!(reader["currentState"]["exitCode"], 0, "{reader:#}");
    assert_eq!(
        event(writer, "Mounted")["message"],
        "azureFile volume 'share' at /share: Azure Files is out of scope for azemu, so an empty directory is mounted instead (simulated)"
    );
    let out = logs(&az, "vols").await;
    assert!(
        out.contains("s3cret\n<h1>from the mirror</h1>\n0\n"),
        "{out}"
    );
    let read = crate::aci_engine::container_logs(&az, "vols", "reader").await;
    assert!(read.starts_with("shared\n"), "{read}");
    // The secret's value never comes back from ARM.
    let shown = az
        .ok(&["container", "show", "-g", "myResourceGroup", "-n", "vols"])
        .await;
    assert!(!shown.contains("czNjcmV0"), "{shown}");

    // A gitRepo with no local mirror: that container is not created, and says why.
    let missing = yaml(&userid, "true", "https://github.com/contoso/nowhere");
    create(&az, dir.path(), "nomirror", &missing).await;
    let g = until(&em, "nomirror", "failed to mount", |g| {
        container(g)["currentState"]["detailStatus"] == "CreateContainerError"
    })
    .await;
    assert_eq!(
        event(container(&g), "Failed")["message"],
        "Error: gitRepo volume 'site': azemu is offline and has no local mirror of https://github.com/contoso/nowhere (--task-context-dir <dir>/<host>/<org>/<repo>[@<revision>])"
    );
    drop(em);
}
