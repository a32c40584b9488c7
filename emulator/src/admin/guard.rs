//! Who may call the control API: the local user, and nobody through a browser
//! on another site or through an Azure host name.
//!
//! The control API has no authentication — it can reset the world, mint
//! principals and hand out managed-identity tokens — so it answers only
//! requests that could have come from the person running azemu:
//!
//! 1. **Addressed to this machine.** The `Host` (and the CONNECT target and
//!    an absolute URI's authority, when there are any) must be `localhost`,
//!    `127.0.0.1`, `[::1]` (any port) or the address azemu is bound to. A web
//!    page that rebinds its own name to 127.0.0.1 still sends its own name as
//!    `Host` and is refused: 403 `Forbidden`.
//!    Under an Azure host name (`https://management.azure.com/_emulator/info`
//!    through the transparent proxy) the control API does not exist: the
//!    request is answered as that host answers any path it does not serve
//!    (ARM's 404). The managed-identity endpoints are local too, and IMDS's
//!    path also answers at the IMDS address, `169.254.169.254`.
//! 2. **Not from another site's page.** A request carrying an `Origin` that is
//!    not the emulator's own (scheme, host and port as the request addressed
//!    them) is refused: 403 `Forbidden`. Browsers send `Origin` with every
//!    cross-origin request and every POST.
//! 3. **JSON, not a form.** Calls that change something (POST, PUT, PATCH,
//!    DELETE) must say `Content-Type: application/json`, which an HTML form or
//!    a `no-cors` fetch cannot send: 415 `UnsupportedMediaType` otherwise. The
//!    managed-identity endpoints are exempt (clients POST forms to them, as to
//!    Azure's).
//!
//! Errors use the control API's shape (ARM's). Only paths under `/_emulator`
//! and `/metadata/identity` pass through here, so nothing else pays for it.

use crate::arm::ArmError;
use crate::server::hosts::{self, Addressee};
use crate::web::Transport;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, StatusCode, Uri, header};
use std::net::IpAddr;

/// Which guarded surface a path belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// `/_emulator/*`: the control API proper (and the console).
    Control,
    /// The managed-identity token endpoints: `/_emulator/identity/…` and IMDS's
    /// `/metadata/identity/…`.
    Identity,
}

/// The guarded surface `path` belongs to, if any. Case-sensitive, as the router is.
pub fn surface(path: &str) -> Option<Surface> {
    if path.starts_with("/metadata/identity/") || path.starts_with("/_emulator/identity/") {
        Some(Surface::Identity)
    } else if path == "/_emulator" || path.starts_with("/_emulator/") {
        Some(Surface::Control)
    } else {
        None
    }
}

/// What the server does with a guarded request.
pub enum Admission {
    /// Serve it (the full router).
    Serve,
    /// It was addressed to an Azure host name: answer as that host would, without
    /// the control API.
    AsAzureHost,
    /// Refuse it with this answer.
    Refused(Response),
}

