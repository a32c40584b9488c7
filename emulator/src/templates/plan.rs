//! From a template and its parameters to a [`Plan`]: parameters checked and
//! resolved, variables resolved, resources expanded (nested children, copy
//! loops, conditions), ids computed, and the dependency graph built (explicit
//! `dependsOn` plus the implicit edges of `reference()`/`list*()`) and checked
//! for cycles. Everything a validation can refuse is refused here, before
//! anything is created.

use super::eval::{DeploymentScope, EvalResult, Evaluator, TemplateError, lookup, typed_path};
use super::expr::{self, TemplateString};
use super::functions::to_text;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// A resource the deployment will PUT.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlannedResource {
    /// The name as the template gives it (`parent/child` for children).
    pub name: String,
    /// Symbolic name (languageVersion 2.0 templates), if any.
    #[serde(default)]
    pub symbolic: Option<String>,
    pub resource_type: String,
    pub api_version: String,
    pub id: String,
    /// `condition` evaluated false: listed, not deployed.
    pub skipped: bool,
    /// Copy loop this instance belongs to, with its index.
    pub copy: Option<(String, i64)>,
    /// Indexes into [`Plan::resources`].
    pub depends_on: Vec<usize>,
    /// The resource declaration (expressions unevaluated; evaluated when it deploys).
    pub body: Value,
    /// Where it is declared (`resources[2]`), for error positions.
    #[serde(default)]
    pub path: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub parameters: Map<String, Value>,
    /// Declared type per parameter (as declared: `string`, `securestring`…).
    pub parameter_types: Map<String, Value>,
    pub variables: Map<String, Value>,
    pub resources: Vec<PlannedResource>,
    /// name / symbolic name / id (lower-cased) → id, for `reference('name')`.
    pub names: HashMap<String, String>,
}

/// Keys of a resource declaration that steer the deployment and are not sent to the provider.
const TEMPLATE_ONLY: &[&str] = &[
    "type",
    "apiVersion",
    "name",
    "dependsOn",
    "condition",
    "copy",
    "resources",
    "scope",
    "comments",
    "metadata",
    "existing",
    "resourceGroup",
    "subscriptionId",
    "import",
];

pub fn wrap(e: TemplateError) -> TemplateError {
    TemplateError(format!("Deployment template validation failed: '{}'.", e.0))
}

/// A refusal with where in the template it applies (`parameters.sku`,
/// `resources[2]`; empty when it is the template as a whole).
#[derive(Debug, Clone, PartialEq)]
pub struct PlanError {
    pub error: TemplateError,
    pub path: String,
}

impl From<TemplateError> for PlanError {
    fn from(error: TemplateError) -> Self {
        PlanError {
            error,
            path: String::new(),
        }
    }
}

fn at(path: String) -> impl FnOnce(TemplateError) -> PlanError {
    move |error| PlanError { error, path }
}

