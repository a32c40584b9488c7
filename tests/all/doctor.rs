//! `azemu doctor`: each first-run problem named with its fix, on a deliberately
//! broken environment, and a clean bill on the environment `azemu env` gives.

use crate::harness::{Emulator, venv};
use std::process::Command;

/// `azemu doctor` with only PATH/HOME and `env`: (succeeded, stdout).
fn doctor(data_dir: &std::path::Path, env: &[(String, String)]) -> (bool, String) {
    let path = format!(
        "{}:{}",
        venv().join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(env!("CARGO_BIN_EXE_azemu"))
        .env_clear()
        .env("PATH", path)
        .env("HOME", std::env::var("HOME").unwrap_or_default())
        .env("AZURE_CONFIG_DIR", tempfile::tempdir().unwrap().keep())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .args(["doctor", "--data-dir"])
        .arg(data_dir)
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8(out.stdout).unwrap())
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn doctor_names_each_problem_of_a_broken_environment_with_its_fix() {
    let em = Emulator::start();
    let dir = em.data_dir().to_path_buf();
    // Emulated time moved an hour on: tokens it issues look not yet valid.
    em.advance_clock(3600).await;
    let fix_env = format!(
        "        fix: eval \"$(azemu env --data-dir {})\"",
        dir.display()
    );
    let (ok, out) = doctor(
        &dir,
        &pairs(&[
            ("HTTPS_PROXY", "http://localhost:1"),
            ("NO_PROXY", "localhost,.azurecr.io,management.azure.com"),
            ("REQUESTS_CA_BUNDLE", "/nonexistent/bundle.pem"),
            ("NODE_EXTRA_CA_CERTS", "/etc/hostname"),
        ]),
    );
    assert!(!ok, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    let after = |prefix: &str| -> &str {
        let i = lines
            .iter()
            .position(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting {prefix:?} in:\n{out}"));
        lines[i + 1]
    };
    assert_eq!(
        after(&format!(
            "  FAIL  proxy: HTTPS_PROXY=http://localhost:1 is not this emulator (port {})",
            em.port
        )),
        fix_env
    );
    assert_eq!(
        after(
            "  FAIL  NO_PROXY: .azurecr.io, management.azure.com send Azure's hosts around the proxy, to the real Azure"
        ),
        "        fix: export NO_PROXY='localhost'"
    );
    assert_eq!(
        after(
            "  FAIL  REQUESTS_CA_BUNDLE=/nonexistent/bundle.pem: unreadable (No such file or directory (os error 2)); az and Python's requests fail on every TLS connection"
        ),
        fix_env
    );
    assert_eq!(
        after(
            "  FAIL  NODE_EXTRA_CA_CERTS=/etc/hostname does not hold the emulator's CA (read by Node)"
        ),
        fix_env
    );
    assert_eq!(
        after(
            "  FAIL  clock: the emulator's clock was moved 3600 s ahead (POST /_emulator/clock/advance): its tokens look not yet valid to clients that check"
        ),
        format!(
            "        fix: restart the emulator: azemu serve --data-dir {} (the offset is kept in memory only)",
            dir.display()
        )
    );
    // The real clients, run with this environment, refuse the emulator too.
    assert!(out.contains("  FAIL  az: refused the emulator: "), "{out}");
    assert!(out.lines().any(|l| l.starts_with("  ok    CA: ")), "{out}");
    assert!(out.ends_with(" problem(s) found\n"), "{out}");
}

#[tokio::test]
async fn doctor_passes_the_environment_azemu_env_prints() {
    let em = Emulator::start();
    let exports = em.cli("env", &[]);
    let env: Vec<(String, String)> = exports
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
        .collect();
    let (ok, out) = doctor(em.data_dir(), &env);
    assert!(ok, "{out}");
    for line in [
        format!(
            "  ok    proxy: http://localhost:{} is the emulator's transparent proxy",
            em.port
        ),
        "  ok    az: trusts the emulator".to_string(),
        "  ok    Python's requests: trusts the emulator".to_string(),
    ] {
        assert!(out.lines().any(|l| l == line), "no {line:?} in:\n{out}");
    }
    assert!(out.ends_with("no problems found\n"), "{out}");
}

#[tokio::test]
async fn doctor_without_a_running_emulator_says_how_to_start_one() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = doctor(dir.path(), &[]);
    assert!(!ok);
    assert_eq!(
        out,
        format!(
            "azemu doctor: {d}\n  FAIL  emulator: none has run on {d} (no port file)\n        fix: azemu serve --data-dir {d}\n1 problem(s) found\n",
            d = dir.path().display()
        )
    );
}
