//! From a template and its parameters to a [`Plan`]: parameters checked and
//! resolved, variables resolved, resources expanded (nested children, copy
//! loops, conditions), ids computed, and the dependency graph built (explicit
//! `dependsOn` plus the implicit edges of `reference()`/`list*()`) and checked
//! for cycles. Everything a validation can refuse is refused here, before
//! anything is created.

use super::eval::{DeploymentScope, EvalResult, Evaluator, TemplateError, lookup, typed_path};
use super::expr::{self, TemplateString};
use super::functions::to_text;
use super::limits::{self, Budget};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::rc::Rc;

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
    /// The resource declaration (expressions unevaluated; evaluated when it deploys),
    /// for plans stored before declarations were shared; see [`Plan::body_of`].
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub body: Value,
    /// Index of its declaration in [`Plan::bodies`] (every instance of a copy loop shares one).
    #[serde(default)]
    pub decl: Option<usize>,
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
    /// Resource declarations without their template-only keys, once per declaration.
    #[serde(default)]
    pub bodies: Vec<Value>,
}

impl Plan {
    /// The declaration a planned resource deploys (expressions unevaluated).
    pub fn body_of<'p>(&'p self, r: &'p PlannedResource) -> &'p Value {
        r.decl.and_then(|i| self.bodies.get(i)).unwrap_or(&r.body)
    }
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
    /// The error code when it is not `InvalidTemplate`.
    pub code: Option<&'static str>,
}

/// The code of ARM's size limits on a deployment ("Resolve errors for job size exceeded").
pub const JOB_SIZE: &str = "DeploymentJobSizeExceeded";

impl From<TemplateError> for PlanError {
    fn from(error: TemplateError) -> Self {
        PlanError {
            error,
            path: String::new(),
            code: None,
        }
    }
}

fn at(path: String) -> impl FnOnce(TemplateError) -> PlanError {
    move |error| PlanError {
        error,
        path,
        code: None,
    }
}

