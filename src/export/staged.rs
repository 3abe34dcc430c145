//! A hidden file beside the output that becomes the output in one rename, or is
//! removed when dropped before that.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use super::{ExportError, Result};

/// The staging file of one archive.
pub(super) struct StagedFile {
    path: PathBuf,
    file: File,
    armed: bool,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The folder of `out`; `.` for a bare file name.
fn folder(out: &Path) -> &Path {
    out.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

impl StagedFile {
    /// Creates an empty staging file in the folder of `out`: the same file system, so
    /// the final rename is atomic.
    pub(super) fn create(out: &Path) -> Result<Self> {
        let name = out
            .file_name()
            .map_or_else(|| "archive".into(), |n| n.to_string_lossy());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = folder(out).join(format!(".{name}.{}-{nanos}.tmp", std::process::id()));
        // Named after the folder: a missing or read-only folder is the usual cause.
        let file = File::create_new(&path).map_err(io_err(folder(out)))?;
        Ok(Self {
            path,
            file,
            armed: true,
        })
    }

    /// The staging file's path.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// The open staging file.
    pub(super) fn file(&self) -> &File {
        &self.file
    }

    /// Syncs the staging file, renames it to `out` (replacing what was there) and
    /// returns its size in bytes.
    pub(super) fn persist(mut self, out: &Path) -> Result<u64> {
        self.file.sync_all().map_err(io_err(&self.path))?;
        let bytes = self.file.metadata().map_err(io_err(&self.path))?.len();
        fs::rename(&self.path, out).map_err(io_err(out))?;
        self.armed = false;
        // The rename is durable once the folder is; not every platform can open a
        // folder to sync it, and the archive is complete either way.
        if let Ok(dir) = File::open(folder(out)) {
            let _ = dir.sync_all();
        }
        Ok(bytes)
    }
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(&self.path);
        }
    }
}
