//! The routing engine. (The router issue fills this crate.)
