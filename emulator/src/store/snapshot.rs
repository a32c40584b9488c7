//! Snapshots of a whole world: `state.json` (every table's rows, keys
//! sorted, pretty-printed: diffable and deterministic) and, beside it,
//! `blobs/<algorithm>/<hex>` (sha256, or sha512): the registry content and uploaded build contexts the
//! rows refer to, by digest. Exporting, importing into a fresh data dir and
//! exporting again gives byte-identical files.
//!
//! The CA and the token-signing key are not part of a snapshot: they belong
//! to a data dir (tokens issued by one instance are not valid at another).
//!
//! A row that cannot be read (an older version's, or a damaged one) is left
//! out of an export and named in its [`Summary`]; every other row is
//! exported. An import writes every row in one transaction: all of them, or
//! (a row refused, a failure) none.

use super::{Store, tables};
use crate::oci::blobs::{Algorithm, BlobStore, digest_with, parse_digest};
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;
use std::path::Path;

pub const FORMAT: &str = "azemu-state/1";

#[derive(Debug, PartialEq, Eq)]
pub struct Summary {
    pub tables: usize,
    pub rows: usize,
    pub blobs: usize,
    /// Rows left out because they cannot be read, as `table/key`.
    pub unreadable: Vec<String>,
}

/// Every digest the rows refer to: blob links and manifests (`…/{digest}` keys), uploaded sources.
pub fn referenced_blobs(store: &dyn Store) -> anyhow::Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for t in [
        crate::oci::tables::BLOB_LINKS,
        crate::oci::tables::MANIFESTS,
    ] {
        for (k, _) in store.scan(t, "")? {
            if let Some(d) = k.rsplit('/').next().filter(|d| parse_digest(d).is_some()) {
                out.insert(d.to_string());
            }
        }
    }
    for (_, v) in store.scan(tables::ACR_SOURCES, "")? {
        if let Some(d) = v["digest"].as_str().filter(|d| parse_digest(d).is_some()) {
            out.insert(d.to_string());
        }
    }
    Ok(out)
}

/// Write the world in `store` and `blobs` to `dir` (created; must be empty or absent).
/// How far a snapshot's blobs have got: called with (bytes done, bytes in all)
/// after each blob, for a progress display.
pub type Progress<'a> = &'a dyn Fn(u64, u64);

/// No progress display.
pub const QUIET: Progress<'static> = &|_, _| {};

pub fn export(store: &dyn Store, blobs: &BlobStore, dir: &Path) -> anyhow::Result<Summary> {
    export_reporting(store, blobs, dir, QUIET)
}

/// [`export`], reporting its blobs' progress.
pub fn export_reporting(
    store: &dyn Store,
    blobs: &BlobStore,
    dir: &Path,
    progress: Progress,
) -> anyhow::Result<Summary> {
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        anyhow::bail!("{} is not empty", dir.display());
    }
    for a in Algorithm::ALL {
        std::fs::create_dir_all(dir.join("blobs").join(a.name()))?;
    }
    let mut all = Map::new();
    let mut rows = 0;
    let mut unreadable = Vec::new();
    let mut names = store.tables()?;
    // Headers and index entries are the store's own: an import rebuilds them.
    names.retain(|n| !super::index::internal(n));
    for t in &names {
        let mut m = Map::new();
        for (k, v) in store.scan(t, "")? {
            m.insert(k, v);
            rows += 1;
        }
        unreadable.extend(
            store
                .keys(t, "")?
                .into_iter()
                .filter(|k| !m.contains_key(k))
                .map(|k| format!("{t}/{k}")),
        );
        all.insert(t.clone(), Value::Object(m));
    }
    let doc = json!({"format": FORMAT, "tables": all});
    let mut text = serde_json::to_string_pretty(&doc)?;
    text.push('\n');
    std::fs::write(dir.join("state.json"), text)?;
    let digests = referenced_blobs(store)?;
    let total = digests.iter().filter_map(|d| blobs.size(d)).sum();
    let mut done = 0;
    for d in &digests {
        let bytes = blobs.read(d)?;
        done += bytes.len() as u64;
        progress(done, total);
        // referenced_blobs keeps only digests parse_digest accepts: `<known algorithm>:<hex>`.
        let (algorithm, hex) = d.split_once(':').unwrap_or_default();
        std::fs::write(dir.join("blobs").join(algorithm).join(hex), bytes)?;
    }
    Ok(Summary {
        tables: names.len(),
        rows,
        blobs: digests.len(),
        unreadable,
    })
}

/// Restore a snapshot into `store` and `blobs`, which must hold no state yet.
/// Every blob is checked against its digest before anything is written, and
/// the rows are written in one transaction.
pub fn import(store: &dyn Store, blobs: &BlobStore, dir: &Path) -> anyhow::Result<Summary> {
    import_reporting(store, blobs, dir, QUIET)
}

/// [`import`], reporting the progress of checking its blobs.
pub fn import_reporting(
    store: &dyn Store,
    blobs: &BlobStore,
    dir: &Path,
    progress: Progress,
) -> anyhow::Result<Summary> {
    let snap = Snapshot::read_reporting(dir, progress)?;
    store.transaction(|_| {
        if !store.tables()?.is_empty() {
            anyhow::bail!("the data dir already holds state: import into a fresh one");
        }
        snap.write(store, blobs)
    })
}

/// A snapshot read from disk and verified, not yet written anywhere.
pub struct Snapshot {
    tables: Map<String, Value>,
    blobs: Vec<(Algorithm, Vec<u8>)>,
}

impl Snapshot {
    /// Read `dir` (written by [`export`]): its format, its rows, every blob checked against its digest.
    pub fn read(dir: &Path) -> anyhow::Result<Snapshot> {
        Snapshot::read_reporting(dir, QUIET)
    }

