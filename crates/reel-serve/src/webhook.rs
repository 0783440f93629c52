//! Webhook deliveries: stored when a render ends, sent with an HMAC-SHA256 signature,
//! retried with backoff (3 attempts in all), carried over a restart.

use crate::api::check_webhook;
use crate::db::now_ms;
use crate::{State, Stop};
use hmac::{KeyInit, Mac};
use sqlx::Row;
use std::sync::Arc;
use std::time::Duration;

const ATTEMPTS: i64 = 3;

/// Sends due deliveries until stopped.
pub(crate) async fn run(st: Arc<State>, stop: Stop) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(25))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("reel/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "webhook client");
            return;
        }
    };
    while !stop.is_set() {
        // Leased for a minute while in flight, so a slow receiver is not sent twice at once.
        let q = format!(
            "UPDATE webhooks SET next_at = $1 + 60000 WHERE id IN
               (SELECT id FROM webhooks WHERE state = 'pending' AND next_at <= $1 ORDER BY next_at LIMIT 16{lock})
             RETURNING id, url, secret, body, attempts",
            lock = st.dialect.skip_locked("")
        );
        let due = sqlx::query(&q).bind(now_ms()).fetch_all(&st.db).await.unwrap_or_default();
        for row in due {
            let (st, client) = (st.clone(), client.clone());
            let id: String = row.get("id");
            let url: String = row.get("url");
            let secret: Option<String> = row.get("secret");
            let body: String = row.get("body");
            let attempts: i64 = row.get("attempts");
            tokio::spawn(async move { deliver(&st, &client, &id, &url, secret.as_deref(), body, attempts).await });
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = stop.wait() => {}
        }
    }
}

/// The signature header's value: `v1,<hex HMAC-SHA256 of "id.timestamp.body">`.
pub(crate) fn sign(secret: &str, id: &str, ts: i64, body: &str) -> String {
    // HMAC takes a key of any length: this cannot fail.
    let Ok(mut mac) = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(format!("{id}.{ts}.{body}").as_bytes());
    format!("v1,{}", hex::encode(mac.finalize().into_bytes()))
}

async fn deliver(
    st: &State,
    client: &reqwest::Client,
    id: &str,
    url: &str,
    secret: Option<&str>,
    body: String,
    attempts: i64,
) {
    let ts = now_ms() / 1000;
    // Checked again now: a name may resolve elsewhere than when the render was made.
    let sent = match check_webhook(url, st.cfg.allow_insecure_webhooks).await {
        Err(why) => Err(why),
        Ok(u) => {
            let mut req = client
                .post(u)
                .header("content-type", "application/json")
                .header("x-webhook-id", id)
                .header("x-webhook-timestamp", ts.to_string());
            if let Some(s) = secret {
                req = req.header("x-webhook-signature", sign(s, id, ts, &body));
            }
            match req.body(body).send().await {
                Ok(r) if r.status().is_success() => Ok(()),
                Ok(r) => Err(format!("HTTP {}", r.status())),
                Err(e) => Err(if e.is_timeout() { "timed out".into() } else { e.to_string() }),
            }
        }
    };
    let attempts = attempts + 1;
    let (state, next, error) = match &sent {
        Ok(()) => ("delivered", now_ms(), None),
        Err(_) if attempts >= ATTEMPTS => ("failed", now_ms(), sent.as_ref().err().cloned()),
        Err(_) => {
            let wait = st.cfg.webhook_backoff.saturating_mul(1 << (attempts - 1).clamp(0, 10) as u32);
            ("pending", now_ms() + wait.as_millis() as i64, sent.as_ref().err().cloned())
        }
    };
    tracing::info!(webhook_id = %id, attempts, state, error = error.as_deref().unwrap_or(""), "webhook");
    let _ = sqlx::query("UPDATE webhooks SET state = $1, attempts = $2, next_at = $3, last_error = $4 WHERE id = $5")
        .bind(state)
        .bind(attempts)
        .bind(next)
        .bind(error)
        .bind(id)
        .execute(&st.db)
        .await;
}
