//! The `tessera` command: a thin layer over the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use tessera::access::{Caller, KeyStore};
use tessera::api::tile_cache::TileCache;
use tessera::api::{self, AppState, Registry};
use tessera::config::{DEFAULT_CONFIG_FILE, LayerSettings, Settings};
use tessera::index::RawLayer;
use tessera::ingest::format::Format;
use tessera::ingest::read::{CsvOptions, Encoding, ReadOptions};
use tessera::ingest::{CatalogOptions, IngestOptions};
use tessera::model::{LayerName, Role, Sensitivity};
use tessera::store::DataDir;

#[derive(Parser)]
#[command(
    name = "tessera",
    version,
    about = "Geospatial tiling and analytics server for open city data"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve every layer of the data folder (vector tiles, TileJSON, OGC API – Features).
    /// Flags override the `[server]` section of the config file.
    Serve(ServeArgs),
    /// Ingest a file as a new version of a layer, and print its quality report.
    Ingest(Box<IngestArgs>),
    /// Aggregate a point layer into zones (or measure area shares) and write GeoJSON,
    /// with the same privacy rules as `GET /aggregate`.
    Aggregate(Box<AggregateArgs>),
    /// Write the vector tiles of layers into a PMTiles or MBTiles archive, the same
    /// tiles `serve` renders.
    Export(Box<ExportArgs>),
    /// Issue, list or revoke the server's API keys (stored hashed in the data folder).
    Keys(KeysArgs),
    /// List the versions of a layer: number, creation, source hash, features, quality.
    Versions {
        /// The layer.
        layer: String,
        /// Folder holding the layer versions.
        #[arg(long, default_value = "tessera-data")]
        data_dir: PathBuf,
    },
    /// Serve an earlier version of a layer (nothing is copied; the next ingest is
    /// served again). A running server picks it up within its reload interval.
    Rollback {
        /// The layer.
        layer: String,
        /// The version to serve.
        version: u32,
        /// Folder holding the layer versions.
        #[arg(long, default_value = "tessera-data")]
        data_dir: PathBuf,
    },
    /// Check every stored file against its version's SHA-256 checksums; exit 1 when
    /// anything differs or is missing.
    Verify {
        /// Folder holding the layer versions.
        #[arg(long, default_value = "tessera-data")]
        data_dir: PathBuf,
    },
    /// Copy the data folder (every version, served-version choices, keys, privacy
    /// ledger and secret) and the config into an empty folder; versions are
    /// hard-linked where possible. Checked with `verify` afterwards.
    Backup {
        /// Folder holding the layer versions.
        #[arg(long, default_value = "tessera-data")]
        data_dir: PathBuf,
        /// Config file copied along [default: ./tessera.toml when it exists].
        #[arg(long)]
        config: Option<PathBuf>,
        /// The backup folder (empty or new).
        #[arg(long)]
        to: PathBuf,
    },
    /// Restore a backup into an empty data folder, then verify it.
    Restore {
        /// The backup folder.
        #[arg(long)]
        from: PathBuf,
        /// The data folder to restore into (empty or new).
        #[arg(long, default_value = "tessera-data")]
        data_dir: PathBuf,
    },
    /// List the layers and versions of a data folder.
    Layers {
        /// Folder holding the layer versions.
        #[arg(long, default_value = "tessera-data")]
        data_dir: PathBuf,
    },
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Config file [default: ./tessera.toml when it exists].
    #[arg(long)]
    config: Option<PathBuf>,
    /// Folder holding the layer versions [default: tessera-data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Address and port to listen on [default: 127.0.0.1:8080].
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Public URL of the server, used in links [default: from the Host header].
    #[arg(long)]
    public_url: Option<String>,
    /// When the data folder holds no layer, ingest every file of this folder first; a
    /// seeding cut short (a crash, a file that failed) resumes at the next start
    /// [default: data].
    #[arg(long)]
    seed_from: Option<PathBuf>,
    /// Seconds between checks for new layer versions [default: 2].
    #[arg(long)]
    reload_seconds: Option<u64>,
    /// Size of the in-memory tile cache, MB; 0 turns it off [default: 256].
    #[arg(long)]
    tile_cache_mb: Option<u64>,
    /// The access log (JSON lines) [default: DATA_DIR/access.log; `access_log = ""`
    /// in the config turns it off].
    #[arg(long)]
    access_log: Option<PathBuf>,
}