/// Build the plan. `parameters` is the request's `{"name": {"value": …}}`.
pub fn plan(
    template: &Value,
    parameters: &Value,
    scope: &DeploymentScope,
    now_rfc3339: &str,
    budget: &Rc<Budget>,
) -> Result<Plan, PlanError> {
    let t = template
        .as_object()
        .ok_or_else(|| TemplateError("The template must be a JSON object.".into()))?;
    let empty = Map::new();
    let declared = lookup(t, "parameters")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let provided = parameters.as_object().unwrap_or(&empty);
    check_counts(t)?;

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
                    let mut ev = Evaluator::new(scope, &params, &empty, &names_empty)
                        .with_budget(budget.clone());
                    ev.nondeterministic =
                        Some((now_rfc3339.to_string(), uuid::Uuid::new_v4().to_string()));
                    let ev = ev.with_raw_variables(&empty);
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
    let ev = Evaluator::new(scope, &params, &empty, &names_empty)
        .with_raw_variables(&raw_vars)
        .with_budget(budget.clone());
    for k in raw_vars.keys() {
        if k.eq_ignore_ascii_case("copy") {
            for spec in raw_vars[k].as_array().into_iter().flatten() {
                if let Some(n) = spec["name"].as_str() {
                    ev.ensure_variable(n)?;
                }
            }
            continue;
        }
        ev.ensure_variable(k)?;
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

    // "800 resources (including copy count)", counted before any is expanded.
    let base = Evaluator::new(scope, &params, &variables, &names_empty).with_budget(budget.clone());
    let total = decls
        .iter()
        .map(|(_, d)| count_instances(&base, d))
        .fold(0u64, u64::saturating_add);
    if total > limits::MAX_RESOURCES as u64 {
        return Err(limit_exceeded("resources", limits::MAX_RESOURCES, total).into());
    }

    let mut x = Expansion {
        scope,
        params: &params,
        variables: &variables,
        budget,
        out: Vec::new(),
        loops: HashMap::new(),
        raw_deps: Vec::new(),
        bodies: Vec::new(),
    };
    for (i, (symbolic, decl)) in decls.iter().enumerate() {
        let path = match symbolic {
            Some(sym) => format!("resources.{sym}"),
            None => format!("resources[{i}]"),
        };
        x.expand(decl, symbolic.clone(), None, &path)
            .map_err(at(path))?;
    }
    let Expansion {
        mut out,
        loops,
        raw_deps,
        bodies,
        ..
    } = x;

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
                code: None,
            });
        }
    }

    // Explicit dependencies. A reference that is not a name, id or loop may be an id's
    // tail (`ns/type/name` written with its providers prefix, or other casing).
    let mut suffixes: HashMap<&str, &Vec<usize>> = HashMap::new();
    let mut keys: Vec<&String> = by_key.keys().collect();
    keys.sort();
    for k in keys {
        for (p, _) in k.match_indices('/') {
            suffixes.entry(&k[p + 1..]).or_insert(&by_key[k]);
        }
    }
    let mut edges: Vec<std::collections::HashSet<usize>> = out
        .iter()
        .map(|r| r.depends_on.iter().copied().collect())
        .collect();
    for (i, deps) in raw_deps.iter().enumerate() {
        for d in deps {
            let key = d.to_ascii_lowercase();
            let targets = by_key
                .get(&key)
                .or_else(|| suffixes.get(key.as_str()).copied());
            match targets {
                Some(ts) => {
                    for &t in ts {
                        if t != i && edges[i].insert(t) {
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
                        code: None,
                    });
                }
            }
        }
    }

    // Implicit dependencies: reference()/list*() on a resource of this template.
    let plan_ev = Evaluator::new(scope, &params, &variables, &names).with_budget(budget.clone());
    let mut refs: HashMap<Option<usize>, Vec<expr::Expr>> = HashMap::new();
    #[allow(clippy::needless_range_loop)] // `out[i]` is read and then pushed to
    for i in 0..out.len() {
        let found = refs.entry(out[i].decl).or_insert_with(|| {
            let mut found = Vec::new();
            let body = out[i]
                .decl
                .and_then(|d| bodies.get(d))
                .unwrap_or(&out[i].body);
            collect_references(body, &mut found);
            found
        });
        for e in found.iter() {
            let mut ev = plan_ev.child();
            if let Some((l, idx)) = &out[i].copy {
                ev.copy.insert(String::new(), *idx);
                ev.copy.insert(l.to_ascii_lowercase(), *idx);
            }
            let target = match ev.expr(e) {
                Ok(Value::String(t)) => t,
                // The budget is spent: stop here, say so.
                Err(err) if budget.left() == 0 => return Err(err.into()),
                _ => continue,
            };
            if let Some(ts) = by_key.get(&target.to_ascii_lowercase()) {
                for &t in ts {
                    if t != i && edges[i].insert(t) {
                        out[i].depends_on.push(t);
                    }
                }
            }
        }
    }

    // A loop depending on a loop is n² dependencies, which a deployment has to keep.
    let total: usize = out.iter().map(|r| r.depends_on.len()).sum();
    if total > limits::MAX_DEPENDENCIES {
        return Err(PlanError {
            error: TemplateError(format!(
                "The template's resources depend on each other '{total}' times, more than the '{}' a deployment keeps. Depend on the resource of another loop with the same index rather than on the whole loop. Please see https://aka.ms/arm-template for usage details.",
                limits::MAX_DEPENDENCIES
            )),
            path: String::new(),
            code: Some(JOB_SIZE),
        });
    }
    // Dependencies on skipped resources are satisfied by definition; cycles are refused.
    check_cycles(&out)?;
    Ok(Plan {
        parameters: params,
        parameter_types: types,
        variables,
        resources: out,
        names,
        bodies,
    })
}

