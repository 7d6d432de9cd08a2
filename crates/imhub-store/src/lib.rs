//! imhub-store
