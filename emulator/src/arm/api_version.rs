//! `api-version`: parsed once at the edge into [`ApiVersion`].
//!
//! Real clients send many versions, including previews dated in the future,
//! so every well-formed version is accepted unless the emulator runs with
//! `--strict-api-versions`, in which case only versions listed in
//! `fixtures/api-versions.json` for the endpoint's type are.

use super::error::ArmError;
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion(String);

#[derive(Debug, Clone, thiserror::Error)]
#[error("malformed api-version '{0}'")]
pub struct MalformedApiVersion(pub String);

const SUFFIXES: &[&str] = &["preview", "alpha", "beta", "rc", "privatepreview"];

impl FromStr for ApiVersion {
    type Err = MalformedApiVersion;
    /// `YYYY-MM-DD[-preview|-alpha|-beta|-rc|-privatepreview]`, or the legacy `1.0`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || MalformedApiVersion(s.to_string());
        if s == "1.0" {
            return Ok(ApiVersion(s.to_string()));
        }
        let (date, suffix) = match s.get(10..) {
            Some("") => (s, None),
            Some(rest) if rest.starts_with('-') => (&s[..10], Some(&rest[1..])),
            _ => return Err(bad()),
        };
        let parts: Vec<&str> = date.split('-').collect();
        let digits = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_digit());
        if parts.len() != 3 || !digits(parts[0], 4) || !digits(parts[1], 2) || !digits(parts[2], 2)
        {
            return Err(bad());
        }
        let (m, d): (u8, u8) = (
            parts[1].parse().map_err(|_| bad())?,
            parts[2].parse().map_err(|_| bad())?,
        );
        if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
            return Err(bad());
        }
        if let Some(sfx) = suffix
            && !SUFFIXES.iter().any(|x| x.eq_ignore_ascii_case(sfx))
        {
            return Err(bad());
        }
        Ok(ApiVersion(s.to_ascii_lowercase()))
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl ApiVersion {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Supported versions per ARM type (lower-cased), newest first: those the
/// specs define ([`super::spec::api_versions`]) and those current clients
/// send (`fixtures/api-versions.json`); a child type without its own takes
/// its parent's.
pub fn supported_versions(resource_type: &str) -> &'static [String] {
    static TABLE: OnceLock<HashMap<String, Vec<String>>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        // Keys starting with `_` are comments; a malformed entry is a build-time
        // fixture bug caught by `strict_mode_uses_the_table`.
        let raw: HashMap<String, serde_json::Value> =
            serde_json::from_str(include_str!("../../../fixtures/api-versions.json"))
                .unwrap_or_default();
        let mut table: HashMap<String, Vec<String>> = raw
            .into_iter()
            .filter(|(k, _)| !k.starts_with('_'))
            .filter_map(|(k, v)| Some((k.to_ascii_lowercase(), serde_json::from_value(v).ok()?)))
            .collect();
        for ns in super::spec::namespaces() {
            for (t, versions) in super::spec::resource_types(ns) {
                let entry = table
                    .entry(format!("{ns}/{t}").to_ascii_lowercase())
                    .or_default();
                entry.extend(versions.iter().map(|v| v.to_string()));
            }
        }
        for versions in table.values_mut() {
            versions.sort_by_key(|v| std::cmp::Reverse(v.to_ascii_lowercase()));
            versions.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
        }
        table
    });
    let mut ty = resource_type.to_ascii_lowercase();
    loop {
        if let Some(v) = table.get(&ty).filter(|v| !v.is_empty()) {
            return v;
        }
        // `ns/a/b` → `ns/a`; stop at the namespace.
        match ty.rsplit_once('/') {
            Some((parent, _)) if parent.contains('/') => ty = parent.to_string(),
            _ => return &[],
        }
    }
}

/// The api-version of a request to an endpoint of `resource_type`
/// (`Microsoft.Resources/resourceGroups`, `Microsoft.Network/networkSecurityGroups`):
/// required, well-formed, and in strict mode one of the supported versions,
/// refused in the words ARM uses for the type's namespace.
pub fn require(
    query: Option<&str>,
    resource_type: &str,
    strict: bool,
) -> Result<ApiVersion, ArmError> {
    let Some(raw) = query else {
        return Err(ArmError::missing_api_version());
    };
    let supported = supported_versions(resource_type);
    let listed = || supported.join(",");
    let v: ApiVersion = raw
        .parse()
        .map_err(|_| ArmError::invalid_api_version(raw, &listed()))?;
    if strict && !supported.iter().any(|s| s.eq_ignore_ascii_case(raw)) {
        let (ns, ty) = resource_type.split_once('/').unwrap_or((resource_type, ""));
        if ns.eq_ignore_ascii_case("Microsoft.Resources") {
            return Err(ArmError::invalid_api_version(raw, &listed()));
        }
        // Oldest first, as ARM lists them (Azure/azure-cli#13834).
        let ascending: Vec<&str> = supported.iter().rev().map(String::as_str).collect();
        return Err(ArmError::unsupported_api_version_for_type(
            ty,
            ns,
            raw,
            &ascending.join(","),
        ));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_azure_shapes() {
        for ok in [
            "2022-09-01",
            "2019-06-01-preview",
            "2031-01-01-PREVIEW",
            "2020-01-01-privatepreview",
            "1.0",
        ] {
            assert!(ok.parse::<ApiVersion>().is_ok(), "{ok}");
        }
        for bad in [
            "",
            "2022",
            "2022-13-01",
            "2022-09-01-",
            "2022-09-01-foo",
            "22-09-01",
            "2022-09-01x",
            "2022-09-1",
        ] {
            assert!(bad.parse::<ApiVersion>().is_err(), "{bad}");
        }
    }

    #[test]
    fn strict_mode_uses_the_table() {
        assert!(
            require(
                Some("2022-09-01"),
                "Microsoft.Resources/resourceGroups",
                true
            )
            .is_ok()
        );
        assert!(
            require(
                Some("2099-09-01"),
                "Microsoft.Resources/resourceGroups",
                true
            )
            .is_err()
        );
        assert!(
            require(
                Some("2099-09-01"),
                "Microsoft.Resources/resourceGroups",
                false
            )
            .is_ok()
        );
        assert!(require(None, "Microsoft.Resources/resourceGroups", false).is_err());
    }

    #[test]
    fn every_provider_knows_its_versions() {
        let nsg = "Microsoft.Network/networkSecurityGroups";
        assert!(require(Some("2024-03-01"), nsg, true).is_ok());
        let e = require(Some("2099-01-01"), nsg, true).unwrap_err();
        assert_eq!(e.code, "InvalidResourceType");
        assert!(
            e.message.starts_with("The resource type 'networkSecurityGroups' could not be found in the namespace 'Microsoft.Network' for api version '2099-01-01'. The supported api-versions are '"),
            "{}",
            e.message
        );
        // A child without versions of its own takes its parent's.
        assert_eq!(
            supported_versions("Microsoft.ContainerRegistry/registries/nothing"),
            supported_versions("Microsoft.ContainerRegistry/registries")
        );
        assert!(
            supported_versions("Microsoft.ContainerRegistry/registries")
                .iter()
                .any(|v| v == "2023-07-01")
        );
    }
}
