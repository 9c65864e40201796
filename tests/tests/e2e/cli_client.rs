//! The `graph-photo photo` client as a person uses it against `graph-photo serve`: one meaning
//! of `--base`, trust for a self-signed server (`--cacert`, `--insecure`), exit statuses that
//! name the class of failure, and shell completions.

use std::path::Path;
use std::process::Output;

use adapter_memstore::seed;

use crate::support::{free_port, run, Server};

fn app_token(data_dir: &Path) -> String {
    let out = run(&[
        "token",
        "--app",
        "--roles",
        "ProfilePhoto.ReadWrite.All",
        "--data-dir",
        data_dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn photo_file(dir: &Path) -> String {
    let picture = image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8, y as u8, 40]));
    let mut bytes = std::io::Cursor::new(Vec::new());
    picture
        .write_to(&mut bytes, image::ImageFormat::Jpeg)
        .unwrap();
    let path = dir.join("photo.jpg");
    std::fs::write(&path, bytes.into_inner()).unwrap();
    path.to_str().unwrap().to_owned()
}

fn photo(args: &[&str]) -> Output {
    let mut all = vec!["photo"];
    all.extend_from_slice(args);
    run(&all)
}

fn exit_code(out: &Output) -> Option<i32> {
    out.status.code()
}

#[test]
fn a_self_signed_server_is_reached_with_cacert_and_refused_without() {
    let data = crate::support::data_dir();
    let server = Server::start(data.path(), &["--tls-self-signed"]);
    let cert = data.path().join("tls-cert.pem");
    let cert = cert.to_str().unwrap();
    let token = app_token(data.path());
    let file = photo_file(data.path());
    // The root without its version: `--base` means the same as for `conformance`.
    let base = format!("https://{}", server.addr);
    let target = format!("users/{}", seed::ADELE_ID);

    let without = photo(&["put", &target, &file, "--base", &base, "--token", &token]);
    assert_eq!(
        exit_code(&without),
        Some(7),
        "an untrusted certificate: unreachable"
    );
    let stderr = String::from_utf8_lossy(&without.stderr);
    assert!(stderr.to_lowercase().contains("certificate"), "{stderr}");

    let trusted = photo(&[
        "put", &target, &file, "--base", &base, "--token", &token, "--cacert", cert,
    ]);
    assert!(
        trusted.status.success(),
        "{}",
        String::from_utf8_lossy(&trusted.stderr)
    );

    let insecure = photo(&[
        "get",
        &target,
        "--metadata",
        "--base",
        &base,
        "--token",
        &token,
        "--insecure",
    ]);
    assert!(
        insecure.status.success(),
        "{}",
        String::from_utf8_lossy(&insecure.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&insecure.stdout).unwrap();
    assert_eq!(metadata["width"], 64, "{metadata}");

    let not_pem = photo(&[
        "get", &target, "--base", &base, "--token", &token, "--cacert", &file,
    ]);
    assert_eq!(
        exit_code(&not_pem),
        Some(2),
        "{}",
        String::from_utf8_lossy(&not_pem.stderr)
    );
}

#[test]
fn exit_statuses_name_the_class_of_failure() {
    let data = crate::support::data_dir();
    let server = Server::start(data.path(), &[]);
    let token = app_token(data.path());
    let file = photo_file(data.path());
    let base = format!("http://{}", server.addr);
    let versioned = format!("{base}/v1.0");
    let megan = format!("users/{}", seed::MEGAN_ID);

    // No photo yet: not found.
    let missing = photo(&["get", &megan, "--base", &base, "--token", &token]);
    assert_eq!(
        exit_code(&missing),
        Some(4),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
    // A token the server refuses, or none at all: authentication.
    let refused = photo(&["get", &megan, "--base", &versioned, "--token", "not-a-jwt"]);
    assert_eq!(exit_code(&refused), Some(3));
    let no_token = photo(&["get", &megan, "--base", &base]);
    assert_eq!(exit_code(&no_token), Some(2), "no token is a usage error");
    // A stale If-Match: precondition.
    let put = photo(&["put", &megan, &file, "--base", &base, "--token", &token]);
    assert!(
        put.status.success(),
        "{}",
        String::from_utf8_lossy(&put.stderr)
    );
    let stale = photo(&[
        "put",
        &megan,
        &file,
        "--base",
        &base,
        "--token",
        &token,
        "--if-match",
        "\"stale\"",
    ]);
    assert_eq!(
        exit_code(&stale),
        Some(5),
        "{}",
        String::from_utf8_lossy(&stale.stderr)
    );
    // Nobody listening: unreachable.
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let unreachable = photo(&[
        "get",
        &megan,
        "--base",
        &nowhere,
        "--token",
        &token,
        "--max-attempts",
        "1",
    ]);
    assert_eq!(exit_code(&unreachable), Some(7));
    // A file that is not an image: the server's 400 is the caller's input.
    let text = data.path().join("notes.txt");
    std::fs::write(&text, "not a photo").unwrap();
    let bad = photo(&[
        "put",
        &megan,
        text.to_str().unwrap(),
        "--base",
        &base,
        "--token",
        &token,
    ]);
    assert_eq!(
        exit_code(&bad),
        Some(2),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

#[test]
fn completions_are_printed_for_each_shell() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = run(&["completions", shell]);
        assert!(
            out.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let script = String::from_utf8(out.stdout).unwrap();
        for word in ["graph-photo", "serve", "cacert"] {
            assert!(script.contains(word), "{shell} completions lack {word}");
        }
    }
    assert!(!run(&["completions", "tcsh"]).status.success());
}
