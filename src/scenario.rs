//! Scenarios: a world, what someone does in it, and what Azure answers —
//! checked against a fresh emulator. `azemu scenario run <file|dir>` runs
//! them; `fixtures/scenarios/` holds the library CI runs.
//!
//! ```yaml
//! description: AcrPull on another registry does not let an identity pull from this one
//! emulator: { rbacPropagationSeconds: 60 }   # optional settings of the fresh emulator (also
//!                                            #   tokenLifetimeSeconds, tokenSkewSeconds)
//! seed: ../seeds/world.yaml                  # the world: a seed document (path relative
//! setup: { principals, template, images }    #   to this file) and/or one inline
//! steps:
//!   - name: deploy the group                 # optional label
//!     as: owner                              # who calls: the bootstrap Owner (default) or a
//!                                            #   seeded principal's displayName
//!     arm: { method: PUT, path: /subscriptions/{subscriptionId}/…, apiVersion: …, body: {…} }
//!     expect:
//!       status: 400                          # the first response's status
//!       code: InaccessibleImage              # the error (synchronous, or the operation's)
//!       message: "The image '…' …"           # exactly, or `messageContains:`
//!       check: authorize                     # the first failed check the emulator traced
//!                                            #   since the last step that expected something
//!   - advanceClock: 61                       # emulated seconds
//!   - settle: true                           # finish what is pending now (task runs, operations)
//!   - pull: { image: r.azurecr.io/repo:tag, as: puller }   # or admin: true, token: <name>,
//!     expect: { status: 200 }                              #   nothing (anonymous)
//!   - explain: { image: …, identity: …, from: containerApps } # a hypothetical pull
//! ```
//!
//! Strings may name `{subscriptionId}`, `{tenantId}`, `{objectId:<displayName>}`
//! and `{appId:<displayName>}` (a seeded principal's or a managed identity's),
//! `{adminPassword:<registry>}`, and `{saved:<name><JSON pointer>}` (the body
//! of an earlier step with `save: <name>`), looked up when the step runs. Every HTTP request goes over the network through the
//! emulator's proxy, under Azure's host names, as az and the SDKs send them.

use crate::Emulator;
use anyhow::{Context, bail};
use azemu_emulator::trace::Trace;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

const ARM: &str = "https://management.azure.com";
const LOGIN: &str = "https://login.microsoftonline.com";

