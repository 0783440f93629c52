//! The queue: up to `workers` renders at once, each a child process of the `reel` program
//! under resource limits; its JSON progress lines become the render's state and events.

use crate::api::render_json;
use crate::db::{self, now_ms, Render};
use crate::storage::Storage;
use crate::{random_hex, State, Stop};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

/// The running children, by render id.
#[derive(Default)]
pub(crate) struct Runner {
    children: Mutex<HashMap<String, u32>>,
}

impl Runner {
    /// Kills a render's child, if it runs.
    pub(crate) fn kill(&self, id: &str) {
        let pid = self.children.lock().ok().and_then(|c| c.get(id).copied());
        if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
            // SAFETY: kill(2) with a pid this service started and has not reaped.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }

    fn kill_all(&self) {
        let ids: Vec<String> = self.children.lock().map(|c| c.keys().cloned().collect()).unwrap_or_default();
        for id in ids {
            self.kill(&id);
        }
    }
}

/// Takes queued renders until stopped; then lets running ones finish within the grace
/// period and requeues the rest.
pub(crate) async fn run(st: Arc<State>, stop: Stop) {
    let mut tasks = tokio::task::JoinSet::new();
    while !stop.is_set() {
        while tasks.len() < st.cfg.workers.max(1) {
            match claim(&st).await {
                Ok(Some((r, job))) => {
                    tasks.spawn(render(st.clone(), r, job));
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::error!(error = %e, "taking a render from the queue");
                    break;
                }
            }
        }
        tokio::select! {
            _ = st.wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            _ = stop.wait() => {}
        }
    }
    let drained = tokio::time::timeout(st.cfg.grace, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        // Requeued first, so the killed children's ends change nothing.
        let n = requeue(&st.db, &st.cfg.worker_id).await.unwrap_or(0);
        tracing::info!(requeued = n, "grace period over: running renders requeued");
        st.runner.kill_all();
        while tasks.join_next().await.is_some() {}
    }
}

/// Puts the renders `worker` holds back in the queue (it stopped, or was killed and
/// started again); returns how many.
pub(crate) async fn requeue(db: &db::Db, worker: &str) -> sqlx::Result<u64> {
    Ok(sqlx::query(
        "UPDATE renders SET status = 'queued', phase = NULL, frames_done = 0, worker = NULL, lease_until = NULL,
         version = version + 1 WHERE status = 'running' AND worker = $1",
    )
    .bind(worker)
    .execute(db)
    .await?
    .rows_affected())
}

/// What a worker took from the queue.
#[derive(Debug, Clone)]
pub(crate) enum Job {
    /// A whole render.
    Whole,
    /// Chunk `idx` of a split render: its frames `start..end`.
    Chunk { idx: i64, start: i64, end: i64 },
    /// Joining a split render's chunks, all done, into its outputs.
    Stitch,
}

/// What a worker holds a lease on.
#[derive(Debug, Clone)]
enum Lease {
    Render(String),
    Chunk(String, i64),
}

/// The next work: a stitch whose chunks are all done first (it finishes a render), then
/// the oldest render's next chunk, then the oldest whole render; each waiting, or held
/// under a lease that ran out (its worker died or lost touch). Now leased to this worker.
async fn claim(st: &State) -> sqlx::Result<Option<(Render, Job)>> {
    if let Some(r) = claim_stitch(st).await? {
        return Ok(Some((r, Job::Stitch)));
    }
    if let Some(c) = claim_chunk(st).await? {
        return Ok(Some(c));
    }
    Ok(claim_whole(st).await?.map(|r| (r, Job::Whole)))
}

/// What every claim binds: `$1` this worker, `$2` the end of its lease, `$3` and `$4` now
/// (a lease that ran out before now is free to take).
fn lease_binds(st: &State, now: i64) -> sqlx::any::AnyArguments<'static> {
    use sqlx::Arguments;
    let mut args = sqlx::any::AnyArguments::default();
    // Adding an owned string or integer to `Any`'s arguments cannot fail.
    let _ = args.add(st.cfg.worker_id.clone());
    let _ = args.add(now + st.cfg.lease.as_millis() as i64);
    let _ = args.add(now);
    let _ = args.add(now);
    args
}