/// Build the plan. `parameters` is the request's `{"name": {"value": …}}`.
pub fn plan(
    template: &Value,
    parameters: &Value,
    scope: &DeploymentScope,
    now_rfc3339: &str,
) -> Result<Plan, PlanError> {
    let t = template
        .as_object()
        .ok_or_else(|| TemplateError("The template must be a JSON object.".into()))?;
    let empty = Map::new();
    let declared = lookup(t, "parameters")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let provided = parameters.as_object().unwrap_or(&empty);

    // Parameters nobody declared.
    let unknown: Vec<&String> = provided
        .keys()
        .filter(|k| lookup(declared, k).is_none())
        .collect();
    if !unknown.is_empty() {
        let names: Vec<&str> = unknown.iter().map(|s| s.as_str()).collect();
        return Err(PlanError::from(TemplateError(format!(
            "The template parameters '{}' in the parameters file are not valid; they are not present in the original template and can therefore not be provided at deployment time. The only supported parameters for this template are '{}'. Please see https://aka.ms/arm-deploy/#parameter-file for usage details.",
            names.join(", "),
            declared.keys().cloned().collect::<Vec<_>>().join(", ")
        ))));
    }

    let names_empty = HashMap::new();
    let mut params = Map::new();
    let mut types = Map::new();
    for (name, decl) in declared {
        let ty = decl
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        types.insert(name.clone(), json!(ty));
        let value = (|| -> EvalResult<Value> {
            let value = match lookup(provided, name) {
            Some(p) if p.get("value").is_some() => p["value"].clone(),
            Some(p) if p.get("reference").is_some() => {
                return Err(TemplateError(format!(
                    "The parameter '{name}' uses a Key Vault reference, which azemu does not emulate."
                )));
            }
            _ => match decl.get("defaultValue") {
                Some(d) => {
                    let mut ev = Evaluator::new(scope, &params, Map::new(), &names_empty);
                    ev.nondeterministic =
                        Some((now_rfc3339.to_string(), uuid::Uuid::new_v4().to_string()));
                    let raw_vars = Map::new();
                    let ev = ev.with_raw_variables(&raw_vars);
                    ev.value(d)?
                }
                None => {
                    return Err(TemplateError(format!(
                        "The value for the template parameter '{name}' at line '0' and column '0' is not provided. Please see https://aka.ms/arm-create-parameter-file for usage details."
                    )));
                }
            },
        };
            check_parameter(name, &ty, decl, &value)?;
            Ok(value)
        })()
        .map_err(at(format!("parameters.{name}")))?;
        params.insert(name.clone(), value);
    }

    let raw_vars = lookup(t, "variables")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    // Resource names first pass needs variables; resolve them all now (none may use reference()).
    let ev = Evaluator::new(scope, &params, Map::new(), &names_empty).with_raw_variables(&raw_vars);
    for k in raw_vars.keys() {
        if k.eq_ignore_ascii_case("copy") {
            for spec in raw_vars[k].as_array().into_iter().flatten() {
                if let Some(n) = spec["name"].as_str() {
                    ev.string(&format!("[variables('{}')]", n.replace('\'', "''")))?;
                }
            }
            continue;
        }
        ev.string(&format!("[variables('{}')]", k.replace('\'', "''")))?;
    }
    let variables = ev.resolved_variables();

    // Resources: array, or object keyed by symbolic name (languageVersion 2.0).
    let mut decls: Vec<(Option<String>, Value)> = Vec::new();
    match lookup(t, "resources") {
        Some(Value::Array(a)) => decls.extend(a.iter().map(|r| (None, r.clone()))),
        Some(Value::Object(m)) => decls.extend(m.iter().map(|(k, r)| (Some(k.clone()), r.clone()))),
        Some(Value::Null) | None => {}
        Some(_) => {
            return Err(TemplateError(
                "The template 'resources' property must be an array or an object.".into(),
            )
            .into());
        }
    }

    let mut out: Vec<PlannedResource> = Vec::new();
    let mut loops: HashMap<String, Vec<usize>> = HashMap::new();
    let mut raw_deps: Vec<Vec<String>> = Vec::new();
    for (i, (symbolic, decl)) in decls.iter().enumerate() {
        let path = match symbolic {
            Some(sym) => format!("resources.{sym}"),
            None => format!("resources[{i}]"),
        };
        expand(
            scope,
            &params,
            &variables,
            decl,
            symbolic.clone(),
            None,
            &path,
            &mut out,
            &mut loops,
            &mut raw_deps,
        )
        .map_err(at(path))?;
    }

    // Names for dependsOn and reference(): name, type/name, symbolic name, id.
    let mut names: HashMap<String, String> = HashMap::new();
    let mut by_key: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, r) in out.iter().enumerate() {
        let mut keys = vec![
            r.id.to_ascii_lowercase(),
            r.name.to_ascii_lowercase(),
            format!("{}/{}", r.resource_type, r.name).to_ascii_lowercase(),
        ];
        if let Some(s) = &r.symbolic {
            keys.push(s.to_ascii_lowercase());
        }
        // subscriptionResourceId('Microsoft.Resources/resourceGroups', n) names a group this way.
        if r.resource_type
            .eq_ignore_ascii_case("Microsoft.Resources/resourceGroups")
        {
            keys.push(
                format!(
                    "/subscriptions/{}/providers/Microsoft.Resources/resourceGroups/{}",
                    scope.subscription_id, r.name
                )
                .to_ascii_lowercase(),
            );
        }
        for k in keys {
            names.entry(k.clone()).or_insert_with(|| r.id.clone());
            by_key.entry(k).or_default().push(i);
        }
    }
    for (loop_name, members) in &loops {
        by_key
            .entry(loop_name.clone())
            .or_default()
            .extend(members.iter().copied());
    }
    // Duplicates.
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, r) in out.iter().enumerate() {
        if r.skipped {
            continue;
        }
        if seen.insert(r.id.to_ascii_lowercase(), i).is_some() {
            return Err(PlanError {
                error: TemplateError(format!(
                    "The resource '{}' at line '0' and column '0' is defined multiple times in a template. Please see https://aka.ms/arm-syntax-resources for usage details.",
                    r.id
                )),
                path: r.path.clone(),
            });
        }
    }

    // Explicit dependencies.
    for (i, deps) in raw_deps.iter().enumerate() {
        for d in deps {
            let key = d.to_ascii_lowercase();
            let targets = by_key.get(&key).cloned().or_else(|| {
                // `ns/type/name` written with providers prefix, or an id with different casing
                by_key
                    .iter()
                    .find(|(k, _)| k.ends_with(&format!("/{key}")))
                    .map(|(_, v)| v.clone())
            });
            match targets {
                Some(ts) => {
                    for t in ts {
                        if t != i && !out[i].depends_on.contains(&t) {
                            out[i].depends_on.push(t);
                        }
                    }
                }
                None => {
                    return Err(PlanError {
                        error: TemplateError(format!(
                            "The resource '{d}' is not defined in the template. Please see https://aka.ms/arm-syntax for usage details."
                        )),
                        path: format!("{}.dependsOn", out[i].path),
                    });
                }
            }
        }
    }

    // Implicit dependencies: reference()/list*() on a resource of this template.
    let plan_ev = Evaluator::new(scope, &params, variables.clone(), &names);
    #[allow(clippy::needless_range_loop)] // `out[i]` is read and then pushed to
    for i in 0..out.len() {
        let mut found = Vec::new();
        collect_references(&out[i].body, &mut found);
        for e in found {
            let mut ev = plan_ev.child();
            if let Some((l, idx)) = &out[i].copy {
                ev.copy.insert(String::new(), *idx);
                ev.copy.insert(l.to_ascii_lowercase(), *idx);
            }
            let Ok(Value::String(target)) = ev.expr(&e) else {
                continue;
            };
            if let Some(ts) = by_key.get(&target.to_ascii_lowercase()) {
                for &t in ts {
                    if t != i && !out[i].depends_on.contains(&t) {
                        out[i].depends_on.push(t);
                    }
                }
            }
        }
    }

    // Dependencies on skipped resources are satisfied by definition; cycles are refused.
    check_cycles(&out)?;
    Ok(Plan {
        parameters: params,
        parameter_types: types,
        variables,
        resources: out,
        names,
    })
}

