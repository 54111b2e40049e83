//! How far a run is: a bar on a terminal; elsewhere a log line at every
//! tenth of the user rounds, so that a script or test driving the run can
//! act at a known point of it and see that it went on afterwards.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};

/// The message of the log line, for whoever follows a run.
pub const LOG_MESSAGE: &str = "loadtest progress";

pub struct Progress {
    bar: ProgressBar,
    done: AtomicU64,
    total: u64,
}

impl Progress {
    /// `total` user rounds to go.
    pub fn new(total: u64) -> Self {
        let bar = if std::io::stderr().is_terminal() {
            let style = ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} user rounds, {msg}")
                .expect("the template is valid")
                .progress_chars("=> ");
            ProgressBar::new(total).with_style(style)
        } else {
            ProgressBar::hidden()
        };
        Self { bar, done: AtomicU64::new(0), total }
    }

    /// Counts `rounds` more user rounds done, with the findings so far.
    pub fn advance(&self, rounds: u64, bleeds: u64, errors: u64) {
        let before = self.done.fetch_add(rounds, Ordering::Relaxed);
        let done = before + rounds;
        if self.bar.is_hidden() {
            if crosses_a_tenth(before, done, self.total) {
                tracing::info!(done, total = self.total, bleeds, errors, "{LOG_MESSAGE}");
            }
        } else {
            self.bar.set_message(format!("bleeds {bleeds}, errors {errors}"));
            self.bar.inc(rounds);
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// Whether going from `before` to `after` of `total` passes a tenth.
fn crosses_a_tenth(before: u64, after: u64, total: u64) -> bool {
    total > 0 && before * 10 / total < after * 10 / total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_tenth_is_reported_once() {
        let reported: Vec<u64> = (0..500).filter(|done| crosses_a_tenth(*done, done + 1, 500)).map(|done| done + 1).collect();
        assert_eq!(reported, [50, 100, 150, 200, 250, 300, 350, 400, 450, 500]);
        assert!(crosses_a_tenth(0, 3, 3), "a jump over several tenths is one line");
        assert!(!crosses_a_tenth(0, 0, 0));
    }
}
