//! The VPN address plan. (STUB — being written by the rules helper.)
