//! Azure Resource Manager, generically: any resource by id and api-version,
//! requests retried on 429/5xx after `Retry-After`, pages followed through
//! `nextLink`, and long-running operations finished in each style ARM uses.
//!
//! The styles a first response can start (as the Azure SDKs' core handles them):
//! - `Azure-AsyncOperation: <url>` (201/202, or 200): poll that URL until its
//!   `status` is `Succeeded`, `Failed` or `Canceled`; then a PUT/PATCH result is
//!   the resource itself (GET its URL), a POST/DELETE result is what the first
//!   response's `Location` answers, if it gave one.
//! - `Location: <url>` with 202: poll it until it stops answering 202; its 200
//!   body is the result (204: none).
//! - A PUT/PATCH answered 200/201 whose body's `properties.provisioningState`
//!   is not terminal: GET the resource until it is.
//!
//! Every wait honours `Retry-After` (seconds), unless the builder fixed a poll
//! interval; `Failed`/`Canceled` become [`Error::Arm`] with the operation's error.

use crate::{Client, Error, decode, error_from, header};
use reqwest::{Method, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::time::{Duration, Instant};

const TERMINAL: &[&str] = &["Succeeded", "Failed", "Canceled"];

impl Client {
    /// `{base}{id}?api-version={api_version}` for a resource id (or any ARM path).
    pub fn arm_url(&self, id: &str, api_version: &str) -> String {
        let sep = if id.contains('?') { '&' } else { '?' };
        format!("{}{id}{sep}api-version={api_version}", self.base)
    }

    /// One ARM request with the cached bearer token, retried on 429 and 5xx
    /// (after `Retry-After`, else an exponential backoff) up to `max_retries` times.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Response, Error> {
        let mut attempt = 0;
        loop {
            let mut req = self
                .http
                .request(method.clone(), url)
                .bearer_auth(self.arm_token().await?);
            if let Some(b) = body {
                req = req.json(b);
            }
            let resp = req.send().await?;
            let status = resp.status();
            let retriable = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
            if !retriable || attempt >= self.max_retries {
                return Ok(resp);
            }
            let wait =
                retry_after(resp.headers()).unwrap_or(Duration::from_secs(1 << attempt.min(6)));
            (self.sleep)(wait).await;
            attempt += 1;
        }
    }

    /// Every item of a list, following `nextLink` page by page.
    pub async fn list_all<T: DeserializeOwned>(&self, url: &str) -> Result<Vec<T>, Error> {
        let mut url = url.to_string();
        let mut all = Vec::new();
        loop {
            let resp = self.send(Method::GET, &url, None).await?;
            let page: crate::Page<T> = decode(resp).await?;
            all.extend(page.value);
            match page.next_link {
                Some(next) if !next.is_empty() => url = next,
                _ => return Ok(all),
            }
        }
    }

    /// `GET` a resource; `None` when ARM answers 404.
    pub async fn get_resource(&self, id: &str, api_version: &str) -> Result<Option<Value>, Error> {
        let resp = self
            .send(Method::GET, &self.arm_url(id, api_version), None)
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        decode(resp).await.map(Some)
    }

    /// `PUT` a resource and wait for it: the resource as ARM then shows it.
    pub async fn put_resource(
        &self,
        id: &str,
        api_version: &str,
        body: &Value,
    ) -> Result<Value, Error> {
        self.write_resource(Method::PUT, id, api_version, body)
            .await
    }

    /// `PATCH` a resource (tags, properties) and wait for it.
    pub async fn patch_resource(
        &self,
        id: &str,
        api_version: &str,
        body: &Value,
    ) -> Result<Value, Error> {
        self.write_resource(Method::PATCH, id, api_version, body)
            .await
    }

    async fn write_resource(
        &self,
        method: Method,
        id: &str,
        api_version: &str,
        body: &Value,
    ) -> Result<Value, Error> {
        let url = self.arm_url(id, api_version);
        let resp = self.send(method.clone(), &url, Some(body)).await?;
        Ok(self
            .finish(method, &url, resp)
            .await?
            .unwrap_or(Value::Null))
    }

    /// `DELETE` a resource and wait for it (a resource already gone is fine).
    pub async fn delete_resource(&self, id: &str, api_version: &str) -> Result<(), Error> {
        let url = self.arm_url(id, api_version);
        let resp = self.send(Method::DELETE, &url, None).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(());
        }
        self.finish(Method::DELETE, &url, resp).await.map(|_| ())
    }

    /// `POST` an action (`{id}/start`, `listCredentials`, …) and wait for its result.
    pub async fn post_action(
        &self,
        id_and_action: &str,
        api_version: &str,
        body: Option<&Value>,
    ) -> Result<Option<Value>, Error> {
        let url = self.arm_url(id_and_action, api_version);
        let resp = self.send(Method::POST, &url, body).await?;
        self.finish(Method::POST, &url, resp).await
    }

    /// Finish whatever `first` (the answer to `method` on `url`) started; see the
    /// module documentation for the styles. The result body, if there is one.
    pub async fn finish(
        &self,
        method: Method,
        url: &str,
        first: Response,
    ) -> Result<Option<Value>, Error> {
        let started = Instant::now();
        let status = first.status();
        if !status.is_success() {
            return Err(error_from(first).await);
        }
        let headers = first.headers().clone();
        let async_op = header(&headers, "azure-asyncoperation");
        let location = header(&headers, "location");
        let is_put = method == Method::PUT || method == Method::PATCH;
        let body = body_of(first).await?;

        if let Some(op) = async_op {
            // A 200 may carry the operation's status already.
            let mut current = match &body {
                Some(b) if status == StatusCode::OK && !is_put && terminal(b).is_some() => {
                    b.clone()
                }
                _ => Value::Null,
            };
            let mut wait = self.wait(&headers);
            while terminal(&current).is_none() {
                self.pause(started, wait).await?;
                let resp = self.send(Method::GET, &op, None).await?;
                wait = self.wait(resp.headers());
                current = decode(resp).await?;
            }
            if let Some(ended @ ("Failed" | "Canceled")) = terminal(&current) {
                return Err(failed(&current, ended));
            }
            if is_put {
                let resp = self.send(Method::GET, url, None).await?;
                return decode(resp).await.map(Some);
            }
            return match location {
                Some(loc) => {
                    let resp = self.send(Method::GET, &loc, None).await?;
                    body_of_success(resp).await
                }
                None => Ok(None),
            };
        }

        if status == StatusCode::ACCEPTED {
            let Some(loc) = location else {
                return Err(Error::Protocol(
                    "202 without Location or Azure-AsyncOperation".into(),
                ));
            };
            let mut wait = self.wait(&headers);
            loop {
                self.pause(started, wait).await?;
                let resp = self.send(Method::GET, &loc, None).await?;
                if resp.status() != StatusCode::ACCEPTED {
                    if is_put && resp.status().is_success() {
                        let resp = self.send(Method::GET, url, None).await?;
                        return decode(resp).await.map(Some);
                    }
                    return body_of_success(resp).await;
                }
                wait = self.wait(resp.headers());
            }
        }

        if is_put
            && let Some(b) = &body
            && let Some(state) = b["properties"]["provisioningState"].as_str()
            && !TERMINAL.contains(&state)
        {
            let mut wait = self.wait(&headers);
            loop {
                self.pause(started, wait).await?;
                let resp = self.send(Method::GET, url, None).await?;
                wait = self.wait(resp.headers());
                let now: Value = decode(resp).await?;
                match now["properties"]["provisioningState"].as_str() {
                    Some("Succeeded") | None => return Ok(Some(now)),
                    Some(s @ ("Failed" | "Canceled")) => return Err(failed(&now, s)),
                    Some(_) => continue,
                }
            }
        }
        Ok(body)
    }

    /// How long to wait before the next poll.
    fn wait(&self, headers: &reqwest::header::HeaderMap) -> Duration {
        self.poll_interval
            .unwrap_or_else(|| retry_after(headers).unwrap_or(Duration::from_secs(1)))
    }

    async fn pause(&self, started: Instant, wait: Duration) -> Result<(), Error> {
        if started.elapsed() + wait > self.lro_timeout {
            return Err(Error::LroTimeout(self.lro_timeout));
        }
        (self.sleep)(wait).await;
        Ok(())
    }
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    header(headers, "retry-after")
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// An operation status (or resource) that has ended: its status.
fn terminal(v: &Value) -> Option<&str> {
    let s = v["status"]
        .as_str()
        .or_else(|| v["properties"]["provisioningState"].as_str())?;
    TERMINAL.contains(&s).then_some(s)
}

fn failed(v: &Value, status: &str) -> Error {
    let e = &v["error"];
    let e = if e.is_object() {
        e
    } else {
        &v["properties"]["error"]
    };
    Error::Arm {
        status: 200,
        code: e["code"].as_str().unwrap_or(status).to_string(),
        message: e["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("The operation ended {status}.")),
        details: e["details"].as_array().cloned().unwrap_or_default(),
    }
}

async fn body_of(resp: Response) -> Result<Option<Value>, Error> {
    let bytes = resp.bytes().await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| Error::Protocol(format!("{e}: {}", String::from_utf8_lossy(&bytes))))
}

async fn body_of_success(resp: Response) -> Result<Option<Value>, Error> {
    if !resp.status().is_success() {
        return Err(error_from(resp).await);
    }
    body_of(resp).await
}
