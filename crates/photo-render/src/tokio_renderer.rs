//! Rendering off the async runtime: resizing is CPU-bound and would stall every other request
//! on the I/O threads.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use photo_core::ports::Renderer;
use photo_core::renditions::{RenderError, RenditionSet};
use tokio::sync::Semaphore;

use crate::pipeline::{render_all, render_cost};

/// Render memory when none is configured: two 40 MP RGBA originals at once (160 MB of pixels,
/// 170 MiB with the codecs' buffers, each), or one progressive 40 MP JPEG (about 450 MB) alone.
pub const DEFAULT_RENDER_MEMORY: u64 = 384 * 1024 * 1024;

/// Renders done, by `outcome` (`ok`, `failed`).
pub const RENDERS: &str = "graph_photo_renders_total";
/// Seconds of CPU work per render, waits excluded (histogram).
pub const RENDER_DURATION: &str = "graph_photo_render_duration_seconds";
/// Renders waiting for a core or for render memory: the render queue.
pub const RENDERS_WAITING: &str = "graph_photo_renders_waiting";
/// Renders running on the blocking pool.
pub const RENDERS_RUNNING: &str = "graph_photo_renders_running";

/// One render counted in a gauge for as long as it lives (a dropped wait leaves the queue too).
struct Level(&'static str);

impl Level {
    fn enter(gauge: &'static str) -> Self {
        metrics::gauge!(gauge).increment(1.0);
        Level(gauge)
    }
}

impl Drop for Level {
    fn drop(&mut self) {
        metrics::gauge!(self.0).decrement(1.0);
    }
}

/// Describes the render metrics to the recorder and shows the gauges at zero.
fn describe_metrics() {
    metrics::describe_counter!(RENDERS, "Renders of a photo version's sizes, by outcome.");
    metrics::describe_histogram!(
        RENDER_DURATION,
        metrics::Unit::Seconds,
        "CPU time of one render (all sizes of a version), waits excluded."
    );
    metrics::describe_gauge!(
        RENDERS_WAITING,
        "Renders waiting for a core or for render memory (the render queue)."
    );
    metrics::describe_gauge!(RENDERS_RUNNING, "Renders running.");
    metrics::gauge!(RENDERS_WAITING).increment(0.0);
    metrics::gauge!(RENDERS_RUNNING).increment(0.0);
}

/// The memory budget is counted in KiB, so that it fits the semaphore's `u32` weights.
const UNIT: u64 = 1024;

type Work = dyn Fn(&[u8]) -> Result<RenditionSet, RenderError> + Send + Sync;

/// Renders on tokio's blocking pool under two bounds: at most `max_concurrent` renders at a
/// time (readers of cached sizes keep a core), and at most `memory` bytes of decoded pixels in
/// flight ([`render_cost`], read from the header before decoding). A render that needs more than
/// the whole budget waits for all of it and runs alone rather than being refused.
///
/// Meets the [`Renderer`] contract: a render waits for its permits in the caller's future, so
/// a caller that goes away before they are granted cancels it; once granted, the permits move
/// into the blocking task, which runs to the end and releases them when the CPU work really
/// ends, whether or not anyone still waits for the result.
#[derive(Clone)]
pub struct TokioRenderer {
    permits: Arc<Semaphore>,
    memory: Arc<Semaphore>,
    /// The whole budget, in units.
    memory_units: u32,
    work: Arc<Work>,
}

impl std::fmt::Debug for TokioRenderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokioRenderer")
            .field("permits", &self.permits)
            .field("memory", &self.memory)
            .finish_non_exhaustive()
    }
}

impl TokioRenderer {
    /// `max_concurrent` renders at a time, within [`DEFAULT_RENDER_MEMORY`].
    pub fn new(max_concurrent: usize) -> Self {
        Self::with_memory(max_concurrent, DEFAULT_RENDER_MEMORY)
    }

    /// `max_concurrent` renders at a time, within `memory` bytes of render memory.
    pub fn with_memory(max_concurrent: usize, memory: u64) -> Self {
        Self::with_work(max_concurrent, memory, Arc::new(render_all))
    }

    fn with_work(max_concurrent: usize, memory: u64, work: Arc<Work>) -> Self {
        let max_units = u64::try_from(Semaphore::MAX_PERMITS)
            .unwrap_or(u64::MAX)
            .min(u64::from(u32::MAX));
        let memory_units = u32::try_from(memory.div_ceil(UNIT).clamp(1, max_units)).unwrap_or(1);
        describe_metrics();
        Self {
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            memory: Arc::new(Semaphore::new(memory_units as usize)),
            memory_units,
            work,
        }
    }