#[derive(clap::Args)]
struct IngestArgs {
    /// The file to ingest (GeoJSON, GeoJSONSeq, CSV, FlatGeobuf, Shapefile).
    path: PathBuf,
    /// Config file whose `[layers.NAME]` declarations (sensitivity, id_field,
    /// time_field, timezone) win over the flags [default: ./tessera.toml when it
    /// exists].
    #[arg(long)]
    config: Option<PathBuf>,
    /// Layer name: 1 to 64 characters from a-z, 0-9, '_' and '-', starting with a letter
    /// or a digit.
    #[arg(long)]
    layer: String,
    /// Folder holding the layer versions.
    #[arg(long, default_value = "tessera-data")]
    data_dir: PathBuf,
    /// Format, when detection from the file is not wanted.
    #[arg(long)]
    format: Option<Format>,
    /// CRS of the coordinates (e.g. EPSG:25831), overriding what the file declares.
    #[arg(long)]
    crs: Option<String>,
    /// Human title of the layer.
    #[arg(long)]
    title: Option<String>,
    /// Description of the layer.
    #[arg(long)]
    description: Option<String>,
    /// Licence of the data (SPDX id or URL).
    #[arg(long)]
    license: Option<String>,
    /// Data steward: who answers for the layer.
    #[arg(long)]
    steward: Option<String>,
    /// How often the data is refreshed (e.g. monthly).
    #[arg(long)]
    update_frequency: Option<String>,
    /// public, restricted or personal. Without it (and without a declaration in the
    /// config file) the layer is public, except that points with a time field and an
    /// id-like field are refused until their sensitivity is declared.
    #[arg(long)]
    sensitivity: Option<Sensitivity>,
    /// The property identifying a person (personal layers); stored as text.
    #[arg(long)]
    id_field: Option<String>,
    /// The property holding the observation time.
    #[arg(long)]
    time_field: Option<String>,
    /// IANA time zone (e.g. Europe/Madrid) in which times without a UTC offset are
    /// read, and in which hours and weekdays of queries are counted. Without it, times
    /// without an offset are rejected.
    #[arg(long)]
    timezone: Option<String>,
    /// CSV delimiter (detected when absent).
    #[arg(long)]
    csv_delimiter: Option<char>,
    /// CSV longitude / x column (detected when absent).
    #[arg(long)]
    lon_column: Option<String>,
    /// CSV latitude / y column (detected when absent).
    #[arg(long)]
    lat_column: Option<String>,
    /// CSV column holding WKT geometry (detected when absent).
    #[arg(long)]
    wkt_column: Option<String>,
    /// Encoding of a CSV, GeoJSON or GeoJSONSeq file: utf-8, or latin1 (ISO-8859-1,
    /// read as Windows-1252 as browsers do). In a UTF-8 file, a row that is not valid
    /// UTF-8 is rejected and listed with its line in the quality report.
    #[arg(long, default_value = "utf-8")]
    encoding: Encoding,
}

#[derive(clap::Args)]
struct AggregateArgs {
    /// Config file whose privacy settings apply [default: ./tessera.toml when it exists].
    #[arg(long)]
    config: Option<PathBuf>,
    /// Folder holding the layer versions.
    #[arg(long, default_value = "tessera-data")]
    data_dir: PathBuf,
    /// The zones layer.
    #[arg(long)]
    zones: String,
    /// The point layer to aggregate.
    #[arg(long)]
    points: Option<String>,
    /// count, distinct, sum:FIELD or mean:FIELD.
    #[arg(long)]
    stat: Option<String>,
    /// The polygon layer whose classes are measured (with --measure).
    #[arg(long)]
    cover: Option<String>,
    /// area_share:FIELD.
    #[arg(long)]
    measure: Option<String>,
    /// Only points at or after this instant (RFC 3339).
    #[arg(long)]
    from: Option<String>,
    /// Only points before this instant (RFC 3339).
    #[arg(long)]
    to: Option<String>,
    /// Hours of the day, e.g. 7-9,17-19.
    #[arg(long)]
    hours: Option<String>,
    /// Weekdays, e.g. mon-fri.
    #[arg(long)]
    weekdays: Option<String>,
    /// Raise k of k-anonymity.
    #[arg(long)]
    k: Option<u32>,
    /// Add Laplace noise with this ε.
    #[arg(long)]
    epsilon: Option<f64>,
    /// Output file (GeoJSON).
    #[arg(long, short)]
    out: PathBuf,
}

