//! Tenants: several brands in one deployment, each with its own data.
//!
//! Isolation is by construction: every tenant has its own database, index,
//! analysis queue, projections and outbox, under `<data_dir>/tenants/<id>/`
//! (the default tenant keeps the deployment's `data_dir` itself, so a
//! single-brand deployment looks as before). A request reaches a tenant's
//! data only through the [`TenantRuntime`] its API key resolves to
//! (`api::auth`), so no query parameter can name another tenant's rows:
//! there is no shared table or index in which a missing filter could leak.
//! The analyser (lexicon, models) is shared, being read-only.
//!
//! Tenants and keys live in the control database ([`crate::store::control`]);
//! `xinsheng tenants create` may add one while the service runs, and the
//! service opens it on its first request.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;

use crate::app::Core;
use crate::boards::alert_hook::AlertSource;
use crate::boards::followup_hook::FollowupSource;
use crate::config::Settings;
use crate::consumers::ids::ConsumerIds;
use crate::consumers::ConsumerProfiles;
use crate::delivery::DeliveryWorker;
use crate::index::FeedbackIndex;
use crate::ingest::chat::ChatReceiver;
use crate::ingest::wecom_pull::{run_pull_worker, WecomClient};
use crate::ingest::{Ingestor, Wakeup};
use crate::nlp::Analyser;
use crate::store::control::ControlStore;
use crate::store::{QueueCounts, Store, StoreError};

/// The tenant of a deployment that never created another one.
pub const DEFAULT_TENANT: &str = "default";

#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error("no tenant {0:?}")]
    Unknown(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("tenant {tenant:?} cannot start: {message}")]
    Start { tenant: String, message: String },
}

/// One tenant's open data and its background threads.
pub struct TenantRuntime {
    pub id: String,
    pub settings: Settings,
    pub store: Arc<Store>,
    pub index: Arc<FeedbackIndex>,
    pub ingestor: Arc<Ingestor>,
    pub chat: Arc<ChatReceiver>,
    pub consumers: Arc<ConsumerProfiles>,
    pub consumer_ids: ConsumerIds,
    /// The follow-up queue's numbers for board widgets.
    pub followups: Arc<dyn FollowupSource>,
    /// The alert history for board widgets.
    pub alerts: Arc<dyn AlertSource>,
    projection_names: Vec<&'static str>,
    wakeup: Arc<Wakeup>,
    projection_wakeup: Arc<Wakeup>,
    delivery_wakeup: Arc<Wakeup>,
    threads: Mutex<Vec<(&'static str, JoinHandle<()>)>>,
}

impl TenantRuntime {
    /// Opens the tenant's data and starts its analysis worker, alert
    /// evaluator, delivery worker and (when configured) WeCom puller.
    pub fn start(
        id: &str,
        settings: Settings,
        analyser: Arc<Analyser>,
        shutdown: Arc<AtomicBool>,
    ) -> anyhow::Result<TenantRuntime> {
        let core = Core::open_with(settings, analyser, true)?;
        let wakeup = Arc::new(Wakeup::default());
        let ingestor = Arc::new(Ingestor::new(
            core.store.clone(),
            wakeup.clone(),
            core.settings.limits(),
            core.settings.privacy(),
            crate::ingest::BackPressure::new(core.settings.max_pending_items),
        ));
        if core.settings.demo {
            let added = crate::app::load_demo(
                &ingestor,
                &core.settings.demo_file,
                core.settings.utc_offset_seconds(),
            )?;
            tracing::info!(tenant = id, added, file = %core.settings.demo_file.display(), "demo data loaded");
        }
        let mut threads = Threads {
            tenant: id,
            running: Vec::new(),
        };

        let projection_wakeup = Arc::new(Wakeup::default());
        let mut pipeline = core.pipeline();
        pipeline.projection_wakeup = Some(projection_wakeup.clone());
        {
            let projections = core.projections.clone();
            let store = core.store.clone();
            let wakeup = projection_wakeup.clone();
            let shutdown = shutdown.clone();
            threads.spawn("projection thread", "projections", move || {
                projections.run(&store, &wakeup, &shutdown)
            })?;
        }
        {
            let wakeup = wakeup.clone();
            let shutdown = shutdown.clone();
            threads.spawn("analysis worker", "analysis", move || {
                pipeline.run(&wakeup, &shutdown)
            })?;
        }
        if core.alerts.rules.has_window_rules() {
            let alerts = core.alerts.clone();
            let shutdown = shutdown.clone();
            let interval = Duration::from_secs(core.settings.alerts.evaluate_seconds);
            threads.spawn("alert evaluator", "alerts", move || {
                crate::alerts::evaluate::run_evaluator(&alerts, interval, &shutdown)
            })?;
        }

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
        if let Some((wecom, requests)) = wecom_puller {
            let chat = chat.clone();
            let shutdown = shutdown.clone();
            threads.spawn("WeCom pull worker", "wecom-pull", move || {
                // reqwest's blocking client owns a runtime: it must be
                // built and dropped outside the async server.
                match WecomClient::new(&wecom.api_base_url, &wecom.corp_id, &wecom.secret) {
                    Ok(client) => run_pull_worker(&client, &chat, &requests, &shutdown),
                    Err(error) => tracing::error!(%error, "WeCom pull worker cannot start"),
                }
            })?;
        }

        let delivery_wakeup = Arc::new(Wakeup::default());
        {
            let worker = DeliveryWorker {
                store: core.store.clone(),
                backoff: core.settings.delivery.backoff(),
            };
            let settings = core.settings.clone();
            let wakeup = delivery_wakeup.clone();
            let shutdown = shutdown.clone();
            threads.spawn("delivery worker", "delivery", move || {
                worker.run(|| crate::app::destinations(&settings), &wakeup, &shutdown)
            })?;
        }

        let utc_offset_seconds = core.settings.utc_offset_seconds();
        Ok(TenantRuntime {
            id: id.to_string(),
            consumer_ids: core.settings.consumers.consumer_ids(),
            followups: Arc::new(crate::followups::BoardFollowups::new(
                core.store.clone(),
                core.analyser.lexicon().tags.clone(),
                utc_offset_seconds,
            )),
            alerts: Arc::new(crate::alerts::BoardAlerts::new(
                core.store.clone(),
                utc_offset_seconds,
            )),
            store: core.store.clone(),
            index: core.index.clone(),
            consumers: core.consumer_profiles.clone(),
            settings: core.settings,
            ingestor,
            chat,
            projection_names: core.projections.names(),
            wakeup,
            projection_wakeup,
            delivery_wakeup,
            threads: Mutex::new(threads.running),
        })
    }

