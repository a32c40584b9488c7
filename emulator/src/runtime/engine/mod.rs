//! A container engine behind a small trait: what azemu asks of one to run a
//! container group's containers (load an image, create, start, stop, restart,
//! remove, read logs, and hear what happens to them). [`docker`] implements it
//! over the Docker Engine API; with no engine (`--container-engine none`)
//! groups keep their simulated state ([`crate::runtime::containers`]).

pub mod docker;

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use std::collections::HashMap;

/// An engine's failure, in its own words.
pub type EngineResult<T> = Result<T, String>;

/// Which engine `--container-engine` / `AZEMU_CONTAINER_ENGINE` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Choice {
    /// Nothing runs: container groups are simulated (and say so).
    #[default]
    None,
    /// Docker at `DOCKER_HOST` (or the default socket); not reachable is an error.
    Docker,
    /// Docker when it answers, else none.
    Auto,
}

/// One container to create.
#[derive(Debug, Clone, Default)]
pub struct ContainerSpec {
    /// The engine's name for it (unique per engine).
    pub name: String,
    /// An image the engine has (tag or id).
    pub image: String,
    /// Replaces the image's entrypoint (ACI's `command`); empty keeps it.
    pub command: Vec<String>,
    /// `NAME=value`.
    pub env: Vec<String>,
    pub labels: HashMap<String, String>,
    /// CPU cores (fractions allowed); 0 leaves it unlimited.
    pub cpu: f64,
    /// Bytes; 0 leaves it unlimited.
    pub memory: i64,
    /// `no`, `on-failure`, `always`.
    pub restart: &'static str,
    /// TCP/UDP ports (`80/tcp`) published on 127.0.0.1 at ports the engine picks.
    pub publish: Vec<String>,
    /// Bind mounts: `host path:container path[:ro]` (a group's volumes).
    pub binds: Vec<String>,
    /// Join this container's network namespace (the group's sandbox, or
    /// without one its first container): a group's containers share
    /// `localhost`, as ACI's do.
    pub join: Option<String>,
}

/// What happened to a container, as the engine tells it.
#[derive(Debug, Clone)]
pub struct Event {
    pub container: String,
    /// `start`, `die` (with `exit_code`), `kill`, `destroy`, ...
    pub action: String,
    pub exit_code: Option<i64>,
}

pub trait Engine: Send + Sync {
    /// Where it is (`unix:///var/run/docker.sock`), for logs.
    fn describe(&self) -> String;
    /// Load a `docker save` archive (manifest.json, config, layers).
    fn load(&self, archive: Vec<u8>) -> BoxFuture<'_, EngineResult<()>>;
    /// Create (not start) a container: its id.
    fn create<'a>(&'a self, spec: &'a ContainerSpec) -> BoxFuture<'a, EngineResult<String>>;
    fn start<'a>(&'a self, id: &'a str) -> BoxFuture<'a, EngineResult<()>>;
    /// Stop, with `grace` seconds before it is killed.
    fn stop<'a>(&'a self, id: &'a str, grace: i32) -> BoxFuture<'a, EngineResult<()>>;
    fn restart<'a>(&'a self, id: &'a str, grace: i32) -> BoxFuture<'a, EngineResult<()>>;
    /// Remove, running or not.
    fn remove<'a>(&'a self, id: &'a str) -> BoxFuture<'a, EngineResult<()>>;
    /// Everything it has written to stdout and stderr, interleaved.
    fn logs<'a>(&'a self, id: &'a str) -> BoxFuture<'a, EngineResult<String>>;
    /// The host port `port` (`80/tcp`) is published at.
    fn published<'a>(
        &'a self,
        id: &'a str,
        port: &'a str,
    ) -> BoxFuture<'a, EngineResult<Option<u16>>>;
    /// Containers (running or not) labelled `label` (`key=value`): their ids.
    fn labelled<'a>(&'a self, label: &'a str) -> BoxFuture<'a, EngineResult<Vec<String>>>;
    /// What happens from now on to containers labelled `label`.
    fn events(&self, label: &str) -> BoxStream<'static, EngineResult<Event>>;

    // ACR task runs ([`crate::runtime::task_runs`]).

    /// `docker build` of `context` (a tar holding `dockerfile`), tagged `tag`,
    /// with `args` as build arguments: the builder's output, or its output
    /// and its error (a `RUN` that failed, a `COPY` of nothing).
    fn build<'a>(
        &'a self,
        context: Vec<u8>,
        dockerfile: &'a str,
        tag: &'a str,
        args: &'a [(String, String)],
    ) -> BoxFuture<'a, Result<String, (String, String)>>;
    /// `docker save` of one image: manifest.json, its config and layers.
    fn save<'a>(&'a self, image: &'a str) -> BoxFuture<'a, EngineResult<Vec<u8>>>;
    /// Run `image` (its entrypoint, with `args` as its command; empty keeps
    /// its own) to its end, as container `name` with `labels`: its exit code
    /// and output. The container goes afterwards.
    fn run_to_end<'a>(
        &'a self,
        name: &'a str,
        image: &'a str,
        args: &'a [String],
        labels: HashMap<String, String>,
    ) -> BoxFuture<'a, EngineResult<(i64, String)>>;
    /// Remove an image (a tag) and the untagged images built on it (a failed
    /// build's steps); one already gone is no error.
    fn remove_image<'a>(&'a self, image: &'a str) -> BoxFuture<'a, EngineResult<()>>;
    /// The host's own address on the network containers are created on (its
    /// gateway): where a container reaches the host. `None`: the engine has none.
    fn gateway(&self) -> BoxFuture<'_, EngineResult<Option<std::net::IpAddr>>>;
    /// The labels of the container labelled `label` whose address is `ip`
    /// (who a request from a container came from).
    fn labels_at<'a>(
        &'a self,
        label: &'a str,
        ip: std::net::IpAddr,
    ) -> BoxFuture<'a, EngineResult<Option<HashMap<String, String>>>>;
    /// Run `command` in the running container `id` with a terminal of `rows`
    /// by `cols`, attached: its output, and its input.
    fn exec<'a>(
        &'a self,
        id: &'a str,
        command: &'a [String],
        rows: u16,
        cols: u16,
    ) -> BoxFuture<'a, EngineResult<Attached>>;
    /// What the container `id` has written to stdout and stderr, and then
    /// writes, until it ends.
    fn follow(&self, id: &str) -> BoxStream<'static, EngineResult<bytes::Bytes>>;
}

/// A process started in a container with a terminal, attached.
pub struct Attached {
    /// What the terminal shows, as it comes; the stream ends with the process.
    pub output: BoxStream<'static, EngineResult<bytes::Bytes>>,
    /// What is typed into the terminal.
    pub input: std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
}