/// "The number of template {what} limit exceeded. Limit: '…' and actual: '…'."
/// Azure's words for variables and resources (Azure/acs-engine#3015, a deployment log
/// quoting the resources one); parameters and outputs are worded the same way.
// TODO-fidelity: no recorded answer found for parameters or outputs (searched "number of
// template parameters limit exceeded", "template outputs limit exceeded").
fn limit_exceeded(what: &str, limit: usize, actual: u64) -> TemplateError {
    TemplateError(format!(
        "The number of template {what} limit exceeded. Limit: '{limit}' and actual: '{actual}'. Please see https://aka.ms/arm-template/#{what} for usage details."
    ))
}

/// ARM's limits on how many parameters, variables and outputs a template declares.
fn check_counts(t: &Map<String, Value>) -> Result<(), PlanError> {
    let len = |k: &str| lookup(t, k).and_then(Value::as_object).map_or(0, Map::len);
    let variables = lookup(t, "variables")
        .and_then(Value::as_object)
        .map_or(0, |vars| {
            vars.iter()
                .map(|(k, v)| match v {
                    Value::Array(specs) if k.eq_ignore_ascii_case("copy") => specs.len(),
                    _ => 1,
                })
                .sum()
        });
    for (what, limit, actual) in [
        ("parameters", limits::MAX_PARAMETERS, len("parameters")),
        ("variables", limits::MAX_VARIABLES, variables),
        ("outputs", limits::MAX_OUTPUTS, len("outputs")),
    ] {
        if actual > limit {
            return Err(limit_exceeded(what, limit, actual as u64).into());
        }
    }
    Ok(())
}

/// How many resources a declaration stands for: its copy count, times itself and its children.
fn count_instances(ev: &Evaluator<'_>, decl: &Value) -> u64 {
    let Some(d) = decl.as_object() else {
        return 1;
    };
    let n = match d.get("copy") {
        Some(c) => ev.count(&c["count"]).map_or(1, |n| n as u64),
        None => 1,
    };
    let children = d
        .get("resources")
        .and_then(Value::as_array)
        .map_or(0, |cs| {
            cs.iter()
                .map(|c| count_instances(ev, c))
                .fold(0u64, u64::saturating_add)
        });
    n.saturating_mul(children.saturating_add(1))
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
        code: None,
    })
}

/// Resource declarations becoming planned resources, and what they collect.
struct Expansion<'a> {
    scope: &'a DeploymentScope,
    params: &'a Map<String, Value>,
    variables: &'a Map<String, Value>,
    budget: &'a Rc<Budget>,
    out: Vec<PlannedResource>,
    loops: HashMap<String, Vec<usize>>,
    raw_deps: Vec<Vec<String>>,
    bodies: Vec<Value>,
}

