//! imhub's douyin adapter.