/// What running one scenario found.
#[derive(Debug)]
pub struct Report {
    pub file: PathBuf,
    pub description: String,
    /// Empty when every expectation held.
    pub failures: Vec<String>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// The scenario files at `path`: the file itself, or every `*.yaml`/`*.json` under the directory, sorted.
pub fn files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut dirs = vec![path.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let p = e?.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p
                .extension()
                .is_some_and(|x| x == "yaml" || x == "yml" || x == "json")
            {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Run one scenario file against a fresh, in-memory emulator of its own.
pub async fn run_file(file: &Path) -> Report {
    let doc = azemu_emulator::seed::load(file);
    let description = doc
        .as_ref()
        .ok()
        .and_then(|d| d["description"].as_str())
        .unwrap_or_default()
        .to_string();
    let failures = match doc {
        Ok(d) => match run(file, &d).await {
            Ok(f) => f,
            Err(e) => vec![format!("{e:#}")],
        },
        Err(e) => vec![format!("{e:#}")],
    };
    Report {
        file: file.to_path_buf(),
        description,
        failures,
    }
}

async fn run(file: &Path, doc: &Value) -> anyhow::Result<Vec<String>> {
    let steps = doc["steps"]
        .as_array()
        .filter(|s| !s.is_empty())
        .context("a scenario needs steps")?;
    let mut b = Emulator::builder();
    let settings = &doc["emulator"];
    if let Some(s) = settings["rbacPropagationSeconds"].as_u64() {
        b = b.rbac_propagation(Duration::from_secs(s));
    }
    if settings["tokenLifetimeSeconds"].is_u64() || settings["tokenSkewSeconds"].is_u64() {
        b = b.token_timing(
            Duration::from_secs(settings["tokenLifetimeSeconds"].as_u64().unwrap_or(3599)),
            Duration::from_secs(settings["tokenSkewSeconds"].as_u64().unwrap_or(300)),
        );
    }
    let em = b.start().await?;
    if let Some(seed) = doc["seed"].as_str() {
        let path = file.parent().unwrap_or(Path::new(".")).join(seed);
        let world = azemu_emulator::seed::load(&path)?;
        azemu_emulator::seed::apply(&em.state, &world, &em.url())
            .with_context(|| format!("seeding from {}", path.display()))?;
    }
    if doc["setup"].is_object() {
        azemu_emulator::seed::apply(&em.state, &doc["setup"], &em.url())
            .context("applying the setup")?;
    }
    let run = Runner::new(&em)?;
    let mut failures = Vec::new();
    // `check` looks at the traces recorded since the last step that expected something.
    let mut seen = run.trace_ids().await?;
    for (i, step) in steps.iter().enumerate() {
        let label = step["name"]
            .as_str()
            .map(|n| format!("step {} ({n})", i + 1))
            .unwrap_or_else(|| format!("step {}", i + 1));
        let got = match run.step(&run.substitute(step)?).await {
            Ok(g) => g,
            Err(e) => {
                failures.push(format!("{label}: {e:#}"));
                break;
            }
        };
        if let Some(name) = step["save"].as_str() {
            run.saved
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(name.to_string(), got.body.clone());
        }
        let Some(expect) = step.get("expect") else {
            continue;
        };
        let expect = run.substitute(expect)?;
        let traced = run.new_traces(&seen).await?;
        seen = run.trace_ids().await?;
        let before = failures.len();
        compare(&label, &expect, &got, &traced, &mut failures);
        if failures.len() > before {
            if let Some(c) = &got.code {
                failures.push(format!(
                    "{label}: the answer was {} {c}: {}",
                    got.status,
                    got.message.as_deref().unwrap_or_default()
                ));
            }
            // Later steps build on this one; what they would report is noise.
            break;
        }
    }
    em.stop().await;
    Ok(failures)
}

/// What a step came to: `status` (first response), `code`/`message` (the
/// error: synchronous, of the operation, of the registry), `asyncStatus`,
/// `body` (the final resource, or the last response's body).
#[derive(Debug, Default)]
struct Got {
    status: u16,
    code: Option<String>,
    message: Option<String>,
    async_status: Option<String>,
    body: Value,
    /// A hypothetical pull's own trace (it is not recorded).
    trace: Option<Trace>,
}

fn compare(label: &str, expect: &Value, got: &Got, traced: &[Trace], out: &mut Vec<String>) {
    let mut fail = |what: &str, want: &Value, was: &dyn std::fmt::Debug| {
        out.push(format!("{label}: {what}: expected {want}, got {was:?}"));
    };
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    if let Some(s) = expect.get("status")
        && s.as_u64() != Some(got.status as u64)
    {
        fail("status", s, &got.status);
    }
    if let Some(c) = expect.get("code")
        && c.as_str() != got.code.as_deref()
    {
        fail("code", c, &got.code);
    }
    if let Some(m) = expect.get("message")
        && m.as_str() != got.message.as_deref()
    {
        fail("message", m, &text(&got.message));
    }
    if let Some(m) = expect.get("messageContains")
        && !m
            .as_str()
            .is_some_and(|m| got.message.as_deref().unwrap_or_default().contains(m))
    {
        fail("message containing", m, &text(&got.message));
    }
    if let Some(a) = expect.get("asyncStatus")
        && a.as_str() != got.async_status.as_deref()
    {
        fail("asyncStatus", a, &got.async_status);
    }
    if let Some(o) = expect.get("outcome") {
        let ok = match &got.trace {
            Some(t) => t.failed_check().is_none(),
            None => got.status < 400 && got.code.is_none(),
        };
        let is = if ok { "success" } else { "failure" };
        if o.as_str() != Some(is) {
            fail("outcome", o, &is);
        }
    }
    if let Some(fields) = expect.get("body").and_then(Value::as_object) {
        for (pointer, want) in fields {
            let was = got.body.pointer(pointer).cloned().unwrap_or(Value::Null);
            if &was != want {
                fail(&format!("body {pointer}"), want, &was);
            }
        }
    }
    if let Some(c) = expect.get("check") {
        let traced: Vec<&Trace> = got.trace.iter().chain(traced).collect();
        let first = traced.iter().find_map(|t| t.failed_check());
        let want = c.as_str().filter(|c| *c != "none");
        if want != first {
            let all: Vec<String> = traced
                .iter()
                .map(|t| {
                    format!(
                        "{} [{}]",
                        t.kind,
                        t.steps
                            .iter()
                            .map(|s| format!("{}{}", if s.passed { "✓" } else { "✗" }, s.check))
                            .collect::<Vec<_>>()
                            .join(" ")
                    )
                })
                .collect();
            fail(
                "first failed check",
                c,
                &format!("{first:?} in traces {all:?}"),
            );
        }
    }
}

struct Runner<'a> {
    em: &'a Emulator,
    http: reqwest::Client,
    /// Bodies kept by steps with `save: <name>`, for `{saved:<name><JSON pointer>}`.
    saved: std::sync::Mutex<std::collections::HashMap<String, Value>>,
}

impl<'a> Runner<'a> {
    fn new(em: &'a Emulator) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(reqwest::Certificate::from_pem(em.ca_pem())?)
            .proxy(reqwest::Proxy::all(format!(
                "http://127.0.0.1:{}",
                em.port()
            ))?)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()?;
        Ok(Runner {
            em,
            http,
            saved: Default::default(),
        })
    }

    fn control(&self, path: &str) -> String {
        format!("{}/_emulator/{path}", self.em.url())
    }

    /// `{subscriptionId}`, `{tenantId}`, `{objectId:<displayName>}` in every string.
    fn substitute(&self, v: &Value) -> anyhow::Result<Value> {
        Ok(match v {
            Value::String(s) => {
                let mut s = s
                    .replace("{subscriptionId}", self.em.subscription_id())
                    .replace("{tenantId}", self.em.tenant_id());
                while let Some((i, end, arg)) = placeholder(&s, "{saved:")? {
                    let (name, pointer) = arg.split_at(arg.find('/').unwrap_or(arg.len()));
                    let saved = self.saved.lock().unwrap_or_else(|e| e.into_inner());
                    let v = saved
                        .get(name)
                        .with_context(|| format!("nothing saved as '{name}'"))?
                        .pointer(pointer)
                        .cloned()
                        .with_context(|| format!("'{name}' has nothing at {pointer}"))?;
                    let text = v.as_str().map(str::to_string).unwrap_or(v.to_string());
                    s.replace_range(i..=end, &text);
                }
                while let Some((i, end, name)) = placeholder(&s, "{appId:")? {
                    let app = self.principal(&name)?.app_id;
                    s.replace_range(i..=end, &app);
                }
                while let Some((i, end, name)) = placeholder(&s, "{adminPassword:")? {
                    let password = self.admin_password(&name)?;
                    s.replace_range(i..=end, &password);
                }
                while let Some((i, end, name)) = placeholder(&s, "{objectId:")? {
                    let oid = self.principal(&name)?.object_id;
                    s.replace_range(i..=end, &oid);
                }
                json!(s)
            }
            Value::Array(a) => Value::Array(
                a.iter()
                    .map(|x| self.substitute(x))
                    .collect::<anyhow::Result<_>>()?,
            ),
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, x)| {
                        let k = self.substitute(&json!(k))?;
                        Ok((
                            k.as_str().unwrap_or_default().to_string(),
                            self.substitute(x)?,
                        ))
                    })
                    .collect::<anyhow::Result<_>>()?,
            ),
            other => other.clone(),
        })
    }

    /// The first admin password of registry `name` (its admin user must be enabled).
    fn admin_password(&self, name: &str) -> anyhow::Result<String> {
        use azemu_emulator::acr::registry as registries;
        let state = &self.em.state;
        let row = registries::by_name(state, name)
            .map_err(|e| anyhow::anyhow!(e.message))?
            .with_context(|| format!("no registry '{name}'"))?;
        let (_, passwords) = registries::admin_passwords(state, &row)
            .map_err(|e| anyhow::anyhow!(e.message))?
            .with_context(|| format!("the admin user of '{name}' is not enabled"))?;
        passwords
            .into_iter()
            .next()
            .with_context(|| format!("'{name}' has no admin password"))
    }

    /// A principal of the directory by display name (`owner`: the bootstrap principal).
    fn principal(&self, name: &str) -> anyhow::Result<azemu_emulator::entra::ServicePrincipal> {
        let all = self.em.state.directory.all()?;
        let found = if name == "owner" {
            all.into_iter()
                .find(|p| p.app_id == self.em.credentials().0)
        } else {
            all.into_iter().find(|p| p.display_name == name)
        };
        found.with_context(|| format!("no principal named '{name}' in the directory"))
    }

    /// An Entra access token for `who` (client credentials with its first secret).
    async fn entra_token(&self, who: &str, scope: &str) -> anyhow::Result<String> {
        let sp = self.principal(who)?;
        let secret = sp
            .secrets
            .first()
            .cloned()
            .with_context(|| format!("principal '{who}' has no secret to sign in with"))?;
        let r = self
            .http
            .post(format!("{LOGIN}/{}/oauth2/v2.0/token", self.em.tenant_id()))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", sp.app_id.as_str()),
                ("client_secret", secret.as_str()),
                ("scope", scope),
            ])
            .send()
            .await?;
        let status = r.status();
        let body: Value = r.json().await.unwrap_or_default();
        body["access_token"]
            .as_str()
            .map(str::to_string)
            .with_context(|| format!("signing in as '{who}': {status} {body}"))
    }

    async fn trace_ids(&self) -> anyhow::Result<Vec<String>> {
        Ok(self
            .traces()
            .await?
            .into_iter()
            .map(|t| t["id"].as_str().unwrap_or_default().to_string())
            .collect())
    }

    async fn traces(&self) -> anyhow::Result<Vec<Value>> {
        let v: Value = self
            .http
            .get(self.control("traces"))
            .send()
            .await?
            .json()
            .await?;
        Ok(v["value"].as_array().cloned().unwrap_or_default())
    }

    /// Traces recorded since `seen`, oldest first.
    async fn new_traces(&self, seen: &[String]) -> anyhow::Result<Vec<Trace>> {
        let mut out: Vec<Trace> = Vec::new();
        for t in self.traces().await? {
            if !seen.iter().any(|s| t["id"] == s.as_str()) {
                out.push(trace_of(&t)?);
            }
        }
        out.reverse();
        Ok(out)
    }

    async fn step(&self, step: &Value) -> anyhow::Result<Got> {
        if let Some(secs) = step["advanceClock"].as_u64() {
            self.advance(secs).await?;
            return Ok(Got::default());
        }
        if step["settle"] == true {
            let r = self
                .http
                .post(self.control("step"))
                .json(&json!({}))
                .send()
                .await?;
            anyhow::ensure!(r.status().is_success(), "settling: {}", r.status());
            return Ok(Got::default());
        }
        if let Some(a) = step.get("arm") {
            return self.arm(a, step["as"].as_str().unwrap_or("owner")).await;
        }
        if let Some(p) = step.get("pull") {
            return self.pull(p).await;
        }
        if let Some(x) = step.get("explain") {
            return self.explain(x).await;
        }
        bail!("a step needs one of arm, pull, explain, advanceClock, settle: {step}")
    }

    async fn advance(&self, secs: u64) -> anyhow::Result<()> {
        let r = self
            .http
            .post(self.control(&format!("clock/advance?seconds={secs}")))
            .json(&json!({}))
            .send()
            .await?;
        anyhow::ensure!(
            r.status().is_success(),
            "advancing the clock: {}",
            r.status()
        );
        Ok(())
    }

    /// An ARM request as `who`, following a long-running operation to its end.
    async fn arm(&self, a: &Value, who: &str) -> anyhow::Result<Got> {
        let method: reqwest::Method = a["method"].as_str().unwrap_or("GET").parse()?;
        let path = a["path"].as_str().context("arm needs a path")?;
        let version = a["apiVersion"]
            .as_str()
            .context("arm needs an apiVersion")?;
        let token = self
            .entra_token(who, "https://management.azure.com/.default")
            .await?;
        let url = format!("{ARM}{path}?api-version={version}");
        let mut req = self.http.request(method.clone(), &url).bearer_auth(&token);
        if let Some(b) = a.get("body") {
            req = req.json(b);
        }
        let r = req.send().await?;
        let status = r.status().as_u16();
        let poll = r
            .headers()
            .get("azure-asyncoperation")
            .or_else(|| {
                (status == 202)
                    .then(|| r.headers().get("location"))
                    .flatten()
            })
            .and_then(|h| h.to_str().ok())
            .map(str::to_string);
        let body: Value = r.json().await.unwrap_or(Value::Null);
        let mut got = Got {
            status,
            code: body["error"]["code"].as_str().map(str::to_string),
            message: body["error"]["message"].as_str().map(str::to_string),
            async_status: None,
            body,
            trace: None,
        };
        if let Some(op) = poll.filter(|_| status < 300) {
            let done = self.follow(&op, &token).await?;
            got.async_status = done["status"].as_str().map(str::to_string);
            got.code = done["error"]["code"].as_str().map(str::to_string);
            got.message = done["error"]["message"].as_str().map(str::to_string);
            if method == reqwest::Method::PUT || method == reqwest::Method::PATCH {
                let fin = self.http.get(&url).bearer_auth(&token).send().await?;
                got.body = fin.json().await.unwrap_or(Value::Null);
            } else if !done.is_null() {
                got.body = done;
            }
        }
        Ok(got)
    }

    /// Poll an operation URL until it is no longer in progress, stepping the emulator between polls.
    async fn follow(&self, url: &str, token: &str) -> anyhow::Result<Value> {
        for _ in 0..50 {
            let r = self.http.get(url).bearer_auth(token).send().await?;
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            let running = status == 202
                || matches!(
                    body["status"].as_str(),
                    Some(
                        "InProgress"
                            | "Running"
                            | "Accepted"
                            | "Creating"
                            | "Updating"
                            | "Deleting"
                    )
                );
            if !running {
                return Ok(body);
            }
            self.http
                .post(self.control("step"))
                .json(&json!({}))
                .send()
                .await?;
        }
        bail!("the operation at {url} never finished")
    }

    /// A pull as docker does it: `/v2/`, credentials for a token, the manifest.
    async fn pull(&self, p: &Value) -> anyhow::Result<Got> {
        let image = p["image"].as_str().context("pull needs an image")?;
        let (host, rest) = image
            .split_once('/')
            .context("image: <registry>/<repo>:<tag>")?;
        let (repo, reference) = match rest.split_once('@') {
            Some((r, d)) => (r, d),
            None => rest.rsplit_once(':').unwrap_or((rest, "latest")),
        };
        let base = format!("https://{host}");
        let scope = format!("repository:{repo}:pull");
        // Credentials for the token endpoint.
        let form: Vec<(String, String)>;
        let mut basic: Option<(String, String)> = None;
        if let Some(who) = p["as"].as_str() {
            let mut aad = self
                .entra_token(who, "https://management.azure.com/.default")
                .await?;
            if let Some(tenant) = p["tokenTenant"].as_str() {
                aad = self.token_of_other_tenant(who, tenant)?;
            }
            if let Some(age) = p["tokenAgeSeconds"].as_u64() {
                self.advance(age).await?;
            }
            let r = self
                .http
                .post(format!("{base}/oauth2/exchange"))
                .form(&[
                    ("grant_type", "access_token"),
                    ("service", host),
                    ("tenant", self.em.tenant_id()),
                    ("access_token", aad.as_str()),
                ])
                .send()
                .await?;
            let (status, body) = (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or_default(),
            );
            let Some(refresh) = body["refresh_token"].as_str() else {
                return Ok(oci_got(status, body));
            };
            form = vec![
                ("grant_type".into(), "refresh_token".into()),
                ("service".into(), host.into()),
                ("scope".into(), scope.clone()),
                ("refresh_token".into(), refresh.into()),
            ];
        } else {
            if p["admin"].as_bool() == Some(true) {
                basic = Some(self.admin_credentials(host).await?);
            } else if let Some(t) = p["token"].as_str() {
                basic = Some(self.token_credentials(host, t).await?);
            } else if let (Some(u), Some(pw)) = (p["username"].as_str(), p["password"].as_str()) {
                basic = Some((u.into(), pw.into()));
            }
            form = vec![
                ("service".into(), host.into()),
                ("scope".into(), scope.clone()),
            ];
        }
        let mut req = if basic.is_some() || p["as"].is_null() {
            self.http.get(format!("{base}/oauth2/token")).query(&form)
        } else {
            self.http.post(format!("{base}/oauth2/token")).form(&form)
        };
        if let Some((u, pw)) = &basic {
            req = req.basic_auth(u, Some(pw));
        }
        let r = req.send().await?;
        let (status, body) = (
            r.status().as_u16(),
            r.json::<Value>().await.unwrap_or_default(),
        );
        let Some(access) = body["access_token"].as_str() else {
            return Ok(oci_got(status, body));
        };
        let r = self
            .http
            .get(format!("{base}/v2/{repo}/manifests/{reference}"))
            .bearer_auth(access)
            .header(
                "accept",
                "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
            )
            .send()
            .await?;
        let status = r.status().as_u16();
        let digest = r
            .headers()
            .get("docker-content-digest")
            .and_then(|h| h.to_str().ok())
            .map(str::to_string);
        let body: Value = r.json().await.unwrap_or_default();
        let mut got = oci_got(status, body);
        if let Some(d) = digest {
            got.body = json!({"digest": d});
        }
        Ok(got)
    }

    /// The same principal's token as another tenant's Entra would issue it: signed
    /// with the same keys (Entra's are shared by every tenant), naming that tenant.
    fn token_of_other_tenant(&self, who: &str, tenant: &str) -> anyhow::Result<String> {
        let sp = self.principal(who)?;
        let tokens = &self.em.state.tokens;
        let mut c = tokens.claims_for(
            &sp,
            "https://management.azure.com/",
            self.em.state.clock.now(),
        );
        c.tid = tenant.to_string();
        c.iss = azemu_emulator::entra::token::v1_issuer(tenant);
        Ok(tokens.sign(&c))
    }

    async fn admin_credentials(&self, host: &str) -> anyhow::Result<(String, String)> {
        let id = self.registry_id(host)?;
        let got = self
            .arm(
                &json!({"method": "POST", "path": format!("{id}/listCredentials"), "apiVersion": "2023-07-01"}),
                "owner",
            )
            .await?;
        let user = got.body["username"].as_str().map(str::to_string);
        let pass = got.body["passwords"][0]["value"]
            .as_str()
            .map(str::to_string);
        user.zip(pass)
            .with_context(|| format!("no admin credentials for {host}: {}", got.body))
    }

    async fn token_credentials(&self, host: &str, token: &str) -> anyhow::Result<(String, String)> {
        let id = self.registry_id(host)?;
        let got = self
            .arm(
                &json!({"method": "POST", "path": format!("{id}/generateCredentials"), "apiVersion": "2023-07-01",
                        "body": {"tokenId": format!("{id}/tokens/{token}"), "name": "password1"}}),
                "owner",
            )
            .await?;
        let pass = got.body["passwords"][0]["value"]
            .as_str()
            .map(str::to_string);
        pass.map(|p| (token.to_string(), p))
            .with_context(|| format!("no password for token '{token}': {}", got.body))
    }

    fn registry_id(&self, host: &str) -> anyhow::Result<String> {
        let name = azemu_emulator::acr::registry_name_of_host(host)
            .with_context(|| format!("{host} is not a registry host"))?;
        let row = azemu_emulator::acr::registry::by_name(&self.em.state, &name)
            .map_err(|e| anyhow::anyhow!(e.message))?
            .with_context(|| format!("no registry '{name}'"))?;
        Ok(row["id"].as_str().unwrap_or_default().to_string())
    }

    /// A hypothetical pull (`POST /_emulator/explain/pull`).
    async fn explain(&self, x: &Value) -> anyhow::Result<Got> {
        let r = self
            .http
            .post(self.control("explain/pull?format=json"))
            .json(x)
            .send()
            .await?;
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap_or_default();
        if status != 200 {
            bail!("explain refused: {status} {body}");
        }
        let t = trace_of(&body)?;
        Ok(Got {
            status,
            message: Some(t.outcome.clone()),
            body,
            trace: Some(t),
            ..Got::default()
        })
    }
}

