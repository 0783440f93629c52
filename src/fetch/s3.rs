//! Assets in object storage through the S3 API (AWS, R2, MinIO, GCS's interoperability
//! endpoint), with `object_store`.

use super::net::{runtime, NetPolicy};
use super::{AssetSource, Body, FetchError, Opened};
use crate::error::Error;
use futures_util::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::{Attribute, ClientOptions, GetOptions, ObjectStore, RetryConfig};
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

/// Keys below `s3://BUCKET/PREFIX/`. Credentials, region and endpoint come from the usual
/// environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_ENDPOINT_URL`), never from a composition. An
/// endpoint over plain `http://` needs [`NetPolicy::allow_private`] (a MinIO inside a
/// private network). ETags revalidate the cache.
pub struct S3Source {
    name: String,
    prefix: String,
    store: AmazonS3,
    rt: Arc<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for S3Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Source").field("name", &self.name).finish()
    }
}

/// Where an `s3://BUCKET/PREFIX` URL points, and a store builder for it made from the
/// usual environment variables: what [`S3Source`] reads through, and what a render
/// service keeping its files in a bucket builds its store from, so both find endpoints,
/// credentials and regions alike.
pub struct S3Location {
    /// The bucket.
    pub bucket: String,
    /// The prefix, without a leading or trailing `/` (empty for the whole bucket).
    pub prefix: String,
    /// The endpoint from `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL` or `AWS_ENDPOINT`
    /// (empty: AWS itself).
    pub endpoint: String,
    /// A builder with the bucket, the environment's credentials and region (`us-east-1`
    /// when none is set), connection and request timeouts, and plain `http://` allowed
    /// only when the endpoint is plain `http://`; retries are the caller's to set.
    pub builder: AmazonS3Builder,
}

impl S3Location {
    /// Reads `url` (`s3://bucket/some/prefix/`); the reason when it is not one.
    pub fn parse(url: &str) -> Result<S3Location, String> {
        let rest = url.strip_prefix("s3://").ok_or_else(|| format!("{url:?} is not s3://BUCKET/PREFIX"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!("{url:?} names no bucket"));
        }
        let endpoint = ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"]
            .iter()
            .find_map(|k| std::env::var(k).ok())
            .unwrap_or_default();
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket).with_client_options(
            ClientOptions::new()
                .with_connect_timeout(Duration::from_secs(10))
                .with_timeout(Duration::from_secs(600))
                .with_allow_http(endpoint.starts_with("http://")),
        );
        if std::env::var("AWS_REGION").is_err() && std::env::var("AWS_DEFAULT_REGION").is_err() {
            builder = builder.with_region("us-east-1");
        }
        Ok(S3Location { bucket: bucket.to_string(), prefix: prefix.trim_matches('/').to_string(), endpoint, builder })
    }
}

impl S3Source {
    /// The bucket and prefix of `url` (`s3://bucket/some/prefix/`).
    pub fn new(url: &str, policy: NetPolicy) -> Result<S3Source, Error> {
        let bad = |m: String| Error::Option { name: "assets", message: m };
        let S3Location { bucket, prefix, endpoint, builder } = S3Location::parse(url).map_err(bad)?;
        if endpoint.starts_with("http://") && !policy.allow_private {
            return Err(bad(format!(
                "the S3 endpoint {endpoint} is plain http://, which needs private addresses allowed (reel: --allow-private)"
            )));
        }
        let builder = builder.with_retry(RetryConfig { max_retries: 0, ..RetryConfig::default() });
        let rt = runtime().map_err(bad)?;
        let _in = rt.enter();
        let store = builder.build().map_err(|e| bad(format!("{url}: {e}")))?;
        let name = format!("s3 {endpoint} {bucket}/{prefix}");
        let prefix = if prefix.is_empty() { String::new() } else { format!("{prefix}/") };
        Ok(S3Source { name, prefix, store, rt })
    }
}

/// An object's stream read a chunk at a time, each waited for on the fetch runtime.
struct Chunks {
    rt: Arc<tokio::runtime::Runtime>,
    stream: futures_util::stream::BoxStream<'static, object_store::Result<bytes::Bytes>>,
    buf: bytes::Bytes,
}

impl Read for Chunks {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.buf.is_empty() {
            let next =
                self.rt.block_on(async { tokio::time::timeout(Duration::from_secs(30), self.stream.next()).await });
            match next {
                Ok(Some(Ok(b))) => self.buf = b,
                Ok(None) => return Ok(0),
                Ok(Some(Err(e))) => return Err(std::io::Error::other(e.to_string())),
                Err(_) => return Err(std::io::Error::other("timed out")),
            }
        }
        let n = self.buf.len().min(out.len());
        out[..n].copy_from_slice(&self.buf.split_to(n));
        Ok(n)
    }
}

impl AssetSource for S3Source {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn open(&self, key: &str, cached: Option<&str>) -> Result<Opened, FetchError> {
        crate::media::check_key(key).map_err(FetchError::Refused)?;
        let clean: Vec<&str> = key.split('/').filter(|s| !s.is_empty() && *s != ".").collect();
        let location = object_store::path::Path::parse(format!("{}{}", self.prefix, clean.join("/")))
            .map_err(|e| FetchError::Refused(format!("not an object name: {e}")))?;
        let opts = GetOptions { if_none_match: cached.map(String::from), ..GetOptions::default() };
        let got = self.rt.block_on(async { self.store.get_opts(&location, opts).await });
        let got = match got {
            Ok(g) => g,
            Err(object_store::Error::NotFound { .. }) => return Err(FetchError::NotFound),
            Err(object_store::Error::NotModified { .. }) if cached.is_some() => return Ok(Opened::NotModified),
            Err(e) => return Err(FetchError::Transient(e.to_string())),
        };
        let content_type = got.attributes.get(&Attribute::ContentType).map(|v| v.to_string());
        let len = Some(got.meta.size);
        let version = got.meta.e_tag.clone();
        Ok(Opened::Body(Body {
            len,
            version,
            content_type,
            reader: Box::new(Chunks { rt: self.rt.clone(), stream: got.into_stream(), buf: bytes::Bytes::new() }),
        }))
    }
}
