//! ARM's template limits, and the budget that keeps evaluation bounded.
//!
//! ARM documents its limits ("ARM template best practices", *Template
//! limits*): 256 parameters, 256 variables (512 since 2024: the live page and
//! Azure/bicep#15457, "I confirmed in the deployment engine codebase that 512
//! is correct"), 800 resources including copy count, 64 outputs, 24,576
//! characters in a template expression (Azure itself answered "Limit:
//! '81920'" in 2021, microsoft/azure-pipelines-tasks#15093; recorded answers
//! win), copy counts up to 800, `range` counts up to 10,000, and a request of
//! at most 4 MB. Breaking them answers `InvalidTemplate` in ARM's words.
//!
//! Within those limits a template can still ask for far more than it is: a
//! few variables that each `concat` the one before double their way to
//! gigabytes, `replace` multiplies, copy loops multiply copy loops, nested
//! deployments deploy themselves. So every value an evaluation produces is
//! paid for from a [`Budget`] — before it is allocated where a function
//! could amplify (`replace`, `format`, `padLeft`, `range`, `split`, `json`,
//! `string`…, see `functions::predict`), and as it is made otherwise — and no
//! single value may exceed [`MAX_VALUE_BYTES`] or nest deeper than
//! [`MAX_VALUE_DEPTH`]. The units are bytes of memory, estimated.
//!
//! One budget ([`WORK`]) covers a whole deployment tree: the plan made when
//! the deployment is accepted, every resource body and the outputs evaluated
//! while it runs, and every nested deployment under it (at most
//! [`MAX_TREE`] deployments, nested at most [`MAX_NESTING`] deep).

use super::eval::TemplateError;
use serde_json::Value;
use std::cell::Cell;

/// "256 parameters".
pub const MAX_PARAMETERS: usize = 256;
/// "512 variables" (the live page; older copies say 256).
pub const MAX_VARIABLES: usize = 512;
/// "800 resources (including copy count)".
pub const MAX_RESOURCES: usize = 800;
/// "64 output values".
pub const MAX_OUTPUTS: usize = 64;
/// A copy loop's count: "cannot exceed '800'".
pub const MAX_COPY: i64 = 800;
/// Characters in one template expression, as Azure answered (the docs say 24,576).
pub const MAX_EXPRESSION_CHARS: usize = 81_920;
/// What ARM accepts in one request (`RequestContentTooLarge`): also the most a
/// resource's evaluated body may be, since the engine PUTs it through the provider.
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;
/// The outputs a deployment keeps (serialized).
// TODO-fidelity: ARM's deployment job is limited to 1 MB compressed (error-job-size-exceeded);
// searched "DeploymentJobSizeExceeded" and "JobSizeExceeded" for the message, found only the docs.
pub const MAX_OUTPUTS_BYTES: usize = 4 * 1024 * 1024;

/// Dependencies between a template's resources: a loop of n depending on a loop of
/// n is n² of them, which "Resolve errors for job size exceeded" names as what
/// exhausts a deployment's size (Solution 3: "Use dependencies carefully").
// TODO-fidelity: the count is azemu's (ARM's limit is the 1 MB compressed job).
pub const MAX_DEPENDENCIES: usize = 100_000;

/// The largest single value an expression may produce (bytes, estimated).
pub const MAX_VALUE_BYTES: u64 = 8 * 1024 * 1024;
/// How deep a value an expression produces may nest (a request body may nest 128).
pub const MAX_VALUE_DEPTH: usize = 128;
/// Everything one deployment tree may evaluate (bytes, estimated).
pub const WORK: u64 = 128 * 1024 * 1024;
/// What evaluating one expression node costs, whatever it produces.
pub const NODE_COST: u64 = 16;
/// Deployments in one tree (the deployment and every nested deployment under it).
// TODO-fidelity: no ARM text found for a nested-deployment limit (searched "nested deployment
// depth", "maximum nested deployment"); 800 follows "800 resources" and the AVM maintainers'
// "limit of 800 'deployments' per template deployment" (Azure/Azure-Verified-Modules#2215).
pub const MAX_TREE: u32 = 800;
/// How deep deployments may nest (inline, a template nests about 30 deep before
/// its JSON reaches the 128 levels a request may have).
pub const MAX_NESTING: u32 = 32;
/// The most a stored deployment (its request, plan and resolved variables) may
/// hold: what the store keeps in a row.
pub const MAX_STORED_BYTES: usize = crate::store::MAX_ROW_BYTES;
/// The deepest row the deployment engine may store, as [`crate::store::depth`]
/// counts (the store's own limit, so that every row reads back).
pub const MAX_STORED_DEPTH: usize = crate::store::MAX_ROW_DEPTH;

/// Bytes of evaluation left for a deployment tree. Shared (by `Rc`) between an
/// evaluator and its children; single-threaded like the evaluator.
#[derive(Debug)]
pub struct Budget {
    limit: u64,
    used: Cell<u64>,
}

impl Budget {
    pub fn new(limit: u64) -> Self {
        Budget {
            limit,
            used: Cell::new(0),
        }
    }

