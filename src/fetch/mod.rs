//! Fetching a composition's assets before planning: from a folder, HTTP(S) URLs, object
//! storage through the S3 API, bytes in memory, or a source of the caller's own.
//!
//! [`Fetcher::fetch`] takes every asset key a composition names ([`asset_refs`]), fetches
//! the distinct ones in parallel (a bound, timeouts, retries with backoff, a size limit
//! checked from the headers and again while reading) into a content-addressed
//! [`AssetCache`], and returns [`Fetched`]: an [`AssetResolver`] planning reads local
//! files through. Every failure is reported at once, each naming its key and JSON path;
//! nothing partial is ever visible in the cache.
//!
//! ```no_run
//! use std::sync::Arc;
//! let parsed = reel::parse_file("ad.json")?;
//! let source = reel::fetch::HttpSource::new("https://cdn.example.com/media/", reel::fetch::NetPolicy::default())?;
//! let fetcher = reel::fetch::Fetcher::new(Some(reel::fetch::AssetCache::new("/var/cache/reel", 10 << 30)?));
//! let fetched = fetcher.fetch(&parsed.composition, &source)?;
//! let mut opts = reel::PlanOptions::new(".");
//! opts.assets = Arc::new(fetched);
//! let plan = reel::Plan::build(&parsed, &opts)?;
//! # Ok::<(), reel::Error>(())
//! ```

mod cache;
mod http;
mod net;
mod s3;

pub use self::cache::AssetCache;
pub use self::http::{HttpSource, Timeouts};
pub use self::net::NetPolicy;
pub use self::s3::{S3Location, S3Source};

use crate::error::{Error, Problem, Problems};
pub use crate::media::is_url;
use crate::media::{AssetResolver, FolderAssets};
use crate::model::{Composition, StrOr};
use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a composition uses an asset for: decides the content types accepted for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssetKind {
    /// A still (PNG, JPEG, WebP, SVG).
    Image,
    /// A clip.
    Video,
    /// A voiceover, music or sound.
    Audio,
    /// Word timings (JSON).
    Captions,
    /// A font file.
    Font,
}

impl AssetKind {
    /// Whether a response's `Content-Type` may carry this kind: a generic binary type or
    /// none always may; an HTML page (an error or login page served with 200) never does.
    pub fn accepts(self, content_type: &str) -> bool {
        let m = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if m.is_empty() || m == "application/octet-stream" || m == "binary/octet-stream" {
            return true;
        }
        let (top, sub) = m.split_once('/').unwrap_or((m.as_str(), ""));
        match self {
            AssetKind::Image => top == "image" || matches!(sub, "xml" | "svg+xml"),
            AssetKind::Video => top == "video" || matches!(m.as_str(), "image/gif" | "image/webp" | "application/mp4"),
            AssetKind::Audio => {
                top == "audio" || top == "video" || matches!(m.as_str(), "application/ogg" | "application/mp4")
            }
            AssetKind::Captions => m == "application/json" || (top == "text" && sub != "html"),
            AssetKind::Font => {
                top == "font"
                    || sub.starts_with("font-")
                    || sub.starts_with("x-font-")
                    || matches!(sub, "vnd.ms-opentype" | "ttf" | "otf")
            }
        }
    }
}

/// One asset key a composition names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetRef {
    /// JSON path of the field (`scenes[0].layers[2].asset`).
    pub path: String,
    /// The key.
    pub key: String,
    /// What it is used for.
    pub kind: AssetKind,
}

/// Every asset key `comp` names, in document order (a key used twice appears twice).
pub fn asset_refs(comp: &Composition) -> Vec<AssetRef> {
    let mut refs = Vec::new();
    let mut push = |path: String, key: &Option<String>, kind| {
        if let Some(k) = key {
            refs.push(AssetRef { path, key: k.clone(), kind });
        }
    };
    let media = |t: &str| if t == "video" { AssetKind::Video } else { AssetKind::Image };
    for (i, s) in comp.scenes.iter().enumerate() {
        if let Some(StrOr::Obj(bg)) = &s.background {
            if bg.type_ == "image" || bg.type_ == "video" {
                push(format!("scenes[{i}].background.asset"), &bg.asset, media(&bg.type_));
            }
        }
        for (j, l) in s.layers.iter().enumerate() {
            if l.kind == "image" || l.kind == "video" {
                push(format!("scenes[{i}].layers[{j}].asset"), &l.asset, media(&l.kind));
            }
        }
    }
    for (j, l) in comp.overlays.iter().enumerate() {
        if l.kind == "image" || l.kind == "video" {
            push(format!("overlays[{j}].asset"), &l.asset, media(&l.kind));
        }
    }
    if let Some(a) = &comp.audio {
        if let Some(v) = &a.voiceover {
            push("audio.voiceover.asset".into(), &v.asset, AssetKind::Audio);
            for (i, s) in v.segments.iter().flatten().enumerate() {
                push(format!("audio.voiceover.segments[{i}].asset"), &s.asset, AssetKind::Audio);
            }
        }
        if let Some(m) = &a.music {
            push("audio.music.asset".into(), &m.asset, AssetKind::Audio);
        }
        for (i, t) in a.tracks.iter().enumerate() {
            push(format!("audio.tracks[{i}].asset"), &t.asset, AssetKind::Audio);
        }
    }
    if let Some(c) = &comp.captions {
        push("captions.asset".into(), &c.asset, AssetKind::Captions);
    }
    for (i, f) in comp.style.typography.fonts.iter().enumerate() {
        push(format!("style.typography.fonts[{i}].asset"), &Some(f.asset.clone()), AssetKind::Font);
    }
    refs
}

