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

/// The address of the Instance Metadata Service, where IMDS-style clients send
/// managed-identity token requests on a VM.
pub const IMDS_ADDRESS: &str = "169.254.169.254";

/// The host of a `Host` header or URI authority: port, IPv6 brackets and a
/// trailing dot removed, lowercase (`[::1]:8443` → `::1`, `LocalHost.:80` → `localhost`).
pub fn host_of(authority: &str) -> String {
    let a = authority.trim();
    let host = if let Some(rest) = a.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else if a.matches(':').count() > 1 {
        // A bare IPv6 literal (not valid in a Host header, but unambiguous).
        a
    } else {
        a.split(':').next().unwrap_or_default()
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Who a request was addressed to, as the control API's guard sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addressee {
    /// `localhost`, `127.0.0.1`, `::1` (any port), or the address azemu is bound to.
    Local,
    /// The IMDS address (`169.254.169.254`): the managed-identity endpoints only.
    Imds,
    /// One of Azure's host names azemu emulates (`management.azure.com`, …).
    Azure,
    /// Anything else (`evil.example`, a DNS-rebinding name, no host at all).
    Foreign,
}

/// Classify a `Host` header or URI authority. `bind` counts as local unless it
/// is the unspecified address (`0.0.0.0`, `::`), which names no host.
pub fn addressee(authority: &str, bind: std::net::IpAddr) -> Addressee {
    let host = host_of(authority);
    if is_loopback(&host) {
        return Addressee::Local;
    }
    if !bind.is_unspecified() && host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip == bind) {
        return Addressee::Local;
    }
    if host == IMDS_ADDRESS {
        return Addressee::Imds;
    }
    match classify(&host) {
        HostClass::Emulated if !host.is_empty() => Addressee::Azure,
        _ => Addressee::Foreign,
    }
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

    #[test]
    fn addressees() {
        use std::net::IpAddr;
        let lo: IpAddr = [127, 0, 0, 1].into();
        let any: IpAddr = [0, 0, 0, 0].into();
        let lan: IpAddr = [192, 168, 1, 5].into();
        for (authority, bind, want) in [
            ("localhost:8443", lo, Addressee::Local),
            ("LOCALHOST.", lo, Addressee::Local),
            ("127.0.0.1", lo, Addressee::Local),
            ("[::1]:8443", lo, Addressee::Local),
            ("192.168.1.5:8443", lan, Addressee::Local),
            ("192.168.1.5:8443", lo, Addressee::Foreign),
            ("0.0.0.0:8443", any, Addressee::Foreign),
            ("169.254.169.254", lo, Addressee::Imds),
            ("management.azure.com", lo, Addressee::Azure),
            ("myreg.azurecr.io:443", lo, Addressee::Azure),
            ("evil.example", lo, Addressee::Foreign),
            ("localhost.evil.example", lo, Addressee::Foreign),
            ("", lo, Addressee::Foreign),
        ] {
            assert_eq!(
                addressee(authority, bind),
                want,
                "{authority} bound to {bind}"
            );
        }
    }
}
