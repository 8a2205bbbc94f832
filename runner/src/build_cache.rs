//! Where the programs `scripts/install-deps` builds live: a cache outside the
//! repository, `${SPLITBRAIN_CACHE:-$HOME/.cache/splitbrain}`, laid out as
//! `scripts/build-kubernetes` and `scripts/build-plugins` write it.

use crate::RunError;
use crate::kube_control_plane::KUBERNETES_VERSION;
use std::path::PathBuf;

/// The cache's root folder.
pub fn cache_root() -> PathBuf {
    std::env::var_os("SPLITBRAIN_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/splitbrain")))
        .unwrap_or_else(|| PathBuf::from("/root/.cache/splitbrain"))
}

/// The folder holding the built kube-apiserver and kubectl:
/// `<cache>/kubernetes/<version>/bin`.
pub fn kubernetes_bin_dir() -> PathBuf {
    cache_root()
        .join("kubernetes")
        .join(KUBERNETES_VERSION)
        .join("bin")
}

/// The folder holding the built Go plug-ins: `<cache>/plugins/bin`.
pub fn plugins_bin_dir() -> PathBuf {
    cache_root().join("plugins").join("bin")
}

/// A built program at `path`, or the error saying which script builds it.
pub fn require_built(path: PathBuf, script: &'static str) -> Result<PathBuf, RunError> {
    if path.is_file() {
        return Ok(path);
    }
    let program = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Err(RunError::MissingBuild {
        program,
        path,
        script,
    })
}
