//! `sockaddr_in` / `sockaddr_in6` decoded from bytes the kernel wrote, with every length
//! checked first (no `unsafe`: the fields are read by offset from the C layout).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// `sizeof(struct sockaddr_in)`.
const IN_LEN: usize = 16;
/// `sizeof(struct sockaddr_in6)`.
const IN6_LEN: usize = 28;

fn array<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at + N)?.try_into().ok()
}

/// Decodes an IPv4 or IPv6 socket address; `None` for another family or too few bytes.
pub(crate) fn decode(bytes: &[u8]) -> Option<SocketAddr> {
    let family = i32::from(u16::from_ne_bytes(array(bytes, 0)?));
    // sin_port / sin6_port: network byte order, right after the family.
    let port = u16::from_be_bytes(array(bytes, 2)?);
    if family == libc::AF_INET && bytes.len() >= IN_LEN {
        let ip = Ipv4Addr::from(array::<4>(bytes, 4)?);
        Some(SocketAddr::V4(SocketAddrV4::new(ip, port)))
    } else if family == libc::AF_INET6 && bytes.len() >= IN6_LEN {
        let flowinfo = u32::from_ne_bytes(array(bytes, 4)?);
        let ip = Ipv6Addr::from(array::<16>(bytes, 8)?);
        let scope_id = u32::from_ne_bytes(array(bytes, 24)?);
        Some(SocketAddr::V6(SocketAddrV6::new(
            ip, port, flowinfo, scope_id,
        )))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_both_families_and_refuses_short_or_unknown_bytes() {
        let mut v4 = [0u8; IN_LEN];
        v4[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        v4[2..4].copy_from_slice(&7070u16.to_be_bytes());
        v4[4..8].copy_from_slice(&[127, 0, 0, 9]);
        assert_eq!(decode(&v4), Some("127.0.0.9:7070".parse().unwrap()));
        let mut v6 = [0u8; IN6_LEN];
        v6[..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
        v6[2..4].copy_from_slice(&53u16.to_be_bytes());
        v6[23] = 1;
        assert_eq!(decode(&v6), Some("[::1]:53".parse().unwrap()));
        assert_eq!(decode(&v4[..IN_LEN - 1]), None);
        assert_eq!(decode(&v6[..IN6_LEN - 1]), None);
        assert_eq!(decode(&[]), None);
        assert_eq!(decode(&[0xff; 40]), None);
    }
}