/// Why a fetch failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// The source has no such key (HTTP 404 or 410, no such object).
    NotFound,
    /// Trying again will not help (refused, denied, too large, wrong type); the reason.
    Refused(String),
    /// Trying again may help (a timeout, a reset connection, HTTP 5xx or 429); the reason.
    Transient(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::NotFound => f.write_str("not found"),
            FetchError::Refused(why) | FetchError::Transient(why) => f.write_str(why),
        }
    }
}

/// An opened asset: its bytes to read, and what the source said about them.
pub struct Body {
    /// The length the source announced (checked against the limit before reading, and
    /// against what arrives).
    pub len: Option<u64>,
    /// A version tag (an ETag): handed back to [`AssetSource::open`] next time so an
    /// unchanged asset is not downloaded again. `None`: always downloaded.
    pub version: Option<String>,
    /// The announced media type, if any.
    pub content_type: Option<String>,
    /// The bytes.
    pub reader: Box<dyn Read + Send>,
}

/// What [`AssetSource::open`] found.
pub enum Opened {
    /// The bytes.
    Body(Body),
    /// The version the cache holds is current.
    NotModified,
}

/// Where asset bytes come from. Built in: [`FolderAssets`] (used in place, not copied),
/// [`HttpSource`], [`S3Source`], [`MemorySource`] and [`Sources`] (one of them plus
/// absolute URLs). Implement it for a store of your own.
///
/// ```
/// use reel::fetch::{AssetSource, Body, FetchError, Opened};
/// /// Every key is the same red pixel.
/// struct Red;
/// impl AssetSource for Red {
///     fn name(&self) -> String { "red".into() }
///     fn open(&self, _key: &str, _cached: Option<&str>) -> Result<Opened, FetchError> {
///         let png: &[u8] = include_bytes!("../../fixtures/demo/assets/logo.png");
///         Ok(Opened::Body(Body { len: Some(png.len() as u64), version: Some("1".into()), content_type: None, reader: Box::new(png) }))
///     }
/// }
/// ```
pub trait AssetSource: Send + Sync {
    /// Names the source in errors and in the cache: two sources with one name must serve
    /// the same bytes for a key (`https://cdn.example.com/media/`, `s3://bucket/prefix/`).
    fn name(&self) -> String;

    /// Opens `key`. `cached` is the version the cache holds of it, if any: answer
    /// [`Opened::NotModified`] when it is still current.
    fn open(&self, key: &str, cached: Option<&str>) -> Result<Opened, FetchError>;

    /// A local file that already holds `key`'s bytes, used in place (a folder): `None`
    /// when the bytes must be fetched.
    fn local(&self, key: &str) -> Option<Result<PathBuf, String>> {
        let _ = key;
        None
    }
}

impl AssetSource for FolderAssets {
    fn name(&self) -> String {
        format!("folder {}", self.root().display())
    }

    fn open(&self, key: &str, _cached: Option<&str>) -> Result<Opened, FetchError> {
        let path = self.resolve(key).map_err(|why| match why.as_str() {
            "not found" => FetchError::NotFound,
            _ => FetchError::Refused(why),
        })?;
        let file = std::fs::File::open(&path).map_err(|e| FetchError::Refused(e.to_string()))?;
        let len = file.metadata().ok().map(|m| m.len());
        Ok(Opened::Body(Body { len, version: None, content_type: None, reader: Box::new(file) }))
    }

    fn local(&self, key: &str) -> Option<Result<PathBuf, String>> {
        Some(self.resolve(key))
    }
}

