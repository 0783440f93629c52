//! The HTTP API (`docs/api.md`): authentication, rate limits, JSON errors, the endpoints.

use crate::db::{self, now_ms, Render};
use crate::storage::Storage;
use crate::{key_hash, random_hex, State};
use axum::body::{Body, BodyDataStream};
use axum::extract::{Path, Query, Request};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use hmac::{KeyInit, Mac};
use serde_json::{json, Value};
use sqlx::Row;
use std::sync::Arc;
use std::time::Duration;

type St = Arc<State>;

/// An error answer: `{"error": ..., "code"?: ..., "details"?: ...}`.
pub(crate) struct ApiError {
    status: StatusCode,
    body: Value,
    headers: Vec<(header::HeaderName, String)>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, error: impl Into<String>) -> ApiError {
        ApiError { status, body: json!({"error": error.into()}), headers: Vec::new() }
    }

    fn code(mut self, code: &str, details: Value) -> ApiError {
        self.body["code"] = json!(code);
        self.body["details"] = details;
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, Json(self.body)).into_response();
        for (k, v) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&v) {
                r.headers_mut().insert(k, v);
            }
        }
        r
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> ApiError {
        tracing::error!(error = %e, "database");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }
}

type Answer = Result<Response, ApiError>;

/// A storage error: logged, answered `503` (the client may try again).
fn unavailable(e: String) -> ApiError {
    tracing::error!(error = %e, "storage");
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "storage unavailable; try again")
}

/// The key a request was made with.
#[derive(Clone)]
pub(crate) struct KeyId(String);

pub(crate) fn router(st: St) -> Router {
    // Bodies are read by the handlers, each against its own limit (`read_json`, `put_asset`).
    let api = Router::new()
        .route("/api/v1/assets/{*key}", put(put_asset))
        .route("/assets/sign", post(sign_assets))
        .route("/api/v1/compositions", post(create_composition))
        .route("/api/v1/compositions/{id}", get(get_composition))
        .route("/api/v1/renders", post(create_render).get(list_renders))
        .route("/api/v1/renders/{id}", get(get_render))
        .route("/api/v1/renders/{id}/cancel", post(cancel_render))
        .route("/api/v1/renders/{id}/events", get(render_events))
        .route("/api/v1/usage", get(usage))
        .layer(axum::middleware::from_fn_with_state(st.clone(), authenticate));
    Router::new()
        .merge(api)
        .route("/files/{*path}", get(download))
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/metrics", get(metrics))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "this endpoint does not take that method")
        })
        .layer(Extension(st))
}

/// Bearer key, then the key's rolling-minute limit; the limit's headers on every answer.
async fn authenticate(axum::extract::State(st): axum::extract::State<St>, mut req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("");
    if given.is_empty() {
        let e = ApiError::new(StatusCode::UNAUTHORIZED, "missing API key: send Authorization: Bearer KEY");
        return refuse(req.into_body().into_data_stream(), e).await.into_response();
    }
    let found: Result<Option<String>, _> =
        sqlx::query_scalar("SELECT id FROM keys WHERE hash = $1").bind(key_hash(given)).fetch_optional(&st.db).await;
    let key_id = match found {
        Ok(Some(id)) => id,
        Ok(None) => {
            let e = ApiError::new(StatusCode::UNAUTHORIZED, "invalid API key");
            return refuse(req.into_body().into_data_stream(), e).await.into_response();
        }
        Err(e) => return ApiError::from(e).into_response(),
    };
    let limit = st.cfg.rate_limit.max(1);
    let per = 60.0 / f64::from(limit);
    let now_s = now_ms() / 1000;
    let (remaining, wait) = match st.limiter.check_key(&key_id) {
        Ok(snap) => (snap.remaining_burst_capacity(), None),
        Err(not_until) => {
            use governor::clock::Clock;
            (0, Some(not_until.wait_time_from(governor::clock::DefaultClock::default().now())))
        }
    };
    let reset = now_s + ((f64::from(limit - remaining.min(limit))) * per).ceil() as i64;
    let mut resp = match wait {
        Some(w) => {
            let secs = w.as_secs() + 1;
            let mut e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded");
            e.body["retryAfterSeconds"] = json!(secs);
            e.headers.push((header::RETRY_AFTER, secs.to_string()));
            refuse(req.into_body().into_data_stream(), e).await.into_response()
        }
        None => {
            let counted = sqlx::query(
                "INSERT INTO usage (key_id, day, requests) VALUES ($1, $2, 1)
                 ON CONFLICT (key_id, day) DO UPDATE SET requests = requests + 1",
            )
            .bind(&key_id)
            .bind(now_s / 86_400)
            .execute(&st.db)
            .await;
            if let Err(e) = counted {
                tracing::warn!(error = %e, "counting a request");
            }
            req.extensions_mut().insert(KeyId(key_id));
            next.run(req).await
        }
    };
    let h = resp.headers_mut();
    h.insert("x-ratelimit-limit", HeaderValue::from(limit));
    h.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
    h.insert("x-ratelimit-reset", HeaderValue::from(reset));
    resp
}

