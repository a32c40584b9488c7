//! Driving the real az CLI against an emulator: one config dir per `Az`,
//! in either way in (explicit endpoints or the transparent proxy).

use crate::harness::{CLIENT_ID, Emulator, Output, TENANT, python_env, run, venv};
use serde_json::Value;

#[derive(Clone, Copy, PartialEq)]
pub enum Mode {
    Explicit,
    Transparent,
}

pub struct Az<'a> {
    pub em: &'a Emulator,
    config: tempfile::TempDir,
    mode: Mode,
}

impl<'a> Az<'a> {
    pub async fn new(em: &'a Emulator, mode: Mode) -> Az<'a> {
        let az = Az {
            em,
            config: tempfile::tempdir().unwrap(),
            mode,
        };
        if mode == Mode::Explicit {
            // MSAL validates authorities it does not know against login.microsoftonline.com
            // unless instance discovery is off (../shared/notes/real-clients.md §6).
            az.ok(&["config", "set", "core.instance_discovery=false"])
                .await;
            let arm = format!("https://localhost:{}/", em.port);
            az.ok(&[
                "cloud",
                "register",
                "-n",
                "azemu",
                "--endpoint-resource-manager",
                &arm,
            ])
            .await;
            az.ok(&["cloud", "set", "-n", "azemu"]).await;
        }
        az
    }

    pub async fn run(&self, args: &[&str]) -> Output {
        self.run_with_env(args, &[]).await
    }

    /// Run in `dir` (az resolves some paths, such as `--file`, against it).
    pub async fn run_in(&self, dir: &std::path::Path, args: &[&str]) -> Output {
        self.run_opts(args, &[], Some(dir)).await
    }

    /// Run with extra environment variables (e.g. `IDENTITY_ENDPOINT` for `az login --identity`).
    pub async fn run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.run_opts(args, env, None).await
    }

    async fn run_opts(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
        dir: Option<&std::path::Path>,
    ) -> Output {
        let mut cmd = tokio::process::Command::new(venv().join("bin/az"));
        if let Some(d) = dir {
            cmd.current_dir(d);
        }
        python_env(&mut cmd, self.em);
        cmd.env("AZURE_CONFIG_DIR", self.config.path()).args(args);
        if self.mode == Mode::Transparent {
            cmd.env("HTTPS_PROXY", format!("http://localhost:{}", self.em.port));
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        run(&mut cmd).await
    }

    /// Run under a pseudo-terminal (`script -qec "az …" /dev/null`), as
    /// `az container exec` needs one.
    pub async fn run_in_terminal(&self, args: &[&str]) -> Output {
        let quote = |a: &str| format!("'{}'", a.replace('\'', "'\\''"));
        let line = std::iter::once(venv().join("bin/az").display().to_string())
            .chain(args.iter().map(|a| a.to_string()))
            .map(|a| quote(&a))
            .collect::<Vec<_>>()
            .join(" ");
        let mut cmd = tokio::process::Command::new("script");
        python_env(&mut cmd, self.em);
        cmd.env("AZURE_CONFIG_DIR", self.config.path())
            .args(["-qec", &line, "/dev/null"]);
        if self.mode == Mode::Transparent {
            cmd.env("HTTPS_PROXY", format!("http://localhost:{}", self.em.port));
        }
        run(&mut cmd).await
    }

    pub async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(
            out.ok,
            "az {args:?} failed:\n{}\n{}",
            out.stdout, out.stderr
        );
        out.stdout
    }

    pub async fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let out = self.ok(&all).await;
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("az {args:?}: {e}: {out}"))
    }

    pub async fn login(&self, secret: &str) -> Output {
        self.run(&[
            "login",
            "--service-principal",
            "-u",
            CLIENT_ID,
            // A generated secret may start with '-': az's documented form.
            &format!("--password={secret}"),
            "--tenant",
            TENANT,
            "-o",
            "json",
        ])
        .await
    }
}

/// Setup steps many tests share.
impl Az<'_> {
    /// `az acr create -n {name} -g {rg} --sku {sku}`.
    pub async fn acr_create(&self, rg: &str, name: &str, sku: &str) {
        self.ok(&[
            "acr", "create", "-n", name, "-g", rg, "--sku", sku, "-o", "none",
        ])
        .await;
    }

    /// `az identity create`: the identity as az prints it (`id`, `principalId`, `clientId`).
    pub async fn identity_create(&self, rg: &str, name: &str) -> Value {
        self.json(&["identity", "create", "-g", rg, "-n", name])
            .await
    }

    /// `az deployment operation group list`.
    pub async fn deployment_operations(&self, rg: &str, name: &str) -> Vec<Value> {
        let v = self
            .json(&[
                "deployment",
                "operation",
                "group",
                "list",
                "-g",
                rg,
                "-n",
                name,
            ])
            .await;
        v.as_array().cloned().unwrap_or_default()
    }
}
