//! IPv4 CIDR blocks, as VNets, subnets and IP rules use them.

use std::net::Ipv4Addr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// The network address (host bits cleared).
    pub net: u32,
    pub prefix: u8,
}

impl Cidr {
    /// `10.0.0.0/16`. Host bits must be zero, as Azure requires for address prefixes.
    pub fn parse(s: &str) -> Option<Cidr> {
        let (a, p) = s.trim().split_once('/')?;
        let prefix: u8 = p.parse().ok().filter(|p| *p <= 32)?;
        let ip: Ipv4Addr = a.parse().ok()?;
        let c = Cidr {
            net: u32::from(ip),
            prefix,
        };
        (c.net & c.mask() == c.net).then_some(c)
    }

    pub fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix)
        }
    }

    /// First and last address.
    pub fn range(&self) -> (u32, u32) {
        (self.net, self.net | !self.mask())
    }

    pub fn contains_ip(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == self.net
    }

    /// Is `other` entirely inside `self`?
    pub fn contains(&self, other: &Cidr) -> bool {
        other.prefix >= self.prefix && other.net & self.mask() == self.net
    }

    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.contains(other) || other.contains(self)
    }

    /// The n-th usable host address (Azure reserves the first four and the last).
    pub fn host(&self, n: u32) -> Option<Ipv4Addr> {
        let (first, last) = self.range();
        let ip = first.checked_add(4)?.checked_add(n)?;
        (ip < last).then(|| Ipv4Addr::from(ip))
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.net), self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parsing() {
        assert_eq!(
            Cidr::parse("10.0.0.0/16").unwrap().to_string(),
            "10.0.0.0/16"
        );
        assert!(Cidr::parse("10.0.0.1/16").is_none(), "host bits set");
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert!(Cidr::parse("10.0.0.0").is_none());
        assert!(Cidr::parse("300.0.0.0/8").is_none());
        let v = Cidr::parse("10.0.0.0/16").unwrap();
        assert!(v.contains(&Cidr::parse("10.0.1.0/24").unwrap()));
        assert!(!v.contains(&Cidr::parse("10.1.0.0/24").unwrap()));
        assert_eq!(
            Cidr::parse("10.0.0.0/24").unwrap().host(0),
            Some(Ipv4Addr::new(10, 0, 0, 4))
        );
    }

    fn arb_cidr() -> impl Strategy<Value = Cidr> {
        (any::<u32>(), 0u8..=32).prop_map(|(ip, p)| {
            let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
            Cidr {
                net: ip & mask,
                prefix: p,
            }
        })
    }

    proptest! {
        /// Against the plain definition: ranges of addresses.
        #[test]
        fn containment_and_overlap_match_ranges(a in arb_cidr(), b in arb_cidr()) {
            let (a0, a1) = a.range();
            let (b0, b1) = b.range();
            prop_assert_eq!(a.contains(&b), a0 <= b0 && b1 <= a1);
            prop_assert_eq!(a.overlaps(&b), a0 <= b1 && b0 <= a1);
            prop_assert_eq!(Cidr::parse(&a.to_string()), Some(a));
        }

        #[test]
        fn parse_never_panics(s in "[0-9./]{0,24}") {
            let _ = Cidr::parse(&s);
        }
    }
}
