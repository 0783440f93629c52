//! The content-addressed asset cache: safe to share between renders and processes.
//!
//! ```text
//! DIR/objects/ab/ab12…   the bytes, named by their SHA-256; written whole, then renamed in
//! DIR/refs/cd34…         "version\nobject" for one source's key (SHA-256 of name and key)
//! DIR/tmp/               downloads in progress (never read)
//! DIR/work/XXXX/         one render's hard links to the objects it uses (removed after it)
//! ```
//!
//! A rename is atomic, so a reader sees a whole object or none; a render reads its own hard
//! links, so trimming the cache (oldest first, above the cap) never pulls a file from under
//! it. Files a killed process left in `tmp/` and `work/` are removed a day later.

use super::FetchError;
use crate::error::Error;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

/// A folder of fetched assets, named by content, with a size cap.
#[derive(Debug)]
pub struct AssetCache {
    dir: PathBuf,
    cap: u64,
    // A private cache's folder, removed with it.
    _private: Option<tempfile::TempDir>,
}

/// What the cache holds for one source's key.
pub(super) struct Held {
    pub(super) version: String,
    pub(super) object: PathBuf,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl AssetCache {
    /// The cache in `dir` (created if missing), trimmed to `cap` bytes after each fetch.
    pub fn new(dir: impl Into<PathBuf>, cap: u64) -> Result<AssetCache, Error> {
        let dir = dir.into();
        for sub in ["objects", "refs", "tmp", "work"] {
            let d = dir.join(sub);
            std::fs::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
        }
        Ok(AssetCache { dir, cap, _private: None })
    }

    /// A cache of its own in the system's temporary folder, removed when dropped.
    pub(super) fn private() -> Result<AssetCache, Error> {
        let tmp = tempfile::Builder::new()
            .prefix("reel-assets-")
            .tempdir()
            .map_err(|e| Error::io(std::env::temp_dir(), e))?;
        let mut cache = AssetCache::new(tmp.path(), u64::MAX)?;
        cache._private = Some(tmp);
        Ok(cache)
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A folder for one render's links, removed when dropped.
    pub(super) fn work_dir(&self) -> Result<tempfile::TempDir, Error> {
        let parent = self.dir.join("work");
        tempfile::Builder::new().prefix("r").tempdir_in(&parent).map_err(|e| Error::io(&parent, e))
    }

    fn ref_path(&self, name: &str, key: &str) -> PathBuf {
        let mut h = Sha256::new();
        h.update(name.as_bytes());
        h.update([0]);
        h.update(key.as_bytes());
        self.dir.join("refs").join(hex(&h.finalize()))
    }

    /// The version and object held for `key` of the source `name`, if the object is there.
    pub(super) fn lookup(&self, name: &str, key: &str) -> Option<Held> {
        let text = std::fs::read_to_string(self.ref_path(name, key)).ok()?;
        let (version, object) = text.split_once('\n')?;
        if object.len() != 64 || !object.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let object = self.dir.join("objects").join(&object[..2]).join(object);
        object.is_file().then(|| Held { version: version.to_string(), object })
    }

    /// Records that `key` of `name` at `version` is `object` (best effort: a cache that
    /// cannot be written only costs a download next time).
    pub(super) fn remember(&self, name: &str, key: &str, version: &str, object: &Path) {
        let Some(id) = object.file_name().and_then(|n| n.to_str()) else { return };
        if version.contains('\n') {
            return;
        }
        let Ok(mut tmp) = tempfile::NamedTempFile::new_in(self.dir.join("tmp")) else { return };
        if tmp.write_all(format!("{version}\n{id}").as_bytes()).is_ok() {
            let _ = tmp.persist(self.ref_path(name, key));
        }
    }

    /// Streams `reader` into the cache, at most `max` bytes (and exactly `len` if the source
    /// announced it): the object's path and its size. Nothing is visible under the object's
    /// name until every byte is written.
    pub(super) fn put(
        &self,
        mut reader: Box<dyn Read + Send>,
        len: Option<u64>,
        max: u64,
        cancel: Option<&AtomicBool>,
    ) -> Result<(PathBuf, u64), FetchError> {
        let local =
            |e: std::io::Error| FetchError::Refused(format!("writing the asset cache {}: {e}", self.dir.display()));
        let mut tmp = tempfile::NamedTempFile::new_in(self.dir.join("tmp")).map_err(local)?;
        let mut hash = Sha256::new();
        let mut total: u64 = 0;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                return Err(FetchError::Refused("cancelled".into()));
            }
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(FetchError::Transient(format!("reading the body: {e}"))),
            };
            total += n as u64;
            if total > max {
                return Err(FetchError::Refused(format!("more than {max} bytes, the limit")));
            }
            hash.update(&buf[..n]);
            tmp.write_all(&buf[..n]).map_err(local)?;
        }
        if let Some(len) = len.filter(|&l| l != total) {
            return Err(FetchError::Transient(format!("the body ended after {total} of {len} bytes")));
        }
        let id = hex(&hash.finalize());
        let dir = self.dir.join("objects").join(&id[..2]);
        std::fs::create_dir_all(&dir).map_err(local)?;
        let object = dir.join(&id);
        // Another render may have put the same bytes meanwhile: either copy is whole.
        tmp.persist(&object).map_err(|e| local(e.error))?;
        Ok((object, total))
    }

    /// A link to `object` in `work`, named after the key's last segment (decoders that go by
    /// the extension see the same name). Marks the object used now (trimming goes oldest first).
    pub(super) fn link(&self, object: &Path, work: &Path, n: usize, key: &str) -> Result<PathBuf, String> {
        let last = key.rsplit('/').next().unwrap_or("");
        let last = last.split(['?', '#']).next().unwrap_or("");
        let clean: String = last.chars().filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c)).take(80).collect();
        let path = work.join(format!("{n}-{clean}"));
        if let Ok(f) = std::fs::File::options().append(true).open(object) {
            let _ = f.set_modified(SystemTime::now());
        }
        std::fs::hard_link(object, &path)
            .or_else(|_| std::fs::copy(object, &path).map(|_| ()))
            .map_err(|e| format!("linking {} into {}: {e}", object.display(), work.display()))?;
        Ok(path)
    }

    /// Removes the least recently used objects until the cache holds at most its cap, and
    /// what killed processes left behind in `tmp/` and `work/` over a day ago.
    pub fn trim(&self) {
        let day = Duration::from_secs(86_400);
        let old = |m: &std::fs::Metadata| m.modified().ok().and_then(|t| t.elapsed().ok()).is_some_and(|age| age > day);
        for sub in ["tmp", "work"] {
            for e in std::fs::read_dir(self.dir.join(sub)).into_iter().flatten().flatten() {
                if e.metadata().is_ok_and(|m| old(&m)) {
                    let p = e.path();
                    let _ = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
                }
            }
        }
        if self.cap == u64::MAX {
            return;
        }
        let mut objects: Vec<(SystemTime, u64, PathBuf)> = Vec::new();
        for d in std::fs::read_dir(self.dir.join("objects")).into_iter().flatten().flatten() {
            for e in std::fs::read_dir(d.path()).into_iter().flatten().flatten() {
                if let Ok(m) = e.metadata() {
                    objects.push((m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len(), e.path()));
                }
            }
        }
        let mut total: u64 = objects.iter().map(|o| o.1).sum();
        objects.sort();
        for (_, len, path) in objects {
            if total <= self.cap {
                break;
            }
            if std::fs::remove_file(&path).is_ok() {
                total -= len;
            }
        }
    }
}
