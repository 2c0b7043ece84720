//! For the alerts' unit tests: a real store, lexicon analyser and index in
//! a temp directory, items analysed and committed through the normal
//! pipeline, and rules parsed from the test's own TOML. The pipeline runs
//! no projections, so a test applies the severe projection itself with a
//! pinned clock.

use std::path::Path;

use serde_json::json;

use super::rules::{self, RuleContext};
use super::Alerts;
use crate::ingest::projections::Projections;

/// 2026-11-20 13:00 +08:00.
pub const NOW: i64 = 1_795_150_800;

pub struct Fixture {
    _dir: tempfile::TempDir,
    pub core: crate::app::Core,
    next_id: std::cell::Cell<u32>,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let settings = crate::config::Settings {
            data_dir: dir.path().to_path_buf(),
            lexicon_dir: manifest.join("lexicons"),
            alerts_file: manifest.join("lexicons/alerts.toml"),
            tagger: crate::config::TaggerKind::Lexicon,
            ..crate::config::Settings::default()
        };
        let core = crate::app::Core::open(settings, true).expect("core");
        Fixture {
            _dir: dir,
            core,
            next_id: std::cell::Cell::new(0),
        }
    }

    /// Stores one review per `created_at` with `text`, then analyses and
    /// indexes everything pending.
    pub fn add(&self, text: &str, created_at: &[i64]) {
        let items: Vec<serde_json::Value> = created_at
            .iter()
            .map(|at| {
                self.next_id.set(self.next_id.get() + 1);
                json!({"external_id": format!("r-{}", self.next_id.get()), "source": "review",
                    "channel": "tmall", "text": text, "created_at": at})
            })
            .collect();
        let ingestor = crate::ingest::Ingestor::new(
            self.core.store.clone(),
            Default::default(),
            self.core.settings.limits(),
            self.core.settings.privacy(),
            crate::ingest::BackPressure::new(0),
        );
        ingestor
            .ingest_body(serde_json::to_string(&items).expect("json").as_bytes())
            .expect("ingest");
        self.drain();
    }

    pub fn drain(&self) {
        let mut pipeline = self.core.pipeline();
        pipeline.projections = Projections::default();
        pipeline.drain(|_| {}).expect("analyse and index");
    }

    pub fn alerts(&self, rules_text: &str) -> Alerts {
        let tags = &self.core.analyser.lexicon().tags;
        let rules = rules::parse(
            Path::new("test.toml"),
            rules_text,
            &RuleContext {
                tags,
                notifier_names: vec!["ops".to_string()],
            },
        )
        .expect("rules");
        Alerts {
            rules,
            store: self.core.store.clone(),
            index: self.core.index.clone(),
            tags: tags.clone(),
            public_url: "http://ui.example".into(),
            utc_offset_seconds: 8 * 3600,
        }
    }
}
