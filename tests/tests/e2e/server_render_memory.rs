//! The real `graph-photo serve` rendering the largest originals it accepts, several at once:
//! its peak memory stays within the render memory budget (issue 8).

use std::io::Write;
use std::time::Duration;

use crate::support::{peak_rss, run, striped_png16, Server};
use adapter_memstore::seed;

/// The default `--render-memory`.
const RENDER_MEMORY: u64 = 384 << 20;
/// What the server holds besides the pixels being rendered: code, the stored originals, the
/// rendition cache, allocator slack.
const BASELINE: u64 = 192 << 20;

fn token(data_dir: &std::path::Path, user: &str) -> String {
    let output = run(&[
        "token",
        "--user",
        user,
        "--scopes",
        "User.ReadWrite",
        "--data-dir",
        data_dir.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[test]
fn concurrent_renders_of_40_megapixel_16_bit_pngs_stay_within_the_budget() {
    if !std::path::Path::new("/proc/self/status").exists() {
        eprintln!("skipped: no /proc to read the peak memory from");
        return;
    }
    let data = crate::support::data_dir();
    let server = Server::start(data.path(), &[]);
    let http = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let photo = striped_png16(6324, 0x60, true);
    assert!(photo.len() < 4 << 20, "{} bytes", photo.len());
    let users = [seed::ADELE_UPN, seed::MEGAN_UPN];
    let tokens: Vec<String> = users.iter().map(|u| token(data.path(), u)).collect();
    for (i, token) in tokens.iter().enumerate() {
        // Two different versions, so that nothing is shared between the two renders.
        let mut photo = photo.clone();
        if i == 1 {
            photo = striped_png16(6324, 0x61, true);
        }
        let resp = http
            .put(server.url("/v1.0/me/photo/$value"))
            .bearer_auth(token)
            .header("Content-Type", "image/png")
            .body(photo)
            .send()
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    let before = peak_rss(server.pid());

    // Both originals rendered at once, each asked for by two readers.
    std::thread::scope(|scope| {
        let readers: Vec<_> = tokens
            .iter()
            .flat_map(|token| ["648x648", "48x48"].map(|size| (token, size)))
            .map(|(token, size)| {
                let http = http.clone();
                let url = server.url(&format!("/v1.0/me/photos/{size}/$value"));
                scope.spawn(move || {
                    let resp = http.get(url).bearer_auth(token).send().unwrap();
                    assert_eq!(resp.status(), 200);
                    resp.bytes().unwrap().len()
                })
            })
            .collect();
        for reader in readers {
            assert!(reader.join().unwrap() > 0);
        }
    });

    let peak = peak_rss(server.pid());
    eprintln!(
        "peak RSS {} MiB (before rendering {} MiB)",
        peak >> 20,
        before >> 20
    );
    assert!(peak < 1 << 30, "peak RSS {} MiB", peak >> 20);
    assert!(
        peak < RENDER_MEMORY + BASELINE,
        "peak RSS {} MiB, beyond the {} MiB budget plus {} MiB",
        peak >> 20,
        RENDER_MEMORY >> 20,
        BASELINE >> 20
    );
    let _ = std::io::stderr().flush();
}