    /// Wakes the threads (the shutdown flag is already set) and waits for
    /// them to finish their round.
    fn join(&self) {
        self.wakeup.notify();
        self.projection_wakeup.notify();
        self.delivery_wakeup.notify();
        for (role, thread) in self.threads.lock().drain(..) {
            if thread.join().is_err() {
                tracing::error!(tenant = %self.id, "{role} panicked");
            }
        }
    }
}

/// A tenant's background threads, named `<role>:<tenant>` for logs and
/// debuggers, with what they are for the shutdown messages.
struct Threads<'a> {
    tenant: &'a str,
    running: Vec<(&'static str, JoinHandle<()>)>,
}

impl Threads<'_> {
    fn spawn(
        &mut self,
        what: &'static str,
        short_name: &str,
        work: impl FnOnce() + Send + 'static,
    ) -> std::io::Result<()> {
        let handle = std::thread::Builder::new()
            .name(format!("{short_name}:{}", self.tenant))
            .spawn(work)?;
        self.running.push((what, handle));
        Ok(())
    }
}

/// The tenants this process serves, opened on first use.
pub struct Tenants {
    global: Settings,
    analyser: Arc<Analyser>,
    control: Arc<ControlStore>,
    shutdown: Arc<AtomicBool>,
    open: Mutex<BTreeMap<String, Arc<TenantRuntime>>>,
}

impl Tenants {
    pub fn new(global: Settings, analyser: Arc<Analyser>, control: Arc<ControlStore>) -> Tenants {
        Tenants {
            global,
            analyser,
            control,
            shutdown: Arc::new(AtomicBool::new(false)),
            open: Mutex::new(BTreeMap::new()),
        }
    }

    /// Opens every tenant of the control database (at start, so that their
    /// queues drain and their alerts run without waiting for a request).
    pub fn open_all(&self) -> Result<(), TenantError> {
        for tenant in self.control.tenants()? {
            self.get(&tenant.id)?;
        }
        Ok(())
    }

    /// The tenant's runtime, started on first use. Unknown tenants are an
    /// error, never created implicitly.
    pub fn get(&self, id: &str) -> Result<Arc<TenantRuntime>, TenantError> {
        if let Some(runtime) = self.open.lock().get(id) {
            return Ok(runtime.clone());
        }
        if self.control.tenant(id)?.is_none() {
            return Err(TenantError::Unknown(id.to_string()));
        }
        // Starting holds the lock: two first requests must not open the
        // same index twice.
        let mut open = self.open.lock();
        if let Some(runtime) = open.get(id) {
            return Ok(runtime.clone());
        }
        let start = || -> anyhow::Result<TenantRuntime> {
            let settings = self.global.for_tenant(id)?;
            TenantRuntime::start(id, settings, self.analyser.clone(), self.shutdown.clone())
        };
        let runtime = Arc::new(start().map_err(|error| TenantError::Start {
            tenant: id.to_string(),
            message: format!("{error:#}"),
        })?);
        tracing::info!(tenant = id, data_dir = %runtime.settings.data_dir.display(), "tenant opened");
        open.insert(id.to_string(), runtime.clone());
        Ok(runtime)
    }

    pub fn opened(&self) -> Vec<Arc<TenantRuntime>> {
        self.open.lock().values().cloned().collect()
    }

    /// Analysis events some projection has not applied yet, summed over
    /// the open tenants (for `/healthz`).
    pub fn projection_backlog(&self) -> Result<u64, StoreError> {
        let mut backlog = 0;
        for runtime in self.opened() {
            backlog += runtime
                .store
                .projection_backlog(&runtime.projection_names)?;
        }
        Ok(backlog)
    }

    /// Queue counts summed over the open tenants (for `/healthz`).
    pub fn queue_totals(&self) -> Result<QueueCounts, StoreError> {
        let mut total = QueueCounts::default();
        for runtime in self.opened() {
            let counts = runtime.store.queue_counts()?;
            total.pending += counts.pending;
            total.indexed += counts.indexed;
        }
        Ok(total)
    }

    /// Stops every tenant's threads after their current round.
    pub fn shutdown(&self) {
        self.shutdown.store(true, Ordering::Relaxed);
        for runtime in self.opened() {
            runtime.join();
        }
    }
}
