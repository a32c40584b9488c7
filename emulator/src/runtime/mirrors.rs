//! The local mirror of git repositories (`--task-context-dir`): azemu is
//! offline, so git build contexts of task runs and `gitRepo` volumes of
//! container groups are read from `<root>/<host>/<org>/<repo>[@<branch>]`.

use std::path::{Path, PathBuf};

/// The mirror directory of a git URL (`https://host/org/repo.git#branch[:subdir]`) under `root`:
/// `<root>/<host>/<org>/<repo>[@<branch>]`, with or without `.git`.
pub fn dir_of(root: &Path, url: &str) -> Option<PathBuf> {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let (repo, fragment) = rest.split_once('#').unwrap_or((rest, ""));
    let (branch, subdir) = fragment.split_once(':').unwrap_or((fragment, ""));
    let repo = repo.trim_end_matches('/');
    if repo.split('/').any(|seg| seg == ".." || seg.is_empty()) {
        return None;
    }
    let bare = repo.trim_end_matches(".git");
    let mut candidates = Vec::new();
    for r in [repo, bare] {
        if !branch.is_empty() {
            candidates.push(root.join(format!("{r}@{branch}")));
        }
        candidates.push(root.join(r));
    }
    let dir = candidates.into_iter().find(|d| d.is_dir())?;
    let dir = if subdir.is_empty() || subdir.split('/').any(|s| s == "..") {
        dir
    } else {
        dir.join(subdir)
    };
    dir.is_dir().then_some(dir)
}