/// The first `{<prefix><arg>}` in `s`: (start, index of the closing brace, arg).
fn placeholder(s: &str, prefix: &str) -> anyhow::Result<Option<(usize, usize, String)>> {
    let Some(i) = s.find(prefix) else {
        return Ok(None);
    };
    let end = s[i..]
        .find('}')
        .map(|e| i + e)
        .with_context(|| format!("an unclosed {prefix}"))?;
    Ok(Some((i, end, s[i + prefix.len()..end].to_string())))
}

fn oci_got(status: u16, body: Value) -> Got {
    let e = &body["errors"][0];
    Got {
        status,
        code: e["code"].as_str().map(str::to_string),
        message: e["message"].as_str().map(str::to_string),
        async_status: None,
        body,
        trace: None,
    }
}

fn trace_of(v: &Value) -> anyhow::Result<Trace> {
    let mut t = Trace::new(
        v["kind"].as_str().unwrap_or_default(),
        v["resource"].as_str().unwrap_or_default(),
        v["target"].as_str().unwrap_or_default(),
        v["time"].as_str().unwrap_or_default().to_string(),
    );
    t.id = v["id"].as_str().unwrap_or_default().to_string();
    for s in v["steps"].as_array().into_iter().flatten() {
        t.step(
            s["check"].as_str().unwrap_or_default(),
            s["passed"] == true,
            s["detail"].as_str().unwrap_or_default(),
        );
    }
    t.outcome = v["outcome"].as_str().unwrap_or_default().to_string();
    Ok(t)
}
