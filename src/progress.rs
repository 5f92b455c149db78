//! Step output for long commands: one line per finished step with its
//! elapsed time; on a terminal, a spinner line shows the running steps.
//! Plain lines (no escape codes) when stderr is not a terminal. All of it
//! is written through the [`Printer`].

use crate::output::Printer;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const FRAMES: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

struct Shared {
    running: Mutex<Vec<(u64, String, Instant)>>,
    next_id: Mutex<u64>,
    stop: AtomicBool,
}

pub struct Progress {
    printer: Printer,
    shared: Arc<Shared>,
    ticker: Mutex<Option<JoinHandle<()>>>,
}

/// A running step; finish it with [`Progress::done`] or [`Progress::failed`].
pub struct Step {
    id: u64,
    name: String,
    start: Instant,
}

impl Progress {
    /// Steps are printed unless the printer is quiet. `plain`: never draw
    /// a spinner (e.g. with -v, whose command echo would interleave with it).
    pub fn new(printer: &Printer, plain: bool) -> Self {
        let spinner = !plain && printer.live();
        let shared = Arc::new(Shared {
            running: Mutex::new(Vec::new()),
            next_id: Mutex::new(0),
            stop: AtomicBool::new(false),
        });
        let ticker = spinner.then(|| {
            let shared = Arc::clone(&shared);
            let printer = printer.clone();
            std::thread::spawn(move || {
                let mut frame = 0;
                while !shared.stop.load(Ordering::Relaxed) {
                    {
                        let running = shared.running.lock().unwrap_or_else(|e| e.into_inner());
                        if let Some((_, _, since)) = running.first() {
                            let names: Vec<&str> =
                                running.iter().map(|(_, n, _)| n.as_str()).collect();
                            printer.status(&format!(
                                "{} {} ({:.0}s)",
                                FRAMES[frame % FRAMES.len()],
                                names.join(", "),
                                since.elapsed().as_secs_f64()
                            ));
                        }
                    }
                    frame += 1;
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        });
        Progress {
            printer: printer.clone(),
            shared,
            ticker: Mutex::new(ticker),
        }
    }

    pub fn printer(&self) -> &Printer {
        &self.printer
    }

    pub fn start(&self, name: impl Into<String>) -> Step {
        let mut next = self
            .shared
            .next_id
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *next += 1;
        let step = Step {
            id: *next,
            name: name.into(),
            start: Instant::now(),
        };
        self.shared
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((step.id, step.name.clone(), step.start));
        step
    }

    fn finish(&self, step: Step, status: &str, detail: &str) {
        let mut running = self
            .shared
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        running.retain(|(id, _, _)| *id != step.id);
        let secs = step.start.elapsed().as_secs_f64();
        let detail = if detail.is_empty() {
            String::new()
        } else {
            format!(": {detail}")
        };
        // Under the lock, so the spinner cannot redraw in between.
        self.printer
            .note(format!("{status:<4}  {} ({secs:.1}s){detail}", step.name));
    }

    pub fn done(&self, step: Step) {
        self.finish(step, "ok", "");
    }

    pub fn failed(&self, step: Step) {
        let fail = self.printer.paint("FAIL", "1;31");
        self.finish(step, &fail, "");
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.ticker.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = t.join();
            self.printer.clear_status();
        }
    }
}
