//! MBTiles 1.3 output: an SQLite database with the spec's `metadata` and `tiles`
//! tables, written in one transaction.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, params};

use super::metadata::ArchiveMetadata;
use super::{ArchiveWriter, ExportError, Result};
use crate::model::TileId;

/// The spec's `application_id`, "MPBX".
const APPLICATION_ID: u32 = 0x4d50_4258;

/// The tables of the spec, and its unique index on the tile address.
const SCHEMA: &str = "
    CREATE TABLE metadata (name TEXT, value TEXT);
    CREATE UNIQUE INDEX name ON metadata (name);
    CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB);
    CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row);
";

const INSERT_TILE: &str =
    "INSERT INTO tiles (zoom_level, tile_column, tile_row, tile_data) VALUES (?1, ?2, ?3, ?4)";

/// The MBTiles row of a tile: MBTiles counts rows from the south (TMS), tiles from
/// the north (XYZ).
pub(super) fn tms_row(tile: TileId) -> u32 {
    (1u32 << tile.z) - 1 - tile.y
}

/// An MBTiles archive being written.
pub(super) struct Writer {
    conn: Connection,
    rows: Vec<(&'static str, String)>,
    /// The output named in errors.
    out: PathBuf,
}

impl Writer {
    /// Creates the tables in the empty file at `path` and opens the transaction the
    /// tiles go in; `out` is named in errors.
    pub(super) fn create(path: &Path, metadata: &ArchiveMetadata, out: &Path) -> Result<Self> {
        let conn = Connection::open(path).map_err(sqlite_err(out))?;
        // The file is renamed into place only once complete and synced, so SQLite's
        // own journal and syncs would guard nothing.
        conn.execute_batch(&format!(
            "PRAGMA application_id = {APPLICATION_ID};
             PRAGMA journal_mode = MEMORY;
             PRAGMA synchronous = OFF;
             {SCHEMA}
             BEGIN;"
        ))
        .map_err(sqlite_err(out))?;
        Ok(Self {
            conn,
            rows: metadata.mbtiles_rows(),
            out: out.to_owned(),
        })
    }
}

fn sqlite_err(out: &Path) -> impl FnOnce(rusqlite::Error) -> ExportError + '_ {
    move |source| ExportError::MbTiles {
        path: out.to_owned(),
        source,
    }
}

impl ArchiveWriter for Writer {
    fn add_tile(&mut self, tile: TileId, gzipped: &[u8]) -> Result<()> {
        self.conn
            .prepare_cached(INSERT_TILE)
            .and_then(|mut insert| insert.execute(params![tile.z, tile.x, tms_row(tile), gzipped]))
            .map(drop)
            .map_err(sqlite_err(&self.out))
    }

    fn finish(self: Box<Self>) -> Result<()> {
        let Self { conn, rows, out } = *self;
        let written = (|| {
            let mut insert = conn.prepare("INSERT INTO metadata (name, value) VALUES (?1, ?2)")?;
            for (name, value) in &rows {
                insert.execute(params![name, value])?;
            }
            drop(insert);
            conn.execute_batch("COMMIT;")
        })();
        written.map_err(sqlite_err(&out))?;
        conn.close().map_err(|(_, e)| sqlite_err(&out)(e))
    }
}
