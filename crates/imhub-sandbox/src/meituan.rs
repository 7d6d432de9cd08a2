//! The meituan part of the sandbox.
