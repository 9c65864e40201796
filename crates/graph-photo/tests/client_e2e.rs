//! The Graph client, `photo` and `sync` against the real server, started in-process.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Cursor;
use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use adapter_graph_client::{
    ClientConfig, ClientError, GraphClient, PhotoUpload, RetryPolicy, StaticToken, WriteOptions,
};
use adapter_memstore::seed;
use bytes::Bytes;
use dev_tokens::TokenRequest;
use graph_photo::cli::ServeArgs;
use image::{DynamicImage, Rgb, RgbImage};
use photo_core::target::Target;
use tempfile::TempDir;

struct TestServer {
    base: String,
    token: String,
    _data: TempDir,
}

/// The server on 127.0.0.1:0 with the committed test key as its development key, and a token of Megan (a User
/// Administrator) that may write her own photo, other users', groups' and her contacts'.
async fn start_server() -> TestServer {
    let data = tempfile::tempdir().unwrap();
    // `serve` loads it instead of spending seconds generating a key.
    std::fs::write(
        data.path().join(dev_tokens::DEV_KEY_FILE_NAME),
        dev_tokens::TEST_KEY_PEM,
    )
    .unwrap();
    let mut args = ServeArgs::local(data.path().to_owned());
    args.rendition_cache = 16;
    let server = graph_photo::serve::bind(&args).await.unwrap();
    let mut request = TokenRequest::delegated(
        seed::CONTOSO_TENANT,
        seed::MEGAN_ID,
        [
            "User.ReadWrite.All",
            "Group.ReadWrite.All",
            "Contacts.ReadWrite",
        ],
    );
    request.directory_roles = vec![photo_core::principal::USER_ADMINISTRATOR.to_owned()];
    let token = server.dev_key.as_ref().unwrap().mint(&request).unwrap();
    let base = format!("http://{}/v1.0", server.addr);
    tokio::spawn(server.run(std::future::pending()));
    TestServer {
        base,
        token,
        _data: data,
    }
}

fn client(server: &TestServer) -> GraphClient {
    GraphClient::new(
        ClientConfig {
            base_url: server.base.clone(),
            retry: RetryPolicy {
                base_delay: Duration::from_millis(10),
                ..RetryPolicy::default()
            },
            timeout: Duration::from_secs(30),
            tls: Default::default(),
        },
        Arc::new(StaticToken(server.token.clone())),
    )
    .unwrap()
}

fn encode(image: RgbImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    DynamicImage::ImageRgb8(image)
        .write_to(&mut Cursor::new(&mut out), format)
        .unwrap();
    out
}

fn png(side: u32, colour: [u8; 3]) -> Vec<u8> {
    encode(
        RgbImage::from_pixel(side, side, Rgb(colour)),
        image::ImageFormat::Png,
    )
}

