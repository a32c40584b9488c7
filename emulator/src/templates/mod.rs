//! The ARM template language: what `Microsoft.Resources/deployments` evaluates.
//!
//! - [`expr`]: the expression grammar (`[concat(parameters('a'), 'b')]`), parsed to a tree.
//! - [`functions`]: the functions that depend only on their arguments.
//! - [`eval`]: evaluating JSON with expressions against a deployment's scope,
//!   parameters, variables, copy indexes and (when executing) live resources.
//! - [`plan`]: a template and its parameters → resources with ids, conditions,
//!   copies and a dependency graph, or the `InvalidTemplate` reason why not.
//! - [`position`]: where in the client's text a violation sits (line, column).
//! - [`hash`]: `uniqueString()` and `guid()`, byte-identical to Azure's.
//! - [`limits`]: ARM's template limits, and the budget that bounds evaluation
//!   (every value paid for before it is made; one budget per deployment tree).
//!
//! The deployment engine that executes a plan through the providers is
//! `providers::resources::deployments`.

pub mod eval;
pub mod expr;
pub mod functions;
pub mod hash;
pub mod limits;
pub mod plan;
pub mod position;
