//! imhub-server
