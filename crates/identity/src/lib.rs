//! cubby-identity
