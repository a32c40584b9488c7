//! Evaluating template values: JSON with expressions in its strings.
//!
//! An [`Evaluator`] knows what an expression may read: the deployment's scope
//! (subscription, resource group, name), the resolved parameters, the
//! variables (resolved on first use, cycles refused), the current copy
//! indexes, and — at execution time only — a [`Resolver`] that reads live
//! resources for `reference()` and `list*()`.

use super::expr::{self, Expr, TemplateString};
use super::functions::{self, arity, as_str, to_text};
use super::limits::{self, Budget};
use serde_json::{Map, Value, json};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

/// A template-language failure, worded as ARM words it (without the
/// "Deployment template validation failed" wrapper the caller adds).
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateError(pub String);

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for TemplateError {
    fn from(s: String) -> Self {
        TemplateError(s)
    }
}

pub type EvalResult<T = Value> = Result<T, TemplateError>;

/// Where a deployment runs: what `subscription()`, `resourceGroup()`,
/// `deployment()` and the `*ResourceId()` functions read.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DeploymentScope {
    pub tenant_id: String,
    pub subscription_id: String,
    pub subscription_name: String,
    /// The resource group as ARM returns it (`id`, `name`, `location`, `tags`…);
    /// `None` for a subscription-scope deployment.
    pub resource_group: Option<Value>,
    pub deployment_name: String,
    /// The deployment's own location (subscription scope).
    pub location: Option<String>,
}

impl DeploymentScope {
    /// Resource group `rg` of subscription `s` (tenant `t`), deployment `d`:
    /// where tests and fuzz targets evaluate templates.
    pub fn example() -> Self {
        DeploymentScope {
            tenant_id: "t".into(),
            subscription_id: "s".into(),
            subscription_name: "azemu".into(),
            resource_group: Some(
                json!({"id": "/subscriptions/s/resourceGroups/rg", "name": "rg", "location": "eastus", "tags": {}}),
            ),
            deployment_name: "d".into(),
            location: None,
        }
    }

    pub fn resource_group_name(&self) -> Option<&str> {
        self.resource_group.as_ref()?.get("name")?.as_str()
    }

    /// `/subscriptions/{s}[/resourceGroups/{rg}]`: the scope the template's resources live in.
    pub fn base_id(&self) -> String {
        match self.resource_group_name() {
            Some(rg) => format!(
                "/subscriptions/{}/resourceGroups/{rg}",
                self.subscription_id
            ),
            None => format!("/subscriptions/{}", self.subscription_id),
        }
    }
}

/// Live reads for `reference()` and `list*()`, done as the deployment's caller.
pub trait Resolver {
    /// GET `{id}?api-version=…`: the whole resource body.
    fn get(&self, id: &str, api_version: Option<&str>) -> EvalResult;
    /// POST `{id}/{action}?api-version=…`.
    fn post(&self, id: &str, action: &str, api_version: &str, body: Option<&Value>) -> EvalResult;
}

pub struct Evaluator<'a> {
    pub scope: &'a DeploymentScope,
    pub params: &'a Map<String, Value>,
    /// Shared with every child: variables resolve once per deployment, whatever the copy context.
    vars: Rc<Variables<'a>>,
    /// Current copy indexes: loop name (lower-cased) → index; `""` is the resource's own loop.
    pub copy: HashMap<String, i64>,
    /// Template resources by name, symbolic name and id → id (for `reference('name')`).
    pub names: &'a HashMap<String, String>,
    pub resolver: Option<&'a dyn Resolver>,
    /// `utcNow()` and `newGuid()` are allowed only in parameter defaults.
    pub nondeterministic: Option<(String, String)>,
    /// The request's template and parameters, for `deployment()`.
    pub deployment: Option<&'a Value>,
    /// What evaluating may still produce (see [`limits`]); shared with every child.
    budget: Rc<Budget>,
    /// Set when the function just called had its value paid for before it was made.
    prepaid: std::cell::Cell<bool>,
}

/// A deployment's variables: those a plan resolved, and the template's raw
/// ones, resolved on first use (cycles refused).
struct Variables<'a> {
    resolved: &'a Map<String, Value>,
    raw: Option<&'a Map<String, Value>>,
    cache: RefCell<Map<String, Value>>,
    in_progress: RefCell<HashSet<String>>,
}

/// One step of a `.name` / `[index]` path.
enum Step<'e> {
    Member(&'e str),
    Index(Value),
}

/// Stack kept free when evaluation recurses, and what is added when it runs low:
/// a deeply nested expression or value grows the stack instead of overflowing it.
const RED_ZONE: usize = 128 * 1024;
const STACK_GROWTH: usize = 2 * 1024 * 1024;

