//! WeCom (企业微信) 微信客服 callbacks.
//!
//! * `GET ?msg_signature&timestamp&nonce&echostr`: URL verification; the
//!   reply is the decrypted `echostr` as plain text.
//! * `POST ?msg_signature&timestamp&nonce` with an XML envelope
//!   `<xml><ToUserName/><Encrypt/><AgentID/></xml>`: the signature covers the
//!   `Encrypt` field (not the raw body), so the envelope is parsed first.
//!   A `kf_msg_or_event` event carries no message, only a token for the
//!   caller's `kf/sync_msg` pull ([`WebhookOutcome::WecomPull`]); the page it
//!   gets back is decoded by [`parse_sync_msg`].
//!
//! WeCom does not mandate a timestamp window; we refuse timestamps more than
//! [`MAX_SKEW_SECS`] from now so that a captured callback cannot be replayed
//! indefinitely.

use std::collections::HashMap;

use quick_xml::events::Event;
use quick_xml::Reader;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::msgcrypt::MsgCrypt;
use super::{
    check_fresh, parse_timestamp, redacted_debug, text_message, InboundMessage, WebhookError,
    WebhookOutcome, WebhookReply, WebhookRequest,
};
use crate::feedback::Speaker;

pub const PLATFORM: &str = "wecom";
pub const MAX_SKEW_SECS: i64 = 3600;

/// Callback secrets plus what the `kf/sync_msg` pull needs.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WecomConfig {
    /// 企业ID: the receiver id of every encrypted callback.
    pub corp_id: String,
    /// 回调 Token and EncodingAESKey (43 characters).
    pub token: String,
    pub encoding_aes_key: String,
    /// The 微信客服 application secret, for the pull's access token.
    pub secret: String,
    #[serde(default = "default_api_base_url")]
    pub api_base_url: String,
}
redacted_debug!(WecomConfig: corp_id, token, encoding_aes_key, secret, api_base_url);

fn default_api_base_url() -> String {
    "https://qyapi.weixin.qq.com".to_string()
}

impl WecomConfig {
    /// Also the startup check: fails on an unusable EncodingAESKey.
    pub fn crypt(&self) -> Result<MsgCrypt, WebhookError> {
        MsgCrypt::new(&self.token, &self.encoding_aes_key, &self.corp_id)
    }
}

pub fn handle(
    config: &WecomConfig,
    request: &WebhookRequest,
    now: i64,
) -> Result<WebhookOutcome, WebhookError> {
    request.require_method(&["GET", "POST"])?;
    let crypt = config.crypt()?;
    let msg_signature = request.require_query("msg_signature")?;
    let timestamp = request.require_query("timestamp")?;
    let nonce = request.require_query("nonce")?;
    check_fresh(parse_timestamp(timestamp, "timestamp")?, now, MAX_SKEW_SECS)?;

    if request.method.eq_ignore_ascii_case("GET") {
        let echostr = request.require_query("echostr")?;
        let echo = crypt.open(msg_signature, timestamp, nonce, echostr)?;
        return Ok(WebhookOutcome::Reply(WebhookReply {
            status: 200,
            content_type: "text/plain; charset=utf-8",
            body: echo,
        }));
    }

    let envelope = xml_fields(request.body)?;
    let encrypt = envelope
        .get("Encrypt")
        .ok_or(WebhookError::MissingParameter("Encrypt"))?;
    let inner = xml_fields(&crypt.open(msg_signature, timestamp, nonce, encrypt)?)?;
    let field = |name| inner.get(name).map(String::as_str).unwrap_or("");
    let reply = WebhookReply::text("success");
    if field("MsgType") == "event" && field("Event") == "kf_msg_or_event" {
        let token = inner
            .get("Token")
            .ok_or(WebhookError::MissingParameter("Token"))?;
        let open_kfid = inner
            .get("OpenKfId")
            .ok_or(WebhookError::MissingParameter("OpenKfId"))?;
        return Ok(WebhookOutcome::WecomPull {
            token: token.clone(),
            open_kfid: open_kfid.clone(),
            reply,
        });
    }
    Ok(WebhookOutcome::Messages {
        messages: Vec::new(),
        reply,
    })
}

