//! `az container exec`'s sessions: ACI's exec and attach actions hand out a
//! websocket address and a password ([`Sessions::open`]); the websocket that
//! presents the password first gets a terminal on a command started in the
//! container through the engine, or the container's output
//! ([`Session::start`]).
//!
//! A session is single-use (taken on the websocket's first connection, right
//! password or not) and short-lived ([`LIFETIME`] on the emulated clock).

use super::engine::{Attached, Engine, EngineResult};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;

/// How long a session waits for its websocket.
pub const LIFETIME: time::Duration = time::Duration::minutes(2);

/// Sessions handed out and not yet opened, by session id.
#[derive(Default)]
pub struct Sessions {
    open: Mutex<HashMap<String, Session>>,
}

pub struct Session {
    password: String,
    engine: Arc<dyn Engine>,
    container: String,
    what: What,
    expires: OffsetDateTime,
}

/// What a session's websocket carries.
pub enum What {
    /// A command's terminal, `rows` by `cols`: its output, and what is typed.
    Exec {
        command: Vec<String>,
        rows: u16,
        cols: u16,
    },
    /// The container's output (`Containers_Attach`).
    Attach,
}

/// What [`Sessions::open`] gives the caller to hand to the client.
pub struct Ticket {
    pub id: String,
    pub password: String,
}

/// The password's alphabet: ACI's passwords mix letters, digits and
/// punctuation (azure-cli's recording test_container_exec).
const ALPHABET: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%()*+-/:;=?@_{}";

impl Sessions {
    /// A session for `what` in the engine's container `container`,
    /// valid until `now` + [`LIFETIME`]. ACI's password ends in `[[EOM]]`
    /// (the recording's), and so does this one.
    pub fn open(
        &self,
        engine: Arc<dyn Engine>,
        container: String,
        what: What,
        now: OffsetDateTime,
    ) -> Ticket {
        use rand::Rng;
        let mut rng = rand::thread_rng();
        let mut password: String = (0..24)
            .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
            .collect();
        password.push_str("[[EOM]]");
        let id = uuid::Uuid::new_v4().to_string();
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.retain(|_, s| s.expires > now);
        open.insert(
            id.clone(),
            Session {
                password: password.clone(),
                engine,
                container,
                what,
                expires: now + LIFETIME,
            },
        );
        Ticket { id, password }
    }

    /// The session `id`, once: gone from here whatever comes of it. `None`
    /// when it was never handed out, was taken already, or has expired.
    pub fn take(&self, id: &str, now: OffsetDateTime) -> Option<Session> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.remove(id).filter(|s| s.expires > now)
    }
}

impl Session {
    /// Whether `given` is the session's password (compared in constant time).
    pub fn admits(&self, given: &[u8]) -> bool {
        let want = self.password.as_bytes();
        want.len() == given.len()
            && want
                .iter()
                .zip(given)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }

    /// The command, started in the container with its terminal, attached;
    /// or the container's output (what is sent to it goes nowhere).
    pub async fn start(&self) -> EngineResult<Attached> {
        match &self.what {
            What::Exec {
                command,
                rows,
                cols,
            } => {
                self.engine
                    .exec(&self.container, command, *rows, *cols)
                    .await
            }
            What::Attach => Ok(Attached {
                output: self.engine.follow(&self.container),
                input: Box::pin(tokio::io::sink()),
            }),
        }
    }
}

/// ACI's `command` as the process to start: ACI runs no shell, so the
/// string is split on white space (`/bin/sh`, `ls -la`).
pub fn argv(command: &str) -> Vec<String> {
    command.split_whitespace().map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn commands_split_on_white_space() {
        assert_eq!(super::argv(" ls  -la /tmp "), ["ls", "-la", "/tmp"]);
        assert!(super::argv("   ").is_empty());
    }
}
