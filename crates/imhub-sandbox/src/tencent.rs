//! The tencent part of the sandbox.
