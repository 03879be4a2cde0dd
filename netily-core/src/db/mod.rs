//! All PostgreSQL access. (STUB — being written by the data helper.)
