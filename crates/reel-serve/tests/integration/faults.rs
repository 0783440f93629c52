//! Faults: the service killed mid-render, a render's child killed, a full data disk.

use crate::common::*;
use serde_json::{json, Value};
use std::process::Command;
use std::time::{Duration, Instant};

/// Waits until the render runs and its child process exists; the child's pid.
fn running_child(api: &Api, svc: &Service, id: &str) -> i32 {
    let start = Instant::now();
    loop {
        let v: Value = api.get(&format!("/api/v1/renders/{id}")).json().expect("json");
        let kids = children(svc.pid());
        if v["status"] == "running" && v["frames_done"].as_u64().unwrap_or(0) > 0 && !kids.is_empty() {
            return kids[0];
        }
        assert!(start.elapsed() < Duration::from_secs(60), "the render did not start: {v}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn kill9(pid: i32) {
    let ok = Command::new("kill").args(["-9", &pid.to_string()]).status().is_ok_and(|s| s.success());
    assert!(ok, "kill -9 {pid}");
}

#[test]
fn a_killed_service_finishes_its_render_after_a_restart_and_delivers_one_webhook() {
    let data = tempfile::tempdir().expect("tmp");
    let key = key(data.path());
    let args = ["--allow-insecure-webhooks", "--webhook-backoff", "1", "--rate-limit", "100000"];
    let svc = Service::start(data.path(), &args);
    let api = Api::new(&svc, &key);
    api.upload_demo();
    let hooks = Receiver::start(0);
    let r = api.post(
        "/api/v1/renders",
        &json!({"composition": composition(150, 640, 360), "outputs": [], "webhook_url": hooks.url}),
    );
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().expect("json")["render_id"].as_str().expect("id").to_string();
    let child = running_child(&api, &svc, &id);
    let listen = svc.base.trim_start_matches("http://").to_string();
    let mut svc = svc;
    kill9(svc.pid());
    let _ = svc.child.wait();
    // The child dies with the service; nothing of it is downloadable.
    let start = Instant::now();
    while std::path::Path::new(&format!("/proc/{child}")).exists() && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!std::path::Path::new(&format!("/proc/{child}/exe")).exists(), "the render's child outlived the service");
    drop(svc);
    let svc = Service::start_on(data.path(), &listen, &args);
    let api = Api::new(&svc, &key);
    let v: Value = api.get(&format!("/api/v1/renders/{id}")).json().expect("json");
    assert!(v.get("output").is_none(), "no output before it is done: {v}");
    let done = api.wait(&id, Duration::from_secs(120));
    assert_eq!(done["status"], "done", "{done}");
    let file = data.path().join("v.mp4");
    let url = done["output"]["download_url"].as_str().expect("url");
    std::fs::write(&file, reqwest::blocking::get(url).expect("GET").bytes().expect("bytes")).expect("write");
    assert_eq!(frame_count(&file), 150);
    let got = hooks.wait_for(1, Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(hooks.got.lock().expect("got").len(), 1, "one webhook for one render: {got:?}");
}

#[test]
fn a_killed_render_fails_alone_and_the_service_goes_on() {
    let data = tempfile::tempdir().expect("tmp");
    let key = key(data.path());
    let svc = Service::start(data.path(), &["--rate-limit", "100000"]);
    let api = Api::new(&svc, &key);
    api.upload_demo();
    let r = api.post("/api/v1/renders", &json!({"composition": composition(150, 640, 360), "outputs": []}));
    let id = r.json::<Value>().expect("json")["render_id"].as_str().expect("id").to_string();
    kill9(running_child(&api, &svc, &id));
    let v = api.wait(&id, Duration::from_secs(60));
    assert_eq!(v["status"], "failed");
    assert!(v["error"].as_str().is_some_and(|e| e.contains("killed")), "{v}");
    assert!(v.get("output").is_none());
    assert!(!data.path().join("renders").join(&id).join("out").exists(), "no partial output kept");
    assert_eq!(reqwest::blocking::get(svc.url("/healthz")).expect("GET").status(), 200);
    // The next render is fine.
    let r = api.post("/api/v1/renders", &json!({"composition": composition(5, 160, 90), "outputs": []}));
    let next = r.json::<Value>().expect("json")["render_id"].as_str().expect("id").to_string();
    assert_eq!(api.wait(&next, Duration::from_secs(60))["status"], "done");
    // Cancelling a running render: cancelled, no output.
    let r = api.post("/api/v1/renders", &json!({"composition": composition(150, 640, 360), "outputs": []}));
    let third = r.json::<Value>().expect("json")["render_id"].as_str().expect("id").to_string();
    running_child(&api, &svc, &third);
    assert_eq!(api.post(&format!("/api/v1/renders/{third}/cancel"), &json!({})).status(), 202);
    let v = api.wait(&third, Duration::from_secs(30));
    assert_eq!(v["status"], "cancelled");
    let start = Instant::now();
    while data.path().join("renders").join(&third).join("out").exists() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!data.path().join("renders").join(&third).join("out").exists());
}

#[test]
fn a_render_over_its_cpu_time_fails_with_the_reason() {
    let data = tempfile::tempdir().expect("tmp");
    let key = key(data.path());
    let svc = Service::start(data.path(), &["--rate-limit", "100000", "--render-cpu", "1"]);
    let api = Api::new(&svc, &key);
    api.upload_demo();
    let r = api.post("/api/v1/renders", &json!({"composition": composition(900, 1280, 720), "outputs": []}));
    let id = r.json::<Value>().expect("json")["render_id"].as_str().expect("id").to_string();
    let v = api.wait(&id, Duration::from_secs(60));
    assert_eq!(v["status"], "failed", "{v}");
    assert!(v["error"].as_str().is_some_and(|e| e.contains("CPU time limit (1 s)")), "{v}");
    // Unknown paths and methods are JSON errors too.
    let r = reqwest::blocking::Client::new().delete(svc.url("/healthz")).send().expect("DELETE");
    assert_eq!(r.status(), 405);
    assert!(r.json::<Value>().is_ok_and(|v| v["error"].is_string()));
    assert_eq!(reqwest::blocking::get(svc.url("/healthz")).expect("GET").status(), 200);
}

/// The renders' folder on a 512 KB tmpfs (root, as on CI); where mounting is not allowed, a
/// render's file size limit gives the same failure.
#[test]
fn a_full_disk_fails_the_render_not_the_service() {
    let data = tempfile::tempdir().expect("tmp");
    let key = key(data.path());
    let renders = data.path().join("renders");
    std::fs::create_dir_all(&renders).expect("mkdir");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=512k", "tmpfs"])
        .arg(&renders)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let extra: Vec<&str> = if mounted { vec![] } else { vec!["--render-file-size", "200000"] };
    let mut args = vec!["--rate-limit", "100000"];
    args.extend(extra);
    let svc = Service::start(data.path(), &args);
    let api = Api::new(&svc, &key);
    api.upload_demo();
    let r = api.post("/api/v1/renders", &json!({"composition": composition(60, 1280, 720)}));
    let id = r.json::<Value>().expect("json")["render_id"].as_str().expect("id").to_string();
    let v = api.wait(&id, Duration::from_secs(120));
    let healthy = reqwest::blocking::get(svc.url("/healthz")).map(|r| r.status().as_u16());
    drop(svc);
    if mounted {
        let _ = Command::new("umount").arg(&renders).status();
    }
    assert_eq!(v["status"], "failed", "{v}");
    let why = v["error"].as_str().unwrap_or("");
    assert!(
        why.contains("No space left on device") || why.contains("file size limit") || why.contains("File too large"),
        "{why}"
    );
    assert_eq!(healthy.ok(), Some(200));
}

#[test]
fn sigterm_drains_then_requeues_and_a_restart_finishes_the_work() {
    let data = tempfile::tempdir().expect("tmp");
    let key = key(data.path());
    // A grace period long enough for a short render, too short for a long one.
    let args = ["--rate-limit", "100000", "--grace", "2", "--workers", "2"];
    let svc = Service::start(data.path(), &args);
    let api = Api::new(&svc, &key);
    api.upload_demo();
    let long = api.post("/api/v1/renders", &json!({"composition": composition(600, 1280, 720), "outputs": []}));
    let long = long.json::<Value>().expect("json")["render_id"].as_str().expect("id").to_string();
    let short = api.post("/api/v1/renders", &json!({"composition": composition(10, 160, 90), "outputs": []}));
    let short = short.json::<Value>().expect("json")["render_id"].as_str().expect("id").to_string();
    running_child(&api, &svc, &long);
    let listen = svc.base.trim_start_matches("http://").to_string();
    let mut svc = svc;
    let ok = Command::new("kill").args(["-TERM", &svc.pid().to_string()]).status().is_ok_and(|s| s.success());
    assert!(ok);
    let start = Instant::now();
    let status = svc.child.wait().expect("wait");
    assert!(status.success(), "a clean exit: {status}");
    assert!(start.elapsed() < Duration::from_secs(20), "it stopped within the grace period and then some");
    drop(svc);
    let svc = Service::start_on(data.path(), &listen, &args);
    let api = Api::new(&svc, &key);
    let s = api.wait(&short, Duration::from_secs(60));
    assert_eq!(s["status"], "done", "the short render finished in the grace period: {s}");
    let l: Value = api.get(&format!("/api/v1/renders/{long}")).json().expect("json");
    assert!(matches!(l["status"].as_str(), Some("queued" | "running")), "the long one was requeued: {l}");
    // Cancelled now so the test ends quickly.
    assert_eq!(api.post(&format!("/api/v1/renders/{long}/cancel"), &json!({})).status(), 202);
}