/// How much of a refused request's body is read and thrown away so that the answer reaches
/// a client still sending it: hyper closes a connection whose request body was left unread,
/// and a client that is still writing then sees the connection reset instead of the answer.
/// Beyond this (or after [`DRAIN_TIME`]) the answer says `Connection: close`.
const DRAIN_BOUND: u64 = 8 << 20;
const DRAIN_TIME: Duration = Duration::from_secs(10);

/// Answers `e` after reading the rest of the request's body, within [`DRAIN_BOUND`] and
/// [`DRAIN_TIME`]; a longer or slower body closes the connection after the answer.
async fn refuse(mut rest: BodyDataStream, mut e: ApiError) -> ApiError {
    use axum::body::HttpBody;
    use tokio_stream::StreamExt;
    let announced = rest.size_hint().upper();
    let mut read = 0u64;
    let drained = announced.is_none_or(|n| n <= DRAIN_BOUND)
        && tokio::time::timeout(DRAIN_TIME, async {
            while let Some(Ok(chunk)) = rest.next().await {
                read += chunk.len() as u64;
                if read > DRAIN_BOUND {
                    return false;
                }
            }
            true
        })
        .await
        .unwrap_or(false);
    if !drained {
        e.headers.push((header::CONNECTION, "close".to_string()));
    }
    e
}

/// A request body of at most `max` bytes as JSON, with JSON errors for what is too large or
/// not JSON.
async fn read_json(body: Body, max: usize) -> Result<Value, ApiError> {
    use tokio_stream::StreamExt;
    let too_large =
        || ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("request body too large: at most {max} bytes"));
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("reading the body: {e}")))?;
        if bytes.len() + chunk.len() > max {
            return Err(refuse(stream, too_large()).await);
        }
        bytes.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&bytes).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("body is not JSON: {e}")))
}

/// The suffixes of an asset's variants (`reel::variants::asset_variants`).
const VARIANTS: [&str; 4] = ["_400w.jpg", "_800w.jpg", "_web.mp4", "_preview.mp4"];

fn key_folder(st: &State, key: &KeyId) -> std::path::PathBuf {
    st.cfg.data.join("assets").join(&key.0)
}

async fn put_asset(
    Extension(st): Extension<St>,
    Extension(key): Extension<KeyId>,
    Path(asset): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Answer {
    if let Err(why) = reel::media::check_key(&asset) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, format!("key {asset:?}: {why}")));
    }
    let max = st.cfg.max_upload;
    let too_large = || ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("an upload may have at most {max} bytes"));
    let announced =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > max) {
        return Err(refuse(body.into_data_stream(), too_large()).await);
    }
    // In a bucket, the upload is staged in a folder of its own in the data folder, then put
    // whole; its variants are made there and put after it.
    let folder = match &st.storage {
        Storage::Folder => key_folder(&st, &key),
        Storage::Bucket(_) => st.cfg.data.join("uploads").join(format!("upload-{}", random_hex(8))),
    };
    let path = folder.join(&asset);
    let dir = path.parent().map(std::path::Path::to_path_buf).unwrap_or(folder.clone());
    let storage = |e: std::io::Error| {
        tracing::error!(error = %e, "storing an asset");
        ApiError::new(StatusCode::INSUFFICIENT_STORAGE, "could not store the asset")
    };
    // Streamed to a temporary file beside its name, hashed on the way, renamed when whole:
    // memory does not grow with the upload, and no half-written asset is ever visible.
    tokio::fs::create_dir_all(&dir).await.map_err(storage)?;
    let internal = |_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
    let tmp = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || tempfile::Builder::new().prefix(".upload-").tempfile_in(&dir)
    })
    .await
    .map_err(internal)?
    .map_err(storage)?;
    let mut file = tokio::fs::File::from_std(tmp.as_file().try_clone().map_err(storage)?);
    let mut hash = <sha2::Sha256 as sha2::Digest>::new();
    let mut n: u64 = 0;
    let mut stream = body.into_data_stream();
    use tokio::io::AsyncWriteExt;
    use tokio_stream::StreamExt;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("reading the upload: {e}")))?;
        n += chunk.len() as u64;
        if n > max {
            return Err(refuse(stream, too_large()).await);
        }
        sha2::Digest::update(&mut hash, &chunk);
        file.write_all(&chunk).await.map_err(storage)?;
    }
    file.sync_all().await.map_err(storage)?;
    drop(file);
    let file = path.clone();
    tokio::task::spawn_blocking(move || tmp.persist(&path)).await.map_err(internal)?.map_err(|e| storage(e.error))?;
    let sha = hex::encode(sha2::Digest::finalize(hash));
    let name = format!("assets/{}/{asset}", key.0);
    if let Storage::Bucket(b) = &st.storage {
        if let Err(e) = b.put_file(&file, &name).await {
            tracing::error!(error = %e, "storing an asset");
            let _ = tokio::fs::remove_dir_all(&folder).await;
            return Err(ApiError::new(StatusCode::INSUFFICIENT_STORAGE, "could not store the asset"));
        }
    }
    // Variants (posters for images, web and preview copies for videos) after the answer.
    let variants = matches!(
        file.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref(),
        Some("png" | "jpg" | "jpeg" | "webp" | "mp4" | "mov" | "webm" | "mkv")
    );
    let st2 = st.clone();
    tokio::spawn(async move {
        if variants {
            let f = file.clone();
            let made = tokio::task::spawn_blocking(move || reel::variants::asset_variants(&f, None, "veryfast")).await;
            if let Ok(Err(e)) = made {
                tracing::warn!(error = %e, file = %file.display(), "asset variants");
            }
        }
        if let Storage::Bucket(b) = &st2.storage {
            for suffix in VARIANTS {
                let made = reel::variants::sibling(&file, suffix);
                if variants && made.is_file() {
                    let sibling = reel::variants::sibling(std::path::Path::new(&name), suffix);
                    if let Err(e) = b.put_file(&made, &sibling.to_string_lossy()).await {
                        tracing::warn!(error = %e, "storing an asset variant");
                    }
                }
            }
            let _ = tokio::fs::remove_dir_all(&folder).await;
        }
    });
    let mut body = json!({"key": asset, "bytes": n, "sha256": sha});
    if variants {
        body["variants"] = json!("pending");
    }
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Validates a composition (with merge data) against the key's assets: every problem.
/// Its frame count when it plans.
/// The cap of the service's cache of assets fetched from a bucket to be checked.
const CACHE_BYTES: u64 = 10 << 30;

