//! `If-Match` / `If-None-Match` values: `TagCondition::parse` and its matching.
//! Invariants: no panic; a listed strong tag matches strongly and weakly, a listed weak tag only
//! weakly; `*` matches any current tag and nothing when there is none; a malformed value matches
//! nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use photo_core::etag::{ETag, TagCondition};

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    let condition = TagCondition::parse(value);
    let other = ETag::for_content(data);
    assert!(!condition.matches_strong(None));
    match &condition {
        TagCondition::Any => {
            assert!(condition.matches_strong(Some(&other)));
            assert!(condition.matches_weak(&other));
        }
        TagCondition::Tags(tags) => {
            for tag in tags {
                let current = ETag::new(tag.opaque.clone());
                assert!(condition.matches_weak(&current));
                if !tag.weak {
                    assert!(condition.matches_strong(Some(&current)));
                }
            }
            let listed = tags.iter().any(|t| t.opaque == other.opaque());
            assert_eq!(condition.matches_weak(&other), listed);
        }
        TagCondition::Malformed => {
            assert!(!condition.matches_strong(Some(&other)));
            assert!(!condition.matches_weak(&other));
        }
    }
    let _ = condition.to_precondition();
});
