//! Content-addressed blob storage shared by every repository and registry.
//!
//! On disk (the default): `<dir>/blobs/<algorithm>/<2 hex>/<hex>` (sha256, or
//! sha512 for content a client addressed that way). Uploads
//! stream into `<dir>/uploads/<uuid>`; committing one compares the digest of
//! what came with the digest the client claimed, and renames the file into
//! place atomically. Two clients pushing the same blob at once both succeed
//! and one file remains, intact. In memory (`--blob-store memory`): the same
//! rules over maps.
//!
//! ## The running digest
//!
//! An upload is hashed as its bytes arrive, not read back at the end: each
//! session open in this process keeps a [`Running`] digest of what it holds
//! (in [`BlobStore::session`]), and [`Appending::write`] adds to the bytes and
//! the digest together. A session whose running digest is not known — one
//! started before a restart (its row outlives the process, its digest does
//! not), one whose last write failed halfway, or one committed under another
//! algorithm than the one hashed (a sha512 upload whose client did not say
//! `digest-algorithm=sha512` when it began) — falls back to hashing its bytes
//! once, at commit. The digest check itself is the same either way.
//!
//! All of this is synchronous file work: callers on the async runtime run it
//! in `spawn_blocking` (see [`crate::oci::routes`]).

use dashmap::DashMap;
use sha2::{Digest, Sha256, Sha512};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Memory mode's state: digest → bytes, and upload id → bytes so far.
type Memory = (DashMap<String, bytes::Bytes>, DashMap<String, Vec<u8>>);

/// One upload session's hold in this process: whoever holds the lock may
/// append to it or commit it (tokio's Mutex: held across a request's body).
/// `None` inside: the running digest is not known (see the module docs).
pub type Session = Arc<tokio::sync::Mutex<Option<Running>>>;

/// The lock on a [`Session`], held while a request appends to it or commits it.
pub type SessionGuard = tokio::sync::OwnedMutexGuard<Option<Running>>;

pub struct BlobStore {
    root: PathBuf,
    /// `Some` in memory mode.
    memory: Option<Memory>,
    /// Upload id → its session (running digest) in this process. An entry is
    /// made when a session starts or is first used, and goes with the
    /// session (commit, cancel, purge).
    sessions: DashMap<String, Session>,
}