async fn validate(
    st: &State,
    key: &KeyId,
    text: String,
    merge: reel::MergeData,
    policy: Option<reel::DurationPolicy>,
) -> Result<u64, ApiError> {
    let folder = key_folder(st, key);
    let fonts = st.fonts.clone();
    // From a bucket, the assets are fetched into the service's cache (revalidated by ETag)
    // and planned from there, as a render's child does.
    // A bucket out of reach is the service's trouble (503), not the composition's.
    let source = match &st.storage {
        Storage::Folder => None,
        Storage::Bucket(b) => {
            b.reachable(&format!("assets/{}", key.0)).await.map_err(unavailable)?;
            Some(b.asset_source(&key.0).map_err(|e| {
                tracing::error!(error = %e, "storage");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            })?)
        }
    };
    let cache = st.cfg.data.join("cache");
    let checked = tokio::task::spawn_blocking(move || -> reel::Result<u64> {
        let parsed = reel::parse_merged(&text, &merge)?;
        let mut opts = reel::PlanOptions::new(folder);
        opts.fonts = fonts;
        opts.duration_policy = policy;
        if let Some(source) = source {
            let fetcher = reel::fetch::Fetcher::new(Some(reel::fetch::AssetCache::new(&cache, CACHE_BYTES)?));
            opts.assets = std::sync::Arc::new(fetcher.fetch(&parsed.composition, &source)?);
        }
        reel::Plan::build(&parsed, &opts).map(|p| p.frame_count())
    })
    .await
    .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error"))?;
    checked.map_err(|e| {
        let problems: Vec<Value> = if e.problems().is_empty() {
            vec![json!({"path": "", "message": e.to_string()})]
        } else {
            e.problems().iter().map(|p| json!({"path": p.path, "message": p.message})).collect()
        };
        ApiError::new(StatusCode::BAD_REQUEST, "invalid composition")
            .code("INVALID_COMPOSITION", json!({"problems": problems}))
    })
}

async fn store_composition(st: &State, key: &KeyId, comp: &Value) -> Result<String, ApiError> {
    let id = format!("comp_{}", random_hex(16));
    sqlx::query("INSERT INTO compositions (id, key_id, body, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&id)
        .bind(&key.0)
        .bind(comp.to_string())
        .bind(now_ms())
        .execute(&st.db)
        .await?;
    Ok(id)
}

async fn create_composition(Extension(st): Extension<St>, Extension(key): Extension<KeyId>, body: Body) -> Answer {
    let body = read_json(body, st.cfg.max_body).await?;
    let Some(comp) = body.get("composition").filter(|c| c.is_object()) else {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "composition: expected an object"));
    };
    let text = comp.to_string();
    // A template's merge fields are filled per render: check it then.
    if !text.contains("{{") {
        validate(&st, &key, text, reel::MergeData::new(), None).await?;
    }
    let id = store_composition(&st, &key, comp).await?;
    Ok((StatusCode::CREATED, Json(json!({"composition_id": id}))).into_response())
}