/// The first argument of every `reference()`/`list*()` call in a value's expressions.
fn collect_references(v: &Value, out: &mut Vec<expr::Expr>) {
    match v {
        Value::String(s) => {
            if let Ok(TemplateString::Expr(e)) = expr::parse_template_string(s) {
                for (name, args) in e.calls() {
                    let n = name.to_ascii_lowercase();
                    if (n == "reference" || (n.starts_with("list") && n.len() > 4))
                        && !args.is_empty()
                    {
                        out.push(args[0].clone());
                    }
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_references(x, out)),
        Value::Object(m) => m.values().for_each(|x| collect_references(x, out)),
        _ => {}
    }
}

fn check_cycles(rs: &[PlannedResource]) -> Result<(), PlanError> {
    // Kahn's algorithm; what is left over sits on a cycle.
    let mut indeg: Vec<usize> = rs.iter().map(|r| r.depends_on.len()).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); rs.len()];
    for (i, r) in rs.iter().enumerate() {
        for &d in &r.depends_on {
            dependents[d].push(i);
        }
    }
    let mut ready: Vec<usize> = (0..rs.len()).filter(|&i| indeg[i] == 0).collect();
    let mut done = 0;
    while let Some(i) = ready.pop() {
        done += 1;
        for &j in &dependents[i] {
            indeg[j] -= 1;
            if indeg[j] == 0 {
                ready.push(j);
            }
        }
    }
    if done == rs.len() {
        return Ok(());
    }
    let stuck = (0..rs.len()).find(|&i| indeg[i] > 0).unwrap_or(0);
    Err(PlanError {
        error: TemplateError(format!(
            "Circular dependency detected on resource: '{}'. Please see https://aka.ms/arm-syntax-resources for usage details.",
            rs[stuck].id
        )),
        path: rs[stuck].path.clone(),
    })
}