/// Assets held in memory, by key (uploads a service has not stored, tests).
#[derive(Default)]
pub struct MemorySource {
    name: String,
    items: HashMap<String, Arc<[u8]>>,
}

impl MemorySource {
    /// An empty source. `name` identifies it in the cache: use one name per set of bytes.
    pub fn new(name: impl Into<String>) -> MemorySource {
        MemorySource { name: format!("memory {}", name.into()), items: HashMap::new() }
    }

    /// Adds (or replaces) `key`.
    pub fn insert(&mut self, key: impl Into<String>, bytes: impl Into<Arc<[u8]>>) {
        self.items.insert(key.into(), bytes.into());
    }
}

impl AssetSource for MemorySource {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn open(&self, key: &str, _cached: Option<&str>) -> Result<Opened, FetchError> {
        let bytes = self.items.get(key).ok_or(FetchError::NotFound)?.clone();
        struct Shared(Arc<[u8]>, usize);
        impl Read for Shared {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let rest = &self.0[self.1..];
                let n = rest.len().min(buf.len());
                buf[..n].copy_from_slice(&rest[..n]);
                self.1 += n;
                Ok(n)
            }
        }
        Ok(Opened::Body(Body {
            len: Some(bytes.len() as u64),
            version: None,
            content_type: None,
            reader: Box::new(Shared(bytes, 0)),
        }))
    }
}

/// Keys that are absolute URLs if they may be ([`Sources::allow_urls`]), the rest from one
/// source.
pub struct Sources {
    base: Arc<dyn AssetSource>,
    urls: Option<HttpSource>,
}

impl Sources {
    /// Every key from `base`; a key that is a URL is refused.
    pub fn new(base: Arc<dyn AssetSource>) -> Sources {
        Sources { base, urls: None }
    }

    /// Keys that are absolute `https://` URLs (and `http://` ones if `policy` allows
    /// private addresses) are fetched from there, under `policy`.
    pub fn allow_urls(mut self, policy: NetPolicy, t: Timeouts) -> Result<Sources, Error> {
        self.urls = Some(HttpSource::urls(policy)?.with_timeouts(t)?);
        Ok(self)
    }
}

impl Sources {
    fn pick(&self, key: &str) -> Result<&dyn AssetSource, FetchError> {
        match (&self.urls, is_url(key)) {
            (Some(urls), true) => Ok(urls),
            (None, true) => Err(FetchError::Refused(crate::media::URL_KEY.into())),
            (_, false) => Ok(self.base.as_ref()),
        }
    }
}

impl AssetSource for Sources {
    fn name(&self) -> String {
        self.base.name()
    }

    fn open(&self, key: &str, cached: Option<&str>) -> Result<Opened, FetchError> {
        self.pick(key)?.open(key, cached)
    }

    fn local(&self, key: &str) -> Option<Result<PathBuf, String>> {
        match self.pick(key) {
            Ok(s) => s.local(key),
            Err(e) => Some(Err(e.to_string())),
        }
    }
}

/// Bounds on fetching.
#[derive(Debug, Clone, Copy)]
pub struct FetchLimits {
    /// Largest asset, in bytes (checked from the headers, then while reading). 1 GiB.
    pub max_bytes: u64,
    /// Fetches at once. 8.
    pub parallel: usize,
    /// Tries after the first for a transient failure, waiting `backoff`, then twice as
    /// long each time. 3.
    pub retries: u32,
    /// The first wait before a retry. 250 ms.
    pub backoff: Duration,
}

impl Default for FetchLimits {
    fn default() -> Self {
        FetchLimits { max_bytes: 1 << 30, parallel: 8, retries: 3, backoff: Duration::from_millis(250) }
    }
}

/// One key fetched: the local file, whether it was reused, the bytes downloaded.
type Got = (PathBuf, bool, u64);

/// Fetches compositions' assets into a cache.
pub struct Fetcher {
    cache: Option<AssetCache>,
    /// Bounds.
    pub limits: FetchLimits,
    /// Set it to stop: [`Fetcher::fetch`] returns [`Error::Cancelled`].
    pub cancel: Option<Arc<AtomicBool>>,
}

/// What a fetch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct FetchStats {
    /// Distinct assets.
    pub assets: usize,
    /// Of those, used in place (a folder) or current in the cache.
    pub reused: usize,
    /// Bytes downloaded.
    pub bytes: u64,
    /// Wall time.
    pub seconds: f64,
}

/// A composition's assets, fetched: local files by key. Hand it to
/// [`PlanOptions::assets`](crate::PlanOptions::assets). The files stay readable while it
/// lives, whatever the cache evicts meanwhile.
pub struct Fetched {
    files: HashMap<String, PathBuf>,
    stats: FetchStats,
    // Links to the cache's objects for this render (removed on drop), and a private cache
    // when the fetcher has none.
    _work: tempfile::TempDir,
    _private: Option<AssetCache>,
}