async fn get_composition(
    Extension(st): Extension<St>,
    Extension(key): Extension<KeyId>,
    Path(id): Path<String>,
) -> Answer {
    let body: Option<String> = sqlx::query_scalar("SELECT body FROM compositions WHERE id = $1 AND key_id = $2")
        .bind(&id)
        .bind(&key.0)
        .fetch_optional(&st.db)
        .await?;
    let body = body.ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "composition not found"))?;
    let comp: Value = serde_json::from_str(&body).unwrap_or_default();
    Ok(Json(json!({"composition_id": id, "composition": comp})).into_response())
}

/// Checks a webhook URL: `https`, no credentials, resolving only to public addresses
/// (unless insecure webhooks are allowed).
pub(crate) async fn check_webhook(url: &str, insecure: bool) -> Result<reqwest::Url, String> {
    let u = reqwest::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    match u.scheme() {
        "https" => {}
        "http" if insecure => {}
        s => return Err(format!("the scheme {s}:// is refused; webhooks go to https:// URLs")),
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err("a webhook URL may not carry credentials; use webhook_secret".into());
    }
    let host = u.host_str().ok_or("no host")?.trim_matches(['[', ']']).to_string();
    let port = u.port_or_known_default().unwrap_or(443);
    let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| format!("{host} does not resolve: {e}"))?
        .collect();
    let policy = reel::fetch::NetPolicy { allow_private: insecure };
    for a in &addrs {
        if let Some(why) = policy.refusal(a.ip()) {
            return Err(format!("{host} resolves to {}, {why}, which webhooks may not reach", a.ip()));
        }
    }
    if addrs.is_empty() {
        return Err(format!("{host} has no address"));
    }
    Ok(u)
}

/// The answer for a render an `Idempotency-Key` already made, if one did.
async fn made_with(st: &State, key: &KeyId, idem: Option<&str>) -> Result<Option<Response>, ApiError> {
    let Some(k) = idem else { return Ok(None) };
    let id: Option<String> = sqlx::query_scalar("SELECT id FROM renders WHERE key_id = $1 AND idempotency_key = $2")
        .bind(&key.0)
        .bind(k)
        .fetch_optional(&st.db)
        .await?;
    Ok(id.map(|id| accepted(&id, "queued", "the render this Idempotency-Key made")))
}

