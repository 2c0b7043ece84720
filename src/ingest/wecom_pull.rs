//! WeCom (企业微信 微信客服) delivers only a token in its callback; the
//! messages themselves are pulled with `kf/sync_msg`. This worker does the
//! pulling off the request path, so the callback is answered at once (WeCom
//! waits 5 seconds), and keeps the cursor per customer-service account in
//! the database, so a restart continues where the last stored page ended.
//! A page is stored before its cursor is saved: a crash in between pulls the
//! page again, and message ids make that harmless.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Deserialize;

use super::chat::ChatReceiver;
use crate::webhooks::wecom::{parse_sync_msg, sync_msg_request_body};
use crate::webhooks::WebhookError;

/// WeCom's own cap on one page.
const PAGE_LIMIT: u32 = 1000;
/// A page loop stops after this many pages and resumes on the next callback,
/// so one busy account cannot starve the others.
const MAX_PAGES_PER_PULL: usize = 50;
/// errcodes meaning the access token is invalid or expired.
const TOKEN_ERRCODES: [i64; 3] = [40001, 40014, 42001];
/// Refresh the access token this long before WeCom says it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("WeCom request to {url} failed: {message}")]
    Http { url: String, message: String },
    #[error("WeCom answered errcode {errcode}: {errmsg}")]
    Api { errcode: i64, errmsg: String },
    #[error(transparent)]
    Body(#[from] WebhookError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// A callback's request to pull one account's new messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    pub open_kfid: String,
    /// Valid for 10 minutes; lifts sync_msg's strict rate limit.
    pub token: Option<String>,
}

pub struct WecomClient {
    http: reqwest::blocking::Client,
    api_base_url: String,
    corp_id: String,
    secret: String,
    access_token: Mutex<Option<(String, Instant)>>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    expires_in: u64,
}

/// How a failed call to `url` reads in the log.
fn http_error(url: &str) -> impl Fn(reqwest::Error) -> PullError + '_ {
    move |error| PullError::Http {
        url: url.to_string(),
        message: error.to_string(),
    }
}

impl WecomClient {
    pub fn new(api_base_url: &str, corp_id: &str, secret: &str) -> Result<WecomClient, PullError> {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(http_error(api_base_url))?;
        Ok(WecomClient {
            http,
            api_base_url: api_base_url.trim_end_matches('/').to_string(),
            corp_id: corp_id.to_string(),
            secret: secret.to_string(),
            access_token: Mutex::new(None),
        })
    }

    fn access_token(&self, force_refresh: bool) -> Result<String, PullError> {
        let mut cached = self.access_token.lock();
        if let Some((token, expires)) = cached.as_ref() {
            if !force_refresh && Instant::now() + TOKEN_MARGIN < *expires {
                return Ok(token.clone());
            }
        }
        let url = format!("{}/cgi-bin/gettoken", self.api_base_url);
        let answer: TokenAnswer = self
            .http
            .get(&url)
            .query(&[("corpid", &self.corp_id), ("corpsecret", &self.secret)])
            .send()
            .and_then(|response| response.error_for_status())
            .and_then(|response| response.json())
            .map_err(http_error(&url))?;
        if answer.errcode != 0 || answer.access_token.is_empty() {
            return Err(PullError::Api {
                errcode: answer.errcode,
                errmsg: answer.errmsg,
            });
        }
        let expires = Instant::now() + Duration::from_secs(answer.expires_in.max(60));
        *cached = Some((answer.access_token.clone(), expires));
        Ok(answer.access_token)
    }

    fn sync_page(
        &self,
        cursor: Option<&str>,
        request: &PullRequest,
    ) -> Result<crate::webhooks::wecom::SyncMsgPage, PullError> {
        let url = format!("{}/cgi-bin/kf/sync_msg", self.api_base_url);
        let body = sync_msg_request_body(
            cursor,
            request.token.as_deref().unwrap_or(""),
            &request.open_kfid,
            PAGE_LIMIT,
        );
        let mut refreshed = false;
        loop {
            let token = self.access_token(refreshed)?;
            let bytes = self
                .http
                .post(&url)
                .query(&[("access_token", token.as_str())])
                .json(&body)
                .send()
                .and_then(|response| response.error_for_status())
                .and_then(|response| response.bytes())
                .map_err(http_error(&url))?;
            let page = parse_sync_msg(&bytes)?;
            if TOKEN_ERRCODES.contains(&page.errcode) && !refreshed {
                refreshed = true;
                continue;
            }
            if page.errcode != 0 {
                return Err(PullError::Api {
                    errcode: page.errcode,
                    errmsg: page.errmsg,
                });
            }
            return Ok(page);
        }
    }

    /// Pulls every new message of one account and stores it; returns how
    /// many were new.
    pub fn pull(
        &self,
        request: &PullRequest,
        receiver: &ChatReceiver,
        now: impl Fn() -> i64,
    ) -> Result<usize, PullError> {
        let cursor_key = format!("wecom:{}", request.open_kfid);
        let mut cursor = receiver.store().sync_cursor(&cursor_key)?;
        let mut stored = 0;
        for _ in 0..MAX_PAGES_PER_PULL {
            let page = self.sync_page(cursor.as_deref(), request)?;
            stored += receiver
                .store_messages("wecom", &page.messages, now())?
                .stored;
            if !page.next_cursor.is_empty() {
                receiver
                    .store()
                    .save_sync_cursor(&cursor_key, &page.next_cursor, now())?;
                cursor = Some(page.next_cursor);
            }
            if !page.has_more {
                break;
            }
        }
        Ok(stored)
    }
}

/// Runs pulls one at a time as callbacks ask for them. Several callbacks for
/// the same account while a pull runs collapse into one more pull.
pub fn run_pull_worker(
    client: &WecomClient,
    receiver: &ChatReceiver,
    requests: &Receiver<PullRequest>,
    shutdown: &AtomicBool,
) {
    while !shutdown.load(Ordering::Relaxed) {
        let first = match requests.recv_timeout(Duration::from_millis(500)) {
            Ok(request) => request,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut batch = vec![first];
        while let Ok(request) = requests.try_recv() {
            match batch
                .iter_mut()
                .find(|known| known.open_kfid == request.open_kfid)
            {
                // The newest token is the one still valid longest.
                Some(known) => known.token = request.token.or(known.token.take()),
                None => batch.push(request),
            }
        }
        for request in batch {
            match client.pull(&request, receiver, crate::time::now_unix) {
                Ok(stored) => {
                    tracing::info!(open_kfid = %request.open_kfid, stored, "WeCom messages pulled")
                }
                Err(error) => {
                    tracing::error!(open_kfid = %request.open_kfid, %error, "WeCom pull failed; the next callback retries from the saved cursor")
                }
            }
        }
    }
}

/// The sending half, kept by the webhook receiver.
pub type PullQueue = Sender<PullRequest>;