impl Fetched {
    /// What the fetch did.
    pub fn stats(&self) -> FetchStats {
        self.stats
    }
}

impl std::fmt::Debug for Fetched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetched").field("files", &self.files).field("stats", &self.stats).finish()
    }
}

impl AssetResolver for Fetched {
    fn resolve(&self, key: &str) -> Result<PathBuf, String> {
        self.files.get(key).cloned().ok_or_else(|| "not fetched (the composition changed after fetching)".into())
    }
}

impl Fetcher {
    /// Fetches into `cache`; with none, into a private folder removed with the [`Fetched`].
    pub fn new(cache: Option<AssetCache>) -> Fetcher {
        Fetcher { cache, limits: FetchLimits::default(), cancel: None }
    }

    fn cancelled(&self) -> bool {
        self.cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed))
    }

    /// Fetches every asset `comp` names from `source`. Every failure is listed, each with
    /// its JSON path and key ([`Error::Invalid`]).
    pub fn fetch(&self, comp: &Composition, source: &dyn AssetSource) -> Result<Fetched, Error> {
        self.fetch_refs(&asset_refs(comp), source)
    }

    /// Fetches `refs` from `source`.
    pub fn fetch_refs(&self, refs: &[AssetRef], source: &dyn AssetSource) -> Result<Fetched, Error> {
        let start = Instant::now();
        let private = match &self.cache {
            Some(_) => None,
            None => Some(AssetCache::private()?),
        };
        let cache = self.cache.as_ref().or(private.as_ref()).ok_or(Error::Cancelled)?;
        let work = cache.work_dir()?;
        // Distinct keys, each with its first use (for the error) and every kind it is used as.
        let mut keys: Vec<(&AssetRef, Vec<AssetKind>)> = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        for r in refs {
            match index.get(r.key.as_str()) {
                Some(&i) => keys[i].1.push(r.kind),
                None => {
                    index.insert(&r.key, keys.len());
                    keys.push((r, vec![r.kind]));
                }
            }
        }
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<Option<Result<Got, String>>>> = Mutex::new(vec![None; keys.len()]);
        let workers = self.limits.parallel.clamp(1, 64).min(keys.len().max(1));
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((r, kinds)) = keys.get(i) else { break };
                    let got = if self.cancelled() {
                        Err("cancelled".into())
                    } else {
                        self.one(cache, work.path(), i, &r.key, kinds, source)
                    };
                    if let Ok(mut all) = results.lock() {
                        all[i] = Some(got);
                    }
                });
            }
        });
        if self.cancelled() {
            return Err(Error::Cancelled);
        }
        let results = results.into_inner().unwrap_or_default();
        let mut files = HashMap::new();
        let mut problems = Vec::new();
        let mut stats = FetchStats { assets: keys.len(), ..FetchStats::default() };
        for ((r, _), got) in keys.iter().zip(results) {
            match got {
                Some(Ok((file, reused, bytes))) => {
                    stats.reused += usize::from(reused);
                    stats.bytes += bytes;
                    files.insert(r.key.clone(), file);
                }
                Some(Err(why)) => problems.push(Problem::new(r.path.clone(), format!("asset {:?}: {why}", r.key))),
                None => problems.push(Problem::new(r.path.clone(), format!("asset {:?}: not fetched", r.key))),
            }
        }
        if !problems.is_empty() {
            return Err(Error::Invalid(Problems(problems)));
        }
        cache.trim();
        stats.seconds = start.elapsed().as_secs_f64();
        Ok(Fetched { files, stats, _work: work, _private: private })
    }

    /// Fetches one key with retries: the local file, whether it was reused, bytes downloaded.
    fn one(
        &self,
        cache: &AssetCache,
        work: &std::path::Path,
        n: usize,
        key: &str,
        kinds: &[AssetKind],
        source: &dyn AssetSource,
    ) -> Result<Got, String> {
        if let Some(local) = source.local(key) {
            return local.map(|p| (p, true, 0));
        }
        let name = source.name();
        let mut wait = self.limits.backoff;
        let mut tries = 0;
        let mut use_cache = true;
        loop {
            let held = cache.lookup(&name, key).filter(|_| use_cache);
            let attempt = match source.open(key, held.as_ref().map(|h| h.version.as_str())) {
                Ok(Opened::NotModified) => match &held {
                    Some(h) => match cache.link(&h.object, work, n, key) {
                        Ok(p) => Ok((p, true, 0)),
                        // Trimmed by another process since it was looked up: download it.
                        Err(_) => {
                            use_cache = false;
                            continue;
                        }
                    },
                    None => Err(FetchError::Refused("the source answered 'not modified' to no version".into())),
                },
                Ok(Opened::Body(body)) => self.store(cache, &name, key, kinds, body, work, n),
                Err(e) => Err(e),
            };
            match attempt {
                Ok(done) => return Ok(done),
                Err(FetchError::Transient(_)) if tries < self.limits.retries && !self.cancelled() => {
                    tries += 1;
                    std::thread::sleep(wait);
                    wait = wait.saturating_mul(2);
                }
                Err(FetchError::Transient(why)) if tries > 0 => {
                    return Err(format!("{why} (after {} tries)", tries + 1));
                }
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn store(
        &self,
        cache: &AssetCache,
        name: &str,
        key: &str,
        kinds: &[AssetKind],
        body: Body,
        work: &std::path::Path,
        n: usize,
    ) -> Result<Got, FetchError> {
        if let Some(ct) = &body.content_type {
            if let Some(k) = kinds.iter().find(|k| !k.accepts(ct)) {
                return Err(FetchError::Refused(format!(
                    "the source serves it as {ct:?}, which is not {}",
                    match k {
                        AssetKind::Image => "an image",
                        AssetKind::Video => "a video",
                        AssetKind::Audio => "audio",
                        AssetKind::Captions => "JSON or text",
                        AssetKind::Font => "a font",
                    }
                )));
            }
        }
        let max = self.limits.max_bytes;
        if let Some(len) = body.len.filter(|&l| l > max) {
            return Err(FetchError::Refused(format!("{len} bytes; the limit is {max}")));
        }
        let (object, bytes) = cache.put(body.reader, body.len, max, self.cancel.as_deref())?;
        if let Some(v) = &body.version {
            cache.remember(name, key, v, &object);
        }
        let file = cache.link(&object, work, n, key).map_err(FetchError::Refused)?;
        Ok((file, false, bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_accept_their_types() {
        assert!(AssetKind::Image.accepts("image/png"));
        assert!(AssetKind::Image.accepts("image/svg+xml; charset=utf-8"));
        assert!(AssetKind::Image.accepts("application/octet-stream"));
        assert!(!AssetKind::Image.accepts("text/html; charset=utf-8"));
        assert!(!AssetKind::Video.accepts("text/html"));
        assert!(AssetKind::Audio.accepts("audio/mpeg"));
        assert!(AssetKind::Captions.accepts("application/json"));
        assert!(!AssetKind::Captions.accepts("text/html"));
    }

    #[test]
    fn every_key_a_composition_names_is_found() {
        let json = r#"{"id": "c", "scenes": [{"id": "s", "durationFrames": 3,
            "background": {"type": "video", "asset": "bg.mp4"},
            "layers": [{"type": "image", "asset": "a.png"}, {"type": "text", "text": "x"}]}],
            "overlays": [{"type": "image", "asset": "logo.svg"}],
            "style": {"typography": {"fonts": [{"asset": "brand.otf"}]}},
            "audio": {"voiceover": {"segments": [{"asset": "v1.mp3"}]}, "music": {"asset": "m.mp3"}},
            "captions": {"asset": "words.json"}}"#;
        let comp = crate::parse(json).map(|p| p.composition).unwrap_or_default();
        let found: Vec<(String, String, AssetKind)> =
            asset_refs(&comp).into_iter().map(|r| (r.path, r.key, r.kind)).collect();
        let want = [
            ("scenes[0].background.asset", "bg.mp4", AssetKind::Video),
            ("scenes[0].layers[0].asset", "a.png", AssetKind::Image),
            ("overlays[0].asset", "logo.svg", AssetKind::Image),
            ("audio.voiceover.segments[0].asset", "v1.mp3", AssetKind::Audio),
            ("audio.music.asset", "m.mp3", AssetKind::Audio),
            ("captions.asset", "words.json", AssetKind::Captions),
            ("style.typography.fonts[0].asset", "brand.otf", AssetKind::Font),
        ];
        let want: Vec<(String, String, AssetKind)> =
            want.iter().map(|(p, k, t)| (p.to_string(), k.to_string(), *t)).collect();
        assert_eq!(found, want);
    }

    #[test]
    fn urls_are_told_from_keys() {
        assert!(is_url("https://cdn.example.com/a.png"));
        assert!(is_url("s3://bucket/a.png"));
        assert!(!is_url("assets/a.png"));
        assert!(!is_url("a://"[..0].as_ref()));
        assert!(!is_url("://x"));
    }
}