async fn create_render(
    Extension(st): Extension<St>,
    Extension(key): Extension<KeyId>,
    headers: HeaderMap,
    body: Body,
) -> Answer {
    let body = read_json(body, st.cfg.max_body).await?;
    let idem = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_string);
    if let Some(made) = made_with(&st, &key, idem.as_deref()).await? {
        return Ok(made);
    }
    let mut problems = Vec::new();
    let bad = |p: &str, m: String| json!({"path": p, "message": m});
    // The composition: by id, or inline.
    let (comp_id, text) = match (body.get("composition_id").and_then(Value::as_str), body.get("composition")) {
        (Some(id), None) => {
            let found: Option<String> =
                sqlx::query_scalar("SELECT body FROM compositions WHERE id = $1 AND key_id = $2")
                    .bind(id)
                    .bind(&key.0)
                    .fetch_optional(&st.db)
                    .await?;
            match found {
                Some(b) => (Some(id.to_string()), b),
                None => return Err(ApiError::new(StatusCode::NOT_FOUND, "composition not found")),
            }
        }
        (None, Some(c)) if c.is_object() => (None, c.to_string()),
        _ => return Err(ApiError::new(StatusCode::BAD_REQUEST, "give composition_id or composition (an object)")),
    };
    let outputs = match body.get("outputs") {
        None | Some(Value::Null) => vec!["web".to_string(), "preview".into(), "posters".into()],
        Some(Value::Array(a)) => {
            let list: Vec<String> = a.iter().filter_map(|v| v.as_str().map(String::from)).collect();
            for o in &list {
                if !matches!(o.as_str(), "web" | "preview" | "posters") {
                    problems.push(bad("outputs", format!("{o:?}: expected web, preview or posters")));
                }
            }
            if list.len() != a.len() {
                problems.push(bad("outputs", "expected strings".into()));
            }
            list
        }
        Some(_) => {
            problems.push(bad("outputs", "expected an array of web, preview, posters".into()));
            Vec::new()
        }
    };
    let mut merge = reel::MergeData::new();
    match body.get("merge") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => {
                        problems.push(bad(&format!("merge.{k}"), "expected a string, number or boolean".into()));
                        continue;
                    }
                };
                merge.set(k.clone(), text);
            }
        }
        Some(_) => problems.push(bad("merge", "expected an object of field names to values".into())),
    }
    if let Some(p) = body.get("duration_policy").filter(|v| !v.is_null()) {
        if !matches!(p.as_str(), Some("fit" | "pad" | "strict")) {
            problems.push(bad("duration_policy", format!("{p}: expected fit, pad or strict")));
        }
    }
    if let Some(u) = body.get("webhook_url").filter(|v| !v.is_null()) {
        match u.as_str() {
            Some(u) => {
                if let Err(why) = check_webhook(u, st.cfg.allow_insecure_webhooks).await {
                    problems.push(bad("webhook_url", why));
                }
            }
            None => problems.push(bad("webhook_url", "expected a string".into())),
        }
    }
    if body.get("webhook_secret").is_some_and(|s| !s.is_null() && !s.is_string()) {
        problems.push(bad("webhook_secret", "expected a string".into()));
    }
    if !problems.is_empty() {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid render request")
            .code("INVALID_REQUEST", json!({"problems": problems})));
    }
    let policy = match body.get("duration_policy").and_then(Value::as_str) {
        Some("fit") => Some(reel::DurationPolicy::Fit),
        Some("pad") => Some(reel::DurationPolicy::Pad),
        Some("strict") => Some(reel::DurationPolicy::Strict),
        _ => None,
    };
    let frames = validate(&st, &key, text.clone(), merge, policy).await?;
    let comp_id = match comp_id {
        Some(id) => id,
        None => store_composition(&st, &key, &serde_json::from_str(&text).unwrap_or_default()).await?,
    };
    let id = format!("rnd_{}", random_hex(16));
    let mut request = body.clone();
    if let Some(o) = request.as_object_mut() {
        o.remove("composition");
        o.insert("outputs".into(), json!(outputs));
    }
    // Longer than --chunk-frames: split into chunks of about that many frames, rendered
    // by any workers and stitched when the last one lands.
    let chunk = st.cfg.chunk_frames;
    let ranges: Vec<(u64, u64)> = if chunk > 0 && frames > chunk {
        let n = frames.div_ceil(chunk);
        let size = frames.div_ceil(n);
        (0..n).map(|i| (i * size, ((i + 1) * size).min(frames))).filter(|(a, b)| a < b).collect()
    } else {
        Vec::new()
    };
    let inserted = async {
        let mut tx = st.db.begin().await?;
        sqlx::query(
            "INSERT INTO renders (id, key_id, composition_id, request, status, idempotency_key, created_at, frames_total, chunks_total)
             VALUES ($1, $2, $3, $4, 'queued', $5, $6, $7, $8)",
        )
        .bind(&id)
        .bind(&key.0)
        .bind(&comp_id)
        .bind(request.to_string())
        .bind(&idem)
        .bind(now_ms())
        .bind(frames as i64)
        .bind(ranges.len() as i64)
        .execute(&mut *tx)
        .await?;
        for (i, (a, b)) in ranges.iter().enumerate() {
            sqlx::query("INSERT INTO chunks (render_id, idx, frame_start, frame_end, status) VALUES ($1, $2, $3, $4, 'queued')")
                .bind(&id)
                .bind(i as i64)
                .bind(*a as i64)
                .bind(*b as i64)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    }
    .await;
    if let Err(e) = inserted {
        // Two requests with one Idempotency-Key at once: the other one's render.
        if let Some(made) = made_with(&st, &key, idem.as_deref()).await? {
            return Ok(made);
        }
        return Err(e.into());
    }
    db::event(&st.db, &id, "queued", &json!({"render_id": id, "status": "queued"})).await?;
    st.wake.notify_one();
    tracing::info!(render_id = %id, key_id = %key.0, "render queued");
    Ok(accepted(&id, "queued", "Render queued"))
}

fn accepted(id: &str, status: &str, message: &str) -> Response {
    let mut r =
        (StatusCode::ACCEPTED, Json(json!({"render_id": id, "status": status, "message": message}))).into_response();
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(2));
    r
}

fn rfc3339(ms: i64) -> Value {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .map_or(Value::Null, Value::String)
}

/// Signed URLs' expiry: the end of the next hour plus a day, so a URL (and the ETag of the
/// status that carries it) stays the same for an hour and works for at least a day.
fn expiry() -> i64 {
    let now = now_ms() / 1000;
    (now / 3600 + 1) * 3600 + 86_400
}

