//! Billing rules. (STUB — being written by the rules helper.)
