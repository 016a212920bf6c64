//! Importer behaviour beyond the vectors.
