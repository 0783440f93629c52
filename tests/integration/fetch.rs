//! Assets from HTTP(S) and S3: the `reel` tool against a real HTTP server (ours, below, so
//! it can misbehave on purpose) and a real S3-compatible server (moto), with reqwest and
//! object_store as the clients users get. Nothing is mocked at the client.

use crate::cli::reel_bin;
use crate::common::*;
use crate::s3::S3;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// An HTTP/1.1 server on a free loopback port, one thread per connection. Paths:
/// `/media/F` serves file F of its folder (ETag, `If-None-Match` answered 304);
/// `/flaky/F` answers 503 twice, then serves F; `/slow/F` never answers; `/cut/F` announces
/// 1000 bytes and sends 10; `/html/F` is an HTML page with 200; `/endless/F` streams bytes
/// without a length; `/huge/F` announces 5 GB; `/hop/F` redirects to the metadata
/// address; anything else is 404. Every request is counted by path and status.
struct Server {
    port: u16,
    log: Arc<Mutex<Vec<(String, u16)>>>,
}

impl Server {
    fn start(folder: &Path) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (folder, shared) = (folder.to_path_buf(), log.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (folder, log) = (folder.clone(), shared.clone());
                std::thread::spawn(move || serve(stream, &folder, &log));
            }
        });
        Server { port, log }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    fn hits(&self, path: &str) -> Vec<u16> {
        self.log.lock().expect("log").iter().filter(|(p, _)| p == path).map(|(_, s)| *s).collect()
    }
}

fn serve(mut stream: TcpStream, folder: &Path, log: &Mutex<Vec<(String, u16)>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let (route, file) = path.trim_start_matches('/').split_once('/').unwrap_or(("", ""));
    let flaky_tries = log.lock().expect("log").iter().filter(|(p, _)| *p == path).count();
    let bytes = std::fs::read(folder.join(file)).ok();
    let status: u16 = match (route, &bytes) {
        ("slow", _) => {
            log.lock().expect("log").push((path, 0));
            std::thread::sleep(Duration::from_secs(60));
            return;
        }
        ("flaky", Some(_)) if flaky_tries < 2 => 503,
        ("media" | "flaky", Some(b)) => {
            let etag = format!("\"{}-{}\"", b.len(), b.iter().map(|&x| x as u64).sum::<u64>());
            if headers.get("if-none-match") == Some(&etag) {
                304
            } else {
                log.lock().expect("log").push((path.clone(), 200));
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nETag: {etag}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                    b.len()
                );
                let _ = stream.write_all(head.as_bytes()).and_then(|_| stream.write_all(b));
                return;
            }
        }
        ("cut", _) => {
            log.lock().expect("log").push((path, 200));
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n0123456789");
            return;
        }
        ("html", _) => {
            log.lock().expect("log").push((path, 200));
            let body = "<html><body>Please log in</body></html>";
            let head = format!("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            let _ = stream.write_all(head.as_bytes());
            return;
        }
        ("endless", _) => {
            log.lock().expect("log").push((path, 200));
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
            let chunk = vec![7u8; 64 * 1024];
            for _ in 0..1024 {
                if stream.write_all(&chunk).is_err() {
                    break;
                }
            }
            return;
        }
        ("huge", _) => {
            log.lock().expect("log").push((path, 200));
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5000000000\r\nConnection: close\r\n\r\n");
            return;
        }
        ("hop", _) => {
            log.lock().expect("log").push((path, 302));
            let _ = stream.write_all(
                b"HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/latest/meta-data/\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            return;
        }
        _ => 404,
    };
    log.lock().expect("log").push((path, status));
    let reason = match status {
        304 => "Not Modified",
        503 => "Service Unavailable",
        _ => "Not Found",
    };
    let _ = stream
        .write_all(format!("HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes());
}

/// A small composition naming `image` (a background), `logo` (a layer) and `voice`.
fn composition(image: &str, logo: &str, voice: &str) -> String {
    format!(
        r#"{{"id": "fetched", "width": 160, "height": 90, "fps": 10, "totalDurationFrames": 10,
            "scenes": [{{"id": "s", "durationFrames": 10, "background": {{"type": "image", "asset": "{image}"}},
                        "layers": [{{"type": "image", "asset": "{logo}", "x": 10, "y": 10, "width": 32, "height": 32}}]}}],
            "audio": {{"voiceover": {{"asset": "{voice}"}}}}}}"#
    )
}

fn media() -> tempfile::TempDir {
    let dir = media_dir();
    write_wav(&dir.path().join("voice.wav"), 48_000, 1, &sine(48_000, 440.0, 1.0, 0.3));
    dir
}

fn reel(dir: &Path, args: &[&str], env: &[(&str, String)]) -> Output {
    let mut cmd = Command::new(reel_bin());
    cmd.current_dir(dir).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run reel")
}

/// What the tool said (`check` reports on standard output, the rest on standard error).
fn stderr(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// The files under `dir`, recursively.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut all = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                all.push(e.path());
            }
        }
    }
    all
}