#[allow(clippy::too_many_arguments)]
fn expand(
    scope: &DeploymentScope,
    params: &Map<String, Value>,
    variables: &Map<String, Value>,
    decl: &Value,
    symbolic: Option<String>,
    parent: Option<(&str, &str, usize)>,
    path: &str,
    out: &mut Vec<PlannedResource>,
    loops: &mut HashMap<String, Vec<usize>>,
    raw_deps: &mut Vec<Vec<String>>,
) -> EvalResult<()> {
    let names_empty = HashMap::new();
    let base = Evaluator::new(scope, params, variables.clone(), &names_empty);
    let d = decl
        .as_object()
        .ok_or_else(|| TemplateError("Each template resource must be a JSON object.".into()))?;
    let copy = d.get("copy");
    let instances: Vec<Option<(String, i64)>> = match copy {
        Some(c) => {
            let name = base.value(&c["name"])?;
            let name = name
                .as_str()
                .ok_or_else(|| TemplateError("The copy 'name' must be a string.".into()))?
                .to_string();
            let n = base.count(&c["count"])?;
            (0..n).map(|i| Some((name.clone(), i))).collect()
        }
        None => vec![None],
    };
    let serial = copy.is_some_and(|c| {
        c["mode"]
            .as_str()
            .is_some_and(|m| m.eq_ignore_ascii_case("serial"))
    });
    let batch = copy
        .and_then(|c| c["batchSize"].as_i64())
        .unwrap_or(if serial { 1 } else { 0 })
        .max(0) as usize;
    let mut members: Vec<usize> = Vec::new();
    for inst in instances {
        let mut ev = base.child();
        if let Some((l, i)) = &inst {
            ev.copy.insert(String::new(), *i);
            ev.copy.insert(l.to_ascii_lowercase(), *i);
        }
        let str_of = |key: &str| -> EvalResult<String> {
            let v = d.get(key).ok_or_else(|| TemplateError(format!("The template resource is missing the required property '{key}'. Please see https://aka.ms/arm-syntax-resources for usage details.")))?;
            match ev.value(v)? {
                Value::String(s) => Ok(s),
                other => Err(TemplateError(format!(
                    "The template resource property '{key}' must be a string; it is '{}'.",
                    to_text(&other)
                ))),
            }
        };
        let mut rtype = str_of("type")?;
        let mut name = str_of("name")?;
        let api_version = str_of("apiVersion")?;
        if let Some((pname, ptype, _)) = parent {
            if !rtype.contains('/') || !rtype.contains('.') {
                rtype = format!("{ptype}/{rtype}");
            }
            if name.split('/').count() < rtype.split('/').count() - 1 {
                name = format!("{pname}/{name}");
            }
        }
        // `existing: true` (languageVersion 2.0) declares a resource to read, not to deploy.
        let existing = d.get("existing").and_then(Value::as_bool) == Some(true);
        let skipped = existing
            || match d.get("condition") {
                Some(c) => !matches!(ev.value(c)?, Value::Bool(true)),
                None => false,
            };
        let scope_prefix = match d.get("scope") {
            Some(s) => Some(ev.value(s)?).map(|v| to_text(&v)),
            None => None,
        };
        let id = resource_id_of(scope, &rtype, &name, scope_prefix.as_deref(), d, &ev)
            .map_err(|e| TemplateError(format!("The template resource '{name}' for type '{rtype}' at line '0' and column '0' is not valid: {}", e.0)))?;
        let mut deps: Vec<String> = Vec::new();
        if let Some(ds) = d.get("dependsOn") {
            match ev.value(ds)? {
                Value::Array(a) => deps.extend(a.iter().map(to_text)),
                Value::Null => {}
                other => deps.push(to_text(&other)),
            }
        }
        let mut body = Map::new();
        for (k, v) in d {
            if !TEMPLATE_ONLY.iter().any(|t| t.eq_ignore_ascii_case(k)) {
                body.insert(k.clone(), v.clone());
            }
        }
        let index = out.len();
        let mut planned = PlannedResource {
            name: name.clone(),
            symbolic: symbolic.clone(),
            resource_type: rtype.clone(),
            api_version,
            id,
            skipped,
            copy: inst.clone(),
            depends_on: Vec::new(),
            body: Value::Object(body),
            path: path.to_string(),
        };
        if let Some((_, _, p)) = parent {
            planned.depends_on.push(p);
        }
        // Serial copy: each batch waits for the one before.
        if serial
            && batch > 0
            && let Some((_, i)) = &inst
        {
            let i = *i as usize;
            if i >= batch {
                let prev_start = (i / batch - 1) * batch;
                planned
                    .depends_on
                    .extend(members.iter().skip(prev_start).take(batch));
            }
        }
        out.push(planned);
        raw_deps.push(deps);
        members.push(index);
        if let Some(children) = d.get("resources").and_then(Value::as_array) {
            for (j, c) in children.iter().enumerate() {
                let child_path = format!("{path}.resources[{j}]");
                expand(
                    scope,
                    params,
                    variables,
                    c,
                    None,
                    Some((&name, &rtype, index)),
                    &child_path,
                    out,
                    loops,
                    raw_deps,
                )?;
            }
        }
    }
    if let Some(c) = copy {
        let name = to_text(&base.value(&c["name"])?).to_ascii_lowercase();
        loops.entry(name).or_default().extend(members);
    }
    Ok(())
}

