//! The spec-driven ARM layer's table: every operation of Azure's OpenAPI
//! specs for the emulated providers (`fixtures/specs/`), compiled by
//! `emulator/build.rs` into static data — path templates, what each
//! operation is (a resource, a list, an action), its long-running and paging
//! behaviour, and the schemas of its bodies.
//!
//! - [`find`] matches a request to its operation (paths case-insensitive);
//!   [`find_scoped`] one under a `{scope}` of any depth (for the kind check);
//! - [`validate`] checks a body against the operation's schema in ARM's words;
//! - [`shape`] turns a stored resource into what Azure returns
//!   (secrets and write-only properties left out);
//! - [`api_versions`] and [`resource_types`] answer the providers API.
//!
//! Serving (the store, LROs, behaviour per type) is `providers::by_spec`.

pub mod shape;
pub mod validate;

pub use shape::{conforms, shape};
pub use validate::{
    validate, validate_for_provider, validate_for_provider_cleaned, validate_patch,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Any,
    Object,
    Array,
    String,
    Integer,
    Number,
    Boolean,
}

#[derive(Debug)]
pub struct Prop {
    pub name: &'static str,
    pub schema: u32,
    pub read_only: bool,
    pub secret: bool,
    /// `x-ms-mutability` bits ([`MUT_CREATE`], [`MUT_READ`], [`MUT_UPDATE`]); 0 when not given (all).
    pub mutability: u8,
    /// The spec's default, as JSON text.
    pub default: Option<&'static str>,
}

pub const MUT_CREATE: u8 = 1;
pub const MUT_READ: u8 = 2;
pub const MUT_UPDATE: u8 = 4;

impl Prop {
    pub fn schema(&self) -> &'static Schema {
        &SCHEMAS[self.schema as usize]
    }
    /// Returned in responses (not `x-ms-secret`, and readable).
    pub fn readable(&self) -> bool {
        !self.secret && (self.mutability == 0 || self.mutability & MUT_READ != 0)
    }
    /// May be set on create / on update.
    pub fn writable(&self, create: bool) -> bool {
        if self.read_only {
            return false;
        }
        let bit = if create { MUT_CREATE } else { MUT_UPDATE };
        self.mutability == 0
            || self.mutability & bit != 0
            || self.mutability & (MUT_CREATE | MUT_UPDATE) == 0
    }
}

#[derive(Debug)]
pub struct Schema {
    /// The definition's name (`NetworkSecurityGroup`), "" for an inline schema.
    pub name: &'static str,
    pub kind: Kind,
    pub format: &'static str,
    pub props: &'static [Prop],
    pub required: &'static [&'static str],
    pub items: Option<u32>,
    /// `additionalProperties`: the schema of a map's values.
    pub additional: Option<u32>,
    pub enum_values: &'static [&'static str],
    pub enum_name: &'static str,
    pub model_as_string: bool,
    pub discriminator: Option<&'static str>,
    pub discriminator_value: Option<&'static str>,
    pub subtypes: &'static [(&'static str, u32)],
    pub read_only: bool,
    pub default: Option<&'static str>,
}