fn signature(secret: &[u8], path: &str, expires: i64) -> String {
    // HMAC takes a key of any length: this cannot fail, and an empty signature is refused.
    let Ok(mut mac) = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret) else { return String::new() };
    mac.update(format!("{path}\n{expires}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

pub(crate) fn signed_url(st: &State, path: &str, expires: i64) -> String {
    format!("{}{path}?expires={expires}&signature={}", st.base_url, signature(&st.secret, path, expires))
}

/// The status body of a render.
pub(crate) fn render_json(st: &State, r: &Render, expires: i64) -> Value {
    let mut v = json!({
        "render_id": r.id, "composition_id": r.composition_id, "status": r.status,
        "progress_pct": if r.frames_total > 0 { (r.frames_done * 100 / r.frames_total).min(100) } else if r.status == "done" { 100 } else { 0 },
        "frames_done": r.frames_done, "frames_total": r.frames_total,
        "created_at": rfc3339(r.created_at),
        "started_at": r.started_at.map_or(Value::Null, rfc3339),
        "completed_at": r.completed_at.map_or(Value::Null, rfc3339),
    });
    if let Some(p) = &r.phase {
        v["phase"] = json!(p);
    }
    if r.chunks_total > 0 && !finished(&r.status) {
        v["chunks"] = json!({"total": r.chunks_total, "done": r.chunks_done});
    }
    if let Some(e) = &r.error {
        v["error"] = json!(e);
    }
    if let (Some(o), "done") = (&r.output, r.status.as_str()) {
        let mut out = json!({});
        let files = o.get("files").and_then(Value::as_object).cloned().unwrap_or_default();
        for (field, name) in files {
            if let Some(name) = name.as_str() {
                out[field] = json!(signed_url(st, &format!("/files/{}/{name}", r.id), expires));
            }
        }
        for f in ["duration_seconds", "width", "height", "bytes"] {
            if let Some(x) = o.get(f) {
                out[f] = x.clone();
            }
        }
        v["output"] = out;
    }
    v
}

fn finished(status: &str) -> bool {
    matches!(status, "done" | "failed" | "cancelled")
}

async fn get_render(
    Extension(st): Extension<St>,
    Extension(key): Extension<KeyId>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Answer {
    let r = db::render(&st.db, &key.0, &id)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "render not found"))?;
    let expires = expiry();
    let etag = format!("\"{}-{}-{expires}\"", r.id, r.version);
    let mut resp = if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        Json(render_json(&st, &r, expires)).into_response()
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if !finished(&r.status) {
        h.insert(header::RETRY_AFTER, HeaderValue::from(if r.status == "queued" { 5 } else { 2 }));
    }
    Ok(resp)
}

#[derive(serde::Deserialize)]
struct ListQuery {
    status: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

async fn list_renders(
    Extension(st): Extension<St>,
    Extension(key): Extension<KeyId>,
    Query(q): Query<ListQuery>,
) -> Answer {
    let limit = q.limit.unwrap_or(20).clamp(1, 100);
    let rows = db::renders(&st.db, &key.0, q.status.as_deref(), limit + 1, q.cursor.as_deref()).await?;
    let more = rows.len() as i64 > limit;
    let expires = expiry();
    let items: Vec<Value> = rows.iter().take(limit as usize).map(|r| render_json(&st, r, expires)).collect();
    let next = if more { rows.get(limit as usize - 1).map(|r| json!(r.id)) } else { None };
    Ok(Json(json!({"renders": items, "next_cursor": next.unwrap_or(Value::Null)})).into_response())
}

async fn cancel_render(
    Extension(st): Extension<St>,
    Extension(key): Extension<KeyId>,
    Path(id): Path<String>,
) -> Answer {
    let r = db::render(&st.db, &key.0, &id)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "render not found"))?;
    if finished(&r.status) {
        return Err(ApiError::new(StatusCode::CONFLICT, format!("the render is {} and cannot be cancelled", r.status)));
    }
    let changed = crate::runner::finish(&st, &id, None, "cancelled", None, None, None).await?;
    if !changed {
        return Err(ApiError::new(StatusCode::CONFLICT, "the render ended meanwhile"));
    }
    st.runner.kill(&id);
    Ok(accepted(&id, "cancelled", "Render cancelled"))
}

#[derive(serde::Deserialize)]
struct EventsQuery {
    last_event_id: Option<i64>,
}

async fn render_events(
    Extension(st): Extension<St>,
    Extension(key): Extension<KeyId>,
    Path(id): Path<String>,
    Query(q): Query<EventsQuery>,
    headers: HeaderMap,
) -> Answer {
    db::render(&st.db, &key.0, &id).await?.ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "render not found"))?;
    let header_last = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    let start = q.last_event_id.or(header_last).unwrap_or(0);
    let stream = futures_stream(st, id, start);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)).text("keepalive"))
        .into_response())
}

