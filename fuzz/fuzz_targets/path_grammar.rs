//! The path grammar: `Route::parse_path` on any path, then `.operation(method)`.
//! Invariants: no panic; a parsed route's canonical path parses back to the same route.
#![no_main]

use libfuzzer_sys::fuzz_target;
use photo_core::target::Route;

const METHODS: [&str; 8] = [
    "GET", "PUT", "PATCH", "DELETE", "POST", "HEAD", "OPTIONS", "get",
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, path)) = data.split_first() else {
        return;
    };
    let Ok(path) = std::str::from_utf8(path) else {
        return;
    };
    let method = METHODS[usize::from(selector) % METHODS.len()];
    if let Ok(route) = Route::parse_path(path) {
        let canonical = route.path();
        let reparsed = Route::parse_path(&canonical).ok();
        assert_eq!(reparsed.as_ref(), Some(&route), "{path:?} -> {canonical:?}");
        let _ = route.operation(method);
    }
});
