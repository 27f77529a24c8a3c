//! Human-readable meanings of ICMP error types and codes (RFC 792, RFC 1812, RFC 4443).

use super::packet::{
    V4_DEST_UNREACH, V4_TIME_EXCEEDED, V6_DEST_UNREACH, V6_PACKET_TOO_BIG, V6_TIME_EXCEEDED,
    Version,
};

/// What an ICMP error of `icmp_type`/`code` says, in the words `ping` uses.
pub(crate) fn meaning(version: Version, icmp_type: u8, code: u8) -> String {
    let text = match (version, icmp_type) {
        (Version::V4, V4_DEST_UNREACH) => match code {
            0 => "network unreachable",
            1 => "host unreachable",
            2 => "protocol unreachable",
            3 => "port unreachable",
            4 => "fragmentation needed",
            5 => "source route failed",
            6 => "destination network unknown",
            7 => "destination host unknown",
            8 => "source host isolated",
            9 => "network administratively prohibited",
            10 => "host administratively prohibited",
            11 => "network unreachable for type of service",
            12 => "host unreachable for type of service",
            13 => "communication administratively prohibited",
            14 => "host precedence violation",
            15 => "precedence cutoff in effect",
            _ => return format!("destination unreachable (code {code})"),
        },
        (Version::V4, V4_TIME_EXCEEDED) | (Version::V6, V6_TIME_EXCEEDED) => match code {
            0 => "time to live exceeded",
            1 => "fragment reassembly time exceeded",
            _ => return format!("time exceeded (code {code})"),
        },
        (Version::V6, V6_DEST_UNREACH) => match code {
            0 => "no route to destination",
            1 => "communication administratively prohibited",
            2 => "beyond scope of source address",
            3 => "address unreachable",
            4 => "port unreachable",
            5 => "source address failed ingress/egress policy",
            6 => "reject route to destination",
            7 => "error in source routing header",
            _ => return format!("destination unreachable (code {code})"),
        },
        (Version::V6, V6_PACKET_TOO_BIG) => "packet too big",
        _ => return format!("ICMP error type {icmp_type} code {code}"),
    };
    text.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_codes_read_like_ping() {
        assert_eq!(meaning(Version::V4, 3, 1), "host unreachable");
        assert_eq!(meaning(Version::V4, 3, 3), "port unreachable");
        assert_eq!(
            meaning(Version::V4, 3, 13),
            "communication administratively prohibited"
        );
        assert_eq!(meaning(Version::V4, 11, 0), "time to live exceeded");
        assert_eq!(meaning(Version::V6, 1, 3), "address unreachable");
        assert_eq!(
            meaning(Version::V6, 1, 1),
            "communication administratively prohibited"
        );
        assert_eq!(meaning(Version::V6, 3, 0), "time to live exceeded");
    }

    #[test]
    fn unknown_codes_name_their_numbers() {
        assert_eq!(
            meaning(Version::V4, 3, 99),
            "destination unreachable (code 99)"
        );
        assert_eq!(meaning(Version::V4, 42, 7), "ICMP error type 42 code 7");
        assert_eq!(
            meaning(Version::V6, 1, 200),
            "destination unreachable (code 200)"
        );
    }
}
