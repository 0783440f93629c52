//! `reel worker` processes sharing a service's queue: leases, a worker killed mid-render.

use crate::common::*;
use crate::judges::ssim;
use crate::s3::S3;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `reel worker`, killed when dropped.
struct Worker(Child);

impl Worker {
    fn start(data: &Path, svc: &Service, lease: u64) -> Worker {
        Worker::start_on(data, &Backend::default(), svc, lease)
    }

    fn start_on(data: &Path, backend: &Backend, svc: &Service, lease: u64) -> Worker {
        let mut cmd = Command::new(reel_bin());
        cmd.envs(backend.env().iter().map(|(k, v)| (k, v))).args(["worker", "--data"]).arg(data).args(backend.args());
        let mut child = cmd
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

/// A clip of `frames` frames at 10 fps whose frame n carries n in its colour: red and
/// green levels in steps of 16 (a lossy encode moves them far less than 8).
fn counter_clip(path: &Path, frames: u32) {
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("color=c=black:s=160x90:r=10:d={}", frames / 10 + 1))
        .args(["-vf", "format=rgb24,geq=r='mod(N,16)*16+8':g='mod(floor(N/16),16)*16+8':b=128"])
        .args(["-c:v", "libx264", "-crf", "10", "-pix_fmt", "yuv420p"])
        .arg(path)
        .output()
        .expect("ffmpeg");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// The clip frame each frame of a 640x360 video shows (read where nothing covers the clip).
fn shown_numbers(video: &Path) -> Vec<u64> {
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(video)
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .expect("ffmpeg");
    let at = (90 * 640 + 320) * 3;
    o.stdout.chunks_exact(640 * 360 * 3).map(|f| u64::from(f[at] / 16) + 16 * u64::from(f[at + 1] / 16)).collect()
}

/// 150 frames of the counter clip at 10 fps, with a logo, a line of text and a voiceover.
fn counter_composition(frames: u32) -> Value {
    json!({"id": "svc", "width": 640, "height": 360, "fps": 10, "totalDurationFrames": frames,
        "scenes": [{"id": "s", "durationFrames": frames,
            "background": {"type": "video", "asset": "assets/counter.mp4"},
            "layers": [{"type": "image", "asset": "assets/logo.png", "x": 10, "y": 10, "width": 64, "height": 64},
                       {"type": "text", "text": "Frame by frame", "x": "10%", "y": "70%"}]}],
        "audio": {"voiceover": {"asset": "assets/voice_1.mp3"}}})
}

/// The phases an ended render's events went through, in order.
fn phases(api: &Api, id: &str) -> Vec<String> {
    let events = api.get(&format!("/api/v1/renders/{id}/events")).text().expect("events");
    events
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
        .filter_map(|v| v["phase"].as_str().map(String::from))
        .collect()
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

#[test]
fn a_long_render_is_split_over_workers_and_stitched_even_when_one_dies_mid_chunk() {
    split_render_with_a_worker_killed(&Backend::default());
}

#[test]
fn with_postgresql_and_a_bucket_on_machines_of_their_own_the_same_split_render_survives() {
    let pg = Postgres::start();
    let s3 = S3::start();
    s3.put("reel", &[]);
    let backend = Backend { database: Some(pg.url.clone()), s3: Some(s3) };
    split_render_with_a_worker_killed(&backend);
    let left = backend.s3.as_ref().expect("s3").list("reel", "deploy/renders/");
    assert!(!left.is_empty() && left.iter().all(|k| k.contains("/out/")), "only the outputs stay: {left:?}");
}

#[test]
fn a_database_outage_mid_render_is_waited_out_and_the_video_is_whole() {
    let pg = Postgres::start();
    let data = tempfile::tempdir().expect("tmp");
    let key = key_in(data.path(), Some(&pg.url));
    let args = ["--workers", "0", "--chunk-frames", "40", "--rate-limit", "100000", "--database", &pg.url];
    let svc = Service::start(data.path(), &args);
    let api = Api::new(&svc, &key);
    api.upload_demo();
    let backend = Backend { database: Some(pg.url.clone()), s3: None };
    let workers: Vec<Worker> = (0..2).map(|_| Worker::start_on(data.path(), &backend, &svc, 6)).collect();
    let r = api.post("/api/v1/renders", &json!({"composition": composition(150, 320, 180)}));
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().expect("json")["render_id"].as_str().expect("id").to_string();
    let start = Instant::now();
    while workers.iter().all(|w| children(w.pid()).is_empty()) {
        assert!(start.elapsed() < Duration::from_secs(60), "no chunk started");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The database goes away for about half a lease while chunks render, then comes back.
    pg.stop();
    std::thread::sleep(Duration::from_secs(3));
    pg.start_again();
    let v = api.wait(&id, Duration::from_secs(180));
    assert_eq!(v["status"], "done", "{v}");
    let url = v["output"]["download_url"].as_str().expect("url");
    let video = data.path().join("after-outage.mp4");
    std::fs::write(&video, reqwest::blocking::get(url).expect("GET").bytes().expect("bytes")).expect("write");
    assert_eq!(frame_count(&video), 150, "every frame once");
}

#[test]
fn a_storage_outage_fails_the_chunks_with_the_reason_and_then_the_render() {
    let mut s3 = S3::start();
    s3.put("reel", &[]);
    let data = tempfile::tempdir().expect("tmp");
    let key = key(data.path());
    let args = [
        "--workers",
        "1",
        "--chunk-frames",
        "40",
        "--lease-seconds",
        "3",
        "--rate-limit",
        "100000",
        "--storage",
        Backend::STORAGE,
    ];
    let svc = Service::start_with(data.path(), "127.0.0.1:0", &args, &s3.env());
    let api = Api::new(&svc, &key);
    api.upload_demo();
    // First a short render, whole, while the bucket is there: its phases.
    let r = api.post("/api/v1/renders", &json!({"composition": composition(30, 320, 180)}));
    let short = r.json::<Value>().expect("json")["render_id"].as_str().expect("id").to_string();
    assert_eq!(api.wait(&short, Duration::from_secs(60))["status"], "done");
    assert_eq!(phases(&api, &short), ["planning", "fetching assets", "rendering", "uploading"]);
    let r = api.post("/api/v1/renders", &json!({"composition": composition(150, 320, 180)}));
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().expect("json")["render_id"].as_str().expect("id").to_string();
    let start = Instant::now();
    while children(svc.pid()).is_empty() {
        assert!(start.elapsed() < Duration::from_secs(60), "no chunk started");
        std::thread::sleep(Duration::from_millis(20));
    }
    s3.stop();
    let v = api.wait(&id, Duration::from_secs(120));
    assert_eq!(v["status"], "failed", "{v}");
    let why = v["error"].as_str().unwrap_or_default();
    assert!(why.contains("failed 3 times") && why.contains("frames "), "the chunk, its frames, its tries: {v}");
    assert!(v["output"].is_null(), "no output: {v}");
    // While the bucket is out of reach, what needs it is answered 503 (try again), and a
    // composition is not called invalid for it.
    let r = api.post("/api/v1/compositions", &json!({"composition": composition(30, 320, 180)}));
    assert_eq!(r.status(), 503, "{:?}", r.text());
    assert_eq!(api.post("/assets/sign", &json!({"keys": ["assets/city.jpg"]})).status(), 503);
}

/// Where a deployment keeps its state and its files, as `serve` and `worker` are told: by
/// default SQLite and the data folder; or a database, and the bucket `reel` (prefix
/// `deploy`) of an S3-compatible server.
#[derive(Default)]
struct Backend {
    database: Option<String>,
    s3: Option<S3>,
}

impl Backend {
    const STORAGE: &str = "s3://reel/deploy";

    fn args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(url) = &self.database {
            args.extend(["--database".to_string(), url.clone()]);
        }
        if self.s3.is_some() {
            args.extend(["--storage".to_string(), Backend::STORAGE.to_string()]);
        }
        args
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        self.s3.as_ref().map(S3::env).unwrap_or_default()
    }
}

/// One `serve` and three `worker` processes with `backend` (by default SQLite and the files
/// in a data folder they share; with a database and a bucket, each has a folder of its own,
/// as on machines of their own); a render split in four chunks; the worker of the first
/// chunk to start is killed.
fn split_render_with_a_worker_killed(backend: &Backend) {
    let data = tempfile::tempdir().expect("tmp");
    let shared = backend.s3.is_none();
    let key = key_in(data.path(), backend.database.as_deref());
    let mut args: Vec<String> =
        ["--workers", "0", "--chunk-frames", "40", "--allow-insecure-webhooks", "--rate-limit", "100000"]
            .iter()
            .map(|a| a.to_string())
            .collect();
    args.extend(backend.args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let svc = Service::start_with(data.path(), "127.0.0.1:0", &args, &backend.env());
    let api = Api::new(&svc, &key);
    api.upload_demo();
    let clip = data.path().join("counter.mp4");
    counter_clip(&clip, 150);
    assert_eq!(api.put("/api/v1/assets/assets/counter.mp4", std::fs::read(&clip).expect("clip")).status(), 201);
    let hooks = Receiver::start(0);
    let comp = counter_composition(150);
    let own: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().expect("tmp")).collect();
    let mut workers: Vec<Worker> =
        own.iter().map(|d| Worker::start_on(if shared { data.path() } else { d.path() }, backend, &svc, 2)).collect();
    let id = render(&api, comp.clone(), &hooks);
    // 150 frames in chunks of about 40: four. Once one is rendering, its worker dies.
    let start = Instant::now();
    let victim = loop {
        let v: Value = api.get(&format!("/api/v1/renders/{id}")).json().expect("json");
        assert_eq!(v["chunks"]["total"], 4, "{v}");
        if let Some(i) = workers.iter().position(|w| !children(w.pid()).is_empty()) {
            break i;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "no chunk started: {v}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let child = children(workers[victim].pid())[0];
    let mut dead = workers.remove(victim);
    let _ = dead.0.kill();
    let _ = dead.0.wait();
    let start = Instant::now();
    while Path::new(&format!("/proc/{child}/exe")).exists() && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let api_machine = tempfile::tempdir().expect("tmp");
    // With a database and a bucket the API process dies too; another starts on the same
    // address on a machine of its own (an empty data folder): the state is the database's,
    // the files the bucket's.
    let _serving = if shared {
        svc
    } else {
        let addr = svc.base.trim_start_matches("http://").to_string();
        drop(svc);
        Service::start_with(api_machine.path(), &addr, &args, &backend.env())
    };
    let v = api.wait(&id, Duration::from_secs(180));
    assert_eq!(v["status"], "done", "{v}");
    assert!(v.get("chunks").is_none(), "chunks are reported while it runs: {v}");
    // The phases it went through: from a bucket, the stitched outputs are uploaded last.
    let phases = phases(&api, &id);
    let last: &[&str] = if shared { &["rendering", "stitching"] } else { &["rendering", "stitching", "uploading"] };
    assert!(phases.ends_with(&last.iter().map(|p| p.to_string()).collect::<Vec<_>>()), "{phases:?}");
    // Against the same composition rendered whole by `reel render` on the same assets, and
    // rendered lossless (the truth both approximate).
    std::fs::write(data.path().join("comp.json"), comp.to_string()).expect("write");
    let key_id = std::fs::read_dir(data.path().join("assets"))
        .expect("assets")
        .flatten()
        .next()
        .map(|d| d.file_name().to_string_lossy().into_owned());
    let assets: Vec<String> = match &backend.s3 {
        None => vec![data.path().join("assets").join(key_id.expect("key folder")).to_string_lossy().into_owned()],
        Some(s3) => {
            assert!(key_id.is_none(), "with a bucket, no asset is kept in the data folder");
            let id: Value = api.get("/api/v1/usage").json().expect("json");
            assert!(id["storage_bytes"].as_u64().is_some_and(|n| n > 100_000), "the bucket's bytes are counted: {id}");
            // An image's posters are made after its upload and put beside it; signed URLs
            // serve them from the bucket.
            let start = Instant::now();
            let poster = loop {
                let v: Value = api.post("/assets/sign", &json!({"keys": ["assets/city.jpg"]})).json().expect("json");
                if let Some(url) = v["urls"]["assets/city_400w.jpg"].as_str() {
                    break url.to_string();
                }
                assert!(start.elapsed() < Duration::from_secs(60), "no poster of an uploaded image: {v}");
                std::thread::sleep(Duration::from_millis(200));
            };
            let r = reqwest::blocking::get(&poster).expect("GET");
            assert_eq!(r.status(), 200);
            assert_eq!(r.headers()["content-type"], "image/jpeg");
            assert!(r.bytes().expect("bytes").starts_with(&[0xff, 0xd8]), "a JPEG");
            let uploaded = s3.list("reel", "deploy/assets/");
            let key_id = uploaded.first().and_then(|k| k.split('/').nth(2)).expect("the assets are in the bucket");
            vec![format!("{}/assets/{key_id}", Backend::STORAGE), "--allow-private".into()]
        }
    };
    let whole = |name: &str, crf: &str| {
        let path = data.path().join(name);
        let o = Command::new(reel_bin())
            .envs(backend.env().iter().map(|(k, v)| (k, v)))
            .args(["render"])
            .arg(data.path().join("comp.json"))
            .arg("--asset-cache")
            .arg(data.path().join("cache-judge"))
            .arg("--assets")
            .args(&assets)
            .args(["--no-variants", "-q", "--crf", crf, "-o"])
            .arg(&path)
            .output()
            .expect("reel render");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        path
    };
    let (single, lossless) = (whole("single.mp4", "20"), whole("lossless.mp4", "0"));
    let stitched = data.path().join("stitched.mp4");
    let url = v["output"]["download_url"].as_str().expect("url");
    let bytes = reqwest::blocking::get(url).expect("GET").bytes().expect("bytes");
    std::fs::write(&stitched, &bytes).expect("write");
    // Players seek: a range of the download is those bytes.
    let part = reqwest::blocking::Client::new().get(url).header("Range", "bytes=100-199").send().expect("GET");
    assert_eq!(part.status(), 206);
    assert_eq!(part.bytes().expect("bytes")[..], bytes[100..200]);
    assert_eq!(frame_count(&stitched), 150, "every frame once");
    // Every frame once, in order, at its time: frame n shows clip frame n.
    assert_eq!(shown_numbers(&stitched), (0..150).collect::<Vec<u64>>(), "the clip's frames, in order");
    let q = ssim(&stitched, &single);
    assert!(q >= 0.99, "SSIM {q} against a single-machine render");
    // And as close to the truth as the single render is.
    let (qs, qw) = (ssim(&stitched, &lossless), ssim(&single, &lossless));
    assert!(qs >= qw - 0.002, "against a lossless render: stitched {qs}, single {qw}");
    let probe = |p: &Path| {
        let o = Command::new("ffprobe")
            .args(["-v", "error", "-show_entries", "stream=codec_type,duration,start_time", "-of", "csv=p=0"])
            .arg(p)
            .output()
            .expect("ffprobe");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert_eq!(probe(&stitched), probe(&single), "the same streams, starts and durations");
    // The sound has no gap at the seams: the same samples as the single render's.
    let pcm = |p: &Path| {
        Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(p)
            .args(["-f", "s16le", "-ac", "1", "-"])
            .output()
            .expect("ffmpeg")
            .stdout
    };
    assert_eq!(pcm(&stitched), pcm(&single), "the soundtrack is the single render's");
    hooks.wait_for(1, Duration::from_secs(30));
    let left = |dir: &Path| -> Vec<String> {
        std::fs::read_dir(dir.join("renders").join(&id))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    };
    if shared {
        assert_eq!(left(data.path()), ["out"], "only the outputs stay");
    } else {
        // The killed worker's scratch folder keeps what it was doing (its machine's own).
        let living = own.iter().enumerate().filter(|(i, _)| *i != victim).map(|(_, d)| d.path());
        for d in [data.path(), api_machine.path()].into_iter().chain(living) {
            assert!(left(d).is_empty(), "nothing of the render stays on a machine: {:?}", left(d));
        }
    }
}

/// A throwaway PostgreSQL cluster (Debian's `postgresql` package) in a temporary folder,
/// on a free port, stopped and removed when dropped. Run as the `postgres` user when the
/// tests run as root (initdb refuses root).
pub struct Postgres {
    pub url: String,
    dir: tempfile::TempDir,
    bin: std::path::PathBuf,
    as_root: bool,
    opts: String,
}

impl Postgres {
    pub fn start() -> Postgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL is installed (make test installs Debian's postgresql)")
            .flatten()
            .map(|e| e.path().join("bin"))
            .find(|b| b.join("initdb").is_file())
            .expect("initdb");
        let dir = tempfile::tempdir().expect("tmp");
        let as_root = euid() == 0;
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
        let data = dir.path().join("pg");
        std::fs::create_dir(&data).expect("mkdir");
        if as_root {
            let ok = Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()).status().expect("chown");
            assert!(ok.success());
        }
        let opts = format!("-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", dir.path().display());
        let pg = Postgres { url: format!("postgres://reel@127.0.0.1:{port}/postgres"), dir, bin, as_root, opts };
        pg.run("initdb", &["-D", &data.to_string_lossy(), "-A", "trust", "-U", "reel", "--no-sync"]);
        pg.start_again();
        pg
    }

    /// Starts the server (again, after [`Postgres::stop`]), on the same port and data.
    pub fn start_again(&self) {
        let data = self.dir.path().join("pg");
        let log = self.dir.path().join("log");
        self.run(
            "pg_ctl",
            &["-D", &data.to_string_lossy(), "-o", &self.opts, "-l", &log.to_string_lossy(), "-w", "start"],
        );
    }

    /// Stops the server at once, its connections cut (an outage).
    pub fn stop(&self) {
        let data = self.dir.path().join("pg");
        self.run("pg_ctl", &["-D", &data.to_string_lossy(), "-m", "immediate", "-w", "stop"]);
    }

    fn run(&self, program: &str, args: &[&str]) {
        let path = self.bin.join(program);
        let mut cmd = if self.as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        let o = cmd.args(args).output().expect("run a PostgreSQL program");
        assert!(
            o.status.success(),
            "{program}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| self.stop());
    }
}

/// The effective user id.
fn euid() -> u32 {
    let o = Command::new("id").arg("-u").output().expect("id -u");
    String::from_utf8_lossy(&o.stdout).trim().parse().unwrap_or(1)
}