    /// Pay `n`, or fail if the budget cannot.
    pub fn charge(&self, n: u64) -> Result<(), TemplateError> {
        let used = self.used.get().saturating_add(n);
        if used > self.limit {
            self.used.set(self.limit);
            return Err(exhausted());
        }
        self.used.set(used);
        Ok(())
    }

    pub fn used(&self) -> u64 {
        self.used.get()
    }

    pub fn left(&self) -> u64 {
        self.limit - self.used.get()
    }
}

/// The budget ran out.
// TODO-fidelity: ARM has no such limit by name (its limits are on the template's size once
// expanded, compressed, which azemu does not compute); the wording is azemu's.
pub fn exhausted() -> TemplateError {
    TemplateError(format!(
        "The template's language expressions produce more than '{}' MB of values, the most azemu evaluates for a deployment and the deployments nested in it (ARM limits a template to 4 MB once its copy loops are expanded and its variables and parameters resolved). Please see https://aka.ms/arm-template for usage details.",
        WORK / (1024 * 1024)
    ))
}

/// A value too large or too deep for one expression to produce.
pub fn too_big(function: &str) -> TemplateError {
    TemplateError(format!(
        "The template function '{function}' produced a value larger than the template language allows (values up to {MAX_VALUE_BYTES} bytes, nested up to {MAX_VALUE_DEPTH} levels)."
    ))
}

/// How much memory a value holds (estimated) and how deep it nests. Counting
/// stops once the cost passes `cap` (the result is then just "more than `cap`").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measure {
    pub bytes: u64,
    pub depth: usize,
}

/// `size_of::<Value>()`, and what a map entry adds besides its key and value.
const VALUE: u64 = 32;
const ENTRY: u64 = 64;

pub fn measure(v: &Value, cap: u64) -> Measure {
    let mut bytes = 0u64;
    let mut depth = 0usize;
    let mut stack: Vec<(&Value, usize)> = vec![(v, 1)];
    while let Some((v, d)) = stack.pop() {
        depth = depth.max(d);
        bytes = bytes.saturating_add(VALUE);
        match v {
            Value::String(s) => bytes = bytes.saturating_add(s.len() as u64),
            Value::Array(a) => stack.extend(a.iter().map(|x| (x, d + 1))),
            Value::Object(m) => {
                for (k, x) in m {
                    bytes = bytes.saturating_add(ENTRY + k.len() as u64);
                    stack.push((x, d + 1));
                }
            }
            _ => {}
        }
        if bytes > cap {
            break;
        }
    }
    Measure { bytes, depth }
}

/// The cost of a value (see [`measure`]).
pub fn cost(v: &Value) -> u64 {
    measure(v, u64::MAX).bytes
}

/// How deep a value nests (a scalar is 1), without recursing.
pub fn depth(v: &Value) -> usize {
    measure(v, u64::MAX).depth
}

/// The length of `v` as compact JSON, or `None` when it is longer than `cap`
/// (counted by serializing into nothing, so nothing is allocated).
pub fn json_len(v: &Value, cap: usize) -> Option<usize> {
    struct Count {
        n: usize,
        cap: usize,
    }
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.n += buf.len();
            if self.n > self.cap {
                return Err(std::io::Error::other("over"));
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count { n: 0, cap };
    serde_json::to_writer(&mut c, v).ok().map(|_| c.n)
}

/// How long `v` reads as text in `concat`, `string`, `format` (an upper bound,
/// capped just past `cap`).
pub fn text_len(v: &Value, cap: u64) -> u64 {
    match v {
        Value::String(s) => s.len() as u64,
        Value::Null => 0,
        Value::Bool(_) => 5,
        Value::Number(_) => 24,
        other => json_len(other, cap as usize).map_or(cap.saturating_add(1), |n| n as u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn measures() {
        assert_eq!(
            measure(&json!(1), u64::MAX),
            Measure {
                bytes: 32,
                depth: 1
            }
        );
        assert_eq!(measure(&json!("abc"), u64::MAX).bytes, 35);
        assert_eq!(depth(&json!([[[1]], {"a": [2]}])), 4);
        assert_eq!(cost(&json!({"ab": null})), 32 + 64 + 2 + 32);
        // Counting stops soon after the cap.
        let big = Value::Array(vec![json!(1); 100_000]);
        assert!(measure(&big, 1000).bytes < 2000);
        assert_eq!(json_len(&json!({"a": [1, "x"]}), 100), Some(13));
        assert_eq!(json_len(&big, 10), None);
        assert_eq!(text_len(&json!("héllo"), 100), 6);
        // A deep value is measured without recursion.
        let mut deep = json!(1);
        for _ in 0..100_000 {
            deep = Value::Array(vec![deep]);
        }
        assert_eq!(depth(&deep), 100_001);
        // (and dropped without recursion too, so the test itself survives)
        let mut v = deep;
        while let Value::Array(mut a) = v {
            v = a.pop().unwrap_or(Value::Null);
        }
    }

    #[test]
    fn budget() {
        let b = Budget::new(100);
        assert!(b.charge(60).is_ok());
        assert_eq!(b.left(), 40);
        assert!(b.charge(50).is_err());
        assert!(b.charge(1).is_err(), "an exhausted budget stays exhausted");
        assert_eq!(b.used(), 100);
    }
}
