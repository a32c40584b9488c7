//! Which host names the emulator answers for. The same list decides which
//! CONNECT tunnels the proxy opens and which names the CA issues certificates
//! for: the CA key could sign for any host, so it signs only for these.

/// Azure's own host names served in transparent mode.
const EXACT: &[&str] = &[
    "management.azure.com",
    "management.core.windows.net",
    "login.microsoftonline.com",
    "login.windows.net",
    "login.microsoft.com",
    "sts.windows.net",
    "graph.microsoft.com",
    "graph.windows.net",
    // Public registries, served offline (anonymous pull, see `crate::public_registry`).
    "mcr.microsoft.com",
    "registry-1.docker.io",
    "index.docker.io",
    "docker.io",
    // The storage account ACR task logs are read from (`crate::storage`).
    crate::storage::HOST,
    "localhost",
    "127.0.0.1",
    "::1",
];

/// Suffixes whose every single-label subdomain is emulated (`<registry>.azurecr.io`).
const SUFFIXES: &[&str] = &[".azurecr.io"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostClass {
    /// Served by the emulator.
    Emulated,
    /// Not ours: CONNECT gets 403 and no certificate is minted. Includes az's
    /// version check (azcliprod.blob.core.windows.net) and telemetry
    /// (dc.services.visualstudio.com), which az tolerates being refused.
    Refused,
}

pub fn classify(host: &str) -> HostClass {
    let h = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if EXACT.contains(&h.as_str()) {
        return HostClass::Emulated;
    }
    for s in SUFFIXES {
        if let Some(label) = h.strip_suffix(s)
            && !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return HostClass::Emulated;
        }
    }
    HostClass::Refused
}

pub fn is_loopback(host: &str) -> bool {
    matches!(
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase()
            .as_str(),
        "localhost" | "127.0.0.1" | "::1"
    )
}

/// Every emulated name a certificate could be asked for up front (the fallback certificate).
pub fn fallback_names() -> Vec<String> {
    vec!["localhost".into(), "127.0.0.1".into(), "::1".into()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert_eq!(classify("management.azure.com"), HostClass::Emulated);
        assert_eq!(classify("Login.MicrosoftOnline.com"), HostClass::Emulated);
        assert_eq!(classify("myregistry.azurecr.io"), HostClass::Emulated);
        assert_eq!(classify("a.b.azurecr.io"), HostClass::Refused);
        assert_eq!(classify(".azurecr.io"), HostClass::Refused);
        assert_eq!(
            classify("azcliprod.blob.core.windows.net"),
            HostClass::Refused
        );
        assert_eq!(classify("example.com"), HostClass::Refused);
        assert_eq!(
            classify("azemutasklogs.blob.core.windows.net"),
            HostClass::Emulated
        );
        assert_eq!(classify("other.blob.core.windows.net"), HostClass::Refused);
        assert_eq!(classify("[::1]"), HostClass::Emulated);
    }
}
