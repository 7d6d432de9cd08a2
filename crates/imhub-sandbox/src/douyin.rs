//! The douyin part of the sandbox.
