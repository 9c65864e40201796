//! The real `graph-photo` binary, used as the README says: `serve`, then `token`, then an
//! upload with curl, across a restart, and a graceful stop on SIGTERM.

use std::io::Cursor;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::{run, Server};
use adapter_memstore::seed;

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn jpeg(width: u32, height: u32, seed: u8) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([
            (x as u8).wrapping_add(seed),
            (y as u8).wrapping_mul(3),
            seed,
        ])
    });
    let mut out = Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(image)
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .unwrap();
    out.into_inner()
}

fn stdout(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// `graph-photo token ...` with the README's arguments; the printed token.
fn cli_token(data_dir: &Path, args: &[&str]) -> String {
    let data_dir = data_dir.to_str().unwrap();
    let mut all = vec!["token"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--data-dir", data_dir]);
    let token = stdout(&run(&all)).trim().to_owned();
    assert_eq!(token.split('.').count(), 3, "not a JWT: {token}");
    token
}

fn curl_installed() -> bool {
    Command::new("curl")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn version_and_help() {
    let version = stdout(&run(&["--version"]));
    assert!(version.starts_with("graph-photo "), "{version}");
    assert!(version.contains(env!("CARGO_PKG_VERSION")), "{version}");
    let help = stdout(&run(&["--help"]));
    for word in ["serve", "token", "Usage"] {
        assert!(help.contains(word), "{help}");
    }
    let help = stdout(&run(&["serve", "--help"]));
    for option in [
        "--listen",
        "--data-dir",
        "--directory",
        "--jwks-file",
        "--public-url",
    ] {
        assert!(help.contains(option), "{help}");
    }
    // A usage error is an error.
    let output = run(&["no-such-command"]);
    assert!(!output.status.success());
}

#[test]
fn token_refuses_unknown_users_and_missing_scopes() {
    let data = crate::support::data_dir();
    let dir = data.path().to_str().unwrap();
    let output = run(&[
        "token",
        "--user",
        "nobody@contoso.onmicrosoft.com",
        "--scopes",
        "User.Read",
        "--data-dir",
        dir,
    ]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("nobody@contoso.onmicrosoft.com"));
    assert!(output.stdout.is_empty());
    let output = run(&["token", "--user", seed::ADELE_UPN, "--data-dir", dir]);
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
}

/// The README's first call, then a restart with the same data directory, then SIGTERM.
#[test]
fn readme_flow_survives_a_restart_and_stops_on_sigterm() {
    let data = crate::support::data_dir();
    let work = tempfile::tempdir().unwrap();
    let http = client();

    let server = Server::start(data.path(), &[]);
    let banner = server.banner.clone();

    // The banner: where it listens, the seeded ids, a token ready to export.
    assert!(
        banner.contains(&format!("http://{}", server.addr)),
        "{banner}"
    );
    for id in [
        seed::CONTOSO_TENANT,
        seed::ADELE_ID,
        seed::ADELE_UPN,
        seed::MEGAN_ID,
        seed::MARKETING_GROUP_ID,
        seed::ADELE_FRIENDS_FOLDER_ID,
        seed::ADELE_CONTACT_ID,
        seed::FABRIKAM_TENANT,
        seed::PAT_ID,
    ] {
        assert!(banner.contains(id), "{id} is not in the banner:\n{banner}");
    }
    let export = banner
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("export TOKEN="))
        .unwrap_or_else(|| panic!("no export line in:\n{banner}"))
        .to_owned();
    let banner_token = export.trim_start_matches("export TOKEN=").to_owned();
    // The line is valid shell as printed.
    let shell = Command::new("sh")
        .args(["-c", &format!("{export}\nprintf %s \"$TOKEN\"")])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(shell.stdout).unwrap(), banner_token);

    // The development key: created in the data directory, readable by its owner only.
    let key_file = data.path().join("dev-signing-key.pem");
    let key_before = std::fs::read(&key_file).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "mode {mode:o}");
    }

    // TOKEN=$(graph-photo token --user AdeleV@contoso.onmicrosoft.com --scopes "User.ReadWrite")
    let token = cli_token(
        data.path(),
        &["--user", seed::ADELE_UPN, "--scopes", "User.ReadWrite"],
    );
    let value = server.url("/v1.0/me/photo/$value");

    let photo = jpeg(120, 90, 1);
    let resp = http
        .put(&value)
        .bearer_auth(&token)
        .body(photo.clone())
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("content-type").is_none());
    assert_eq!(resp.headers()["content-length"], "0");
    let etag = resp.headers()["etag"].to_str().unwrap().to_owned();
    let resp = http.get(&value).bearer_auth(&token).send().unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(resp.bytes().unwrap(), photo);

    // curl -T photo.jpg -H "Authorization: Bearer $TOKEN" 'http://.../v1.0/me/photo/$value'
    let (mut expected, mut expected_id) = (photo, "120x90");
    if curl_installed() {
        let photo = jpeg(100, 100, 2);
        std::fs::write(work.path().join("photo.jpg"), &photo).unwrap();
        let script = format!(
            "curl -sS -w '%{{http_code}}' -T photo.jpg -H \"Authorization: Bearer $TOKEN\" '{value}'"
        );
        let output = Command::new("sh")
            .args(["-c", &script])
            .current_dir(work.path())
            .env("TOKEN", &token)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            "200",
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        (expected, expected_id) = (photo, "100x100");
    } else {
        eprintln!("curl is not installed: the literal curl step is skipped");
    }
    let resp = http.get(&value).bearer_auth(&token).send().unwrap();
    assert_eq!(resp.bytes().unwrap(), expected);

    // The banner's token works too (it is Adele's, with User.ReadWrite among its scopes).
    let resp = http
        .get(server.url("/v1.0/me/photo"))
        .bearer_auth(&banner_token)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let meta: serde_json::Value = resp.json().unwrap();
    assert_eq!(meta["id"], expected_id);
    assert!(meta["@odata.context"]
        .as_str()
        .unwrap()
        .contains(&format!("users('{}')", seed::ADELE_ID)));

    // An application token from the CLI, on the group.
    let app_token = cli_token(
        data.path(),
        &["--app", "--roles", "ProfilePhoto.ReadWrite.All"],
    );
    let group = server.url(&format!(
        "/beta/groups/{}/photo/$value",
        seed::MARKETING_GROUP_ID
    ));
    let resp = http
        .put(&group)
        .bearer_auth(&app_token)
        .body(jpeg(64, 64, 3))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);

    // A bad token is refused as Graph refuses it.
    let resp = http.get(&value).bearer_auth("nope").send().unwrap();
    assert_eq!(resp.status(), 401);
    let error: serde_json::Value = resp.json().unwrap();
    assert_eq!(error["error"]["code"], "InvalidAuthenticationToken");

    // SIGTERM: a graceful stop, exit status 0, even with the client's connection still open.
    let status = server.terminate();
    assert!(status.success(), "exit status {status}");

    // Same data directory: same key, so tokens minted before the restart still work.
    let server = Server::start(data.path(), &[]);
    assert_eq!(
        std::fs::read(&key_file).unwrap(),
        key_before,
        "the key changed"
    );
    let value = server.url("/v1.0/me/photo/$value");
    // Photos live in the SQLite file of the data directory: still there after the restart,
    // and the token minted before it is accepted.
    assert!(data.path().join("graph-photo.db").exists());
    let resp = http.get(&value).bearer_auth(&token).send().unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().unwrap(), expected);
    let photo = jpeg(80, 80, 4);
    let resp = http
        .put(&value)
        .bearer_auth(&token)
        .body(photo.clone())
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = http.get(&value).bearer_auth(&banner_token).send().unwrap();
    assert_eq!(resp.bytes().unwrap(), photo);
    let status = server.terminate();
    assert!(status.success(), "exit status {status}");
}
