//! A container group's volumes, made on this machine and bind-mounted into its
//! containers by the engine: `emptyDir` (an empty directory the group's
//! containers share), `secret` (its files, decoded from base64), `gitRepo`
//! (copied from the local mirror of git repositories that task runs use:
//! azemu is offline). `azureFile` is out of scope: an empty directory is
//! mounted, and the container's events say so.

use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    EmptyDir,
    /// File name → contents.
    Secret(Vec<(String, Vec<u8>)>),
    GitRepo {
        repository: String,
        directory: Option<String>,
        revision: Option<String>,
    },
    /// Azure Files: not mounted by azemu.
    AzureFile,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Volume {
    pub name: String,
    pub source: Source,
}

/// Where a container mounts a volume.
#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    pub volume: String,
    pub path: String,
    pub read_only: bool,
}

/// A group's `properties.volumes`, as stored (secret values included).
pub fn of_group(props: &Value) -> Vec<Volume> {
    let base64 = |v: &Value| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .unwrap_or_default()
    };
    let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    props["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| {
            let source = if let Some(files) = v["secret"].as_object() {
                Source::Secret(files.iter().map(|(k, b)| (k.clone(), base64(b))).collect())
            } else if v["gitRepo"].is_object() {
                let g = &v["gitRepo"];
                Source::GitRepo {
                    repository: text(&g["repository"])?,
                    directory: text(&g["directory"]),
                    revision: text(&g["revision"]),
                }
            } else if v["azureFile"].is_object() {
                Source::AzureFile
            } else {
                Source::EmptyDir
            };
            Some(Volume {
                name: v["name"].as_str()?.to_string(),
                source,
            })
        })
        .collect()
}

/// A container's `properties.volumeMounts`.
pub fn mounts_of(container_props: &Value) -> Vec<Mount> {
    container_props["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| {
            Some(Mount {
                volume: m["name"].as_str()?.to_string(),
                path: m["mountPath"].as_str()?.to_string(),
                read_only: m["readOnly"] == true,
            })
        })
        .collect()
}