/// The render's events from `after` on, read from the database as they are written; the
/// stream ends after `done`, `failed` or `cancelled` (or when the client goes).
fn futures_stream(
    st: St,
    id: String,
    after: i64,
) -> impl tokio_stream::Stream<Item = Result<Event, std::convert::Infallible>> + Send {
    use tokio_stream::StreamExt;
    let (tx, rx) = tokio::sync::mpsc::channel::<Event>(16);
    tokio::spawn(async move {
        let mut seq = after;
        loop {
            let Ok(events) = db::events_after(&st.db, &id, seq).await else { return };
            for (n, name, data) in events {
                seq = n;
                let end = matches!(name.as_str(), "done" | "failed" | "cancelled");
                if tx.send(Event::default().id(n.to_string()).event(name).data(data)).await.is_err() || end {
                    return;
                }
            }
            tokio::select! {
                _ = tx.closed() => return,
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx).map(Ok)
}

#[derive(serde::Deserialize)]
struct SignQuery {
    expires: Option<i64>,
    signature: Option<String>,
}

/// A signed file: no key, `Range` honoured, refused after expiry or with a wrong signature.
async fn download(
    Extension(st): Extension<St>,
    Path(path): Path<String>,
    Query(q): Query<SignQuery>,
    req: Request,
) -> Answer {
    let (Some(expires), Some(sig)) = (q.expires, q.signature) else {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "a signed URL needs expires and signature"));
    };
    let full = format!("/files/{path}");
    let want = signature(&st.secret, &full, expires);
    let same = !want.is_empty()
        && want.len() == sig.len()
        && want.bytes().zip(sig.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    if !same {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "invalid signature"));
    }
    if expires < now_ms() / 1000 {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "the URL has expired"));
    }
    // /files/rnd_x/NAME (a render's output) or /files/assets/key_x/KEY (an asset).
    if reel::media::check_key(&path).is_err() {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "not found"));
    }
    let name = if path.starts_with("assets/") {
        path.clone()
    } else {
        let (id, name) = path.split_once('/').ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not found"))?;
        let done: Option<String> =
            sqlx::query_scalar("SELECT status FROM renders WHERE id = $1").bind(id).fetch_optional(&st.db).await?;
        if done.as_deref() != Some("done") {
            return Err(ApiError::new(StatusCode::NOT_FOUND, "not found"));
        }
        format!("renders/{id}/out/{name}")
    };
    if let Storage::Bucket(b) = &st.storage {
        return match b.serve(&name, req.headers()).await {
            Ok(Some(r)) => Ok(r),
            Ok(None) => Err(ApiError::new(StatusCode::NOT_FOUND, "not found")),
            Err(e) => Err(unavailable(e)),
        };
    }
    let file = st.cfg.data.join(&name);
    if !file.is_file() {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "not found"));
    }
    use tower::ServiceExt;
    let served = tower_http::services::ServeFile::new(&file).oneshot(req).await;
    match served {
        Ok(r) => Ok(r.map(Body::new)),
        Err(_) => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")),
    }
}

#[derive(serde::Deserialize)]
struct SignBody {
    keys: Vec<String>,
    expires_in: Option<i64>,
}

async fn sign_assets(Extension(st): Extension<St>, Extension(key): Extension<KeyId>, body: Body) -> Answer {
    let body: SignBody = serde_json::from_value(read_json(body, st.cfg.max_body).await?).map_err(|e| {
        ApiError::new(StatusCode::BAD_REQUEST, format!("expected {{\"keys\": [...], \"expires_in\": N}}: {e}"))
    })?;
    if body.keys.len() > 50 {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, format!("{} keys; at most 50 at once", body.keys.len())));
    }
    let expires_in = body.expires_in.unwrap_or(3600);
    if !(1..=7 * 86_400).contains(&expires_in) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("expires_in {expires_in}: expected 1..=604800 seconds"),
        ));
    }
    let expires = now_ms() / 1000 + expires_in;
    let folder = key_folder(&st, &key);
    let mut urls = serde_json::Map::new();
    for k in &body.keys {
        if reel::media::check_key(k).is_err() {
            continue;
        }
        let candidates = std::iter::once(k.clone()).chain(
            VARIANTS.iter().map(|s| reel::variants::sibling(std::path::Path::new(k), s).to_string_lossy().into_owned()),
        );
        for c in candidates {
            let there = match &st.storage {
                Storage::Folder => folder.join(&c).is_file(),
                Storage::Bucket(b) => b.exists(&format!("assets/{}/{c}", key.0)).await.map_err(unavailable)?,
            };
            if there {
                let url = signed_url(&st, &format!("/files/assets/{}/{c}", key.0), expires);
                urls.insert(c, json!(url));
            }
        }
    }
    Ok(Json(json!({"urls": urls})).into_response())
}

#[derive(serde::Deserialize)]
struct UsageQuery {
    days: Option<String>,
}