    /// One render per core, within `memory` bytes of render memory.
    pub fn for_cores(memory: u64) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::with_memory(cores, memory)
    }

    /// The units of budget a render of this cost waits for: all of it at most.
    fn units(&self, cost: u64) -> u32 {
        u32::try_from(cost.div_ceil(UNIT))
            .unwrap_or(u32::MAX)
            .min(self.memory_units)
    }
}

impl Default for TokioRenderer {
    fn default() -> Self {
        Self::for_cores(DEFAULT_RENDER_MEMORY)
    }
}

#[async_trait]
impl Renderer for TokioRenderer {
    async fn render(&self, original: Bytes) -> Result<RenditionSet, RenderError> {
        // Only the header is read here (no pixel is decoded), which is cheap enough for an I/O
        // thread and must happen before the memory budget is asked for.
        let units = self.units(render_cost(&original)?);
        let closed = |_| RenderError::Unavailable("the renderer is shutting down".to_owned());
        let waiting = Level::enter(RENDERS_WAITING);
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(closed)?;
        let memory = Arc::clone(&self.memory)
            .acquire_many_owned(units)
            .await
            .map_err(closed)?;
        drop(waiting);
        let work = Arc::clone(&self.work);
        let job = tokio::task::spawn_blocking(move || {
            // Released when this thread is done, not when the caller stops waiting.
            let _held = (permit, memory);
            let _running = Level::enter(RENDERS_RUNNING);
            let started = std::time::Instant::now();
            let result = work(&original);
            metrics::histogram!(RENDER_DURATION).record(started.elapsed().as_secs_f64());
            if result.is_ok() {
                metrics::counter!(RENDERS, "outcome" => "ok").increment(1);
            } else {
                metrics::counter!(RENDERS, "outcome" => "failed").increment(1);
            }
            tracing::debug!(
                original_bytes = original.len(),
                sizes = result.as_ref().map(|set| set.renditions.len()).unwrap_or(0),
                ok = result.is_ok(),
                elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                "rendered sizes"
            );
            result
        });
        // Dropping this future detaches the task: it still runs to the end.
        job.await.map_err(|error| {
            if error.is_panic() {
                // A bug met on these bytes: it would be met again.
                RenderError::Decode("the renderer failed on this image".to_owned())
            } else {
                RenderError::Unavailable("the rendering task was cancelled".to_owned())
            }
        })?
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;

    const BOUND: Duration = Duration::from_secs(30);

    /// Work the test controls: each call reports that it started, then waits for a go.
    struct Gated {
        started: Mutex<mpsc::Sender<()>>,
        go: Mutex<mpsc::Receiver<()>>,
        calls: AtomicUsize,
    }

    fn gated(
        max_concurrent: usize,
        memory: u64,
    ) -> (
        TokioRenderer,
        Arc<Gated>,
        mpsc::Receiver<()>,
        mpsc::Sender<()>,
    ) {
        let (started_tx, started) = mpsc::channel();
        let (go, go_rx) = mpsc::channel();
        let gate = Arc::new(Gated {
            started: Mutex::new(started_tx),
            go: Mutex::new(go_rx),
            calls: AtomicUsize::new(0),
        });
        let in_work = Arc::clone(&gate);
        let renderer = TokioRenderer::with_work(
            max_concurrent,
            memory,
            Arc::new(move |_: &[u8]| {
                in_work.calls.fetch_add(1, Ordering::SeqCst);
                let _ = in_work.started.lock().unwrap().send(());
                let _ = in_work.go.lock().unwrap().recv_timeout(BOUND);
                Ok(RenditionSet::default())
            }),
        );
        (renderer, gate, started, go)
    }

    /// A 1000x1000 PNG: its render costs 1000 * 1000 * 3 bytes plus the renditions'.
    fn png() -> Bytes {
        let image = image::RgbImage::from_pixel(1000, 1000, image::Rgb([1, 2, 3]));
        let mut out = std::io::Cursor::new(Vec::new());
        image.write_to(&mut out, image::ImageFormat::Png).unwrap();
        Bytes::from(out.into_inner())
    }

    async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
        tokio::time::timeout(BOUND, async {
            while !done() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("not within {BOUND:?}: {what}"));
    }

    /// Waits (off the async threads) until the gated work has started once more; hands the
    /// receiver back for the next wait.
    async fn started(rx: mpsc::Receiver<()>) -> mpsc::Receiver<()> {
        tokio::task::spawn_blocking(move || {
            rx.recv_timeout(BOUND).expect("the work started");
            rx
        })
        .await
        .unwrap()
    }

    /// A caller of `render(png())` as a task of its own, so the test can abort it.
    fn spawn_render(
        renderer: &TokioRenderer,
    ) -> tokio::task::JoinHandle<Result<RenditionSet, RenderError>> {
        let renderer = renderer.clone();
        tokio::spawn(async move { renderer.render(png()).await })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_render_left_by_its_caller_keeps_its_permit_until_the_work_ends() {
        let (renderer, gate, started_rx, go) = gated(1, DEFAULT_RENDER_MEMORY);
        let caller = spawn_render(&renderer);
        let _started_rx = started(started_rx).await;
        // The caller goes away mid-render.
        caller.abort();
        assert!(caller.await.unwrap_err().is_cancelled());
        // The thread still renders: its permit and memory stay taken.
        assert_eq!(renderer.permits.available_permits(), 0);
        assert!(renderer.memory.available_permits() < renderer.memory_units as usize);
        go.send(()).unwrap();
        wait_until("the permits come back once the work ended", || {
            renderer.permits.available_permits() == 1
                && renderer.memory.available_permits() == renderer.memory_units as usize
        })
        .await;
        // And the renderer still renders.
        go.send(()).unwrap();
        tokio::time::timeout(BOUND, renderer.render(png()))
            .await
            .expect("answered")
            .unwrap();
        assert_eq!(gate.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_render_left_before_it_started_never_starts() {
        let (renderer, gate, started_rx, go) = gated(1, DEFAULT_RENDER_MEMORY);
        let first = spawn_render(&renderer);
        let started_rx = started(started_rx).await;
        let second = spawn_render(&renderer);
        // The second waits for the only permit; its caller goes away.
        wait_until("the second render waits", || {
            renderer.permits.available_permits() == 0
        })
        .await;
        second.abort();
        assert!(second.await.unwrap_err().is_cancelled());
        go.send(()).unwrap();
        first.await.unwrap().unwrap();
        wait_until("the permit comes back", || {
            renderer.permits.available_permits() == 1
        })
        .await;
        assert_eq!(gate.calls.load(Ordering::SeqCst), 1);
        assert!(started_rx.try_recv().is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn renders_wait_for_memory_and_one_larger_than_the_budget_runs_alone() {
        let cost = render_cost(&png()).unwrap();
        // Room for one such render, not two; four CPU permits, so memory is the bound.
        let (renderer, gate, started_rx, go) = gated(4, cost + cost / 2);
        let first = spawn_render(&renderer);
        let started_rx = started(started_rx).await;
        let second = spawn_render(&renderer);
        wait_until("the second render holds a CPU permit", || {
            renderer.permits.available_permits() == 2
        })
        .await;
        assert_eq!(gate.calls.load(Ordering::SeqCst), 1, "no memory for two");
        go.send(()).unwrap();
        first.await.unwrap().unwrap();
        let started_rx = started(started_rx).await;
        go.send(()).unwrap();
        second.await.unwrap().unwrap();
        drop(started_rx);

        // A budget smaller than one render: it takes all of it, and is not refused.
        let small = TokioRenderer::with_memory(2, 1024 * 1024);
        assert_eq!(small.units(cost), small.memory_units);
        let set = tokio::time::timeout(BOUND, small.render(png()))
            .await
            .expect("answered")
            .unwrap();
        assert_eq!(set.renditions.len(), 9);
        assert_eq!(
            small.memory.available_permits(),
            small.memory_units as usize
        );
    }

    #[tokio::test]
    async fn bytes_that_are_no_image_fail_without_waiting_for_a_permit() {
        let renderer = TokioRenderer::new(1);
        let _taken = Arc::clone(&renderer.permits).acquire_owned().await.unwrap();
        let error = tokio::time::timeout(BOUND, renderer.render(Bytes::from_static(b"nope")))
            .await
            .expect("answered at once")
            .unwrap_err();
        assert!(matches!(error, RenderError::Decode(_)), "{error:?}");
    }
}