impl<'a> Evaluator<'a> {
    /// An evaluator over `variables` already resolved (a plan's), with the whole
    /// [`limits::WORK`] budget; see [`Evaluator::with_budget`].
    pub fn new(
        scope: &'a DeploymentScope,
        params: &'a Map<String, Value>,
        variables: &'a Map<String, Value>,
        names: &'a HashMap<String, String>,
    ) -> Self {
        Evaluator {
            scope,
            params,
            vars: Rc::new(Variables {
                resolved: variables,
                raw: None,
                cache: RefCell::new(Map::new()),
                in_progress: RefCell::new(HashSet::new()),
            }),
            copy: HashMap::new(),
            names,
            resolver: None,
            nondeterministic: None,
            deployment: None,
            budget: Rc::new(Budget::new(limits::WORK)),
            prepaid: std::cell::Cell::new(false),
        }
    }

    /// Variables still to resolve (on first use).
    pub fn with_raw_variables(mut self, raw: &'a Map<String, Value>) -> Self {
        self.vars = Rc::new(Variables {
            resolved: self.vars.resolved,
            raw: Some(raw),
            cache: RefCell::new(Map::new()),
            in_progress: RefCell::new(HashSet::new()),
        });
        self
    }

    /// Draw on `budget` (shared with whoever else holds it).
    pub fn with_budget(mut self, budget: Rc<Budget>) -> Self {
        self.budget = budget;
        self
    }

    pub fn budget(&self) -> &Rc<Budget> {
        &self.budget
    }

    /// Every variable known: the plan's and those resolved here.
    pub fn resolved_variables(&self) -> Map<String, Value> {
        let mut all = self.vars.resolved.clone();
        for (k, v) in self.vars.cache.borrow().iter() {
            all.insert(k.clone(), v.clone());
        }
        all
    }

    /// Evaluate a JSON value: expressions in strings (and keys), property copy loops.
    pub fn value(&self, v: &Value) -> EvalResult {
        stacker::maybe_grow(RED_ZONE, STACK_GROWTH, || self.value_inner(v))
    }