/// The key's figures over the last `days` (1 to 90, default 30; out of range is clamped).
async fn usage(Extension(st): Extension<St>, Extension(key): Extension<KeyId>, Query(q): Query<UsageQuery>) -> Answer {
    let days = q.days.as_deref().and_then(|d| d.trim().parse::<i64>().ok()).unwrap_or(30).clamp(1, 90);
    let since_ms = now_ms() - days * 86_400_000;
    let today = now_ms() / 86_400_000;
    let requests: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(requests), 0) AS BIGINT) FROM usage WHERE key_id = $1 AND day > $2",
    )
    .bind(&key.0)
    .bind(today - days)
    .fetch_one(&st.db)
    .await?;
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(CASE WHEN status = 'done' THEN 1 ELSE 0 END), 0) AS BIGINT) AS done,
                CAST(COALESCE(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), 0) AS BIGINT) AS failed,
                CAST(COALESCE(SUM(CASE WHEN status = 'done' THEN video_seconds END), 0) AS DOUBLE PRECISION) AS video,
                CAST(COALESCE(SUM(render_seconds), 0) AS DOUBLE PRECISION) AS secs
         FROM renders WHERE key_id = $1 AND created_at >= $2",
    )
    .bind(&key.0)
    .bind(since_ms)
    .fetch_one(&st.db)
    .await?;
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM renders WHERE key_id = $1 AND status = 'done'")
        .bind(&key.0)
        .fetch_all(&st.db)
        .await?;
    let data = st.cfg.data.clone();
    let folder = key_folder(&st, &key);
    let storage = if let Storage::Bucket(b) = &st.storage {
        let mut total = b.bytes_under(&format!("assets/{}", key.0)).await.map_err(unavailable)?;
        for id in &ids {
            total += b.bytes_under(&format!("renders/{id}/out")).await.map_err(unavailable)?;
        }
        total
    } else {
        tokio::task::spawn_blocking(move || {
            let mut total = dir_bytes(&folder);
            for id in ids {
                total += dir_bytes(&data.join("renders").join(id).join("out"));
            }
            total
        })
        .await
        .unwrap_or(0)
    };
    let n = |k: &str| row.try_get::<Option<i64>, _>(k).ok().flatten().unwrap_or(0);
    let f = |k: &str| row.try_get::<Option<f64>, _>(k).ok().flatten().unwrap_or(0.0);
    Ok(Json(json!({
        "period_days": days, "total_requests": requests,
        "renders": {"count": n("n"), "done": n("done"), "failed": n("failed"),
                    "video_seconds": f("video"), "render_seconds": (f("secs") * 1000.0).round() / 1000.0},
        "storage_bytes": storage,
    }))
    .into_response())
}

/// The bytes of the files under `dir`.
fn dir_bytes(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

/// Prometheus text: queue depth, renders by status, render seconds, webhook failures.
async fn metrics(Extension(st): Extension<St>) -> Answer {
    let mut out = String::new();
    let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM renders GROUP BY status").fetch_all(&st.db).await?;
    let mut by: std::collections::BTreeMap<String, i64> =
        ["queued", "running", "done", "failed", "cancelled"].iter().map(|s| (s.to_string(), 0)).collect();
    for r in rows {
        by.insert(r.get("status"), r.get("n"));
    }
    out += "# HELP reel_queue_depth Renders waiting for a worker.\n# TYPE reel_queue_depth gauge\n";
    out += &format!("reel_queue_depth {}\n", by.get("queued").copied().unwrap_or(0));
    out += "# HELP reel_renders Renders by status.\n# TYPE reel_renders gauge\n";
    for (s, n) in &by {
        out += &format!("reel_renders{{status=\"{s}\"}} {n}\n");
    }
    let (sum, count): (Option<f64>, i64) =
        sqlx::query_as("SELECT SUM(render_seconds), COUNT(render_seconds) FROM renders").fetch_one(&st.db).await?;
    out += "# HELP reel_render_seconds Wall time of finished renders.\n# TYPE reel_render_seconds summary\n";
    out += &format!("reel_render_seconds_sum {}\nreel_render_seconds_count {count}\n", sum.unwrap_or(0.0));
    let failed: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM webhooks WHERE state = 'failed'").fetch_one(&st.db).await?;
    let attempts: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(CASE WHEN state = 'delivered' THEN attempts - 1 ELSE attempts END), 0) AS BIGINT) FROM webhooks",
    )
    .fetch_one(&st.db)
    .await?;
    out += "# HELP reel_webhook_failures_total Webhook deliveries that failed all their attempts.\n# TYPE reel_webhook_failures_total counter\n";
    out += &format!("reel_webhook_failures_total {failed}\n");
    out += "# HELP reel_webhook_failed_attempts_total Webhook attempts that did not get a 2xx.\n# TYPE reel_webhook_failed_attempts_total counter\n";
    out += &format!("reel_webhook_failed_attempts_total {attempts}\n");
    out +=
        &format!("# HELP reel_workers Renders at once.\n# TYPE reel_workers gauge\nreel_workers {}\n", st.cfg.workers);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response())
}
