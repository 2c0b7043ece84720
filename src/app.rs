//! Assembling the service: settings → store → analyser → index → worker →
//! HTTP. Also what `serve --demo` loads.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpServer};

use crate::api::{self, AppState};
use crate::boards::definition::BoardSet;
use crate::config::Settings;
use crate::consumers::rules::ConsumerTagRules;
use crate::consumers::ConsumerProfiles;
use crate::delivery::{DeliveryWorker, Destination};
use crate::followups::projection::FollowupProjection;
use crate::index::{FeedbackIndex, Opened};
use crate::ingest::chat::ChatReceiver;
use crate::ingest::projections::{Projection, Projections};
use crate::ingest::wecom_pull::{run_pull_worker, WecomClient};
use crate::ingest::worker::Pipeline;
use crate::ingest::{Ingestor, Wakeup};
use crate::nlp::Analyser;
use crate::store::Store;

pub struct Core {
    pub settings: Settings,
    pub store: Arc<Store>,
    pub analyser: Arc<Analyser>,
    pub index: Arc<FeedbackIndex>,
    pub projections: Projections,
    /// Alert rules; the severe ones run as the `alerts` projection.
    pub alerts: Arc<crate::alerts::Alerts>,
    pub consumer_profiles: Arc<ConsumerProfiles>,
}

impl Core {
    /// Opens everything. `writable` takes the index writer lock (only one
    /// process may hold it: the service, or a CLI command when none runs).
    pub fn open(settings: Settings, writable: bool) -> anyhow::Result<Core> {
        let store = Arc::new(Store::open(&settings.data_dir, settings.full_durability)?);
        let analyser = Arc::new(Analyser::load(
            &settings.lexicon_dir,
            &settings.tagger_choice(),
        )?);
        let (index, opened) =
            FeedbackIndex::open(&settings.index_dir(), analyser.segmenter(), writable)?;
        if opened == Opened::Fresh {
            let requeued = store.requeue_all()?;
            if requeued > 0 {
                tracing::warn!(
                    requeued,
                    "index was empty or rebuilt; every stored item is queued for indexing"
                );
            }
        }
        let index = Arc::new(index);
        let alerts = Arc::new(crate::alerts::Alerts::open(
            &settings,
            store.clone(),
            index.clone(),
            &analyser.lexicon().tags,
        )?);
        let consumer_rules =
            ConsumerTagRules::load(&settings.lexicon_dir, &analyser.lexicon().tags)?;
        let consumer_profiles = ConsumerProfiles::new(
            store.clone(),
            Arc::new(consumer_rules),
            settings.consumers.cdp.is_some(),
            settings.utc_offset_seconds(),
        );
        let consumer_profiles = Arc::new(consumer_profiles);
        let projections = Projections::new(vec![
            consumer_profiles.clone() as Arc<dyn Projection>,
            Arc::new(crate::alerts::severe::SevereProjection {
                alerts: alerts.clone(),
            }),
            Arc::new(FollowupProjection::new(
                store.clone(),
                settings.followups.clone(),
                &analyser.lexicon().tags,
            )),
        ]);
        Ok(Core {
            settings,
            store,
            analyser,
            index,
            projections,
            alerts,
            consumer_profiles,
        })
    }

    pub fn pipeline(&self) -> Pipeline {
        Pipeline {
            store: self.store.clone(),
            index: self.index.clone(),
            analyser: self.analyser.clone(),
            batch_size: self.settings.analysis_batch.max(1),
            commit_interval: Duration::from_millis(self.settings.commit_interval_ms),
            projections: self.projections.clone(),
        }
    }
}

/// Loads the demo file through the normal ingest path. Dates are shifted by
/// whole days so the newest demo item falls on yesterday: boards for "the
/// last 30 days" show the demo whatever day it is. Idempotent.
pub fn load_demo(
    ingestor: &Ingestor,
    demo_file: &Path,
    utc_offset_seconds: i64,
) -> anyhow::Result<usize> {
    let text = std::fs::read_to_string(demo_file).map_err(|error| {
        anyhow::anyhow!("cannot read demo file {}: {error}", demo_file.display())
    })?;
    let mut items: Vec<serde_json::Value> = Vec::new();
    for (number, line) in text
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
    {
        items.push(
            serde_json::from_str(line).map_err(|error| {
                anyhow::anyhow!("{}:{}: {error}", demo_file.display(), number + 1)
            })?,
        );
    }
    let newest = items
        .iter()
        .filter_map(|item| {
            item["created_at"]
                .as_str()
                .and_then(crate::time::parse_rfc3339)
        })
        .max()
        .unwrap_or_else(crate::time::now_unix);
    let day = crate::time::SECONDS_PER_DAY;
    let yesterday = crate::time::local_day_start(crate::time::now_unix(), utc_offset_seconds) - day;
    let shift = yesterday - crate::time::local_day_start(newest, utc_offset_seconds);
    for item in &mut items {
        if let Some(created_at) = item["created_at"]
            .as_str()
            .and_then(crate::time::parse_rfc3339)
        {
            item["created_at"] = serde_json::json!(crate::time::format_rfc3339(
                created_at + shift,
                utc_offset_seconds
            ));
        }
    }
    let body = serde_json::to_vec(&items)?;
    let inserted = ingestor.ingest_body(&body)?;
    Ok(inserted.iter().filter(|item| !item.duplicate).count())
}

pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let listen = settings.listen.clone();
    let core = tokio::task::spawn_blocking(move || Core::open(settings, true)).await??;
    // A bad board file stops the start: the error names the file and field.
    let boards = Arc::new(BoardSet::load(
        &core.settings.dashboards_dir,
        &core.analyser.lexicon().tags,
    )?);
    tracing::info!(boards = boards.all().len(), dir = %core.settings.dashboards_dir.display(), "boards loaded");
    let wakeup = Arc::new(Wakeup::default());
    let ingestor = Arc::new(Ingestor::new(
        core.store.clone(),
        wakeup.clone(),
        core.settings.limits(),
        core.settings.privacy(),
        crate::ingest::BackPressure::new(core.settings.max_pending_items),
    ));
    if core.settings.demo {
        let added = load_demo(
            &ingestor,
            &core.settings.demo_file,
            core.settings.utc_offset_seconds(),
        )?;
        tracing::info!(added, file = %core.settings.demo_file.display(), "demo data loaded");
    }

    let shutdown = Arc::new(AtomicBool::new(false));
    let pipeline = core.pipeline();
    let worker = {
        let wakeup = wakeup.clone();
        let shutdown = shutdown.clone();
        std::thread::Builder::new()
            .name("analysis-worker".into())
            .spawn(move || pipeline.run(&wakeup, &shutdown))?
    };

    let alert_evaluator = if core.alerts.rules.has_window_rules() {
        let alerts = core.alerts.clone();
        let shutdown = shutdown.clone();
        let interval = Duration::from_secs(core.settings.alerts.evaluate_seconds);
        Some(
            std::thread::Builder::new()
                .name("alert-evaluator".into())
                .spawn(move || {
                    crate::alerts::evaluate::run_evaluator(&alerts, interval, &shutdown)
                })?,
        )
    } else {
        None
    };

    let (wecom_pulls, wecom_puller) = match &core.settings.webhooks.wecom {
        Some(wecom) => {
            let (queue, requests) = std::sync::mpsc::channel();
            (Some(queue), Some((wecom.clone(), requests)))
        }
        None => (None, None),
    };
    let chat = Arc::new(ChatReceiver::new(
        core.store.clone(),
        wakeup.clone(),
        core.settings.webhooks.clone(),
        wecom_pulls,
        core.settings.privacy(),
    ));
    let wecom_puller = match wecom_puller {
        Some((wecom, requests)) => {
            let chat = chat.clone();
            let shutdown = shutdown.clone();
            Some(
                std::thread::Builder::new()
                    .name("wecom-pull".into())
                    .spawn(move || {
                        // reqwest's blocking client owns a runtime: it must be
                        // built and dropped outside the async server.
                        match WecomClient::new(&wecom.api_base_url, &wecom.corp_id, &wecom.secret) {
                            Ok(client) => run_pull_worker(&client, &chat, &requests, &shutdown),
                            Err(error) => tracing::error!(%error, "WeCom pull worker cannot start"),
                        }
                    })?,
            )
        }
        None => None,
    };

    let delivery_wakeup = Arc::new(Wakeup::default());
    let delivery = {
        let worker = DeliveryWorker {
            store: core.store.clone(),
            backoff: core.settings.delivery.backoff(),
        };
        let settings = core.settings.clone();
        let wakeup = delivery_wakeup.clone();
        let shutdown = shutdown.clone();
        std::thread::Builder::new()
            .name("delivery".into())
            .spawn(move || worker.run(|| destinations(&settings), &wakeup, &shutdown))?
    };

    let state = web::Data::new(AppState {
        settings: core.settings.clone(),
        store: core.store.clone(),
        index: core.index.clone(),
        analyser: core.analyser.clone(),
        ingestor,
        chat,
        consumers: core.consumer_profiles.clone(),
        consumer_ids: core.settings.consumers.consumer_ids(),
        boards,
        followups: Arc::new(crate::followups::BoardFollowups::new(
            core.store.clone(),
            core.analyser.lexicon().tags.clone(),
            core.settings.utc_offset_seconds(),
        )),
    });
    let server = HttpServer::new(move || App::new().app_data(state.clone()).configure(api::routes))
        .bind(&listen)
        .map_err(|error| anyhow::anyhow!("cannot listen on {listen}: {error}"))?
        .shutdown_timeout(10);
    for address in server.addrs() {
        tracing::info!(%address, version = core.analyser.version(), "xinsheng is ready");
    }
    let result = server.run().await;
    shutdown.store(true, Ordering::Relaxed);
    wakeup.notify();
    if worker.join().is_err() {
        tracing::error!("analysis worker panicked");
    }
    if let Some(evaluator) = alert_evaluator {
        if evaluator.join().is_err() {
            tracing::error!("alert evaluator panicked");
        }
    }
    delivery_wakeup.notify();
    if delivery.join().is_err() {
        tracing::error!("delivery thread panicked");
    }
    if let Some(puller) = wecom_puller {
        if puller.join().is_err() {
            tracing::error!("WeCom pull worker panicked");
        }
    }
    result.map_err(Into::into)
}

/// Receivers of outbox messages configured in `settings`. Runs on the
/// delivery thread (blocking HTTP clients).
fn destinations(settings: &Settings) -> Vec<Box<dyn Destination>> {
    let mut destinations: Vec<Box<dyn Destination>> = Vec::new();
    if let Some(cdp) = &settings.consumers.cdp {
        match crate::delivery::http::client(crate::consumers::CDP_TARGET) {
            Ok(client) => {
                destinations.push(Box::new(crate::delivery::http::SignedJsonDestination {
                    target: crate::consumers::CDP_TARGET.to_string(),
                    url: cdp.url.clone(),
                    secret: cdp.secret.clone(),
                    envelope: "changes",
                    max_batch: cdp.max_batch,
                    client,
                }))
            }
            Err(error) => {
                tracing::error!(%error, "CDP push cannot start; tag changes wait in the outbox")
            }
        }
    }
    destinations.extend(crate::alerts::destinations(&settings.alerts.notifiers));
    destinations
}
