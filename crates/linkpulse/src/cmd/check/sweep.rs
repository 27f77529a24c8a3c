//! Driving a sweep: every job probed from one task, `concurrency` at a time, results handed on
//! in the jobs' order as soon as every earlier job has finished.
//!
//! One task polls all probes (no task per target, no wake of another thread per result); JSON
//! lines go out through a buffer that is flushed every [`FLUSH_LINES`] lines or
//! [`FLUSH_AFTER`] after the first unflushed one, so a consumer of a pipe still sees progress.

use std::io::{BufWriter, Write};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use linkpulse_probe::{ProbeOptions, ProbeResult, Prober};
use tokio::time::Instant;

use super::Job;
use super::output;

/// Lines written before the buffer is flushed.
const FLUSH_LINES: usize = 64;
/// Longest time a written line waits in the buffer.
const FLUSH_AFTER: Duration = Duration::from_millis(50);

/// Where the JSON lines of a sweep go while it runs.
pub(crate) struct JsonLines<W: Write> {
    out: BufWriter<W>,
    /// Lines in the buffer, not yet flushed.
    unflushed: usize,
    /// When the buffered lines must be flushed at the latest.
    due: Option<Instant>,
    /// Flush after every line (stdout is a terminal).
    every_line: bool,
    /// The reader went away (a closed pipe): the sweep goes on, its lines are dropped.
    closed: bool,
}

impl<W: Write> JsonLines<W> {
    /// Lines to `out`; `every_line` flushes each one at once.
    pub(crate) fn new(out: W, every_line: bool) -> Self {
        JsonLines {
            out: BufWriter::with_capacity(64 * 1024, out),
            unflushed: 0,
            due: None,
            every_line,
            closed: false,
        }
    }

    fn write(
        &mut self,
        result: &ProbeResult,
        bar: Option<&indicatif::ProgressBar>,
    ) -> std::io::Result<()> {
        if self.closed {
            return Ok(());
        }
        let written = output::json_line(&mut self.out, result);
        if !crate::cmd::output::quiet(written)? {
            self.closed = true;
            return Ok(());
        }
        self.unflushed += 1;
        let now = Instant::now();
        let due = *self.due.get_or_insert(now + FLUSH_AFTER);
        if self.every_line || self.unflushed >= FLUSH_LINES || now >= due {
            self.flush(bar)?;
        }
        Ok(())
    }

    /// Writes out every buffered line.
    pub(crate) fn flush(&mut self, bar: Option<&indicatif::ProgressBar>) -> std::io::Result<()> {
        self.unflushed = 0;
        self.due = None;
        if self.closed {
            return Ok(());
        }
        let flushed = match bar {
            Some(bar) => bar.suspend(|| self.out.flush()),
            None => self.out.flush(),
        };
        self.closed = !crate::cmd::output::quiet(flushed)?;
        Ok(())
    }
}

/// Probes every job, `concurrency` at a time, with a progress bar on a terminal stderr when
/// `many`; writes each result to `lines` (if any) in the jobs' order as soon as it and every
/// earlier one are known. Returns every result, in the jobs' order.
pub(crate) async fn probe_all<W: Write>(
    jobs: Vec<Job>,
    opts: ProbeOptions,
    concurrency: usize,
    many: bool,
    mut lines: Option<&mut JsonLines<W>>,
) -> anyhow::Result<Vec<ProbeResult>> {
    use std::io::IsTerminal;

    let count = jobs.len();
    let bar = (many && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(count as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{spinner} {pos}/{len} targets probed {wide_bar} {elapsed}",
        ) {
            bar.set_style(style);
        }
        bar
    });
    let prober = Prober::new();
    let (prober, opts) = (&prober, &opts);
    let mut queue = jobs.into_iter().enumerate();
    let mut running = FuturesUnordered::new();
    // Finished results waiting for an earlier job; `done` of them have been handed on.
    let mut slots: Vec<Option<ProbeResult>> = std::iter::repeat_with(|| None).take(count).collect();
    let mut results = Vec::with_capacity(count);
    let flush_timer = tokio::time::sleep(FLUSH_AFTER);
    tokio::pin!(flush_timer);
    let mut timer_armed = false;
    loop {
        while running.len() < concurrency.max(1) {
            let Some((index, job)) = queue.next() else {
                break;
            };
            running.push(async move {
                let mut result = prober.probe(&job.target, opts).await;
                result.target = job.label;
                (index, result)
            });
        }
        // Arm the flush timer for lines waiting in the buffer.
        let due = lines.as_ref().and_then(|l| l.due);
        match due {
            Some(due) if !timer_armed => {
                flush_timer.as_mut().reset(due);
                timer_armed = true;
            }
            None => timer_armed = false,
            Some(_) => {}
        }
        let finished = tokio::select! {
            finished = running.next() => finished,
            () = &mut flush_timer, if timer_armed => {
                timer_armed = false;
                if let Some(lines) = lines.as_deref_mut() {
                    lines.flush(bar.as_ref())?;
                }
                continue;
            }
        };
        let Some((index, result)) = finished else {
            break;
        };
        if let Some(bar) = &bar {
            bar.inc(1);
        }
        if let Some(slot) = slots.get_mut(index) {
            *slot = Some(result);
        }
        while let Some(result) = slots.get_mut(results.len()).and_then(Option::take) {
            if let Some(lines) = lines.as_deref_mut() {
                lines.write(&result, bar.as_ref())?;
            }
            results.push(result);
        }
    }
    if let Some(lines) = lines {
        lines.flush(bar.as_ref())?;
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use linkpulse_probe::Target;

    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn results_come_back_in_job_order_and_as_json_lines() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                drop(stream);
            }
        });
        // A listener whose accept queue is full: connects to it hang until the probe's timeout,
        // so the jobs aimed at it finish long after the ones behind them.
        let full = tokio::net::TcpSocket::new_v4().unwrap();
        full.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let full = full.listen(0).unwrap();
        let full_addr = full.local_addr().unwrap();
        let mut fillers = Vec::new();
        for _ in 0..3 {
            let connect = tokio::net::TcpStream::connect(full_addr);
            if let Ok(Ok(s)) = tokio::time::timeout(Duration::from_millis(100), connect).await {
                fillers.push(s);
            }
        }
        let fast: Target = format!("tcp://{addr}").parse().unwrap();
        let slow: Target = format!("tcp://{full_addr}").parse().unwrap();
        let expected: Vec<String> = (0..300).map(|i| format!("job-{i}")).collect();
        let jobs = expected
            .iter()
            .enumerate()
            .map(|(i, label)| Job {
                label: label.clone(),
                target: if i % 100 == 3 {
                    slow.clone()
                } else {
                    fast.clone()
                },
            })
            .collect();
        let opts = ProbeOptions {
            timeout: Duration::from_millis(300),
            ..ProbeOptions::default()
        };
        let mut lines = JsonLines::new(Vec::new(), false);
        let results = probe_all(jobs, opts, 7, true, Some(&mut lines))
            .await
            .unwrap();
        let labels: Vec<&str> = results.iter().map(|r| r.target.as_str()).collect();
        assert_eq!(labels, expected);
        let mut fast = results.iter().enumerate().filter(|(i, _)| i % 100 != 3);
        assert!(fast.all(|(_, r)| r.up), "{results:?}");
        let text = String::from_utf8(lines.out.into_inner().unwrap()).unwrap();
        let printed: Vec<String> = text
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["target"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(printed, expected);
    }
}
