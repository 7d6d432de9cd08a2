//! Tencent through imhub against the sandbox.
