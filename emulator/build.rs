//! Compiles Azure's OpenAPI specs (`fixtures/specs/`, swagger 2.0) into the
//! operation table the spec-driven ARM layer serves from
//! (`emulator/src/arm/spec/`): every operation of every spec file, with its
//! path template, kind, long-running and paging behaviour, and the schemas of
//! its request and response bodies, as static Rust data. Start-up reads no
//! JSON, and a `$ref` that does not resolve fails the build.
//!
//! What is kept of a schema is what the layer acts on: JSON kinds, properties
//! (`readOnly`, `x-ms-secret`, `x-ms-mutability`, defaults), required
//! properties, enums (`x-ms-enum.modelAsString`), `allOf` (flattened into
//! one property list), discriminated subtypes, array items and
//! `additionalProperties` maps.

use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap())
        .join("..")
        .join("fixtures")
        .join("specs");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut c = Compiler::new(root.clone());
    let mut files = Vec::new();
    walk(&root, &mut files);
    files.sort();
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    for f in files {
        let rel = f
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if rel.contains("/examples/") || !rel.contains("resource-manager/") {
            continue;
        }
        let doc = c.doc(&f);
        if doc.get("swagger").is_none() {
            continue;
        }
        c.compile_file(&f, &rel);
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("spec_table.rs");
    std::fs::write(out, c.emit()).unwrap();
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
}

#[derive(Default, Clone)]
struct Schema {
    name: String,
    kind: &'static str,
    format: String,
    props: Vec<Prop>,
    required: Vec<String>,
    items: Option<usize>,
    additional: Option<usize>,
    enum_values: Vec<String>,
    enum_name: String,
    model_as_string: bool,
    discriminator: Option<String>,
    discriminator_value: Option<String>,
    subtypes: Vec<(String, usize)>,
    read_only: bool,
    secret: bool,
    mutability: u8,
    default: Option<String>,
    /// The definition key (`file#/definitions/Name`) for discriminated subtype search.
    key: String,
}

#[derive(Clone)]
struct Prop {
    name: String,
    schema: usize,
    read_only: bool,
    secret: bool,
    mutability: u8,
    default: Option<String>,
}

struct Op {
    method: String,
    template: String,
    operation_id: String,
    api_version: String,
    file: String,
    long_running: bool,
    final_state_via: Option<String>,
    pageable: bool,
    next_link: Option<String>,
    item_name: String,
    body: Option<usize>,
    body_required: bool,
    response: Option<usize>,
    statuses: Vec<u16>,
    examples: Vec<String>,
    params: Vec<(String, bool)>,
    required_query: Vec<String>,
    description: String,
}

struct Compiler {
    root: PathBuf,
    docs: HashMap<PathBuf, Value>,
    schemas: Vec<Schema>,
    by_key: HashMap<String, usize>,
    ops: Vec<Op>,
}

const MUT_CREATE: u8 = 1;
const MUT_READ: u8 = 2;
const MUT_UPDATE: u8 = 4;

impl Compiler {
    fn new(root: PathBuf) -> Self {
        Compiler {
            root: normalize(&root),
            docs: HashMap::new(),
            schemas: vec![Schema {
                kind: "Any",
                ..Default::default()
            }],
            by_key: HashMap::new(),
            ops: Vec::new(),
        }
    }

