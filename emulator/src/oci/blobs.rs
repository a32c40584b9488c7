//! Content-addressed blob storage shared by every repository and registry.
//!
//! On disk (the default): `<dir>/blobs/sha256/<2 hex>/<64 hex>`. Uploads
//! stream into `<dir>/uploads/<uuid>`; committing one hashes it, compares the
//! digest the client claimed, and renames it into place atomically. Two
//! clients pushing the same blob at once both succeed and one file remains,
//! intact. In memory (`--blob-store memory`): the same rules over maps.

use dashmap::DashMap;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Memory mode's state: digest → bytes, and upload id → bytes so far.
type Memory = (DashMap<String, bytes::Bytes>, DashMap<String, Vec<u8>>);

pub struct BlobStore {
    root: PathBuf,
    /// `Some` in memory mode.
    memory: Option<Memory>,
}

/// A `sha256:<64 lowercase hex>` digest.
pub fn parse_digest(s: &str) -> Option<&str> {
    let hex = s.strip_prefix("sha256:")?;
    (hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    .then_some(hex)
}

pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub enum CommitError {
    /// The content does not hash to the claimed digest; nothing was stored.
    Mismatch {
        actual: String,
    },
    Io(std::io::Error),
}

impl BlobStore {
    pub fn open(root: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(root.join("blobs/sha256"))?;
        std::fs::create_dir_all(root.join("uploads"))?;
        Ok(BlobStore { root, memory: None })
    }

    pub fn in_memory() -> Self {
        BlobStore {
            root: PathBuf::new(),
            memory: Some((DashMap::new(), DashMap::new())),
        }
    }

    pub fn is_memory(&self) -> bool {
        self.memory.is_some()
    }

    /// Open an upload session's buffer.
    pub fn begin_upload(&self, id: &str) -> std::io::Result<()> {
        match &self.memory {
            Some((_, uploads)) => {
                uploads.insert(id.to_string(), Vec::new());
                Ok(())
            }
            None => std::fs::File::create(self.upload_path(id)).map(|_| ()),
        }
    }

    /// Bytes received so far.
    pub fn upload_len(&self, id: &str) -> u64 {
        match &self.memory {
            Some((_, uploads)) => uploads.get(id).map(|u| u.len() as u64).unwrap_or(0),
            None => std::fs::metadata(self.upload_path(id))
                .map(|m| m.len())
                .unwrap_or(0),
        }
    }

    /// In memory mode, append to an upload (disk mode streams to [`Self::upload_path`] instead).
    pub fn append_memory(&self, id: &str, data: &[u8]) {
        if let Some((_, uploads)) = &self.memory {
            uploads
                .entry(id.to_string())
                .or_default()
                .extend_from_slice(data);
        }
    }

    pub fn cancel_upload(&self, id: &str) {
        match &self.memory {
            Some((_, uploads)) => {
                uploads.remove(id);
            }
            None => {
                let _ = std::fs::remove_file(self.upload_path(id));
            }
        }
    }

    /// Verify and store an upload; the session's bytes are gone afterwards either way.
    pub fn commit_upload(&self, id: &str, digest: &str) -> Result<u64, CommitError> {
        let Some((blobs, uploads)) = &self.memory else {
            return self.commit_file(&self.upload_path(id), digest);
        };
        let data = uploads.remove(id).map(|(_, v)| v).unwrap_or_default();
        let actual = digest_of(&data);
        if actual != digest {
            return Err(CommitError::Mismatch { actual });
        }
        let size = data.len() as u64;
        blobs
            .entry(digest.to_string())
            .or_insert_with(|| bytes::Bytes::from(data));
        Ok(size)
    }

    /// A blob's bytes in memory mode (disk mode streams from [`Self::path`]).
    pub fn memory_bytes(&self, digest: &str) -> Option<bytes::Bytes> {
        self.memory
            .as_ref()
            .and_then(|(blobs, _)| blobs.get(digest).map(|b| b.clone()))
    }

    /// Where a blob lives (`None` for a malformed digest).
    pub fn path(&self, digest: &str) -> Option<PathBuf> {
        let hex = parse_digest(digest)?;
        Some(self.root.join("blobs/sha256").join(&hex[..2]).join(hex))
    }

    pub fn size(&self, digest: &str) -> Option<u64> {
        if let Some((blobs, _)) = &self.memory {
            return blobs.get(digest).map(|b| b.len() as u64);
        }
        std::fs::metadata(self.path(digest)?).ok().map(|m| m.len())
    }

    /// Remove blob files whose digest is not in `keep`, and upload files whose
    /// name is not in `sessions` (temp files a crash left behind). Only when
    /// nothing is writing: at start, before serving. Returns (files, bytes) removed.
    pub fn sweep(
        &self,
        keep: &std::collections::BTreeSet<String>,
        sessions: &std::collections::BTreeSet<String>,
    ) -> std::io::Result<(usize, u64)> {
        if self.memory.is_some() {
            return Ok((0, 0));
        }
        let (mut files, mut bytes) = (0, 0);
        let mut remove = |path: &Path| -> std::io::Result<()> {
            bytes += std::fs::metadata(path)?.len();
            std::fs::remove_file(path)?;
            files += 1;
            Ok(())
        };
        for shard in std::fs::read_dir(self.root.join("blobs/sha256"))? {
            let shard = shard?.path();
            if !shard.is_dir() {
                continue;
            }
            for f in std::fs::read_dir(&shard)? {
                let f = f?.path();
                let name = f.file_name().unwrap_or_default().to_string_lossy();
                if !keep.contains(&format!("sha256:{name}")) {
                    remove(&f)?;
                }
            }
        }
        for f in std::fs::read_dir(self.root.join("uploads"))? {
            let f = f?.path();
            let name = f.file_name().unwrap_or_default().to_string_lossy();
            if !sessions.contains(name.as_ref()) {
                remove(&f)?;
            }
        }
        Ok((files, bytes))
    }

    pub fn upload_path(&self, uuid: &str) -> PathBuf {
        self.root.join("uploads").join(uuid)
    }

    /// Store bytes already in memory (manifests); returns the digest.
    pub fn put(&self, bytes: &[u8]) -> std::io::Result<String> {
        let digest = digest_of(bytes);
        if let Some((blobs, _)) = &self.memory {
            blobs
                .entry(digest.clone())
                .or_insert_with(|| bytes::Bytes::copy_from_slice(bytes));
            return Ok(digest);
        }
        if self.size(&digest).is_some() {
            // Content-addressed: already stored (the sample image at every start, re-pushed manifests).
            return Ok(digest);
        }
        let tmp = self.upload_path(&uuid::Uuid::new_v4().to_string());
        std::fs::write(&tmp, bytes)?;
        match self.commit_file(&tmp, &digest) {
            Ok(_) => Ok(digest),
            Err(CommitError::Io(e)) => Err(e),
            Err(CommitError::Mismatch { .. }) => {
                Err(std::io::Error::other("hash changed while writing"))
            }
        }
    }

    pub fn read(&self, digest: &str) -> std::io::Result<Vec<u8>> {
        if self.memory.is_some() {
            return self
                .memory_bytes(digest)
                .map(|b| b.to_vec())
                .ok_or_else(|| std::io::Error::other("blob not found"));
        }
        std::fs::read(
            self.path(digest)
                .ok_or_else(|| std::io::Error::other("bad digest"))?,
        )
    }

    /// Hash `file`, check it against `digest`, and move it into place. The
    /// temp file is removed whatever happens.
    pub fn commit_file(&self, file: &Path, digest: &str) -> Result<u64, CommitError> {
        let result = self.commit_inner(file, digest);
        let _ = std::fs::remove_file(file);
        result
    }

    fn commit_inner(&self, file: &Path, digest: &str) -> Result<u64, CommitError> {
        let mut f = std::fs::File::open(file).map_err(CommitError::Io)?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut size = 0u64;
        loop {
            let n = f.read(&mut buf).map_err(CommitError::Io)?;
            if n == 0 {
                break;
            }
            size += n as u64;
            h.update(&buf[..n]);
        }
        let actual = format!("sha256:{}", hex(&h.finalize()));
        if actual != digest {
            return Err(CommitError::Mismatch { actual });
        }
        let dest = self.path(digest).ok_or(CommitError::Mismatch {
            actual: actual.clone(),
        })?;
        if dest.exists() {
            return Ok(size);
        }
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(CommitError::Io)?;
        }
        f.sync_all().map_err(CommitError::Io)?;
        // An atomic rename of the verified upload: a concurrent commit of the
        // same content just replaces equal bytes, and readers never see a partial file.
        std::fs::rename(file, &dest).map_err(CommitError::Io)?;
        Ok(size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests() {
        assert!(parse_digest(&digest_of(b"x")).is_some());
        assert!(parse_digest("sha256:ABC").is_none());
        assert!(parse_digest("sha512:00").is_none());
        assert!(
            parse_digest("sha256:../../../../etc/passwd0000000000000000000000000000000000000")
                .is_none()
        );
    }
}
