//! The layers being served, swapped atomically when a new version appears.

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::access::{self, AccessError, Caller, Purpose};
use crate::config::{LayerSettings, Settings};
use crate::index::IndexedLayer;
use crate::model::tile::{MercatorRect, TileRange, lonlat_to_mercator};
use crate::model::{LayerMeta, LayerName};
use crate::store::{DataDir, StoreError};
use crate::tiles::TileOptions;

/// Zooms whose generalized geometry and thinning plan are prepared in the background
/// after a load, so that the first tile a planner asks for at a city-wide zoom does not
/// pay for them (about 150 ms per zoom for 200 000 parcels).
const WARM_ZOOMS: std::ops::RangeInclusive<u8> = 10..=14;

/// Renders the tile at the centre of the layer at each of [`WARM_ZOOMS`] within the
/// layer's zoom range, with its tile budget, on a background thread: the results are
/// dropped, the per-zoom generalization and thinning plan the server uses stay.
fn warm_up(layer: Arc<IndexedLayer>, settings: &LayerSettings) {
    // Personal layers are never tiled raw.
    let Some(bbox) = layer
        .meta()
        .bbox
        .filter(|_| layer.meta().sensitivity != crate::model::Sensitivity::Personal)
    else {
        return;
    };
    let zooms =
        (*WARM_ZOOMS.start()).max(settings.min_zoom)..=(*WARM_ZOOMS.end()).min(settings.max_zoom);
    let options = TileOptions {
        budget: settings.budget,
    };
    let spawned = std::thread::Builder::new()
        .name(format!("warm-{}", layer.meta().name))
        .spawn(move || {
            let (lon, lat) = bbox.center();
            let (x, y) = lonlat_to_mercator(lon, lat);
            let centre = MercatorRect {
                min_x: x,
                min_y: y,
                max_x: x,
                max_y: y,
            };
            for z in zooms {
                let tile = TileRange::covering(&centre, z)
                    .ok()
                    .and_then(|tiles| tiles.iter().next());
                if let Some(tile) = tile {
                    let _ = crate::tiles::render_tile_with(&[&layer], tile, &options);
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the warm-up thread");
    }
}

/// Layers by name.
type LayerMap = BTreeMap<LayerName, Arc<IndexedLayer>>;

/// The served layers. Readers take a snapshot without locking; a reload builds the
/// new indexes aside and swaps them in, so requests never wait for a load.
#[derive(Debug)]
pub struct Registry {
    data_dir: DataDir,
    settings: Arc<Settings>,
    layers: ArcSwap<LayerMap>,
    /// Whether loads prepare tiles in the background (not for one-shot commands).
    warm_up: bool,
    /// Earlier versions asked for with `?version=N`, loaded on demand.
    earlier: moka::sync::Cache<(LayerName, u32), Arc<IndexedLayer>>,
}

/// Earlier versions kept in memory at once.
const EARLIER_VERSIONS_KEPT: u64 = 4;

impl Registry {
    /// Loads the newest version of every layer in `data_dir` with default settings.
    ///
    /// # Errors
    /// [`StoreError`] when the folder cannot be listed or a version cannot be read.
    pub fn load(data_dir: DataDir) -> Result<Self, StoreError> {
        Self::load_with(data_dir, Arc::new(Settings::default()))
    }

    /// Loads the newest version of every layer in `data_dir`, each prepared with its
    /// settings.
    ///
    /// # Errors
    /// [`StoreError`] when the folder cannot be listed or a version cannot be read.
    pub fn load_with(data_dir: DataDir, settings: Arc<Settings>) -> Result<Self, StoreError> {
        Self::load_inner(data_dir, settings, true)
    }

    /// Loads like [`Registry::load_with`] without preparing tiles in the background,
    /// for one-shot commands.
    ///
    /// # Errors
    /// [`StoreError`] when the folder cannot be listed or a version cannot be read.
    pub fn load_without_warm_up(
        data_dir: DataDir,
        settings: Arc<Settings>,
    ) -> Result<Self, StoreError> {
        Self::load_inner(data_dir, settings, false)
    }

    fn load_inner(
        data_dir: DataDir,
        settings: Arc<Settings>,
        warm_up: bool,
    ) -> Result<Self, StoreError> {
        let registry = Self {
            data_dir,
            settings,
            layers: ArcSwap::from_pointee(LayerMap::new()),
            warm_up,
            earlier: moka::sync::Cache::new(EARLIER_VERSIONS_KEPT),
        };
        registry.reload()?;
        Ok(registry)
    }

    /// The one way to a served layer: `name` handed to `caller` for purpose `P`
    /// ([`access::Features`] gives a [`crate::index::RawLayer`], [`access::Statistics`]
    /// a [`crate::analytics::StatisticsInput`]), or refused.
    ///
    /// # Errors
    /// [`AccessError`]: no such layer, personal data asked as features, or a
    /// restricted layer without an analyst key.
    pub fn open<P: Purpose>(&self, name: &str, caller: &Caller) -> Result<P::Handle, AccessError> {
        let layer = LayerName::new(name)
            .ok()
            .and_then(|n| self.layers.load().get(&n).cloned());
        access::admit::<P>(name, layer, caller)
    }

    /// Like [`Registry::open`], for `version` of the layer: the served one, or an
    /// earlier one (loaded on demand, with the layer's settings), which only callers
    /// with the analyst role or above may read.
    ///
    /// # Errors
    /// [`AccessError`] as [`Registry::open`]; [`AccessError::NoSuchVersion`] when the
    /// layer has no such version; [`AccessError::Restricted`] for an earlier version
    /// asked by a caller below analyst.
    pub fn open_version<P: Purpose>(
        &self,
        name: &str,
        version: u32,
        caller: &Caller,
    ) -> Result<P::Handle, AccessError> {
        let served = LayerName::new(name)
            .ok()
            .and_then(|n| self.layers.load().get(&n).cloned());
        let Some(served) = served else {
            return Err(AccessError::NotFound(name.to_owned()));
        };
        if served.meta().version == version {
            return access::admit::<P>(name, Some(served), caller);
        }
        let layer_name = served.meta().name.clone();
        if caller.role < access::Role::Analyst {
            return Err(AccessError::Restricted(layer_name));
        }
        let settings = self.settings.layer(&layer_name);
        let earlier = self
            .earlier
            .try_get_with((layer_name.clone(), version), || {
                let mut stored = self.data_dir.read_version(&layer_name, version)?;
                stored.meta = settings.declare(stored.meta);
                Ok::<_, StoreError>(Arc::new(settings.index(stored)))
            })
            .map_err(|_| AccessError::NoSuchVersion {
                layer: layer_name,
                version,
            })?;
        access::admit::<P>(name, Some(earlier), caller)
    }

    /// The catalog metadata of every served layer `caller` may know of, by name.
    #[must_use]
    pub fn catalog(&self, caller: &Caller) -> Vec<LayerMeta> {
        self.layers
            .load()
            .values()
            .map(|l| l.meta())
            .filter(|m| access::may_list(m.sensitivity, caller))
            .cloned()
            .collect()
    }

    /// Stops serving `layer` (after it was retired from the data folder).
    pub fn forget(&self, layer: &LayerName) {
        let mut next = (*self.layers.load_full()).clone();
        if next.remove(layer).is_some() {
            self.layers.store(Arc::new(next));
        }
    }

    /// Names of every served layer.
    #[must_use]
    pub fn names(&self) -> Vec<LayerName> {
        self.layers.load().keys().cloned().collect()
    }

    /// Loads every layer whose served version (the newest, or the one a rollback chose)
    /// differs from the one in memory; returns the
    /// names of the layers that changed. A version that fails to load is logged and
    /// the served one is kept.
    ///
    /// # Errors
    /// [`StoreError`] when the data folder cannot be listed.
    pub fn reload(&self) -> Result<Vec<LayerName>, StoreError> {
        let current = self.layers.load_full();
        let mut next = (*current).clone();
        let mut changed = Vec::new();
        for name in self.data_dir.layers()? {
            let Some(version) = self.data_dir.current_version(&name)? else {
                continue;
            };
            if current.get(&name).map(|l| l.meta().version) == Some(version) {
                continue;
            }
            match self.data_dir.read_version(&name, version) {
                Ok(mut stored) => {
                    let settings = self.settings.layer(&name);
                    // The steward's declarations in the config win over the stored
                    // ones; a personal layer's extent is coarsened.
                    stored.meta = settings.declare(stored.meta);
                    let layer = Arc::new(settings.index(stored));
                    tracing::info!(layer = %name, version, features = layer.len(), "layer loaded");
                    if self.warm_up {
                        warm_up(Arc::clone(&layer), settings);
                    }
                    next.insert(name.clone(), layer);
                    changed.push(name);
                }
                Err(e) => {
                    tracing::error!(layer = %name, version, error = %e, "cannot load version; keeping the served one")
                }
            }
        }
        if !changed.is_empty() {
            self.layers.store(Arc::new(next));
        }
        Ok(changed)
    }

    /// The settings layers are served with.
    #[must_use]
    pub fn settings(&self) -> &Arc<Settings> {
        &self.settings
    }

    /// The data directory served from.
    #[must_use]
    pub fn data_dir(&self) -> &DataDir {
        &self.data_dir
    }
}
