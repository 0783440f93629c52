//! Keys, other keys' ids, asset keys, signatures, body sizes, webhook addresses, rate limits.

use crate::common::*;
use serde_json::{json, Value};
use std::time::Duration;

#[test]
fn strangers_other_keys_and_forged_urls_get_nothing() {
    let data = tempfile::tempdir().expect("tmp");
    let (alice, bob) = (key(data.path()), key(data.path()));
    let svc = Service::start(data.path(), &["--max-body", "65536", "--max-upload", "150000", "--rate-limit", "1000"]);
    let plain = reqwest::blocking::Client::new();

    // No key, a wrong key.
    let r = plain.get(svc.url("/api/v1/renders")).send().expect("GET");
    assert_eq!(r.status(), 401);
    assert!(r.json::<Value>().expect("json")["error"].is_string());
    let r =
        plain.get(svc.url("/api/v1/renders")).bearer_auth("reel_notakeyatallnotakeyatallnotakey").send().expect("GET");
    assert_eq!(r.status(), 401);

    // Alice renders; Bob sees none of it.
    let a = Api::new(&svc, &alice);
    a.upload_demo();
    let r = a.post("/api/v1/renders", &json!({"composition": composition(5, 160, 90), "outputs": []}));
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().expect("json")["render_id"].as_str().expect("id").to_string();
    let done = a.wait(&id, Duration::from_secs(60));
    assert_eq!(done["status"], "done", "{done}");
    let b = Api::new(&svc, &bob);
    assert_eq!(b.get(&format!("/api/v1/renders/{id}")).status(), 404);
    assert_eq!(b.post(&format!("/api/v1/renders/{id}/cancel"), &json!({})).status(), 404);
    assert_eq!(b.get(&format!("/api/v1/renders/{id}/events")).status(), 404);
    let comp = done["composition_id"].as_str().expect("comp");
    assert_eq!(b.get(&format!("/api/v1/compositions/{comp}")).status(), 404);
    assert_eq!(b.post("/api/v1/renders", &json!({"composition_id": comp})).status(), 404);
    // Bob's renders cannot name Alice's assets: his folder is his own.
    let r = b.post("/api/v1/renders", &json!({"composition": composition(5, 160, 90)}));
    assert_eq!(r.status(), 400);
    assert!(b.get("/api/v1/renders").json::<Value>().expect("json")["renders"].as_array().expect("list").is_empty());
    // A finished render cannot be cancelled.
    assert_eq!(a.post(&format!("/api/v1/renders/{id}/cancel"), &json!({})).status(), 409);

    // Asset keys that leave the folder.
    for k in ["a/%2e%2e/%2e%2e/etc/passwd", "%2Fetc%2Fpasswd", "a/..%2F..%2Fx", "a%5C..%5Cx"] {
        let r = a.put(&format!("/api/v1/assets/{k}"), b"x".to_vec());
        assert!(r.status() == 400 || r.status() == 404, "{k}: {}", r.status());
        assert!(r.json::<Value>().is_ok_and(|v| v["error"].is_string()), "{k}: a JSON error");
    }
    assert!(!data.path().join("etc").exists());

    // Signed URLs: tampered, expired, unsigned.
    let url = done["output"]["download_url"].as_str().expect("url").to_string();
    assert_eq!(plain.get(&url).send().expect("GET").status(), 200);
    let tampered = url.replace("signature=", "signature=0");
    assert_eq!(plain.get(&tampered).send().expect("GET").status(), 403);
    let other_file = url.replace("video.mp4", "video_web.mp4");
    assert_eq!(plain.get(&other_file).send().expect("GET").status(), 403, "a signature is for one file");
    let later = url.replace("expires=", "expires=9");
    assert_eq!(plain.get(&later).send().expect("GET").status(), 403, "the expiry is signed too");
    assert_eq!(plain.get(url.split('?').next().expect("path")).send().expect("GET").status(), 403);
    let v: Value = a.post("/assets/sign", &json!({"keys": ["assets/logo.png"], "expires_in": 1})).json().expect("json");
    let short = v["urls"]["assets/logo.png"].as_str().expect("signed").to_string();
    assert_eq!(plain.get(&short).send().expect("GET").status(), 200);
    std::thread::sleep(Duration::from_millis(2100));
    let r = plain.get(&short).send().expect("GET");
    assert_eq!(r.status(), 403);
    assert!(r.text().expect("text").contains("expired"));

    // Bodies over the limit: an upload (nothing of it kept), a JSON body. Megabytes, so the
    // client is still sending when the answer is ready: the answer must reach it anyway.
    let r = a.put("/api/v1/assets/big.bin", vec![7u8; 3_000_000]);
    assert_eq!(r.status(), 413);
    assert!(r.json::<Value>().is_ok_and(|v| v["error"].is_string()));
    let kept: Vec<_> = std::fs::read_dir(data.path().join("assets"))
        .expect("assets")
        .flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).into_iter().flatten().flatten())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("big") || n.starts_with(".upload"))
        .collect();
    assert!(kept.is_empty(), "{kept:?}");
    let big = json!({"composition": {"id": "x".repeat(2_000_000)}});
    let r = a.post("/api/v1/compositions", &big);
    assert_eq!(r.status(), 413);
    assert!(r.json::<Value>().is_ok_and(|v| v["error"].is_string()));

    // Webhooks: only https, no credentials, no private, loopback or metadata address.
    for (url, needle) in [
        ("http://example.com/hook", "https://"),
        ("https://user:pw@example.com/hook", "credentials"),
        ("https://127.0.0.1/hook", "loopback"),
        ("https://localhost:9/hook", "loopback"),
        ("https://10.1.2.3/hook", "private"),
        ("https://169.254.169.254/latest", "metadata"),
        ("https://[::1]/hook", "loopback"),
    ] {
        let r = a.post("/api/v1/renders", &json!({"composition_id": comp, "webhook_url": url}));
        assert_eq!(r.status(), 400, "{url}");
        let v: Value = r.json().expect("json");
        assert!(v.to_string().contains(needle), "{url}: {v}");
    }
}

#[test]
fn each_key_has_its_own_rolling_minute() {
    let data = tempfile::tempdir().expect("tmp");
    let (carol, dave) = (key(data.path()), key(data.path()));
    let svc = Service::start(data.path(), &["--rate-limit", "5"]);
    let c = Api::new(&svc, &carol);
    for i in 0..5 {
        let r = c.get("/api/v1/renders");
        assert_eq!(r.status(), 200, "request {i}");
        assert_eq!(r.headers()["x-ratelimit-remaining"].to_str().ok(), Some((4 - i).to_string().as_str()));
    }
    let r = c.get("/api/v1/renders");
    assert_eq!(r.status(), 429);
    let after: u64 = r.headers()["retry-after"].to_str().expect("ascii").parse().expect("seconds");
    assert!((1..=60).contains(&after), "{after}");
    let v: Value = r.json().expect("json");
    assert_eq!(v["error"], "Rate limit exceeded");
    assert_eq!(v["retryAfterSeconds"], after);
    // Another key is not held back by Carol's.
    assert_eq!(Api::new(&svc, &dave).get("/api/v1/renders").status(), 200);
}
