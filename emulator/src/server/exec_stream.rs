//! The websocket of `az container exec` (`/execstream/sessionId/{id}`, the
//! path of ACI's): az sends the session's password as its first message, then
//! what is typed, as binary messages; the command's terminal output comes
//! back as binary messages, and the socket closes when the command ends.
//! An attach session carries the container's output the same way. Sessions
//! come from the exec and attach actions ([`crate::runtime::exec`]).

use crate::runtime::exec::Session;
use crate::state::AppState;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use http::StatusCode;
use tokio::io::AsyncWriteExt;

/// How long the password may take to come.
const PASSWORD_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// WebSocket close code 1008 (policy violation, RFC 6455 §7.4.1).
const POLICY_VIOLATION: u16 = 1008;

pub async fn open(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ws: WebSocketUpgrade,
) -> Response {
    let Some(session) = state.containers.exec.take(&id, state.clock.now()) else {
        // TODO-fidelity: what ACI's exec endpoint answers for an unknown or used
        // session; searched azure-cli's container recordings (the websocket is not recorded).
        return (
            StatusCode::NOT_FOUND,
            format!("azemu: no exec session {id} (each is used once, within minutes)\n"),
        )
            .into_response();
    };
    ws.on_upgrade(move |socket| run(socket, session))
}

async fn close(socket: &mut WebSocket, code: u16, reason: String) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

async fn run(mut socket: WebSocket, session: Session) {
    let first = tokio::time::timeout(PASSWORD_WAIT, socket.recv()).await;
    let admitted = match first {
        Ok(Some(Ok(Message::Text(t)))) => session.admits(t.as_bytes()),
        Ok(Some(Ok(Message::Binary(b)))) => session.admits(&b),
        _ => false,
    };
    if !admitted {
        // TODO-fidelity: how ACI's exec endpoint refuses a wrong password; searched
        // azure-cli's container recordings and custom.py (az only sends it).
        close(
            &mut socket,
            POLICY_VIOLATION,
            "azemu: wrong password for this exec session".into(),
        )
        .await;
        return;
    }
    let attached = match session.start().await {
        Ok(a) => a,
        Err(e) => {
            let text = format!("azemu: the container engine did not start the command: {e}\r\n");
            let _ = socket.send(Message::Binary(text.into())).await;
            close(&mut socket, 1000, String::new()).await;
            return;
        }
    };
    let (mut to_client, mut from_client) = socket.split();
    let mut output = attached.output;
    let mut input = attached.input;
    let typed = async move {
        while let Some(Ok(m)) = from_client.next().await {
            let bytes = match m {
                Message::Binary(b) => b,
                Message::Text(t) => t.as_bytes().to_vec().into(),
                Message::Close(_) => break,
                _ => continue,
            };
            if input.write_all(&bytes).await.is_err() || input.flush().await.is_err() {
                break;
            }
        }
    };
    let shown = async {
        while let Some(chunk) = output.next().await {
            match chunk {
                Ok(b) if b.is_empty() => {}
                Ok(b) => {
                    if to_client.send(Message::Binary(b)).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::debug!("exec output ended: {e}");
                    break;
                }
            }
        }
        // The command has ended: so does the session.
        let frame = CloseFrame {
            code: 1000,
            reason: "".into(),
        };
        let _ = to_client.send(Message::Close(Some(frame))).await;
    };
    tokio::pin!(typed);
    tokio::select! {
        _ = shown => {}
        _ = &mut typed => {}
    }
}
