//! `xinsheng`: the service and its command-line tools.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use xinsheng::app::Core;
use xinsheng::auth::{Auth, Scope};
use xinsheng::config::Settings;
use xinsheng::index::search::{Filters, SearchRequest, SortOrder};
use xinsheng::ingest::import::{self, Format, ImportOptions};
use xinsheng::nlp::Analyser;
use xinsheng::store::control::ControlStore;
use xinsheng::store::Store;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "xinsheng",
    version,
    about = "心声 Xinsheng: voice-of-customer engine for Chinese commerce"
)]
struct Cli {
    /// Data directory (database, index, xinsheng.toml). Env: XINSHENG_DATA_DIR.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Tenant whose data `import`, `reindex` and `search` work on.
    #[arg(long, global = true, env = "XINSHENG_TENANT", default_value = xinsheng::tenants::DEFAULT_TENANT)]
    tenant: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service.
    Serve {
        /// Address to listen on. Env: XINSHENG_LISTEN.
        #[arg(long)]
        listen: Option<String>,
        /// Load the demo data set (examples/demo_feedback.jsonl) at start.
        #[arg(long)]
        demo: bool,
    },
    /// Import a CSV export or a JSONL file into the database.
    Import {
        file: PathBuf,
        #[arg(long, value_enum)]
        format: Option<FormatArg>,
        /// Source for rows without one (review, refund, chat, call, survey).
        #[arg(long, default_value = "review")]
        source: String,
        /// Channel for rows without one (tmall, jd, ...).
        #[arg(long)]
        channel: Option<String>,
        /// CSV/XLSX column mapping, e.g. --map text=评价内容 --map rating=评分;
        /// for a transcript, field values, e.g. --map external_id=call-42.
        #[arg(long = "map", value_name = "FIELD=COLUMN")]
        mappings: Vec<String>,
    },
    /// Tag JSONL ({"id","text"} per line) from stdin or --input; no server or database needed.
    Classify {
        #[arg(long)]
        input: Option<PathBuf>,
    },
    /// Write the model features of JSONL items ({"id", "text"}) as JSONL:
    /// what the training pipeline in models/training/ learns from.
    Features {
        #[arg(long)]
        input: Option<PathBuf>,
    },
    /// Rebuild the search index from the database.
    Reindex {
        /// Re-analyse every item with the current lexicon/model first.
        #[arg(long)]
        reanalyse: bool,
    },
    /// Tenants (brands) of this deployment: each has its own data.
    Tenants {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// API keys: created with a tenant and scopes, shown once, stored hashed.
    Keys {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Search the index from the command line.
    Search {
        query: Option<String>,
        #[arg(long)]
        tag: Option<String>,
        #[arg(long)]
        polarity: Option<String>,
        #[arg(long)]
        source: Option<String>,
        #[arg(long, default_value_t = 10)]
        limit: usize,
    },
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Create a tenant (lowercase letters, digits, - and _).
    Create {
        id: String,
        /// Display name (defaults to the id).
        #[arg(long)]
        name: Option<String>,
    },
    /// List the tenants.
    List,
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Create a key and print it (the only time it is shown).
    Create {
        /// Tenant the key belongs to.
        #[arg(long = "for", value_name = "TENANT")]
        for_tenant: String,
        /// Comma-separated: ingest, read, admin.
        #[arg(long)]
        scopes: String,
        /// What the key is for, e.g. "Tmall export job".
        #[arg(long, default_value = "")]
        name: String,
        /// Requests per minute for this key (default: auth.rate_limit_per_minute; 0 = unlimited).
        #[arg(long)]
        rate_limit: Option<u32>,
    },
    /// List keys (prefix, scopes, last use; never the secret).
    List {
        #[arg(long = "for", value_name = "TENANT")]
        for_tenant: Option<String>,
    },
    /// Revoke a key by id; takes effect on the next request.
    Revoke { id: i64 },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum FormatArg {
    Csv,
    Jsonl,
    /// A spreadsheet export (.xlsx, .xls, .ods): first sheet, header row.
    Xlsx,
    /// A call transcript (JSON segments, SRT, WebVTT): one call item.
    Transcript,
}

fn progress_bar(length: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(length);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tantivy=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let mut settings = Settings::load(cli.data_dir.as_deref())?;
    if let Some(dir) = &cli.data_dir {
        settings.data_dir = dir.clone();
    }
    if matches!(
        cli.command,
        Command::Import { .. } | Command::Reindex { .. } | Command::Search { .. }
    ) {
        settings = tenant_settings(&settings, &cli.tenant)?;
    }
    match cli.command {
        Command::Tenants { command } => tenants_command(&settings, command),
        Command::Keys { command } => keys_command(&settings, command),
        Command::Serve { listen, demo } => {
            if let Some(listen) = listen {
                settings.listen = listen;
            }
            settings.demo |= demo;
            actix_web::rt::System::new().block_on(xinsheng::app::serve(settings))
        }
        Command::Classify { input } => classify(&settings, input),
        Command::Features { input } => features(&settings, input),
        Command::Import {
            file,
            format,
            source,
            channel,
            mappings,
        } => {
            // Storing rows needs only the database; analysis happens afterwards.
            let store = Store::open(&settings.data_dir, settings.full_durability)?;
            let format = match format {
                Some(FormatArg::Csv) => Format::Csv,
                Some(FormatArg::Jsonl) => Format::Jsonl,
                Some(FormatArg::Xlsx) => Format::Xlsx,
                Some(FormatArg::Transcript) => Format::Transcript,
                None => import::detect_file_format(&file)?,
            };
            // Lines count rows only in line-oriented files; a workbook is
            // binary and a transcript is one item.
            let bar = if matches!(format, Format::Csv | Format::Jsonl) {
                let total_lines = std::fs::read(&file)
                    .map(|bytes| bytes.iter().filter(|b| **b == b'\n').count() as u64)
                    .unwrap_or(0);
                progress_bar(total_lines, "importing")
            } else {
                let bar = ProgressBar::new_spinner();
                bar.set_style(
                    ProgressStyle::with_template("{msg} {pos} rows ({per_sec})")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_message("importing");
                bar
            };
            let options = ImportOptions {
                format: Some(format),
                source: Some(source),
                channel: channel.or_else(|| Some("import".to_string())),
                mappings,
                batch_size: 1_000,
                utc_offset_seconds: settings.utc_offset_seconds(),
                limits: settings.limits(),
                privacy: settings.privacy(),
            };
            let report =
                import::import_file(&store, &file, &options, |rows| bar.set_position(rows))?;
            bar.finish_and_clear();
            for (row, error) in &report.invalid {
                eprintln!(
                    "row {row}: {} ({}): {}",
                    error.field, error.code, error.message
                );
            }
            println!(
                "{} rows read, {} stored, {} already stored, {} skipped as done earlier, {} invalid",
                report.rows_read,
                report.stored,
                report.duplicates,
                report.rows_skipped_as_done,
                report.invalid.len()
            );
            drop(store);
            analyse_pending_if_possible(settings)
        }
        Command::Reindex { reanalyse } => reindex(settings, reanalyse),
        Command::Search {
            query,
            tag,
            polarity,
            source,
            limit,
        } => {
            let core = Core::open(settings, false)?;
            let request = SearchRequest {
                text: query,
                filters: Filters {
                    tag,
                    polarity,
                    source,
                    ..Filters::default()
                },
                sort: SortOrder::Relevance,
                limit,
                offset: 0,
            };
            let result = core.index.search(&request)?;
            println!("{} hits", result.total);
            for hit in result.hits {
                let tags: Vec<String> = hit
                    .tags
                    .iter()
                    .map(|tag| format!("{}:{}", tag.tag, tag.polarity))
                    .collect();
                println!(
                    "#{} [{}] {} | {}",
                    hit.id,
                    tags.join(" "),
                    hit.text.replace('\n', " / "),
                    hit.sentiment
                );
            }
            Ok(())
        }
    }
}

/// The settings of an existing tenant (its data directory, its sections).
fn tenant_settings(settings: &Settings, tenant: &str) -> anyhow::Result<Settings> {
    if tenant != xinsheng::tenants::DEFAULT_TENANT {
        xinsheng::auth::validate_tenant_id(tenant).map_err(anyhow::Error::msg)?;
        let control = ControlStore::open(&settings.data_dir)?;
        if control.tenant(tenant)?.is_none() {
            anyhow::bail!(
                "no tenant {tenant:?}; create it with `xinsheng tenants create {tenant}`"
            );
        }
    }
    Ok(settings.for_tenant(tenant)?)
}

/// The control database, with the default tenant in it: the service creates
/// it at start, and the CLI may run before the service ever did.
fn open_control(settings: &Settings, now: i64) -> anyhow::Result<ControlStore> {
    let control = ControlStore::open(&settings.data_dir)?;
    control.ensure_tenant(
        xinsheng::tenants::DEFAULT_TENANT,
        xinsheng::tenants::DEFAULT_TENANT,
        now,
    )?;
    Ok(control)
}

fn tenants_command(settings: &Settings, command: TenantCommand) -> anyhow::Result<()> {
    let now = xinsheng::time::now_unix();
    let control = open_control(settings, now)?;
    match command {
        TenantCommand::Create { id, name } => {
            xinsheng::auth::validate_tenant_id(&id).map_err(anyhow::Error::msg)?;
            let name = name.unwrap_or_else(|| id.clone());
            if !control.ensure_tenant(&id, &name, now)? {
                anyhow::bail!("tenant {id:?} exists already");
            }
            println!(
                "tenant {id:?} created; its data will live in {}. Give it a key: xinsheng keys create --for {id} --scopes ingest,read",
                settings.for_tenant(&id)?.data_dir.display()
            );
        }
        TenantCommand::List => {
            for tenant in control.tenants()? {
                println!(
                    "{}\t{}\tcreated {}",
                    tenant.id,
                    tenant.name,
                    xinsheng::time::format_rfc3339(
                        tenant.created_at,
                        settings.utc_offset_seconds()
                    )
                );
            }
        }
    }
    Ok(())
}

fn keys_command(settings: &Settings, command: KeyCommand) -> anyhow::Result<()> {
    let now = xinsheng::time::now_unix();
    let control = std::sync::Arc::new(open_control(settings, now)?);
    let auth = Auth::new(control.clone(), settings.auth.rate_limit_per_minute);
    let offset = settings.utc_offset_seconds();
    let when = |at: Option<i64>| {
        at.map_or_else(
            || "-".to_string(),
            |at| xinsheng::time::format_rfc3339(at, offset),
        )
    };
    match command {
        KeyCommand::Create {
            for_tenant,
            scopes,
            name,
            rate_limit,
        } => {
            let scopes = Scope::parse_list(&scopes).map_err(anyhow::Error::msg)?;
            let created = auth.create_key(&for_tenant, &name, &scopes, rate_limit, None, now)?;
            eprintln!(
                "key #{} for tenant {:?} (scopes {}); it is shown only now:",
                created.record.id, created.record.tenant, created.record.scopes
            );
            println!("{}", created.key);
        }
        KeyCommand::List { for_tenant } => {
            println!("id\ttenant\tprefix\tscopes\tname\tcreated\tlast used\trevoked");
            for key in control.keys(for_tenant.as_deref())? {
                println!(
                    "{}\t{}\t{}…\t{}\t{}\t{}\t{}\t{}",
                    key.id,
                    key.tenant,
                    key.prefix,
                    key.scopes,
                    key.name,
                    when(Some(key.created_at)),
                    when(key.last_used_at),
                    when(key.revoked_at)
                );
            }
        }
        KeyCommand::Revoke { id } => match control.revoke_key(id, None, now)? {
            Some(key) => println!("key #{} of tenant {:?} revoked", key.id, key.tenant),
            None => anyhow::bail!("no key {id}"),
        },
    }
    Ok(())
}

/// After an import, analyse and index right away when no service holds the
/// index; otherwise the running service picks the items up within a second.
fn analyse_pending_if_possible(settings: Settings) -> anyhow::Result<()> {
    match Core::open(settings, true) {
        Ok(core) => {
            let pending = core.store.queue_counts()?.pending;
            let bar = progress_bar(pending, "analysing");
            let done = core.pipeline().drain(|count| bar.inc(count as u64))?;
            bar.finish_and_clear();
            println!("{done} items analysed and indexed");
            Ok(())
        }
        Err(error)
            if error
                .downcast_ref::<xinsheng::index::IndexError>()
                .is_some_and(|error| matches!(error, xinsheng::index::IndexError::Locked)) =>
        {
            println!("the running service will analyse and index the imported items");
            Ok(())
        }
        Err(error) => Err(error),
    }
}

fn reindex(settings: Settings, reanalyse: bool) -> anyhow::Result<()> {
    let core = Core::open(settings, true)
        .context("reindex needs the index to itself: stop `xinsheng serve` first")?;
    let counts = core.store.queue_counts()?;
    let total = counts.pending + counts.indexed;
    core.index.clear()?;
    if reanalyse {
        core.store.requeue_all()?;
        let bar = progress_bar(total, "re-analysing");
        let done = core.pipeline().drain(|count| bar.inc(count as u64))?;
        bar.finish_and_clear();
        println!(
            "{done} items re-analysed with {} and indexed",
            core.analyser.version()
        );
        return Ok(());
    }
    // Stored analyses are re-used; items never analysed go through the pipeline.
    let bar = progress_bar(total, "reindexing");
    let mut last_id = 0;
    let mut reindexed = 0u64;
    loop {
        let page = core.store.page_after(last_id, 2_000)?;
        let Some(last) = page.last() else { break };
        last_id = last.id;
        let pairs: Vec<_> = page
            .iter()
            .filter_map(|item| item.analysis.as_ref().map(|analysis| (item, analysis)))
            .collect();
        core.index.add(&pairs)?;
        reindexed += pairs.len() as u64;
        bar.inc(page.len() as u64);
    }
    core.index.commit()?;
    let analysed = core.pipeline().drain(|count| bar.inc(count as u64))?;
    bar.finish_and_clear();
    println!("{reindexed} items reindexed, {analysed} analysed for the first time");
    Ok(())
}

#[derive(serde::Deserialize)]
struct ClassifyLine {
    id: serde_json::Value,
    text: String,
}

/// Reads `{"id", "text"}` lines (a file or stdin) in batches and writes the
/// lines `per_batch` serialises for each batch (one JSON document each) as
/// JSONL on stdout. Reading and parsing the next batch and writing the last
/// one's lines run on their own threads beside `per_batch`: done in turn,
/// they left a core idle between batches.
fn map_jsonl_batches(
    input: Option<PathBuf>,
    per_batch: impl Fn(&[ClassifyLine]) -> serde_json::Result<Vec<Vec<u8>>>,
) -> anyhow::Result<()> {
    const BATCH: usize = 4_096;
    let (batch_sender, batches) = std::sync::mpsc::sync_channel::<Vec<ClassifyLine>>(1);
    let (lines_sender, written_lines) = std::sync::mpsc::sync_channel::<Vec<Vec<u8>>>(1);
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let reader = scope.spawn(move || -> anyhow::Result<()> {
            let lines: Box<dyn BufRead> = match &input {
                Some(path) => Box::new(std::io::BufReader::new(
                    std::fs::File::open(path)
                        .with_context(|| format!("cannot open {}", path.display()))?,
                )),
                None => Box::new(std::io::stdin().lock()),
            };
            let mut batch = Vec::with_capacity(BATCH);
            for (number, line) in lines.lines().enumerate() {
                let line = line?;
                if line.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str::<ClassifyLine>(&line) {
                    Ok(parsed) => batch.push(parsed),
                    Err(error) => eprintln!("line {}: skipped: {error}", number + 1),
                }
                if batch.len() >= BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    if batch_sender.send(full).is_err() {
                        return Ok(()); // the consumer stopped on an error of its own
                    }
                }
            }
            if !batch.is_empty() {
                let _ = batch_sender.send(batch);
            }
            Ok(())
        });
        let writer = scope.spawn(move || -> anyhow::Result<()> {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            for lines in written_lines {
                for line in lines {
                    out.write_all(&line)?;
                    out.write_all(b"\n")?;
                }
            }
            out.flush()?;
            Ok(())
        });
        let mut result = Ok(());
        for batch in batches {
            match per_batch(&batch) {
                Ok(lines) => {
                    if lines_sender.send(lines).is_err() {
                        break; // the writer failed: its error is reported below
                    }
                }
                Err(error) => {
                    result = Err(error.into());
                    break;
                }
            }
        }
        drop(lines_sender);
        let joined = |thread: std::thread::ScopedJoinHandle<'_, anyhow::Result<()>>| {
            thread
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("a classify I/O thread panicked")))
        };
        // Dropping the batches (on an error above) lets the reader stop.
        let (read, written) = (joined(reader), joined(writer));
        result.and(read).and(written)
    })
}