#[test]
fn assets_over_http_are_fetched_once_and_revalidated() {
    let m = media();
    let server = Server::start(m.path());
    let work = tempfile::tempdir().expect("tmp");
    std::fs::write(work.path().join("c.json"), composition("quad.png", "logo.png", "voice.wav")).expect("write");
    let cache = work.path().join("cache");
    let base = server.url("media/");
    let args = [
        "render",
        "c.json",
        "-o",
        "out.mp4",
        "--quiet",
        "--no-variants",
        "--assets",
        &base,
        "--allow-private",
        "--asset-cache",
        cache.to_str().expect("utf-8"),
        "--report",
        "r.json",
    ];
    let o = reel(work.path(), &args, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.path().join("r.json")).expect("report")).expect("json");
    assert_eq!(report["fetched"]["assets"], 3, "{report}");
    assert_eq!(report["fetched"]["reused"], 0, "{report}");
    assert!(report["stages"]["fetch_s"].as_f64().is_some_and(|s| s > 0.0), "{report}");
    let (w, h, frames) = decode_rgb(&work.path().join("out.mp4"));
    assert_eq!((w, h, frames.len()), (160, 90, 10));
    // The quadrants image: red at the top left, white at the bottom right (under no layer).
    assert_near(rgb_at(&frames[5], w, 120, 20), [0, 255, 0], 40, "top right of the fetched image");
    assert_near(rgb_at(&frames[5], w, 140, 80), [255, 255, 255], 40, "bottom right of the fetched image");
    assert!(!decode_audio_left(&work.path().join("out.mp4")).is_empty(), "the fetched voice is heard");

    // Warm: each asset revalidated with one 304, no body sent again.
    let o = reel(work.path(), &args, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    for f in ["quad.png", "logo.png", "voice.wav"] {
        assert_eq!(server.hits(&format!("/media/{f}")), [200, 304], "{f}");
    }
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.path().join("r.json")).expect("report")).expect("json");
    assert_eq!(report["fetched"]["reused"], 3, "{report}");
    assert_eq!(report["fetched"]["bytes"], 0, "{report}");
    // The render's own links are gone; the objects stay, named by their SHA-256.
    assert!(tree(&cache.join("work")).is_empty());
    assert!(tree(&cache.join("tmp")).is_empty());
    let objects = tree(&cache.join("objects"));
    assert_eq!(objects.len(), 3);
    for o in objects {
        let bytes = std::fs::read(&o).expect("object");
        let name = o.file_name().and_then(|n| n.to_str()).expect("name").to_string();
        let sum = Command::new("sha256sum").arg(&o).output().expect("sha256sum");
        assert!(String::from_utf8_lossy(&sum.stdout).starts_with(&name), "{} holds {} bytes", name, bytes.len());
    }
}