/// A digest of an algorithm we know, `<algorithm>:<lowercase hex>` of the
/// algorithm's length (`sha256:<64>`, `sha512:<128>`): its hex.
pub fn parse_digest(s: &str) -> Option<&str> {
    let (algorithm, hex) = s.split_once(':')?;
    let algorithm = Algorithm::named(algorithm)?;
    (hex.len() == algorithm.hex_len()
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    .then_some(hex)
}

/// Does a manifest reference name a digest (of any algorithm, known or not)
/// rather than a tag? Tags cannot hold a `:`.
pub fn is_digest(reference: &str) -> bool {
    reference.contains(':')
}

/// The sha256 digest of `bytes` (the registry's canonical algorithm).
pub fn digest_of(bytes: &[u8]) -> String {
    digest_with(Algorithm::Sha256, bytes)
}

/// The digest of `bytes` under `algorithm`.
pub fn digest_with(algorithm: Algorithm, bytes: &[u8]) -> String {
    let mut h = Hasher::new(algorithm);
    h.update(bytes);
    h.finish()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A digest algorithm content is addressed by: the prefix of `<algorithm>:<hex>`.
/// The distribution spec's two: sha256 (canonical) and sha512.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    /// What uploads are hashed with while they stream, unless the client
    /// names another (`?digest-algorithm=`, or a monolithic `?digest=`).
    pub const STREAMED: Algorithm = Algorithm::Sha256;

    /// Every algorithm, canonical first.
    pub const ALL: [Algorithm; 2] = [Algorithm::Sha256, Algorithm::Sha512];

    /// The algorithm a digest names, if it is one we know.
    pub fn of(digest: &str) -> Option<Algorithm> {
        Algorithm::named(digest.split_once(':')?.0)
    }

    /// The algorithm called `name` (`sha256`, `sha512`), if we know it.
    pub fn named(name: &str) -> Option<Algorithm> {
        match name {
            "sha256" => Some(Algorithm::Sha256),
            "sha512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// Length of the hex part of its digests.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

/// A digest being computed.
#[derive(Clone)]
pub enum Hasher {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Hasher {
    pub fn new(a: Algorithm) -> Hasher {
        match a {
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(Sha512::new()),
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        match self {
            Hasher::Sha256(_) => Algorithm::Sha256,
            Hasher::Sha512(_) => Algorithm::Sha512,
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    /// `<algorithm>:<lowercase hex>`.
    pub fn finish(self) -> String {
        match self {
            Hasher::Sha256(h) => format!("sha256:{}", hex(&h.finalize())),
            Hasher::Sha512(h) => format!("sha512:{}", hex(&h.finalize())),
        }
    }
}

/// The digest of an upload's bytes so far, and how many there are.
#[derive(Clone)]
pub struct Running {
    hasher: Hasher,
    len: u64,
}

impl Running {
    pub fn new() -> Running {
        Running::with(Algorithm::STREAMED)
    }

    /// An empty running digest under `algorithm`.
    pub fn with(algorithm: Algorithm) -> Running {
        Running {
            hasher: Hasher::new(algorithm),
            len: 0,
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Default for Running {
    fn default() -> Self {
        Running::new()
    }
}

/// Where an open upload's bytes go.
enum Sink {
    File(std::fs::File),
    Memory,
}

/// An upload session open for appending, its lock held: bytes written here
/// go to the upload and its running digest together.
pub struct Appending {
    id: String,
    sink: Sink,
    session: SessionGuard,
}

impl Appending {
    /// The upload session's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The running digest, when known (the session's bytes are hashed at commit otherwise).
    pub fn running(&self) -> Option<&Running> {
        self.session.as_ref()
    }

    /// Append `data` to the upload and its digest. If the write fails, part
    /// of `data` may be in the upload: the running digest is dropped, and the
    /// bytes are hashed at commit.
    pub fn write(&mut self, blobs: &BlobStore, data: &[u8]) -> std::io::Result<()> {
        let written = match &mut self.sink {
            Sink::File(f) => f.write_all(data),
            Sink::Memory => {
                blobs.append_memory(&self.id, data);
                Ok(())
            }
        };
        match (&written, self.session.as_mut()) {
            (Ok(()), Some(r)) => {
                r.hasher.update(data);
                r.len += data.len() as u64;
            }
            (Err(_), _) => *self.session = None,
            (Ok(()), None) => {}
        }
        written
    }

    /// Give the session back (its lock is released); it keeps its running digest.
    pub fn finish(self) -> SessionGuard {
        self.session
    }
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
        for a in Algorithm::ALL {
            std::fs::create_dir_all(root.join("blobs").join(a.name()))?;
        }
        std::fs::create_dir_all(root.join("uploads"))?;
        Ok(BlobStore {
            root,
            memory: None,
            sessions: DashMap::new(),
        })
    }

    pub fn in_memory() -> Self {
        BlobStore {
            root: PathBuf::new(),
            memory: Some((DashMap::new(), DashMap::new())),
            sessions: DashMap::new(),
        }
    }

    pub fn is_memory(&self) -> bool {
        self.memory.is_some()
    }

    /// Open an upload session's buffer, its running digest empty (hashed
    /// under `algorithm`, the one the client said it will commit with).
    pub fn begin_upload(&self, id: &str, algorithm: Algorithm) -> std::io::Result<()> {
        match &self.memory {
            Some((_, uploads)) => {
                uploads.insert(id.to_string(), Vec::new());
            }
            None => {
                std::fs::File::create(self.upload_path(id))?;
            }
        }
        self.sessions.insert(
            id.to_string(),
            Arc::new(tokio::sync::Mutex::new(Some(Running::with(algorithm)))),
        );
        Ok(())
    }

    /// The session `id` in this process, made on first use with no running
    /// digest (a session from before a restart). Lock it to append or commit.
    pub fn session(&self, id: &str) -> Session {
        self.sessions.entry(id.to_string()).or_default().clone()
    }

    /// Forget the session's hold in this process (its bytes stay).
    pub fn forget_session(&self, id: &str) {
        self.sessions.remove(id);
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

    /// Open a locked session for appending; returns it with the bytes it holds.
    /// A running digest that does not account for every byte held is dropped
    /// (the bytes are hashed at commit instead).
    pub fn append_to(
        &self,
        id: &str,
        mut session: SessionGuard,
    ) -> std::io::Result<(Appending, u64)> {
        let sink = match &self.memory {
            Some(_) => Sink::Memory,
            None => Sink::File(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.upload_path(id))?,
            ),
        };
        let held = self.upload_len(id);
        if session.as_ref().is_some_and(|r| r.len != held) {
            *session = None;
        }
        Ok((
            Appending {
                id: id.to_string(),
                sink,
                session,
            },
            held,
        ))
    }

    /// In memory mode, append to an upload (disk mode appends to [`Self::upload_path`]).
    pub fn append_memory(&self, id: &str, data: &[u8]) {
        if let Some((_, uploads)) = &self.memory {
            uploads
                .entry(id.to_string())
                .or_default()
                .extend_from_slice(data);
        }
    }

    /// End a session: its bytes and its running digest go.
    pub fn cancel_upload(&self, id: &str) {
        self.sessions.remove(id);
        match &self.memory {
            Some((_, uploads)) => {
                uploads.remove(id);
            }
            None => {
                let _ = std::fs::remove_file(self.upload_path(id));
            }
        }
    }

    /// Verify and store an upload. The caller holds the session's lock;
    /// `running` is its running digest, if known. The session's bytes are gone
    /// afterwards either way.
    pub fn commit_upload(
        &self,
        id: &str,
        running: Option<&Running>,
        digest: &str,
    ) -> Result<u64, CommitError> {
        self.sessions.remove(id);
        let hashed = running
            .filter(|r| Some(r.hasher.algorithm()) == Algorithm::of(digest))
            .map(|r| (r.hasher.clone().finish(), r.len));
        let Some((blobs, uploads)) = &self.memory else {
            return self.commit_file(&self.upload_path(id), digest, hashed);
        };
        let data = uploads.remove(id).map(|(_, v)| v).unwrap_or_default();
        let actual = match hashed {
            Some((actual, len)) if len == data.len() as u64 => actual,
            _ => digest_with(Algorithm::of(digest).unwrap_or(Algorithm::STREAMED), &data),
        };
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
        let algorithm = Algorithm::of(digest)?;
        Some(
            self.root
                .join("blobs")
                .join(algorithm.name())
                .join(&hex[..2])
                .join(hex),
        )
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
        for a in Algorithm::ALL {
            let dir = self.root.join("blobs").join(a.name());
            if !dir.is_dir() {
                continue;
            }
            for shard in std::fs::read_dir(dir)? {
                let shard = shard?.path();
                if !shard.is_dir() {
                    continue;
                }
                for f in std::fs::read_dir(&shard)? {
                    let f = f?.path();
                    let name = f.file_name().unwrap_or_default().to_string_lossy();
                    if !keep.contains(&format!("{}:{name}", a.name())) {
                        remove(&f)?;
                    }
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

    /// Store bytes already in memory (manifests); returns the (sha256) digest.
    pub fn put(&self, bytes: &[u8]) -> std::io::Result<String> {
        self.put_with(Algorithm::Sha256, bytes)
    }

    /// Store bytes already in memory under `algorithm`'s digest; returns it.
    pub fn put_with(&self, algorithm: Algorithm, bytes: &[u8]) -> std::io::Result<String> {
        let digest = digest_with(algorithm, bytes);
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
        let hashed = Some((digest.clone(), bytes.len() as u64));
        match self.commit_file(&tmp, &digest, hashed) {
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

    /// Check `file` against `digest` and move it into place. `hashed` is
    /// (digest, length) of what was written to it, when known; otherwise the
    /// file is hashed here. The temp file is removed whatever happens.
    fn commit_file(
        &self,
        file: &Path,
        digest: &str,
        hashed: Option<(String, u64)>,
    ) -> Result<u64, CommitError> {
        let result = self.commit_inner(file, digest, hashed);
        let _ = std::fs::remove_file(file);
        result
    }

    fn commit_inner(
        &self,
        file: &Path,
        digest: &str,
        hashed: Option<(String, u64)>,
    ) -> Result<u64, CommitError> {
        let mut f = std::fs::File::open(file).map_err(CommitError::Io)?;
        let on_disk = f.metadata().map_err(CommitError::Io)?.len();
        let (actual, size) = match hashed {
            // The running digest counts every byte the file holds.
            Some((actual, len)) if len == on_disk => (actual, len),
            // Not known (or not for these bytes): one pass over the file.
            _ => hash_file(&mut f, Algorithm::of(digest).unwrap_or(Algorithm::STREAMED))
                .map_err(CommitError::Io)?,
        };
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

/// The digest of a file's bytes under `algorithm`, and their length.
fn hash_file(f: &mut std::fs::File, algorithm: Algorithm) -> std::io::Result<(String, u64)> {
    let mut h = Hasher::new(algorithm);
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        h.update(&buf[..n]);
    }
    Ok((h.finish(), size))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A blob store in a directory of its own, removed afterwards.
    struct OnDisk(PathBuf);

    impl OnDisk {
        fn new() -> OnDisk {
            let root = std::env::temp_dir().join(format!("azemu-blobs-{}", uuid::Uuid::new_v4()));
            OnDisk(root)
        }
        /// The store as a (re)started process opens it.
        fn open(&self) -> BlobStore {
            BlobStore::open(self.0.clone()).unwrap()
        }
    }

    impl Drop for OnDisk {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Lock session `id` and open it, as a request does.
    fn open_session(blobs: &BlobStore, id: &str) -> (Appending, u64) {
        let lock = blobs.session(id).try_lock_owned().unwrap();
        blobs.append_to(id, lock).unwrap()
    }

    /// Append `chunks` to session `id`, one request, and hand the session back.
    fn patch(blobs: &BlobStore, id: &str, chunks: &[&[u8]]) -> SessionGuard {
        let (mut upload, _) = open_session(blobs, id);
        for c in chunks {
            upload.write(blobs, c).unwrap();
        }
        upload.finish()
    }

    const CHUNKS: [&[u8]; 4] = [b"first chunk, ", b"", b"second, ", b"and the last one"];

    fn whole() -> Vec<u8> {
        CHUNKS.concat()
    }

    #[test]
    fn chunks_are_hashed_as_they_come() {
        for blobs in [BlobStore::in_memory(), OnDisk::new().open()] {
            blobs.begin_upload("u", Algorithm::Sha256).unwrap();
            // Two requests (PATCH, PATCH): the digest runs on across them.
            patch(&blobs, "u", &CHUNKS[..2]);
            let session = patch(&blobs, "u", &CHUNKS[2..]);
            let running = session.as_ref().expect("a running digest");
            assert_eq!(running.len(), whole().len() as u64);
            assert_eq!(running.hasher.clone().finish(), digest_of(&whole()));
            let size = blobs
                .commit_upload("u", session.as_ref(), &digest_of(&whole()))
                .ok()
                .unwrap();
            assert_eq!(size, whole().len() as u64);
            assert_eq!(blobs.read(&digest_of(&whole())).unwrap(), whole());
            assert_eq!(blobs.upload_len("u"), 0, "the upload's bytes are gone");
            assert!(blobs.sessions.is_empty(), "and its session");
        }
    }

    #[test]
    fn a_wrong_digest_is_refused_and_nothing_stored() {
        for blobs in [BlobStore::in_memory(), OnDisk::new().open()] {
            blobs.begin_upload("u", Algorithm::Sha256).unwrap();
            let session = patch(&blobs, "u", &CHUNKS);
            let claimed = digest_of(b"something else");
            match blobs.commit_upload("u", session.as_ref(), &claimed) {
                Err(CommitError::Mismatch { actual }) => assert_eq!(actual, digest_of(&whole())),
                _ => panic!("a mismatch"),
            }
            assert!(blobs.size(&claimed).is_none());
            assert!(blobs.size(&digest_of(&whole())).is_none());
            assert_eq!(blobs.upload_len("u"), 0);
        }
    }

    #[test]
    fn after_a_restart_the_bytes_are_hashed_once() {
        let wrong = digest_of(b"nope");
        for (claimed, stored) in [(&wrong, false), (&digest_of(&whole()), true)] {
            let dir = OnDisk::new();
            {
                let before = dir.open();
                before.begin_upload("u", Algorithm::Sha256).unwrap();
                patch(&before, "u", &CHUNKS[..2]);
            }
            // A new process: the session's row and bytes outlived the old one, its digest did not.
            let after = dir.open();
            let (upload, held) = open_session(&after, "u");
            assert_eq!(held, CHUNKS[..2].concat().len() as u64);
            assert!(upload.running().is_none());
            drop(upload);
            let session = patch(&after, "u", &CHUNKS[2..]);
            assert!(session.is_none(), "still not known: hashed at commit");
            match after.commit_upload("u", session.as_ref(), claimed) {
                Ok(size) => {
                    assert!(stored);
                    assert_eq!(size, whole().len() as u64);
                    assert_eq!(after.read(claimed).unwrap(), whole());
                }
                Err(CommitError::Mismatch { actual }) => {
                    assert!(!stored);
                    assert_eq!(actual, digest_of(&whole()));
                    assert!(after.size(&actual).is_none());
                }
                Err(CommitError::Io(e)) => panic!("{e}"),
            }
            assert_eq!(after.upload_len("u"), 0);
        }
    }

    #[test]
    fn a_digest_that_misses_bytes_is_dropped() {
        let dir = OnDisk::new();
        let blobs = dir.open();
        blobs.begin_upload("u", Algorithm::Sha256).unwrap();
        patch(&blobs, "u", &CHUNKS[..1]);
        // Bytes the running digest did not see (as after a write that failed halfway).
        std::fs::OpenOptions::new()
            .append(true)
            .open(blobs.upload_path("u"))
            .and_then(|mut f| f.write_all(&CHUNKS[1..].concat()))
            .unwrap();
        let (upload, held) = open_session(&blobs, "u");
        assert_eq!(held, whole().len() as u64);
        assert!(upload.running().is_none(), "it no longer counts every byte");
        let session = upload.finish();
        assert_eq!(
            blobs
                .commit_upload("u", session.as_ref(), &digest_of(&whole()))
                .ok(),
            Some(whole().len() as u64)
        );
    }

    /// A sha512 upload: hashed as it streams when the session began under
    /// sha512; hashed once at commit when it began under sha256; stored
    /// under `blobs/sha512/`, beside sha256 content.
    #[test]
    fn sha512_uploads() {
        let dir = OnDisk::new();
        let d512 = digest_with(Algorithm::Sha512, &whole());
        for blobs in [BlobStore::in_memory(), dir.open()] {
            for (id, began) in [("a", Algorithm::Sha512), ("b", Algorithm::Sha256)] {
                blobs.begin_upload(id, began).unwrap();
                let session = patch(&blobs, id, &CHUNKS);
                let streamed = session.as_ref().map(|r| r.hasher.clone().finish());
                assert_eq!(
                    streamed.as_deref() == Some(d512.as_str()),
                    began == Algorithm::Sha512
                );
                let wrong = digest_with(Algorithm::Sha512, b"other");
                if began == Algorithm::Sha256 {
                    match blobs.commit_upload(id, session.as_ref(), &wrong) {
                        Err(CommitError::Mismatch { actual }) => assert_eq!(actual, d512),
                        _ => panic!("a mismatch"),
                    }
                    blobs.begin_upload(id, began).unwrap();
                    let session = patch(&blobs, id, &CHUNKS);
                    assert!(blobs.commit_upload(id, session.as_ref(), &d512).is_ok());
                } else {
                    assert!(blobs.commit_upload(id, session.as_ref(), &d512).is_ok());
                }
            }
            assert_eq!(blobs.read(&d512).unwrap(), whole());
            assert_eq!(blobs.size(&d512), Some(whole().len() as u64));
            assert!(
                blobs.size(&digest_of(&whole())).is_none(),
                "not under sha256"
            );
        }
        let path = dir.open().path(&d512).unwrap();
        assert!(path.starts_with(dir.0.join("blobs/sha512")), "{path:?}");
        let kept = std::collections::BTreeSet::from([d512.clone()]);
        dir.open().sweep(&kept, &Default::default()).unwrap();
        assert!(path.exists(), "a sha512 blob that is referenced is kept");
        dir.open()
            .sweep(&Default::default(), &Default::default())
            .unwrap();
        assert!(!path.exists(), "and swept when it is not");
    }

    #[test]
    fn manifests_put_without_a_second_pass() {
        let dir = OnDisk::new();
        let blobs = dir.open();
        let d = blobs.put(b"{}").unwrap();
        assert_eq!(d, digest_of(b"{}"));
        assert_eq!(blobs.read(&d).unwrap(), b"{}");
        assert_eq!(blobs.put(b"{}").unwrap(), d, "content-addressed");
    }

    #[test]
    fn algorithms() {
        assert_eq!(Algorithm::of(&digest_of(b"x")), Some(Algorithm::Sha256));
        assert_eq!(Algorithm::of("sha512:00"), Some(Algorithm::Sha512));
        assert_eq!(Algorithm::of("sha384:00"), None);
        assert_eq!(Algorithm::of("nocolon"), None);
    }

    #[test]
    fn digests() {
        assert!(parse_digest(&digest_of(b"x")).is_some());
        assert!(parse_digest("sha256:ABC").is_none());
        assert!(parse_digest("sha512:00").is_none());
        assert!(parse_digest(&digest_with(Algorithm::Sha512, b"x")).is_some());
        assert!(parse_digest(&format!("sha384:{}", "0".repeat(96))).is_none());
        // The hex must be the algorithm's length.
        assert!(parse_digest(&format!("sha512:{}", "0".repeat(64))).is_none());
        assert!(
            parse_digest("sha256:../../../../etc/passwd0000000000000000000000000000000000000")
                .is_none()
        );
    }
}
