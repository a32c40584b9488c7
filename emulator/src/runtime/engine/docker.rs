//! [`Engine`] over the Docker Engine API ([`bollard`]): a unix socket or plain
//! HTTP at `DOCKER_HOST`, the API version negotiated with the daemon.

use super::{Attached, ContainerSpec, Engine, EngineResult, Event};
use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, HostConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters as q;
use futures_util::future::BoxFuture;
use futures_util::stream::{BoxStream, StreamExt, TryStreamExt};
use std::collections::HashMap;

pub struct DockerEngine {
    docker: Docker,
    host: String,
}

fn text(e: bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message,
        other => other.to_string(),
    }
}

impl DockerEngine {
    /// The engine at `DOCKER_HOST` (or the default socket), if it answers.
    pub async fn connect() -> EngineResult<DockerEngine> {
        let host = std::env::var("DOCKER_HOST")
            .unwrap_or_else(|_| "unix:///var/run/docker.sock".to_string());
        let docker = Docker::connect_with_host(&host).map_err(text)?;
        let docker = docker.negotiate_version().await.map_err(text)?;
        docker.ping().await.map_err(text)?;
        Ok(DockerEngine { docker, host })
    }
}

impl DockerEngine {
    /// Every container (running or not) labelled `label` (`key=value`).
    async fn list_labelled(
        &self,
        label: &str,
    ) -> EngineResult<Vec<bollard::models::ContainerSummary>> {
        let filters = HashMap::from([("label".to_string(), vec![label.to_string()])]);
        let opts = q::ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        self.docker.list_containers(Some(opts)).await.map_err(text)
    }
}

impl Engine for DockerEngine {
    fn describe(&self) -> String {
        format!("docker at {}", self.host)
    }

