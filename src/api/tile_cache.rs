//! Rendered tiles, compressed once and kept in a byte-bounded LRU cache.
//!
//! A key names the layers *and their versions*, so a new ingest makes new keys: stale
//! tiles are never served and simply age out. The ETag is derived from the same key, so
//! it is stable across restarts and changes exactly when a layer's version does.

use std::io::Write as _;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;

/// Default size of the tile cache.
pub const DEFAULT_CACHE_BYTES: u64 = 256 * 1024 * 1024;

/// A rendered tile and its encodings.
#[derive(Debug)]
pub struct CachedTile {
    /// Uncompressed MVT bytes; `None` for a tile with no feature.
    pub raw: Option<Bytes>,
    /// Strong entity tag, quoted.
    pub etag: String,
    gzip: OnceLock<Bytes>,
    brotli: OnceLock<Bytes>,
}

/// Content codings a tile can be sent with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// No compression.
    Identity,
    /// gzip (RFC 1952).
    Gzip,
    /// Brotli (RFC 7932).
    Brotli,
}

impl Coding {
    /// The best coding a client accepts: Brotli, then gzip, then none.
    #[must_use]
    pub fn negotiate(accept_encoding: &str) -> Self {
        let accepts = |name: &str| {
            accept_encoding.split(',').any(|part| {
                let mut it = part.trim().split(';');
                let coding = it.next().unwrap_or("").trim();
                let refused = it.any(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .and_then(|q| q.parse::<f32>().ok())
                        .is_some_and(|q| q == 0.0)
                });
                coding.eq_ignore_ascii_case(name) && !refused
            })
        };
        if accepts("br") {
            Coding::Brotli
        } else if accepts("gzip") {
            Coding::Gzip
        } else {
            Coding::Identity
        }
    }
}

impl CachedTile {
    /// A freshly rendered tile.
    #[must_use]
    pub fn new(raw: Option<Vec<u8>>, etag: String) -> Self {
        Self {
            raw: raw.map(Bytes::from),
            etag,
            gzip: OnceLock::new(),
            brotli: OnceLock::new(),
        }
    }

    /// The body in `coding`, compressing on first use; `None` for an empty tile.
    #[must_use]
    pub fn body(&self, coding: Coding) -> Option<Bytes> {
        let raw = self.raw.as_ref()?;
        Some(match coding {
            Coding::Identity => raw.clone(),
            Coding::Gzip => self.gzip.get_or_init(|| gzip(raw)).clone(),
            Coding::Brotli => self.brotli.get_or_init(|| brotli(raw)).clone(),
        })
    }

    /// Bytes charged to the cache: the raw tile plus an upper bound for each compressed
    /// body (compression never more than matches the raw size on MVT), fixed at insert.
    fn weight(&self) -> u32 {
        let raw = self.raw.as_ref().map_or(0, Bytes::len);
        u32::try_from(256 + 3 * raw).unwrap_or(u32::MAX)
    }
}

/// gzip at a fast level: tiles are rendered on request, and level 1 keeps most of the
/// gain of level 6 on MVT at a fraction of the time.
fn gzip(raw: &[u8]) -> Bytes {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(raw.len() / 2),
        flate2::Compression::fast(),
    );
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(raw);
    Bytes::from(enc.finish().unwrap_or_default())
}

/// Brotli at quality 5, a usual setting for on-the-fly web compression.
fn brotli(raw: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(raw.len() / 2);
    {
        let mut enc = brotli::CompressorWriter::new(&mut out, 64 * 1024, 5, 22);
        let _ = enc.write_all(raw);
    }
    Bytes::from(out)
}

/// The tile cache.
#[derive(Clone)]
pub struct TileCache {
    cache: moka::sync::Cache<String, Arc<CachedTile>>,
    /// Lookups answered from the cache, and lookups that had to render.
    counts: Arc<[std::sync::atomic::AtomicU64; 2]>,
}

impl std::fmt::Debug for TileCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TileCache")
            .field("entries", &self.cache.entry_count())
            .field("bytes", &self.cache.weighted_size())
            .finish()
    }
}

impl TileCache {
    /// A cache holding about `max_bytes` of tiles (0 disables caching).
    #[must_use]
    pub fn new(max_bytes: u64) -> Self {
        Self {
            cache: moka::sync::Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|_, tile: &Arc<CachedTile>| tile.weight())
                .build(),
            counts: Arc::default(),
        }
    }

    fn count(&self, hit: bool) {
        self.counts[usize::from(!hit)].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Lookups answered from the cache and lookups that rendered, since start.
    #[must_use]
    pub fn hits_and_misses(&self) -> (u64, u64) {
        let load = |i: usize| self.counts[i].load(std::sync::atomic::Ordering::Relaxed);
        (load(0), load(1))
    }

    /// The cached tile under `key`, if any.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<Arc<CachedTile>> {
        let hit = self.cache.get(key);
        self.count(hit.is_some());
        hit
    }

    /// Caches `tile` under `key`.
    pub fn insert(&self, key: String, tile: Arc<CachedTile>) {
        self.cache.insert(key, tile);
    }

    /// The cached tile under `key`, or the one `render` makes (then cached).
    pub fn get_or_render(
        &self,
        key: String,
        render: impl FnOnce() -> Arc<CachedTile>,
    ) -> Arc<CachedTile> {
        let mut rendered = false;
        let tile = self.cache.get_with(key, || {
            rendered = true;
            render()
        });
        self.count(!rendered);
        tile
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    #[test]
    fn negotiation_prefers_brotli_and_honours_q0() {
        assert_eq!(Coding::negotiate("gzip, deflate, br"), Coding::Brotli);
        assert_eq!(Coding::negotiate("gzip"), Coding::Gzip);
        assert_eq!(Coding::negotiate("br;q=0, gzip"), Coding::Gzip);
        assert_eq!(Coding::negotiate(""), Coding::Identity);
        assert_eq!(Coding::negotiate("identity"), Coding::Identity);
    }

    #[test]
    fn compressed_bodies_decompress_to_the_tile() {
        let raw: Vec<u8> = (0..10_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let tile = CachedTile::new(Some(raw.clone()), "\"x\"".into());
        let gz = tile.body(Coding::Gzip).expect("body");
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut out)
            .expect("gunzip");
        assert_eq!(out, raw);
        let br = tile.body(Coding::Brotli).expect("body");
        let mut out = Vec::new();
        brotli::Decompressor::new(&br[..], 4096)
            .read_to_end(&mut out)
            .expect("unbrotli");
        assert_eq!(out, raw);
        assert!(gz.len() < raw.len() && br.len() < raw.len());
    }
}