#[test]
fn bad_remote_assets_are_each_named_and_nothing_partial_is_cached() {
    let m = media();
    let server = Server::start(m.path());
    let work = tempfile::tempdir().expect("tmp");
    let cache = work.path().join("cache");
    let url = |p: &str| server.url(p);
    let json = format!(
        r#"{{"id": "bad", "width": 160, "height": 90, "fps": 10, "totalDurationFrames": 10,
            "scenes": [{{"id": "s", "durationFrames": 10, "background": {{"type": "image", "asset": "{}"}},
                        "layers": [{{"type": "image", "asset": "{}"}}, {{"type": "image", "asset": "{}"}},
                                   {{"type": "image", "asset": "{}"}}, {{"type": "image", "asset": "{}"}},
                                   {{"type": "image", "asset": "{}"}}, {{"type": "image", "asset": "{}"}},
                                   {{"type": "image", "asset": "{}"}}]}}]}}"#,
        url("gone/quad.png"),
        url("cut/quad.png"),
        url("html/quad.png"),
        url("slow/quad.png"),
        url("hop/quad.png"),
        url("huge/quad.png"),
        "../../etc/passwd",
        url("endless/quad.png"),
    );
    std::fs::write(work.path().join("c.json"), json).expect("write");
    let o = reel(
        work.path(),
        &[
            "render",
            "c.json",
            "-o",
            "out.mp4",
            "--quiet",
            "--allow-remote",
            "--allow-private",
            "--fetch-timeout",
            "1",
            "--asset-cache",
            cache.to_str().expect("utf-8"),
            "--assets",
            m.path().to_str().expect("utf-8"),
            "--max-asset-bytes",
            "1000000",
        ],
        &[],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    for (path, needle) in [
        ("scenes[0].background.asset", "404"),
        ("scenes[0].layers[0].asset", "after 10 of 1000 bytes"),
        ("scenes[0].layers[1].asset", "text/html"),
        ("scenes[0].layers[2].asset", "timed out"),
        ("scenes[0].layers[3].asset", "169.254.169.254"),
        ("scenes[0].layers[4].asset", "5000000000 bytes; the limit is 1000000"),
        ("scenes[0].layers[5].asset", "'..'"),
        ("scenes[0].layers[6].asset", "more than 1000000 bytes"),
    ] {
        let line = err.lines().find(|l| l.contains(path)).unwrap_or_else(|| panic!("no error at {path}:\n{err}"));
        assert!(line.contains(needle), "{path}: {needle:?} missing in {line:?}");
    }
    // Transient failures were tried four times, refusals once; the redirect was not followed.
    assert_eq!(server.hits("/cut/quad.png").len(), 4);
    assert_eq!(server.hits("/slow/quad.png").len(), 4);
    assert_eq!(server.hits("/html/quad.png").len(), 1);
    assert_eq!(server.hits("/hop/quad.png"), [302]);
    assert!(!work.path().join("out.mp4").exists());
    assert!(tree(&cache.join("objects")).is_empty(), "nothing partial is cached");
    assert!(tree(&cache.join("tmp")).is_empty(), "no download is left behind");
}