async fn claim_stitch(st: &State) -> sqlx::Result<Option<Render>> {
    let now = now_ms();
    let id: Option<String> = sqlx::query_scalar_with(
        &format!(
            "UPDATE renders SET worker = $1, lease_until = $2, version = version + 1
         WHERE id = (SELECT id FROM renders WHERE status = 'running' AND phase = 'stitching'
                     AND (worker IS NULL OR lease_until < $3) ORDER BY created_at, id LIMIT 1{lock})
           AND status = 'running' AND phase = 'stitching' AND (worker IS NULL OR lease_until < $4)
         RETURNING id",
            lock = st.dialect.skip_locked("")
        ),
        lease_binds(st, now),
    )
    .fetch_optional(&st.db)
    .await?;
    let Some(id) = id else { return Ok(None) };
    db::render_any(&st.db, &id).await
}

async fn claim_chunk(st: &State) -> sqlx::Result<Option<(Render, Job)>> {
    let now = now_ms();
    let row: Option<(String, i64, i64, i64)> = sqlx::query_as_with(
        &format!(
            "UPDATE chunks SET status = 'running', worker = $1, lease_until = $2
         WHERE (render_id, idx) = (SELECT c.render_id, c.idx FROM chunks c JOIN renders r ON r.id = c.render_id
                 WHERE r.status IN ('queued', 'running')
                   AND c.status IN ('queued', 'running') AND (c.lease_until IS NULL OR c.lease_until < $3)
                 ORDER BY r.created_at, r.id, c.idx LIMIT 1{lock})
           AND status IN ('queued', 'running') AND (lease_until IS NULL OR lease_until < $4)
         RETURNING render_id, idx, frame_start, frame_end",
            lock = st.dialect.skip_locked("c")
        ),
        lease_binds(st, now),
    )
    .fetch_optional(&st.db)
    .await?;
    let Some((id, idx, start, end)) = row else { return Ok(None) };
    let started = sqlx::query(
        "UPDATE renders SET status = 'running', phase = 'rendering', started_at = $1, version = version + 1
         WHERE id = $2 AND status = 'queued'",
    )
    .bind(now)
    .bind(&id)
    .execute(&st.db)
    .await?
    .rows_affected();
    if started == 1 {
        db::event(&st.db, &id, "phase", &json!({"phase": "rendering"})).await?;
    }
    Ok(db::render_any(&st.db, &id).await?.map(|r| (r, Job::Chunk { idx, start, end })))
}

async fn claim_whole(st: &State) -> sqlx::Result<Option<Render>> {
    let now = now_ms();
    let id: Option<String> = sqlx::query_scalar_with(
        &format!(
            "UPDATE renders SET status = 'running', phase = 'planning', started_at = $5, worker = $1, lease_until = $2,
         frames_done = 0, version = version + 1
         WHERE id = (SELECT id FROM renders WHERE chunks_total = 0
                       AND (status = 'queued' OR (status = 'running' AND lease_until < $3))
                     ORDER BY created_at, id LIMIT 1{lock})
           AND chunks_total = 0 AND (status = 'queued' OR (status = 'running' AND lease_until < $4))
         RETURNING id",
            lock = st.dialect.skip_locked("")
        ),
        {
            let mut args = lease_binds(st, now);
            let _ = sqlx::Arguments::add(&mut args, now);
            args
        },
    )
    .fetch_optional(&st.db)
    .await?;
    let Some(id) = id else { return Ok(None) };
    db::event(&st.db, &id, "phase", &json!({"phase": "planning"})).await?;
    db::render_any(&st.db, &id).await
}

