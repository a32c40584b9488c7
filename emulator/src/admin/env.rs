//! What a shell needs to use a running emulator: its CA, a CA bundle, the
//! proxy (or the endpoints), the well-known credentials and the subscription.
//!
//! Two callers, one list of variables ([`variables`]):
//! - `azemu env` (the CLI), on the machine azemu runs on: the CA files are
//!   the data dir's, named by absolute path ([`Files::At`]).
//! - `GET /_emulator/env?shell=bash|fish|powershell[&mode=transparent|explicit]`,
//!   from anywhere that reaches the port (a container's published port
//!   included): the script itself writes the CA, and a bundle of that
//!   machine's CAs plus azemu's, under `~/.azemu/<host>-<port>/`
//!   ([`Files::Home`]), and points `AZURE_CONFIG_DIR` there too, so logging
//!   az in to azemu leaves the user's own az login alone.
//!
//! ```sh
//! eval "$(curl -fsS http://localhost:8443/_emulator/env?shell=bash)"
//! curl -fsS 'http://localhost:8443/_emulator/env?shell=fish' | source
//! Invoke-Expression (Invoke-RestMethod 'http://localhost:8443/_emulator/env?shell=powershell')
//! ```

use crate::arm::ArmError;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;

/// The shells `/_emulator/env` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    /// POSIX sh syntax: bash, zsh, dash.
    Bash,
    Fish,
    PowerShell,
}

impl Shell {
    pub fn parse(name: &str) -> Option<Shell> {
        match name {
            "bash" => Some(Shell::Bash),
            "fish" => Some(Shell::Fish),
            "powershell" => Some(Shell::PowerShell),
            _ => None,
        }
    }
}

/// Which way clients reach the emulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    /// `HTTPS_PROXY` through azemu; clients keep Azure's real host names.
    Transparent,
    /// Clients talk to `https://<endpoint>` directly.
    Explicit,
}

/// The ids and secret a client signs in with.
pub struct Credentials<'a> {
    pub tenant_id: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a str,
    pub subscription_id: &'a str,
}

/// A variable's value: text, or one of the files the CA directory holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    /// `ca.pem`, `ca-bundle.pem`, or `az` (an az config dir).
    File(&'static str),
}

/// Where the CA files are.
pub enum Files {
    /// Already there, in this directory (the data dir, for `azemu env`).
    At(PathBuf),
    /// Written by the script into `$HOME/.azemu/<name>`; holds the CA's PEM.
    Home { name: String, ca_pem: String },
}

/// The variables, in order, for clients that reach the emulator at
/// `endpoint` (`host:port`).
pub fn variables(c: &Credentials, endpoint: &str, way: Way) -> Vec<(&'static str, Value)> {
    let text = |s: &str| Value::Text(s.to_string());
    let mut v = vec![
        ("REQUESTS_CA_BUNDLE", Value::File("ca-bundle.pem")),
        ("SSL_CERT_FILE", Value::File("ca-bundle.pem")),
        ("CURL_CA_BUNDLE", Value::File("ca-bundle.pem")),
        ("NODE_EXTRA_CA_CERTS", Value::File("ca.pem")),
        ("AZURE_TENANT_ID", text(c.tenant_id)),
        ("AZURE_CLIENT_ID", text(c.client_id)),
        ("AZURE_CLIENT_SECRET", text(c.client_secret)),
        ("AZURE_SUBSCRIPTION_ID", text(c.subscription_id)),
        ("AZURE_CORE_COLLECT_TELEMETRY", text("false")),
    ];
    match way {
        Way::Transparent => {
            let proxy = format!("http://{endpoint}");
            v.push((
                "AZURE_AUTHORITY_HOST",
                text("https://login.microsoftonline.com"),
            ));
            v.push(("HTTPS_PROXY", text(&proxy)));
            v.push(("https_proxy", Value::Text(proxy)));
        }
        Way::Explicit => {
            v.push(("AZURE_AUTHORITY_HOST", text(&format!("https://{endpoint}"))));
            v.push((
                "AZURE_RESOURCE_MANAGER_ENDPOINT",
                text(&format!("https://{endpoint}/")),
            ));
            v.push(("AZURE_CORE_INSTANCE_DISCOVERY", text("false")));
        }
    }
    v
}

