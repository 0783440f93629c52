//! `reel worker` processes sharing a service's queue: leases, a worker killed mid-render.

use crate::common::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `reel worker`, killed when dropped.
struct Worker(Child);

impl Worker {
    fn start(data: &Path, svc: &Service, lease: u64) -> Worker {
        let mut child = Command::new(reel_bin())
            .args(["worker", "--data"])
            .arg(data)
            .args(["--base-url", &svc.base, "--lease-seconds", &lease.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start reel worker");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("the worker says its name");
        assert!(line.starts_with("worker "), "{line:?}");
        Worker(child)
    }

    fn pid(&self) -> i32 {
        self.0.id() as i32
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn render(api: &Api, composition: Value, hooks: &Receiver) -> String {
    let r = api.post("/api/v1/renders", &json!({"composition": composition, "outputs": [], "webhook_url": hooks.url}));
    assert_eq!(r.status(), 202);
    r.json::<Value>().expect("json")["render_id"].as_str().expect("id").to_string()
}

#[test]
fn workers_share_the_queue_and_a_dead_workers_render_is_taken_again() {
    let data = tempfile::tempdir().expect("tmp");
    let key = key(data.path());
    // The service renders nothing itself: the workers do.
    let args = ["--workers", "0", "--allow-insecure-webhooks", "--webhook-backoff", "1", "--rate-limit", "100000"];
    let svc = Service::start(data.path(), &args);
    let api = Api::new(&svc, &key);
    api.upload_demo();
    let hooks = Receiver::start(0);
    let mut first = Worker::start(data.path(), &svc, 2);
    let long = render(&api, composition(150, 640, 360), &hooks);
    // Once it renders on the first worker, that worker dies (and its child with it).
    let start = Instant::now();
    let child = loop {
        let v: Value = api.get(&format!("/api/v1/renders/{long}")).json().expect("json");
        let kids = children(first.pid());
        if v["status"] == "running" && v["frames_done"].as_u64().unwrap_or(0) > 0 && !kids.is_empty() {
            break kids[0];
        }
        assert!(start.elapsed() < Duration::from_secs(60), "the render did not start: {v}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = first.0.kill();
    let _ = first.0.wait();
    let start = Instant::now();
    while Path::new(&format!("/proc/{child}/exe")).exists() && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!Path::new(&format!("/proc/{child}/exe")).exists(), "the render's child outlived its worker");
    // Three more renders, and two workers: the dead worker's render is taken again when
    // its lease runs out, the rest are shared.
    let short: Vec<String> = (0..3).map(|_| render(&api, composition(20, 320, 180), &hooks)).collect();
    let _workers = [Worker::start(data.path(), &svc, 2), Worker::start(data.path(), &svc, 2)];
    for id in std::iter::once(&long).chain(&short) {
        let v = api.wait(id, Duration::from_secs(120));
        assert_eq!(v["status"], "done", "{v}");
    }
    let v: Value = api.get(&format!("/api/v1/renders/{long}")).json().expect("json");
    let file = data.path().join("long.mp4");
    let url = v["output"]["download_url"].as_str().expect("url");
    std::fs::write(&file, reqwest::blocking::get(url).expect("GET").bytes().expect("bytes")).expect("write");
    assert_eq!(frame_count(&file), 150, "every frame, once");
    // One webhook per render, delivered by the service from the workers' ends.
    hooks.wait_for(4, Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(1500));
    let got = hooks.got.lock().expect("got").clone();
    let mut ids: Vec<String> = got
        .iter()
        .map(|h| serde_json::from_str::<Value>(&h.body).expect("json")["render_id"].as_str().expect("id").to_string())
        .collect();
    ids.sort();
    let mut want: Vec<String> = std::iter::once(long.clone()).chain(short).collect();
    want.sort();
    assert_eq!(ids, want, "one webhook per render");
    // No attempt's folder is left behind.
    let left: Vec<_> = std::fs::read_dir(data.path().join("renders").join(&long))
        .expect("render folder")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["out"], "only the outputs stay");
}
