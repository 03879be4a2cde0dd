//! The one config file. (STUB — being written by the data helper.)
