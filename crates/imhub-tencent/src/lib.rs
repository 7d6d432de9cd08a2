//! imhub's tencent adapter.