    fn load(&self, archive: Vec<u8>) -> BoxFuture<'_, EngineResult<()>> {
        Box::pin(async move {
            let body = bollard::body_full(archive.into());
            let mut s = self
                .docker
                .import_image(q::ImportImageOptions::default(), body, None);
            while let Some(r) = s.next().await {
                let info = r.map_err(text)?;
                if let Some(e) = info.error_detail.and_then(|d| d.message) {
                    return Err(e);
                }
            }
            Ok(())
        })
    }

    fn create<'a>(&'a self, spec: &'a ContainerSpec) -> BoxFuture<'a, EngineResult<String>> {
        Box::pin(async move {
            let bindings = spec
                .publish
                .iter()
                .map(|p| {
                    let at = PortBinding {
                        host_ip: Some("127.0.0.1".into()),
                        host_port: Some(String::new()),
                    };
                    (p.clone(), Some(vec![at]))
                })
                .collect::<HashMap<_, _>>();
            let host = HostConfig {
                nano_cpus: (spec.cpu > 0.0).then_some((spec.cpu * 1e9) as i64),
                memory: (spec.memory > 0).then_some(spec.memory),
                restart_policy: Some(RestartPolicy {
                    name: Some(match spec.restart {
                        "always" => RestartPolicyNameEnum::ALWAYS,
                        "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
                        _ => RestartPolicyNameEnum::NO,
                    }),
                    maximum_retry_count: None,
                }),
                port_bindings: (!bindings.is_empty()).then_some(bindings),
                network_mode: spec.join.as_ref().map(|c| format!("container:{c}")),
                binds: (!spec.binds.is_empty()).then(|| spec.binds.clone()),
                ..Default::default()
            };
            let body = ContainerCreateBody {
                image: Some(spec.image.clone()),
                entrypoint: (!spec.command.is_empty()).then(|| spec.command.clone()),
                cmd: (!spec.command.is_empty()).then(Vec::new),
                env: Some(spec.env.clone()),
                labels: Some(spec.labels.clone()),
                exposed_ports: (!spec.publish.is_empty()).then(|| spec.publish.clone()),
                host_config: Some(host),
                ..Default::default()
            };
            let opts = q::CreateContainerOptionsBuilder::new()
                .name(&spec.name)
                .build();
            let made = self
                .docker
                .create_container(Some(opts), body)
                .await
                .map_err(text)?;
            Ok(made.id)
        })
    }

    fn start<'a>(&'a self, id: &'a str) -> BoxFuture<'a, EngineResult<()>> {
        Box::pin(async move {
            self.docker
                .start_container(id, None::<q::StartContainerOptions>)
                .await
                .map_err(text)
        })
    }

    fn stop<'a>(&'a self, id: &'a str, grace: i32) -> BoxFuture<'a, EngineResult<()>> {
        Box::pin(async move {
            let opts = q::StopContainerOptionsBuilder::new().t(grace).build();
            self.docker
                .stop_container(id, Some(opts))
                .await
                .map_err(text)
        })
    }

    fn restart<'a>(&'a self, id: &'a str, grace: i32) -> BoxFuture<'a, EngineResult<()>> {
        Box::pin(async move {
            let opts = q::RestartContainerOptionsBuilder::new().t(grace).build();
            self.docker
                .restart_container(id, Some(opts))
                .await
                .map_err(text)
        })
    }

    fn remove<'a>(&'a self, id: &'a str) -> BoxFuture<'a, EngineResult<()>> {
        Box::pin(async move {
            let opts = q::RemoveContainerOptionsBuilder::new()
                .force(true)
                .v(true)
                .build();
            match self.docker.remove_container(id, Some(opts)).await {
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => Ok(()),
                r => r.map_err(text),
            }
        })
    }

    fn logs<'a>(&'a self, id: &'a str) -> BoxFuture<'a, EngineResult<String>> {
        Box::pin(async move {
            let opts = q::LogsOptionsBuilder::new()
                .stdout(true)
                .stderr(true)
                .build();
            let chunks: Vec<_> = self
                .docker
                .logs(id, Some(opts))
                .try_collect()
                .await
                .map_err(text)?;
            let mut out = Vec::new();
            for c in chunks {
                out.extend_from_slice(&c.into_bytes());
            }
            Ok(String::from_utf8_lossy(&out).into_owned())
        })
    }

    fn published<'a>(
        &'a self,
        id: &'a str,
        port: &'a str,
    ) -> BoxFuture<'a, EngineResult<Option<u16>>> {
        Box::pin(async move {
            let c = self
                .docker
                .inspect_container(id, None::<q::InspectContainerOptions>)
                .await
                .map_err(text)?;
            Ok(c.network_settings
                .and_then(|n| n.ports)
                .and_then(|mut p| p.remove(port))
                .flatten()
                .into_iter()
                .flatten()
                .find_map(|b| b.host_port.and_then(|p| p.parse().ok())))
        })
    }

    fn labelled<'a>(&'a self, label: &'a str) -> BoxFuture<'a, EngineResult<Vec<String>>> {
        Box::pin(async move {
            let found = self.list_labelled(label).await?;
            Ok(found.into_iter().filter_map(|c| c.id).collect())
        })
    }

    fn events(&self, label: &str) -> BoxStream<'static, EngineResult<Event>> {
        let filters = HashMap::from([
            ("label".to_string(), vec![label.to_string()]),
            ("type".to_string(), vec!["container".to_string()]),
        ]);
        let opts = q::EventsOptionsBuilder::new().filters(&filters).build();
        self.docker
            .events(Some(opts))
            .map(|r| {
                let m = r.map_err(text)?;
                let actor = m.actor.unwrap_or_default();
                let attributes = actor.attributes.unwrap_or_default();
                Ok(Event {
                    container: actor.id.unwrap_or_default(),
                    action: m.action.unwrap_or_default(),
                    exit_code: attributes.get("exitCode").and_then(|c| c.parse().ok()),
                })
            })
            .boxed()
    }

    fn build<'a>(
        &'a self,
        context: Vec<u8>,
        dockerfile: &'a str,
        tag: &'a str,
        args: &'a [(String, String)],
    ) -> BoxFuture<'a, Result<String, (String, String)>> {
        Box::pin(async move {
            let args: HashMap<String, String> = args.iter().cloned().collect();
            // The legacy builder: it uses the base images loaded beforehand and never pulls.
            let opts = q::BuildImageOptionsBuilder::new()
                .dockerfile(dockerfile)
                .t(tag)
                .rm(true)
                .forcerm(true)
                .buildargs(&args)
                .build();
            let mut out = String::new();
            let mut s =
                self.docker
                    .build_image(opts, None, Some(bollard::body_full(context.into())));
            while let Some(r) = s.next().await {
                let info = match r {
                    Ok(info) => info,
                    Err(bollard::errors::Error::DockerStreamError { error }) => {
                        return Err((out, error));
                    }
                    Err(e) => return Err((out, text(e))),
                };
                if let Some(line) = info.stream {
                    out.push_str(&line);
                }
                if let Some(e) = info.error_detail.and_then(|d| d.message) {
                    return Err((out, e));
                }
            }
            Ok(out)
        })
    }

    fn save<'a>(&'a self, image: &'a str) -> BoxFuture<'a, EngineResult<Vec<u8>>> {
        Box::pin(async move {
            let chunks: Vec<_> = self
                .docker
                .export_image(image)
                .try_collect()
                .await
                .map_err(text)?;
            Ok(chunks.concat())
        })
    }

    fn run_to_end<'a>(
        &'a self,
        name: &'a str,
        image: &'a str,
        args: &'a [String],
        labels: HashMap<String, String>,
    ) -> BoxFuture<'a, EngineResult<(i64, String)>> {
        Box::pin(async move {
            let body = ContainerCreateBody {
                image: Some(image.to_string()),
                cmd: (!args.is_empty()).then(|| args.to_vec()),
                labels: Some(labels),
                ..Default::default()
            };
            let opts = q::CreateContainerOptionsBuilder::new().name(name).build();
            let id = self
                .docker
                .create_container(Some(opts), body)
                .await
                .map_err(text)?
                .id;
            let ran = async {
                self.start(&id).await?;
                let mut waited = self
                    .docker
                    .wait_container(&id, None::<q::WaitContainerOptions>);
                let code = match waited.next().await {
                    Some(Ok(r)) => r.status_code,
                    Some(Err(bollard::errors::Error::DockerContainerWaitError {
                        code, ..
                    })) => code,
                    Some(Err(e)) => return Err(text(e)),
                    None => return Err("the engine did not say how the container ended".into()),
                };
                Ok((code, self.logs(&id).await?))
            }
            .await;
            let _ = self.remove(&id).await;
            ran
        })
    }

    fn remove_image<'a>(&'a self, image: &'a str) -> BoxFuture<'a, EngineResult<()>> {
        Box::pin(async move {
            let id = match self.docker.inspect_image(image).await {
                Ok(i) => i.id.unwrap_or_default(),
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => return Ok(()),
                Err(e) => return Err(text(e)),
            };
            // The untagged images built on it (a failed build's steps), the
            // newest first: they would keep it.
            let all = self
                .docker
                .list_images(Some(q::ListImagesOptionsBuilder::new().all(true).build()))
                .await
                .map_err(text)?;
            let untagged = |i: &bollard::models::ImageSummary| {
                i.repo_tags.iter().all(|t| t == "<none>:<none>")
            };
            let mut family = vec![id];
            let mut grown = true;
            while grown {
                grown = false;
                for i in &all {
                    if untagged(i) && family.contains(&i.parent_id) && !family.contains(&i.id) {
                        family.push(i.id.clone());
                        grown = true;
                    }
                }
            }
            let doomed = family.split_off(1);
            let opts = q::RemoveImageOptionsBuilder::new().force(true).build();
            for name in doomed.iter().rev().map(String::as_str).chain([image]) {
                match self
                    .docker
                    .remove_image(name, Some(opts.clone()), None)
                    .await
                {
                    Err(bollard::errors::Error::DockerResponseServerError {
                        status_code: 404,
                        ..
                    })
                    | Ok(_) => {}
                    Err(e) => return Err(text(e)),
                }
            }
            Ok(())
        })
    }

    fn gateway(&self) -> BoxFuture<'_, EngineResult<Option<std::net::IpAddr>>> {
        Box::pin(async move {
            // Containers are created on the engine's default network.
            let n = self
                .docker
                .inspect_network("bridge", None::<q::InspectNetworkOptions>)
                .await
                .map_err(text)?;
            Ok(n.ipam
                .and_then(|i| i.config)
                .into_iter()
                .flatten()
                .find_map(|c| c.gateway.and_then(|g| g.parse().ok())))
        })
    }

    fn labels_at<'a>(
        &'a self,
        label: &'a str,
        ip: std::net::IpAddr,
    ) -> BoxFuture<'a, EngineResult<Option<HashMap<String, String>>>> {
        Box::pin(async move {
            // Not only those listed as running: a container's first request can
            // come before the engine has recorded it as started. One that has
            // ended holds no address.
            let found = self.list_labelled(label).await?;
            let at = |c: &bollard::models::ContainerSummary| {
                c.network_settings
                    .as_ref()
                    .and_then(|n| n.networks.as_ref())
                    .into_iter()
                    .flat_map(|n| n.values())
                    .any(|e| e.ip_address.as_deref().and_then(|a| a.parse().ok()) == Some(ip))
            };
            Ok(found.into_iter().find(at).and_then(|c| c.labels))
        })
    }

    fn exec<'a>(
        &'a self,
        id: &'a str,
        command: &'a [String],
        rows: u16,
        cols: u16,
    ) -> BoxFuture<'a, EngineResult<Attached>> {
        use bollard::exec::{
            CreateExecOptions, ResizeExecOptions, StartExecOptions, StartExecResults,
        };
        Box::pin(async move {
            let made = self
                .docker
                .create_exec(
                    id,
                    CreateExecOptions {
                        attach_stdin: Some(true),
                        attach_stdout: Some(true),
                        attach_stderr: Some(true),
                        tty: Some(true),
                        cmd: Some(command.to_vec()),
                        ..Default::default()
                    },
                )
                .await
                .map_err(text)?;
            let started = self
                .docker
                .start_exec(
                    &made.id,
                    Some(StartExecOptions {
                        detach: false,
                        tty: true,
                        output_capacity: None,
                    }),
                )
                .await
                .map_err(text)?;
            let StartExecResults::Attached { output, input } = started else {
                return Err("the engine started the command detached".into());
            };
            // The terminal's size, once the process has it (a failure leaves 80x24).
            let size = ResizeExecOptions {
                height: rows,
                width: cols,
            };
            if let Err(e) = self.docker.resize_exec(&made.id, size).await {
                tracing::debug!("the engine did not resize the terminal: {e}");
            }
            Ok(Attached {
                output: output
                    .map(|r| r.map(|o| o.into_bytes()).map_err(text))
                    .boxed(),
                input,
            })
        })
    }

    fn follow(&self, id: &str) -> BoxStream<'static, EngineResult<bytes::Bytes>> {
        let opts = q::LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .follow(true)
            .build();
        self.docker
            .logs(id, Some(opts))
            .map(|r| r.map(|o| o.into_bytes()).map_err(text))
            .boxed()
    }
}
