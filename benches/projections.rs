//! What each derived view costs per analysed item (not a timed test):
//! `cargo bench --bench projections`.
//!
//! Stores N analysed items (default 100,000; synthetic analyses with 0–3 of
//! the canonical tags, 40 % negative) in a temporary data directory, then
//! applies the analysis event log to each projection alone, page by page as
//! the service does, and prints the time per item: once with no consumer
//! ids, once with the items spread over C consumers (default 20,000, five
//! items each, as in `make bench`). Isolates the cost that consumer
//! profiles add, which the end-to-end benchmark shows only as a difference
//! of two noisy runs.
//!
//! Env: XINSHENG_BENCH_ITEMS, XINSHENG_BENCH_CONSUMERS.

use std::path::PathBuf;
use std::time::Instant;

use xinsheng::app::Core;
use xinsheng::config::Settings;
use xinsheng::feedback::{Analysis, Evidence, NewFeedback, Polarity, Source, TagMention};
use xinsheng::followups::projection::FollowupProjection;
use xinsheng::ingest::projections::{Projection, EVENTS_PER_ROUND};
use xinsheng::store::events::AnalysedEvent;

const DAY: i64 = 86_400;
const NEWEST: i64 = 1_790_000_000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// A small deterministic generator (xorshift), so runs compare.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

fn item(number: usize, consumers: usize, random: &mut Random) -> NewFeedback {
    let sources = [
        Source::Review,
        Source::Review,
        Source::Review,
        Source::Refund,
        Source::Chat,
    ];
    NewFeedback {
        external_id: format!("bench-{number}"),
        source: sources[number % sources.len()],
        channel: "tmall".into(),
        text: "面料起球，尺码偏小，客服态度很好".into(),
        rating: None,
        order_id: None,
        sku: Some(format!("SKU-{}", number % 300)),
        product_name: None,
        category: None,
        consumer_id: (consumers > 0).then(|| format!("c-{:06}", random.below(consumers as u64))),
        store: None,
        created_at: NEWEST - random.below(180 * DAY as u64) as i64,
        meta: None,
        segments: Vec::new(),
        reason_code: None,
    }
}

fn analysis(core: &Core, random: &mut Random) -> Analysis {
    let tags = &core.analyser.lexicon().tags;
    let negative = random.below(10) < 4;
    let mentions = (0..random.below(4))
        .map(|_| {
            let tag = &tags[random.below(tags.len() as u64) as usize];
            TagMention {
                tag: tag.id.clone(),
                library: tag.library.clone(),
                polarity: if negative {
                    Polarity::Neg
                } else {
                    Polarity::Pos
                },
                score: 0.9,
                evidence: Evidence {
                    clause: "面料起球".into(),
                    clause_span: [0, 4],
                    span: [2, 4],
                    text: "起球".into(),
                    segment: None,
                    start_ms: None,
                    field: None,
                },
            }
        })
        .collect();
    Analysis {
        normalised_text: "面料起球，尺码偏小，客服态度很好".into(),
        language: "cmn".into(),
        tags: mentions,
        sentiment: if negative {
            Polarity::Neg
        } else {
            Polarity::Pos
        },
        sentiment_score: if negative { -0.8 } else { 0.8 },
        keywords: vec!["面料".into(), "起球".into()],
        analyser_version: "bench".into(),
    }
}

/// Stores `total` analysed items; returns the open core.
fn prepare(directory: &std::path::Path, total: usize, consumers: usize) -> Core {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let settings = Settings {
        data_dir: directory.to_path_buf(),
        lexicon_dir: root.join("lexicons"),
        ..Settings::default()
    };
    let core = Core::open(settings, true).expect("open core");
    let mut random = Random(0x9E37_79B9_7F4A_7C15);
    for start in (0..total).step_by(500) {
        let items: Vec<NewFeedback> = (start..(start + 500).min(total))
            .map(|number| item(number, consumers, &mut random))
            .collect();
        let inserted = core.store.insert_batch(&items, NEWEST).expect("insert");
        let analyses: Vec<Analysis> = items.iter().map(|_| analysis(&core, &mut random)).collect();
        let analysed: Vec<(i64, i64, &Analysis)> = inserted
            .iter()
            .zip(&analyses)
            .map(|(row, analysis)| (row.id, 0, analysis))
            .collect();
        core.store
            .mark_indexed(&analysed, NEWEST)
            .expect("analyses");
    }
    core
}

/// CPU time of this thread in seconds (`/proc/thread-self/schedstat`): the
/// figure that other work on the machine disturbs least.
fn thread_cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(f64::NAN, |nanoseconds| nanoseconds / 1e9)
}

/// Hands every page of the event log after `cursor` to `visit`, as the
/// service's projection thread reads it.
fn each_page(core: &Core, mut cursor: i64, mut visit: impl FnMut(&[AnalysedEvent])) {
    loop {
        let events = core
            .store
            .analysed_after(cursor, EVENTS_PER_ROUND)
            .expect("events");
        let Some(last) = events.last() else {
            break;
        };
        cursor = last.seq;
        visit(&events);
    }
}

/// Applies the whole event log to one projection; returns wall and CPU
/// seconds spent inside `apply`, events applied, and the longest single
/// `apply` in seconds (how long a round holds the store's connection).
fn apply_all(core: &Core, projection: &dyn Projection) -> (f64, f64, usize, f64) {
    let cursor = core
        .store
        .projection_cursor(projection.name())
        .expect("cursor");
    let (mut spent, mut cpu, mut applied, mut longest) = (0.0, 0.0, 0, 0.0_f64);
    each_page(core, cursor, |events| {
        let started = Instant::now();
        let cpu_before = thread_cpu_seconds();
        projection.apply(events).expect("apply");
        cpu += thread_cpu_seconds() - cpu_before;
        let round = started.elapsed().as_secs_f64();
        spent += round;
        longest = longest.max(round);
        applied += events.len();
    });
    (spent, cpu, applied, longest)
}

fn main() {
    let total = env_usize("XINSHENG_BENCH_ITEMS", 100_000);
    let with_consumers = env_usize("XINSHENG_BENCH_CONSUMERS", 20_000);
    println!("items: {total}");
    for consumers in [0, with_consumers] {
        let directory = tempfile::tempdir().expect("temporary directory");
        let core = prepare(directory.path(), total, consumers);
        let started = Instant::now();
        let mut read = 0;
        each_page(&core, 0, |events| read += events.len());
        let reading = started.elapsed().as_secs_f64();
        let followups = FollowupProjection::new(
            core.store.clone(),
            core.settings.followups.clone(),
            &core.analyser.lexicon().tags,
        );
        let severe = xinsheng::alerts::severe::SevereProjection {
            alerts: core.alerts.clone(),
        };
        let projections: [(&str, &dyn Projection); 3] = [
            ("consumers", core.consumer_profiles.as_ref()),
            ("followups", &followups),
            ("alerts", &severe),
        ];
        println!(
            "consumers {consumers}: reading the log {:.1} µs/item ({read} events)",
            reading * 1e6 / read.max(1) as f64
        );
        for (name, projection) in projections {
            let (seconds, cpu, applied, longest) = apply_all(&core, projection);
            let per_item = |seconds: f64| seconds * 1e6 / applied.max(1) as f64;
            println!(
                "consumers {consumers}: {name:<10} {:>7.1} µs/item wall, {:>7.1} µs/item CPU, longest round {:>5.1} ms ({applied} events)",
                per_item(seconds),
                per_item(cpu),
                longest * 1e3
            );
        }
    }
}