fn jpeg(w: u32, h: u32, colour: [u8; 3]) -> Vec<u8> {
    encode(
        RgbImage::from_pixel(w, h, Rgb(colour)),
        image::ImageFormat::Jpeg,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_client_put_get_list_delete() {
    let server = start_server().await;
    let c = client(&server);
    let photo = png(64, [200, 10, 10]);

    let updated = c
        .put_photo(
            &Target::Me,
            PhotoUpload::Bytes(Bytes::from(photo.clone())),
            &WriteOptions::default(),
        )
        .await
        .unwrap();
    let etag = updated.etag.expect("an ETag");

    let meta = c.get_photo_metadata(&Target::Me).await.unwrap();
    assert_eq!(meta.id, "64x64");
    assert_eq!((meta.width, meta.height), (Some(64), Some(64)));
    assert_eq!(meta.media_etag.as_deref(), Some(etag.as_str()));
    assert_eq!(meta.media_content_type.as_deref(), Some("image/png"));

    let got = c.get_photo(&Target::Me, None).await.unwrap();
    assert_eq!(got.bytes, photo, "a lossless round trip");
    assert_eq!(got.etag.as_deref(), Some(etag.as_str()));
    assert_eq!(got.content_type.as_deref(), Some("image/png"));

    let sizes = c.list_sizes(&Target::Me).await.unwrap();
    let ids: Vec<_> = sizes.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["48x48", "64x64"]);
    let small = c.get_photo(&Target::Me, Some("48x48")).await.unwrap();
    assert!(small.bytes.starts_with(&[0xFF, 0xD8]), "a JPEG rendition");
    let size_meta = c.get_size_metadata(&Target::Me, "48x48").await.unwrap();
    assert_eq!(size_meta.width, Some(48));

    // A stale If-Match: 412 (spec B7).
    let err = c
        .put_photo(
            &Target::Me,
            PhotoUpload::Bytes(Bytes::from(png(50, [0, 0, 0]))),
            &WriteOptions {
                if_match: Some("\"stale\"".into()),
                use_patch: true,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.graph().map(|g| g.status), Some(412), "{err}");

    // A text body: 400 ErrorInvalidImage, with the server's request id.
    let err = c
        .put_photo(
            &Target::Group(seed::MARKETING_GROUP_ID.into()),
            PhotoUpload::Bytes(Bytes::from_static(b"not a photo")),
            &WriteOptions::default(),
        )
        .await
        .unwrap_err();
    let ClientError::Graph(g) = &err else {
        panic!("{err:?}")
    };
    assert_eq!((g.status, g.code.as_str()), (400, "ErrorInvalidImage"));
    assert!(g.request_id.is_some());
    assert!(g.client_request_id.is_some());

    // A UPN with `#` and `@`, from a streamed file.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lee.jpg");
    let lee_photo = jpeg(120, 90, [10, 200, 10]);
    std::fs::write(&file, &lee_photo).unwrap();
    let lee = Target::User(seed::LEE_UPN.into());
    c.put_photo(&lee, PhotoUpload::File(file), &WriteOptions::default())
        .await
        .unwrap();
    assert_eq!(c.get_photo(&lee, None).await.unwrap().bytes, lee_photo);

    // Delete with the current ETag, then it is gone.
    c.delete_photo(
        &Target::Me,
        &WriteOptions {
            if_match: Some(etag),
            use_patch: false,
        },
    )
    .await
    .unwrap();
    let err = c.get_photo(&Target::Me, None).await.unwrap_err();
    let g = err.graph().unwrap();
    assert_eq!((g.status, g.code.as_str()), (404, "ErrorEntityNotFound"));
}

/// Runs the `graph-photo` binary (blocking the calling worker only).
async fn graph_photo(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_graph-photo"))
            .args(&args)
            .env_remove("GRAPH_PHOTO_TOKEN_COMMAND")
            .env_remove("GRAPH_PHOTO_TOKEN")
            .env_remove("GRAPH_PHOTO_BASE")
            .env("GRAPH_PHOTO_LOG", "warn")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn sync_args(server: &TestServer, dir: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "sync".into(),
        dir.display().to_string(),
        "--map".into(),
        dir.join("map.csv").display().to_string(),
        "--base".into(),
        server.base.clone(),
        "--token".into(),
        server.token.clone(),
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_uploads_skips_what_it_did_and_reports_failures() {
    let server = start_server().await;
    let c = client(&server);
    let dir = tempfile::tempdir().unwrap();
    let a = png(64, [1, 2, 3]);
    std::fs::write(dir.path().join("a.png"), &a).unwrap();
    std::fs::write(dir.path().join("b.jpg"), jpeg(100, 80, [9, 9, 9])).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "just text\n").unwrap();
    std::fs::write(
        dir.path().join("map.csv"),
        format!(
            "file,target\na.png,me\nb.jpg,groups/{}\nnotes.txt,users/{}\n",
            seed::MARKETING_GROUP_ID,
            seed::ADELE_UPN
        ),
    )
    .unwrap();

    // First run: two uploads, the text file fails with the server's reason.
    let out = graph_photo(sync_args(&server, dir.path(), &[])).await;
    let stdout = text(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("uploaded 2, skipped 0, failed 1"),
        "{stdout}"
    );
    let failure = format!("notes.txt -> users/{}", seed::ADELE_UPN.replace('@', "%40"));
    assert!(stdout.contains(&failure), "{stdout}");
    assert!(stdout.contains("ErrorInvalidImage: "), "{stdout}");
    assert!(stdout.contains("(request-id "), "{stdout}");
    assert!(text(&out.stderr).contains("1 of 3 uploads failed"));
    assert_eq!(c.get_photo(&Target::Me, None).await.unwrap().bytes, a);
    assert!(dir.path().join(".graph-photo-sync.json").is_file());
    assert!(
        !dir.path().join(".graph-photo-sync.json.journal").exists(),
        "the run's journal is folded into the state file at its end"
    );

    // Second run: a.png is unchanged (skipped), b.jpg changed (uploaded again).
    let b2 = jpeg(100, 80, [250, 250, 0]);
    std::fs::write(dir.path().join("b.jpg"), &b2).unwrap();
    let out = graph_photo(sync_args(&server, dir.path(), &[])).await;
    let stdout = text(&out.stdout);
    assert!(!out.status.success());
    assert!(
        stdout.contains("uploaded 1, skipped 1, failed 1"),
        "{stdout}"
    );
    let group = Target::Group(seed::MARKETING_GROUP_ID.into());
    assert_eq!(c.get_photo(&group, None).await.unwrap().bytes, b2);

    // A dry run uploads nothing.
    let a2 = png(64, [7, 7, 7]);
    std::fs::write(dir.path().join("a.png"), &a2).unwrap();
    let out = graph_photo(sync_args(&server, dir.path(), &["--dry-run"])).await;
    let stdout = text(&out.stdout);
    assert!(stdout.contains("would upload a.png -> me"), "{stdout}");
    assert!(stdout.contains("would skip   b.jpg"), "{stdout}");
    // ... and says, without asking the server, which photo it would refuse and why.
    assert!(
        stdout.contains("ErrorInvalidImage: The image format is not supported: found text"),
        "{stdout}"
    );
    assert!(stdout.contains("checked locally: dry run"), "{stdout}");
    assert!(
        !out.status.success(),
        "a dry run with a photo Graph would refuse fails"
    );
    assert_eq!(c.get_photo(&Target::Me, None).await.unwrap().bytes, a);

    // Without the bad row, and nothing changed but a.png: success.
    std::fs::write(
        dir.path().join("map.csv"),
        format!("a.png,me\nb.jpg,groups/{}\n", seed::MARKETING_GROUP_ID),
    )
    .unwrap();
    let out = graph_photo(sync_args(&server, dir.path(), &["--concurrency", "1"])).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("uploaded 1, skipped 1, failed 0"),
        "{stdout}"
    );
    assert_eq!(c.get_photo(&Target::Me, None).await.unwrap().bytes, a2);

    // For scripts: one JSON object per row, in map order, with the server's request-id.
    std::fs::write(
        dir.path().join("map.csv"),
        format!("a.png,me\nnotes.txt,users/{}\n", seed::ADELE_UPN),
    )
    .unwrap();
    let out = graph_photo(sync_args(&server, dir.path(), &["--output", "json"])).await;
    assert!(!out.status.success(), "a failed row still fails the run");
    let records: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(records[0]["file"], "a.png");
    assert_eq!(records[0]["target"], "me");
    assert_eq!(records[0]["outcome"], "skipped");
    assert_eq!(records[1]["outcome"], "failed");
    assert_eq!(records[1]["code"], "ErrorInvalidImage");
    assert_eq!(records[1]["line"], 2);
    assert!(
        records[1]["request_id"]
            .as_str()
            .is_some_and(|id| id.len() == 36),
        "{records:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_runs_the_token_command_once_for_all_its_uploads() {
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let targets = [
        "me".to_owned(),
        format!("groups/{}", seed::MARKETING_GROUP_ID),
        format!("users/{}", seed::ADELE_UPN),
    ];
    let mut map = String::new();
    for (i, target) in targets.iter().enumerate() {
        std::fs::write(
            dir.path().join(format!("{i}.png")),
            png(48, [i as u8, 0, 0]),
        )
        .unwrap();
        map.push_str(&format!("{i}.png,{target}\n"));
    }
    std::fs::write(dir.path().join("map.csv"), map).unwrap();
    std::fs::write(dir.path().join("token.txt"), &server.token).unwrap();
    let runs = dir.path().join("runs");
    let command = format!(
        "echo run >> '{}'; cat '{}'",
        runs.display(),
        dir.path().join("token.txt").display()
    );
    let mut args = vec![
        "sync".to_owned(),
        dir.path().display().to_string(),
        "--map".into(),
        dir.path().join("map.csv").display().to_string(),
        "--base".into(),
        server.base.clone(),
        "--token-command".into(),
        command,
    ];
    args.extend(["--concurrency".to_owned(), "3".to_owned()]);
    let out = graph_photo(args).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("uploaded 3, skipped 0, failed 0"),
        "{stdout}"
    );
    let runs = std::fs::read_to_string(runs).unwrap();
    assert_eq!(runs.lines().count(), 1, "one run for three uploads");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn photo_commands() {
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("me.png");
    let photo = png(48, [5, 6, 7]);
    std::fs::write(&file, &photo).unwrap();
    let with_client = |mut args: Vec<String>| {
        args.extend([
            "--base".into(),
            server.base.clone(),
            "--token".into(),
            server.token.clone(),
        ]);
        args
    };
    let s = |v: &str| v.to_owned();

    let out = graph_photo(with_client(vec![
        s("photo"),
        s("put"),
        s("me"),
        file.display().to_string(),
    ]))
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let etag = text(&out.stdout).trim().to_owned();
    assert!(etag.starts_with('"'), "{etag}");

    let out = graph_photo(with_client(vec![
        s("photo"),
        s("get"),
        s("me"),
        s("--metadata"),
    ]))
    .await;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["id"], "48x48");
    assert_eq!(json["@odata.mediaEtag"], etag.as_str());

    let saved = dir.path().join("out.png");
    let out = graph_photo(with_client(vec![
        s("photo"),
        s("get"),
        s("me"),
        s("--out"),
        saved.display().to_string(),
    ]))
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(&saved).unwrap(), photo);

    let out = graph_photo(with_client(vec![
        s("photo"),
        s("delete"),
        s("me"),
        s("--if-match"),
        etag,
    ]))
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));

    // Errors: `code: message (request-id ...)` and a failure exit.
    let out = graph_photo(with_client(vec![
        s("photo"),
        s("get"),
        s("me"),
        s("--metadata"),
    ]))
    .await;
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("ErrorEntityNotFound: The photo wasn't found. (request-id "),
        "{stderr}"
    );

    // No token: a usage error before any call.
    let out = graph_photo(vec![s("photo"), s("delete"), s("me")]).await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("no access token"));
}
