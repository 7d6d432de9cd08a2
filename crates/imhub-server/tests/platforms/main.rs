//! Each platform end to end through imhub against its sandbox: pushes in,
//! replies out, over real HTTP. One test binary for all three, so the
//! 2-core machines link it once.

mod douyin;
mod meituan;
mod tencent;
