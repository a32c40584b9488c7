//! The README's quick starts, run as written. (The pip one is run by the
//! wheel's own suite, `tests/wheel/test_readme.py`; the Rust one is a doctest.)

use crate::harness::venv;
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};

/// The fenced `lang` blocks of the README section headed `heading`.
pub fn blocks(heading: &str, lang: &str) -> Vec<String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split_once(&format!("\n{heading}"))
        .unwrap_or_else(|| panic!("README has no {heading:?}"))
        .1;
    let section = section.split("\n## ").next().unwrap();
    let section = section.split("\n### ").next().unwrap();
    section
        .split(&format!("```{lang}\n"))
        .skip(1)
        .map(|b| b.split("```").next().unwrap().to_string())
        .collect()
}

/// PATH with the azemu the tests built (what `cargo install` puts on PATH) and az.
fn path_with_azemu() -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_azemu")).parent().unwrap();
    format!(
        "{}:{}:{}",
        bin.display(),
        venv().join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// cargo: `azemu serve` in one shell; `eval "$(azemu env)"`, `az login`, `az group list` in another.
/// The one substitution: `AZEMU_PORT=0` (a free port instead of 8443, which another emulator may hold);
/// `cargo install` is not run, the binary the tests built stands in for it.
#[test]
fn cargo_quick_start_ends_with_az_group_list() {
    let b = blocks("### cargo", "sh");
    assert_eq!(b.len(), 2, "{b:?}");
    let server: Vec<&str> = b[0].lines().collect();
    assert!(
        server[0].starts_with("cargo install --locked --path ."),
        "{server:?}"
    );
    assert!(server[1].starts_with("azemu serve"), "{server:?}");
    let dir = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    let mut serve = Command::new("bash")
        .args(["-c", &format!("exec {}", server[1])])
        .current_dir(dir.path())
        .env("PATH", path_with_azemu())
        .env("AZEMU_PORT", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(serve.stdout.take().unwrap()).lines();
    assert!(
        lines.any(|l| l.is_ok_and(|l| l.starts_with("azemu ready on port "))),
        "azemu serve did not start"
    );
    std::thread::spawn(move || lines.for_each(drop));
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &b[1]])
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", path_with_azemu())
        .env("HOME", std::env::var("HOME").unwrap_or_default())
        .env("AZURE_CONFIG_DIR", config.path())
        .env("AZURE_CORE_COLLECT_TELEMETRY", "false")
        .output()
        .unwrap();
    serve.kill().unwrap();
    serve.wait().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // `az login` prints the subscription; `az group list` then prints the (empty) list.
    assert!(
        stdout.contains("\"id\": \"a2e0a2e0-0000-4000-8000-000000000002\""),
        "{stdout}"
    );
    assert!(stdout.trim_end().ends_with("[]"), "{stdout}");
}
