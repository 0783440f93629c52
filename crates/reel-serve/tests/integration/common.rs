//! Starting the service, a client, a webhook receiver.

use reqwest::blocking::{Client, Response};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The `reel` binary of this build (`make test` builds it before the tests).
pub fn reel_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let bin = exe.parent().and_then(Path::parent).expect("target dir").join("reel");
    assert!(
        bin.is_file(),
        "{} is not built: run `cargo build --workspace --bins --tests` first (make test does)",
        bin.display()
    );
    bin
}

/// The repository's root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A running `reel serve` on a free port, killed when dropped.
pub struct Service {
    pub child: Child,
    pub base: String,
    /// What the service logged (shown when a test fails).
    log: Arc<Mutex<String>>,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("reel serve's log:\n{}", self.log.lock().map(|l| l.clone()).unwrap_or_default());
        }
    }
}

impl Service {
    /// Starts the service on `data` with extra arguments.
    pub fn start(data: &Path, args: &[&str]) -> Service {
        Service::start_on(data, "127.0.0.1:0", args)
    }

    pub fn start_on(data: &Path, listen: &str, args: &[&str]) -> Service {
        Service::start_with(data, listen, args, &[])
    }

    /// With more variables in its environment.
    pub fn start_with(data: &Path, listen: &str, args: &[&str], env: &[(&str, String)]) -> Service {
        let mut child = Command::new(reel_bin())
            .envs(env.iter().map(|(k, v)| (k, v)))
            .args(["serve", "--data"])
            .arg(data)
            .args(["--listen", listen])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start reel serve");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        out.read_line(&mut line).expect("the service prints its address");
        let base =
            line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected: {line:?}")).to_string();
        let log = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().expect("stderr");
        let l = log.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                l.lock().expect("log").push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Service { child, base, log }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }
}

/// A new API key for the data folder.
pub fn key(data: &Path) -> String {
    key_in(data, None)
}

/// A new API key for the data folder and database (`None`: SQLite in the folder).
pub fn key_in(data: &Path, database: Option<&str>) -> String {
    let mut cmd = Command::new(reel_bin());
    cmd.args(["keys", "create", "--data"]).arg(data);
    if let Some(url) = database {
        cmd.args(["--database", url]);
    }
    let o = cmd.output().expect("keys create");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let key = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(key.starts_with("reel_") && key.len() >= 37, "{key}");
    key
}

/// A client that answers with status and JSON.
pub struct Api {
    pub client: Client,
    pub key: String,
    pub base: String,
}

impl Api {
    pub fn new(svc: &Service, key: &str) -> Api {
        Api {
            client: Client::builder().timeout(Duration::from_secs(120)).build().expect("client"),
            key: key.into(),
            base: svc.base.clone(),
        }
    }

    pub fn get(&self, path: &str) -> Response {
        self.client.get(format!("{}{path}", self.base)).bearer_auth(&self.key).send().expect("GET")
    }

    pub fn post(&self, path: &str, body: &Value) -> Response {
        self.client.post(format!("{}{path}", self.base)).bearer_auth(&self.key).json(body).send().expect("POST")
    }

    pub fn put(&self, path: &str, bytes: Vec<u8>) -> Response {
        self.client.put(format!("{}{path}", self.base)).bearer_auth(&self.key).body(bytes).send().expect("PUT")
    }

    /// Uploads the demo's city.jpg, logo.png and voice_1.mp3 under `assets/`.
    pub fn upload_demo(&self) {
        for f in ["city.jpg", "logo.png", "voice_1.mp3"] {
            let bytes = std::fs::read(root().join("fixtures/demo/assets").join(f)).expect("demo asset");
            let r = self.put(&format!("/api/v1/assets/assets/{f}"), bytes);
            assert_eq!(r.status(), 201, "{f}");
        }
    }

    /// Polls a render until it ends; its last status.
    pub fn wait(&self, id: &str, within: Duration) -> Value {
        let start = Instant::now();
        loop {
            let r = self.get(&format!("/api/v1/renders/{id}"));
            if r.status() == 200 {
                let v: Value = r.json().expect("json");
                if matches!(v["status"].as_str(), Some("done" | "failed" | "cancelled")) {
                    return v;
                }
            }
            assert!(start.elapsed() < within, "render {id} did not end within {within:?}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// A composition of `frames` frames at 10 fps over the demo's assets, `w`x`h`.
pub fn composition(frames: u32, w: u32, h: u32) -> Value {
    json!({"id": "svc", "width": w, "height": h, "fps": 10, "totalDurationFrames": frames,
        "scenes": [{"id": "s", "durationFrames": frames,
            "background": {"type": "image", "asset": "assets/city.jpg", "kenBurns": {"from": {"scale": 1.0}, "to": {"scale": 1.3}}},
            "layers": [{"type": "image", "asset": "assets/logo.png", "x": 10, "y": 10, "width": 64, "height": 64},
                       {"type": "text", "text": "Frame by frame", "x": "10%", "y": "70%"}]}],
        "audio": {"voiceover": {"asset": "assets/voice_1.mp3"}}})
}

/// One request a receiver got.
#[derive(Debug, Clone)]
pub struct Hook {
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Hook {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A webhook receiver: answers 500 to the first `fail` requests, then 200.
pub struct Receiver {
    pub url: String,
    pub got: Arc<Mutex<Vec<Hook>>>,
}

impl Receiver {
    pub fn start(fail: usize) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://127.0.0.1:{}/hooks/reel", listener.local_addr().expect("addr").port());
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let g = g.clone();
                std::thread::spawn(move || receive(stream, &g, fail));
            }
        });
        Receiver { url, got }
    }

    pub fn wait_for(&self, n: usize, within: Duration) -> Vec<Hook> {
        let start = Instant::now();
        while self.got.lock().expect("got").len() < n {
            assert!(
                start.elapsed() < within,
                "{} webhook requests within {within:?}, expected {n}",
                self.got.lock().expect("got").len()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        self.got.lock().expect("got").clone()
    }
}

fn receive(mut stream: TcpStream, got: &Mutex<Vec<Hook>>, fail: usize) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut headers = Vec::new();
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap_or(0);
            }
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let mut body = vec![0u8; len];
    let _ = reader.read_exact(&mut body);
    let n = {
        let mut g = got.lock().expect("got");
        g.push(Hook { headers, body: String::from_utf8_lossy(&body).into_owned() });
        g.len()
    };
    let status = if n <= fail { "500 Internal Server Error" } else { "200 OK" };
    let _ = stream.write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes());
}

/// HMAC-SHA256 of `message` under `key`, hex, by Python's `hmac` module: an independent
/// judge of the service's signatures.
pub fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    let script = "import hmac, hashlib, sys\nk = bytes.fromhex(sys.argv[1])\nprint(hmac.new(k, sys.stdin.buffer.read(), hashlib.sha256).hexdigest())";
    let hexkey: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let o = Command::new("python3")
        .args(["-c", script, &hexkey])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().expect("stdin").write_all(message)?;
            c.wait_with_output()
        })
        .expect("python3");
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// `ffprobe`'s count of video frames in a file.
pub fn frame_count(path: &Path) -> u64 {
    let o = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .expect("ffprobe");
    String::from_utf8_lossy(&o.stdout).trim().parse().unwrap_or(0)
}

/// The pids of `parent`'s children.
pub fn children(parent: i32) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else { continue };
        // pid (comm) state ppid ...
        let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        if after.split_whitespace().nth(1).and_then(|p| p.parse::<i32>().ok()) == Some(parent) {
            out.push(pid);
        }
    }
    out
}
