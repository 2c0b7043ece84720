//! Chat conversations built from webhook messages, one turn at a time.
//!
//! A conversation is one feedback item (source `chat`) whose segments are its
//! turns. A turn joins the newest conversation with the same key on the same
//! channel unless that conversation has been quiet for longer than the idle
//! gap, which closes it: the next turn starts a new item. Every platform
//! message id is recorded in the same transaction as the turn, so a platform
//! that redelivers (they all retry on timeouts) never appends a turn twice.

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::{classify, insert_row, row_to_feedback, update_content, Store, StoreError, COLUMNS};
use crate::feedback::{NewFeedback, Segment, Source, Speaker};

pub(super) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS conversations (
    channel TEXT NOT NULL,
    conversation_key TEXT NOT NULL,
    feedback_id INTEGER NOT NULL REFERENCES feedback (id),
    last_message_at INTEGER NOT NULL,
    PRIMARY KEY (channel, conversation_key, feedback_id)
);
CREATE INDEX IF NOT EXISTS conversations_newest ON conversations (channel, conversation_key, last_message_at);
CREATE TABLE IF NOT EXISTS inbound_messages (
    channel TEXT NOT NULL,
    message_id TEXT NOT NULL,
    feedback_id INTEGER,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (channel, message_id)
);
CREATE TABLE IF NOT EXISTS sync_cursors (
    cursor_key TEXT PRIMARY KEY,
    cursor TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
"#;

/// A conversation longer than this starts a new item: analysis and display
/// of one item stay bounded whatever a chat does.
const MAX_TURNS: usize = 2_000;

/// One message of a conversation, as a webhook delivered it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatTurn {
    pub conversation_key: String,
    pub sender_id: String,
    /// `at` and `message_id` are required here.
    pub segment: Segment,
    /// The message's unmasked text, when the deployment keeps originals.
    pub raw_text: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TurnsReport {
    pub stored: usize,
    pub duplicates: usize,
    /// Feedback items created or extended, in order, without repeats.
    pub feedback_ids: Vec<i64>,
}

impl Store {
    /// Appends turns to their conversations in one transaction.
    pub fn append_chat_turns(
        &self,
        channel: &str,
        turns: &[ChatTurn],
        idle_gap_seconds: i64,
        received_at: i64,
    ) -> Result<TurnsReport, StoreError> {
        let mut connection = self.connection.lock();
        let transaction = connection.transaction().map_err(classify)?;
        let mut report = TurnsReport::default();
        for turn in turns {
            let message_id = turn.segment.message_id.clone().unwrap_or_default();
            let at = turn.segment.at.unwrap_or(received_at);
            let fresh = transaction
                .prepare_cached(
                    "INSERT INTO inbound_messages (channel, message_id, received_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (channel, message_id) DO NOTHING",
                )?
                .execute(params![channel, message_id, received_at])
                .map_err(classify)?;
            if fresh == 0 {
                report.duplicates += 1;
                continue;
            }
            let open: Option<(i64, i64)> = transaction
                .prepare_cached(
                    "SELECT feedback_id, last_message_at FROM conversations
                     WHERE channel = ?1 AND conversation_key = ?2
                     ORDER BY last_message_at DESC LIMIT 1",
                )?
                .query_row(params![channel, turn.conversation_key], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .optional()
                .map_err(classify)?;
            let joined = match open {
                Some((feedback_id, last)) if at - last <= idle_gap_seconds => {
                    append_turn(&transaction, feedback_id, turn, at)?
                }
                _ => None,
            };
            let feedback_id = match joined {
                Some(feedback_id) => feedback_id,
                None => start_conversation(&transaction, channel, turn, at, received_at)?,
            };
            transaction
                .prepare_cached(
                    "UPDATE inbound_messages SET feedback_id = ?3 WHERE channel = ?1 AND message_id = ?2",
                )?
                .execute(params![channel, message_id, feedback_id])
                .map_err(classify)?;
            if let Some(raw_text) = &turn.raw_text {
                super::raw_texts::append_raw_texts(
                    &transaction,
                    feedback_id,
                    &[super::raw_texts::RawText {
                        origin: format!("message:{message_id}"),
                        text: raw_text.clone(),
                    }],
                    received_at,
                )?;
            }
            report.stored += 1;
            if !report.feedback_ids.contains(&feedback_id) {
                report.feedback_ids.push(feedback_id);
            }
        }
        transaction.commit().map_err(classify)?;
        Ok(report)
    }

    /// Where a pull-based source (WeCom kf/sync_msg) stopped reading.
    pub fn sync_cursor(&self, cursor_key: &str) -> Result<Option<String>, StoreError> {
        let connection = self.connection.lock();
        connection
            .query_row(
                "SELECT cursor FROM sync_cursors WHERE cursor_key = ?1",
                params![cursor_key],
                |row| row.get(0),
            )
            .optional()
            .map_err(classify)
    }

    pub fn save_sync_cursor(
        &self,
        cursor_key: &str,
        cursor: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let connection = self.connection.lock();
        connection
            .execute(
                "INSERT INTO sync_cursors (cursor_key, cursor, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (cursor_key) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
                params![cursor_key, cursor, now],
            )
            .map_err(classify)?;
        Ok(())
    }
}

/// Adds the turn to an open conversation; None when the conversation is full.
fn append_turn(
    transaction: &rusqlite::Transaction<'_>,
    feedback_id: i64,
    turn: &ChatTurn,
    at: i64,
) -> Result<Option<i64>, StoreError> {
    let stored = transaction
        .prepare_cached(&format!("SELECT {COLUMNS} FROM feedback WHERE id = ?1"))?
        .query_row(params![feedback_id], row_to_feedback)
        .map_err(classify)??;
    let mut item = stored.item;
    if item.segments.len() >= MAX_TURNS {
        return Ok(None);
    }
    // Platforms deliver out of order when they retry: keep turns in time order.
    let position = item
        .segments
        .iter()
        .rposition(|segment| segment.at.unwrap_or(i64::MIN) <= at)
        .map_or(0, |index| index + 1);
    item.segments.insert(position, turn.segment.clone());
    item.compose_text();
    update_content(transaction, feedback_id, &item)?;
    if turn.segment.speaker == Speaker::Customer {
        transaction
            .prepare_cached(
                "UPDATE feedback SET consumer_id = COALESCE(consumer_id, ?2) WHERE id = ?1",
            )?
            .execute(params![feedback_id, turn.sender_id])
            .map_err(classify)?;
    }
    transaction
        .prepare_cached(
            "UPDATE conversations SET last_message_at = MAX(last_message_at, ?3)
             WHERE conversation_key = ?2 AND feedback_id = ?1",
        )?
        .execute(params![feedback_id, turn.conversation_key, at])
        .map_err(classify)?;
    Ok(Some(feedback_id))
}

fn start_conversation(
    transaction: &rusqlite::Transaction<'_>,
    channel: &str,
    turn: &ChatTurn,
    at: i64,
    received_at: i64,
) -> Result<i64, StoreError> {
    let mut item = NewFeedback {
        external_id: format!("{}@{at}", turn.conversation_key),
        source: Source::Chat,
        channel: channel.to_string(),
        text: String::new(),
        rating: None,
        order_id: None,
        sku: None,
        product_name: None,
        category: None,
        consumer_id: (turn.segment.speaker == Speaker::Customer).then(|| turn.sender_id.clone()),
        store: None,
        created_at: at,
        meta: Some(serde_json::json!({ "conversation_key": turn.conversation_key })),
        segments: vec![turn.segment.clone()],
        reason_code: None,
    };
    // A conversation the agent opened has no customer speech yet: stored
    // with empty text, tagged once the customer answers.
    item.compose_text();
    let feedback_id = if insert_row(transaction, &item, received_at)? == 1 {
        transaction.last_insert_rowid()
    } else {
        // The same key opened a conversation in the same second before (a
        // closed one reopened at once): the turn belongs to that item.
        let existing = transaction
            .prepare_cached(
                "SELECT id FROM feedback WHERE source = 'chat' AND channel = ?1 AND external_id = ?2",
            )?
            .query_row(params![channel, item.external_id], |row| row.get(0))
            .map_err(classify)?;
        append_turn(transaction, existing, turn, at)?;
        existing
    };
    transaction
        .prepare_cached(
            "INSERT INTO conversations (channel, conversation_key, feedback_id, last_message_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO UPDATE SET last_message_at = MAX(last_message_at, excluded.last_message_at)",
        )?
        .execute(params![channel, turn.conversation_key, feedback_id, at])
        .map_err(classify)?;
    Ok(feedback_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(id: &str, speaker: Speaker, text: &str, at: i64) -> ChatTurn {
        ChatTurn {
            conversation_key: "chat-1".into(),
            sender_id: if speaker == Speaker::Customer {
                "buyer"
            } else {
                "agent"
            }
            .into(),
            segment: Segment {
                speaker,
                text: text.into(),
                start_ms: None,
                end_ms: None,
                at: Some(at),
                message_id: Some(id.into()),
                kind: None,
            },
            raw_text: None,
        }
    }

    #[test]
    fn turns_join_open_conversations_once_and_a_quiet_one_closes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), false).expect("open");
        let gap = 1_800;
        let first = store
            .append_chat_turns(
                "slack",
                &[
                    turn("m1", Speaker::Agent, "您好", 1_000),
                    turn("m2", Speaker::Customer, "快递还没到", 1_060),
                ],
                gap,
                2_000,
            )
            .expect("append");
        assert_eq!((first.stored, first.duplicates), (2, 0));
        assert_eq!(first.feedback_ids.len(), 1);
        let id = first.feedback_ids[0];

        // Redelivered m2 plus an out-of-order turn that belongs before it.
        let second = store
            .append_chat_turns(
                "slack",
                &[
                    turn("m2", Speaker::Customer, "快递还没到", 1_060),
                    turn("m1b", Speaker::Customer, "在吗", 1_030),
                ],
                gap,
                2_100,
            )
            .expect("append");
        assert_eq!((second.stored, second.duplicates), (1, 1));
        let item = store.get(id).expect("get").expect("stored").item;
        let texts: Vec<&str> = item.segments.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(texts, vec!["您好", "在吗", "快递还没到"]);
        assert_eq!(item.text, "在吗\n快递还没到");
        assert_eq!(item.consumer_id.as_deref(), Some("buyer"));

        // After the idle gap the same key starts a new item.
        let later = store
            .append_chat_turns(
                "slack",
                &[turn("m3", Speaker::Customer, "好了", 1_060 + gap + 1)],
                gap,
                9_000,
            )
            .expect("append");
        assert_ne!(later.feedback_ids, vec![id]);
    }

    #[test]
    fn a_conversation_reopened_in_the_same_second_keeps_the_turn() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), false).expect("open");
        // A zero gap closes every conversation at once, so the second turn
        // opens a conversation whose external id the first already took.
        let report = store
            .append_chat_turns(
                "generic",
                &[
                    turn("a", Speaker::Customer, "衣服起球", 5_000),
                    turn("b", Speaker::Customer, "面料太差", 5_000),
                ],
                -1,
                6_000,
            )
            .expect("append");
        assert_eq!(report.feedback_ids.len(), 1);
        let item = store
            .get(report.feedback_ids[0])
            .expect("get")
            .expect("stored")
            .item;
        assert_eq!(item.segments.len(), 2, "the second turn is not lost");
    }
}