/// A template resource's id: scope (the deployment's, or the resource's `scope`)
/// followed by the provider path. Handles `parent/child` names and the older extension form
/// (`ns/type/providers/ns2/type2` with `name/ns2/name2`).
fn resource_id_of(
    scope: &DeploymentScope,
    rtype: &str,
    name: &str,
    scope_prop: Option<&str>,
    d: &Map<String, Value>,
    ev: &Evaluator<'_>,
) -> EvalResult<String> {
    if rtype.eq_ignore_ascii_case("Microsoft.Resources/resourceGroups") {
        return Ok(format!(
            "/subscriptions/{}/resourceGroups/{name}",
            scope.subscription_id
        ));
    }
    if rtype.eq_ignore_ascii_case("Microsoft.Resources/deployments") {
        let sub = match d.get("subscriptionId") {
            Some(v) => to_text(&ev.value(v)?),
            None => scope.subscription_id.clone(),
        };
        let rg = match d.get("resourceGroup") {
            Some(v) => Some(to_text(&ev.value(v)?)),
            None if d.get("subscriptionId").is_some() => None,
            None => scope.resource_group_name().map(str::to_string),
        };
        return Ok(match rg {
            Some(rg) => format!(
                "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Resources/deployments/{name}"
            ),
            None => {
                format!("/subscriptions/{sub}/providers/Microsoft.Resources/deployments/{name}")
            }
        });
    }
    let base = match scope_prop {
        Some(s) if s.starts_with('/') => s.trim_end_matches('/').to_string(),
        Some(s) if !s.is_empty() => {
            format!("{}/providers/{}", scope.base_id(), s.trim_matches('/'))
        }
        _ => scope.base_id(),
    };
    // Split `ns/t1/providers/ns2/t2` into sections.
    let type_segs: Vec<&str> = rtype.split('/').collect();
    let mut sections: Vec<Vec<&str>> = vec![Vec::new()];
    for s in &type_segs {
        if s.eq_ignore_ascii_case("providers") {
            sections.push(Vec::new());
        } else if let Some(last) = sections.last_mut() {
            last.push(s);
        }
    }
    let mut names: std::collections::VecDeque<&str> = name.split('/').collect();
    let mut path = base;
    for (n, sec) in sections.iter().enumerate() {
        let (ns, types): (String, &[&str]) = if n == 0 {
            let Some((ns, rest)) = sec.split_first() else {
                return Err(bad_segments());
            };
            (ns.to_string(), rest)
        } else {
            // the namespace of an extension section comes from the name (`name/ns2/name2`) when the type omits it
            if sec.len() >= 2 && sec[0].contains('.') {
                if names
                    .front()
                    .is_some_and(|x| x.eq_ignore_ascii_case(sec[0]))
                {
                    names.pop_front();
                }
                (sec[0].to_string(), &sec[1..])
            } else {
                let ns = names.pop_front().ok_or_else(bad_segments)?;
                (ns.to_string(), &sec[..])
            }
        };
        if types.is_empty() {
            return Err(bad_segments());
        }
        let owned: Vec<String> = types.iter().map(|t| t.to_string()).collect();
        let mut take: Vec<String> = Vec::new();
        for _ in 0..owned.len() {
            take.push(names.pop_front().ok_or_else(bad_segments)?.to_string());
        }
        let p =
            typed_path(&format!("{ns}/{}", owned.join("/")), &take).map_err(|_| bad_segments())?;
        path = format!("{path}/providers/{p}");
    }
    if !names.is_empty() {
        return Err(bad_segments());
    }
    Ok(path)
}