#[derive(clap::Args)]
struct KeysArgs {
    /// Folder holding the layer versions and `keys.json`.
    #[arg(long, default_value = "tessera-data", global = true)]
    data_dir: PathBuf,
    #[command(subcommand)]
    action: KeysAction,
}

#[derive(Subcommand)]
enum KeysAction {
    /// Issue a key and print it (only now: the server keeps its hash).
    Add {
        /// public, analyst, steward or admin.
        #[arg(long)]
        role: Role,
        /// Who holds the key and what for (the usage registry).
        #[arg(long)]
        purpose: String,
        /// For a steward key: the steward it speaks for, as layers' catalogs name it
        /// (the key then publishes and rolls back those layers over HTTP).
        #[arg(long)]
        steward: Option<String>,
    },
    /// List the issued keys (ids, roles, purposes; never the keys).
    List,
    /// Revoke a key by its id.
    Revoke {
        /// The key's id.
        id: String,
    },
}

#[derive(clap::Args)]
struct ExportArgs {
    /// Config file whose layer settings apply, as in `serve` [default: ./tessera.toml
    /// when it exists].
    #[arg(long)]
    config: Option<PathBuf>,
    /// Folder holding the layer versions; the newest version of each layer is exported.
    #[arg(long, default_value = "tessera-data")]
    data_dir: PathBuf,
    /// Layers to export, comma-separated; each becomes one layer of the tiles.
    #[arg(long)]
    layer: String,
    /// First zoom written.
    #[arg(long, default_value_t = 0)]
    minzoom: u8,
    /// Last zoom written.
    #[arg(long, default_value_t = 14)]
    maxzoom: u8,
    /// The archive to write: OUT.pmtiles or OUT.mbtiles (replaced if it exists).
    out: PathBuf,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Ingest(args) => ingest(*args),
        Command::Aggregate(args) => aggregate(*args),
        Command::Export(args) => export(*args),
        Command::Keys(args) => keys(args),
        Command::Versions { layer, data_dir } => versions(&layer, &data_dir),
        Command::Rollback {
            layer,
            version,
            data_dir,
        } => rollback(&layer, version, &data_dir),
        Command::Verify { data_dir } => verify(&data_dir),
        Command::Backup {
            data_dir,
            config,
            to,
        } => backup(&data_dir, config.as_deref(), &to),
        Command::Restore { from, data_dir } => restore(&from, &data_dir),
        Command::Layers { data_dir } => list_layers(data_dir),
    };
    if let Err(e) = &result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
    Ok(())
}