/// One line of `classify`'s output, serialised straight from the analysis
/// (tags as the API shows them): building a `serde_json::Value` tree per
/// line first, and dropping it, was a tenth of `classify`'s CPU time.
#[derive(serde::Serialize)]
struct ClassifiedLine<'a> {
    id: &'a serde_json::Value,
    tags: &'a [xinsheng::feedback::TagMention],
    sentiment: xinsheng::feedback::Polarity,
    keywords: &'a [String],
    analyser_version: &'a str,
}

fn classify(settings: &Settings, input: Option<PathBuf>) -> anyhow::Result<()> {
    use rayon::prelude::*;
    let analyser = Analyser::load(&settings.lexicon_dir, &settings.tagger_choice())?;
    map_jsonl_batches(input, |batch| {
        let inputs: Vec<_> = batch
            .iter()
            .map(|line| xinsheng::nlp::AnalysisInput {
                text: &line.text,
                rating: None,
                reason_code: None,
            })
            .collect();
        batch
            .par_iter()
            .zip(analyser.analyse_batch(&inputs))
            .map(|(line, analysis)| {
                serde_json::to_vec(&ClassifiedLine {
                    id: &line.id,
                    tags: &analysis.tags,
                    sentiment: analysis.sentiment,
                    keywords: &analysis.keywords,
                    analyser_version: &analysis.analyser_version,
                })
            })
            .collect()
    })
}

fn features(settings: &Settings, input: Option<PathBuf>) -> anyhow::Result<()> {
    use rayon::prelude::*;
    // Features are the models' input: computing them never needs a model.
    let analyser = Analyser::load(&settings.lexicon_dir, &xinsheng::nlp::TaggerChoice::Lexicon)?;
    map_jsonl_batches(input, |batch| {
        batch
            .par_iter()
            .map(|line| {
                let (clauses, rule_sentiment) = analyser.features(&line.text);
                serde_json::to_vec(
                    &serde_json::json!({"id": line.id, "clauses": clauses, "rule_sentiment": rule_sentiment}),
                )
            })
            .collect()
    })
}
