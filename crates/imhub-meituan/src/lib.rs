//! imhub's meituan adapter.
