//! `reel serve`: the render backend on the reel library.
//!
//! One process holds the HTTP API (axum), the state (SQLite under `--data DIR`, sqlx), the
//! queue, and up to `--workers N` renders, each a child process of the `reel` binary
//! (`reel render --progress json`) under resource limits, so a render that crashes, runs out
//! of memory or overruns fails alone. Webhooks are stored before they are sent and retried.
//!
//! ```text
//! HTTP ──api──▶ db (keys, compositions, renders, events, webhooks) ◀──runner── child `reel render`
//!                                      ▲
//!                                  webhook (delivery loop)
//! ```

#![warn(missing_docs)]

mod api;
mod db;
mod runner;
mod storage;
mod webhook;

use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How the service runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The data folder: `reel.db`, `secret`, `assets/`, `renders/`.
    pub data: PathBuf,
    /// Where to listen.
    pub listen: SocketAddr,
    /// The address written into download URLs (`http://HOST:PORT`, no trailing slash);
    /// by default the listening address.
    pub base_url: Option<String>,
    /// Renders at once.
    pub workers: usize,
    /// Requests per key per rolling minute.
    pub rate_limit: u32,
    /// Largest JSON body, bytes.
    pub max_body: usize,
    /// Largest upload, bytes.
    pub max_upload: u64,
    /// Webhooks may go to `http://` and loopback or private addresses (local testing).
    pub allow_insecure_webhooks: bool,
    /// The first webhook retry's delay.
    pub webhook_backoff: Duration,
    /// On SIGTERM, how long running renders may go on before they are requeued.
    pub grace: Duration,
    /// The `reel` program renders run in (by default this process's own executable).
    pub program: PathBuf,
    /// A render's limits: address space (bytes), CPU time (seconds), output file size (bytes).
    pub limits: ChildLimits,
    /// How long a worker holds a render without renewing its lease (it renews it every
    /// third of this while the render runs): a worker silent for longer loses the render,
    /// and another takes it again from the start.
    pub lease: Duration,
    /// The database: `postgres://USER:PASSWORD@HOST:PORT/DB`, or `None` for SQLite in
    /// the data folder.
    pub database: Option<String>,
    /// Renders longer than this many frames are split into chunks of about as many,
    /// rendered by any workers and stitched (0: never split).
    pub chunk_frames: u64,
    /// Where assets, segments and outputs live: `s3://BUCKET/PREFIX` (endpoint and
    /// credentials from the usual `AWS_*` variables), or `None` for the data folder.
    pub storage: Option<String>,
    /// This process's name in the queue (`HOST/serve`, `HOST/worker-RANDOM`): the renders it
    /// holds are marked with it.
    pub worker_id: String,
}

/// Resource limits of a render's child process (`setrlimit`).
#[derive(Debug, Clone, Copy)]
pub struct ChildLimits {
    /// Address space, bytes (`RLIMIT_AS`). 16 GiB.
    pub memory: u64,
    /// CPU seconds (`RLIMIT_CPU`). 2 hours.
    pub cpu_seconds: u64,
    /// Largest file it may write (`RLIMIT_FSIZE`). 8 GiB.
    pub file_size: u64,
}

impl Default for ChildLimits {
    fn default() -> Self {
        ChildLimits { memory: 16 << 30, cpu_seconds: 7200, file_size: 8 << 30 }
    }
}

impl Config {
    /// The defaults for `data`: 127.0.0.1:8080, 2 workers, 30 requests a minute, 16 MB JSON
    /// bodies, 2 GB uploads, webhook retries from 5 s, 30 s grace.
    pub fn new(data: impl Into<PathBuf>) -> Config {
        Config {
            data: data.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            base_url: None,
            workers: 2,
            rate_limit: 30,
            max_body: 16 << 20,
            max_upload: 2 << 30,
            allow_insecure_webhooks: false,
            webhook_backoff: Duration::from_secs(5),
            grace: Duration::from_secs(30),
            program: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("reel")),
            limits: ChildLimits::default(),
            lease: Duration::from_secs(30),
            chunk_frames: 3600,
            database: None,
            storage: None,
            worker_id: format!("{}/serve", hostname()),
        }
    }
}

