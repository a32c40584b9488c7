//! Edge helpers every plane shares: which host the client asked for,
//! reading a request body with a limit, and percent-decoding a path.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use std::convert::Infallible;
use std::net::SocketAddr;

/// Largest request body any plane accepts in one piece (OCI blob uploads stream and are not bound by it).
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// `https://{Host}`: the host the client asked for. In transparent mode that is
/// `management.azure.com` or `login.microsoftonline.com`; directly it is
/// `localhost:8443`. Every URL the emulator emits is built on it.
#[derive(Debug, Clone)]
pub struct BaseUrl(pub String);

impl BaseUrl {
    pub fn host(&self) -> &str {
        self.0
            .trim_start_matches("https://")
            .trim_start_matches("http://")
    }
}

impl<S: Send + Sync> FromRequestParts<S> for BaseUrl {
    type Rejection = Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(base_url(parts))
    }
}

/// Percent-decode a URL path (ARM names, blob paths and template strings may
/// arrive encoded). Invalid escapes stay as they are; a result that is not
/// UTF-8 leaves the whole string as it came.
pub fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map_or_else(|_| s.to_string(), |d| d.into_owned())
}

/// The request's `Host` header as sent (empty when missing or not text).
pub fn host_header(headers: &http::HeaderMap) -> &str {
    headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
}

/// Who made a request, as the plane that authenticated it found out: an
/// object id, or a registry user (admin, repository token). The edge puts an
/// empty one in every request's extensions and logs what the plane set
/// ([`crate::server`]'s request log); refused credentials may set the name
/// they claimed.
#[derive(Clone, Default, Debug)]
pub struct Who(std::sync::Arc<std::sync::OnceLock<String>>);

impl Who {
    /// Record the caller (the first one set stays).
    pub fn set(&self, principal: impl Into<String>) {
        let _ = self.0.set(principal.into());
    }

    pub fn get(&self) -> Option<&str> {
        self.0.get().map(String::as_str)
    }
}

pub fn base_url(parts: &Parts) -> BaseUrl {
    let host = parts
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()))
        .unwrap_or_else(|| "localhost".into());
    let scheme = match parts.extensions.get::<Transport>() {
        Some(Transport { tls: false, .. }) => "http",
        _ => "https",
    };
    BaseUrl(format!("{scheme}://{host}"))
}

/// How a request reached the emulator; inserted into every request's extensions by the server.
#[derive(Debug, Clone)]
pub struct Transport {
    pub tls: bool,
    /// The peer's address (for firewall decisions later).
    pub peer: SocketAddr,
    /// The host named in HTTP CONNECT, when the request came through the proxy tunnel.
    pub tunnel_host: Option<String>,
}

/// Where a request comes from, as a registry's network decision sees it: the
/// [`crate::network::Source`] a request the emulator made to itself carries
/// ([`crate::server::loopback`]), else the public address of its peer.
pub fn source_of(ext: &http::Extensions) -> crate::network::Source {
    if let Some(s) = ext.get::<crate::network::Source>() {
        return s.clone();
    }
    let ip = ext
        .get::<Transport>()
        .map(|t| t.peer.ip())
        .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
    crate::network::Source::public(ip)
}

/// Run synchronous work on tokio's blocking pool, off the async workers: store
/// calls (a write transaction is thread-bound, may wait for another writer, and
/// its commit fsyncs), blob files, anything that reads a file. `f` runs whole on
/// one thread, so a transaction opened in it never crosses an `.await`. A panic
/// in `f` goes on in the caller, where [`crate::server::recover`] answers it in
/// the plane's shape as before.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let span = tracing::Span::current();
    joined(tokio::task::spawn_blocking(move || span.in_scope(f))).await
}

/// The outcome of a task on the blocking pool; its panic goes on in the caller.
pub async fn joined<T>(task: tokio::task::JoinHandle<T>) -> T {
    match task.await {
        Ok(v) => v,
        Err(e) => match e.try_into_panic() {
            Ok(payload) => std::panic::resume_unwind(payload),
            // Only when the runtime shuts down under the request.
            Err(e) => panic!("a blocking task did not finish: {e}"),
        },
    }
}

/// Collapse runs of `/` in the path (`https://localhost:8443//metadata/endpoints`,
/// which az builds from an endpoint ending in `/`). ARM does the same.
/// The query string is kept as it is.
pub fn normalize_path(uri: &http::Uri) -> Option<http::Uri> {
    let path = uri.path();
    if !path.contains("//") {
        return None;
    }
    let mut collapsed = String::with_capacity(path.len());
    for c in path.chars() {
        if !(c == '/' && collapsed.ends_with('/')) {
            collapsed.push(c);
        }
    }
    if let Some(q) = uri.query() {
        collapsed.push('?');
        collapsed.push_str(q);
    }
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = collapsed.parse().ok();
    http::Uri::from_parts(parts).ok()
}

#[cfg(test)]
mod tests {
    use super::normalize_path;

    /// Work on the blocking pool answers as if run in place, its panic included
    /// (which `server::recover` then turns into the plane's 500).
    #[tokio::test]
    async fn blocking_work_answers_and_panics_in_the_caller() {
        use futures_util::FutureExt;
        assert_eq!(super::blocking(|| 6 * 7).await, 42);
        let caught = std::panic::AssertUnwindSafe(super::blocking(|| -> () { panic!("boom") }))
            .catch_unwind()
            .await;
        assert_eq!(caught.unwrap_err().downcast_ref::<&str>(), Some(&"boom"));
    }

    #[test]
    fn collapses_slashes_and_keeps_query() {
        let u: http::Uri = "//metadata//endpoints?api-version=2022-09-01&x=a//b"
            .parse()
            .unwrap();
        assert_eq!(
            normalize_path(&u).unwrap().to_string(),
            "/metadata/endpoints?api-version=2022-09-01&x=a//b"
        );
        let clean: http::Uri = "/subscriptions?api-version=1".parse().unwrap();
        assert!(normalize_path(&clean).is_none());
    }
}
