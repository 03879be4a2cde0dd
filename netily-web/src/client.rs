//! The address a request came from. Behind a reverse proxy every request
//! comes from the proxy, so the login limit would count all operators as
//! one address; a proxy named in `web_trusted_proxies` says who its client
//! was in X-Forwarded-For. Only such a proxy is believed: anyone else could
//! write the header to escape the limit.

use std::net::IpAddr;

use axum::http::HeaderMap;

/// The client behind `peer`: walking X-Forwarded-For from the right (each
/// proxy appends the address it saw; what is further left the client may
/// have written), the first address that is not a trusted proxy; `peer`
/// itself when it is not trusted, or when that hop does not parse (junk to
/// its left changes nothing). IPv4 seen as IPv6 (`::ffff:127.0.0.1`, on a
/// `[::]` listener) is compared as IPv4.
pub fn address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|t| t.to_canonical() == *ip);
    if !is_trusted(&peer) {
        return peer;
    }
    let lines: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| v.to_str().unwrap_or(""))
        .collect();
    for hop in lines.iter().rev().flat_map(|l| l.rsplit(',')) {
        let Ok(ip) = hop.trim().parse::<IpAddr>().map(|ip| ip.to_canonical()) else {
            return peer;
        };
        if !is_trusted(&ip) {
            return ip;
        }
    }
    peer
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_a_trusted_proxy_names_the_client_and_only_its_own_hop_counts() {
        let proxy = [ip("127.0.0.1")];
        let h = headers(&["203.0.113.9"]);
        assert_eq!(address(ip("127.0.0.1"), &h, &proxy), ip("203.0.113.9"));
        // Not a trusted proxy: the header is anyone's.
        assert_eq!(address(ip("198.51.100.1"), &h, &proxy), ip("198.51.100.1"));
        assert_eq!(address(ip("127.0.0.1"), &h, &[]), ip("127.0.0.1"));
        // A client writing its own header: the proxy's append is believed.
        let h = headers(&["10.9.9.9, 203.0.113.9"]);
        assert_eq!(address(ip("127.0.0.1"), &h, &proxy), ip("203.0.113.9"));
        // Two trusted proxies in a row, the header split over two lines.
        let two = [ip("127.0.0.1"), ip("192.0.2.1")];
        let h = headers(&["203.0.113.9", "192.0.2.1"]);
        assert_eq!(address(ip("127.0.0.1"), &h, &two), ip("203.0.113.9"));
        // Junk written by the client, left of the proxy's hop, changes
        // nothing; junk in the proxy's own hop, or no header: the proxy.
        let h = headers(&["junk, 203.0.113.9"]);
        assert_eq!(address(ip("127.0.0.1"), &h, &proxy), ip("203.0.113.9"));
        let h = headers(&["junk", "203.0.113.9"]);
        assert_eq!(address(ip("127.0.0.1"), &h, &proxy), ip("203.0.113.9"));
        for bad in [vec!["not an address"], vec![], vec!["203.0.113.9, ,"]] {
            assert_eq!(
                address(ip("127.0.0.1"), &headers(&bad), &proxy),
                ip("127.0.0.1")
            );
        }
        // A [::] listener sees IPv4 clients as ::ffff:a.b.c.d.
        let h = headers(&["::ffff:203.0.113.9"]);
        assert_eq!(
            address(ip("::ffff:127.0.0.1"), &h, &proxy),
            ip("203.0.113.9")
        );
    }
}
