//! The web console (`/_emulator/ui`) in Debian's headless Chromium, driven by
//! playwright-core (tests/console/console.mjs; `scripts/test` installs it):
//! the first seed's failing flow with the real az CLI — `az container create
//! --acr-identity … --assign-identity …` before the identity has AcrPull — then
//! the console finds that failed pull among its decisions, draws its sequence
//! with the authorize() step failed and shows the role assignment that fixes
//! it. The screenshot is kept as a CI artifact: target/artifacts/console-failed-pull.png.

use crate::aci::{create_with_identity, setup};
use crate::acr_tasks::{acrpull, registry_id};
use crate::harness::{CLIENT_SECRET, Emulator};
use serde_json::Value;
use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test]
async fn console_finds_the_failed_pull_and_its_missing_role() {
    let em = Emulator::start();
    let (az, userid, spid) = setup(&em, "consolereg01").await;
    let image = "consolereg01.azurecr.io/hello-world:v1";
    let out =
        create_with_identity(&az, "my-containergroup", image, &userid, &["--ports", "80"]).await;
    assert!(out.stderr.contains("(InaccessibleImage)"), "{}", out.stderr);

    // What the console reads: the registry's content and the world, secrets removed.
    let world = em.control_json("/_emulator/world").await;
    let repos = &world["registries"]["consolereg01"];
    assert_eq!(repos[0]["name"], "hello-world", "{repos}");
    assert_eq!(repos[0]["tags"][0]["tag"], "v1", "{repos}");
    assert!(
        world["principals"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["objectId"] == spid.as_str()),
        "the identity's service principal is listed"
    );

    let text = world.to_string();
    assert!(!text.contains(CLIENT_SECRET), "no secret in the world view");

    let artifacts = repo().join("target/artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("console-failed-pull.png");
    let _ = std::fs::remove_file(&shot);
    let seen = node(&["failed-pull", &em.base()], &shot).await;
    assert_eq!(seen["failedCheck"], "authorize", "{seen}");
    let outcome = seen["outcome"].as_str().unwrap();
    assert!(outcome.contains("InaccessibleImage"), "{seen}");
    let fix = seen["fix"].as_str().unwrap();
    assert!(
        fix.contains(&format!("--assignee-object-id {spid}")) && fix.contains("--role AcrPull"),
        "{seen}"
    );
    assert!(
        seen["steps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s.as_str().unwrap().starts_with("✗ authorize")),
        "{seen}"
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a screenshot was saved");

    // The fix the console showed, then the same create: the group runs, and
    // the console shows it with its containers' state and events.
    acrpull(&az, &spid, &registry_id(&az, "consolereg01").await).await;
    let out =
        create_with_identity(&az, "my-containergroup", image, &userid, &["--ports", "80"]).await;
    assert!(out.ok, "{}", out.stderr);
    let groups = node(
        &["groups", &em.base()],
        &artifacts.join("console-groups.png"),
    )
    .await;
    let card = groups["groups"][0].as_str().unwrap();
    assert!(
        card.contains("my-containergroup")
            && card.contains("Succeeded")
            && card.contains("Running"),
        "{card}"
    );
    assert!(
        card.contains("Pulled") && card.contains("Started"),
        "events shown: {card}"
    );
}

/// Runs tests/console/console.mjs with `args` and the screenshot path; its JSON answer.
pub(crate) async fn node(args: &[&str], shot: &std::path::Path) -> Value {
    let run = tokio::process::Command::new("node")
        .arg(repo().join("tests/console/console.mjs"))
        .args(args)
        .arg(shot)
        .output()
        .await
        .expect("node runs (scripts/test installs playwright-core; .ci/run installs chromium)");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "console.mjs failed: {}\n{stdout}",
        String::from_utf8_lossy(&run.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap()
}

#[tokio::test]
async fn console_page_and_assets_are_built_in() {
    let em = Emulator::start();
    let http = em.http();
    for (path, kind) in [
        ("/_emulator/ui", "text/html"),
        ("/_emulator/ui/console.js", "text/javascript"),
        ("/_emulator/ui/console.css", "text/css"),
    ] {
        let r = http
            .get(format!("{}{path}", em.base()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let ct = r.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with(kind), "{path}: {ct}");
        let body = r.text().await.unwrap();
        // Nothing is fetched from outside the emulator.
        for outside in [
            "src=\"http",
            "href=\"http",
            "@import",
            "fetch(\"http",
            "cdn",
        ] {
            assert!(!body.contains(outside), "{path} refers outside: {outside}");
        }
    }
    let r = http
        .get(format!("{}/_emulator/ui/nope.js", em.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"]["code"], "NotFound");
}