impl Schema {
    pub fn prop(&self, name: &str) -> Option<&'static Prop> {
        // Generated tables live for the program; props is 'static.
        let props: &'static [Prop] = self.props;
        props.iter().find(|p| p.name == name)
    }
    pub fn items(&self) -> Option<&'static Schema> {
        self.items.map(|i| &SCHEMAS[i as usize])
    }
    pub fn additional(&self) -> Option<&'static Schema> {
        self.additional.map(|i| &SCHEMAS[i as usize])
    }
    /// The subtype a discriminated value names (itself when none matches).
    pub fn subtype(&'static self, value: &serde_json::Value) -> &'static Schema {
        let Some(d) = self.discriminator else {
            return self;
        };
        let Some(v) = value.get(d).and_then(|v| v.as_str()) else {
            return self;
        };
        self.subtypes
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(v))
            .map(|(_, i)| &SCHEMAS[*i as usize])
            .unwrap_or(self)
    }
    /// The name .NET would give the type in a deserialization error.
    pub fn type_name(&self) -> &'static str {
        if !self.name.is_empty() {
            return self.name;
        }
        if !self.enum_name.is_empty() {
            return self.enum_name;
        }
        match self.kind {
            Kind::String => "System.String",
            Kind::Integer if self.format == "int64" => "System.Int64",
            Kind::Integer => "System.Int32",
            Kind::Number => "System.Double",
            Kind::Boolean => "System.Boolean",
            _ => "System.Object",
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Seg {
    /// A literal segment, lower-cased.
    Lit(&'static str),
    Param(&'static str),
    /// A parameter that spans segments (`{scope}`, `x-ms-skip-url-encoding`).
    Scope(&'static str),
}

#[derive(Debug)]
pub struct Op {
    pub method: &'static str,
    pub template: &'static str,
    pub segs: &'static [Seg],
    pub operation_id: &'static str,
    pub api_version: &'static str,
    /// The spec file, relative to `fixtures/specs/`.
    pub file: &'static str,
    pub long_running: bool,
    pub final_state_via: Option<&'static str>,
    pub pageable: bool,
    pub next_link: Option<&'static str>,
    pub item_name: &'static str,
    pub body: Option<u32>,
    pub body_required: bool,
    pub response: Option<u32>,
    pub statuses: &'static [u16],
    /// `x-ms-examples` present in `fixtures/specs/`, relative to it.
    pub examples: &'static [&'static str],
    pub required_query: &'static [&'static str],
    pub description: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/spec_table.rs"));

/// What an operation's path names, read from its template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `…/{type}/{name}`: one resource of `resource_type`.
    Resource { resource_type: String },
    /// `…/{type}` read with GET: the resources of `resource_type` (or a computed list).
    Collection { resource_type: String },
    /// `…/{type}/{name}/{action}` (POST, or a GET that is not a list): `action` on a resource
    /// of `resource_type` (empty for provider-level actions such as `checkNameAvailability`).
    Action {
        resource_type: String,
        action: String,
    },
    /// No provider section (subscriptions, resource groups, tenants).
    Other,
}

impl Op {
    pub fn body(&self) -> Option<&'static Schema> {
        self.body.map(|i| &SCHEMAS[i as usize])
    }
    pub fn response(&self) -> Option<&'static Schema> {
        self.response.map(|i| &SCHEMAS[i as usize])
    }

    /// The namespace and the type segments after the last `providers/{ns}`.
    fn provider_section(&self) -> Option<(&'static str, &'static [Seg])> {
        let segs = self.segs;
        let at = segs
            .iter()
            .rposition(|s| *s == Seg::Lit("providers"))
            .filter(|i| i + 1 < segs.len())?;
        let ns = match &segs[at + 1] {
            Seg::Lit(_) => self
                .template
                .split('/')
                .filter(|s| !s.is_empty())
                .nth(at + 1)?,
            _ => return None,
        };
        Some((ns, &segs[at + 2..]))
    }

    /// The type words after the namespace, in the template's spelling: the
    /// segments in type positions (`{ns}/type/{name}/type/{name}…/action`).
    /// A parameter in a type position (`privateDnsZones/{zone}/{recordType}/{name}`)
    /// stays a placeholder, `{recordType}`, which matches any word.
    fn type_words(&self) -> Vec<&'static str> {
        let words: Vec<&'static str> = self.template.split('/').filter(|s| !s.is_empty()).collect();
        let Some((_, rest)) = self.provider_section() else {
            return Vec::new();
        };
        let start = words.len() - rest.len();
        words[start..].iter().step_by(2).copied().collect()
    }

    pub fn namespace(&self) -> Option<&'static str> {
        self.provider_section().map(|(ns, _)| ns)
    }

    /// The resource type every segment of the path names, actions included
    /// (`Microsoft.ContainerRegistry/registries/listCredentials`): how the
    /// providers API lists it.
    pub fn listed_type(&self) -> Option<String> {
        let ns = self.namespace()?;
        let words = self.type_words();
        if words.is_empty() || words.iter().any(|w| w.starts_with('{')) {
            return None;
        }
        Some(format!("{ns}/{}", words.join("/")))
    }

    pub fn target(&self) -> Target {
        let Some((ns, rest)) = self.provider_section() else {
            return Target::Other;
        };
        let last_is_param = !matches!(rest.last(), Some(Seg::Lit(_)));
        target_of(
            self.method,
            ns,
            &self.type_words(),
            rest.len(),
            self.pageable || last_is_param,
        )
    }
}

