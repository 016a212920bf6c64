//! placeholder
/// placeholder
pub fn demo() {}