    fn value_inner(&self, v: &Value) -> EvalResult {
        match v {
            Value::String(s) => self.string(s),
            Value::Array(items) => {
                self.budget.charge(limits::NODE_COST)?;
                items
                    .iter()
                    .map(|i| self.value(i))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Value::Array)
            }
            Value::Object(m) => {
                self.budget.charge(limits::NODE_COST)?;
                let mut out = Map::new();
                for (k, val) in m {
                    if k.eq_ignore_ascii_case("copy")
                        && val
                            .as_array()
                            .is_some_and(|a| a.iter().all(|c| c.get("input").is_some()))
                    {
                        for spec in val.as_array().into_iter().flatten() {
                            let (name, items) = self.property_copy(spec)?;
                            out.insert(name, Value::Array(items));
                        }
                        continue;
                    }
                    let key = match self.string(k)? {
                        Value::String(s) => s,
                        other => to_text(&other),
                    };
                    self.budget.charge(limits::NODE_COST + key.len() as u64)?;
                    out.insert(key, self.value(val)?);
                }
                Ok(Value::Object(out))
            }
            other => {
                self.budget.charge(limits::NODE_COST)?;
                Ok(other.clone())
            }
        }
    }

    /// `{"name", "count", "input"}`: `input` evaluated `count` times with `copyIndex(name)`.
    pub fn property_copy(&self, spec: &Value) -> EvalResult<(String, Vec<Value>)> {
        let name = self.value(&spec["name"])?;
        let name = name
            .as_str()
            .ok_or_else(|| TemplateError("The copy property 'name' must be a string.".into()))?
            .to_string();
        let count = self.count(&spec["count"])?;
        let mut items = Vec::with_capacity(count as usize);
        for i in 0..count {
            let mut inner = self.child();
            inner.copy.insert(name.to_ascii_lowercase(), i);
            items.push(inner.value(&spec["input"])?);
        }
        Ok((name, items))
    }

    /// A copy count: an integer 0..=800 (the error quotes the count as written).
    pub fn count(&self, v: &Value) -> EvalResult<i64> {
        let c = self.value(v)?;
        match c.as_i64() {
            Some(n) if (0..=limits::MAX_COPY).contains(&n) => Ok(n),
            _ => Err(TemplateError(format!(
                "The template 'copy' definition at line '0' and column '0' has an invalid copy count of: '{}'. The copy count must be a non-negative integer value and cannot exceed '{}'. Please see https://aka.ms/arm-resource-loops for usage details.",
                to_text(v).chars().take(200).collect::<String>(),
                limits::MAX_COPY
            ))),
        }
    }

    /// An evaluator sharing this one's variables and budget, for nested copy contexts.
    pub fn child(&self) -> Evaluator<'a> {
        Evaluator {
            scope: self.scope,
            params: self.params,
            vars: self.vars.clone(),
            copy: self.copy.clone(),
            names: self.names,
            resolver: self.resolver,
            nondeterministic: self.nondeterministic.clone(),
            deployment: self.deployment,
            budget: self.budget.clone(),
            prepaid: std::cell::Cell::new(false),
        }
    }

    pub fn string(&self, s: &str) -> EvalResult {
        // Reading the text costs its length, whether it is a literal or parsed.
        self.budget.charge(limits::NODE_COST + s.len() as u64)?;
        if expr::is_expression(s) && s.len() > limits::MAX_EXPRESSION_CHARS {
            let n = s.chars().count();
            if n > limits::MAX_EXPRESSION_CHARS {
                return Err(TemplateError(format!(
                    "The language expression length limit exceeded. Limit: '{}' and actual: '{n}'.. Please see https://aka.ms/arm-template-expressions for usage details.",
                    limits::MAX_EXPRESSION_CHARS
                )));
            }
        }
        match expr::parse_template_string(s).map_err(|e| TemplateError(e.message))? {
            TemplateString::Literal(l) => Ok(Value::String(l)),
            TemplateString::Expr(e) => self.expr(&e),
        }
    }

    pub fn expr(&self, e: &Expr) -> EvalResult {
        stacker::maybe_grow(RED_ZONE, STACK_GROWTH, || self.expr_inner(e))
    }

    fn expr_inner(&self, e: &Expr) -> EvalResult {
        self.budget.charge(limits::NODE_COST)?;
        match e {
            Expr::Str(s) => {
                self.budget.charge(s.len() as u64)?;
                Ok(json!(s))
            }
            Expr::Int(i) => Ok(json!(i)),
            Expr::Member(base, _) | Expr::Index(base, _) => {
                if let Some(r) = self.path(e) {
                    return r;
                }
                let v = self.expr(base)?;
                let step = match e {
                    Expr::Member(_, name) => Step::Member(name),
                    Expr::Index(_, index) => Step::Index(self.expr(index)?),
                    _ => unreachable!("matched above"),
                };
                self.charged_clone(walk(&v, &step)?)
            }
            Expr::Call { name, args } => {
                self.prepaid.set(false);
                let v = self.call(name, args)?;
                let unpaid = !self.prepaid.replace(false);
                self.check(name, &v, unpaid)?;
                Ok(v)
            }
        }
    }

    /// `variables('x').a[0]`, `parameters('p').b`: walked where the value is
    /// kept, so only what the path picks is copied. `None` when `e` is not such a path.
    fn path(&self, e: &Expr) -> Option<EvalResult> {
        let mut accessors = Vec::new();
        let mut root = e;
        while let Expr::Member(base, _) | Expr::Index(base, _) = root {
            accessors.push(root);
            root = base;
        }
        let Expr::Call { name, args } = root else {
            return None;
        };
        let kind = name.to_ascii_lowercase();
        if !(kind == "variables" || kind == "parameters") || args.len() != 1 {
            return None;
        }
        Some((|| {
            let key = self.expr(&args[0])?;
            let key = as_str(&key, name)?.to_string();
            // Indexes are evaluated first (they may read variables themselves).
            let mut steps = Vec::with_capacity(accessors.len());
            for a in accessors.iter().rev() {
                steps.push(match a {
                    Expr::Member(_, n) => Step::Member(n),
                    Expr::Index(_, i) => Step::Index(self.expr(i)?),
                    _ => unreachable!("only accessors were collected"),
                });
            }
            let pick = |root: &Value| -> EvalResult {
                let mut v = root;
                for s in &steps {
                    v = walk(v, s)?;
                }
                self.charged_clone(v)
            };
            if kind == "parameters" {
                pick(lookup(self.params, &key).ok_or_else(|| parameter_not_found(&key))?)
            } else {
                self.with_variable(&key, pick)?
            }
        })())
    }

    /// A copy of `v`, paid for.
    fn charged_clone(&self, v: &Value) -> EvalResult {
        self.budget
            .charge(limits::measure(v, self.budget.left()).bytes)?;
        Ok(v.clone())
    }

    /// What a function produced: within the limits for one value, and paid
    /// for (unless it was, before it was made).
    fn check(&self, f: &str, v: &Value, unpaid: bool) -> EvalResult<()> {
        let m = limits::measure(v, limits::MAX_VALUE_BYTES);
        if m.bytes > limits::MAX_VALUE_BYTES || m.depth > limits::MAX_VALUE_DEPTH {
            return Err(limits::too_big(f));
        }
        if unpaid {
            self.budget.charge(m.bytes)?;
        }
        Ok(())
    }

    fn args(&self, args: &[Expr]) -> EvalResult<Vec<Value>> {
        args.iter().map(|a| self.expr(a)).collect()
    }

    fn call(&self, name: &str, args: &[Expr]) -> EvalResult {
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            // Only the chosen branch is evaluated.
            "if" => {
                arity_e(args, "if", 3, 3)?;
                let c = self.expr(&args[0])?;
                let c = c.as_bool().ok_or_else(|| TemplateError("The template language function 'if' expects its first parameter to be of type 'Boolean'.".into()))?;
                self.expr(if c { &args[1] } else { &args[2] })
            }
            "parameters" => {
                let a = self.args(args)?;
                arity(&a, "parameters", 1, 1)?;
                let p = as_str(&a[0], "parameters")?;
                lookup(self.params, p).cloned().ok_or_else(|| parameter_not_found(p))
            }
            "variables" => {
                let a = self.args(args)?;
                arity(&a, "variables", 1, 1)?;
                let v = as_str(&a[0], "variables")?;
                // A copy, paid for (by `check`) as every function's value is.
                self.with_variable(v, Value::clone)
            }
            "copyindex" => {
                let a = self.args(args)?;
                arity(&a, "copyIndex", 0, 2)?;
                let (loop_name, offset) = match a.as_slice() {
                    [] => (String::new(), 0),
                    [Value::String(n)] => (n.to_ascii_lowercase(), 0),
                    [o] => (String::new(), o.as_i64().unwrap_or(0)),
                    [n, o] => (to_text(n).to_ascii_lowercase(), o.as_i64().unwrap_or(0)),
                    _ => unreachable!("arity checked"),
                };
                match self.copy.get(&loop_name) {
                    Some(i) => Ok(json!(i.saturating_add(offset))),
                    None if loop_name.is_empty() => Err(TemplateError(
                        "The template function 'copyIndex' is not expected at this location. The function can only be used in a resource with copy specified. Please see https://aka.ms/arm-copy for usage details.".into(),
                    )),
                    None => Err(TemplateError(format!(
                        "The template function 'copyIndex' has an invalid copy loop name '{loop_name}'. The copy loop name was not found. Please see https://aka.ms/arm-copy for usage details."
                    ))),
                }
            }
            "resourcegroup" => self.scope.resource_group.clone().ok_or_else(|| {
                TemplateError("The template function 'RESOURCEGROUP' is not expected at this location. Please see https://aka.ms/arm-functions for usage details.".into())
            }),
            "subscription" => Ok(json!({
                "id": format!("/subscriptions/{}", self.scope.subscription_id),
                "subscriptionId": self.scope.subscription_id,
                "tenantId": self.scope.tenant_id,
                "displayName": self.scope.subscription_name,
            })),
            "tenant" => Ok(json!({
                "id": format!("/tenants/{}", self.scope.tenant_id),
                "tenantId": self.scope.tenant_id,
                "countryCode": "US",
                "displayName": "azemu",
            })),
            "deployment" => {
                let mut d = json!({
                    "name": self.scope.deployment_name,
                    "properties": {
                        "template": self.deployment.and_then(|d| d.get("template")).map(|t| json!({"contentVersion": t.get("contentVersion").cloned().unwrap_or(json!("1.0.0.0"))})).unwrap_or(json!({"contentVersion": "1.0.0.0"})),
                        "parameters": self.deployment.and_then(|d| d.get("parameters")).cloned().unwrap_or(json!({})),
                        "mode": self.deployment.and_then(|d| d.get("mode")).cloned().unwrap_or(json!("Incremental")),
                        "provisioningState": "Accepted",
                    },
                });
                if let Some(l) = &self.scope.location {
                    d["location"] = json!(l);
                }
                Ok(d)
            }
            "environment" => Ok(environment()),
            "utcnow" | "newguid" => match &self.nondeterministic {
                Some((now, guid)) => {
                    if lower == "newguid" {
                        return Ok(json!(guid));
                    }
                    let a = self.args(args)?;
                    Ok(json!(utc_now(now, a.first().and_then(Value::as_str))))
                }
                None => Err(TemplateError(format!(
                    "The template function '{name}' is not expected at this location. It can only be used with the default value of a parameter. Please see https://aka.ms/arm-functions for usage details."
                ))),
            },
            "resourceid" => {
                let a = strings(&self.args(args)?, "resourceId")?;
                resource_id(self.scope, &a).map(Value::String)
            }
            "subscriptionresourceid" => {
                let a = strings(&self.args(args)?, "subscriptionResourceId")?;
                let (sub, rest) = match a.iter().position(|x| x.contains('/')) {
                    Some(1) => (a[0].clone(), &a[1..]),
                    Some(0) => (self.scope.subscription_id.clone(), &a[..]),
                    _ => return Err(TemplateError("The template function 'subscriptionResourceId' expects a resource type.".into())),
                };
                typed_path(&rest[0], &rest[1..]).map(|p| json!(format!("/subscriptions/{sub}/providers/{p}")))
            }
            "tenantresourceid" => {
                let a = strings(&self.args(args)?, "tenantResourceId")?;
                arity(&a.iter().map(|s| json!(s)).collect::<Vec<_>>(), "tenantResourceId", 2, usize::MAX)?;
                typed_path(&a[0], &a[1..]).map(|p| json!(format!("/providers/{p}")))
            }
            "extensionresourceid" => {
                let a = strings(&self.args(args)?, "extensionResourceId")?;
                arity(&a.iter().map(|s| json!(s)).collect::<Vec<_>>(), "extensionResourceId", 3, usize::MAX)?;
                typed_path(&a[1], &a[2..]).map(|p| json!(format!("{}/providers/{p}", a[0].trim_end_matches('/'))))
            }
            "reference" => {
                let a = self.args(args)?;
                arity(&a, "reference", 1, 3)?;
                let target = as_str(&a[0], "reference")?;
                let id = self.resolve_target(target)?;
                let api = a.get(1).and_then(Value::as_str);
                let full = a.get(2).and_then(Value::as_str).is_some_and(|f| f.eq_ignore_ascii_case("full"));
                let resolver = self.resolver.ok_or_else(|| not_here("reference"))?;
                let body = resolver.get(&id, api)?;
                if full {
                    let mut b = body;
                    if let (Some(obj), Some(api)) = (b.as_object_mut(), api) {
                        obj.insert("apiVersion".into(), json!(api));
                    }
                    Ok(b)
                } else {
                    Ok(body.get("properties").cloned().unwrap_or(json!({})))
                }
            }
            l if l.starts_with("list") && l.len() > 4 => {
                let a = self.args(args)?;
                arity(&a, name, 2, 3)?;
                let id = self.resolve_target(as_str(&a[0], name)?)?;
                let api = as_str(&a[1], name)?;
                let resolver = self.resolver.ok_or_else(|| not_here(name))?;
                resolver.post(&id, name, api, a.get(2))
            }
            _ => {
                let a = self.args(args)?;
                // What could amplify is paid for before it is made.
                let predicted = functions::predict(name, &a);
                if let Some(p) = predicted {
                    if p > limits::MAX_VALUE_BYTES {
                        return Err(limits::too_big(name));
                    }
                    self.budget.charge(p)?;
                }
                match functions::call(name, &a) {
                    Some(r) => {
                        self.prepaid.set(predicted.is_some());
                        r.map_err(TemplateError)
                    }
                    None => Err(TemplateError(format!(
                        "The template function '{name}' is not valid. Please see https://aka.ms/arm-functions for usage details."
                    ))),
                }
            }
        }
    }

    /// A `reference()`/`list*()` target: a resource id, or the name of a resource in the template.
    pub fn resolve_target(&self, target: &str) -> EvalResult<String> {
        if target.starts_with('/') {
            return Ok(target.to_string());
        }
        self.names
            .get(&target.to_ascii_lowercase())
            .cloned()
            .ok_or_else(|| TemplateError(format!(
                "The template reference '{target}' is not valid: could not find template resource or resource copy with this name. Please see https://aka.ms/arm-function-reference for usage details."
            )))
    }

    /// Resolve variable `name` if it is not yet, then look at it where it is kept.
    fn with_variable<R>(&self, name: &str, f: impl FnOnce(&Value) -> R) -> EvalResult<R> {
        if let Some(v) = lookup(self.vars.resolved, name) {
            return Ok(f(v));
        }
        if let Some(v) = lookup(&self.vars.cache.borrow(), name) {
            return Ok(f(v));
        }
        self.resolve_variable(name)?;
        let cache = self.vars.cache.borrow();
        let v = lookup(&cache, name).expect("just resolved");
        Ok(f(v))
    }

    /// Resolve variable `name` (if it is not yet) without copying it.
    pub fn ensure_variable(&self, name: &str) -> EvalResult<()> {
        self.with_variable(name, |_| ())
    }

    /// Evaluate a raw variable (or variable copy loop) and keep it.
    fn resolve_variable(&self, name: &str) -> EvalResult<()> {
        let raw_vars = self.vars.raw;
        let raw = raw_vars.and_then(|r| {
            if name.eq_ignore_ascii_case("copy") {
                return None;
            }
            lookup(r, name)
        });
        let key = name.to_ascii_lowercase();
        let copy_spec = raw_vars
            .and_then(|r| lookup(r, "copy"))
            .and_then(Value::as_array)
            .and_then(|specs| {
                specs.iter().find(|s| {
                    s["name"]
                        .as_str()
                        .is_some_and(|n| n.eq_ignore_ascii_case(name))
                })
            });
        if raw.is_none() && copy_spec.is_none() {
            return Err(TemplateError(format!(
                "The template variable '{name}' is not found. Please see https://aka.ms/arm-syntax-variables for usage details."
            )));
        }
        if !self.vars.in_progress.borrow_mut().insert(key.clone()) {
            return Err(TemplateError(format!(
                "The template variable '{name}' is not valid: the variable refers to itself through other variables (a circular reference)."
            )));
        }
        let result = match (raw, copy_spec) {
            (Some(raw), _) => self.value(raw),
            (None, Some(spec)) => self
                .property_copy(spec)
                .map(|(_, items)| Value::Array(items)),
            (None, None) => unreachable!("checked above"),
        };
        self.vars.in_progress.borrow_mut().remove(&key);
        let v = result?;
        self.vars.cache.borrow_mut().insert(name.to_string(), v);
        Ok(())
    }
}