#[test]
fn remote_fetches_refuse_plain_http_and_private_addresses_unless_allowed() {
    let m = media();
    let server = Server::start(m.path());
    let work = tempfile::tempdir().expect("tmp");
    let cache = work.path().join("cache");
    let c = cache.to_str().expect("utf-8");
    std::fs::write(work.path().join("c.json"), composition("quad.png", "logo.png", "voice.wav")).expect("write");
    // A base over plain http, a loopback address over https, a name that resolves to
    // loopback, a key that is a URL without --allow-remote.
    let https_loopback = format!("https://127.0.0.1:{}/media/", server.port);
    let https_name = format!("https://localhost:{}/media/", server.port);
    for (assets, needle) in [
        (server.url("media/"), "plain http:// is refused"),
        (https_loopback, "a loopback address"),
        ("ftp://example.com/media/".into(), "the scheme ftp://"),
    ] {
        let o = reel(work.path(), &["check", "c.json", "--assets", &assets, "--asset-cache", c], &[]);
        assert_eq!(o.status.code(), Some(2), "{assets}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{assets}: {}", stderr(&o));
    }
    let o = reel(work.path(), &["check", "c.json", "--assets", &https_name, "--asset-cache", c], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("localhost resolves to 127.0.0.1, a loopback address"), "{}", stderr(&o));
    let remote = composition(&server.url("media/quad.png"), "logo.png", "voice.wav");
    std::fs::write(work.path().join("remote.json"), remote).expect("write");
    let folder = m.path().to_str().expect("utf-8");
    let o = reel(work.path(), &["check", "remote.json", "--assets", folder, "--asset-cache", c], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--allow-remote"), "{}", stderr(&o));
    let o = reel(work.path(), &["check", "remote.json", "--assets", folder, "--asset-cache", c, "--allow-remote"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("plain http:// is refused"), "{}", stderr(&o));
    assert!(server.log.lock().expect("log").is_empty(), "no request reached the server");
    // Allowed: the absolute URL and the folder's keys together.
    let o = reel(
        work.path(),
        &["check", "remote.json", "--assets", folder, "--asset-cache", c, "--allow-remote", "--allow-private"],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(server.hits("/media/quad.png"), [200]);
}

#[test]
fn a_flaky_server_is_retried_and_sources_can_be_memory_or_the_callers_own() {
    let m = media();
    let server = Server::start(m.path());
    let policy = reel::fetch::NetPolicy { allow_private: true };
    let http = reel::fetch::HttpSource::new(&server.url("flaky/"), policy).expect("source");
    let comp = reel::parse(&composition("quad.png", "logo.png", "voice.wav")).expect("parse").composition;
    let fetcher = reel::fetch::Fetcher::new(None);
    let fetched = fetcher.fetch(&comp, &http).expect("fetched after retries");
    assert_eq!(server.hits("/flaky/quad.png"), [503, 503, 200]);
    assert_eq!(fetched.stats().assets, 3);
    let mut opts = reel::PlanOptions::new(".");
    let fetched = Arc::new(fetched);
    opts.assets = fetched.clone();
    let plan = reel::Plan::build(&reel::parse(&composition("quad.png", "logo.png", "voice.wav")).expect("p"), &opts);
    assert!(plan.is_ok(), "{:?}", plan.err());

    // Bytes in memory, planned like files.
    let mut mem = reel::fetch::MemorySource::new("test");
    for f in ["quad.png", "logo.png", "voice.wav"] {
        mem.insert(f, std::fs::read(m.path().join(f)).expect("read"));
    }
    let fetched = fetcher.fetch(&comp, &mem).expect("memory");
    let file = reel::AssetResolver::resolve(&fetched, "quad.png").expect("resolved");
    assert_eq!(std::fs::read(file).expect("read"), std::fs::read(m.path().join("quad.png")).expect("read"));
    let missing =
        fetcher.fetch(&reel::parse(&composition("quad.png", "nope.png", "voice.wav")).expect("p").composition, &mem);
    let problems = missing.err().map(|e| e.problems().to_vec()).unwrap_or_default();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].path, "scenes[0].layers[0].asset");

    // A body over the limit is cut off while reading, whatever its headers said.
    let mut small = reel::fetch::Fetcher::new(None);
    small.limits.max_bytes = 100;
    let err = small.fetch(&comp, &mem).expect_err("over the limit");
    assert_eq!(err.problems().len(), 3, "{err}");
    assert!(err.to_string().contains("the limit is 100"), "{err}");
}

#[test]
fn assets_from_an_s3_bucket_render_the_same_as_from_a_folder() {
    let m = media();
    let s3 = S3::start();
    let files: Vec<(String, PathBuf)> =
        ["quad.png", "logo.png", "voice.wav"].iter().map(|f| (format!("ads/one/{f}"), m.path().join(f))).collect();
    let refs: Vec<(&str, &Path)> = files.iter().map(|(k, p)| (k.as_str(), p.as_path())).collect();
    s3.put("media", &refs);
    let work = tempfile::tempdir().expect("tmp");
    std::fs::write(work.path().join("c.json"), composition("quad.png", "logo.png", "voice.wav")).expect("write");
    let cache = work.path().join("cache");
    let c = cache.to_str().expect("utf-8");
    let env = s3.env();
    // Plain http to the endpoint needs --allow-private.
    let o = reel(work.path(), &["check", "c.json", "--assets", "s3://media/ads/one", "--asset-cache", c], &env);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--allow-private"), "{}", stderr(&o));
    let args = |out: &'static str| {
        vec![
            "render",
            "c.json",
            "-o",
            out,
            "--quiet",
            "--no-variants",
            "--assets",
            "s3://media/ads/one/",
            "--allow-private",
            "--asset-cache",
            c,
            "--report",
            "r.json",
        ]
    };
    let o = reel(work.path(), &args("s3.mp4"), &env);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = reel(work.path(), &args("s3.mp4"), &env);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.path().join("r.json")).expect("report")).expect("json");
    assert_eq!(report["fetched"]["reused"], 3, "warm: every ETag still current: {report}");
    let folder = m.path().to_str().expect("utf-8");
    let o = reel(
        work.path(),
        &["render", "c.json", "-o", "local.mp4", "--quiet", "--no-variants", "--assets", folder],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(work.path().join("s3.mp4")).expect("s3"),
        std::fs::read(work.path().join("local.mp4")).expect("local"),
        "the same bytes in, the same video out"
    );
    // A key the bucket lacks is named with its path.
    std::fs::write(work.path().join("c.json"), composition("quad.png", "nope.png", "voice.wav")).expect("write");
    let o = reel(work.path(), &args("s3.mp4"), &env);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("scenes[0].layers[0].asset: asset \"nope.png\": not found"), "{}", stderr(&o));
}