fn bad_segments() -> TemplateError {
    TemplateError("incorrect segment lengths. A nested resource type must have identical number of segments as its resource name. A root resource type must have segment length one greater than its resource name. Please see https://aka.ms/arm-syntax-resources for usage details.".into())
}

/// Type, allowed values and bounds of one parameter value.
fn check_parameter(name: &str, ty: &str, decl: &Value, value: &Value) -> EvalResult<()> {
    let kind_ok = match ty.to_ascii_lowercase().as_str() {
        "string" | "securestring" => value.is_string(),
        "int" => value.is_i64() || value.is_u64(),
        "bool" => value.is_boolean(),
        "object" | "secureobject" => value.is_object(),
        "array" => value.is_array(),
        _ => {
            return Err(TemplateError(format!(
                "The template parameter '{name}' has an invalid type '{ty}'. The supported types are 'String, SecureString, Int, Bool, Object, SecureObject, Array'. Please see https://aka.ms/arm-syntax-parameters for usage details."
            )));
        }
    };
    if !kind_ok {
        return Err(TemplateError(format!(
            "The provided value for the template parameter '{name}' is not valid. Expected a value of type '{}', but received a value of type '{}'. Please see https://aka.ms/arm-create-parameter-file for usage details.",
            type_display(ty),
            super::functions::kind(value)
        )));
    }
    if let Some(allowed) = decl.get("allowedValues").and_then(Value::as_array) {
        let ok = match value {
            Value::Array(items) => items.iter().all(|i| allowed.contains(i)),
            v => allowed.contains(v),
        };
        if !ok {
            return Err(TemplateError(format!(
                "The provided value for the template parameter '{name}' is not valid. The value '{}' is not part of the allowed value(s): '{}'. Please see https://aka.ms/arm-create-parameter-file for usage details.",
                to_text(value),
                allowed.iter().map(to_text).collect::<Vec<_>>().join(",")
            )));
        }
    }
    let len = match value {
        Value::String(s) => Some(s.chars().count() as i64),
        Value::Array(a) => Some(a.len() as i64),
        _ => None,
    };
    if let (Some(l), Some(min)) = (len, decl.get("minLength").and_then(Value::as_i64))
        && l < min
    {
        return Err(TemplateError(format!(
            "The provided value for the template parameter '{name}' is not valid. Length of the value should be greater than or equal to '{min}'. Please see https://aka.ms/arm-create-parameter-file for usage details."
        )));
    }
    if let (Some(l), Some(max)) = (len, decl.get("maxLength").and_then(Value::as_i64))
        && l > max
    {
        return Err(TemplateError(format!(
            "The provided value for the template parameter '{name}' is not valid. Length of the value should be less than or equal to '{max}'. Please see https://aka.ms/arm-create-parameter-file for usage details."
        )));
    }
    if let Some(i) = value.as_i64() {
        if let Some(min) = decl.get("minValue").and_then(Value::as_i64)
            && i < min
        {
            return Err(TemplateError(format!(
                "The provided value for the template parameter '{name}' is not valid. The value '{i}' is less than the minimum value '{min}'. Please see https://aka.ms/arm-create-parameter-file for usage details."
            )));
        }
        if let Some(max) = decl.get("maxValue").and_then(Value::as_i64)
            && i > max
        {
            return Err(TemplateError(format!(
                "The provided value for the template parameter '{name}' is not valid. The value '{i}' is greater than the maximum value '{max}'. Please see https://aka.ms/arm-create-parameter-file for usage details."
            )));
        }
    }
    Ok(())
}

/// `securestring` → `SecureString`, as deployment GETs and errors spell types.
pub fn type_display(ty: &str) -> &'static str {
    match ty.to_ascii_lowercase().as_str() {
        "string" => "String",
        "securestring" => "SecureString",
        "int" => "Int",
        "bool" => "Bool",
        "object" => "Object",
        "secureobject" => "SecureObject",
        "array" => "Array",
        _ => "String",
    }
}

pub fn is_secure(ty: &str) -> bool {
    ty.eq_ignore_ascii_case("securestring") || ty.eq_ignore_ascii_case("secureobject")
}

