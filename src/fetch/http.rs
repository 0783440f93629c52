//! Assets over HTTP(S): below a base URL, from URLs a signing function returns, or keys that
//! are URLs themselves.

use super::net::{check_url, runtime, shown, NetPolicy, Refusal, Resolver};
use super::{AssetSource, Body, FetchError, Opened};
use crate::error::Error;
use reqwest::header::{CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use reqwest::{StatusCode, Url};
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

type Signer = dyn Fn(&str) -> Result<String, String> + Send + Sync;

enum Urls {
    Base(Url),
    Signed(Box<Signer>),
    Absolute,
}

/// Assets fetched with HTTP GET: through the [`NetPolicy`] (checked on every address
/// connected to and every redirect, at most five), no proxy from the environment, within
/// [`Timeouts`]. A stored version is revalidated with
/// `If-None-Match` (an unchanged asset costs one round trip).
pub struct HttpSource {
    name: String,
    urls: Urls,
    policy: NetPolicy,
    client: reqwest::Client,
    rt: Arc<tokio::runtime::Runtime>,
}

/// How long a try may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// To connect (resolving included). 10 s.
    pub connect: Duration,
    /// Without a byte of the response. 30 s.
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { connect: Duration::from_secs(10), idle: Duration::from_secs(30) }
    }
}

impl HttpSource {
    /// Keys below `base` (`https://cdn.example.com/media/`): a key keeps to the shape a
    /// folder's keys have (no `..`, not absolute), and each segment is percent-encoded.
    pub fn new(base: &str, policy: NetPolicy) -> Result<HttpSource, Error> {
        let bad = |m: String| Error::Option { name: "assets", message: m };
        let mut url = Url::parse(base).map_err(|e| bad(format!("{base:?} is not a URL: {e}")))?;
        check_url(&url, policy).map_err(bad)?;
        if url.cannot_be_a_base() {
            return Err(bad(format!("{base:?} cannot hold keys below it")));
        }
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        HttpSource::with(shown(&url), Urls::Base(url), policy, Timeouts::default())
    }

    /// The same source with other timeouts.
    pub fn with_timeouts(self, t: Timeouts) -> Result<HttpSource, Error> {
        HttpSource::with(self.name, self.urls, self.policy, t)
    }

    /// Keys turned into URLs by `sign` (a signing endpoint's answer, say). `name` identifies
    /// the store in the cache, so an asset is found again under a fresh signature.
    pub fn signed(
        name: impl Into<String>,
        policy: NetPolicy,
        sign: impl Fn(&str) -> Result<String, String> + Send + Sync + 'static,
    ) -> Result<HttpSource, Error> {
        HttpSource::with(name.into(), Urls::Signed(Box::new(sign)), policy, Timeouts::default())
    }

    /// Keys that are absolute URLs.
    pub fn urls(policy: NetPolicy) -> Result<HttpSource, Error> {
        HttpSource::with("urls".into(), Urls::Absolute, policy, Timeouts::default())
    }

    fn with(name: String, urls: Urls, policy: NetPolicy, t: Timeouts) -> Result<HttpSource, Error> {
        let fail = |m: String| Error::Option { name: "assets", message: m };
        let rt = runtime().map_err(fail)?;
        let _in = rt.enter();
        let redirect = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 5 {
                return attempt.error(Refusal("more than 5 redirects".into()));
            }
            match check_url(attempt.url(), policy) {
                Ok(()) => attempt.follow(),
                Err(why) => attempt.error(Refusal(format!("redirected to {why}"))),
            }
        });
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(Resolver(policy)))
            .redirect(redirect)
            .no_proxy()
            .connect_timeout(t.connect)
            .read_timeout(t.idle)
            .user_agent(concat!("reel/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| fail(format!("starting the HTTP client: {e}")))?;
        Ok(HttpSource { name, urls, policy, client, rt })
    }

    fn url(&self, key: &str) -> Result<Url, FetchError> {
        let url = match &self.urls {
            Urls::Base(base) => {
                crate::media::check_key(key).map_err(FetchError::Refused)?;
                let mut url = base.clone();
                if let Ok(mut segs) = url.path_segments_mut() {
                    segs.pop_if_empty().extend(key.split('/').filter(|s| !s.is_empty() && *s != "."));
                }
                url
            }
            Urls::Signed(sign) => {
                let signed = sign(key).map_err(|why| FetchError::Refused(format!("signing: {why}")))?;
                Url::parse(&signed).map_err(|e| FetchError::Refused(format!("the signed URL is not a URL: {e}")))?
            }
            Urls::Absolute => Url::parse(key).map_err(|e| FetchError::Refused(format!("not a URL: {e}")))?,
        };
        check_url(&url, self.policy).map_err(FetchError::Refused)?;
        Ok(url)
    }
}

