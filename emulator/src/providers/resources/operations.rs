//! Polling long-running operations: `Location` (`{S}/operationresults/{id}`)
//! and `Azure-AsyncOperation` (`…/operationStatuses/{id}`).

use crate::arm::lro::{OpStatus, Operation, OperationKind, set_polling_headers};
use crate::arm::{ArmError, ArmRequest};
use crate::providers::json_response;
use crate::state::AppState;
use axum::response::{IntoResponse, Response};
use http::StatusCode;

fn load(state: &AppState, req: &ArmRequest, id: &str) -> Result<Operation, ArmError> {
    req.api_version("Microsoft.Resources/operationResults")?;
    if req.method != http::Method::GET {
        return Err(ArmError::method_not_allowed(req.method.as_str()));
    }
    Operation::load(state.store.as_ref(), id)?.ok_or_else(|| ArmError::operation_not_found(id))
}

/// `GET {S}/operationresults/{id}`: 202 (+Location, Retry-After) while running;
/// then what the original call would have returned: 200 with no body, or the error.
pub fn operation_result(
    state: &AppState,
    req: &ArmRequest,
    id: &str,
) -> Result<Response, ArmError> {
    let op = load(state, req, id)?;
    match op.status {
        OpStatus::InProgress => {
            let mut r = StatusCode::ACCEPTED.into_response();
            let v = req.query("api-version").unwrap_or_default();
            set_polling_headers(&mut r, Some(&op.location_url(&req.base.0, v)), None);
            Ok(r)
        }
        OpStatus::Succeeded => Ok(match &op.kind {
            OperationKind::ExportTemplate { result } => json_response(StatusCode::OK, result),
            _ => StatusCode::OK.into_response(),
        }),
        OpStatus::Failed | OpStatus::Canceled => {
            let error = op.error.clone().unwrap_or_default();
            Ok(json_response(
                StatusCode::CONFLICT,
                &serde_json::json!({ "error": error }),
            ))
        }
    }
}

/// `GET {S}/providers/{ns}/locations/{loc}/operationStatuses/{id}`: always 200 with `status`.
pub fn operation_status(
    state: &AppState,
    req: &ArmRequest,
    id: &str,
) -> Result<Response, ArmError> {
    let op = load(state, req, id)?;
    let mut r = json_response(StatusCode::OK, &op.status_body());
    if op.status == OpStatus::InProgress {
        set_polling_headers(&mut r, None, None);
    }
    Ok(r)
}
