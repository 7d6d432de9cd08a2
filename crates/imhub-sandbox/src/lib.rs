//! An emulator of the platforms imhub talks to, at the HTTP level: the same
//! paths, field names, signatures, encryption, error codes and rate limits as
//! `shared/reference/` describes, plus simulated customers who push to imhub.
//! Tests, benchmarks and `imhub demo` point channels at it instead of the
//! real platforms, which cannot be reached from here.

pub mod douyin;
pub mod meituan;
pub mod tencent;
