//! `ResourceId`: the one way an ARM resource is named.
//!
//! ```text
//! /subscriptions/{sub}[/resourceGroups/{rg}][/providers/{ns}/{type}/{name}[/{type}/{name}]*]*
//! ```
//!
//! Several `/providers/` sections make an extension resource (a role assignment
//! on a registry). Comparison and hashing fold case, as ARM does; `Display`
//! keeps the names as the client last spelled them and writes the fixed key
//! words (`subscriptions`, `resourceGroups`, `providers`) in ARM's casing.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

#[derive(Debug, Clone)]
pub struct ResourceId {
    pub subscription: String,
    pub resource_group: Option<String>,
    /// Provider sections, outermost first. Each has at least one `(type, name)` pair.
    pub providers: Vec<ProviderSegment>,
}

#[derive(Debug, Clone)]
pub struct ProviderSegment {
    pub namespace: String,
    pub types: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a valid resource id")]
pub struct InvalidResourceId(pub String);

impl ResourceId {
    pub fn subscription(sub: &str) -> Self {
        ResourceId {
            subscription: sub.to_string(),
            resource_group: None,
            providers: Vec::new(),
        }
    }

    pub fn resource_group(sub: &str, rg: &str) -> Self {
        ResourceId {
            resource_group: Some(rg.to_string()),
            ..Self::subscription(sub)
        }
    }

    /// Append a child `(type, name)` to the innermost provider section, or open a new one.
    pub fn child(&self, namespace: &str, ty: &str, name: &str) -> Self {
        let mut id = self.clone();
        match id.providers.last_mut() {
            Some(last) if last.namespace.eq_ignore_ascii_case(namespace) => {
                last.types.push((ty.to_string(), name.to_string()))
            }
            _ => id.providers.push(ProviderSegment {
                namespace: namespace.to_string(),
                types: vec![(ty.to_string(), name.to_string())],
            }),
        }
        id
    }

    /// The resource's own name: the last name in the id.
    pub fn name(&self) -> &str {
        if let Some(p) = self.providers.last() {
            return &p.types.last().expect("provider segment has a type").1;
        }
        self.resource_group.as_deref().unwrap_or(&self.subscription)
    }

    /// The ARM type, e.g. `Microsoft.ContainerRegistry/registries/tasks`.
    pub fn resource_type(&self) -> String {
        match self.providers.last() {
            Some(p) => {
                let mut s = p.namespace.clone();
                for (t, _) in &p.types {
                    s.push('/');
                    s.push_str(t);
                }
                s
            }
            None if self.resource_group.is_some() => "Microsoft.Resources/resourceGroups".into(),
            None => "Microsoft.Resources/subscriptions".into(),
        }
    }

    /// The scope this id sits in: its parent resource, resource group or subscription.
    pub fn parent(&self) -> Option<ResourceId> {
        let mut id = self.clone();
        if let Some(last) = id.providers.last_mut() {
            last.types.pop();
            if last.types.is_empty() {
                id.providers.pop();
            }
            return Some(id);
        }
        if id.resource_group.take().is_some() {
            return Some(id);
        }
        None
    }

    /// Is `self` equal to `scope` or below it?
    pub fn is_within(&self, scope: &ResourceId) -> bool {
        let (me, it) = (self.key(), scope.key());
        me == it || me.starts_with(&format!("{it}/"))
    }

    /// Case-folded form used as a storage key and for equality.
    pub fn key(&self) -> String {
        self.to_string().to_ascii_lowercase()
    }

    /// Parse as much of `path` as forms a resource id and return the rest
    /// (segments that belong to a collection or an action), e.g.
    /// `/subscriptions/s/resourcegroups/rg/providers/Microsoft.X/things` →
    /// (`/subscriptions/s/resourceGroups/rg`, `["providers","Microsoft.X","things"]`).
    /// Empty segments (`//`) are ignored, as ARM ignores them.
    pub fn parse_prefix(path: &str) -> Option<(ResourceId, Vec<String>)> {
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        if segs.len() < 2 || !segs[0].eq_ignore_ascii_case("subscriptions") {
            return None;
        }
        let mut id = ResourceId::subscription(segs[1]);
        let mut i = 2;
        if segs.len() >= i + 2 && segs[i].eq_ignore_ascii_case("resourcegroups") {
            id.resource_group = Some(segs[i + 1].to_string());
            i += 2;
        }
        // providers/{ns}/{type}/{name}[/{type}/{name}]* ...
        while segs.len() >= i + 4 && segs[i].eq_ignore_ascii_case("providers") {
            let mut seg = ProviderSegment {
                namespace: segs[i + 1].to_string(),
                types: Vec::new(),
            };
            let mut j = i + 2;
            while segs.len() >= j + 2 && !segs[j].eq_ignore_ascii_case("providers") {
                seg.types
                    .push((segs[j].to_string(), segs[j + 1].to_string()));
                j += 2;
            }
            if seg.types.is_empty() {
                break;
            }
            id.providers.push(seg);
            i = j;
        }
        Some((id, segs[i..].iter().map(|s| s.to_string()).collect()))
    }
}

impl FromStr for ResourceId {
    type Err = InvalidResourceId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match ResourceId::parse_prefix(s) {
            Some((id, rest)) if rest.is_empty() && s.starts_with('/') => Ok(id),
            _ => Err(InvalidResourceId(s.to_string())),
        }
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/subscriptions/{}", self.subscription)?;
        if let Some(rg) = &self.resource_group {
            write!(f, "/resourceGroups/{rg}")?;
        }
        for p in &self.providers {
            write!(f, "/providers/{}", p.namespace)?;
            for (t, n) in &p.types {
                write!(f, "/{t}/{n}")?;
            }
        }
        Ok(())
    }
}