/// Reads the config file: the given one, else `./tessera.toml` if it exists, else
/// the defaults. Unknown keys are logged as warnings.
fn load_settings(path: Option<&std::path::Path>) -> anyhow::Result<Settings> {
    let default = std::path::Path::new(DEFAULT_CONFIG_FILE);
    let Some(path) = path.or_else(|| default.is_file().then_some(default)) else {
        return Ok(Settings::default());
    };
    let (settings, warnings) = Settings::load(path)?;
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    tracing::info!(config = %path.display(), "settings loaded");
    Ok(settings)
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let settings = load_settings(args.config.as_deref())?;
    let file = &settings.server;
    let data_dir = args
        .data_dir
        .or_else(|| file.data_dir.clone())
        .unwrap_or_else(|| "tessera-data".into());
    let listen = args
        .listen
        .or(file.listen)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
    let public_url = args.public_url.or_else(|| file.public_url.clone());
    let seed_from = args
        .seed_from
        .or_else(|| file.seed_from.clone())
        .unwrap_or_else(|| "data".into());
    let reload_seconds = args.reload_seconds.or(file.reload_seconds).unwrap_or(2);
    let cache_mb = args.tile_cache_mb.or(file.tile_cache_mb).unwrap_or(256);
    let dir = DataDir::open(&data_dir)
        .with_context(|| format!("cannot open data folder {}", data_dir.display()))?;
    recover(&dir);
    if seed_from.is_dir() {
        seed(&dir, &seed_from, &settings)?;
    }
    let access_log = args
        .access_log
        .or_else(|| file.access_log.clone())
        .unwrap_or_else(|| data_dir.join("access.log"));
    let access_log_mb = file.access_log_mb.unwrap_or(64);
    let registry = Registry::load_with(dir, Arc::new(settings)).context("cannot load layers")?;
    let limits = registry.settings().limits.clone().unwrap_or_default();
    let mut state = AppState::new(Arc::new(registry), public_url)?;
    state.tile_cache = TileCache::new(cache_mb * 1024 * 1024);
    state.limits = Some(Arc::new(api::limits::Limiter::new(limits)));
    let log = (!access_log.as_os_str().is_empty())
        .then(|| api::trace::AccessLog::open(&access_log, access_log_mb * 1024 * 1024))
        .transpose()
        .with_context(|| format!("cannot open the access log {}", access_log.display()))?;
    state.trace = Arc::new(api::trace::Trace {
        log,
        metrics: api::trace::Metrics::default(),
    });
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(api::serve(
        state,
        listen,
        Duration::from_secs(reload_seconds.max(1)),
    ))?;
    Ok(())
}

