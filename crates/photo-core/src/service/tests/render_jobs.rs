//! Render jobs: readers that leave, failures remembered, versions that overtake each other.

use super::*;

/// A store holding one photo, replaced at will (a new upload).
struct OnePhotoStore(Mutex<Option<StoredPhoto>>);

impl OnePhotoStore {
    fn upload(&self, bytes: Bytes, side: u32) -> ETag {
        let etag = ETag::for_content(&bytes);
        *lock(&self.0) = Some(StoredPhoto {
            bytes,
            format: ImageFormat::Png,
            width: side,
            height: side,
            etag: etag.clone(),
        });
        etag
    }
}

#[async_trait]
impl PhotoStore for OnePhotoStore {
    async fn get(&self, _: &PhotoKey) -> Result<Option<StoredPhoto>, StoreError> {
        Ok(lock(&self.0).clone())
    }
    async fn put(
        &self,
        _: &PhotoKey,
        _: ValidatedPhoto,
        _: &Precondition,
    ) -> Result<StoredPhoto, StoreError> {
        Err(StoreError::Unavailable("read-only".into()))
    }
    async fn delete(&self, _: &PhotoKey, _: &Precondition) -> Result<(), StoreError> {
        Err(StoreError::Unavailable("read-only".into()))
    }
    async fn keys(&self) -> Result<Vec<PhotoKey>, StoreError> {
        Ok(Vec::new())
    }
    async fn check(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Keeps one version per photo, as `MemRenditionCache` does.
#[derive(Default)]
struct OneVersionCache(Mutex<HashMap<PhotoKey, (ETag, Arc<RenditionSet>)>>);

#[async_trait]
impl RenditionCache for OneVersionCache {
    async fn get(&self, key: &PhotoKey, etag: &ETag) -> Option<Arc<RenditionSet>> {
        lock(&self.0)
            .get(key)
            .filter(|(kept, _)| kept == etag)
            .map(|(_, set)| Arc::clone(set))
    }
    async fn put(&self, key: &PhotoKey, etag: &ETag, set: Arc<RenditionSet>) {
        lock(&self.0).insert(key.clone(), (etag.clone(), set));
    }
    async fn forget(&self, key: &PhotoKey) {
        lock(&self.0).remove(key);
    }
}

/// What one render call waits for before it renders (`Ok`) or fails.
type Gate = BoxFuture<'static, Result<(), RenderError>>;

/// A renderer driven by the test: each call takes the next gate (none left: render at once)
/// and counts calls and dropped, unfinished renders.
#[derive(Default)]
struct ScriptedRenderer {
    gates: Mutex<VecDeque<Gate>>,
    calls: AtomicUsize,
    abandoned: Arc<AtomicUsize>,
}

impl ScriptedRenderer {
    fn then(&self, gate: Gate) {
        lock(&self.gates).push_back(gate);
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
    fn abandoned(&self) -> usize {
        self.abandoned.load(Ordering::SeqCst)
    }
}

/// Counts a render future dropped before it finished.
struct Unfinished(Arc<AtomicUsize>, bool);

impl Drop for Unfinished {
    fn drop(&mut self) {
        if !self.1 {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[async_trait]
impl Renderer for ScriptedRenderer {
    async fn render(&self, original: Bytes) -> Result<RenditionSet, RenderError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mut unfinished = Unfinished(Arc::clone(&self.abandoned), false);
        let gate = lock(&self.gates).pop_front();
        if let Some(gate) = gate {
            gate.await?;
        }
        unfinished.1 = true;
        simple_render(&original)
    }
}

/// A gate the test opens: `Ok` renders, `Err` fails the render.
fn gate() -> (tokio::sync::oneshot::Sender<Result<(), RenderError>>, Gate) {
    let (open, wait) = tokio::sync::oneshot::channel();
    let gate = async move {
        wait.await
            .unwrap_or_else(|_| Err(RenderError::Unavailable("gate dropped".into())))
    };
    (open, gate.boxed())
}

fn coloured_png(side: u32, colour: [u8; 3]) -> Bytes {
    let image = image::RgbImage::from_pixel(side, side, image::Rgb(colour));
    let mut out = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("encode");
    Bytes::from(out.into_inner())
}

fn scripted_service(
    store: Arc<OnePhotoStore>,
    renderer: Arc<ScriptedRenderer>,
) -> Arc<PhotoService> {
    Arc::new(PhotoService::new(
        Arc::new(directory_with_me()),
        store,
        Arc::new(OneVersionCache::default()),
        renderer,
    ))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
}

/// Reads one size as Adele; the 48x48 JPEG's bytes.
async fn read_size(svc: Arc<PhotoService>, size: &str) -> Result<Bytes, PhotoError> {
    let reader = delegated(&["User.Read"]);
    match svc
        .get_size(&reader, &Target::Me, &SizeId::new(size), None)
        .await?
    {
        Freshness::Modified(view) => Ok(view.rendition.bytes),
        Freshness::NotModified(_) => panic!("no If-None-Match was sent"),
    }
}

/// Waits (bounded) until the renderer has been called `n` times.
async fn renders_started(renderer: &ScriptedRenderer, n: usize) {
    tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while renderer.calls() < n {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the render started");
}

fn the_colour_of(jpeg: &[u8]) -> [u8; 3] {
    image::load_from_memory(jpeg)
        .expect("a rendition")
        .into_rgb8()
        .get_pixel(24, 24)
        .0
}

fn near(a: [u8; 3], b: [u8; 3]) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 16)
}

#[test]
fn a_render_whose_readers_all_left_is_dropped_and_the_next_reader_gets_an_answer() {
    let store = Arc::new(OnePhotoStore(Mutex::new(None)));
    let etag = store.upload(coloured_png(100, [200, 10, 10]), 100);
    let renderer = Arc::new(ScriptedRenderer::default());
    // The first render never ends by itself: only dropping it ends it.
    let (_never_opened, hangs) = gate();
    renderer.then(hangs);
    let svc = scripted_service(store, Arc::clone(&renderer));
    runtime().block_on(async {
        let readers = futures::future::join(
            read_size(Arc::clone(&svc), "48x48"),
            read_size(Arc::clone(&svc), "96x96"),
        );
        let waited = tokio::time::timeout(std::time::Duration::from_millis(50), readers);
        assert!(waited.await.is_err(), "the first render should still run");
        // Both readers went away (the timeout dropped them).
        assert_eq!(renderer.calls(), 1);
        assert_eq!(renderer.abandoned(), 1, "the render's future is dropped");
        assert!(
            !lock(&svc.rendering).contains_key(&(key(ME), etag.clone())),
            "the abandoned job left its entry behind"
        );
        // A new reader starts a new render and gets its answer.
        let fresh = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            read_size(Arc::clone(&svc), "48x48"),
        )
        .await
        .expect("a new reader is answered");
        assert!(near(
            the_colour_of(&fresh.expect("rendered")),
            [200, 10, 10]
        ));
        assert_eq!(renderer.calls(), 2);
        assert!(lock(&svc.rendering).is_empty());
    });
}

#[test]
fn a_failed_render_is_remembered_and_answered_at_once() {
    let store = Arc::new(OnePhotoStore(Mutex::new(None)));
    store.upload(coloured_png(100, [1, 2, 3]), 100);
    let renderer = Arc::new(ScriptedRenderer::default());
    let broken = RenderError::Decode("broken pixels".into());
    renderer.then(futures::future::ready(Err(broken.clone())).boxed());
    let svc = scripted_service(Arc::clone(&store), Arc::clone(&renderer));
    runtime().block_on(async {
        for size in ["48x48", "96x96", "48x48"] {
            let error = read_size(Arc::clone(&svc), size).await.unwrap_err();
            assert_eq!(error, PhotoError::RenditionFailed(broken.clone()));
        }
        assert_eq!(
            renderer.calls(),
            1,
            "a failed version is never rendered again"
        );

        // A renderer that could not run says nothing about the image: 503, and the next
        // reader renders.
        store.upload(coloured_png(100, [4, 5, 6]), 100);
        renderer.then(futures::future::ready(Err(RenderError::Unavailable("x".into()))).boxed());
        let error = read_size(Arc::clone(&svc), "48x48").await.unwrap_err();
        assert_eq!(error, PhotoError::Unavailable("x".into()));
        assert!(read_size(Arc::clone(&svc), "48x48").await.is_ok());
        assert_eq!(renderer.calls(), 3);
    });
}

#[test]
fn an_old_version_finishing_after_a_new_upload_does_not_poison_the_new_one() {
    const OLD: [u8; 3] = [10, 10, 200];
    const NEW: [u8; 3] = [200, 10, 10];
    let store = Arc::new(OnePhotoStore(Mutex::new(None)));
    let old_tag = store.upload(coloured_png(100, OLD), 100);
    let renderer = Arc::new(ScriptedRenderer::default());
    let (open_old, old_gate) = gate();
    let (open_new, new_gate) = gate();
    renderer.then(old_gate);
    renderer.then(new_gate);
    let svc = scripted_service(Arc::clone(&store), Arc::clone(&renderer));
    runtime().block_on(async {
        let old_reader = tokio::spawn(read_size(Arc::clone(&svc), "48x48"));
        renders_started(&renderer, 1).await;
        let new_tag = store.upload(coloured_png(100, NEW), 100);
        let new_reader = tokio::spawn(read_size(Arc::clone(&svc), "48x48"));
        renders_started(&renderer, 2).await;

        // The new version finishes first, then the old one.
        open_new.send(Ok(())).expect("the new render waits");
        let new = new_reader.await.expect("joined").expect("rendered");
        assert!(near(the_colour_of(&new), NEW));
        assert!(lock(&svc.rendering).contains_key(&(key(ME), old_tag.clone())));
        assert!(!lock(&svc.rendering).contains_key(&(key(ME), new_tag.clone())));
        open_old.send(Ok(())).expect("the old render waits");
        let old = old_reader.await.expect("joined").expect("rendered");
        assert!(
            near(the_colour_of(&old), OLD),
            "a reader gets the version it read"
        );
        assert!(lock(&svc.rendering).is_empty());

        // The new version is still cached and still the new one.
        let again = read_size(Arc::clone(&svc), "48x48").await.expect("cached");
        assert!(near(the_colour_of(&again), NEW));
        assert_eq!(renderer.calls(), 2, "the new version was rendered once");
    });
}
