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
        // No engine unless a test names one (a host's own engine is not this test's).
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .args(["doctor", "--data-dir"])
        .arg(data_dir)
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8(out.stdout).unwrap())
}

/// What `azemu env` exports for `em` (its values need no unquoting beyond one pair of quotes).
fn exports(em: &Emulator) -> Vec<(String, String)> {
    em.cli("env", &[])
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
        .collect()
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
    let (ok, out) = doctor(em.data_dir(), &exports(&em));
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

/// The Docker engine check pulls through the engine: one started for this
/// emulator (its proxy and CA) passes; against another emulator it is named
/// as going elsewhere, with the one-step engine as the fix.
#[tokio::test]
async fn doctor_checks_the_docker_engine_it_is_pointed_at() {
    let em = Emulator::start();
    let other = Emulator::start();
    let engine = crate::docker::Dockerd::start(&em);
    let with_engine = |em: &Emulator| {
        let mut env = exports(em);
        env.push(("DOCKER_HOST".into(), engine.host()));
        doctor(em.data_dir(), &env)
    };
    let (ok, out) = with_engine(&em);
    assert!(ok, "{out}");
    let line = format!(
        "  ok    Docker: the engine's proxy is the emulator (http://localhost:{}), and it trusts its CA",
        em.port
    );
    assert!(out.lines().any(|l| l == line), "no {line:?} in:\n{out}");

    let (ok, out) = with_engine(&other);
    assert!(!ok, "{out}");
    let line = format!(
        "  FAIL  Docker: the engine's HTTPS proxy is http://localhost:{}: docker push/pull to *.azurecr.io go to the internet",
        em.port
    );
    let i = out
        .lines()
        .position(|l| l == line)
        .unwrap_or_else(|| panic!("no {line:?} in:\n{out}"));
    let fix = out.lines().nth(i + 1).unwrap();
    assert!(
        fix.starts_with(&format!(
            "        fix: start an engine of azemu's own and use it: HTTPS_PROXY=http://localhost:{} SSL_CERT_FILE={}/ca-bundle.pem dockerd ",
            other.port,
            other.data_dir().display()
        )),
        "{fix}"
    );
}