/// What the service shares between requests and tasks.
pub(crate) struct State {
    pub(crate) cfg: Config,
    pub(crate) db: db::Db,
    pub(crate) dialect: db::Dialect,
    pub(crate) secret: Vec<u8>,
    pub(crate) base_url: String,
    pub(crate) limiter: governor::DefaultKeyedRateLimiter<String, governor::middleware::StateInformationMiddleware>,
    pub(crate) wake: tokio::sync::Notify,
    pub(crate) storage: storage::Storage,
    pub(crate) runner: runner::Runner,
    /// Whether this process renders (a service with `workers` 0 leaves it to workers).
    pub(crate) local: bool,
    /// The bundled fonts, loaded once for every validation.
    pub(crate) fonts: Arc<reel::FontLibrary>,
}

/// This machine's name (`localhost` when it has none).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// A name for a worker process: `HOST/worker-RANDOM`.
pub fn worker_name() -> String {
    format!("{}/worker-{}", hostname(), random_hex(4))
}

/// SHA-256 of an API key, as stored.
pub(crate) fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// `n` random bytes as lowercase hex.
pub(crate) fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).unwrap_or_else(|_| b.iter_mut().enumerate().for_each(|(i, x)| *x = i as u8 ^ 0x5a));
    hex::encode(b)
}

/// Creates an API key in the data folder's database: the key, shown once.
pub async fn create_key(data: &std::path::Path, database: Option<&str>, name: &str) -> Result<String, String> {
    std::fs::create_dir_all(data).map_err(|e| format!("{}: {e}", data.display()))?;
    let (db, _) = db::open(data, database).await?;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut raw = [0u8; 40];
    getrandom::fill(&mut raw).map_err(|e| format!("no randomness: {e}"))?;
    let key: String = std::iter::once("reel_".to_string())
        .chain(raw.iter().map(|b| (ALPHABET[(*b as usize) % ALPHABET.len()] as char).to_string()))
        .collect();
    sqlx::query("INSERT INTO keys (id, name, hash, created_at) VALUES ($1, $2, $3, $4)")
        .bind(format!("key_{}", random_hex(8)))
        .bind(name)
        .bind(key_hash(&key))
        .bind(db::now_ms())
        .execute(&db)
        .await
        .map_err(|e| e.to_string())?;
    Ok(key)
}

/// The secret signed URLs are made with: 32 random bytes kept in the database, made by the
/// first process to start, so every service and worker of a deployment signs alike (a
/// data folder's `secret` file from before is adopted).
async fn secret(db: &db::Db, data: &std::path::Path) -> Result<Vec<u8>, String> {
    let earlier = std::fs::read_to_string(data.join("secret"))
        .ok()
        .filter(|t| hex::decode(t.trim()).is_ok_and(|b| b.len() >= 32));
    let made = match earlier {
        Some(t) => t.trim().to_string(),
        None => {
            let mut raw = [0u8; 32];
            getrandom::fill(&mut raw).map_err(|e| format!("no randomness for the URL-signing secret: {e}"))?;
            hex::encode(raw)
        }
    };
    sqlx::query("INSERT INTO settings (name, value) VALUES ('url_secret', $1) ON CONFLICT (name) DO NOTHING")
        .bind(&made)
        .execute(db)
        .await
        .map_err(|e| format!("storing the URL-signing secret: {e}"))?;
    let kept: String = sqlx::query_scalar("SELECT value FROM settings WHERE name = 'url_secret'")
        .fetch_one(db)
        .await
        .map_err(|e| format!("reading the URL-signing secret: {e}"))?;
    hex::decode(kept.trim()).map_err(|e| format!("the URL-signing secret in the database is not hex: {e}"))
}