/// Apply the rules above to a request on `surface`.
pub fn admit(
    surface: Surface,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    transport: Option<&Transport>,
    bind: IpAddr,
) -> Admission {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let authority = uri.authority().map(|a| a.as_str());
    let tunnel = transport.and_then(|t| t.tunnel_host.as_deref());
    // Every name the request gives (a second `Host` line included) must be local.
    let hosts = headers
        .get_all(header::HOST)
        .iter()
        .map(|h| h.to_str().unwrap_or("(not text)"));
    let named: Vec<&str> = hosts
        .chain([authority, tunnel].into_iter().flatten())
        .collect();
    let mut foreign = host.is_none().then_some("");
    for name in &named {
        match hosts::addressee(name, bind) {
            Addressee::Local => {}
            Addressee::Imds if surface == Surface::Identity => {}
            Addressee::Azure => return Admission::AsAzureHost,
            Addressee::Imds | Addressee::Foreign => foreign = foreign.or(Some(name)),
        }
    }
    if let Some(name) = foreign {
        return Admission::Refused(wrong_host(name).into_response());
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("(not text)");
        let tls = transport.is_none_or(|t| t.tls);
        let own = own_origin(tls, host.unwrap_or_default());
        if !same_origin(origin, &own) {
            return Admission::Refused(cross_origin(origin, &own).into_response());
        }
    }
    if surface == Surface::Control && changes_state(method) {
        let ct = headers
            .get(header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        if !ct.as_deref().is_some_and(is_json) {
            return Admission::Refused(not_json(ct.as_deref()).into_response());
        }
    }
    Admission::Serve
}

fn changes_state(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// `application/json`, with or without parameters (`; charset=utf-8`).
fn is_json(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

/// `https://localhost:8443`: the origin a page served by this request's host has.
fn own_origin(tls: bool, host: &str) -> String {
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{}", host.to_ascii_lowercase())
}

/// Same scheme, host and port, default ports made explicit.
fn same_origin(origin: &str, own: &str) -> bool {
    fn canonical(o: &str) -> Option<(String, String, u16)> {
        let (scheme, rest) = o.trim().split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        let default = match scheme.as_str() {
            "https" => 443,
            "http" => 80,
            _ => return None,
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(':') && p.chars().all(|c| c.is_ascii_digit()) => {
                (h, p.parse().ok()?)
            }
            _ => (rest, default),
        };
        Some((scheme, hosts::host_of(host), port))
    }
    matches!((canonical(origin), canonical(own)), (Some(a), Some(b)) if a == b)
}

fn wrong_host(name: &str) -> ArmError {
    let named = if name.is_empty() {
        "no host".to_string()
    } else {
        format!("host '{name}'")
    };
    ArmError::new(
        StatusCode::FORBIDDEN,
        "Forbidden",
        format!(
            "The control API answers only requests addressed to localhost, 127.0.0.1, [::1] or the address azemu is bound to; this request was addressed to {named}."
        ),
    )
}

fn cross_origin(origin: &str, own: &str) -> ArmError {
    ArmError::new(
        StatusCode::FORBIDDEN,
        "Forbidden",
        format!(
            "The control API refuses cross-origin requests: Origin '{origin}' is not this emulator's own ({own})."
        ),
    )
}

fn not_json(content_type: Option<&str>) -> ArmError {
    let sent = match content_type {
        Some(ct) => format!("'{ct}'"),
        None => "none".to_string(),
    };
    ArmError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UnsupportedMediaType",
        format!(
            "The control API accepts calls that change state (POST, PUT, PATCH, DELETE) only with 'Content-Type: application/json'; this request sent {sent}."
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(
        surface: Surface,
        method: Method,
        headers: &[(&str, &str)],
        tunnel: Option<&str>,
    ) -> Result<(), (u16, String)> {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        let transport = Transport {
            tls: true,
            peer: "127.0.0.1:1".parse().unwrap(),
            tunnel_host: tunnel.map(str::to_string),
        };
        let uri: Uri = "/_emulator/reset".parse().unwrap();
        match admit(
            surface,
            &method,
            &uri,
            &h,
            Some(&transport),
            [127, 0, 0, 1].into(),
        ) {
            Admission::Serve => Ok(()),
            Admission::AsAzureHost => Err((404, "azure".into())),
            Admission::Refused(r) => Err((r.status().as_u16(), String::new())),
        }
    }

    #[test]
    fn surfaces() {
        assert_eq!(surface("/_emulator"), Some(Surface::Control));
        assert_eq!(surface("/_emulator/info"), Some(Surface::Control));
        assert_eq!(surface("/_emulatorx"), None);
        assert_eq!(
            surface("/_emulator/identity/abc/token"),
            Some(Surface::Identity)
        );
        assert_eq!(
            surface("/metadata/identity/oauth2/token"),
            Some(Surface::Identity)
        );
        assert_eq!(surface("/metadata/endpoints"), None);
        assert_eq!(surface("/subscriptions"), None);
    }

    #[test]
    fn rules() {
        use Surface::*;
        let json = ("content-type", "application/json; charset=utf-8");
        let local = ("host", "localhost:8443");
        assert_eq!(req(Control, Method::POST, &[local, json], None), Ok(()));
        assert_eq!(req(Control, Method::GET, &[local], None), Ok(()));
        assert_eq!(
            req(Control, Method::GET, &[("host", "evil.example")], None).map_err(|e| e.0),
            Err(403)
        );
        assert_eq!(
            req(Control, Method::GET, &[], None).map_err(|e| e.0),
            Err(403)
        );
        assert_eq!(
            req(
                Control,
                Method::GET,
                &[("host", "management.azure.com")],
                None
            )
            .map_err(|e| e.0),
            Err(404)
        );
        // A second Host line naming another host does not pass.
        assert_eq!(
            req(
                Control,
                Method::GET,
                &[local, ("host", "evil.example")],
                None
            )
            .map_err(|e| e.0),
            Err(403)
        );
        // Inside a tunnel to an Azure host, a local Host header does not help.
        assert_eq!(
            req(Control, Method::GET, &[local], Some("management.azure.com")).map_err(|e| e.0),
            Err(404)
        );
        assert_eq!(
            req(Control, Method::GET, &[local], Some("localhost")),
            Ok(())
        );
        // IMDS's address serves the identity endpoints only.
        let imds = ("host", "169.254.169.254");
        assert_eq!(req(Identity, Method::GET, &[imds], None), Ok(()));
        assert_eq!(
            req(Control, Method::GET, &[imds], None).map_err(|e| e.0),
            Err(403)
        );
        // Origins: our own passes (default port made explicit), others do not.
        for (origin, host, ok) in [
            ("https://localhost:8443", "localhost:8443", true),
            ("https://LOCALHOST:8443/", "localhost:8443", true),
            ("https://localhost", "localhost:443", true),
            ("http://localhost:8443", "localhost:8443", false),
            ("https://127.0.0.1:8443", "localhost:8443", false),
            ("https://localhost:9999", "localhost:8443", false),
            ("https://evil.example", "localhost:8443", false),
            ("null", "localhost:8443", false),
        ] {
            let got = req(
                Control,
                Method::POST,
                &[("host", host), json, ("origin", origin)],
                None,
            );
            assert_eq!(got.is_ok(), ok, "{origin} at {host}: {got:?}");
        }
        // State-changing calls must be JSON; reads and identity endpoints need not.
        for ct in [
            None,
            Some("application/x-www-form-urlencoded"),
            Some("text/plain"),
            Some("multipart/form-data; boundary=x"),
            Some("application/jsonx"),
        ] {
            let mut h = vec![local];
            if let Some(ct) = ct {
                h.push(("content-type", ct));
            }
            for m in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
                assert_eq!(
                    req(Control, m.clone(), &h, None).map_err(|e| e.0),
                    Err(415),
                    "{m} {ct:?}"
                );
            }
            assert_eq!(req(Identity, Method::POST, &h, None), Ok(()));
        }
    }
}