/// What a path names, from its provider section: the namespace `ns`, the
/// words in its type positions, and how many segments follow the namespace.
/// A GET ending in a type position is a list when `listed` (pageable, or a
/// parameter last) or the type is top-level; otherwise an action.
pub fn target_of(method: &str, ns: &str, words: &[&str], segments: usize, listed: bool) -> Target {
    let ty = |n: usize| {
        if n == 0 {
            ns.to_string()
        } else {
            format!("{ns}/{}", words[..n].join("/"))
        }
    };
    if segments == 0 {
        return Target::Other;
    }
    let n = words.len();
    if segments.is_multiple_of(2) {
        // Ends in a name position: one resource.
        return Target::Resource {
            resource_type: ty(n),
        };
    }
    // Ends in a type position: a list, or an action on what precedes it.
    if method == "GET" && (listed || segments == 1) {
        Target::Collection {
            resource_type: ty(n),
        }
    } else {
        Target::Action {
            resource_type: ty(n - 1),
            action: words[n - 1].to_string(),
        }
    }
}

/// The RBAC operation an operation needs: `{type}/read|write|delete`, or
/// `{type}/{action}/action` (how Azure names actions in operations lists and roles).
pub fn operation_name(op: &Op) -> Option<String> {
    match op.target() {
        Target::Resource { resource_type } | Target::Collection { resource_type } => {
            let verb = match op.method {
                "PUT" | "PATCH" => "write",
                "DELETE" => "delete",
                "GET" | "HEAD" => "read",
                _ => "action",
            };
            Some(format!("{resource_type}/{verb}"))
        }
        Target::Action {
            resource_type,
            action,
        } => Some(format!("{resource_type}/{action}/action")),
        Target::Other => None,
    }
}

/// The path parameters of a matched request, by the template's names.
#[derive(Debug, Default, Clone)]
pub struct Params(pub Vec<(&'static str, String)>);

impl Params {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The operation `method path` names, with its path parameters, as the
/// newest api-version defines it ([`find_for`] with no version).
pub fn find(method: &str, path: &str) -> Option<(&'static Op, Params)> {
    find_for(method, path, None)
}

/// The operation `method path` names at `api_version`, with its path
/// parameters. Literal segments match case-insensitively; among several
/// matches the one with the most literal segments wins, then the spec of the
/// version asked for, else the newest one not after it, else the newest
/// (a schema changes with the version: ACR's `virtualNetworkRules` are gone
/// from its newest). Templates with a multi-segment `{scope}` are served by
/// hand-written providers, not here.
pub fn find_for(
    method: &str,
    path: &str,
    api_version: Option<&str>,
) -> Option<(&'static Op, Params)> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let mut best: Option<(usize, &'static Op, Params)> = None;
    for op in OPS {
        if op.method != method || op.segs.len() != segs.len() {
            continue;
        }
        let mut literals = 0;
        let mut params = Vec::new();
        let ok = op
            .segs
            .iter()
            .zip(&segs)
            .enumerate()
            .all(|(i, (s, v))| match s {
                Seg::Lit(l) => {
                    literals += 1;
                    l.eq_ignore_ascii_case(v)
                }
                // Unencoded parameters span segments only where a path starts with them.
                Seg::Scope(_) if i == 0 => false,
                Seg::Param(n) | Seg::Scope(n) => {
                    params.push((*n, v.to_string()));
                    true
                }
            });
        if !ok {
            continue;
        }
        let better = match &best {
            None => true,
            Some((l, b, _)) => {
                literals > *l
                    || (literals == *l
                        && fit(op.api_version, api_version) > fit(b.api_version, api_version))
            }
        };
        if better {
            best = Some((literals, op, Params(params)));
        }
    }
    best.map(|(_, op, p)| (op, p))
}

/// How well an op's version fits the one asked for: exact, then not after it, then any.
fn fit(v: &'static str, want: Option<&str>) -> (u8, &'static str) {
    match want {
        Some(w) if v.eq_ignore_ascii_case(w) => (2, ""),
        // The date part; a query that is not ASCII compares whole (never sliced mid-character).
        Some(w) if v.get(..10).unwrap_or(v) <= w.get(..10).unwrap_or(w) => (1, v),
        _ => (0, v),
    }
}

/// The operation `method path` names through a template that starts with a
/// multi-segment `{scope}` (`/{scope}/providers/Microsoft.Authorization/roleAssignments/{name}`,
/// `/{scope}/providers/Microsoft.Resources/tags/default`), the scope taking
/// the path's leading segments. [`find_for`] leaves these to hand-written
/// providers; their bodies still have the spec's kinds. A template that is
/// a scope alone (`/{resourceId}`) names nothing here. Chosen as [`find_for`]
/// chooses.
pub fn find_scoped(method: &str, path: &str, api_version: Option<&str>) -> Option<&'static Op> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let mut best: Option<(usize, &'static Op)> = None;
    for op in OPS {
        let [Seg::Scope(_), rest @ ..] = op.segs else {
            continue;
        };
        if op.method != method || rest.is_empty() || rest.len() >= segs.len() {
            continue;
        }
        let tail = &segs[segs.len() - rest.len()..];
        let mut literals = 0;
        let ok = rest.iter().zip(tail).all(|(s, v)| match s {
            Seg::Lit(l) => {
                literals += 1;
                l.eq_ignore_ascii_case(v)
            }
            Seg::Param(_) | Seg::Scope(_) => true,
        });
        if !ok || literals == 0 {
            continue;
        }
        let better = best.is_none_or(|(l, b)| {
            literals > l
                || (literals == l
                    && fit(op.api_version, api_version) > fit(b.api_version, api_version))
        });
        if better {
            best = Some((literals, op));
        }
    }
    best.map(|(_, op)| op)
}