impl Expansion<'_> {
    fn expand(
        &mut self,
        decl: &Value,
        symbolic: Option<String>,
        parent: Option<(&str, &str, usize)>,
        path: &str,
    ) -> EvalResult<()> {
        let names_empty = HashMap::new();
        let base = Evaluator::new(self.scope, self.params, self.variables, &names_empty)
            .with_budget(self.budget.clone());
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
        // A resource count that depends on a parent's copy index escapes the count made
        // before expanding: the limit still holds.
        if self.out.len() + instances.len() > limits::MAX_RESOURCES {
            return Err(limit_exceeded(
                "resources",
                limits::MAX_RESOURCES,
                (self.out.len() + instances.len()) as u64,
            ));
        }
        let serial = copy.is_some_and(|c| {
            c["mode"]
                .as_str()
                .is_some_and(|m| m.eq_ignore_ascii_case("serial"))
        });
        let batch = copy
            .and_then(|c| c["batchSize"].as_i64())
            .unwrap_or(if serial { 1 } else { 0 })
            .max(0) as usize;
        // The body every instance deploys, kept once.
        let mut body = Map::new();
        for (k, v) in d {
            if !TEMPLATE_ONLY.iter().any(|t| t.eq_ignore_ascii_case(k)) {
                body.insert(k.clone(), v.clone());
            }
        }
        let decl_index = self.bodies.len();
        self.bodies.push(Value::Object(body));
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
                        to_text(&other).chars().take(200).collect::<String>()
                    ))),
                }
            };
            // ARM reads `registries/taskRuns/` as `registries/taskRuns` (azure-cli's
            // taskrunquickbuildsample.json deploys with that type, recorded in
            // `test_acr_taskrun`).
            let mut rtype = str_of("type")?.trim_end_matches('/').to_string();
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
            let id = resource_id_of(self.scope, &rtype, &name, scope_prefix.as_deref(), d, &ev)
                .map_err(|e| TemplateError(format!("The template resource '{name}' for type '{rtype}' at line '0' and column '0' is not valid: {}", e.0)))?;
            let mut deps: Vec<String> = Vec::new();
            if let Some(ds) = d.get("dependsOn") {
                match ev.value(ds)? {
                    Value::Array(a) => deps.extend(a.iter().map(to_text)),
                    Value::Null => {}
                    other => deps.push(to_text(&other)),
                }
            }
            let index = self.out.len();
            let mut planned = PlannedResource {
                name: name.clone(),
                symbolic: symbolic.clone(),
                resource_type: rtype.clone(),
                api_version,
                id,
                skipped,
                copy: inst.clone(),
                depends_on: Vec::new(),
                body: Value::Null,
                decl: Some(decl_index),
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
            self.out.push(planned);
            self.raw_deps.push(deps);
            members.push(index);
            if let Some(children) = d.get("resources").and_then(Value::as_array) {
                for (j, c) in children.iter().enumerate() {
                    let child_path = format!("{path}.resources[{j}]");
                    self.expand(c, None, Some((&name, &rtype, index)), &child_path)?;
                }
            }
        }
        if let Some(c) = copy {
            let name = to_text(&base.value(&c["name"])?).to_ascii_lowercase();
            self.loops.entry(name).or_default().extend(members);
        }
        Ok(())
    }
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
        let seen = super::functions::Seen::of(allowed);
        let ok = match value {
            Value::Array(items) => items.iter().all(|i| seen.contains(allowed, i)),
            v => seen.contains(allowed, v),
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

/// The body to PUT for one planned resource (its declaration, `body`), evaluated
/// now (its dependencies have deployed).
pub fn evaluate_body(r: &PlannedResource, body: &Value, ev: &Evaluator<'_>) -> EvalResult {
    let mut ev = ev.child();
    if let Some((l, i)) = &r.copy {
        ev.copy.insert(String::new(), *i);
        ev.copy.insert(l.to_ascii_lowercase(), *i);
    }
    // A nested deployment with inner scope evaluates its own template.
    let inner = r
        .resource_type
        .eq_ignore_ascii_case("Microsoft.Resources/deployments")
        && body
            .pointer("/properties/expressionEvaluationOptions/scope")
            .and_then(Value::as_str)
            .is_some_and(|s| s.eq_ignore_ascii_case("inner"));
    let template = body.pointer("/properties/template").filter(|_| inner);
    let Some(template) = template else {
        return ev.value(body);
    };
    // Everything but the nested template, which is sent as written.
    let mut outer = body.clone();
    if let Some(p) = outer["properties"].as_object_mut() {
        p.shift_remove("template");
    }
    let mut v = ev.value(&outer)?;
    if let Some(p) = v["properties"].as_object_mut() {
        p.insert("template".into(), template.clone());
    }
    Ok(v)
}

/// The template's outputs, typed; secure ones withheld. `None` when it declares none.
pub fn outputs(template: &Value, ev: &Evaluator<'_>) -> EvalResult<Option<Value>> {
    let empty = Map::new();
    let Some(decls) =
        lookup(template.as_object().unwrap_or(&empty), "outputs").and_then(Value::as_object)
    else {
        return Ok(None);
    };
    let mut out = Map::new();
    for (name, d) in decls {
        if let Some(c) = d.get("condition")
            && ev.value(c)? != json!(true)
        {
            continue;
        }
        let ty = d["type"].as_str().unwrap_or("string");
        let value = match (d.get("copy"), d.get("value")) {
            (Some(c), _) => {
                let count = ev.count(&c["count"])?;
                let mut items = Vec::new();
                for i in 0..count {
                    let mut inner = ev.child();
                    inner.copy.insert(String::new(), i);
                    items.push(inner.value(&c["input"])?);
                }
                Value::Array(items)
            }
            (None, Some(v)) => ev.value(v)?,
            (None, None) => Value::Null,
        };
        let mut o = json!({"type": type_display(ty)});
        if !is_secure(ty) {
            o["value"] = value;
        }
        out.insert(name.clone(), o);
    }
    let out = Value::Object(out);
    // What a deployment keeps must stay readable: bounded in size and depth.
    // TODO-fidelity: the wording is azemu's (ARM's limit is on the deployment job, 1 MB compressed).
    if limits::json_len(&out, limits::MAX_OUTPUTS_BYTES).is_none()
        || limits::depth(&out) > limits::MAX_VALUE_DEPTH
    {
        return Err(TemplateError(format!(
            "The template outputs are larger than a deployment keeps: at most {} bytes, nested at most {} levels.",
            limits::MAX_OUTPUTS_BYTES,
            limits::MAX_VALUE_DEPTH
        )));
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::templates::eval::tests::scope;

    /// A plan with the whole budget.
    fn plan(t: &Value, p: &Value, sc: &DeploymentScope, now: &str) -> Result<Plan, PlanError> {
        super::plan(t, p, sc, now, &Rc::new(Budget::new(limits::WORK)))
    }

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
        // A type written with a trailing slash is the type without it.
        let slash =
            json!({"resources": [{"type": "Microsoft.X/a/b/", "apiVersion": "1", "name": "a/b"}]});
        let p = plan(&slash, &json!({}), &scope(), "").unwrap();
        assert_eq!(p.resources[0].resource_type, "Microsoft.X/a/b");
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

    /// A template evaluated as a deployment would: plan, every resource body, outputs.
    fn evaluate_all(t: &Value) -> Result<(), String> {
        let budget = Rc::new(Budget::new(limits::WORK));
        let sc = scope();
        let p = super::plan(t, &json!({}), &sc, "", &budget).map_err(|e| e.error.0)?;
        let ev = Evaluator::new(&sc, &p.parameters, &p.variables, &p.names).with_budget(budget);
        for r in &p.resources {
            evaluate_body(r, p.body_of(r), &ev).map_err(|e| e.0)?;
        }
        outputs(t, &ev).map(|_| ()).map_err(|e| e.0)
    }

    fn vars(pairs: Vec<(String, Value)>) -> Value {
        json!({"variables": Value::Object(pairs.into_iter().collect())})
    }

    /// ARM's documented limits, in ARM's words.
    #[test]
    fn documented_limits() {
        let many = |n: usize, v: Value| -> Value {
            Value::Object((0..n).map(|i| (format!("x{i}"), v.clone())).collect())
        };
        let cases = [
            (
                json!({"parameters": many(257, json!({"type": "int", "defaultValue": 1}))}),
                "The number of template parameters limit exceeded. Limit: '256' and actual: '257'. Please see https://aka.ms/arm-template/#parameters for usage details.",
            ),
            (
                json!({"variables": many(513, json!(1))}),
                "The number of template variables limit exceeded. Limit: '512' and actual: '513'. Please see https://aka.ms/arm-template/#variables for usage details.",
            ),
            (
                json!({"outputs": many(65, json!({"type": "int", "value": 1}))}),
                "The number of template outputs limit exceeded. Limit: '64' and actual: '65'. Please see https://aka.ms/arm-template/#outputs for usage details.",
            ),
            (
                // 2 × (1 + 400) copies of a parent and its child.
                json!({"resources": [{"type": "Microsoft.X/a", "apiVersion": "1", "name": "[string(copyIndex())]",
                    "copy": {"name": "p", "count": 2},
                    "resources": [{"type": "b", "apiVersion": "1", "name": "[string(copyIndex())]", "copy": {"name": "c", "count": 400}}]}]}),
                "The number of template resources limit exceeded. Limit: '800' and actual: '802'. Please see https://aka.ms/arm-template/#resources for usage details.",
            ),
        ];
        for (t, want) in cases {
            assert_eq!(msg(plan(&t, &json!({}), &scope(), "")), want);
        }
        // 512 variables are fine (the limit was 256 until 2024).
        assert!(
            plan(
                &json!({"variables": many(512, json!(1))}),
                &json!({}),
                &scope(),
                ""
            )
            .is_ok()
        );
        let long = format!("[concat('{}')]", "x".repeat(81_920));
        assert_eq!(
            evaluate_all(&vars(vec![("v".into(), json!(long))])).unwrap_err(),
            "The language expression length limit exceeded. Limit: '81920' and actual: '81932'.. Please see https://aka.ms/arm-template-expressions for usage details."
        );
        let copy = json!({"resources": [{"type": "Microsoft.X/a", "apiVersion": "1", "name": "a", "copy": {"name": "c", "count": "[add(800, 1)]"}}]});
        assert_eq!(
            msg(plan(&copy, &json!({}), &scope(), "")),
            "The template 'copy' definition at line '0' and column '0' has an invalid copy count of: '[add(800, 1)]'. The copy count must be a non-negative integer value and cannot exceed '800'. Please see https://aka.ms/arm-resource-loops for usage details."
        );
    }

    /// Templates that ask for far more than they are: refused, quickly, in little memory.
    #[test]
    fn bombs_are_refused() {
        let chain = |first: &str, next: &dyn Fn(usize) -> String, n: usize| {
            let mut v = vec![("v0".to_string(), json!(first))];
            for i in 1..n {
                v.push((format!("v{i}"), json!(next(i))));
            }
            v
        };
        let bombs: Vec<(&str, Value)> = vec![
            (
                "string doubling",
                vars(chain(
                    "[padLeft('x', 16000, 'x')]",
                    &|i| format!("[concat(variables('v{0}'), variables('v{0}'))]", i - 1),
                    40,
                )),
            ),
            (
                "string(range()) nested",
                vars(chain(
                    "[string(range(0, 10000))]",
                    &|i| {
                        format!(
                            "[string(createArray(variables('v{0}'), variables('v{0}'), variables('v{0}'), variables('v{0}')))]",
                            i - 1
                        )
                    },
                    12,
                )),
            ),
            (
                "replace amplification",
                vars(chain(
                    "[padLeft('x', 2000, 'x')]",
                    &|i| {
                        format!(
                            "[replace(variables('v{0}'), 'x', variables('v{0}'))]",
                            i - 1
                        )
                    },
                    4,
                )),
            ),
            (
                "format amplification",
                vars(chain(
                    "[padLeft('x', 16000, 'x')]",
                    &|i| {
                        format!(
                            "[format('{{0}}{{0}}{{0}}{{0}}{{0}}{{0}}{{0}}{{0}}', variables('v{}'))]",
                            i - 1
                        )
                    },
                    12,
                )),
            ),
            (
                "union explosion",
                vars(chain(
                    "[range(0, 10000)]",
                    &|i| {
                        format!(
                            "[union(variables('v{0}'), range(mul({i}, 10000), 10000))]",
                            i - 1
                        )
                    },
                    60,
                )),
            ),
            (
                "split amplification",
                vars(vec![
                    ("commas".into(), json!("[padLeft(',', 16000, ',')]")),
                    (
                        "parts".into(),
                        json!(format!(
                            "[split(concat({}), ',')]",
                            vec!["variables('commas')"; 100].join(", ")
                        )),
                    ),
                ]),
            ),
            (
                "json amplification",
                vars(vec![
                    ("ones".into(), json!("[padLeft('1', 16000, '1')]")),
                    (
                        "text".into(),
                        json!(format!(
                            "[concat('[', replace(concat({}), '1', '1,'), '1]')]",
                            vec!["variables('ones')"; 50].join(", ")
                        )),
                    ),
                    ("parsed".into(), json!("[json(variables('text'))]")),
                ]),
            ),
            (
                "one variable referenced thousands of times",
                vars(vec![
                    ("big".into(), json!("[padLeft('x', 16000, 'x')]")),
                    (
                        "big2".into(),
                        json!(format!(
                            "[concat({})]",
                            vec!["variables('big')"; 4000].join(", ")
                        )),
                    ),
                ]),
            ),
            (
                "arrays of references",
                vars(vec![
                    ("big".into(), json!("[string(range(0, 10000))]")),
                    (
                        "many".into(),
                        json!(format!(
                            "[createArray({})]",
                            vec!["variables('big')"; 4000].join(", ")
                        )),
                    ),
                ]),
            ),
            (
                "copy of copies",
                json!({"variables": {"copy": [{"name": "c", "count": 800, "input": {"copy": [{"name": "d", "count": 800, "input": "[range(0, 1000)]"}]}}]}}),
            ),
            (
                "800 × property copy of 800",
                json!({"resources": [{"type": "Microsoft.X/a", "apiVersion": "1", "name": "[string(copyIndex())]", "copy": {"name": "c", "count": 800},
                    "properties": {"copy": [{"name": "p", "count": 800, "input": "[range(0, 100)]"}]}}]}),
            ),
            (
                "outputs copy of copies",
                json!({"outputs": {"o": {"type": "array", "copy": {"count": 800, "input": {"copy": [{"name": "p", "count": 800, "input": "[range(0, 10000)]"}]}}}}}),
            ),
            (
                "nesting through variables",
                vars(chain(
                    "x",
                    &|i| {
                        format!(
                            "[createArray(createArray(createArray(createArray(variables('v{}')))))]",
                            i - 1
                        )
                    },
                    100,
                )),
            ),
        ];
        for (what, t) in bombs {
            let started = std::time::Instant::now();
            let r = evaluate_all(&t);
            eprintln!("{what}: {:?}", started.elapsed());
            assert!(r.is_err(), "{what}: accepted");
            let e = r.unwrap_err();
            assert!(
                e.contains("larger than the template language allows")
                    || e.contains("the most azemu evaluates")
                    || e.contains("larger than a deployment keeps")
                    || e.contains("must be between 0 and 10000"),
                "{what}: {e}"
            );
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "{what}: {:?}",
                started.elapsed()
            );
        }
    }

    /// Deep chains and deep expressions evaluate (or are refused) without overflowing the stack,
    /// even on a thread with a small one.
    #[test]
    fn deep_chains_keep_the_stack() {
        let t = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| {
                let mut v = vec![("v0".to_string(), json!("[concat('a')]"))];
                for i in 1..512 {
                    v.push((
                        format!("v{i}"),
                        json!(format!("[concat(variables('v{}'))]", i - 1)),
                    ));
                }
                let chain = evaluate_all(&vars(v));
                let deep = format!("[{}'a'{}]", "concat(".repeat(199), ")".repeat(199));
                let expr = evaluate_all(&vars(vec![("d".into(), json!(deep))]));
                (chain, expr)
            })
            .unwrap()
            .join()
            .expect("no stack overflow");
        assert_eq!(t, (Ok(()), Ok(())));
    }

    /// A variable that reaches itself through a property copy is a cycle, not a recursion.
    #[test]
    fn cycle_through_a_copy() {
        let t = json!({"variables": {"a": {"copy": [{"name": "x", "count": 1, "input": "[variables('a')]"}]}}});
        assert!(msg(plan(&t, &json!({}), &scope(), "")).contains("circular reference"));
    }
}
