//! Meituan through imhub against the sandbox.
