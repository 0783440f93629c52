//! The service's state in SQL: keys, compositions, renders and their chunks, events,
//! webhook deliveries. SQLite under the data folder by default, PostgreSQL with
//! `--database postgres://...`: one set of queries through sqlx's `Any` driver (numbered
//! `$N` parameters, which both read), the few differences in [`Dialect`].

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::Row;
use std::path::Path;

/// The pool.
pub type Db = sqlx::AnyPool;

/// Which database it is, for the little SQL that differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite: one writer at a time, so taking work needs no row locks.
    Sqlite,
    /// PostgreSQL: work is taken with `FOR UPDATE SKIP LOCKED`.
    Postgres,
}

impl Dialect {
    /// The locking clause that ends the subquery choosing work to take (`OF t` for a join).
    pub fn skip_locked(self, of: &str) -> String {
        match (self, of) {
            (Dialect::Sqlite, _) => String::new(),
            (Dialect::Postgres, "") => " FOR UPDATE SKIP LOCKED".into(),
            (Dialect::Postgres, t) => format!(" FOR UPDATE OF {t} SKIP LOCKED"),
        }
    }
}

// BIGINT and DOUBLE PRECISION: 64-bit in PostgreSQL, INTEGER and REAL affinity in SQLite.
const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS keys (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, created_at BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS compositions (
    id TEXT PRIMARY KEY, key_id TEXT NOT NULL, body TEXT NOT NULL, created_at BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS renders (
    id TEXT PRIMARY KEY, key_id TEXT NOT NULL, composition_id TEXT, request TEXT NOT NULL,
    status TEXT NOT NULL, phase TEXT, frames_done BIGINT NOT NULL DEFAULT 0,
    frames_total BIGINT NOT NULL DEFAULT 0, error TEXT, output TEXT,
    idempotency_key TEXT, version BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL, started_at BIGINT, completed_at BIGINT, render_seconds DOUBLE PRECISION,
    worker TEXT, lease_until BIGINT, chunks_total BIGINT NOT NULL DEFAULT 0,
    chunks_done BIGINT NOT NULL DEFAULT 0, video_seconds DOUBLE PRECISION,
    UNIQUE (key_id, idempotency_key));
CREATE TABLE IF NOT EXISTS chunks (
    render_id TEXT NOT NULL, idx BIGINT NOT NULL, frame_start BIGINT NOT NULL, frame_end BIGINT NOT NULL,
    status TEXT NOT NULL, worker TEXT, lease_until BIGINT, failures BIGINT NOT NULL DEFAULT 0, error TEXT,
    PRIMARY KEY (render_id, idx));
CREATE INDEX IF NOT EXISTS renders_queue ON renders (status, created_at);
CREATE TABLE IF NOT EXISTS events (
    render_id TEXT NOT NULL, seq BIGINT NOT NULL, event TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (render_id, seq));
CREATE TABLE IF NOT EXISTS usage (
    key_id TEXT NOT NULL, day BIGINT NOT NULL, requests BIGINT NOT NULL, PRIMARY KEY (key_id, day));
CREATE TABLE IF NOT EXISTS webhooks (
    id TEXT PRIMARY KEY, render_id TEXT NOT NULL, url TEXT NOT NULL, secret TEXT,
    body TEXT NOT NULL, attempts BIGINT NOT NULL DEFAULT 0, next_at BIGINT NOT NULL,
    state TEXT NOT NULL, last_error TEXT);
"#;

/// Opens (creating) the database: `url` (`postgres://...`), or SQLite in `dir/reel.db`.
pub async fn open(dir: &Path, url: Option<&str>) -> Result<(Db, Dialect), String> {
    sqlx::any::install_default_drivers();
    let (url, dialect) = match url {
        Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => (u.to_string(), Dialect::Postgres),
        Some(u) => return Err(format!("--database {u}: expected postgres://USER:PASSWORD@HOST:PORT/DB")),
        None => (format!("sqlite://{}?mode=rwc", dir.join("reel.db").display()), Dialect::Sqlite),
    };
    let mut pool = AnyPoolOptions::new().max_connections(8);
    if dialect == Dialect::Sqlite {
        pool = pool.after_connect(|conn, _| {
            Box::pin(async move {
                use sqlx::Executor;
                for pragma in
                    ["PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL", "PRAGMA busy_timeout = 10000"]
                {
                    conn.execute(pragma).await?;
                }
                Ok(())
            })
        });
    }
    // The address without its password, for messages.
    let shown = url.split_once('@').map_or(url.clone(), |(_, host)| format!("database at {host}"));
    let db = pool.connect(&url).await.map_err(|e| format!("opening {shown}: {e}"))?;
    sqlx::raw_sql(SCHEMA).execute(&db).await.map_err(|e| format!("creating the schema: {e}"))?;
    // Columns added since the first schema: a SQLite data folder made before them gains them.
    if dialect == Dialect::Sqlite {
        for (table, column) in [
            ("renders", "worker TEXT"),
            ("renders", "lease_until BIGINT"),
            ("renders", "chunks_total BIGINT NOT NULL DEFAULT 0"),
            ("renders", "chunks_done BIGINT NOT NULL DEFAULT 0"),
            ("renders", "video_seconds DOUBLE PRECISION"),
        ] {
            let name = column.split(' ').next().unwrap_or(column);
            let has: Option<String> =
                sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{table}') WHERE name = $1"))
                    .bind(name)
                    .fetch_optional(&db)
                    .await
                    .map_err(|e| format!("reading the schema: {e}"))?;
            if has.is_none() {
                sqlx::raw_sql(&format!("ALTER TABLE {table} ADD COLUMN {column}"))
                    .execute(&db)
                    .await
                    .map_err(|e| format!("adding {table}.{name}: {e}"))?;
            }
        }
    }
    Ok((db, dialect))
}

/// Now, Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// A render as stored.
#[derive(Debug, Clone)]
pub struct Render {
    pub id: String,
    pub key_id: String,
    pub composition_id: Option<String>,
    pub request: serde_json::Value,
    pub status: String,
    pub phase: Option<String>,
    pub frames_done: i64,
    pub frames_total: i64,
    pub error: Option<String>,
    pub output: Option<serde_json::Value>,
    pub version: i64,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub completed_at: Option<i64>,
    /// Chunks of a split render (0: not split), and how many are done.
    pub chunks_total: i64,
    pub chunks_done: i64,
}

const RENDER_COLUMNS: &str = "id, key_id, composition_id, request, status, phase, frames_done, frames_total, error, output, version, created_at, started_at, completed_at, chunks_total, chunks_done";

fn render_of(r: &AnyRow) -> Render {
    let json = |s: Option<String>| s.and_then(|t| serde_json::from_str(&t).ok());
    Render {
        id: r.get("id"),
        key_id: r.get("key_id"),
        composition_id: r.get("composition_id"),
        request: json(r.get("request")).unwrap_or_default(),
        status: r.get("status"),
        phase: r.get("phase"),
        frames_done: r.get("frames_done"),
        frames_total: r.get("frames_total"),
        error: r.get("error"),
        output: json(r.get("output")),
        version: r.get("version"),
        created_at: r.get("created_at"),
        started_at: r.get("started_at"),
        completed_at: r.get("completed_at"),
        chunks_total: r.get("chunks_total"),
        chunks_done: r.get("chunks_done"),
    }
}

/// One render of `key_id` (another key's render is none).
pub async fn render(db: &Db, key_id: &str, id: &str) -> sqlx::Result<Option<Render>> {
    let q = format!("SELECT {RENDER_COLUMNS} FROM renders WHERE id = $1 AND key_id = $2");
    Ok(sqlx::query(&q).bind(id).bind(key_id).fetch_optional(db).await?.as_ref().map(render_of))
}

/// A render by id alone (the runner's view).
pub async fn render_any<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    db: E,
    id: &str,
) -> sqlx::Result<Option<Render>> {
    let q = format!("SELECT {RENDER_COLUMNS} FROM renders WHERE id = $1");
    Ok(sqlx::query(&q).bind(id).fetch_optional(db).await?.as_ref().map(render_of))
}

/// The key's renders, newest first, after `cursor` (a render id), with `status` if given.
pub async fn renders(
    db: &Db,
    key_id: &str,
    status: Option<&str>,
    limit: i64,
    cursor: Option<&str>,
) -> sqlx::Result<Vec<Render>> {
    let q = format!(
        "SELECT {RENDER_COLUMNS} FROM renders WHERE key_id = $1 AND ($2 IS NULL OR status = $2)
         AND ($3 IS NULL OR (created_at, id) < (SELECT created_at, id FROM renders WHERE id = $3))
         ORDER BY created_at DESC, id DESC LIMIT $4"
    );
    let rows = sqlx::query(&q).bind(key_id).bind(status).bind(cursor).bind(limit).fetch_all(db).await?;
    Ok(rows.iter().map(render_of).collect())
}

/// Appends an event to a render's stream; its sequence number.
pub async fn event<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    db: E,
    render_id: &str,
    event: &str,
    data: &serde_json::Value,
) -> sqlx::Result<i64> {
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO events (render_id, seq, event, data)
         VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE render_id = $1), $2, $3) RETURNING seq",
    )
    .bind(render_id)
    .bind(event)
    .bind(data.to_string())
    .fetch_one(db)
    .await?;
    Ok(seq)
}

/// Events of a render after `seq`.
pub async fn events_after(db: &Db, render_id: &str, seq: i64) -> sqlx::Result<Vec<(i64, String, String)>> {
    let rows = sqlx::query("SELECT seq, event, data FROM events WHERE render_id = $1 AND seq > $2 ORDER BY seq")
        .bind(render_id)
        .bind(seq)
        .fetch_all(db)
        .await?;
    Ok(rows.iter().map(|r| (r.get("seq"), r.get("event"), r.get("data"))).collect())
}