/// Every operation whose path names `resource_type` as a resource (its GET/PUT/PATCH/DELETE).
pub fn resource_ops(resource_type: &str) -> impl Iterator<Item = &'static Op> + '_ {
    OPS.iter()
        .zip(targets())
        .filter_map(move |(op, target)| match target {
            Target::Resource { resource_type: t } if type_matches(t, resource_type) => Some(op),
            _ => None,
        })
}

/// Each operation's [`Target`], worked out once (the generic layer asks on every request).
fn targets() -> &'static [Target] {
    static TARGETS: std::sync::OnceLock<Vec<Target>> = std::sync::OnceLock::new();
    TARGETS.get_or_init(|| OPS.iter().map(Op::target).collect())
}

/// Does `ty` fit the type `pattern` (`Microsoft.Network/privateDnsZones/{recordType}`
/// fits `Microsoft.Network/privateDnsZones/AAAA`)? Words compare in any case.
pub fn type_matches(pattern: &str, ty: &str) -> bool {
    let (p, t): (Vec<&str>, Vec<&str>) = (pattern.split('/').collect(), ty.split('/').collect());
    p.len() == t.len()
        && p.iter()
            .zip(&t)
            .all(|(a, b)| a.starts_with('{') || a.eq_ignore_ascii_case(b))
}

/// The api-versions the specs define for `resource_type` (any path naming it), newest first.
pub fn api_versions(resource_type: &str) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = OPS
        .iter()
        .filter(|op| {
            op.listed_type()
                .is_some_and(|t| t.eq_ignore_ascii_case(resource_type))
        })
        .map(|op| op.api_version)
        .collect();
    v.sort_unstable_by(|a, b| b.cmp(a));
    v.dedup();
    v
}

/// The namespaces the specs cover.
/// Worked out once: every request the spec layer serves asks (through
/// `providers::unknown_type`).
pub fn namespaces() -> &'static [&'static str] {
    static NAMESPACES: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    NAMESPACES.get_or_init(|| {
        let mut v: Vec<&'static str> = OPS.iter().filter_map(Op::namespace).collect();
        v.sort_by_cached_key(|n| n.to_ascii_lowercase());
        v.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
        v
    })
}