/// A name that stays inside its directory: no separators, not `.` or `..`.
fn plain(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

/// Make each volume under `dir` (emptied first): its host directory, or why it
/// cannot be made. `mirrors`: the root of the local git mirrors (`--task-context-dir`).
pub fn make(
    dir: &Path,
    volumes: &[Volume],
    mirrors: Option<&Path>,
) -> HashMap<String, Result<PathBuf, String>> {
    let _ = std::fs::remove_dir_all(dir);
    volumes
        .iter()
        .map(|v| (v.name.clone(), make_one(dir, v, mirrors)))
        .collect()
}

fn make_one(dir: &Path, v: &Volume, mirrors: Option<&Path>) -> Result<PathBuf, String> {
    if !plain(&v.name) {
        return Err(format!("volume name '{}' is not a plain name", v.name));
    }
    let at = dir.join(&v.name);
    std::fs::create_dir_all(&at).map_err(|e| format!("volume '{}': {e}", v.name))?;
    match &v.source {
        Source::EmptyDir | Source::AzureFile => {}
        Source::Secret(files) => {
            for (name, bytes) in files {
                if !plain(name) {
                    return Err(format!(
                        "secret volume '{}': file name '{name}' is not a plain name",
                        v.name
                    ));
                }
                std::fs::write(at.join(name), bytes)
                    .map_err(|e| format!("secret volume '{}': {e}", v.name))?;
            }
        }
        Source::GitRepo {
            repository,
            directory,
            revision,
        } => {
            let url = match revision {
                Some(r) => format!("{repository}#{r}"),
                None => repository.clone(),
            };
            let from = mirrors.and_then(|root| super::mirrors::dir_of(root, &url)).ok_or_else(|| {
                format!(
                    "gitRepo volume '{}': azemu is offline and has no local mirror of {url} (--task-context-dir <dir>/<host>/<org>/<repo>[@<revision>])",
                    v.name
                )
            })?;
            // ACI: "." is the volume itself; otherwise a subdirectory, by default the repository's name.
            let sub = match directory.as_deref() {
                Some(".") => None,
                Some(d) if d.split('/').all(plain) => Some(d.to_string()),
                Some(d) => {
                    return Err(format!(
                        "gitRepo volume '{}': directory '{d}' must not contain '..'",
                        v.name
                    ));
                }
                None => Some(
                    repository
                        .trim_end_matches('/')
                        .rsplit('/')
                        .next()
                        .unwrap_or("repo")
                        .trim_end_matches(".git")
                        .to_string(),
                ),
            };
            let to = sub.map_or(at.clone(), |s| at.join(s));
            copy_tree(&from, &to).map_err(|e| format!("gitRepo volume '{}': {e}", v.name))?;
        }
    }
    Ok(at)
}

/// Copy the regular files and directories under `from` into `to` (symbolic links are not followed).
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let kind = e.file_type()?;
        if kind.is_dir() {
            copy_tree(&e.path(), &to.join(e.file_name()))?;
        } else if kind.is_file() {
            std::fs::copy(e.path(), to.join(e.file_name()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A scratch directory, removed at the end.
    struct Root(PathBuf);
    impl Drop for Root {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn volumes_are_made_and_names_stay_inside() {
        let root = std::env::temp_dir().join(format!("azemu-volumes-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let root = Root(root);
        let mirror = root.0.as_path().join("mirrors/github.com/org/site");
        std::fs::create_dir_all(mirror.join("docs")).unwrap();
        std::fs::write(mirror.join("docs/index.html"), "hello").unwrap();
        let props = json!({"volumes": [
            {"name": "scratch", "emptyDir": {}},
            {"name": "keys", "secret": {"token": "c2VjcmV0"}},
            {"name": "site", "gitRepo": {"repository": "https://github.com/org/site.git"}},
            {"name": "here", "gitRepo": {"repository": "https://github.com/org/site", "directory": "."}},
            {"name": "missing", "gitRepo": {"repository": "https://github.com/org/none"}},
            {"name": "bad", "secret": {"../escape": "eA=="}},
            {"name": "share", "azureFile": {"shareName": "s", "storageAccountName": "a"}},
        ]});
        let vols = of_group(&props);
        assert_eq!(
            vols[1].source,
            Source::Secret(vec![("token".into(), b"secret".to_vec())])
        );
        let made = make(
            &root.0.as_path().join("v"),
            &vols,
            Some(&root.0.as_path().join("mirrors")),
        );
        let path = |n: &str| made[n].as_ref().unwrap().clone();
        assert_eq!(std::fs::read_dir(path("scratch")).unwrap().count(), 0);
        assert_eq!(
            std::fs::read(path("keys").join("token")).unwrap(),
            b"secret"
        );
        assert_eq!(
            std::fs::read_to_string(path("site").join("site/docs/index.html")).unwrap(),
            "hello"
        );
        assert_eq!(
            std::fs::read_to_string(path("here").join("docs/index.html")).unwrap(),
            "hello"
        );
        assert!(
            made["missing"]
                .as_ref()
                .unwrap_err()
                .contains("no local mirror of https://github.com/org/none")
        );
        assert!(
            made["bad"]
                .as_ref()
                .unwrap_err()
                .contains("is not a plain name")
        );
        assert!(!root.0.as_path().join("v/escape").exists());
        assert_eq!(std::fs::read_dir(path("share")).unwrap().count(), 0);
        let mounts = mounts_of(
            &json!({"volumeMounts": [{"name": "keys", "mountPath": "/keys", "readOnly": true}]}),
        );
        assert_eq!(
            mounts,
            [Mount {
                volume: "keys".into(),
                path: "/keys".into(),
                read_only: true
            }]
        );
    }
}