/// Ends a render that is running (or, to cancel it, queued too): its status, event and
/// webhook. A worker ends only a render it still holds (`worker`); a cancel (`None`) ends
/// it whoever holds it. `false` when it had ended, or was requeued or taken by another
/// worker, meanwhile.
pub(crate) async fn finish(
    st: &State,
    id: &str,
    worker: Option<&str>,
    status: &str,
    error: Option<String>,
    output: Option<Value>,
    seconds: Option<f64>,
) -> sqlx::Result<bool> {
    let mut tx = st.db.begin().await?;
    let changed = sqlx::query(
        "UPDATE renders SET status = $1, error = $2, output = $3, completed_at = $4, phase = NULL, lease_until = NULL,
         version = version + 1, render_seconds = $5, video_seconds = $10 WHERE id = $6
         AND (status = 'running' OR (status = 'queued' AND $7 = 'cancelled')) AND ($8 IS NULL OR worker = $9)",
    )
    .bind(status)
    .bind(&error)
    .bind(output.as_ref().map(Value::to_string))
    .bind(now_ms())
    .bind(seconds)
    .bind(id)
    .bind(status)
    .bind(worker)
    .bind(worker)
    .bind(output.as_ref().and_then(|o| o["duration_seconds"].as_f64()))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if changed == 0 {
        return Ok(false);
    }
    let Some(r) = db::render_any(&mut *tx, id).await? else { return Ok(true) };
    // URLs in events and webhooks work for a week.
    let expires = now_ms() / 1000 + 7 * 86_400;
    let body = render_json(st, &r, expires);
    db::event(&mut *tx, id, status, &body).await?;
    if let Some(url) = r.request.get("webhook_url").and_then(Value::as_str) {
        let event = match status {
            "done" => "render.completed",
            "failed" => "render.failed",
            _ => "render.cancelled",
        };
        let mut hook = json!({"event": event, "render_id": r.id, "status": status,
            "composition_id": r.composition_id, "created_at": body["created_at"], "completed_at": body["completed_at"]});
        if let Some(o) = body.get("output") {
            hook["output"] = o.clone();
        }
        if let Some(e) = &r.error {
            hook["error"] = json!(e);
        }
        sqlx::query(
            "INSERT INTO webhooks (id, render_id, url, secret, body, next_at, state) VALUES ($1, $2, $3, $4, $5, $6, 'pending')",
        )
        .bind(format!("wh_{}", random_hex(16)))
        .bind(id)
        .bind(url)
        .bind(r.request.get("webhook_secret").and_then(Value::as_str))
        .bind(hook.to_string())
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
    }
    // The status, its event and its webhook are written together or not at all.
    tx.commit().await?;
    Ok(true)
}

/// What a child said on its way.
#[derive(Default)]
struct Said {
    error: Option<String>,
    report: Option<Value>,
}

/// Renews this worker's lease: false when it holds it no more (the render was cancelled
/// or failed, or another worker took the work after the lease ran out).
async fn renew(st: &State, lease: &Lease) -> sqlx::Result<bool> {
    let until = now_ms() + st.cfg.lease.as_millis() as i64;
    let q = match lease {
        Lease::Render(id) => {
            sqlx::query("UPDATE renders SET lease_until = $1 WHERE id = $2 AND worker = $3 AND status = 'running'")
                .bind(until)
                .bind(id)
                .bind(&st.cfg.worker_id)
        }
        Lease::Chunk(id, idx) => sqlx::query(
            "UPDATE chunks SET lease_until = $1 WHERE render_id = $2 AND idx = $3 AND worker = $4 AND status = 'running'
             AND EXISTS (SELECT 1 FROM renders WHERE id = $5 AND status = 'running')",
        )
        .bind(until)
        .bind(id)
        .bind(idx)
        .bind(&st.cfg.worker_id)
        .bind(id),
    };
    Ok(q.execute(&st.db).await?.rows_affected() == 1)
}

