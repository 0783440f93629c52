//! The render service under load, and its overhead over the command line.
//!
//! `cargo bench -p reel-serve --bench load` (builds nothing itself: `cargo build --release
//! -p reel-cli` first). Starts `target/release/reel serve` on a free port with a fresh data
//! folder, queues 20 renders, and has 200 clients poll their status while they run; prints
//! the status latency (p50, p99, max), errors, and then one render through the service
//! against the same render from the command line (`reel render`), each timed three times.

use reqwest::blocking::Client;
use serde_json::{json, Value};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn composition(frames: u32, w: u32, h: u32) -> Value {
    json!({"id": "load", "width": w, "height": h, "fps": 30, "totalDurationFrames": frames,
        "scenes": [{"id": "s", "durationFrames": frames,
            "background": {"type": "image", "asset": "assets/city.jpg", "kenBurns": {"from": {"scale": 1.0}, "to": {"scale": 1.2}}},
            "layers": [{"type": "text", "text": "Load", "x": "10%", "y": "70%"}]}],
        "audio": {"voiceover": {"asset": "assets/voice_1.mp3"}}})
}

fn main() {
    let reel = root().join("target/release/reel");
    assert!(reel.is_file(), "build it first: cargo build --release -p reel-cli");
    let data = tempfile::tempdir().expect("tmp");
    let key = {
        let o = Command::new(&reel).args(["keys", "create", "--data"]).arg(data.path()).output().expect("keys");
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    let mut svc = Command::new(&reel)
        .args(["serve", "--listen", "127.0.0.1:0", "--workers", "2", "--rate-limit", "100000000", "--data"])
        .arg(data.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let mut line = String::new();
    std::io::BufReader::new(svc.stdout.take().expect("stdout")).read_line(&mut line).expect("address");
    let base = line.trim().trim_start_matches("listening on ").to_string();
    let client =
        Client::builder().pool_max_idle_per_host(256).timeout(Duration::from_secs(60)).build().expect("client");
    for f in ["city.jpg", "voice_1.mp3"] {
        let bytes = std::fs::read(root().join("fixtures/demo/assets").join(f)).expect("asset");
        let r =
            client.put(format!("{base}/api/v1/assets/assets/{f}")).bearer_auth(&key).body(bytes).send().expect("put");
        assert_eq!(r.status(), 201);
    }

    // 20 renders queued, 200 clients polling them.
    let ids: Vec<String> = (0..20)
        .map(|_| {
            let r = client
                .post(format!("{base}/api/v1/renders"))
                .bearer_auth(&key)
                .json(&json!({"composition": composition(90, 640, 360), "outputs": []}))
                .send()
                .expect("post");
            assert_eq!(r.status(), 202);
            r.json::<Value>().expect("json")["render_id"].as_str().expect("id").to_string()
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let latencies = Arc::new(Mutex::new(Vec::<f64>::new()));
    let errors = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let pollers: Vec<_> = (0..200)
        .map(|i| {
            let (client, base, key, id) = (client.clone(), base.clone(), key.clone(), ids[i % ids.len()].clone());
            let (stop, latencies, errors) = (stop.clone(), latencies.clone(), errors.clone());
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    match client.get(format!("{base}/api/v1/renders/{id}")).bearer_auth(&key).send() {
                        Ok(r) if r.status() == 200 => {
                            let _ = r.bytes();
                            mine.push(t.elapsed().as_secs_f64() * 1000.0);
                        }
                        _ => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    std::thread::sleep(Duration::from_millis(250));
                }
                latencies.lock().expect("lat").extend(mine);
            })
        })
        .collect();
    loop {
        let done = ids.iter().all(|id| {
            client
                .get(format!("{base}/api/v1/renders/{id}"))
                .bearer_auth(&key)
                .send()
                .ok()
                .and_then(|r| r.json::<Value>().ok())
                .is_some_and(|v| v["status"] == "done")
        });
        if done {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let queue_s = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for p in pollers {
        let _ = p.join();
    }
    let mut lat = latencies.lock().expect("lat").clone();
    lat.sort_by(f64::total_cmp);
    let pct = |q: f64| lat[((lat.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "load: 20 renders (640x360, 90 frames) done in {queue_s:.1} s while 200 clients polled: {} requests, {} errors, status latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        lat.len(),
        errors.load(Ordering::Relaxed),
        pct(0.5),
        pct(0.99),
        lat.last().copied().unwrap_or(0.0)
    );

    // Overhead: one render through the service against the same from the command line.
    let comp = composition(300, 1280, 720);
    let work = data.path().join("cli");
    std::fs::create_dir_all(work.join("assets")).expect("mkdir");
    for f in ["city.jpg", "voice_1.mp3"] {
        std::fs::copy(root().join("fixtures/demo/assets").join(f), work.join("assets").join(f)).expect("copy");
    }
    std::fs::write(work.join("c.json"), comp.to_string()).expect("write");
    let (mut via_cli, mut via_service) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let t = Instant::now();
        let ok = Command::new(&reel)
            .current_dir(&work)
            .args(["render", "c.json", "-o", "out.mp4", "--quiet", "--no-variants"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok);
        via_cli.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let r = client
            .post(format!("{base}/api/v1/renders"))
            .bearer_auth(&key)
            .json(&json!({"composition": comp, "outputs": []}))
            .send()
            .expect("post");
        let id = r.json::<Value>().expect("json")["render_id"].as_str().expect("id").to_string();
        loop {
            let v: Value = client
                .get(format!("{base}/api/v1/renders/{id}"))
                .bearer_auth(&key)
                .send()
                .expect("get")
                .json()
                .expect("json");
            if v["status"] == "done" {
                break;
            }
            assert_ne!(v["status"], "failed", "{v}");
            std::thread::sleep(Duration::from_millis(20));
        }
        via_service.push(t.elapsed().as_secs_f64());
    }
    via_cli.sort_by(f64::total_cmp);
    via_service.sort_by(f64::total_cmp);
    println!(
        "overhead: 1280x720, 300 frames: command line median {:.3} s, service median {:.3} s (POST to done, polled every 20 ms): ratio {:.3}",
        via_cli[1],
        via_service[1],
        via_service[1] / via_cli[1]
    );
    let _ = svc.kill();
    let _ = svc.wait();
}