fn parameter_not_found(p: &str) -> TemplateError {
    TemplateError(format!(
        "The template parameter '{p}' is not found. Please see https://aka.ms/arm-syntax-parameters for usage details."
    ))
}

/// One `.name` / `[index]` step into a value, by reference.
fn walk<'v>(v: &'v Value, step: &Step<'_>) -> EvalResult<&'v Value> {
    match step {
        Step::Member(name) => member(v, name),
        Step::Index(i) => {
            match (v, i) {
                (Value::Array(a), Value::Number(n)) => {
                    let idx = n.as_i64().unwrap_or(-1);
                    usize::try_from(idx).ok().and_then(|u| a.get(u)).ok_or_else(|| {
                    TemplateError(format!(
                        "The language expression property array index '{idx}' is out of bounds."
                    ))
                })
                }
                (Value::Object(_), Value::String(s)) => member(v, s),
                _ => Err(TemplateError(format!(
                    "The language expression property '{}' can't be evaluated, property name must be a string.",
                    to_text(i).chars().take(200).collect::<String>()
                ))),
            }
        }
    }
}

fn arity_e(args: &[Expr], f: &str, min: usize, max: usize) -> EvalResult<()> {
    let dummy: Vec<Value> = vec![Value::Null; args.len()];
    arity(&dummy, f, min, max).map_err(TemplateError)
}

