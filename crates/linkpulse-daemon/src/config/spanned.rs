//! A value with the place in the file it came from: what every validator reports lines with.

/// A value with the place in the file it came from.
pub(crate) type S<T> = serde_saphyr::Spanned<T>;
