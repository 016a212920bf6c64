//! The can format (placeholder until the writer lands).
