//! The address a request came from. Behind a reverse proxy every request
//! comes from the proxy, so the login limit would count all operators as
//! one address; a proxy named in `web_trusted_proxies` says who its client
//! was in X-Forwarded-For. Only such a proxy is believed: anyone else could
//! write the header to escape the limit.

use std::net::IpAddr;

use axum::http::HeaderMap;

/// The client behind `peer`: the right-most X-Forwarded-For address that
/// is not a trusted proxy (each proxy appends the address it saw, so the
/// ones on the left may be made up by the client), or `peer` itself when
/// it is not trusted or the header does not parse.
pub fn address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let mut hops: Vec<IpAddr> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(text) = value.to_str() else {
            return peer;
        };
        for part in text.split(',') {
            match part.trim().parse() {
                Ok(ip) => hops.push(ip),
                Err(_) => return peer,
            }
        }
    }
    hops.into_iter()
        .rev()
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer)
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
        // Garbage or nothing: the proxy itself.
        for bad in [vec!["not an address"], vec![], vec!["203.0.113.9, ,"]] {
            assert_eq!(
                address(ip("127.0.0.1"), &headers(&bad), &proxy),
                ip("127.0.0.1")
            );
        }
    }
}