/// The script: the CA files first when it writes them, then one line per variable.
pub fn render(shell: Shell, vars: &[(&'static str, Value)], files: &Files) -> String {
    let mut out = String::new();
    if let Files::Home { ca_pem, .. } = files {
        let ca = file(shell, files, "ca.pem");
        let bundle = file(shell, files, "ca-bundle.pem");
        let dir = directory(shell, files);
        let pem = if ca_pem.ends_with('\n') {
            ca_pem.clone()
        } else {
            format!("{ca_pem}\n")
        };
        let systems = SYSTEM_BUNDLES.join(" ");
        match shell {
            Shell::Bash => {
                let _ = writeln!(out, "mkdir -p {dir}");
                let _ = write!(out, "cat > {ca} <<'AZEMU_CA'\n{pem}AZEMU_CA\n");
                let _ = writeln!(
                    out,
                    "(for f in {systems}; do if [ -r \"$f\" ]; then cat \"$f\"; echo; break; fi; done; cat {ca}) > {bundle}"
                );
            }
            Shell::Fish => {
                let _ = writeln!(out, "mkdir -p {dir}");
                let _ = writeln!(out, "printf '%s' {} > {ca}", fish_quote(&pem));
                let _ = writeln!(
                    out,
                    "begin; for f in {systems}; if test -r $f; cat $f; echo; break; end; end; cat {ca}; end > {bundle}"
                );
            }
            Shell::PowerShell => {
                let systems = SYSTEM_BUNDLES
                    .iter()
                    .map(|s| pwsh_quote(s))
                    .collect::<Vec<_>>()
                    .join(", ");
                let _ = writeln!(
                    out,
                    "$null = New-Item -ItemType Directory -Force -Path {dir}"
                );
                let _ = writeln!(
                    out,
                    "Set-Content -NoNewline -Path {ca} -Value {}",
                    pwsh_quote(&pem)
                );
                let _ = writeln!(
                    out,
                    "Set-Content -NoNewline -Path {bundle} -Value ((@({systems}) | Where-Object {{ Test-Path -PathType Leaf $_ }} | Select-Object -First 1 | ForEach-Object {{ (Get-Content -Raw $_) + \"`n\" }}) + (Get-Content -Raw {ca}))"
                );
            }
        }
    }
    for (name, value) in vars {
        let v = match value {
            Value::Text(t) => quote(shell, t),
            Value::File(f) => file(shell, files, f),
        };
        let _ = match shell {
            Shell::Bash => writeln!(out, "export {name}={v}"),
            Shell::Fish => writeln!(out, "set -gx {name} {v}"),
            Shell::PowerShell => writeln!(out, "$env:{name} = {v}"),
        };
    }
    out
}

/// The system CA bundles a script looks for (Debian/Ubuntu/Alpine, Fedora/RHEL, macOS/BSD), as `azemu serve` does.
pub const SYSTEM_BUNDLES: [&str; 3] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// The shell expression naming the CA directory.
fn directory(shell: Shell, files: &Files) -> String {
    match files {
        Files::At(dir) => quote(shell, &dir.display().to_string()),
        Files::Home { name, .. } => match shell {
            Shell::Bash | Shell::Fish => format!("\"$HOME/.azemu/{name}\""),
            Shell::PowerShell => format!("([IO.Path]::Combine($HOME, '.azemu', '{name}'))"),
        },
    }
}

/// The shell expression naming one file of the CA directory.
fn file(shell: Shell, files: &Files, name: &str) -> String {
    match files {
        Files::At(dir) => quote(shell, &dir.join(name).display().to_string()),
        // `name` is made of [A-Za-z0-9.-] (see `dir_name`): safe inside double quotes.
        Files::Home { name: dir, .. } => match shell {
            Shell::Bash | Shell::Fish => format!("\"$HOME/.azemu/{dir}/{name}\""),
            Shell::PowerShell => {
                format!("([IO.Path]::Combine($HOME, '.azemu', '{dir}', '{name}'))")
            }
        },
    }
}

fn quote(shell: Shell, s: &str) -> String {
    match shell {
        Shell::Bash => shell_quote(s),
        Shell::Fish => fish_quote(s),
        Shell::PowerShell => pwsh_quote(s),
    }
}

/// POSIX sh: bare when only safe characters, else single-quoted.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@,".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// fish: single quotes, in which only `\` and `'` are escaped.
fn fish_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@,".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

/// PowerShell: a verbatim (single-quoted) string, `'` doubled.
fn pwsh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `localhost:8443` → `localhost-8443`: a directory name made of [A-Za-z0-9.-] only.
fn dir_name(endpoint: &str) -> String {
    let name: String = endpoint
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    name.trim_matches('-').to_string()
}

/// `GET /_emulator/env?shell=bash|fish|powershell[&mode=transparent|explicit]`:
/// a script for that shell (bash when `shell` is not given).
pub async fn handler(
    State(s): State<AppState>,
    base: crate::web::BaseUrl,
    q: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let name = q.get("shell").map(String::as_str).unwrap_or("bash");
    let Some(shell) = Shell::parse(name) else {
        return invalid("shell", name, "bash, fish, powershell");
    };
    let way = match q.get("mode").map(String::as_str) {
        None | Some("transparent") => Way::Transparent,
        Some("explicit") => Way::Explicit,
        Some(other) => return invalid("mode", other, "transparent, explicit"),
    };
    let endpoint = base.host().to_string();
    let c = &s.config;
    let creds = Credentials {
        tenant_id: &c.tenant_id,
        client_id: &c.client_id,
        client_secret: &c.client_secret,
        subscription_id: &c.subscription_id,
    };
    let mut vars = variables(&creds, &endpoint, way);
    // Logging az in to azemu must not replace the user's own az login.
    vars.push(("AZURE_CONFIG_DIR", Value::File("az")));
    let files = Files::Home {
        name: dir_name(&endpoint),
        ca_pem: s.ca.cert_pem.clone(),
    };
    let url = format!("{}/_emulator/env?shell={name}", base.0);
    let mode = match way {
        Way::Transparent => "transparent",
        Way::Explicit => "explicit",
    };
    let (usage, login) = match shell {
        Shell::Bash => (
            format!("eval \"$(curl -fsS '{url}')\""),
            "az login --service-principal -u \"$AZURE_CLIENT_ID\" -p \"$AZURE_CLIENT_SECRET\" --tenant \"$AZURE_TENANT_ID\"",
        ),
        Shell::Fish => (
            format!("curl -fsS '{url}' | source"),
            "az login --service-principal -u \"$AZURE_CLIENT_ID\" -p \"$AZURE_CLIENT_SECRET\" --tenant \"$AZURE_TENANT_ID\"",
        ),
        Shell::PowerShell => (
            format!("Invoke-Expression (Invoke-RestMethod '{url}')"),
            "az login --service-principal -u $env:AZURE_CLIENT_ID -p $env:AZURE_CLIENT_SECRET --tenant $env:AZURE_TENANT_ID",
        ),
    };
    let mut script = format!(
        "# azemu at {endpoint} ({mode} mode). Use: {usage}\n\
         # Writes azemu's CA and a bundle (this machine's CAs + azemu's) to ~/.azemu/{dir}; az keeps its login there too.\n",
        dir = dir_name(&endpoint),
    );
    script.push_str(&render(shell, &vars, &files));
    let _ = writeln!(script, "# Then: {login}");
    (
        [(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        script,
    )
        .into_response()
}

fn invalid(param: &str, value: &str, allowed: &str) -> Response {
    ArmError::new(
        http::StatusCode::BAD_REQUEST,
        "InvalidParameter",
        format!("Query parameter '{param}' must be one of {allowed}; '{value}' is not."),
    )
    .into_response()
}

/// `GET /_emulator/ca.pem`: the CA certificate clients must trust.
pub async fn ca_pem(State(s): State<AppState>) -> Response {
    (
        [(http::header::CONTENT_TYPE, "application/x-pem-file")],
        s.ca.cert_pem.clone(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_names_keep_only_safe_characters() {
        assert_eq!(dir_name("localhost:8443"), "localhost-8443");
        assert_eq!(dir_name("[::1]:8443"), "1--8443");
        assert_eq!(dir_name("127.0.0.1:9"), "127.0.0.1-9");
    }

    #[test]
    fn quoting_per_shell() {
        assert_eq!(shell_quote("a'b c"), "'a'\\''b c'");
        assert_eq!(fish_quote("a'b\\c"), "'a\\'b\\\\c'");
        assert_eq!(pwsh_quote("a'b"), "'a''b'");
        assert_eq!(shell_quote("http://localhost:1"), "http://localhost:1");
    }
}
