//! The request log: one line per request, at `info` (the control API's own
//! requests at `debug`), with `tracing` fields, so `AZEMU_LOG_FORMAT=json`
//! gives one JSON object per request:
//!
//! ```text
//! INFO request plane="registry" host="myreg.azurecr.io" method="GET" path="/v2/app/manifests/v1"
//!      status=401 duration_ms=0.41 principal="3f2a…" request_id="…" correlation_id="…"
//! ```
//!
//! The path keeps its query with the values of secret-bearing parameters
//! (SAS signatures, passwords, tokens, codes) replaced by `REDACTED`. The
//! principal is what the plane that authenticated the request set on its
//! [`Who`] (an object id, or a registry user); the ids are the ones the
//! plane answered with (`x-ms-request-id`, `x-ms-correlation-request-id`),
//! else one made here.

use super::planes::Plane;
use crate::web::Who;
use axum::body::Body;
use http::{Method, Request, Response};
use std::time::Instant;

/// Query parameters whose values never reach the log.
const SECRET_PARAMS: &[&str] = &[
    "sig",
    "password",
    "client_secret",
    "client_assertion",
    "assertion",
    "refresh_token",
    "access_token",
    "token",
    "code",
    "secret",
];

/// What is known of a request before it is answered.
pub struct Entry {
    plane: Plane,
    host: String,
    method: Method,
    path: String,
    who: Who,
    start: Instant,
}

impl Entry {
    /// Start the entry, and give the request its empty [`Who`].
    pub fn begin<B>(req: &mut Request<B>) -> Entry {
        let host = crate::web::host_header(req.headers()).to_string();
        let who = Who::default();
        req.extensions_mut().insert(who.clone());
        Entry {
            plane: Plane::of(&host, req.uri().path()),
            method: req.method().clone(),
            path: redacted(req.uri()),
            host,
            who,
            start: Instant::now(),
        }
    }

    /// Log the answer; the request id the line names.
    pub fn end(self, resp: &Response<Body>) -> String {
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let request_id =
            header("x-ms-request-id").unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let correlation_id = header("x-ms-correlation-request-id").unwrap_or_default();
        let duration_ms = self.start.elapsed().as_secs_f64() * 1000.0;
        let plane = plane_name(self.plane);
        let principal = self.who.get().unwrap_or_default();
        macro_rules! line {
            ($level:ident) => {
                tracing::$level!(
                    plane,
                    host = %self.host,
                    method = %self.method,
                    path = %self.path,
                    status = resp.status().as_u16(),
                    duration_ms = (duration_ms * 100.0).round() / 100.0,
                    principal,
                    request_id = %request_id,
                    correlation_id = %correlation_id,
                    "request"
                )
            };
        }
        if self.plane == Plane::Control {
            line!(debug);
        } else {
            line!(info);
        }
        request_id
    }
}

fn plane_name(p: Plane) -> &'static str {
    match p {
        Plane::Arm => "arm",
        Plane::Control => "control",
        Plane::Identity => "managed-identity",
        Plane::Entra => "entra",
        Plane::Graph => "graph",
        Plane::Registry => "registry",
        Plane::Storage => "storage",
    }
}

/// The path and query, with secret values replaced.
fn redacted(uri: &http::Uri) -> String {
    let path = uri.path();
    let Some(query) = uri.query() else {
        return path.to_string();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _))
                if SECRET_PARAMS
                    .iter()
                    .any(|s| crate::web::percent_decode(k).eq_ignore_ascii_case(s)) =>
            {
                format!("{k}=REDACTED")
            }
            _ => pair.to_string(),
        })
        .collect();
    format!("{path}?{}", query.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_the_query_are_redacted() {
        let uri: http::Uri =
            "/azemutasklogs/logs/ca1.log?sv=2021&sig=abc%2Fdef&se=2026&Password=x&scope=repository:a:pull"
                .parse()
                .unwrap();
        assert_eq!(
            redacted(&uri),
            "/azemutasklogs/logs/ca1.log?sv=2021&sig=REDACTED&se=2026&Password=REDACTED&scope=repository:a:pull"
        );
        assert_eq!(redacted(&"/v2/".parse().unwrap()), "/v2/");
    }
}