/// The POST body WeCom sends around an `encrypt` field.
pub fn envelope(corp_id: &str, encrypt: &str, agent_id: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName>\
         <Encrypt><![CDATA[{encrypt}]]></Encrypt><AgentID><![CDATA[{agent_id}]]></AgentID></xml>"
    )
}

/// Text of the root element's children, first occurrence wins. WeCom's XML
/// is flat; deeper elements are ignored. quick-xml never expands DTD
/// entities, so entity-expansion and external-entity attacks do not apply.
fn xml_fields(xml: &[u8]) -> Result<HashMap<String, String>, WebhookError> {
    let malformed =
        |error: &dyn std::fmt::Display| WebhookError::Malformed(format!("XML: {error}"));
    let mut reader = Reader::from_reader(xml);
    let mut fields = HashMap::new();
    let mut depth = 0usize;
    let mut saw_root = false;
    let mut current: Option<(String, String)> = None;
    loop {
        match reader.read_event().map_err(|e| malformed(&e))? {
            Event::Start(start) => {
                saw_root = true;
                depth += 1;
                if depth == 2 {
                    let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
                    current = Some((name, String::new()));
                }
            }
            Event::Empty(_) if depth == 0 => saw_root = true,
            Event::Empty(start) if depth == 1 => {
                let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
                fields.entry(name).or_insert_with(String::new);
            }
            Event::End(_) => {
                if depth == 2 {
                    if let Some((name, value)) = current.take() {
                        fields.entry(name).or_insert(value);
                    }
                }
                depth = depth.saturating_sub(1);
            }
            Event::Text(text) if depth == 2 => {
                if let Some((_, value)) = current.as_mut() {
                    value.push_str(&text.decode().map_err(|e| malformed(&e))?);
                }
            }
            Event::CData(data) if depth == 2 => {
                if let Some((_, value)) = current.as_mut() {
                    value.push_str(&data.decode().map_err(|e| malformed(&e))?);
                }
            }
            Event::GeneralRef(reference) if depth == 2 => {
                let resolved = match reference.resolve_char_ref().map_err(|e| malformed(&e))? {
                    Some(ch) => ch.to_string(),
                    None => {
                        let name = reference.decode().map_err(|e| malformed(&e))?;
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| malformed(&format!("unknown entity &{name};")))?
                            .to_string()
                    }
                };
                if let Some((_, value)) = current.as_mut() {
                    value.push_str(&resolved);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if depth != 0 || !saw_root {
        return Err(malformed(&"no root element or unclosed element"));
    }
    Ok(fields)
}

/// One page of a `kf/sync_msg` response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncMsgPage {
    /// Non-zero is a WeCom error (e.g. 95007 invalid token); `messages` is
    /// then empty and the caller decides whether to retry.
    pub errcode: i64,
    pub errmsg: String,
    /// Pass back as `cursor` for the next page.
    pub next_cursor: String,
    pub has_more: bool,
    /// Text messages only; images, voice, events and unknown origins are skipped.
    pub messages: Vec<InboundMessage>,
}

#[derive(Deserialize)]
struct RawPage {
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
    #[serde(default)]
    next_cursor: String,
    #[serde(default)]
    has_more: Value,
    #[serde(default)]
    msg_list: Vec<RawKfMessage>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawKfMessage {
    msgid: String,
    open_kfid: String,
    external_userid: String,
    send_time: i64,
    origin: i64,
    servicer_userid: String,
    msgtype: String,
    text: Option<RawText>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawText {
    content: String,
}

/// Origins from the kf/sync_msg documentation.
const ORIGIN_CUSTOMER: i64 = 3;
const ORIGIN_SYSTEM: i64 = 4;
const ORIGIN_SERVICER: i64 = 5;

/// Decodes a `kf/sync_msg` response body. Conversation key:
/// `"{open_kfid}:{external_userid}"`.
pub fn parse_sync_msg(body: &[u8]) -> Result<SyncMsgPage, WebhookError> {
    let page: RawPage = serde_json::from_slice(body)
        .map_err(|error| WebhookError::Malformed(format!("kf/sync_msg response: {error}")))?;
    let has_more = match &page.has_more {
        Value::Bool(more) => *more,
        Value::Number(more) => more.as_f64().is_some_and(|more| more != 0.0),
        _ => false,
    };
    let mut messages = Vec::new();
    if page.errcode == 0 {
        for (index, raw) in page.msg_list.into_iter().enumerate() {
            if raw.msgtype != "text" {
                continue;
            }
            let (speaker, sender_id) = match raw.origin {
                ORIGIN_CUSTOMER => (Speaker::Customer, raw.external_userid.clone()),
                // Messages sent through the API have no servicer; the kf account spoke.
                ORIGIN_SERVICER if raw.servicer_userid.is_empty() => {
                    (Speaker::Agent, raw.open_kfid.clone())
                }
                ORIGIN_SERVICER => (Speaker::Agent, raw.servicer_userid),
                ORIGIN_SYSTEM => (Speaker::System, raw.open_kfid.clone()),
                // Undocumented origins: we cannot tell who spoke.
                _ => continue,
            };
            if raw.msgid.is_empty() {
                return Err(WebhookError::Malformed(format!(
                    "msg_list[{index}].msgid is empty"
                )));
            }
            let text = raw.text.map(|text| text.content).unwrap_or_default();
            messages.extend(text_message(
                raw.msgid,
                format!("{}:{}", raw.open_kfid, raw.external_userid),
                sender_id,
                speaker,
                &text,
                raw.send_time,
            ));
        }
    }
    Ok(SyncMsgPage {
        errcode: page.errcode,
        errmsg: page.errmsg,
        next_cursor: page.next_cursor,
        has_more,
        messages,
    })
}

/// The JSON body of a `kf/sync_msg` request; `limit` is clamped to WeCom's 1..=1000.
pub fn sync_msg_request_body(
    cursor: Option<&str>,
    token: &str,
    open_kfid: &str,
    limit: u32,
) -> Value {
    let mut body = json!({
        "token": token,
        "open_kfid": open_kfid,
        "limit": limit.clamp(1, 1000),
    });
    if let Some(cursor) = cursor.filter(|cursor| !cursor.is_empty()) {
        body["cursor"] = json!(cursor);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhooks::msgcrypt;
    use proptest::prelude::*;

    // The sample values of WeCom's WXBizMsgCrypt documentation.
    const TOKEN: &str = "QDG6eK";
    const AES_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
    const CORP_ID: &str = "wx5823bf96d3bd56c7";
    const NOW: i64 = 1_700_000_000;

    fn config() -> WecomConfig {
        WecomConfig {
            token: TOKEN.into(),
            encoding_aes_key: AES_KEY.into(),
            corp_id: CORP_ID.into(),
            secret: "kf-secret".into(),
            api_base_url: default_api_base_url(),
        }
    }

    fn query(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// A signed POST of `inner` XML encrypted for `receiver`.
    fn post(inner: &str, receiver: &str, timestamp: i64) -> (Vec<(String, String)>, String) {
        let crypt = MsgCrypt::new(TOKEN, AES_KEY, receiver).unwrap();
        let encrypt = crypt.encrypt(inner.as_bytes());
        let ts = timestamp.to_string();
        let signature = msgcrypt::signature(TOKEN, &ts, "nonce1", &encrypt);
        (
            query(&[
                ("msg_signature", &signature),
                ("timestamp", &ts),
                ("nonce", "nonce1"),
            ]),
            envelope(receiver, &encrypt, "218"),
        )
    }

    fn run(
        method: &str,
        query: &[(String, String)],
        body: &[u8],
    ) -> Result<WebhookOutcome, WebhookError> {
        handle(
            &config(),
            &WebhookRequest {
                method,
                query,
                headers: &[],
                body,
            },
            NOW,
        )
    }

    const KF_EVENT: &str = "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\
        <CreateTime>1348831860</CreateTime><MsgType><![CDATA[event]]></MsgType>\
        <Event><![CDATA[kf_msg_or_event]]></Event>\
        <Token><![CDATA[ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR]]></Token>\
        <OpenKfId><![CDATA[wkxxxxxxx]]></OpenKfId></xml>";

    #[test]
    fn documented_url_verification_sample() {
        let echostr = "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==";
        let q = query(&[
            ("msg_signature", "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3"),
            ("timestamp", "1409659589"),
            ("nonce", "263014780"),
            ("echostr", echostr),
        ]);
        let request = WebhookRequest {
            method: "GET",
            query: &q,
            headers: &[],
            body: b"",
        };
        let Ok(WebhookOutcome::Reply(reply)) = handle(&config(), &request, 1409659589) else {
            panic!("expected a reply");
        };
        assert_eq!(reply.body, b"1616140317555161061");
    }

    #[test]
    fn pinned_encryption() {
        let crypt = config().crypt().unwrap();
        let encrypted = crypt.encrypt_with_random(*b"0123456789abcdef", b"1616140317555161061");
        // Pinned; cross-checked once against an independent Python implementation
        // of the scheme (the `cryptography` package).
        assert_eq!(
            encrypted,
            "sKqRbbiSUnDhFHOvPjtUMWzf2R8PrpMiTTPaicBgqZlYW/WsF6SiFd2z9CriX2YpWYzF1yrNNQ0SomM3ovdnfA=="
        );
        assert_eq!(crypt.decrypt(&encrypted).unwrap(), b"1616140317555161061");
    }

    #[test]
    fn url_verification_echoes_plaintext() {
        let crypt = config().crypt().unwrap();
        let echostr = crypt.encrypt(b"1616140317555161061");
        let ts = NOW.to_string();
        // Signature by hand: the four strings sorted, concatenated, SHA-1.
        let mut parts = [TOKEN, ts.as_str(), "263014780", echostr.as_str()];
        parts.sort();
        let signature = hex::encode(<sha1::Sha1 as sha1::Digest>::digest(parts.concat()));
        let q = query(&[
            ("msg_signature", &signature),
            ("timestamp", &ts),
            ("nonce", "263014780"),
            ("echostr", &echostr),
        ]);
        let Ok(WebhookOutcome::Reply(reply)) = run("GET", &q, b"") else {
            panic!("expected a reply");
        };
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body, b"1616140317555161061");
    }

    #[test]
    fn kf_event_asks_for_a_pull() {
        let (q, body) = post(KF_EVENT, CORP_ID, NOW - 10);
        assert_eq!(
            run("POST", &q, body.as_bytes()),
            Ok(WebhookOutcome::WecomPull {
                token: "ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR".into(),
                open_kfid: "wkxxxxxxx".into(),
                reply: WebhookReply::text("success"),
            })
        );
    }

    #[test]
    fn other_events_store_nothing() {
        let inner = "<xml><MsgType>event</MsgType><Event>enter_agent</Event></xml>";
        let (q, body) = post(inner, CORP_ID, NOW);
        assert_eq!(
            run("POST", &q, body.as_bytes()),
            Ok(WebhookOutcome::Messages {
                messages: vec![],
                reply: WebhookReply::text("success")
            })
        );
    }

    #[test]
    fn xml_plain_text_entities_and_cdata() {
        let fields = xml_fields(
            b"<?xml version=\"1.0\"?><xml><A>a &amp; &#x4F60;b</A><B><![CDATA[<c>]]></B><C/><A>dup</A></xml>",
        )
        .unwrap();
        assert_eq!(fields["A"], "a & \u{4F60}b");
        assert_eq!(fields["B"], "<c>");
        assert_eq!(fields["C"], "");
        assert!(xml_fields(b"<xml><A>x</B></xml>").is_err());
        assert!(xml_fields(b"<xml><A>&custom;</A></xml>").is_err());
        assert!(xml_fields(b"<xml><A>").is_err());
        assert!(xml_fields(b"").is_err());
    }

    #[test]
    fn tampered_signature_is_rejected() {
        let (mut q, body) = post(KF_EVENT, CORP_ID, NOW);
        q[0].1 = msgcrypt::signature(TOKEN, "1", "2", "3");
        assert_eq!(
            run("POST", &q, body.as_bytes()),
            Err(WebhookError::BadSignature)
        );
        // A signature made for a different Encrypt value.
        let (q, _) = post(KF_EVENT, CORP_ID, NOW);
        let other = envelope(CORP_ID, &config().crypt().unwrap().encrypt(b"<xml/>"), "1");
        assert_eq!(
            run("POST", &q, other.as_bytes()),
            Err(WebhookError::BadSignature)
        );
    }

    #[test]
    fn stale_timestamp_is_rejected() {
        let (q, body) = post(KF_EVENT, CORP_ID, NOW - MAX_SKEW_SECS - 1);
        assert!(matches!(
            run("POST", &q, body.as_bytes()),
            Err(WebhookError::StaleTimestamp { .. })
        ));
    }

    #[test]
    fn wrong_receiver_is_rejected() {
        let (q, body) = post(KF_EVENT, "ww_someone_else", NOW);
        assert_eq!(
            run("POST", &q, body.as_bytes()),
            Err(WebhookError::WrongReceiver)
        );
    }

    #[test]
    fn malformed_requests_are_rejected() {
        let (q, _) = post(KF_EVENT, CORP_ID, NOW);
        assert!(matches!(
            run("POST", &q, b"<xml><Encrypt>"),
            Err(WebhookError::Malformed(_))
        ));
        assert_eq!(
            run("POST", &q, b"<xml><ToUserName>x</ToUserName></xml>"),
            Err(WebhookError::MissingParameter("Encrypt"))
        );
        assert_eq!(
            run("POST", &[], b""),
            Err(WebhookError::MissingParameter("msg_signature"))
        );
        assert!(matches!(
            run("PUT", &q, b""),
            Err(WebhookError::MethodNotAllowed(_))
        ));
        // Properly signed garbage ciphertext.
        let ts = NOW.to_string();
        let q = query(&[
            (
                "msg_signature",
                &msgcrypt::signature(TOKEN, &ts, "n", "@@@"),
            ),
            ("timestamp", &ts),
            ("nonce", "n"),
        ]);
        assert!(matches!(
            run("POST", &q, envelope(CORP_ID, "@@@", "1").as_bytes()),
            Err(WebhookError::Malformed(_))
        ));
        // A kf event without its token.
        let (q, body) = post(
            "<xml><MsgType>event</MsgType><Event>kf_msg_or_event</Event></xml>",
            CORP_ID,
            NOW,
        );
        assert_eq!(
            run("POST", &q, body.as_bytes()),
            Err(WebhookError::MissingParameter("Token"))
        );
    }

    const SYNC_PAGE: &str = r#"{"errcode":0,"errmsg":"ok","next_cursor":"4gw7MepFLfgF2VC5npN","has_more":1,"msg_list":[{"msgid":"from_msgid_4622416642169452483","open_kfid":"wkAJ2GCAAASSm4_FhToWMFea0xAFfd3Q","external_userid":"wmAJ2GCAAAme1XQRC-NI-q0_ZM9ukoAw","send_time":1615478585,"origin":3,"servicer_userid":"Zhangsan","msgtype":"text","text":{"content":"你好"}}]}"#;

    #[test]
    fn parses_documented_sync_msg_page() {
        let page = parse_sync_msg(SYNC_PAGE.as_bytes()).unwrap();
        assert_eq!(page.errcode, 0);
        assert_eq!(page.next_cursor, "4gw7MepFLfgF2VC5npN");
        assert!(page.has_more);
        assert_eq!(
            page.messages,
            vec![InboundMessage {
                message_id: "from_msgid_4622416642169452483".into(),
                conversation_key:
                    "wkAJ2GCAAASSm4_FhToWMFea0xAFfd3Q:wmAJ2GCAAAme1XQRC-NI-q0_ZM9ukoAw".into(),
                sender_id: "wmAJ2GCAAAme1XQRC-NI-q0_ZM9ukoAw".into(),
                speaker: Speaker::Customer,
                text: "你好".into(),
                sent_at: 1615478585,
            }]
        );
    }

    #[test]
    fn sync_msg_speakers_and_skips() {
        let body = r#"{"errcode":0,"errmsg":"ok","next_cursor":"c","has_more":0,"msg_list":[
            {"msgid":"a","open_kfid":"wk","external_userid":"wm","send_time":1,"origin":5,"servicer_userid":"Lisi","msgtype":"text","text":{"content":"您好"}},
            {"msgid":"b","open_kfid":"wk","external_userid":"wm","send_time":2,"origin":3,"msgtype":"image","image":{"media_id":"x"}},
            {"msgid":"c","open_kfid":"wk","external_userid":"wm","send_time":3,"origin":4,"msgtype":"event","event":{"event_type":"enter_session"}},
            {"msgid":"d","open_kfid":"wk","external_userid":"wm","send_time":4,"origin":3,"msgtype":"text","text":{"content":"  "}},
            {"msgid":"e","open_kfid":"wk","external_userid":"wm","send_time":5,"origin":9,"msgtype":"text","text":{"content":"?"}}
        ]}"#;
        let page = parse_sync_msg(body.as_bytes()).unwrap();
        assert!(!page.has_more);
        assert_eq!(page.messages.len(), 1);
        assert_eq!(page.messages[0].speaker, Speaker::Agent);
        assert_eq!(page.messages[0].sender_id, "Lisi");
        assert_eq!(page.messages[0].conversation_key, "wk:wm");

        let error = parse_sync_msg(br#"{"errcode":95007,"errmsg":"invalid msg token"}"#).unwrap();
        assert_eq!((error.errcode, error.messages.len()), (95007, 0));
        assert!(matches!(
            parse_sync_msg(b"{"),
            Err(WebhookError::Malformed(_))
        ));
        assert!(matches!(
            parse_sync_msg(
                br#"{"msg_list":[{"msgtype":"text","origin":3,"text":{"content":"x"}}]}"#
            ),
            Err(WebhookError::Malformed(_))
        ));
    }

    #[test]
    fn sync_msg_request_body_clamps_limit() {
        assert_eq!(
            sync_msg_request_body(Some("cur"), "tok", "wk", 5000),
            json!({"cursor": "cur", "token": "tok", "open_kfid": "wk", "limit": 1000})
        );
        assert_eq!(
            sync_msg_request_body(None, "tok", "wk", 0),
            json!({"token": "tok", "open_kfid": "wk", "limit": 1})
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn handle_never_panics(
            method in prop_oneof![Just("GET"), Just("POST")],
            signature in ".*", timestamp in ".*", echostr in ".*",
            body in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let q = query(&[("msg_signature", &signature), ("timestamp", &timestamp), ("nonce", "n"), ("echostr", &echostr)]);
            let _ = run(method, &q, &body);
        }

        #[test]
        fn signed_arbitrary_encrypt_never_panics(encrypt in "[A-Za-z0-9+/=<>&]{0,200}") {
            let ts = NOW.to_string();
            let q = query(&[("msg_signature", &msgcrypt::signature(TOKEN, &ts, "n", &encrypt)), ("timestamp", &ts), ("nonce", "n")]);
            let _ = run("POST", &q, envelope(CORP_ID, &encrypt, "1").as_bytes());
        }

        #[test]
        fn encrypted_arbitrary_inner_never_panics(inner in ".*") {
            let (q, body) = post(&inner, CORP_ID, NOW);
            let _ = run("POST", &q, body.as_bytes());
        }

        #[test]
        fn parse_sync_msg_never_panics(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_sync_msg(&body);
        }
    }
}
