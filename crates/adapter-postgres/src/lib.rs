//! PostgreSQL adapter (in progress).
