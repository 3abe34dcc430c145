//! The `tessera` command: a thin layer over the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use tessera::api::{self, AppState, Registry};
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
    Serve {
        /// Folder holding the layer versions.
        #[arg(long, default_value = "tessera-data")]
        data_dir: PathBuf,
        /// Address and port to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Public URL of the server, used in links (default: from the Host header).
        #[arg(long)]
        public_url: Option<String>,
        /// When the data folder holds no layer, ingest every file of this folder first.
        #[arg(long, default_value = "data")]
        seed_from: PathBuf,
        /// Seconds between checks for new layer versions.
        #[arg(long, default_value_t = 2)]
        reload_seconds: u64,
    },
    /// List the layers and versions of a data folder.
    Layers {
        /// Folder holding the layer versions.
        #[arg(long, default_value = "tessera-data")]
        data_dir: PathBuf,
    },
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
        Command::Serve {
            data_dir,
            listen,
            public_url,
            seed_from,
            reload_seconds,
        } => serve(data_dir, listen, public_url, &seed_from, reload_seconds),
        Command::Layers { data_dir } => list_layers(data_dir),
    };
    if let Err(e) = &result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
    Ok(())
}

fn serve(
    data_dir: PathBuf,
    listen: SocketAddr,
    public_url: Option<String>,
    seed_from: &std::path::Path,
    reload_seconds: u64,
) -> anyhow::Result<()> {
    let dir = DataDir::open(&data_dir)
        .with_context(|| format!("cannot open data folder {}", data_dir.display()))?;
    if dir.layers()?.is_empty() && seed_from.is_dir() {
        seed(&dir, seed_from)?;
    }
    let registry = Registry::load(dir).context("cannot load layers")?;
    let state = AppState {
        registry: Arc::new(registry),
        public_url,
    };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(api::serve(
        state,
        listen,
        Duration::from_secs(reload_seconds.max(1)),
    ))?;
    Ok(())
}

fn seed(_dir: &DataDir, _from: &std::path::Path) -> anyhow::Result<()> {
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
