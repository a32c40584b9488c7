//! The scenario library (fixtures/scenarios): `azemu scenario run` against
//! fresh emulators, each scenario asserting Azure's error text and the check
//! that failed. And the runner itself can fail: a scenario expecting the wrong
//! thing is reported as failed, with what was expected and what came back.

use std::path::Path;
use std::process::Command;

fn run(path: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_azemu"))
        .args(["scenario", "run", "--jobs", "2"])
        .arg(path)
        .output()
        .expect("run azemu scenario");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn every_scenario_in_the_library_passes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/scenarios");
    let (ok, out) = run(&dir);
    assert!(ok, "{out}");
    let passed = out.lines().filter(|l| l.starts_with("PASS ")).count();
    let files = azemu::scenario::files(&dir).unwrap().len();
    assert_eq!(passed, files, "{out}");
    assert!(files >= 30, "the library has {files} scenarios");
    // Every failing expectation names the check that failed or says none did.
    for f in azemu::scenario::files(&dir).unwrap() {
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, _) in text.match_indices("\n      code: ") {
            let rest = &text[i..];
            let block = &rest[..rest[1..]
                .find("\n  - ")
                .map(|e| e + 1)
                .unwrap_or(rest.len())];
            assert!(
                block.contains("check: "),
                "{}: an expected error without the failing check: {block}",
                f.display()
            );
        }
    }
}

#[test]
fn a_wrong_expectation_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/seeds/lab-registry.yaml");
    let file = dir.path().join("wrong.yaml");
    std::fs::write(
        &file,
        format!(
            "description: outsider holds no role, yet this expects its pull to work\n\
             seed: {}\n\
             steps:\n\
             \x20 - pull: {{ image: labacr.azurecr.io/hello-world:v1, as: outsider }}\n\
             \x20   expect: {{ status: 200, check: none }}\n",
            seed.display()
        ),
    )
    .unwrap();
    let (ok, out) = run(&file);
    assert!(!ok, "{out}");
    assert!(out.contains("FAIL "), "{out}");
    assert!(out.contains("status: expected 200, got 401"), "{out}");
    assert!(
        out.contains("first failed check: expected \"none\"") && out.contains("authorize"),
        "{out}"
    );
    assert!(
        out.contains("the answer was 401 UNAUTHORIZED: authentication required"),
        "{out}"
    );
    assert!(out.contains("0 of 1 scenarios passed"), "{out}");
}
