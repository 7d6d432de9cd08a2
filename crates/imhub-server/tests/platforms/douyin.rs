//! Douyin through imhub against the sandbox.
