//! Reads of sizes: what the original covers, If-None-Match, one render for concurrent readers.

use super::*;

#[test]
fn sizes_list_only_what_the_original_covers() {
    let mut store = MockPhotoStore::new();
    store.expect_get().returning(|_| {
        let mut p = stored(b"x", 0);
        p.width = 500;
        p.height = 130;
        Ok(Some(p))
    });
    let svc = service(directory_with_me(), store);
    let view = block_on(svc.list_sizes(&delegated(&["User.Read"]), &Target::Me)).unwrap();
    let sides: Vec<u32> = view.sizes.iter().map(|s| s.side).collect();
    assert_eq!(sides, vec![48, 64, 96, 120]);
}

#[test]
fn if_none_match_answers_not_modified_without_rendering() {
    let mut store = MockPhotoStore::new();
    store
        .expect_get()
        .returning(|_| Ok(Some(stored(b"x", 100))));
    let mut renderer = crate::ports::MockRenderer::new();
    renderer.expect_render().never();
    let svc = PhotoService::new(
        Arc::new(directory_with_me()),
        Arc::new(store),
        Arc::new(quiet_cache()),
        Arc::new(renderer),
    );
    let etag = ETag::for_rendition(&ETag::for_content(b"x"), 48);
    let cond = TagCondition::parse(&format!("W/{etag}"));
    let got = block_on(svc.get_size(
        &delegated(&["User.Read"]),
        &Target::Me,
        &SizeId::new("48X48"),
        Some(&cond),
    ))
    .unwrap();
    assert!(matches!(got, Freshness::NotModified(tag) if tag == etag));
    let err = block_on(svc.get_size(
        &delegated(&["User.Read"]),
        &Target::Me,
        &SizeId::new("648x648"),
        None,
    ))
    .unwrap_err();
    assert_eq!(err, PhotoError::PhotoNotFound);
}

/// Counts renders; each takes a little while so concurrent readers overlap.
struct CountingRenderer(AtomicUsize);

#[async_trait]
impl Renderer for CountingRenderer {
    async fn render(&self, original: Bytes) -> Result<RenditionSet, RenderError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        simple_render(&original)
    }
}

#[test]
fn concurrent_first_reads_render_once() {
    let body = png(100);
    let photo = StoredPhoto {
        etag: ETag::for_content(&body),
        bytes: body,
        format: ImageFormat::Png,
        width: 100,
        height: 100,
    };
    let mut store = MockPhotoStore::new();
    store
        .expect_get()
        .returning(move |_| Ok(Some(photo.clone())));
    let renderer = Arc::new(CountingRenderer(AtomicUsize::new(0)));
    let svc = PhotoService::new(
        Arc::new(directory_with_me()),
        Arc::new(store),
        Arc::new(quiet_cache()),
        renderer.clone(),
    );
    let p = delegated(&["User.Read"]);
    let (small, larger) = (SizeId::new("48x48"), SizeId::new("96x96"));
    let results = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
        .block_on(async {
            futures::future::join_all((0..8).map(|i| {
                let size = if i % 2 == 0 { &small } else { &larger };
                svc.get_size(&p, &Target::Me, size, None)
            }))
            .await
        });
    for result in results {
        let Freshness::Modified(view) = result.unwrap() else {
            panic!("expected a rendition")
        };
        assert_eq!(view.rendition.format, RenditionFormat::Jpeg);
    }
    assert_eq!(renderer.0.load(Ordering::SeqCst), 1);
}
