//! The queue: up to `workers` renders at once, each a child process of the `reel` program
//! under resource limits; its JSON progress lines become the render's state and events.

use crate::api::render_json;
use crate::db::{self, now_ms, Render};
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
                Ok(Some(r)) => {
                    tasks.spawn(render(st.clone(), r));
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
        let n = sqlx::query(
            "UPDATE renders SET status = 'queued', phase = NULL, frames_done = 0, version = version + 1
             WHERE status = 'running'",
        )
        .execute(&st.db)
        .await
        .map(|r| r.rows_affected())
        .unwrap_or(0);
        tracing::info!(requeued = n, "grace period over: running renders requeued");
        st.runner.kill_all();
        while tasks.join_next().await.is_some() {}
    }
}

/// The oldest queued render, now running.
async fn claim(st: &State) -> sqlx::Result<Option<Render>> {
    let id: Option<String> = sqlx::query_scalar(
        "UPDATE renders SET status = 'running', phase = 'planning', started_at = ?, version = version + 1
         WHERE id = (SELECT id FROM renders WHERE status = 'queued' ORDER BY created_at, id LIMIT 1) AND status = 'queued'
         RETURNING id",
    )
    .bind(now_ms())
    .fetch_optional(&st.db)
    .await?;
    let Some(id) = id else { return Ok(None) };
    db::event(&st.db, &id, "phase", &json!({"phase": "planning"})).await?;
    db::render_any(&st.db, &id).await
}

/// Ends a render that is running (or, to cancel it, queued too): its status, event and
/// webhook. `false` when it had ended, or was requeued, meanwhile.
pub(crate) async fn finish(
    st: &State,
    id: &str,
    status: &str,
    error: Option<String>,
    output: Option<Value>,
    seconds: Option<f64>,
) -> sqlx::Result<bool> {
    let mut tx = st.db.begin().await?;
    let changed = sqlx::query(
        "UPDATE renders SET status = ?, error = ?, output = ?, completed_at = ?, phase = NULL,
         version = version + 1, render_seconds = ? WHERE id = ? AND (status = 'running' OR (status = 'queued' AND ? = 'cancelled'))",
    )
    .bind(status)
    .bind(&error)
    .bind(output.as_ref().map(Value::to_string))
    .bind(now_ms())
    .bind(seconds)
    .bind(id)
    .bind(status)
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
            "INSERT INTO webhooks (id, render_id, url, secret, body, next_at, state) VALUES (?, ?, ?, ?, ?, ?, 'pending')",
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

async fn render(st: Arc<State>, r: Render) {
    let started = Instant::now();
    let result = run_child(&st, &r).await;
    let dir = st.cfg.data.join("renders").join(&r.id);
    let seconds = started.elapsed().as_secs_f64();
    let ended = match result {
        Ok(output) => finish(&st, &r.id, "done", None, Some(output), Some(seconds)).await,
        Err(why) => {
            // Nothing of a failed or cancelled render stays downloadable.
            let _ = tokio::fs::remove_dir_all(dir.join("out")).await;
            tracing::warn!(render_id = %r.id, reason = %why, "render failed");
            finish(&st, &r.id, "failed", Some(why), None, Some(seconds)).await
        }
    };
    match ended {
        Ok(true) => tracing::info!(render_id = %r.id, seconds, "render ended"),
        Ok(false) => {
            // Cancelled or requeued meanwhile: its outputs go.
            let status: Option<String> = sqlx::query_scalar("SELECT status FROM renders WHERE id = ?")
                .bind(&r.id)
                .fetch_optional(&st.db)
                .await
                .ok()
                .flatten();
            if status.as_deref() == Some("cancelled") {
                let _ = tokio::fs::remove_dir_all(dir.join("out")).await;
            }
        }
        Err(e) => tracing::error!(render_id = %r.id, error = %e, "recording a render's end"),
    }
    let _ = tokio::fs::remove_dir_all(dir.join("work")).await;
}

fn io(e: std::io::Error) -> String {
    format!("the service could not prepare the render: {e}")
}

/// Runs `reel render` for `r`: its output summary, or why it failed.
async fn run_child(st: &State, r: &Render) -> Result<Value, String> {
    let dir = st.cfg.data.join("renders").join(&r.id);
    let (work, out) = (dir.join("work"), dir.join("out"));
    for d in [&work, &out] {
        let _ = tokio::fs::remove_dir_all(d).await;
        tokio::fs::create_dir_all(d).await.map_err(io)?;
    }
    let body: Option<String> = sqlx::query_scalar("SELECT body FROM compositions WHERE id = ?")
        .bind(&r.composition_id)
        .fetch_optional(&st.db)
        .await
        .map_err(|e| e.to_string())?;
    let body = body.ok_or("the composition is gone")?;
    tokio::fs::write(work.join("composition.json"), &body).await.map_err(io)?;
    let assets = st.cfg.data.join("assets").join(&r.key_id);
    tokio::fs::create_dir_all(&assets).await.map_err(io)?;
    let main: PathBuf = out.join("video.mp4");
    let mut cmd = tokio::process::Command::new(&st.cfg.program);
    cmd.arg("render")
        .arg(work.join("composition.json"))
        .arg("-o")
        .arg(&main)
        .arg("--assets")
        .arg(&assets)
        .arg("--progress")
        .arg("json")
        .arg("--report")
        .arg(work.join("report.json"));
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
        while let Ok(Some(line)) = lines.next_line().await {
            let Ok(v) = serde_json::from_str::<Value>(&line) else { continue };
            match v.get("event").and_then(Value::as_str) {
                Some("progress") => {
                    let done = v["frames_done"].as_i64().unwrap_or(0);
                    let total = v["frames_total"].as_i64().unwrap_or(0);
                    if !rendering {
                        rendering = true;
                        let _ = sqlx::query("UPDATE renders SET phase = 'rendering', version = version + 1 WHERE id = ? AND status = 'running'")
                            .bind(&r.id)
                            .execute(&st.db)
                            .await;
                        let _ = db::event(&st.db, &r.id, "phase", &json!({"phase": "rendering"})).await;
                    }
                    if last_db.elapsed() >= Duration::from_millis(500) || done == total {
                        last_db = Instant::now();
                        let _ = sqlx::query(
                            "UPDATE renders SET frames_done = ?, frames_total = ?, version = version + 1 WHERE id = ? AND status = 'running'",
                        )
                        .bind(done)
                        .bind(total)
                        .bind(&r.id)
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
    let status = child.wait().await.map_err(|e| e.to_string());
    if let Ok(mut c) = st.runner.children.lock() {
        c.remove(&r.id);
    }
    let stderr_text = err_task.await.unwrap_or_default();
    let status = status?;
    if status.success() {
        return output(&out, said.report.as_ref());
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