/// The resource types of `namespace` (without the namespace), in the specs'
/// spelling, each once, with the api-versions that define it (newest first).
pub fn resource_types(namespace: &str) -> Vec<(String, Vec<&'static str>)> {
    let mut out: Vec<(String, Vec<&'static str>)> = Vec::new();
    for op in OPS {
        if !op
            .namespace()
            .is_some_and(|n| n.eq_ignore_ascii_case(namespace))
        {
            continue;
        }
        let Some(t) = op.listed_type() else { continue };
        let short = t
            .split_once('/')
            .map(|x| x.1.to_string())
            .unwrap_or_default();
        match out.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(&short)) {
            Some((_, vs)) => {
                if !vs.contains(&op.api_version) {
                    vs.push(op.api_version);
                }
            }
            None => out.push((short, vec![op.api_version])),
        }
    }
    for (_, vs) in &mut out {
        vs.sort_unstable_by(|a, b| b.cmp(a));
    }
    out.sort_by_key(|(n, _)| n.to_ascii_lowercase());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_holds_every_provider() {
        for ns in [
            "Microsoft.Network",
            "Microsoft.ContainerRegistry",
            "Microsoft.ContainerInstance",
            "Microsoft.ManagedIdentity",
            "Microsoft.Authorization",
            "Microsoft.Resources",
        ] {
            assert!(
                namespaces().iter().any(|n| n.eq_ignore_ascii_case(ns)),
                "{ns}"
            );
        }
        assert!(OPS.len() > 400, "{}", OPS.len());
    }

    #[test]
    fn any_api_version_text_picks_an_operation() {
        // Registries have several spec versions to choose from, so the
        // request's version is compared, even one a byte slice would cut
        // mid-character.
        let registry =
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.ContainerRegistry/registries/r";
        for v in [
            "2023-07-01",
            "2099-01-01",
            "2024-01-0\u{e9}\u{e9}",
            "\u{e9}",
            "",
        ] {
            assert!(find_for("GET", registry, Some(v)).is_some(), "{v}");
        }
        let (op, _) = find_for("GET", registry, Some("2023-07-01")).unwrap();
        assert_eq!(op.api_version, "2023-07-01");
    }

    #[test]
    fn requests_find_their_operation() {
        let rg = "/subscriptions/s/resourceGroups/g/providers";
        let (op, p) = find(
            "PUT",
            &format!("{rg}/microsoft.network/networkSecurityGroups/n1"),
        )
        .unwrap();
        assert_eq!(op.operation_id, "NetworkSecurityGroups_CreateOrUpdate");
        assert_eq!(p.get("networkSecurityGroupName"), Some("n1"));
        assert_eq!(
            op.target(),
            Target::Resource {
                resource_type: "Microsoft.Network/networkSecurityGroups".into()
            }
        );
        let (op, _) = find(
            "GET",
            &format!("{rg}/Microsoft.Network/networkSecurityGroups/n1/securityRules"),
        )
        .unwrap();
        assert_eq!(
            op.target(),
            Target::Collection {
                resource_type: "Microsoft.Network/networkSecurityGroups/securityRules".into()
            }
        );
        assert!(op.pageable);
        let (op, _) = find(
            "GET",
            &format!("{rg}/Microsoft.Network/virtualNetworks/v/CheckIPAddressAvailability"),
        )
        .unwrap();
        assert_eq!(
            op.target(),
            Target::Action {
                resource_type: "Microsoft.Network/virtualNetworks".into(),
                action: "CheckIPAddressAvailability".into()
            }
        );
        let (op, _) = find(
            "POST",
            &format!("{rg}/Microsoft.ContainerRegistry/registries/r/importImage"),
        )
        .unwrap();
        assert!(op.long_running);
        assert!(find("GET", "/nothing/here").is_none());
    }

    #[test]
    fn scoped_templates_match_under_any_scope() {
        let assignment = "providers/Microsoft.Authorization/roleAssignments/a1";
        for scope in [
            "/subscriptions/s",
            "/subscriptions/s/resourceGroups/g",
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/v",
        ] {
            let path = format!("{scope}/{assignment}");
            assert!(find_for("PUT", &path, None).is_none(), "{path}");
            let op = find_scoped("PUT", &path, Some("2022-04-01")).unwrap();
            assert_eq!(op.operation_id, "RoleAssignments_Create", "{path}");
            assert!(op.body.is_some());
        }
        let tags = find_scoped(
            "PATCH",
            "/subscriptions/s/providers/Microsoft.Resources/tags/default",
            Some("2024-07-01"),
        )
        .unwrap();
        assert_eq!(tags.api_version, "2024-07-01");
        // A template that is a scope alone (`/{resourceId}`) names nothing.
        assert!(find_scoped("PUT", "/subscriptions/s/resourceGroups/g/x/y", None).is_none());
        assert!(
            find_scoped(
                "PUT",
                "/providers/Microsoft.Authorization/roleAssignments/a",
                None
            )
            .is_none()
        );
    }

    #[test]
    fn schemas_carry_what_the_layer_acts_on() {
        let (op, _) = find(
            "PUT",
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/networkSecurityGroups/n",
        )
        .unwrap();
        let body = op.body().unwrap();
        assert_eq!(body.name, "NetworkSecurityGroup");
        assert!(body.prop("location").is_some());
        assert!(body.prop("etag").unwrap().read_only);
        let props = body.prop("properties").unwrap().schema();
        let rules = props
            .prop("securityRules")
            .unwrap()
            .schema()
            .items()
            .unwrap();
        assert_eq!(rules.name, "SecurityRule");
        let access = rules
            .prop("properties")
            .unwrap()
            .schema()
            .prop("access")
            .unwrap()
            .schema();
        assert_eq!(access.enum_values, &["Allow", "Deny"]);
        assert!(api_versions("Microsoft.Network/networkSecurityGroups").contains(&"2024-03-01"));
    }
}
