//! Benchmark of [`photo_render::render_all`] on a 3000x3000 photo-like JPEG of about
//! 4 MB, all nine sizes. `cargo xtask bench` runs it and then the libvips baseline on the same
//! input; see `docs/PERFORMANCE.md`.
//!
//! `cargo bench -p photo-render --bench renditions`:
//! 1. generates the input deterministically (smooth gradients, soft shapes, a textured band and
//!    sensor-like noise, baseline JPEG, 4:2:0, quality 93) and writes it to
//!    `<bench dir>/input-3000.jpg`;
//! 2. renders it once and checks the result (nine renditions, each decoding to `side` x `side`),
//!    writing them to `<bench dir>/ours/`;
//! 3. warms up, then times `render_all` (wall clock, the input already in memory) `BENCH_RUNS`
//!    times (default 15, at least 7), and times a full decode of the input alone for reference;
//! 4. writes `<bench dir>/ours.json` and prints a summary.
//!
//! The bench directory is `$GRAPH_PHOTO_BENCH_DIR`, else `target/bench` of the workspace.

use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use test_images::{median_ms, min_ms, ms};

use image::GenericImageView;
use photo_core::renditions::{RenditionFormat, PHOTO_SIZES};
use photo_render::render_all;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// Side of the generated original.
const SIDE: u32 = 3000;
/// Its JPEG quality: what a phone or camera writes at its "fine" setting.
const INPUT_QUALITY: u8 = 93;
/// The input must stay under the upload limit (4 MiB) ...
const MAX_INPUT_BYTES: usize = photo_core::limits::MAX_PHOTO_BYTES;
/// ... and be at least this large, to stand for a real 9-megapixel photo.
const MIN_INPUT_BYTES: usize = 3_500_000;
/// Untimed runs before the timed ones.
const WARM_UPS: usize = 2;
const DEFAULT_RUNS: usize = 15;
const MIN_RUNS: usize = 7;

fn main() -> Result<()> {
    let dir = bench_dir();
    let runs = runs()?;
    fs::create_dir_all(dir.join("ours"))?;

    let made = Instant::now();
    let input = photo_jpeg()?;
    let input_path = dir.join("input-3000.jpg");
    fs::write(&input_path, &input)?;
    println!(
        "input: {} ({SIDE}x{SIDE}, {} bytes, quality {INPUT_QUALITY}, 4:2:0; generated in {:.1} s)",
        input_path.display(),
        input.len(),
        made.elapsed().as_secs_f64()
    );

    let outputs = check_outputs(&input, &dir)?;

    for _ in 0..WARM_UPS {
        render_all(&input)?;
    }
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let set = render_all(&input)?;
        samples.push(start.elapsed());
        drop(set);
    }
    // For reference: the full-size decode alone (what render_all starts with).
    let mut decode = Vec::with_capacity(runs);
    for _ in 0..runs.min(MIN_RUNS) {
        let start = Instant::now();
        let image = image::load_from_memory(&input)?;
        decode.push(start.elapsed());
        drop(image);
    }

    let (median, min) = (median_ms(&samples), min_ms(&samples));
    let decode_median = median_ms(&decode);
    let report = serde_json::json!({
        "tool": "photo_render::render_all",
        "input": {
            "path": input_path.display().to_string(),
            "bytes": input.len(),
            "width": SIDE,
            "height": SIDE,
            "quality": INPUT_QUALITY,
            "subsampling": "4:2:0",
        },
        "threads": 2,
        "warm_ups": WARM_UPS,
        "runs": runs,
        "samples_ms": samples.iter().map(|d| ms(*d)).collect::<Vec<_>>(),
        "median_ms": median,
        "min_ms": min,
        "decode_only": {
            "what": "image::load_from_memory of the input (zune-jpeg, full size)",
            "runs": decode.len(),
            "median_ms": decode_median,
            "min_ms": min_ms(&decode),
        },
        "outputs": outputs,
    });
    let json_path = dir.join("ours.json");
    fs::write(&json_path, serde_json::to_string_pretty(&report)? + "\n")?;
    println!(
        "render_all, all {} sizes: median {median:.1} ms, min {min:.1} ms over {runs} runs \
         (full decode alone: median {decode_median:.1} ms)",
        PHOTO_SIZES.len()
    );
    println!("wrote {}", json_path.display());
    Ok(())
}

/// `$GRAPH_PHOTO_BENCH_DIR`, else `<workspace>/target/bench`.
fn bench_dir() -> PathBuf {
    match std::env::var_os("GRAPH_PHOTO_BENCH_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
            // crates/photo-core -> the workspace root.
            let root = manifest.ancestors().nth(2).unwrap_or(manifest);
            root.join("target").join("bench")
        }
    }
}

/// `$BENCH_RUNS`, else 15; at least 7.
fn runs() -> Result<usize> {
    let runs = match std::env::var("BENCH_RUNS") {
        Ok(value) if !value.is_empty() => value
            .parse::<usize>()
            .map_err(|e| format!("BENCH_RUNS={value:?}: {e}"))?,
        _ => DEFAULT_RUNS,
    };
    if runs < MIN_RUNS {
        return Err(format!("BENCH_RUNS={runs}: at least {MIN_RUNS} runs are needed").into());
    }
    Ok(runs)
}

/// Renders once and checks the renditions: every size, square, decodable. Writes them to
/// `<dir>/ours/` and returns their description for the report.
fn check_outputs(input: &[u8], dir: &Path) -> Result<Vec<serde_json::Value>> {
    let set = render_all(input)?;
    let sides: Vec<u32> = set.renditions.iter().map(|r| r.side).collect();
    if sides != PHOTO_SIZES {
        return Err(format!("render_all made sizes {sides:?}, expected {PHOTO_SIZES:?}").into());
    }
    let mut outputs = Vec::new();
    for rendition in &set.renditions {
        if rendition.format != RenditionFormat::Jpeg {
            return Err(format!("{}: {:?}, not JPEG", rendition.side, rendition.format).into());
        }
        let decoded = image::load_from_memory(&rendition.bytes)?;
        let (width, height) = decoded.dimensions();
        if (width, height) != (rendition.side, rendition.side) {
            return Err(format!("{}: decodes to {width}x{height}", rendition.side).into());
        }
        let side = rendition.side;
        fs::write(
            dir.join("ours").join(format!("{side}x{side}.jpg")),
            &rendition.bytes,
        )?;
        outputs.push(serde_json::json!({
            "side": side,
            "width": width,
            "height": height,
            "format": "jpeg",
            "bytes": rendition.bytes.len(),
        }));
    }
    Ok(outputs)
}

/// The photo-like picture of `test_images::photo_pixels` (shared with the HTTP benchmark's
/// uploads), encoded as a baseline 4:2:0 JPEG of about 4 MB.
fn photo_jpeg() -> Result<Vec<u8>> {
    let out = test_images::photo_jpeg(SIDE as u16, INPUT_QUALITY);
    if !(MIN_INPUT_BYTES..=MAX_INPUT_BYTES).contains(&out.len()) {
        return Err(format!(
            "the generated input is {} bytes, outside {MIN_INPUT_BYTES}..={MAX_INPUT_BYTES}",
            out.len()
        )
        .into());
    }
    Ok(out)
}