    /// [`Snapshot::read`], reporting the progress of checking its blobs.
    pub fn read_reporting(dir: &Path, progress: Progress) -> anyhow::Result<Snapshot> {
        let text = std::fs::read(dir.join("state.json"))
            .map_err(|e| anyhow::anyhow!("reading {}/state.json: {e}", dir.display()))?;
        let doc: Value = serde_json::from_slice(&text)?;
        if doc["format"] != FORMAT {
            anyhow::bail!("not an azemu snapshot (format {})", doc["format"]);
        }
        let mut found = Vec::new();
        for a in Algorithm::ALL {
            let blob_dir = dir.join("blobs").join(a.name());
            if !blob_dir.exists() {
                continue;
            }
            for e in std::fs::read_dir(&blob_dir)? {
                let e = e?;
                found.push((a, e.path(), e.metadata()?.len()));
            }
        }
        let total = found.iter().map(|(_, _, len)| len).sum();
        let (mut files, mut done) = (Vec::new(), 0);
        for (a, path, _) in found {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            let bytes = std::fs::read(&path)?;
            let want = format!("{}:{name}", a.name());
            if digest_with(a, &bytes) != want {
                anyhow::bail!("blob {want} does not match its content");
            }
            done += bytes.len() as u64;
            progress(done, total);
            files.push((a, bytes));
        }
        Ok(Snapshot {
            tables: doc["tables"].as_object().cloned().unwrap_or_default(),
            blobs: files,
        })
    }

    /// Put its blobs, then its rows (call it inside a transaction: a row the
    /// store refuses then leaves nothing written).
    pub fn write(&self, store: &dyn Store, blobs: &BlobStore) -> anyhow::Result<Summary> {
        for (a, b) in &self.blobs {
            blobs.put_with(*a, b)?;
        }
        let mut rows = 0;
        for (t, m) in &self.tables {
            for (k, v) in m.as_object().into_iter().flatten() {
                store.put(t, k, v.clone())?;
                rows += 1;
            }
        }
        Ok(Summary {
            tables: self.tables.len(),
            rows,
            blobs: self.blobs.len(),
            unreadable: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{MemoryStore, Rows};

    #[test]
    fn round_trip_is_byte_identical() {
        let root =
            std::env::temp_dir().join(format!("azemu-snap-{}", uuid::Uuid::new_v4().simple()));
        let a = MemoryStore::new();
        let blobs_a = BlobStore::in_memory();
        let d = blobs_a.put(b"layer").unwrap();
        a.put(
            crate::oci::tables::BLOB_LINKS,
            &format!("r/repo/{d}"),
            json!({"size": 5}),
        )
        .unwrap();
        a.put(
            tables::RESOURCES,
            "/subscriptions/s/resourcegroups/b",
            json!({"z": 1, "a": [2, 1]}),
        )
        .unwrap();
        a.put(
            tables::RESOURCES,
            "/subscriptions/s/resourcegroups/a",
            json!({"name": "a"}),
        )
        .unwrap();
        let s1 = export(&a, &blobs_a, &root.join("one")).unwrap();
        assert_eq!(
            s1,
            Summary {
                tables: 2,
                rows: 3,
                blobs: 1,
                unreadable: Vec::new(),
            }
        );
        let b = MemoryStore::new();
        let blobs_b = BlobStore::in_memory();
        import(&b, &blobs_b, &root.join("one")).unwrap();
        export(&b, &blobs_b, &root.join("two")).unwrap();
        assert_eq!(
            std::fs::read(root.join("one/state.json")).unwrap(),
            std::fs::read(root.join("two/state.json")).unwrap()
        );
        assert!(
            import(&b, &blobs_b, &root.join("one")).is_err(),
            "not into a world that exists"
        );
        // A tampered blob is refused before anything is written.
        let hex = d.trim_start_matches("sha256:");
        std::fs::write(root.join("one/blobs/sha256").join(hex), b"tampered").unwrap();
        let c = MemoryStore::new();
        assert!(import(&c, &BlobStore::in_memory(), &root.join("one")).is_err());
        assert!(c.tables().unwrap().is_empty());
        let _ = std::fs::remove_dir_all(root);
    }

    /// A blob a client addressed by sha512 goes out under `blobs/sha512/`
    /// and comes back under its sha512, checked like any other.
    #[test]
    fn sha512_blobs_round_trip() {
        let root =
            std::env::temp_dir().join(format!("azemu-snap-{}", uuid::Uuid::new_v4().simple()));
        let a = MemoryStore::new();
        let blobs_a = BlobStore::in_memory();
        let d = blobs_a.put_with(Algorithm::Sha512, b"layer").unwrap();
        assert!(d.starts_with("sha512:"));
        a.put(
            crate::oci::tables::BLOB_LINKS,
            &format!("r/repo/{d}"),
            json!({"size": 5}),
        )
        .unwrap();
        assert_eq!(export(&a, &blobs_a, &root.join("one")).unwrap().blobs, 1);
        let hex = d.trim_start_matches("sha512:");
        assert_eq!(
            std::fs::read(root.join("one/blobs/sha512").join(hex)).unwrap(),
            b"layer"
        );
        let blobs_b = BlobStore::in_memory();
        import(&MemoryStore::new(), &blobs_b, &root.join("one")).unwrap();
        assert_eq!(blobs_b.read(&d).unwrap(), b"layer");
        std::fs::write(root.join("one/blobs/sha512").join(hex), b"tampered").unwrap();
        assert!(
            import(
                &MemoryStore::new(),
                &BlobStore::in_memory(),
                &root.join("one")
            )
            .is_err()
        );
        let _ = std::fs::remove_dir_all(root);
    }
}