/// The client's error as one sentence: a refusal of ours is permanent, the rest may pass.
fn classify(e: reqwest::Error, url: &Url) -> FetchError {
    let mut chain: Vec<String> = Vec::new();
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = src {
        if let Some(r) = s.downcast_ref::<Refusal>() {
            return FetchError::Refused(format!("{}: {r}", shown(url)));
        }
        let text = s.to_string();
        if !chain.iter().any(|c| c.contains(&text)) {
            chain.push(text);
        }
        src = s.source();
    }
    let what = if e.is_timeout() { "timed out".to_string() } else { chain.join(": ") };
    FetchError::Transient(format!("{}: {what}", shown(url)))
}

/// A response's body read a chunk at a time, each waited for on the fetch runtime.
struct Chunks {
    rt: Arc<tokio::runtime::Runtime>,
    resp: reqwest::Response,
    buf: bytes::Bytes,
    got: u64,
    len: Option<u64>,
}

impl Read for Chunks {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.buf.is_empty() {
            match self.rt.block_on(async { self.resp.chunk().await }) {
                Ok(Some(b)) => {
                    self.got += b.len() as u64;
                    self.buf = b;
                }
                Ok(None) => return Ok(0),
                Err(e) => {
                    let why = if e.is_timeout() { "timed out" } else { "the connection failed" };
                    let of = self.len.map(|l| format!(" of {l}")).unwrap_or_default();
                    return Err(std::io::Error::other(format!("{why} after {}{of} bytes", self.got)));
                }
            }
        }
        let n = self.buf.len().min(out.len());
        out[..n].copy_from_slice(&self.buf.split_to(n));
        Ok(n)
    }
}

impl AssetSource for HttpSource {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn open(&self, key: &str, cached: Option<&str>) -> Result<Opened, FetchError> {
        let url = self.url(key)?;
        let mut req = self.client.get(url.clone());
        if let Some(v) = cached {
            req = req.header(IF_NONE_MATCH, v);
        }
        let resp = self.rt.block_on(async { req.send().await }).map_err(|e| classify(e, &url))?;
        let status = resp.status();
        let at = shown(resp.url());
        match status {
            StatusCode::NOT_MODIFIED if cached.is_some() => return Ok(Opened::NotModified),
            StatusCode::NOT_FOUND | StatusCode::GONE => {
                return Err(FetchError::Refused(format!("{at}: HTTP {status}")))
            }
            s if s.is_success() => {}
            s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS || s == StatusCode::REQUEST_TIMEOUT => {
                return Err(FetchError::Transient(format!("{at}: HTTP {s}")))
            }
            s => return Err(FetchError::Refused(format!("{at}: HTTP {s}"))),
        }
        let header =
            |h| resp.headers().get(h).and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok()).map(String::from);
        let version = header(ETAG);
        let content_type = header(CONTENT_TYPE);
        let len = resp.content_length();
        Ok(Opened::Body(Body {
            len,
            version,
            content_type,
            reader: Box::new(Chunks { rt: self.rt.clone(), resp, buf: bytes::Bytes::new(), got: 0, len }),
        }))
    }
}
