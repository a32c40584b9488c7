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

/// Two blocks of different owners that overlap, if any: indices into `blocks`.
///
/// O(n log n): sorted by first address, each block is compared with the
/// furthest-reaching earlier block of another owner — which reaches it if any
/// earlier block of another owner does. (Blocks of one owner, a subnet's own
/// prefixes, are not compared with each other.)
pub fn first_overlap<O: PartialEq>(blocks: &[(O, Cidr)]) -> Option<(usize, usize)> {
    let mut order: Vec<usize> = (0..blocks.len()).collect();
    order.sort_by_key(|&i| blocks[i].1.range());
    // The earlier block that reaches furthest, and the furthest-reaching one
    // among the other owners than its owner.
    let mut best: Option<usize> = None;
    let mut runner_up: Option<usize> = None;
    let end = |i: usize| blocks[i].1.range().1;
    for &i in &order {
        let (start, _) = blocks[i].1.range();
        let other = match best {
            Some(b) if blocks[b].0 != blocks[i].0 => Some(b),
            _ => runner_up,
        };
        if let Some(o) = other.filter(|&o| end(o) >= start) {
            return Some((o, i));
        }
        match best {
            Some(b) if end(i) <= end(b) => {
                if blocks[b].0 != blocks[i].0 && runner_up.is_none_or(|r| end(i) > end(r)) {
                    runner_up = Some(i);
                }
            }
            Some(b) => {
                if blocks[b].0 != blocks[i].0 {
                    runner_up = Some(b);
                }
                best = Some(i);
            }
            None => best = Some(i),
        }
    }
    None
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

    /// Blocks inside 10.0.0.0/16, so that random ones often overlap.
    fn arb_small_cidr() -> impl Strategy<Value = Cidr> {
        (any::<u16>(), 16u8..=28).prop_map(|(low, p)| {
            let mask = u32::MAX << (32 - p);
            Cidr {
                net: (0x0a00_0000 | u32::from(low)) & mask,
                prefix: p,
            }
        })
    }

    #[test]
    fn first_overlap_names_the_pair() {
        let c = |s: &str| Cidr::parse(s).unwrap();
        let blocks = [
            ("a", c("10.0.0.0/24")),
            ("b", c("10.0.1.0/24")),
            ("a", c("10.0.0.0/25")),
            ("c", c("10.0.1.128/25")),
        ];
        assert_eq!(first_overlap(&blocks), Some((1, 3)));
        assert_eq!(first_overlap(&blocks[..3]), None, "one owner's own blocks");
        // Thousands, each its own /28: no overlap, found without comparing all pairs.
        let many: Vec<(usize, Cidr)> = (0..3000u32)
            .map(|i| {
                (
                    i as usize,
                    Cidr {
                        net: 0x0a00_0000 + i * 16,
                        prefix: 28,
                    },
                )
            })
            .rev()
            .collect();
        assert_eq!(first_overlap(&many), None);
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

        /// The sorted check finds an overlap exactly when the all-pairs check does.
        #[test]
        fn first_overlap_agrees_with_all_pairs(
            blocks in prop::collection::vec((0u8..6, arb_small_cidr()), 0..40)
        ) {
            let quadratic = (0..blocks.len()).any(|i| (0..i).any(|j| {
                blocks[i].0 != blocks[j].0 && blocks[i].1.overlaps(&blocks[j].1)
            }));
            let found = first_overlap(&blocks);
            prop_assert_eq!(found.is_some(), quadratic, "{:?}", blocks);
            if let Some((a, b)) = found {
                prop_assert!(blocks[a].0 != blocks[b].0);
                prop_assert!(blocks[a].1.overlaps(&blocks[b].1));
            }
        }

        #[test]
        fn parse_never_panics(s in "[0-9./]{0,24}") {
            let _ = Cidr::parse(&s);
        }
    }
}
