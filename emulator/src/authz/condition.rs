//! ABAC conditions (placeholder).
#[derive(Debug)]
pub struct Condition;
#[derive(Debug, thiserror::Error)]
#[error("unsupported condition")]
pub struct ConditionError;
pub fn parse(_src: &str) -> Result<Condition, ConditionError> {
    Ok(Condition)
}
impl Condition {
    pub fn evaluate(&self, _action: &str, _attrs: &dyn Fn(&str) -> Option<String>) -> bool {
        false
    }
}
