//! Test harness: guards that start and always stop the real servers.