/// Removes what writers killed mid-version left in the data folder. A failure is
/// logged: the server still serves the complete versions.
fn recover(dir: &DataDir) {
    match dir.recover() {
        Ok(removed) => {
            for path in removed {
                tracing::warn!(path = %path.display(), "removed the staging folder of an interrupted write");
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot remove the staging folders of interrupted writes")
        }
    }
}

/// Seeds the layers of `from` a new data folder lacks (see [`tessera::ingest::seed`]),
/// under the declarations of `settings`. Each layer is logged as it is seeded.
fn seed(dir: &DataDir, from: &std::path::Path, settings: &Settings) -> anyhow::Result<()> {
    let declared = |layer: &LayerName| settings.layer(layer).declared.clone();
    let report = tessera::ingest::seed::seed(dir, from, &declared)
        .with_context(|| format!("cannot seed the data folder from {}", from.display()))?;
    if !report.finished {
        tracing::warn!(
            failed = report.failed.len(),
            "seeding is not finished: the layers that failed are tried again at the next start"
        );
    }
    Ok(())
}

fn ingest(args: IngestArgs) -> anyhow::Result<()> {
    let layer = LayerName::new(&args.layer)?;
    let settings = load_settings(args.config.as_deref())?;
    let dir = DataDir::open(&args.data_dir)
        .with_context(|| format!("cannot open data folder {}", args.data_dir.display()))?;
    let delimiter = args
        .csv_delimiter
        .map(|c| u8::try_from(c).context("the CSV delimiter must be one ASCII character"))
        .transpose()?;
    let mut options = IngestOptions {
        format: args.format,
        crs: args.crs,
        read: ReadOptions {
            csv: CsvOptions {
                delimiter,
                lon_column: args.lon_column,
                lat_column: args.lat_column,
                wkt_column: args.wkt_column,
                text_columns: Vec::new(),
            },
            encoding: args.encoding,
        },
        catalog: CatalogOptions {
            title: args.title,
            description: args.description,
            license: args.license,
            steward: args.steward,
            update_frequency: args.update_frequency,
            sensitivity: args.sensitivity,
            id_field: args.id_field,
            time_field: args.time_field,
            timezone: args.timezone,
        },
        progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    options.catalog.declare(&settings.layer(&layer).declared);
    let started = std::time::Instant::now();
    let outcome = tessera::ingest::ingest(&args.path, &layer, &dir, &options)?;
    print!("{}", outcome.report.summary());
    println!(
        "stored {layer} version {} ({} features) in {:.2} s",
        outcome.meta.version,
        outcome.meta.feature_count,
        started.elapsed().as_secs_f64()
    );
    let keep = settings.layer(&layer).keep;
    let removed = dir.prune(&layer, keep as usize)?;
    if !removed.is_empty() {
        println!("removed versions {removed:?} (keep = {keep})");
    }
    Ok(())
}

fn versions(layer: &str, data_dir: &std::path::Path) -> anyhow::Result<()> {
    let layer = LayerName::new(layer)?;
    let dir = DataDir::open(data_dir)?;
    let current = dir.current_version(&layer)?;
    println!("version\tserved\tcreated\tfeatures\tsource sha256\tquality");
    for version in dir.versions(&layer)? {
        let meta = dir.read_meta(&layer, version)?;
        let quality = dir.read_quality(&layer, version)?;
        println!(
            "{version}\t{}\t{}\t{}\t{}\t{} accepted, {} repaired, {} rejected",
            if Some(version) == current { "*" } else { "" },
            meta.created_at,
            meta.feature_count,
            meta.source.sha256,
            quality.features_accepted,
            quality.features_repaired,
            quality.features_rejected,
        );
    }
    Ok(())
}

fn rollback(layer: &str, version: u32, data_dir: &std::path::Path) -> anyhow::Result<()> {
    let layer = LayerName::new(layer)?;
    DataDir::open(data_dir)?.rollback(&layer, version)?;
    println!("{layer} now serves version {version}");
    Ok(())
}

/// The files of a data folder besides its layers that a backup keeps.
const STATE_FILES: [&str; 3] = [api::KEYS_FILE, api::LEDGER_FILE, api::NOISE_KEY_FILE];

fn backup(
    data_dir: &std::path::Path,
    config: Option<&std::path::Path>,
    to: &std::path::Path,
) -> anyhow::Result<()> {
    let copied = DataDir::open(data_dir)?.backup(to, &STATE_FILES)?;
    let default = std::path::Path::new(DEFAULT_CONFIG_FILE);
    if let Some(config) = config.or_else(|| default.is_file().then_some(default)) {
        std::fs::copy(config, to.join(DEFAULT_CONFIG_FILE))
            .with_context(|| format!("cannot copy {}", config.display()))?;
    }
    verify(to)?;
    println!(
        "backed up {copied} versions of {} into {}",
        data_dir.display(),
        to.display()
    );
    Ok(())
}

fn restore(from: &std::path::Path, data_dir: &std::path::Path) -> anyhow::Result<()> {
    verify(from).context("the backup is damaged; nothing was restored")?;
    let copied = DataDir::open(from)?.backup(data_dir, &STATE_FILES)?;
    verify(data_dir)?;
    println!("restored {copied} versions into {}", data_dir.display());
    Ok(())
}

fn verify(data_dir: &std::path::Path) -> anyhow::Result<()> {
    let damage = DataDir::open(data_dir)?.verify()?;
    for d in &damage {
        eprintln!("{} v{}: {}", d.layer, d.version, d.problem);
    }
    if !damage.is_empty() {
        anyhow::bail!("{} problems in {}", damage.len(), data_dir.display());
    }
    println!(
        "every version of {} matches its checksums",
        data_dir.display()
    );
    Ok(())
}

fn aggregate(args: AggregateArgs) -> anyhow::Result<()> {
    let settings = Arc::new(load_settings(args.config.as_deref())?);
    let dir = DataDir::open(&args.data_dir)?;
    let named = [
        ("zones", Some(args.zones)),
        ("points", args.points),
        ("stat", args.stat),
        ("cover", args.cover),
        ("measure", args.measure),
        ("from", args.from),
        ("to", args.to),
        ("hours", args.hours),
        ("weekdays", args.weekdays),
        ("k", args.k.map(|k| k.to_string())),
        ("epsilon", args.epsilon.map(|e| e.to_string())),
    ];
    let pairs: Vec<(String, String)> = named
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
        .collect();
    // The same gate, privacy ledger and noise secret as the server: the command line
    // is an anonymous caller, charged to the shared anonymous budget.
    let registry =
        Registry::load_without_warm_up(dir, Arc::clone(&settings)).context("cannot load layers")?;
    let cache = api::analytics::AnalyticsCache::open(settings, registry.data_dir().root())?;
    let collection =
        api::analytics::aggregate_collection(&cache, &registry, &Caller::anonymous(), &pairs)?;
    let features = collection["features"].as_array().map_or(0, Vec::len);
    std::fs::write(&args.out, serde_json::to_vec(&collection)?)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    println!("wrote {} zones to {}", features, args.out.display());
    Ok(())
}

fn export(args: ExportArgs) -> anyhow::Result<()> {
    let settings = load_settings(args.config.as_deref())?;
    let dir = DataDir::open(&args.data_dir)
        .with_context(|| format!("cannot open data folder {}", args.data_dir.display()))?;
    let names = args
        .layer
        .split(',')
        .map(LayerName::new)
        .collect::<Result<Vec<_>, _>>()?;
    let layer_settings: Vec<&LayerSettings> = names.iter().map(|n| settings.layer(n)).collect();
    // The zooms every layer is served at, so that each archived tile is the served one.
    let min_zoom = layer_settings
        .iter()
        .map(|s| s.min_zoom)
        .fold(args.minzoom, u8::max);
    let max_zoom = layer_settings
        .iter()
        .map(|s| s.max_zoom)
        .fold(args.maxzoom, u8::min);
    if (min_zoom, max_zoom) != (args.minzoom, args.maxzoom) {
        eprintln!("zooms {min_zoom}..={max_zoom}: the layers' zoom range in the config");
    }
    // Raw tiles: through the gate's type, which refuses personal layers.
    let layers = names
        .iter()
        .zip(&layer_settings)
        .map(|(name, s)| {
            let mut stored = dir.read_latest(name)?;
            stored.meta = s.declare(stored.meta);
            Ok(RawLayer::new(Arc::new(s.index(stored)))?)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let refs: Vec<&tessera::index::IndexedLayer> = layers.iter().map(AsRef::as_ref).collect();
    let options = tessera::export::ExportOptions {
        min_zoom,
        max_zoom,
        tile_options: tessera::tiles::TileOptions {
            budget: LayerSettings::shared_budget(layer_settings.iter().copied()),
        },
    };
    let bar = tile_progress_bar();
    let started = std::time::Instant::now();
    let summary = tessera::export::export(&refs, &args.out, &options, &mut |p| {
        bar.set_length(p.total);
        bar.set_position(p.done);
    });
    bar.finish_and_clear();
    let summary = summary?;
    println!(
        "wrote {} tiles ({} bytes) to {} in {:.2} s; {} empty tiles left out",
        summary.tiles_written,
        summary.archive_bytes,
        args.out.display(),
        started.elapsed().as_secs_f64(),
        summary.tiles_rendered - summary.tiles_written,
    );
    Ok(())
}

/// A bar counting rendered tiles, drawn only when stderr is a terminal.
fn tile_progress_bar() -> indicatif::ProgressBar {
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} tiles ({per_sec}, {eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

fn keys(args: KeysArgs) -> anyhow::Result<()> {
    let dir = DataDir::open(&args.data_dir)
        .with_context(|| format!("cannot open data folder {}", args.data_dir.display()))?;
    let store = KeyStore::open(&dir.root().join(api::KEYS_FILE))?;
    match args.action {
        KeysAction::Add {
            role,
            purpose,
            steward,
        } => {
            let (record, key) = store.add_for(role, &purpose, steward.as_deref())?;
            eprintln!(
                "issued key {} ({}) for {:?}; it is shown only now:",
                record.id, record.role, record.purpose
            );
            println!("{key}");
        }
        KeysAction::List => {
            for r in store.list() {
                let state = if r.revoked { "revoked" } else { "active" };
                println!(
                    "{}\t{}\t{state}\t{}\t{}",
                    r.id, r.role, r.created_at, r.purpose
                );
            }
        }
        KeysAction::Revoke { id } => {
            if !store.revoke(&id)? {
                anyhow::bail!("no key with id {id:?}");
            }
            println!("revoked {id}");
        }
    }
    Ok(())
}

fn list_layers(data_dir: PathBuf) -> anyhow::Result<()> {
    let dir = DataDir::open(&data_dir)?;
    for name in dir.layers()? {
        let versions = dir.versions(&name)?;
        if let Some(&latest) = versions.last() {
            let meta = dir.read_meta(&name, latest)?;
            println!(
                "{name}\tv{latest}\t{} features\t{}\t{} versions",
                meta.feature_count,
                meta.geometry_type,
                versions.len()
            );
        }
    }
    Ok(())
}