fn not_here(f: &str) -> TemplateError {
    TemplateError(format!(
        "The template function '{f}' is not expected at this location. Please see https://aka.ms/arm-functions for usage details."
    ))
}

fn strings(a: &[Value], f: &str) -> EvalResult<Vec<String>> {
    a.iter()
        .map(|v| as_str(v, f).map(str::to_string).map_err(TemplateError))
        .collect()
}

/// Case-insensitive lookup, as ARM reads parameter, variable and property names.
pub fn lookup<'m>(m: &'m Map<String, Value>, name: &str) -> Option<&'m Value> {
    m.get(name).or_else(|| {
        m.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

fn member<'v>(v: &'v Value, name: &str) -> EvalResult<&'v Value> {
    match v {
        Value::Object(m) => lookup(m, name).ok_or_else(|| {
            TemplateError(format!(
                "The language expression property '{name}' doesn't exist, available properties are '{}'.",
                m.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        }),
        other => Err(TemplateError(format!(
            "The language expression property '{name}' can't be evaluated, property name must be a string and the value must be an object. The value is of type '{}'.",
            functions::kind(other)
        ))),
    }
}

/// `ns/t1/t2` + `[n1, n2]` → `ns/t1/n1/t2/n2` (names may also come joined by `/`).
pub fn typed_path(resource_type: &str, names: &[String]) -> EvalResult<String> {
    let segs: Vec<&str> = resource_type.split('/').filter(|s| !s.is_empty()).collect();
    let names: Vec<&str> = names
        .iter()
        .flat_map(|n| n.split('/'))
        .filter(|s| !s.is_empty())
        .collect();
    if segs.len() < 2 || segs.len() - 1 != names.len() {
        return Err(TemplateError(format!(
            "Unable to evaluate template language function 'resourceId': the type '{resource_type}' requires '{}' resource name argument(s). Please see https://aka.ms/arm-resource-functions/#resourceid for usage details.",
            segs.len().saturating_sub(1)
        )));
    }
    let mut p = segs[0].to_string();
    for (t, n) in segs[1..].iter().zip(names) {
        p.push_str(&format!("/{t}/{n}"));
    }
    Ok(p)
}

/// `resourceId([subscriptionId], [resourceGroupName], type, name1, …)`.
pub fn resource_id(scope: &DeploymentScope, a: &[String]) -> EvalResult<String> {
    let Some(t) = a.iter().position(|x| x.contains('/')) else {
        return Err(TemplateError(
            "Unable to evaluate template language function 'resourceId': the resource type is missing. Please see https://aka.ms/arm-resource-functions/#resourceid for usage details.".into(),
        ));
    };
    let (sub, rg) = match t {
        0 => (
            scope.subscription_id.clone(),
            scope.resource_group_name().map(str::to_string),
        ),
        1 => (scope.subscription_id.clone(), Some(a[0].clone())),
        2 => (a[0].clone(), Some(a[1].clone())),
        _ => {
            return Err(TemplateError(
                "Unable to evaluate template language function 'resourceId': too many arguments before the resource type. Please see https://aka.ms/arm-resource-functions/#resourceid for usage details.".into(),
            ));
        }
    };
    let path = typed_path(&a[t], &a[t + 1..])?;
    Ok(match rg {
        Some(rg) => format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/{path}"),
        None => format!("/subscriptions/{sub}/providers/{path}"),
    })
}

/// `environment()` for the public cloud (what `az cloud show` knows as AzureCloud).
pub fn environment() -> Value {
    json!({
        "name": "AzureCloud",
        "gallery": "https://gallery.azure.com/",
        "graph": "https://graph.windows.net/",
        "portal": "https://portal.azure.com",
        "graphAudience": "https://graph.windows.net/",
        "activeDirectoryDataLake": "https://datalake.azure.net/",
        "batch": "https://batch.core.windows.net/",
        "media": "https://rest.media.azure.net",
        "sqlManagement": "https://management.core.windows.net:8443/",
        "vmImageAliasDoc": "https://raw.githubusercontent.com/Azure/azure-rest-api-specs/master/arm-compute/quickstart-templates/aliases.json",
        "resourceManager": "https://management.azure.com/",
        "authentication": {
            "loginEndpoint": "https://login.microsoftonline.com/",
            "audiences": ["https://management.core.windows.net/", "https://management.azure.com/"],
            "tenant": "common",
            "identityProvider": "AAD"
        },
        "suffixes": {
            "acrLoginServer": ".azurecr.io",
            "azureDatalakeAnalyticsCatalogAndJob": "azuredatalakeanalytics.net",
            "azureDatalakeStoreFileSystem": "azuredatalakestore.net",
            "azureFrontDoorEndpointSuffix": "azurefd.net",
            "keyvaultDns": ".vault.azure.net",
            "sqlServerHostname": ".database.windows.net",
            "storage": "core.windows.net"
        }
    })
}

/// `utcNow([format])` with the common .NET custom formats (default `yyyyMMddTHHmmssZ`).
fn utc_now(now_rfc3339: &str, format: Option<&str>) -> String {
    let t =
        time::OffsetDateTime::parse(now_rfc3339, &time::format_description::well_known::Rfc3339)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let f = format.unwrap_or("yyyyMMddTHHmmssZ");
    if f == "u" {
        return format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
            t.year(),
            t.month() as u8,
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        );
    }
    let mut out = f.to_string();
    for (pat, val) in [
        ("yyyy", format!("{:04}", t.year())),
        ("MM", format!("{:02}", t.month() as u8)),
        ("dd", format!("{:02}", t.day())),
        ("HH", format!("{:02}", t.hour())),
        ("mm", format!("{:02}", t.minute())),
        ("ss", format!("{:02}", t.second())),
    ] {
        out = out.replace(pat, &val);
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn scope() -> DeploymentScope {
        DeploymentScope::example()
    }

    proptest::proptest! {
        /// Whatever an expression says, evaluating it gives a value or an error.
        #[test]
        fn evaluation_never_panics(
            f in proptest::sample::select(vec![
                "concat", "parameters", "variables", "copyIndex", "resourceId", "subscriptionResourceId",
                "extensionResourceId", "tenantResourceId", "reference", "listKeys", "if", "format",
                "substring", "range", "padLeft", "union", "createObject", "json", "deployment",
            ]),
            args in proptest::collection::vec("('[a-z/.]{0,6}'|-?[0-9]{1,19}|true\\(\\)|createArray\\(1, 2\\))", 0..4),
            member in proptest::option::of("\\.[a-z]{1,4}|\\[[0-9]{1,3}\\]"),
        ) {
            let sc = scope();
            let params = json!({"p": [1, 2], "s": "x"}).as_object().cloned().unwrap();
            let raw = json!({"v": "[parameters('p')]", "w": "[variables('w')]"});
            let raw = raw.as_object().unwrap();
            let names = HashMap::new();
            let none = Map::new();
            let ev = Evaluator::new(&sc, &params, &none, &names).with_raw_variables(raw);
            let text = format!("[{f}({}){}]", args.join(", "), member.unwrap_or_default());
            let _ = ev.string(&text);
        }
    }

    #[test]
    fn utc_now_formats() {
        let now = "2026-11-23T07:05:09Z";
        assert_eq!(utc_now(now, None), "20261123T070509Z");
        assert_eq!(utc_now(now, Some("u")), "2026-11-23 07:05:09Z");
        assert_eq!(utc_now(now, Some("yyyy-MM-dd")), "2026-11-23");
    }

    #[test]
    fn runaway_values_are_refused() {
        let sc = scope();
        let params = Map::new();
        let mut raw = Map::new();
        raw.insert("v0".into(), json!("[padLeft('x', 16000, 'x')]"));
        for i in 1..20 {
            raw.insert(
                format!("v{i}"),
                json!(format!(
                    "[concat(variables('v{}'), variables('v{}'))]",
                    i - 1,
                    i - 1
                )),
            );
        }
        let names = HashMap::new();
        let none = Map::new();
        let ev = Evaluator::new(&sc, &params, &none, &names).with_raw_variables(&raw);
        let e = ev.string("[variables('v19')]").unwrap_err();
        assert!(
            e.0.contains("larger than the template language allows"),
            "{e}"
        );
        assert!(ev.string("[range(0, 10000)]").is_ok());
        // Seventy thousand numbers are a value; three hundred thousand are more than one may be.
        let ranges = |n: usize| format!("[concat({})]", vec!["range(0, 10000)"; n].join(", "));
        assert!(ev.string(&ranges(7)).is_ok());
        let e = ev.string(&ranges(30)).unwrap_err();
        assert!(
            e.0.contains("larger than the template language allows"),
            "{e}"
        );
    }

    #[test]
    fn context_functions() {
        let sc = scope();
        let params = json!({"location": "westus", "names": ["a", "b"]})
            .as_object()
            .cloned()
            .unwrap();
        let raw = json!({
            "prefix": "[concat('pre-', parameters('location'))]",
            "full": "[concat(variables('prefix'), '-x')]",
            "loopA": "[variables('loopB')]",
            "loopB": "[variables('loopA')]",
            "copy": [{"name": "disks", "count": 2, "input": {"lun": "[copyIndex('disks')]"}}]
        });
        let raw = raw.as_object().unwrap();
        let names = HashMap::new();
        let none = Map::new();
        let ev = Evaluator::new(&sc, &params, &none, &names).with_raw_variables(raw);
        let cases = vec![
            ("[parameters('LOCATION')]", json!("westus")),
            ("[variables('full')]", json!("pre-westus-x")),
            ("[variables('disks')[1].lun]", json!(1)),
            ("[resourceGroup().location]", json!("eastus")),
            ("[subscription().subscriptionId]", json!("s")),
            (
                "[resourceId('Microsoft.Network/virtualNetworks/subnets', 'v', 'sn')]",
                json!(
                    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/sn"
                ),
            ),
            (
                "[resourceId('other', 'Microsoft.X/y', 'n')]",
                json!("/subscriptions/s/resourceGroups/other/providers/Microsoft.X/y/n"),
            ),
            (
                "[resourceId('s2', 'other', 'Microsoft.X/y', 'n')]",
                json!("/subscriptions/s2/resourceGroups/other/providers/Microsoft.X/y/n"),
            ),
            (
                "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '7f951dda-4ed3-4680-a7ca-43fe172d538d')]",
                json!(
                    "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/7f951dda-4ed3-4680-a7ca-43fe172d538d"
                ),
            ),
            (
                "[tenantResourceId('Microsoft.Authorization/policyDefinitions', 'p')]",
                json!("/providers/Microsoft.Authorization/policyDefinitions/p"),
            ),
            (
                "[extensionResourceId(resourceId('Microsoft.X/y', 'n'), 'Microsoft.Authorization/locks', 'l')]",
                json!(
                    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.X/y/n/providers/Microsoft.Authorization/locks/l"
                ),
            ),
            ("[if(true(), 'yes', parameters('missing'))]", json!("yes")),
            ("[parameters('names')[0]]", json!("a")),
            ("[[literal]", json!("[literal]")),
            (
                "[environment().suffixes.acrLoginServer]",
                json!(".azurecr.io"),
            ),
            ("[deployment().name]", json!("d")),
        ];
        for (src, want) in cases {
            assert_eq!(ev.string(src), Ok(want), "{src}");
        }
        for bad in [
            "[parameters('missing')]",
            "[variables('loopA')]",
            "[copyIndex()]",
            "[reference('x')]",
            "[utcNow()]",
            "[resourceGroup().nope]",
            "[parameters('names')[5]]",
            "[noSuchFunction()]",
            "[resourceId('Microsoft.X/y')]",
        ] {
            assert!(ev.string(bad).is_err(), "{bad}");
        }
    }
}
