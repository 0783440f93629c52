//! Where assets, segments and outputs live: the data folder (one machine, or a shared
//! mount), or a bucket of an S3-compatible store (`--storage s3://BUCKET/PREFIX`), which
//! any number of services and workers on any machines share.
//!
//! Objects are named as the folder's files are: `assets/KEY_ID/KEY`,
//! `renders/ID/out/NAME`, `renders/ID/chunks/N/NAME`. A file goes up whole or not at all
//! (a single PUT, or a multipart upload completed only at the end), so nothing partial
//! ever appears under a final name. The endpoint and credentials come from the usual
//! `AWS_*` variables, as for `reel render --assets s3://`.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use object_store::path::Path as ObjectPath;
use object_store::{Attribute, Attributes, GetOptions, GetRange, ObjectStore, ObjectStoreExt, RetryConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_stream::StreamExt;

/// The storage of a deployment.
pub(crate) enum Storage {
    /// The data folder's `assets/` and `renders/` (the default).
    Folder,
    /// A bucket and prefix.
    Bucket(Bucket),
}

/// A bucket of an S3-compatible store, under a prefix.
pub(crate) struct Bucket {
    store: Arc<dyn ObjectStore>,
    /// `s3://BUCKET/PREFIX` as given, without a trailing `/`.
    url: String,
    /// The prefix with its trailing `/` (or empty).
    prefix: String,
    /// The endpoint is plain `http://` (a store on the private network).
    plain_http: bool,
}

impl Storage {
    /// The storage `url` names (`s3://BUCKET/PREFIX`), or the data folder without one. A
    /// bucket is listed once here, so a wrong name, endpoint or credential stops the start.
    pub(crate) async fn open(url: Option<&str>) -> Result<Storage, String> {
        let Some(url) = url else { return Ok(Storage::Folder) };
        let bad = |m: String| format!("--storage {url}: {m}");
        let reel::fetch::S3Location { bucket, prefix, endpoint, builder } =
            reel::fetch::S3Location::parse(url).map_err(bad)?;
        let plain_http = endpoint.starts_with("http://");
        // A few quick retries of a failed request (a reset, a 503): a longer outage is the
        // callers' to report (503 to a client) or to retry (a chunk's pause).
        let retry = RetryConfig { max_retries: 3, retry_timeout: Duration::from_secs(15), ..RetryConfig::default() };
        let store: Arc<dyn ObjectStore> = Arc::new(builder.with_retry(retry).build().map_err(|e| bad(e.to_string()))?);
        let bucket = Bucket {
            store,
            url: format!("s3://{bucket}{}", if prefix.is_empty() { String::new() } else { format!("/{prefix}") }),
            prefix: if prefix.is_empty() { String::new() } else { format!("{prefix}/") },
            plain_http,
        };
        let probe = ObjectPath::from(bucket.prefix.trim_end_matches('/'));
        bucket
            .store
            .list_with_delimiter(Some(&probe))
            .await
            .map_err(|e| bad(format!("cannot list the bucket: {e}")))?;
        Ok(Storage::Bucket(bucket))
    }
}

impl Bucket {
    fn location(&self, name: &str) -> ObjectPath {
        ObjectPath::from(format!("{}{name}", self.prefix))
    }

    /// The `reel render` arguments that fetch a key's assets from here into `cache`.
    pub(crate) fn asset_args(&self, key_id: &str, cache: &Path) -> Vec<std::ffi::OsString> {
        let mut args: Vec<std::ffi::OsString> = vec![
            "--assets".into(),
            format!("{}/assets/{key_id}", self.url).into(),
            "--asset-cache".into(),
            cache.into(),
        ];
        if self.plain_http {
            // The operator's own endpoint, on a private network: the child's net policy
            // would otherwise refuse plain http (only the store is reached; keys that are
            // URLs stay refused, as `--allow-remote` is not given).
            args.push("--allow-private".into());
        }
        args
    }

    /// The asset source a key's assets are read from (planning in the service).
    pub(crate) fn asset_source(&self, key_id: &str) -> reel::Result<reel::fetch::S3Source> {
        let policy = reel::fetch::NetPolicy { allow_private: self.plain_http };
        reel::fetch::S3Source::new(&format!("{}/assets/{key_id}", self.url), policy)
    }

    /// Uploads `file` as `name`: whole or not at all.
    pub(crate) async fn put_file(&self, file: &Path, name: &str) -> Result<(), String> {
        let fail = |e: &dyn std::fmt::Display| format!("storing {name} in {}: {e}", self.url);
        let mut from = tokio::fs::File::open(file).await.map_err(|e| fail(&e))?;
        let mut attrs = Attributes::new();
        attrs.insert(Attribute::ContentType, content_type(name).into());
        let mut to =
            object_store::buffered::BufWriter::new(self.store.clone(), self.location(name)).with_attributes(attrs);
        use tokio::io::AsyncWriteExt;
        match tokio::io::copy(&mut from, &mut to).await {
            Ok(_) => to.shutdown().await.map_err(|e| fail(&e)),
            Err(e) => {
                // A multipart upload that was begun is abandoned: nothing appears.
                let _ = to.abort().await;
                Err(fail(&e))
            }
        }
    }

    /// Uploads the files of `dir` (not its folders) under `name/`.
    pub(crate) async fn put_dir(&self, dir: &Path, name: &str) -> Result<(), String> {
        let mut entries = tokio::fs::read_dir(dir).await.map_err(|e| format!("{}: {e}", dir.display()))?;
        while let Some(e) = entries.next_entry().await.map_err(|e| format!("{}: {e}", dir.display()))? {
            if e.file_type().await.is_ok_and(|t| t.is_file()) {
                self.put_file(&e.path(), &format!("{name}/{}", e.file_name().to_string_lossy())).await?;
            }
        }
        Ok(())
    }

    /// Downloads the objects under `name/` into `dir` (made if missing).
    pub(crate) async fn get_dir(&self, name: &str, dir: &Path) -> Result<(), String> {
        let fail = |e: &dyn std::fmt::Display| format!("reading {name} from {}: {e}", self.url);
        tokio::fs::create_dir_all(dir).await.map_err(|e| fail(&e))?;
        let under = self.location(name);
        let found: Vec<_> = self.store.list(Some(&under)).collect().await;
        for meta in found {
            let meta = meta.map_err(|e| fail(&e))?;
            let Some(file) = meta.location.filename().map(PathBuf::from) else { continue };
            let got = self.store.get(&meta.location).await.map_err(|e| fail(&e))?;
            let mut stream = got.into_stream();
            let mut out = tokio::fs::File::create(dir.join(&file)).await.map_err(|e| fail(&e))?;
            use tokio::io::AsyncWriteExt;
            while let Some(chunk) = stream.next().await {
                out.write_all(&chunk.map_err(|e| fail(&e))?).await.map_err(|e| fail(&e))?;
            }
            out.flush().await.map_err(|e| fail(&e))?;
        }
        Ok(())
    }

    /// Whether the bucket answers (a listing of `name/`, one request).
    pub(crate) async fn reachable(&self, name: &str) -> Result<(), String> {
        self.store
            .list_with_delimiter(Some(&self.location(name)))
            .await
            .map(|_| ())
            .map_err(|e| format!("{}: {e}", self.url))
    }

    /// Whether `name` is there.
    pub(crate) async fn exists(&self, name: &str) -> Result<bool, String> {
        match self.store.head(&self.location(name)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(format!("{}: {e}", self.url)),
        }
    }

    /// The bytes of the objects under `name/`.
    pub(crate) async fn bytes_under(&self, name: &str) -> Result<u64, String> {
        let mut list = self.store.list(Some(&self.location(name)));
        let mut total = 0;
        while let Some(meta) = list.next().await {
            total += meta.map_err(|e| format!("{}: {e}", self.url))?.size;
        }
        Ok(total)
    }

    /// Removes the objects under `name/`.
    pub(crate) async fn remove_under(&self, name: &str) -> Result<(), String> {
        let found: Vec<_> = self.store.list(Some(&self.location(name))).collect().await;
        for meta in found {
            let meta = meta.map_err(|e| format!("{}: {e}", self.url))?;
            match self.store.delete(&meta.location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(format!("{}: {e}", self.url)),
            }
        }
        Ok(())
    }

    /// Answers a GET of `name` from the bucket, honouring one `Range` (players seek); `None`
    /// when there is no such object.
    pub(crate) async fn serve(&self, name: &str, headers: &HeaderMap) -> Result<Option<Response>, String> {
        let location = self.location(name);
        let gone_or = |e: object_store::Error| match e {
            object_store::Error::NotFound { .. } => Ok(None),
            e => Err(format!("{}: {e}", self.url)),
        };
        // Without a Range, one GET (its answer carries the size); with one, the size first,
        // to check the range against it.
        let asked = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
        let (range, got) = match asked {
            None => match self.store.get(&location).await {
                Ok(got) => (None, got),
                Err(e) => return gone_or(e),
            },
            Some(asked) => {
                let size = match self.store.head(&location).await {
                    Ok(meta) => meta.size,
                    Err(e) => return gone_or(e),
                };
                let Some(r) = byte_range(asked, size) else {
                    let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
                    if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                        r.headers_mut().insert(header::CONTENT_RANGE, v);
                    }
                    return Ok(Some(r));
                };
                let opts = GetOptions { range: Some(GetRange::Bounded(r.clone())), ..GetOptions::default() };
                match self.store.get_opts(&location, opts).await {
                    Ok(got) => (Some(r), got),
                    Err(e) => return gone_or(e),
                }
            }
        };
        let size = got.meta.size;
        let len = range.as_ref().map_or(size, |r| r.end - r.start);
        let body = Body::from_stream(got.into_stream());
        let mut resp = Response::new(body);
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(name)));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        if let Some(r) = range {
            *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {}-{}/{size}", r.start, r.end - 1)) {
                resp.headers_mut().insert(header::CONTENT_RANGE, v);
            }
        }
        Ok(Some(resp))
    }
}

