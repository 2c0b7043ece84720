//! Assembling the service: settings → store → analyser → index → worker →
//! HTTP. Also what `serve --demo` loads.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpServer};

use crate::api::{self, AppState};
use crate::auth::Auth;
use crate::boards::definition::BoardSet;
use crate::config::Settings;
use crate::consumers::rules::ConsumerTagRules;
use crate::consumers::ConsumerProfiles;
use crate::delivery::Destination;
use crate::followups::projection::FollowupProjection;
use crate::index::{FeedbackIndex, Opened};
use crate::ingest::projections::{Projection, Projections};
use crate::ingest::worker::Pipeline;
use crate::ingest::Ingestor;
use crate::nlp::Analyser;
use crate::store::control::ControlStore;
use crate::store::Store;
use crate::tenants::{Tenants, DEFAULT_TENANT};

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
        let analyser = Arc::new(Analyser::load(
            &settings.lexicon_dir,
            &settings.tagger_choice(),
        )?);
        Core::open_with(settings, analyser, writable)
    }

    /// Opens one tenant's data with an analyser loaded once for all.
    pub fn open_with(
        settings: Settings,
        analyser: Arc<Analyser>,
        writable: bool,
    ) -> anyhow::Result<Core> {
        let store = Arc::new(Store::open(&settings.data_dir, settings.full_durability)?);
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
            projection_wakeup: None,
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
    let (tenants, auth, analyser, boards, settings) =
        tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let analyser = Arc::new(Analyser::load(
                &settings.lexicon_dir,
                &settings.tagger_choice(),
            )?);
            // A bad board file stops the start: the error names the file and field.
            let boards = Arc::new(BoardSet::load(
                &settings.dashboards_dir,
                &analyser.lexicon().tags,
            )?);
            tracing::info!(boards = boards.all().len(), dir = %settings.dashboards_dir.display(), "boards loaded");
            let control = Arc::new(ControlStore::open(&settings.data_dir)?);
            let auth = Arc::new(Auth::new(
                control.clone(),
                settings.auth.rate_limit_per_minute,
            ));
            let now = crate::time::now_unix();
            if let Some(created) =
                auth.bootstrap(DEFAULT_TENANT, settings.auth.bootstrap_key.as_deref(), now)?
            {
                announce_first_key(&settings, &created);
            }
            let tenants = Arc::new(Tenants::new(settings.clone(), analyser.clone(), control));
            tenants.open_all()?;
            Ok((tenants, auth, analyser, boards, settings))
        })
        .await??;

    let state = web::Data::new(AppState {
        settings,
        analyser: analyser.clone(),
        boards,
        auth,
        tenants: tenants.clone(),
    });
    let server = HttpServer::new(move || App::new().app_data(state.clone()).configure(api::routes))
        .bind(&listen)
        .map_err(|error| anyhow::anyhow!("cannot listen on {listen}: {error}"))?
        .shutdown_timeout(10);
    for address in server.addrs() {
        tracing::info!(%address, version = analyser.version(), "xinsheng is ready");
    }
    let result = server.run().await;
    tokio::task::spawn_blocking(move || tenants.shutdown()).await?;
    result.map_err(Into::into)
}

/// The generated first key is shown once, on standard output (not in the
/// log, which may be shipped elsewhere).
fn announce_first_key(settings: &Settings, created: &crate::auth::CreatedKey) {
    if settings.auth.bootstrap_key.is_some() {
        tracing::info!(
            key_id = created.record.id,
            "first API key created from auth.bootstrap_key"
        );
        return;
    }
    let ui = settings.public_url.trim_end_matches('/');
    println!(
        "\n  First start: created API key #{id} for tenant \"{tenant}\" (scopes {scopes}).\n  It is shown only now; keep it:\n\n      {key}\n\n  Web UI: {ui}/#key={key}\n  API:    curl -H 'Authorization: Bearer {key}' {ui}/api/v1/boards\n",
        id = created.record.id,
        tenant = created.record.tenant,
        scopes = created.record.scopes,
        key = created.key,
    );
}

/// Receivers of outbox messages configured in `settings`. Runs on the
/// delivery thread (blocking HTTP clients).
pub(crate) fn destinations(settings: &Settings) -> Vec<Box<dyn Destination>> {
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