impl PartialEq for ResourceId {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for ResourceId {}
impl Hash for ResourceId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key().hash(state)
    }
}

impl serde::Serialize for ResourceId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ResourceId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_extension_resource() {
        let id: ResourceId = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/r/providers/Microsoft.Authorization/roleAssignments/g"
            .parse()
            .unwrap();
        assert_eq!(id.providers.len(), 2);
        assert_eq!(
            id.resource_type(),
            "Microsoft.Authorization/roleAssignments"
        );
        assert_eq!(id.name(), "g");
        assert_eq!(
            id.parent().unwrap().resource_type(),
            "Microsoft.ContainerRegistry/registries"
        );
    }

    #[test]
    fn prefix_leaves_collections_and_actions() {
        let (id, rest) = ResourceId::parse_prefix(
            "/subscriptions/s/resourcegroups/rg//providers/Microsoft.X/things",
        )
        .unwrap();
        assert_eq!(id.to_string(), "/subscriptions/s/resourceGroups/rg");
        assert_eq!(rest, vec!["providers", "Microsoft.X", "things"]);
        let (id, rest) = ResourceId::parse_prefix(
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.X/things/t/listKeys",
        )
        .unwrap();
        assert_eq!(id.name(), "t");
        assert_eq!(rest, vec!["listKeys"]);
        assert!(ResourceId::parse_prefix("/tenants").is_none());
        assert!(
            "/subscriptions/s/resourceGroups"
                .parse::<ResourceId>()
                .is_err()
        );
        assert!("subscriptions/s".parse::<ResourceId>().is_err());
    }

    #[test]
    fn within_is_segment_aware() {
        let rg: ResourceId = "/subscriptions/s/resourceGroups/rg".parse().unwrap();
        let rg2: ResourceId = "/subscriptions/s/resourceGroups/rg2".parse().unwrap();
        let r: ResourceId = "/subscriptions/s/resourceGroups/RG/providers/A.B/c/d"
            .parse()
            .unwrap();
        assert!(r.is_within(&rg));
        assert!(!rg2.is_within(&rg));
        assert!(rg.is_within(&ResourceId::subscription("S")));
    }

    fn name() -> impl Strategy<Value = String> {
        // ARM names: letters, digits and a few punctuation marks; never a slash.
        "[A-Za-z0-9][A-Za-z0-9_.()-]{0,20}"
    }

    fn resource_id() -> impl Strategy<Value = ResourceId> {
        let provider = (name(), prop::collection::vec((name(), name()), 1..4))
            .prop_map(|(namespace, types)| ProviderSegment { namespace, types });
        (
            name(),
            prop::option::of(name()),
            prop::collection::vec(provider, 0..3),
        )
            // A provider section's type can't be the key word "providers", or the id would be ambiguous.
            .prop_filter("no type named providers", |(_, _, ps)| {
                ps.iter().all(|p| {
                    p.types
                        .iter()
                        .all(|(t, _)| !t.eq_ignore_ascii_case("providers"))
                })
            })
            .prop_map(|(subscription, resource_group, providers)| ResourceId {
                subscription,
                resource_group,
                providers,
            })
    }

    fn flip_case(s: &str, mask: &[bool]) -> String {
        s.chars()
            .zip(mask.iter().cycle())
            .map(|(c, &up)| {
                if up {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect()
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(id in resource_id()) {
            let text = id.to_string();
            let back: ResourceId = text.parse().unwrap();
            prop_assert_eq!(back.to_string(), text);
            prop_assert_eq!(back, id);
        }

        #[test]
        fn equality_ignores_case(id in resource_id(), mask in prop::collection::vec(any::<bool>(), 1..16)) {
            let text = id.to_string();
            let flipped: ResourceId = flip_case(&text, &mask).parse().unwrap();
            prop_assert_eq!(&flipped, &id);
            prop_assert_eq!(flipped.key(), id.key());
            // and the parsed form keeps the spelling it was given
            prop_assert_eq!(flipped.to_string().to_ascii_lowercase(), text.to_ascii_lowercase());
        }

        #[test]
        fn redundant_slashes_are_ignored(id in resource_id()) {
            let doubled = id.to_string().replace('/', "//");
            prop_assert_eq!(doubled.parse::<ResourceId>().unwrap(), id);
        }
    }
}
