//! The real-world check (placeholder).
