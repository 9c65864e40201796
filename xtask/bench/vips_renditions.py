#!/usr/bin/env python3
"""The libvips baseline of `cargo xtask bench` (see docs/PERFORMANCE.md).

Makes the nine square renditions (48..648, centre-cropped, JPEG Q85) of one JPEG with libvips,
two ways, timing only the work inside this process (the input already in memory):

  per-size     the idiomatic way: for each size, thumbnail_buffer(size, crop="centre") (which
               shrinks on load: the JPEG is decoded at 1/2, 1/4 or 1/8 scale) + jpegsave_buffer;
  decode-once  thumbnail_buffer to the largest size once (shrink-on-load too), copied to memory,
               then each smaller size resized from the previous one in memory (as render_all
               does) + jpegsave_buffer.

The operation cache is off, so that no run reuses another's result. Thread count: libvips reads
VIPS_CONCURRENCY (`cargo xtask bench` sets it to the number of cores). Writes a JSON report.
"""

import argparse
import json
import os
import statistics
import sys
import time

import pyvips

SIZES = [48, 64, 96, 120, 240, 360, 432, 504, 648]
QUALITY = 85
WARM_UPS = 2


def save(image):
    # strip: no metadata in the output, as render_all's renditions carry none.
    return image.jpegsave_buffer(Q=QUALITY, strip=True)


def per_size(data):
    return [
        save(pyvips.Image.thumbnail_buffer(data, s, height=s, crop="centre"))
        for s in SIZES
    ]


def decode_once(data):
    # Like render_all: the largest once (shrink-on-load), then each size from the previous,
    # larger one (resize: Lanczos3, libvips's default kernel), in memory. Faster than deriving
    # each from the largest, so the more conservative baseline.
    current = pyvips.Image.thumbnail_buffer(
        data, SIZES[-1], height=SIZES[-1], crop="centre"
    ).copy_memory()
    out = {current.width: save(current)}
    for s in reversed(SIZES[:-1]):
        current = current.resize(s / current.width).copy_memory()
        out[s] = save(current)
    return [out[s] for s in SIZES]


def full_decode(data):
    # For reference only: the whole JPEG at full size into memory (no shrink-on-load).
    return pyvips.Image.new_from_buffer(data, "", access="sequential").copy_memory()


def scaled_decode(data):
    # For reference only: the JPEG decoded at 1/4 scale during the IDCT (what thumbnail_buffer
    # does for 3000 -> 648: 750 is the smallest JPEG scale >= 648).
    return pyvips.Image.new_from_buffer(
        data, "", access="sequential", shrink=4
    ).copy_memory()


VARIANTS = {"per-size": per_size, "decode-once": decode_once}


def describe(outputs):
    described = []
    for side, jpeg in zip(SIZES, outputs):
        header = pyvips.Image.new_from_buffer(jpeg, "")
        described.append(
            {
                "side": side,
                "width": header.width,
                "height": header.height,
                "format": "jpeg",
                "bytes": len(jpeg),
            }
        )
    return described


def stats(samples):
    return {
        "samples_ms": samples,
        "median_ms": statistics.median(samples),
        "min_ms": min(samples),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True)
    parser.add_argument("--json", required=True, help="where to write the report")
    parser.add_argument("--out-dir", required=True, help="where to write the renditions")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    pyvips.cache_set_max(0)
    with open(args.input, "rb") as f:
        data = f.read()

    report = {
        "tool": "libvips via pyvips",
        "libvips": "%d.%d.%d" % (pyvips.version(0), pyvips.version(1), pyvips.version(2)),
        "pyvips": pyvips.__version__,
        "pyvips_api_mode": bool(pyvips.API_mode),
        "vips_concurrency": os.environ.get("VIPS_CONCURRENCY"),
        "input_bytes": len(data),
        "warm_ups": WARM_UPS,
        "runs": args.runs,
        "variants": {},
    }

    for name, make in VARIANTS.items():
        outputs = make(data)
        directory = os.path.join(args.out_dir, name)
        os.makedirs(directory, exist_ok=True)
        for side, jpeg in zip(SIZES, outputs):
            with open(os.path.join(directory, "%dx%d.jpg" % (side, side)), "wb") as f:
                f.write(jpeg)
        report["variants"][name] = {"outputs": describe(outputs)}
        for _ in range(WARM_UPS):
            make(data)

    # Interleaved, so that a slow spell of the machine hurts both variants alike.
    samples = {name: [] for name in VARIANTS}
    for _ in range(args.runs):
        for name, make in VARIANTS.items():
            start = time.perf_counter()
            outputs = make(data)
            samples[name].append((time.perf_counter() - start) * 1000.0)
            if len(outputs) != len(SIZES):
                sys.exit("%s made %d outputs" % (name, len(outputs)))
    for name in VARIANTS:
        report["variants"][name].update(stats(samples[name]))

    for key, decode, what in [
        (
            "decode_only",
            full_decode,
            "new_from_buffer + copy_memory at full size (libjpeg-turbo, no shrink-on-load)",
        ),
        (
            "decode_quarter",
            scaled_decode,
            "new_from_buffer(shrink=4) + copy_memory: DCT-scaled decode to 750x750",
        ),
    ]:
        samples = []
        for _ in range(min(args.runs, 7)):
            start = time.perf_counter()
            decode(data)
            samples.append((time.perf_counter() - start) * 1000.0)
        report[key] = {
            "what": what,
            "runs": len(samples),
            "median_ms": statistics.median(samples),
            "min_ms": min(samples),
        }

    with open(args.json, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    for name in VARIANTS:
        v = report["variants"][name]
        print(
            "libvips %-11s all %d sizes: median %.1f ms, min %.1f ms over %d runs"
            % (name, len(SIZES), v["median_ms"], v["min_ms"], args.runs)
        )
    print(
        "libvips decode alone: full size median %.1f ms, at 1/4 scale median %.1f ms"
        % (report["decode_only"]["median_ms"], report["decode_quarter"]["median_ms"])
    )


if __name__ == "__main__":
    main()