/// Runs the service until SIGTERM or SIGINT: then stops accepting, lets running renders go
/// on for the grace period, and requeues the rest.
pub async fn serve(cfg: Config) -> Result<(), String> {
    for sub in ["assets", "renders"] {
        let d = cfg.data.join(sub);
        std::fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let (db, dialect) = db::open(&cfg.data, cfg.database.as_deref()).await?;
    let storage = storage::Storage::open(cfg.storage.as_deref()).await?;
    // Renders this service held when it was killed start again from the beginning (those
    // of other workers are theirs until their leases run out).
    let requeued = runner::requeue(&db, &cfg.worker_id).await.map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind(cfg.listen).await.map_err(|e| format!("{}: {e}", cfg.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let base_url = cfg.base_url.clone().unwrap_or_else(|| format!("http://{addr}"));
    let quota = governor::Quota::per_minute(
        std::num::NonZeroU32::new(cfg.rate_limit.max(1)).unwrap_or(std::num::NonZeroU32::MIN),
    );
    let state = Arc::new(State {
        secret: secret(&db, &cfg.data).await?,
        local: cfg.workers > 0,
        limiter: governor::RateLimiter::keyed(quota)
            .with_middleware::<governor::middleware::StateInformationMiddleware>(),
        cfg,
        db,
        dialect,
        base_url,
        wake: tokio::sync::Notify::new(),
        storage,
        runner: runner::Runner::default(),
        fonts: reel::FontLibrary::bundled(),
    });
    tracing::info!(%addr, requeued, "reel serve listening");
    // Tests and scripts read the address from standard output.
    println!("listening on http://{addr}");
    let stop = tokio_util_shutdown();
    // With no workers of its own, `reel worker` processes render.
    let runner = state.local.then(|| tokio::spawn(runner::run(state.clone(), stop.clone())));
    let hooks = tokio::spawn(webhook::run(state.clone(), stop.clone()));
    let app = api::router(state.clone());
    let server = axum::serve(listener, app).with_graceful_shutdown({
        let stop = stop.clone();
        async move { stop.wait().await }
    });
    let served = server.await.map_err(|e| e.to_string());
    if let Some(r) = runner {
        let _ = r.await;
    }
    hooks.abort();
    served
}

/// Runs a worker until SIGTERM or SIGINT: it takes renders from the queue of the service
/// whose data folder is `cfg.data` (the database, the assets, the outputs and the URL
/// secret, shared on this machine), `cfg.workers` at a time, under leases; then lets
/// running renders go on for the grace period and requeues the rest. It serves no HTTP;
/// `cfg.base_url` must be the service's address (download URLs in events and webhooks).
pub async fn work(cfg: Config) -> Result<(), String> {
    std::fs::create_dir_all(&cfg.data).map_err(|e| format!("{}: {e}", cfg.data.display()))?;
    let (db, dialect) = db::open(&cfg.data, cfg.database.as_deref()).await?;
    let storage = storage::Storage::open(cfg.storage.as_deref()).await?;
    let quota = governor::Quota::per_minute(std::num::NonZeroU32::MIN);
    let state = Arc::new(State {
        secret: secret(&db, &cfg.data).await?,
        local: true,
        limiter: governor::RateLimiter::keyed(quota)
            .with_middleware::<governor::middleware::StateInformationMiddleware>(),
        base_url: cfg.base_url.clone().unwrap_or_else(|| format!("http://{}", cfg.listen)),
        cfg,
        db,
        dialect,
        wake: tokio::sync::Notify::new(),
        storage,
        runner: runner::Runner::default(),
        fonts: reel::FontLibrary::bundled(),
    });
    tracing::info!(worker = %state.cfg.worker_id, workers = state.cfg.workers, "reel worker taking renders");
    println!("worker {}", state.cfg.worker_id);
    // Webhooks are delivered by `reel serve`, from the rows this worker's ends leave.
    runner::run(state, tokio_util_shutdown()).await;
    Ok(())
}

/// A stop signal: set by SIGTERM or SIGINT, awaited by every loop.
#[derive(Clone)]
pub(crate) struct Stop(Arc<tokio::sync::watch::Sender<bool>>);

impl Stop {
    pub(crate) async fn wait(&self) {
        let mut rx = self.0.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }

    pub(crate) fn is_set(&self) -> bool {
        *self.0.borrow()
    }
}

fn tokio_util_shutdown() -> Stop {
    let (tx, _) = tokio::sync::watch::channel(false);
    let stop = Stop(Arc::new(tx));
    let s = stop.clone();
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
            return;
        };
        tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
        tracing::info!("stopping: no new work; running renders have the grace period");
        s.0.send_replace(true);
    });
    stop
}

/// Runs [`serve`] on a runtime of its own, with logs on standard error (`tracing`; JSON
/// lines when `json_logs`, the level from `RUST_LOG`, `info` by default).
pub fn run_blocking(cfg: Config, json_logs: bool) -> Result<(), String> {
    init_logs(json_logs);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?
        .block_on(serve(cfg))
}

fn init_logs(json_logs: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,symphonia=warn,symphonia_core=warn,symphonia_bundle_mp3=warn")
    });
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = if json_logs { builder.json().try_init() } else { builder.try_init() };
}

/// Runs [`work`] on a runtime of its own, with logs as [`run_blocking`] writes them.
pub fn work_blocking(cfg: Config, json_logs: bool) -> Result<(), String> {
    init_logs(json_logs);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?
        .block_on(work(cfg))
}

/// [`create_key`] on a runtime of its own.
pub fn create_key_blocking(data: &std::path::Path, database: Option<&str>, name: &str) -> Result<String, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?
        .block_on(create_key(data, database, name))
}
