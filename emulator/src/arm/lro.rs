//! Long-running operations, as ARM runs them and as clients poll them.
//!
//! An [`Operation`] is a row in the store's `operations` table. It finishes
//! when emulated time passes its deadline (`SimMode::Auto`, `--lro-delay-ms`)
//! or when `POST /_emulator/step` finishes it (`SimMode::Explicit`). Nothing
//! runs on a timer: pending operations are settled at the start of every ARM
//! request, so tests move time with the clock instead of sleeping.
//!
//! Clients poll either `Location` (202 while running, then what the call
//! would have returned) or `Azure-AsyncOperation` (200 with `status`). Both
//! always carry `Retry-After: 1`; without it clients wait 30 s a poll.

use crate::clock::arm_timestamp;
use crate::store::{Store, StoreResult, tables};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpStatus {
    InProgress,
    Succeeded,
    Failed,
    Canceled,
}

/// What finishing an operation does; the provider that started it carries it out.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum OperationKind {
    /// Delete a resource group and everything in it.
    DeleteResourceGroup { resource_group_id: String },
    /// A PUT that answered `provisioningState: Creating|Updating`: set it to `Succeeded`.
    Provision { resource_id: String },
    /// A PUT whose deployment will fail (a container group whose image pull failed):
    /// `provisioningState` becomes `Failed` and the operation fails.
    FailProvisioning { resource_id: String },
    /// A template deployment: finished by the deployment engine when its last
    /// resource is done, never by the clock.
    Deployment { deployment_id: String },
    /// An ACR task run: carried out (build, push, log) when due; `Running` until then.
    TaskRun { run_key: String },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Operation {
    /// Opaque id used in the polling URLs.
    pub id: String,
    pub subscription: String,
    pub status: OpStatus,
    pub kind: OperationKind,
    /// Unix milliseconds.
    pub started_ms: i64,
    /// When it finishes by itself; `None` waits for `/_emulator/step`.
    pub deadline_ms: Option<i64>,
    #[serde(default)]
    pub ended_ms: Option<i64>,
    #[serde(default)]
    pub error: Option<Value>,
}

fn ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

fn from_ms(v: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(v as i128 * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

impl Operation {
    /// A new in-progress operation. `delay` is `None` in explicit simulation mode.
    pub fn start(
        subscription: &str,
        kind: OperationKind,
        job: &str,
        now: OffsetDateTime,
        delay: Option<std::time::Duration>,
    ) -> Self {
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
            "{{\"jobId\":\"{job}-{}\"}}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ));
        Operation {
            id: token,
            subscription: subscription.to_string(),
            status: OpStatus::InProgress,
            kind,
            started_ms: ms(now),
            deadline_ms: delay.map(|d| ms(now) + d.as_millis() as i64),
            ended_ms: None,
            error: None,
        }
    }

    pub fn due(&self, now: OffsetDateTime) -> bool {
        self.status == OpStatus::InProgress && self.deadline_ms.is_some_and(|d| d <= ms(now))
    }

    pub fn finish(&mut self, now: OffsetDateTime, error: Option<Value>) {
        self.status = if error.is_some() {
            OpStatus::Failed
        } else {
            OpStatus::Succeeded
        };
        self.error = error;
        self.ended_ms = Some(ms(now));
    }

    pub fn save(&self, store: &dyn Store) -> StoreResult<()> {
        store.put(
            tables::OPERATIONS,
            &self.id,
            serde_json::to_value(self).expect("operation serialises"),
        )?;
        Ok(())
    }

    pub fn load(store: &dyn Store, id: &str) -> StoreResult<Option<Operation>> {
        Ok(store
            .get(tables::OPERATIONS, id)?
            .and_then(|v| serde_json::from_value(v).ok()))
    }

    pub fn pending(store: &dyn Store) -> StoreResult<Vec<Operation>> {
        Ok(store
            .scan(tables::OPERATIONS, "")?
            .into_iter()
            .filter_map(|(_, v)| serde_json::from_value::<Operation>(v).ok())
            .filter(|o| o.status == OpStatus::InProgress)
            .collect())
    }

    /// `{base}/subscriptions/{s}/operationresults/{id}?api-version=…`: the Location URL.
    pub fn location_url(&self, base: &str, api_version: &str) -> String {
        format!(
            "{base}/subscriptions/{}/operationresults/{}?api-version={api_version}",
            self.subscription, self.id
        )
    }

    /// `{base}/subscriptions/{s}/providers/{ns}/locations/{loc}/operationStatuses/{id}?api-version=…`:
    /// the Azure-AsyncOperation URL.
    pub fn async_operation_url(
        &self,
        base: &str,
        namespace: &str,
        location: &str,
        api_version: &str,
    ) -> String {
        format!(
            "{base}/subscriptions/{}/providers/{namespace}/locations/{location}/operationStatuses/{}?api-version={api_version}",
            self.subscription, self.id
        )
    }

    /// The Azure-AsyncOperation status body.
    pub fn status_body(&self) -> Value {
        let mut b = json!({
            "id": self.id,
            "name": self.id,
            "status": format!("{:?}", self.status),
            "startTime": arm_timestamp(from_ms(self.started_ms)),
        });
        if let Some(e) = self.ended_ms {
            b["endTime"] = json!(arm_timestamp(from_ms(e)));
            b["percentComplete"] = json!(100);
        }
        if let Some(err) = &self.error {
            b["error"] = err.clone();
        }
        b
    }
}

/// 202 Accepted with `Location` and `Retry-After: 1`, no body.
pub fn accepted(location: &str) -> Response {
    let mut r = StatusCode::ACCEPTED.into_response();
    set_polling_headers(&mut r, Some(location), None);
    r
}

pub fn set_polling_headers(r: &mut Response, location: Option<&str>, async_op: Option<&str>) {
    let h = r.headers_mut();
    if let Some(l) = location.and_then(|l| HeaderValue::from_str(l).ok()) {
        h.insert(http::header::LOCATION, l);
    }
    if let Some(a) = async_op.and_then(|a| HeaderValue::from_str(a).ok()) {
        h.insert("azure-asyncoperation", a);
    }
    h.insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle() {
        let now = OffsetDateTime::now_utc();
        let kind = OperationKind::DeleteResourceGroup {
            resource_group_id: "/subscriptions/s/resourceGroups/r".into(),
        };
        let mut op = Operation::start(
            "s",
            kind.clone(),
            "RG",
            now,
            Some(std::time::Duration::from_secs(5)),
        );
        assert!(!op.due(now));
        assert!(op.due(now + time::Duration::seconds(5)));
        assert_eq!(op.status_body()["status"], "InProgress");
        op.finish(now, None);
        assert!(!op.due(now + time::Duration::hours(1)));
        assert_eq!(op.status_body()["status"], "Succeeded");
        let explicit = Operation::start("s", kind, "RG", now, None);
        assert!(!explicit.due(now + time::Duration::days(365)));
        assert!(
            explicit
                .location_url("https://h", "2022-09-01")
                .starts_with("https://h/subscriptions/s/operationresults/")
        );
    }
}