/// The byte range one `Range: bytes=A-B`, `bytes=A-` or `bytes=-N` asks of `size` bytes
/// (end exclusive), or `None` when it cannot be satisfied. Several ranges are answered
/// with the first.
fn byte_range(asked: &str, size: u64) -> Option<std::ops::Range<u64>> {
    let spec = asked.trim().strip_prefix("bytes=")?.split(',').next()?.trim();
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        size.saturating_sub(n)..size
    } else {
        let start: u64 = a.parse().ok()?;
        let end = if b.is_empty() { size } else { b.parse::<u64>().ok()?.saturating_add(1).min(size) };
        start..end
    };
    (range.start < range.end).then_some(range)
}

/// The content type of a file named `name`, by its extension.
fn content_type(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "mp4" | "m4v" => "video/mp4",
        "mov" => "video/quicktime",
        "webm" => "video/webm",
        "mkv" => "video/x-matroska",
        "gif" => "image/gif",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "wav" => "audio/wav",
        "mp3" => "audio/mpeg",
        "m4a" | "aac" => "audio/mp4",
        "ogg" | "oga" | "opus" => "audio/ogg",
        "flac" => "audio/flac",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        "json" => "application/json",
        "srt" => "application/x-subrip",
        "vtt" => "text/vtt",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_read_as_rfc_9110_says() {
        assert_eq!(byte_range("bytes=0-99", 1000), Some(0..100));
        assert_eq!(byte_range("bytes=900-", 1000), Some(900..1000));
        assert_eq!(byte_range("bytes=-100", 1000), Some(900..1000));
        assert_eq!(byte_range("bytes=-5000", 1000), Some(0..1000));
        assert_eq!(byte_range("bytes=990-2000", 1000), Some(990..1000));
        assert_eq!(byte_range("bytes=0-0, 5-9", 1000), Some(0..1));
        for bad in ["bytes=1000-", "bytes=5-2", "items=0-1", "bytes=x-1", "bytes=-0", "bytes=0-1", ""] {
            let size = if bad == "bytes=0-1" { 0 } else { 1000 };
            assert_eq!(byte_range(bad, size), None, "{bad}");
        }
    }
}