/// The body to PUT for one planned resource, evaluated now (its dependencies have deployed).
pub fn evaluate_body(r: &PlannedResource, ev: &Evaluator<'_>) -> EvalResult {
    let mut ev = ev.child();
    if let Some((l, i)) = &r.copy {
        ev.copy.insert(String::new(), *i);
        ev.copy.insert(l.to_ascii_lowercase(), *i);
    }
    // A nested deployment with inner scope evaluates its own template.
    let inner = r
        .resource_type
        .eq_ignore_ascii_case("Microsoft.Resources/deployments")
        && r.body
            .pointer("/properties/expressionEvaluationOptions/scope")
            .and_then(Value::as_str)
            .is_some_and(|s| s.eq_ignore_ascii_case("inner"));
    if inner {
        let mut body = r.body.clone();
        let template = body["properties"]
            .as_object_mut()
            .and_then(|p| p.remove("template"));
        let mut v = ev.value(&body)?;
        if let Some(t) = template {
            v["properties"]["template"] = t;
        }
        return Ok(v);
    }
    ev.value(&r.body)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::templates::eval::tests::scope;

    fn msg(r: Result<Plan, PlanError>) -> String {
        r.err().map(|e| e.error.0).unwrap_or_default()
    }

    #[test]
    fn plans_ids_children_copies_and_dependencies() {
        let t = json!({
            "parameters": {"n": {"type": "int", "defaultValue": 3}, "prefix": {"type": "string", "defaultValue": "[concat('v', '1')]"}},
            "variables": {"vnet": "[parameters('prefix')]"},
            "resources": [
                {"type": "Microsoft.Network/virtualNetworks", "apiVersion": "2023-04-01", "name": "[variables('vnet')]",
                 "resources": [{"type": "subnets", "apiVersion": "2023-04-01", "name": "a", "properties": {}}]},
                {"type": "Microsoft.Network/virtualNetworks/subnets", "apiVersion": "2023-04-01", "name": "v1/b",
                 "dependsOn": ["[resourceId('Microsoft.Network/virtualNetworks', 'v1')]"]},
                {"type": "Microsoft.X/things", "apiVersion": "1", "name": "[concat('t', copyIndex())]",
                 "copy": {"name": "things", "count": "[parameters('n')]", "mode": "serial", "batchSize": 1},
                 "properties": {"vnet": "[reference('v1').addressSpace]"}},
                {"type": "Microsoft.X/after", "apiVersion": "1", "name": "z", "dependsOn": ["things"], "condition": false},
                {"type": "Microsoft.Authorization/roleAssignments", "apiVersion": "2022-04-01", "name": "[guid('x')]",
                 "scope": "Microsoft.Network/virtualNetworks/v1", "properties": {}},
                {"type": "Microsoft.Network/virtualNetworks/providers/roleAssignments", "apiVersion": "2022-04-01",
                 "name": "v1/Microsoft.Authorization/abc", "properties": {}}
            ]
        });
        let p = plan(&t, &json!({}), &scope(), "2026-01-01T00:00:00Z").unwrap();
        let ids: Vec<&str> = p.resources.iter().map(|r| r.id.as_str()).collect();
        let rg = "/subscriptions/s/resourceGroups/rg/providers";
        assert_eq!(
            ids,
            vec![
                format!("{rg}/Microsoft.Network/virtualNetworks/v1"),
                format!("{rg}/Microsoft.Network/virtualNetworks/v1/subnets/a"),
                format!("{rg}/Microsoft.Network/virtualNetworks/v1/subnets/b"),
                format!("{rg}/Microsoft.X/things/t0"),
                format!("{rg}/Microsoft.X/things/t1"),
                format!("{rg}/Microsoft.X/things/t2"),
                format!("{rg}/Microsoft.X/after/z"),
                format!(
                    "{rg}/Microsoft.Network/virtualNetworks/v1/providers/Microsoft.Authorization/roleAssignments/{}",
                    super::super::hash::guid(&["x"])
                ),
                format!(
                    "{rg}/Microsoft.Network/virtualNetworks/v1/providers/Microsoft.Authorization/roleAssignments/abc"
                ),
            ]
        );
        assert_eq!(
            p.resources[1].depends_on,
            vec![0],
            "nested child waits for its parent"
        );
        assert_eq!(
            p.resources[2].depends_on,
            vec![0],
            "explicit dependsOn by id"
        );
        assert_eq!(
            p.resources[3].depends_on,
            vec![0],
            "implicit: reference('v1')"
        );
        assert!(p.resources[4].depends_on.contains(&3), "serial copy");
        assert_eq!(p.resources[6].depends_on.len(), 3, "dependsOn a copy loop");
        assert!(p.resources[6].skipped);
    }

    /// Bicep's languageVersion 2.0 shape: resources keyed by symbolic name,
    /// `existing` ones read but not deployed, dependencies by symbolic name.
    #[test]
    fn symbolic_names_and_existing() {
        let t = json!({
            "languageVersion": "2.0",
            "resources": {
                "reg": {"type": "Microsoft.ContainerRegistry/registries", "apiVersion": "2023-07-01", "name": "r1", "existing": true},
                "id": {"type": "Microsoft.ManagedIdentity/userAssignedIdentities", "apiVersion": "2023-01-31", "name": "i1",
                       "dependsOn": ["reg"], "properties": {"x": "[reference('reg').loginServer]"}}
            }
        });
        let p = plan(&t, &json!({}), &scope(), "").unwrap();
        let at = |n: &str| p.resources.iter().position(|r| r.name == n).unwrap();
        let (reg, id) = (at("r1"), at("i1"));
        assert!(p.resources[reg].skipped, "existing: not deployed");
        assert!(!p.resources[id].skipped);
        assert_eq!(p.resources[id].depends_on, vec![reg]);
        assert_eq!(p.resources[id].path, "resources.id");
        assert_eq!(
            p.names["reg"],
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/r1"
        );
    }

    #[test]
    fn refusals() {
        let cycle = json!({"resources": [
            {"type": "Microsoft.X/a", "apiVersion": "1", "name": "a", "dependsOn": ["b"]},
            {"type": "Microsoft.X/b", "apiVersion": "1", "name": "b", "dependsOn": ["[resourceId('Microsoft.X/a', 'a')]"]}
        ]});
        assert!(msg(plan(&cycle, &json!({}), &scope(), "")).starts_with("Circular dependency detected on resource: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.X/"));
        let allowed = json!({"parameters": {"sku": {"type": "string", "allowedValues": ["Basic", "Standard", "Premium"]}}});
        assert_eq!(
            msg(plan(
                &allowed,
                &json!({"sku": {"value": "Gold"}}),
                &scope(),
                ""
            )),
            "The provided value for the template parameter 'sku' is not valid. The value 'Gold' is not part of the allowed value(s): 'Basic,Standard,Premium'. Please see https://aka.ms/arm-create-parameter-file for usage details."
        );
        assert!(
            msg(plan(&allowed, &json!({"sku": {"value": 1}}), &scope(), "")).contains(
                "Expected a value of type 'String', but received a value of type 'Integer'"
            )
        );
        assert!(
            msg(plan(
                &allowed,
                &json!({"other": {"value": 1}}),
                &scope(),
                ""
            ))
            .contains("The template parameters 'other' in the parameters file are not valid")
        );
        assert!(msg(plan(&allowed, &json!({}), &scope(), "")).contains("is not provided"));
        let missing = json!({"resources": [{"type": "Microsoft.X/a", "apiVersion": "1", "name": "a", "dependsOn": ["nope"]}]});
        assert_eq!(
            msg(plan(&missing, &json!({}), &scope(), "")),
            "The resource 'nope' is not defined in the template. Please see https://aka.ms/arm-syntax for usage details."
        );
        let segs =
            json!({"resources": [{"type": "Microsoft.X/a/b", "apiVersion": "1", "name": "a"}]});
        assert!(msg(plan(&segs, &json!({}), &scope(), "")).contains("incorrect segment lengths"));
        let dup = json!({"resources": [{"type": "Microsoft.X/a", "apiVersion": "1", "name": "a"}, {"type": "Microsoft.X/a", "apiVersion": "1", "name": "A"}]});
        assert!(msg(plan(&dup, &json!({}), &scope(), "")).contains("defined multiple times"));
        let big = json!({"resources": [{"type": "Microsoft.X/a", "apiVersion": "1", "name": "[string(copyIndex())]", "copy": {"name": "c", "count": 801}}]});
        assert!(msg(plan(&big, &json!({}), &scope(), "")).contains("cannot exceed '800'"));
        for bad in [
            json!(1),
            json!({"resources": 5}),
            json!({"resources": [1]}),
            json!({"resources": [{"type": "Microsoft.X/a"}]}),
        ] {
            assert!(plan(&bad, &json!({}), &scope(), "").is_err(), "{bad}");
        }
    }
}
