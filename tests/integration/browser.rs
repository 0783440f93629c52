//! The web copy plays in a real browser: headless Chromium (Debian's `chromium`, installed
//! by `make test`) loads a page from a tiny HTTP server on 127.0.0.1 inside this test, plays
//! `NAME_web.mp4` to its end, and reports the duration, size and `ended` back to the server.

use crate::common::*;
use reel::{RenderOptions, Variants};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const PAGE: &str = r#"<!doctype html><html><body>
<video id="v" src="/web.mp4" muted playsinline></video>
<script>
const v = document.getElementById('v'), r = {};
const report = () => fetch('/result?' + encodeURIComponent(JSON.stringify(r)));
v.addEventListener('loadedmetadata', () => { r.duration = v.duration; r.w = v.videoWidth; r.h = v.videoHeight;
  v.play().catch(e => { r.error = String(e); report(); }); });
v.addEventListener('ended', () => { r.ended = true; report(); });
v.addEventListener('error', () => { r.error = 'media error ' + (v.error && v.error.code); report(); });
</script></body></html>"#;

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn web_copy_plays_to_the_end_in_chromium() {
    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok())
        .expect("chromium (installed by make test)");
    let dir = media_dir();
    write_wav(&dir.path().join("tone.wav"), 48000, 1, &sine(48000, 440.0, 3.0, 0.2));
    let plan = plan(
        r##"{"id": "web", "width": 1280, "height": 720, "fps": 30, "scenes": [{"id": "s", "durationFrames": 60,
            "background": {"type": "gradient", "colors": ["#203040", "#a0c0e0"]},
            "layers": [{"type": "text", "text": "plays everywhere", "role": "headline"}]}],
            "audio": {"music": {"asset": "tone.wav"}}}"##,
        dir.path(),
    )
    .expect("plan");
    let mut opts = RenderOptions::new(dir.path().join("ad.mp4"));
    opts.variants = Variants::NONE.with_web(true);
    reel::render(&plan, &opts).expect("render");
    let video = std::fs::read(dir.path().join("ad_web.mp4")).expect("web copy");

    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = listener.local_addr().expect("addr").port();
    listener.set_nonblocking(true).expect("nonblocking");
    let (tx, rx) = mpsc::channel::<String>();
    let server = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(40);
        while Instant::now() < deadline {
            let Ok((mut s, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            };
            let _ = s.set_nonblocking(false);
            let mut line = String::new();
            let mut reader = BufReader::new(s.try_clone().expect("clone"));
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            // Drain the headers.
            let mut h = String::new();
            while reader.read_line(&mut h).map(|n| n > 2).unwrap_or(false) {
                h.clear();
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            let (status, ctype, body): (&str, &str, Vec<u8>) = if path == "/" {
                ("200 OK", "text/html", PAGE.as_bytes().to_vec())
            } else if path == "/web.mp4" {
                ("200 OK", "video/mp4", video.clone())
            } else if let Some(q) = path.strip_prefix("/result?") {
                let _ = tx.send(percent_decode(q));
                ("204 No Content", "text/plain", Vec::new())
            } else {
                ("404 Not Found", "text/plain", Vec::new())
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&body);
            let _ = s.flush();
            let mut sink = [0u8; 16];
            let _ = s.set_read_timeout(Some(Duration::from_millis(10)));
            let _ = s.read(&mut sink);
        }
    });
    let profile = tempfile::tempdir().expect("profile dir");
    let mut browser = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--autoplay-policy=no-user-gesture-required",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("http://127.0.0.1:{port}/"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let result = rx.recv_timeout(Duration::from_secs(30));
    let _ = browser.kill();
    let _ = browser.wait();
    drop(server);
    let result = result.expect("the page reported no result within 30 s");
    let r: serde_json::Value = serde_json::from_str(&result).expect("result JSON");
    assert!(r["error"].is_null(), "browser error: {r}");
    assert_eq!(r["ended"], true, "{r}");
    assert_eq!((r["w"].as_u64(), r["h"].as_u64()), (Some(1280), Some(720)), "{r}");
    let d = r["duration"].as_f64().expect("duration");
    assert!((d - 2.0).abs() <= 1.0 / 30.0, "browser duration {d}");
}
