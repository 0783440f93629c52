//! The whole flow: upload, compose, render, events, webhook, download with Range, variants.

use crate::common::*;
use serde_json::{json, Value};
use std::time::Duration;

#[test]
fn upload_compose_render_stream_webhook_and_download() {
    let data = tempfile::tempdir().expect("tmp");
    let key = key(data.path());
    let svc =
        Service::start(data.path(), &["--allow-insecure-webhooks", "--webhook-backoff", "1", "--rate-limit", "1000"]);
    let api = Api::new(&svc, &key);
    api.upload_demo();

    // Every problem at once, with its path.
    let mut bad = composition(20, 320, 180);
    bad["scenes"][0]["layers"][0]["asset"] = json!("assets/missing.png");
    bad["scenes"][0]["layers"][1]["fontSize"] = json!("big");
    let r = api.post("/api/v1/compositions", &json!({"composition": bad}));
    assert_eq!(r.status(), 400);
    let v: Value = r.json().expect("json");
    assert_eq!(v["code"], "INVALID_COMPOSITION", "{v}");
    let paths: Vec<&str> =
        v["details"]["problems"].as_array().expect("problems").iter().filter_map(|p| p["path"].as_str()).collect();
    assert!(paths.contains(&"scenes[0].layers[0].asset") && paths.contains(&"scenes[0].layers[1].fontSize"), "{v}");

    let r = api.post("/api/v1/compositions", &json!({"composition": composition(20, 320, 180)}));
    assert_eq!(r.status(), 201);
    let comp_id = r.json::<Value>().expect("json")["composition_id"].as_str().expect("id").to_string();
    assert!(comp_id.starts_with("comp_") && comp_id.len() == 37, "{comp_id}");
    let got: Value = api.get(&format!("/api/v1/compositions/{comp_id}")).json().expect("json");
    assert_eq!(got["composition"]["id"], "svc");

    // A webhook receiver that fails twice, then succeeds.
    let hooks = Receiver::start(2);
    let body = json!({"composition_id": comp_id, "webhook_url": hooks.url, "webhook_secret": "s3cret"});
    let post = |b: &Value| {
        api.client
            .post(api.base.clone() + "/api/v1/renders")
            .bearer_auth(&key)
            .header("Idempotency-Key", "order-42")
            .json(b)
            .send()
            .expect("POST")
    };
    let r = post(&body);
    assert_eq!(r.status(), 202);
    assert!(r.headers().get("retry-after").is_some());
    assert!(r.headers().get("x-ratelimit-remaining").is_some() && r.headers().get("x-ratelimit-reset").is_some());
    let id = r.json::<Value>().expect("json")["render_id"].as_str().expect("id").to_string();
    assert!(id.starts_with("rnd_"), "{id}");
    let again: Value = post(&body).json().expect("json");
    assert_eq!(again["render_id"], id.as_str(), "the same Idempotency-Key, the same render");

    // Server-sent events, to the end of the render.
    let events = api.get(&format!("/api/v1/renders/{id}/events")).text().expect("events");
    let names: Vec<&str> = events.lines().filter_map(|l| l.strip_prefix("event: ")).collect();
    assert_eq!(names.first(), Some(&"queued"), "{events}");
    assert!(names.contains(&"phase") && names.contains(&"progress"), "{events}");
    assert_eq!(names.last(), Some(&"done"), "{events}");
    let ids: Vec<u64> = events.lines().filter_map(|l| l.strip_prefix("id: ")).filter_map(|n| n.parse().ok()).collect();
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");
    // Resumed after the third event: the rest only.
    let rest = api.get(&format!("/api/v1/renders/{id}/events?last_event_id=3")).text().expect("events");
    assert!(rest.lines().filter_map(|l| l.strip_prefix("id: ")).all(|n| n.parse::<u64>().unwrap_or(0) > 3), "{rest}");

    let status = api.wait(&id, Duration::from_secs(120));
    assert_eq!(status["status"], "done", "{status}");
    assert_eq!(status["progress_pct"], 100);
    assert_eq!(status["frames_total"], 20);
    assert_eq!(status["output"]["width"], 320);
    assert_eq!(status["output"]["duration_seconds"], 2.0);

    // ETag and 304.
    let r = api.get(&format!("/api/v1/renders/{id}"));
    let etag = r.headers().get("etag").expect("etag").to_str().expect("ascii").to_string();
    assert!(r.headers().get("retry-after").is_none(), "a finished render has no Retry-After");
    let r = api
        .client
        .get(format!("{}/api/v1/renders/{id}", api.base))
        .bearer_auth(&key)
        .header("If-None-Match", &etag)
        .send()
        .expect("GET");
    assert_eq!(r.status(), 304);

    // Downloads: no key needed, Range honoured, the right type; every variant there.
    let url = status["output"]["download_url"].as_str().expect("url");
    let plain = reqwest::blocking::Client::new();
    let whole = plain.get(url).send().expect("GET");
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.headers()["content-type"], "video/mp4");
    let bytes = whole.bytes().expect("bytes");
    assert_eq!(bytes.len() as u64, status["output"]["bytes"].as_u64().expect("bytes"));
    let part = plain.get(url).header("Range", "bytes=100-199").send().expect("GET");
    assert_eq!(part.status(), 206);
    assert_eq!(&part.bytes().expect("bytes")[..], &bytes[100..200]);
    let file = data.path().join("downloaded.mp4");
    std::fs::write(&file, &bytes).expect("write");
    assert_eq!(frame_count(&file), 20);
    for field in ["web_url", "preview_url", "poster_400w_url", "poster_800w_url"] {
        let u = status["output"][field].as_str().unwrap_or_else(|| panic!("{field} in {status}"));
        assert_eq!(plain.get(u).send().expect("GET").status(), 200, "{field}");
    }

    // The webhook: three attempts with one id, the last answered 200, signed.
    let got = hooks.wait_for(3, Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(1500));
    let got_now = hooks.got.lock().expect("got").clone();
    assert_eq!(got_now.len(), 3, "no attempt after a 2xx");
    let hook_id = got[0].header("x-webhook-id").expect("id").to_string();
    assert!(got.iter().all(|h| h.header("x-webhook-id") == Some(hook_id.as_str())), "a stable X-Webhook-ID");
    let last = &got[2];
    let ts = last.header("x-webhook-timestamp").expect("timestamp");
    let sig = last.header("x-webhook-signature").expect("signature");
    let want = hmac_sha256_hex(b"s3cret", format!("{hook_id}.{ts}.{}", last.body).as_bytes());
    assert_eq!(sig, format!("v1,{want}"));
    assert!(last.header("user-agent").is_some_and(|u| u.starts_with("reel/")));
    let payload: Value = serde_json::from_str(&last.body).expect("json");
    assert_eq!(payload["event"], "render.completed");
    assert_eq!(payload["render_id"], id.as_str());
    assert!(payload["output"]["download_url"].as_str().is_some_and(|u| u.contains("/files/")));

    // Asset variants and signed asset URLs (missing keys left out).
    let start = std::time::Instant::now();
    let urls = loop {
        let v: Value = api
            .post("/assets/sign", &json!({"keys": ["assets/city.jpg", "assets/nope.png"], "expires_in": 600}))
            .json()
            .expect("json");
        if v["urls"].get("assets/city_800w.jpg").is_some() || start.elapsed() > Duration::from_secs(30) {
            break v["urls"].clone();
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(urls.get("assets/nope.png").is_none(), "{urls}");
    for k in ["assets/city.jpg", "assets/city_400w.jpg", "assets/city_800w.jpg"] {
        let u = urls[k].as_str().unwrap_or_else(|| panic!("{k} in {urls}"));
        let r = plain.get(u).send().expect("GET");
        assert_eq!(r.status(), 200, "{k}");
        assert_eq!(r.headers()["content-type"], "image/jpeg", "{k}");
    }

    // Usage: this key's requests, renders and storage.
    let usage: Value = api.get("/api/v1/usage?days=500").json().expect("json");
    assert_eq!(usage["period_days"], 90, "clamped: {usage}");
    assert!(usage["total_requests"].as_u64().is_some_and(|n| n >= 10), "{usage}");
    assert_eq!(usage["renders"]["count"], 1, "{usage}");
    assert_eq!(usage["renders"]["done"], 1, "{usage}");
    assert_eq!(usage["renders"]["video_seconds"], 2.0, "{usage}");
    assert!(usage["storage_bytes"].as_u64().is_some_and(|b| b > bytes.len() as u64), "{usage}");

    // The list, and metrics.
    let list: Value = api.get("/api/v1/renders?status=done&limit=5").json().expect("json");
    assert_eq!(list["renders"][0]["render_id"], id.as_str());
    let metrics = plain.get(svc.url("/metrics")).send().expect("GET").text().expect("text");
    assert!(metrics.contains("reel_renders{status=\"done\"} 1"), "{metrics}");
    assert!(metrics.contains("reel_queue_depth 0"), "{metrics}");
    assert!(metrics.contains("reel_webhook_failed_attempts_total 2"), "{metrics}");
}
