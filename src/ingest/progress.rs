//! A terminal progress bar for long ingests (hidden when not asked for or not a TTY).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Features between two progress updates; keeps the bar off the hot path.
const TICK_EVERY: u64 = 4096;

/// Progress of one ingest.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A spinner counting features, or nothing when `enabled` is false.
    #[must_use]
    pub fn new(enabled: bool) -> Self {
        let bar = enabled.then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {human_pos} features read ({per_sec}, {elapsed})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar
        });
        Self { bar }
    }

    /// Reports the number of features read so far.
    pub fn tick(&self, read: u64) {
        if let Some(bar) = &self.bar
            && read.is_multiple_of(TICK_EVERY)
        {
            bar.set_position(read);
        }
    }

    /// Reports features read by one of several threads reading parts of a file; `read`
    /// counts the part's features.
    pub fn tick_part(&self, read: u64) {
        if let Some(bar) = &self.bar
            && read.is_multiple_of(TICK_EVERY)
        {
            bar.inc(TICK_EVERY);
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
