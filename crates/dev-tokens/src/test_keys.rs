//! Committed, test-only signing keys (feature `test-key`).
//!
//! These private keys are public in the repository: they sign tokens in tests and nowhere
//! else. They exist because generating an RSA-2048 key costs seconds in a debug build and the
//! tests would otherwise generate dozens per run. Only dev-dependencies enable the feature, so
//! no binary carries them.

use std::sync::OnceLock;

use super::DevKey;

/// The test key as a PKCS#8 PEM: what tests copy into a data directory as
/// [`DEV_KEY_FILE_NAME`](super::DEV_KEY_FILE_NAME) so that `graph-photo serve` loads it instead
/// of generating one. TEST ONLY.
pub const TEST_KEY_PEM: &str = include_str!("test_key.pem");
/// A second test key: "a key the server does not know". TEST ONLY.
pub const OTHER_TEST_KEY_PEM: &str = include_str!("other_test_key.pem");
/// A third test key, for JWKS sources that gain keys over time. TEST ONLY.
pub const THIRD_TEST_KEY_PEM: &str = include_str!("third_test_key.pem");

fn parsed(cell: &'static OnceLock<DevKey>, pem: &str) -> &'static DevKey {
    cell.get_or_init(|| {
        // A committed constant that the crate's own tests parse: failing here is a broken
        // checkout, not an input error.
        #[allow(clippy::expect_used)]
        DevKey::from_pem(pem).expect("the committed test key parses")
    })
}

impl DevKey {
    /// The committed test key ([`TEST_KEY_PEM`]). TEST ONLY.
    pub fn test_key() -> &'static DevKey {
        static KEY: OnceLock<DevKey> = OnceLock::new();
        parsed(&KEY, TEST_KEY_PEM)
    }

    /// A second committed test key, which a server given [`DevKey::test_key`] does not know
    /// ([`OTHER_TEST_KEY_PEM`]). TEST ONLY.
    pub fn other_test_key() -> &'static DevKey {
        static KEY: OnceLock<DevKey> = OnceLock::new();
        parsed(&KEY, OTHER_TEST_KEY_PEM)
    }

    /// A third committed test key ([`THIRD_TEST_KEY_PEM`]). TEST ONLY.
    pub fn third_test_key() -> &'static DevKey {
        static KEY: OnceLock<DevKey> = OnceLock::new();
        parsed(&KEY, THIRD_TEST_KEY_PEM)
    }
}