/// Keeps the lease on render `id` while its child `pid` runs: renewed every third of the
/// lease; once the render is no longer this worker's (or the database was out of reach for
/// a whole lease, so another worker may have taken it), the child is killed.
async fn heartbeat(st: Arc<State>, lease: Lease, pid: Option<u32>) {
    let every = st.cfg.lease / 3;
    let mut renewed = Instant::now();
    loop {
        tokio::time::sleep(every).await;
        match renew(&st, &lease).await {
            Ok(true) => renewed = Instant::now(),
            Ok(false) => break,
            Err(e) if renewed.elapsed() < st.cfg.lease => {
                tracing::warn!(?lease, error = %e, "renewing a lease failed; trying again");
            }
            Err(_) => break,
        }
    }
    tracing::warn!(?lease, "the work is not this worker's any more: stopping it");
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
        // SAFETY: kill(2) with the pid of a child this worker started and has not reaped
        // (the heartbeat is stopped before the child is waited for).
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

/// Puts an attempt's outputs under `to` (`renders/ID/out`, `renders/ID/chunks/N`),
/// replacing what is there, if this worker still holds `lease`; true when it did. In the
/// data folder the attempt's folder is renamed into place; in a bucket each file is put
/// whole (an earlier attempt's file of the same name, the same frames, is replaced).
async fn publish(st: &State, lease: &Lease, attempt: &std::path::Path, to: &str) -> Result<bool, String> {
    if !renew(st, lease).await.map_err(|e| e.to_string())? {
        return Ok(false);
    }
    if let Storage::Bucket(b) = &st.storage {
        b.put_dir(&attempt.join("out"), to).await?;
        return Ok(true);
    }
    let to = st.cfg.data.join(to);
    let _ = tokio::fs::remove_dir_all(&to).await;
    if let Some(parent) = to.parent() {
        tokio::fs::create_dir_all(parent).await.map_err(io)?;
    }
    tokio::fs::rename(attempt.join("out"), to).await.map_err(io)?;
    Ok(true)
}

/// A chunk's segment landed: the chunk is done, and when it was the last one the render
/// waits for its stitch. False when this worker no longer held the chunk.
async fn chunk_done(st: &State, id: &str, idx: i64, frames: i64) -> sqlx::Result<bool> {
    let mut tx = st.db.begin().await?;
    let n = sqlx::query(
        "UPDATE chunks SET status = 'done', lease_until = NULL WHERE render_id = $1 AND idx = $2 AND worker = $3 AND status = 'running'",
    )
    .bind(id)
    .bind(idx)
    .bind(&st.cfg.worker_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Ok(false);
    }
    let (done, total, frames_done, frames_total): (i64, i64, i64, i64) = sqlx::query_as(
        "UPDATE renders SET chunks_done = chunks_done + 1, frames_done = frames_done + $1, version = version + 1
         WHERE id = $2 RETURNING chunks_done, chunks_total, frames_done, frames_total",
    )
    .bind(frames)
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    let pct = if frames_total > 0 { frames_done * 100 / frames_total } else { 0 };
    db::event(
        &mut *tx,
        id,
        "progress",
        &json!({"frames_done": frames_done, "frames_total": frames_total, "progress_pct": pct,
                "chunks": {"total": total, "done": done}}),
    )
    .await?;
    if done >= total {
        sqlx::query(
            "UPDATE renders SET phase = 'stitching', worker = NULL, lease_until = NULL, version = version + 1
             WHERE id = $1 AND status = 'running'",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        db::event(&mut *tx, id, "phase", &json!({"phase": "stitching"})).await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// A chunk failed: it is queued again, unless it failed [`CHUNK_TRIES`] times, when the
/// render fails with its reason.
async fn chunk_failed(st: &State, id: &str, idx: i64, range: (i64, i64), why: String) -> sqlx::Result<()> {
    // Taken again after a pause that grows with its failures (a third of a lease each), so
    // an outage of the storage or the database may pass before the chunk's tries run out.
    let failures: Option<i64> = sqlx::query_scalar(
        "UPDATE chunks SET status = 'queued', worker = NULL, lease_until = $5 * (failures + 1) + $6,
                failures = failures + 1, error = $1
         WHERE render_id = $2 AND idx = $3 AND worker = $4 AND status = 'running' RETURNING failures",
    )
    .bind(&why)
    .bind(id)
    .bind(idx)
    .bind(&st.cfg.worker_id)
    .bind((st.cfg.lease / 3).as_millis() as i64)
    .bind(now_ms())
    .fetch_optional(&st.db)
    .await?;
    if failures.is_some_and(|f| f >= CHUNK_TRIES) {
        let reason = format!("frames {}..{} failed {CHUNK_TRIES} times: {why}", range.0, range.1);
        finish(st, id, None, "failed", Some(reason), None, None).await?;
    }
    Ok(())
}

/// Moves a render this worker holds to `phase`, with its event (best effort: a database
/// out of reach loses the phase, not the render).
async fn set_phase(st: &State, id: &str, phase: &str) {
    let moved = sqlx::query(
        "UPDATE renders SET phase = $1, version = version + 1 WHERE id = $2 AND status = 'running' AND worker = $3",
    )
    .bind(phase)
    .bind(id)
    .bind(&st.cfg.worker_id)
    .execute(&st.db)
    .await;
    if moved.is_ok_and(|m| m.rows_affected() == 1) {
        let _ = db::event(&st.db, id, "phase", &json!({ "phase": phase })).await;
    }
}

/// A chunk that fails this many times fails its render.
const CHUNK_TRIES: i64 = 3;

/// Removes the folders in a render's folder whose names start with `prefix`.
async fn remove_prefixed(dir: &std::path::Path, prefix: &str) {
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else { return };
    while let Ok(Some(e)) = entries.next_entry().await {
        if e.file_name().to_string_lossy().starts_with(prefix) {
            let _ = tokio::fs::remove_dir_all(e.path()).await;
        }
    }
}

async fn render(st: Arc<State>, r: Render, job: Job) {
    let started = Instant::now();
    let dir = st.cfg.data.join("renders").join(&r.id);
    // Each attempt works in a folder of its own; what it makes moves into place whole, and
    // only while this worker holds the work. An earlier attempt's folder at the same work
    // belongs to a worker that lost it: it goes.
    let prefix = match &job {
        Job::Chunk { idx, .. } => format!("attempt-c{idx}-"),
        Job::Whole | Job::Stitch => "attempt-".to_string(),
    };
    remove_prefixed(&dir, &prefix).await;
    let attempt = dir.join(format!("{prefix}{}", random_hex(6)));
    let result = run_child(&st, &r, &attempt, &job).await;
    let seconds = started.elapsed().as_secs_f64();
    let me = Some(st.cfg.worker_id.as_str());
    let ended = match (&job, result) {
        (Job::Chunk { idx, start, end }, Ok(_)) => {
            let lease = Lease::Chunk(r.id.clone(), *idx);
            match publish(&st, &lease, &attempt, &format!("renders/{}/chunks/{idx}", r.id)).await {
                Ok(true) => chunk_done(&st, &r.id, *idx, end - start).await.map(|_| false),
                Ok(false) => Ok(false),
                Err(why) => chunk_failed(&st, &r.id, *idx, (*start, *end), why).await.map(|_| false),
            }
        }
        (Job::Chunk { idx, start, end }, Err(why)) => {
            tracing::warn!(render_id = %r.id, chunk = idx, reason = %why, "chunk failed");
            chunk_failed(&st, &r.id, *idx, (*start, *end), why).await.map(|_| false)
        }
        (Job::Whole | Job::Stitch, Ok(output)) => {
            if matches!(st.storage, Storage::Bucket(_)) {
                set_phase(&st, &r.id, "uploading").await;
            }
            match publish(&st, &Lease::Render(r.id.clone()), &attempt, &format!("renders/{}/out", r.id)).await {
                Ok(true) => finish(&st, &r.id, me, "done", None, Some(output), Some(seconds)).await,
                Ok(false) => Ok(false),
                Err(why) => finish(&st, &r.id, me, "failed", Some(why), None, Some(seconds)).await,
            }
        }
        (Job::Whole | Job::Stitch, Err(why)) => {
            tracing::warn!(render_id = %r.id, reason = %why, "render failed");
            finish(&st, &r.id, me, "failed", Some(why), None, Some(seconds)).await
        }
    };
    match ended {
        Ok(true) => tracing::info!(render_id = %r.id, seconds, "render ended"),
        Ok(false) => {}
        Err(e) => tracing::error!(render_id = %r.id, error = %e, "recording a render's end"),
    }
    let _ = tokio::fs::remove_dir_all(&attempt).await;
    // An ended render keeps its outputs only if it is done; its chunks and attempts go.
    let status: Option<String> = sqlx::query_scalar("SELECT status FROM renders WHERE id = $1")
        .bind(&r.id)
        .fetch_optional(&st.db)
        .await
        .ok()
        .flatten();
    if matches!(status.as_deref(), Some("done" | "failed" | "cancelled")) {
        if status.as_deref() != Some("done") {
            let _ = tokio::fs::remove_dir_all(dir.join("out")).await;
        }
        let _ = tokio::fs::remove_dir_all(dir.join("chunks")).await;
        if let Storage::Bucket(b) = &st.storage {
            let mut gone = b.remove_under(&format!("renders/{}/chunks", r.id)).await;
            if status.as_deref() != Some("done") {
                gone = gone.and(b.remove_under(&format!("renders/{}/out", r.id)).await);
            }
            if let Err(e) = gone {
                tracing::warn!(render_id = %r.id, error = %e, "removing a render's segments from the bucket");
            }
        }
        remove_prefixed(&dir, "attempt-").await;
    }
}

fn io(e: std::io::Error) -> String {
    format!("the service could not prepare the render: {e}")
}

/// Runs the child for `job` of `r` in the folder `attempt`: `reel render` (the whole video,
/// or a chunk's frames) or `reel stitch`. Its output summary, or why it failed.
async fn run_child(st: &Arc<State>, r: &Render, attempt: &std::path::Path, job: &Job) -> Result<Value, String> {
    let (work, out) = (attempt.join("work"), attempt.join("out"));
    for d in [&work, &out] {
        let _ = tokio::fs::remove_dir_all(d).await;
        tokio::fs::create_dir_all(d).await.map_err(io)?;
    }
    let body: Option<String> = sqlx::query_scalar("SELECT body FROM compositions WHERE id = $1")
        .bind(&r.composition_id)
        .fetch_optional(&st.db)
        .await
        .map_err(|e| e.to_string())?;
    let body = body.ok_or("the composition is gone")?;
    tokio::fs::write(work.join("composition.json"), &body).await.map_err(io)?;
    let assets = match &st.storage {
        Storage::Folder => {
            let assets = st.cfg.data.join("assets").join(&r.key_id);
            tokio::fs::create_dir_all(&assets).await.map_err(io)?;
            vec!["--assets".into(), assets.into_os_string()]
        }
        Storage::Bucket(b) => b.asset_args(&r.key_id, &st.cfg.data.join("cache")),
    };
    let main: PathBuf = out.join("video.mp4");
    let mut cmd = tokio::process::Command::new(&st.cfg.program);
    cmd.arg(if matches!(job, Job::Stitch) { "stitch" } else { "render" })
        .arg(work.join("composition.json"))
        .arg("-o")
        .arg(&main)
        .args(assets)
        .arg("--progress")
        .arg("json")
        .arg("--report")
        .arg(work.join("report.json"));
    match job {
        Job::Whole => {}
        Job::Chunk { start, end, .. } => {
            cmd.arg("--frames").arg(format!("{start}..{end}"));
        }
        Job::Stitch => {
            let chunks = match &st.storage {
                Storage::Folder => st.cfg.data.join("renders").join(&r.id).join("chunks"),
                Storage::Bucket(b) => {
                    // The segments come down into the attempt's folder; one that is missing
                    // stays missing, and the stitch refuses to go on without it.
                    let local = work.join("chunks");
                    for i in 0..r.chunks_total {
                        b.get_dir(&format!("renders/{}/chunks/{i}", r.id), &local.join(i.to_string())).await?;
                    }
                    local
                }
            };
            for i in 0..r.chunks_total {
                cmd.arg(chunks.join(i.to_string()).join("video.mp4"));
            }
        }
    }
    let outputs: Vec<String> = r
        .request
        .get("outputs")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
        .unwrap_or_default();
    if outputs.is_empty() {
        cmd.arg("--no-variants");
    } else {
        cmd.arg("--variants").arg(outputs.join(","));
    }
    if let Some(p) = r.request.get("duration_policy").and_then(Value::as_str) {
        cmd.arg("--duration-policy").arg(p);
    }
    if let Some(m) = r.request.get("merge").filter(|m| m.is_object()) {
        tokio::fs::write(work.join("merge.json"), m.to_string()).await.map_err(io)?;
        cmd.arg("--data").arg(work.join("merge.json"));
    }
    let limits = st.cfg.limits;
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    // SAFETY: only async-signal-safe calls (setrlimit, prctl) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let set = |res, soft: u64, hard: u64| {
                let lim = libc::rlimit { rlim_cur: soft as libc::rlim_t, rlim_max: hard as libc::rlim_t };
                libc::setrlimit(res, &lim)
            };
            set(libc::RLIMIT_AS, limits.memory, limits.memory);
            // SIGXCPU at the soft limit (a reason to report); SIGKILL 5 s later at the hard one.
            set(libc::RLIMIT_CPU, limits.cpu_seconds, limits.cpu_seconds.saturating_add(5));
            set(libc::RLIMIT_FSIZE, limits.file_size, limits.file_size);
            // The child dies with the service: a restarted service renders it again alone.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| format!("starting {}: {e}", st.cfg.program.display()))?;
    if let (Some(pid), Ok(mut c)) = (child.id(), st.runner.children.lock()) {
        c.insert(r.id.clone(), pid);
    }
    let lease = match job {
        Job::Chunk { idx, .. } => Lease::Chunk(r.id.clone(), *idx),
        Job::Whole | Job::Stitch => Lease::Render(r.id.clone()),
    };
    let beat = tokio::spawn(heartbeat(st.clone(), lease, child.id()));
    // Only a whole render's progress is the render's (chunks report as they land).
    let whole = matches!(job, Job::Whole);
    let stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let err_task = tokio::spawn(async move {
        let mut text = String::new();
        if let Some(e) = stderr.as_mut() {
            let _ = e.read_to_string(&mut text).await;
        }
        text
    });
    let mut said = Said::default();
    if let Some(stdout) = stdout {
        let mut lines = BufReader::new(stdout).lines();
        let (mut last_db, mut last_event) =
            (Instant::now() - Duration::from_secs(10), Instant::now() - Duration::from_secs(10));
        let mut rendering = false;
        if whole && matches!(st.storage, Storage::Bucket(_)) {
            // The child fetches the assets from the bucket before it plans (in the same
            // phase here: planning takes milliseconds), then its first frame says so.
            set_phase(st, &r.id, "fetching assets").await;
        }
        while let Ok(Some(line)) = lines.next_line().await {
            let Ok(v) = serde_json::from_str::<Value>(&line) else { continue };
            match v.get("event").and_then(Value::as_str) {
                Some("progress") if whole => {
                    let done = v["frames_done"].as_i64().unwrap_or(0);
                    let total = v["frames_total"].as_i64().unwrap_or(0);
                    if !rendering {
                        rendering = true;
                        set_phase(st, &r.id, "rendering").await;
                    }
                    if last_db.elapsed() >= Duration::from_millis(500) || done == total {
                        last_db = Instant::now();
                        let _ = sqlx::query(
                            "UPDATE renders SET frames_done = $1, frames_total = $2, version = version + 1 WHERE id = $3 AND status = 'running' AND worker = $4",
                        )
                        .bind(done)
                        .bind(total)
                        .bind(&r.id)
                        .bind(&st.cfg.worker_id)
                        .execute(&st.db)
                        .await;
                    }
                    if last_event.elapsed() >= Duration::from_secs(1) || done == total {
                        last_event = Instant::now();
                        let pct = if total > 0 { done * 100 / total } else { 0 };
                        let _ = db::event(
                            &st.db,
                            &r.id,
                            "progress",
                            &json!({"frames_done": done, "frames_total": total, "progress_pct": pct}),
                        )
                        .await;
                    }
                }
                Some("error") => said.error = v["message"].as_str().map(String::from),
                Some("done") => said.report = v.get("report").cloned(),
                _ => {}
            }
        }
    }
    beat.abort();
    let _ = beat.await;
    let status = child.wait().await.map_err(|e| e.to_string());
    if let Ok(mut c) = st.runner.children.lock() {
        c.remove(&r.id);
    }
    let stderr_text = err_task.await.unwrap_or_default();
    let status = status?;
    if status.success() {
        return match job {
            Job::Chunk { .. } if out.join("video.mp4").is_file() => Ok(json!({})),
            Job::Chunk { .. } => Err("the chunk ended without its segment".into()),
            Job::Whole | Job::Stitch => output(&out, said.report.as_ref()),
        };
    }
    let tail = stderr_text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").to_string();
    Err(match (status.signal(), status.code()) {
        (Some(libc::SIGKILL), _) => "the render process was killed (out of memory, or killed from outside)".to_string(),
        (Some(libc::SIGXCPU), _) => format!("the render used up its CPU time limit ({} s)", limits.cpu_seconds),
        (Some(libc::SIGXFSZ), _) => format!("an output reached the file size limit ({} bytes)", limits.file_size),
        (Some(sig), _) => format!("the render process crashed (signal {sig})"),
        (None, _) => {
            said.error.or((!tail.is_empty()).then_some(tail)).unwrap_or_else(|| format!("the render failed ({status})"))
        }
    })
}

/// The outputs a finished render left, by the status body's field names.
fn output(out: &std::path::Path, report: Option<&Value>) -> Result<Value, String> {
    let mut files = serde_json::Map::new();
    for (field, name) in [
        ("download_url", "video.mp4"),
        ("web_url", "video_web.mp4"),
        ("preview_url", "video_preview.mp4"),
        ("poster_400w_url", "video_400w.jpg"),
        ("poster_800w_url", "video_800w.jpg"),
    ] {
        if out.join(name).is_file() {
            files.insert(field.into(), json!(name));
        }
    }
    if !files.contains_key("download_url") {
        return Err("the render ended without its video".into());
    }
    let main = report.and_then(|r| r["outputs"].as_array()).and_then(|o| o.first()).cloned().unwrap_or_default();
    Ok(json!({
        "files": files,
        "duration_seconds": report.map_or(Value::Null, |r| r["rendered_s"].clone()),
        "width": main["width"], "height": main["height"], "bytes": main["bytes"],
    }))
}