    fn doc(&mut self, path: &Path) -> Value {
        let path = normalize(path);
        if let Some(d) = self.docs.get(&path) {
            return d.clone();
        }
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("spec file {}: {e}", path.display()));
        let text = text.trim_start_matches('\u{feff}');
        let v: Value = serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("spec file {}: {e}", path.display()));
        self.docs.insert(path, v.clone());
        v
    }

    /// Resolve a `$ref` seen in `file`: the target file and the JSON pointer's value.
    fn resolve(&mut self, file: &Path, r: &str) -> (PathBuf, String, Value) {
        let (f, pointer) = r.split_once('#').unwrap_or((r, ""));
        let target = if f.is_empty() {
            file.to_path_buf()
        } else {
            normalize(&file.parent().unwrap().join(f))
        };
        let doc = self.doc(&target);
        let v = doc
            .pointer(pointer)
            .unwrap_or_else(|| panic!("unresolved $ref {r} in {}", file.display()))
            .clone();
        (target, pointer.to_string(), v)
    }

    fn compile_file(&mut self, file: &Path, rel: &str) {
        let doc = self.doc(file);
        let version = doc["info"]["version"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let mut paths: Vec<(String, Value)> = Vec::new();
        for key in ["paths", "x-ms-paths"] {
            if let Some(m) = doc[key].as_object() {
                for (k, v) in m {
                    if !k.contains('?') {
                        paths.push((k.clone(), v.clone()));
                    }
                }
            }
        }
        for (template, item) in paths {
            let common: Vec<Value> = item["parameters"].as_array().cloned().unwrap_or_default();
            for method in ["get", "put", "patch", "delete", "post", "head"] {
                let Some(op) = item.get(method) else { continue };
                let mut params: Vec<Value> = Vec::new();
                for p in common
                    .iter()
                    .chain(op["parameters"].as_array().into_iter().flatten())
                {
                    let p = if let Some(r) = p["$ref"].as_str() {
                        self.resolve(file, r).2
                    } else {
                        p.clone()
                    };
                    params.push(p);
                }
                let mut body = None;
                let mut body_required = false;
                let mut path_params = Vec::new();
                let mut required_query = Vec::new();
                for p in &params {
                    match p["in"].as_str() {
                        Some("body") => {
                            body = Some(self.schema(file, &p["schema"]));
                            body_required = p["required"].as_bool().unwrap_or(false);
                        }
                        Some("path") => path_params.push((
                            p["name"].as_str().unwrap_or_default().to_string(),
                            p["x-ms-skip-url-encoding"].as_bool().unwrap_or(false),
                        )),
                        Some("query")
                            if p["required"].as_bool() == Some(true)
                                && p["name"] != "api-version" =>
                        {
                            required_query.push(p["name"].as_str().unwrap().to_string());
                        }
                        _ => {}
                    }
                }
                let mut statuses = Vec::new();
                let mut response = None;
                if let Some(rs) = op["responses"].as_object() {
                    for (code, r) in rs {
                        let Ok(n) = code.parse::<u16>() else { continue };
                        statuses.push(n);
                        let r = if let Some(x) = r["$ref"].as_str() {
                            self.resolve(file, x).2
                        } else {
                            r.clone()
                        };
                        if (n == 200 || (n == 201 && response.is_none()))
                            && r.get("schema").is_some()
                        {
                            response = Some(self.schema(file, &r["schema"]));
                        }
                    }
                }
                statuses.sort();
                let pageable = op.get("x-ms-pageable").is_some();
                let next_link = op["x-ms-pageable"]["nextLinkName"]
                    .as_str()
                    .map(str::to_string);
                let item_name = op["x-ms-pageable"]["itemName"]
                    .as_str()
                    .unwrap_or("value")
                    .to_string();
                let mut examples: Vec<String> = Vec::new();
                if let Some(ex) = op["x-ms-examples"].as_object() {
                    for e in ex.values() {
                        if let Some(r) = e["$ref"].as_str() {
                            let p = normalize(&file.parent().unwrap().join(r));
                            if p.exists()
                                && let Ok(rel) = p.strip_prefix(&self.root)
                            {
                                examples.push(rel.to_string_lossy().replace('\\', "/"));
                            }
                        }
                    }
                }
                examples.sort();
                self.ops.push(Op {
                    method: method.to_ascii_uppercase(),
                    template: template.clone(),
                    operation_id: op["operationId"].as_str().unwrap_or_default().to_string(),
                    api_version: version.clone(),
                    file: rel.to_string(),
                    long_running: op["x-ms-long-running-operation"].as_bool().unwrap_or(false),
                    final_state_via: op["x-ms-long-running-operation-options"]["final-state-via"]
                        .as_str()
                        .map(str::to_string),
                    pageable,
                    next_link,
                    item_name,
                    body,
                    body_required,
                    response,
                    statuses,
                    examples,
                    params: path_params,
                    required_query,
                    description: op["description"]
                        .as_str()
                        .or(op["summary"].as_str())
                        .unwrap_or_default()
                        .to_string(),
                });
            }
        }
    }

    /// Compile a schema object seen in `file`; its index in the table.
    fn schema(&mut self, file: &Path, s: &Value) -> usize {
        if let Some(r) = s["$ref"].as_str() {
            let (target, pointer, v) = self.resolve(file, r);
            let key = format!("{}#{pointer}", target.display());
            if let Some(&i) = self.by_key.get(&key) {
                return i;
            }
            let i = self.schemas.len();
            self.schemas.push(Schema::default());
            self.by_key.insert(key.clone(), i);
            let mut compiled = self.compile(&target, &v);
            compiled.name = pointer.rsplit('/').next().unwrap_or_default().to_string();
            compiled.key = key;
            let discriminated = compiled.discriminator.is_some();
            // In the table before its subtypes are compiled: they extend it
            // (`allOf`), and must find its properties, not a placeholder.
            self.schemas[i] = compiled;
            if discriminated {
                self.schemas[i].subtypes = self.subtypes(&target, &pointer);
            }
            return i;
        }
        let compiled = self.compile(file, s);
        let i = self.schemas.len();
        self.schemas.push(compiled);
        i
    }

    /// Definitions in `file` that extend `pointer` (`allOf: [{$ref: …}]`) with
    /// an `x-ms-discriminator-value` (or their own name as the value).
    fn subtypes(&mut self, file: &Path, pointer: &str) -> Vec<(String, usize)> {
        let doc = self.doc(file);
        let base = pointer.rsplit('/').next().unwrap_or_default().to_string();
        let mut out = Vec::new();
        let Some(defs) = doc["definitions"].as_object() else {
            return out;
        };
        for (name, d) in defs.clone() {
            let extends = d["allOf"].as_array().into_iter().flatten().any(|a| {
                a["$ref"].as_str().is_some_and(|r| {
                    r.rsplit('/').next() == Some(base.as_str()) && r.starts_with('#')
                })
            });
            if extends {
                let value = d["x-ms-discriminator-value"]
                    .as_str()
                    .unwrap_or(&name)
                    .to_string();
                let r = json_ref(&format!("#/definitions/{name}"));
                let i = self.schema(file, &r);
                out.push((value, i));
            }
        }
        out
    }

    fn compile(&mut self, file: &Path, s: &Value) -> Schema {
        let mut out = Schema {
            kind: kind_of(s),
            format: s["format"].as_str().unwrap_or_default().to_string(),
            read_only: s["readOnly"].as_bool().unwrap_or(false),
            secret: s["x-ms-secret"].as_bool().unwrap_or(false),
            mutability: mutability(s),
            default: s.get("default").map(|d| d.to_string()),
            discriminator: s["discriminator"].as_str().map(str::to_string),
            discriminator_value: s["x-ms-discriminator-value"].as_str().map(str::to_string),
            ..Default::default()
        };
        if let Some(e) = s["enum"].as_array() {
            out.enum_values = e
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                })
                .collect();
            out.enum_name = s["x-ms-enum"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            out.model_as_string = s["x-ms-enum"]["modelAsString"].as_bool().unwrap_or(false);
        }
        let mut props: Vec<Prop> = Vec::new();
        let mut required: Vec<String> = Vec::new();
        for part in s["allOf"].as_array().cloned().unwrap_or_default() {
            let i = self.schema(file, &part);
            let base = self.schemas[i].clone();
            if base.kind == "Object" || !base.props.is_empty() {
                out.kind = "Object";
            }
            for p in base.props {
                if !props.iter().any(|q| q.name == p.name) {
                    props.push(p);
                }
            }
            required.extend(base.required);
            if out.discriminator.is_none() && base.discriminator.is_some() {
                // A subtype: keeps the discriminator property, not the subtype list.
            }
            if out.additional.is_none() {
                out.additional = base.additional;
            }
        }
        if let Some(m) = s["properties"].as_object() {
            out.kind = "Object";
            for (name, p) in m {
                let schema = self.schema(file, p);
                let target = &self.schemas[schema];
                let prop = Prop {
                    name: name.clone(),
                    schema,
                    read_only: p["readOnly"].as_bool().unwrap_or(false) || target.read_only,
                    secret: p["x-ms-secret"].as_bool().unwrap_or(false) || target.secret,
                    mutability: if p.get("x-ms-mutability").is_some() {
                        mutability(p)
                    } else {
                        target.mutability
                    },
                    default: p
                        .get("default")
                        .map(|d| d.to_string())
                        .or(target.default.clone()),
                };
                if let Some(q) = props.iter_mut().find(|q| q.name == *name) {
                    *q = prop;
                } else {
                    props.push(prop);
                }
            }
        }
        if let Some(r) = s["required"].as_array() {
            required.extend(r.iter().filter_map(|v| v.as_str().map(str::to_string)));
        }
        required.sort();
        required.dedup();
        out.props = props;
        out.required = required;
        if let Some(items) = s.get("items") {
            out.items = Some(self.schema(file, items));
        }
        match s.get("additionalProperties") {
            Some(Value::Object(a)) if !a.is_empty() => {
                out.additional = Some(self.schema(file, &Value::Object(a.clone())));
            }
            Some(Value::Object(_)) | Some(Value::Bool(true)) => out.additional = Some(0),
            _ => {}
        }
        if out.kind == "Any" && (!out.props.is_empty() || out.additional.is_some()) {
            out.kind = "Object";
        }
        out
    }

    fn emit(&self) -> String {
        let mut o = String::new();
        o.push_str("// Generated by emulator/build.rs from fixtures/specs. Do not edit.\n");
        let _ = writeln!(o, "pub static SCHEMAS: &[Schema] = &[");
        for s in &self.schemas {
            let _ = writeln!(
                o,
                "Schema {{ name: {:?}, kind: Kind::{}, format: {:?}, props: &[{}], required: &[{}], items: {}, additional: {}, enum_values: &[{}], enum_name: {:?}, model_as_string: {}, discriminator: {}, discriminator_value: {}, subtypes: &[{}], read_only: {}, default: {} }},",
                s.name,
                s.kind,
                s.format,
                s.props
                    .iter()
                    .map(|p| format!(
                        "Prop {{ name: {:?}, schema: {}, read_only: {}, secret: {}, mutability: {}, default: {} }}",
                        p.name,
                        p.schema,
                        p.read_only,
                        p.secret,
                        p.mutability,
                        opt(&p.default)
                    ))
                    .collect::<Vec<_>>()
                    .join(", "),
                s.required.iter().map(|r| format!("{r:?}")).collect::<Vec<_>>().join(", "),
                opt_idx(s.items),
                opt_idx(s.additional),
                s.enum_values.iter().map(|r| format!("{r:?}")).collect::<Vec<_>>().join(", "),
                s.enum_name,
                s.model_as_string,
                opt(&s.discriminator),
                opt(&s.discriminator_value),
                s.subtypes
                    .iter()
                    .map(|(v, i)| format!("({v:?}, {i})"))
                    .collect::<Vec<_>>()
                    .join(", "),
                s.read_only,
                opt(&s.default),
            );
        }
        o.push_str("];\n");
        // Operations in a stable order: by template, then method.
        let mut ops: BTreeMap<(String, String, String), &Op> = BTreeMap::new();
        for op in &self.ops {
            ops.insert(
                (op.template.clone(), op.method.clone(), op.file.clone()),
                op,
            );
        }
        let _ = writeln!(o, "pub static OPS: &[Op] = &[");
        for op in ops.values() {
            let segs: Vec<String> = op
                .template
                .split('/')
                .filter(|s| !s.is_empty())
                .map(|s| {
                    if let Some(name) = s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                        let multi = op.params.iter().any(|(n, skip)| n == name && *skip);
                        if multi {
                            format!("Seg::Scope({name:?})")
                        } else {
                            format!("Seg::Param({name:?})")
                        }
                    } else {
                        format!("Seg::Lit({:?})", s.to_ascii_lowercase())
                    }
                })
                .collect();
            let _ = writeln!(
                o,
                "Op {{ method: {:?}, template: {:?}, segs: &[{}], operation_id: {:?}, api_version: {:?}, file: {:?}, long_running: {}, final_state_via: {}, pageable: {}, next_link: {}, item_name: {:?}, body: {}, body_required: {}, response: {}, statuses: &[{}], examples: &[{}], required_query: &[{}], description: {:?} }},",
                op.method,
                op.template,
                segs.join(", "),
                op.operation_id,
                op.api_version,
                op.file,
                op.long_running,
                opt(&op.final_state_via),
                op.pageable,
                opt(&op.next_link),
                op.item_name,
                opt_idx(op.body),
                op.body_required,
                opt_idx(op.response),
                op.statuses
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                op.examples
                    .iter()
                    .map(|e| format!("{e:?}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                op.required_query
                    .iter()
                    .map(|e| format!("{e:?}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                op.description,
            );
        }
        o.push_str("];\n");
        o
    }
}

fn json_ref(r: &str) -> Value {
    let mut m = Map::new();
    m.insert("$ref".into(), Value::String(r.into()));
    Value::Object(m)
}

fn kind_of(s: &Value) -> &'static str {
    match s["type"].as_str() {
        Some("object") => "Object",
        Some("array") => "Array",
        Some("string") => "String",
        Some("integer") => "Integer",
        Some("number") => "Number",
        Some("boolean") => "Boolean",
        _ if s.get("properties").is_some() => "Object",
        _ => "Any",
    }
}

fn mutability(s: &Value) -> u8 {
    let Some(m) = s["x-ms-mutability"].as_array() else {
        return 0;
    };
    let mut bits = 0;
    for v in m {
        bits |= match v.as_str() {
            Some("create") => MUT_CREATE,
            Some("read") => MUT_READ,
            Some("update") => MUT_UPDATE,
            _ => 0,
        };
    }
    bits
}

fn opt(v: &Option<String>) -> String {
    match v {
        Some(s) => format!("Some({s:?})"),
        None => "None".into(),
    }
}

fn opt_idx(v: Option<usize>) -> String {
    match v {
        Some(i) => format!("Some({i})"),
        None => "None".into(),
    }
}

/// `a/b/../c` → `a/c`, without touching the file system.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}
