//! The order points run in: `--shard I/N` keeps every N-th point (offset I-1) of the plan
//! order, so N shards partition the plan exactly; a seed then shuffles what is kept with a
//! Fisher-Yates shuffle driven by SplitMix64. Both are deterministic: the same plan, shard and
//! seed give the same order on every machine, with no dependency beyond this file.

use super::error::ConfigError;

/// Run shard `index` of `count` (1-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// 1..=count.
    pub index: u32,
    /// Number of shards.
    pub count: u32,
}

impl Shard {
    /// Parses `I/N` with 1 <= I <= N.
    pub fn parse(text: &str) -> Result<Shard, ConfigError> {
        let bad = || ConfigError::BadFlag {
            flag: "--shard",
            value: text.to_string(),
            expected: "I/N with 1 <= I <= N, like 1/4",
        };
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let index: u32 = i.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// The items whose index is `index - 1` modulo `count`, in their order.
    pub fn select<T>(self, items: Vec<T>) -> Vec<T> {
        let (index, count) = (self.index as usize - 1, self.count as usize);
        items
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % count == index)
            .map(|(_, item)| item)
            .collect()
    }
}

/// SplitMix64: a tiny, well-mixed generator, enough to shuffle an order deterministically.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in 0..bound (bound > 0), by rejection so no index is favoured.
    fn below(&mut self, bound: u64) -> u64 {
        let zone = u64::MAX - u64::MAX % bound;
        loop {
            let x = self.next();
            if x < zone {
                return x % bound;
            }
        }
    }
}

/// Fisher-Yates shuffle of `items` driven by `seed`.
pub fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut rng = SplitMix64(seed);
    for i in (1..items.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffle_is_deterministic_and_a_permutation() {
        let original: Vec<u32> = (0..50).collect();
        let mut a = original.clone();
        let mut b = original.clone();
        shuffle(&mut a, 7);
        shuffle(&mut b, 7);
        assert_eq!(a, b, "same seed, same order");
        assert_ne!(a, original, "50 items are not left in order");
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(
            sorted, original,
            "a permutation: nothing lost, nothing repeated"
        );
        let mut c = original.clone();
        shuffle(&mut c, 8);
        assert_ne!(a, c, "another seed, another order");
    }

    #[test]
    fn shards_partition_the_items() {
        let items: Vec<u32> = (0..23).collect();
        for count in 1..=7 {
            let mut all: Vec<u32> = (1..=count)
                .flat_map(|index| Shard { index, count }.select(items.clone()))
                .collect();
            all.sort();
            assert_eq!(all, items, "{count} shards");
        }
        assert_eq!(Shard { index: 2, count: 3 }.select(items)[..3], [1, 4, 7]);
    }

    #[test]
    fn shard_flag_parses_or_says_what_is_expected() {
        assert_eq!(Shard::parse("2/4").unwrap(), Shard { index: 2, count: 4 });
        for bad in ["0/4", "5/4", "1", "a/b", "1/0"] {
            assert_eq!(
                Shard::parse(bad).unwrap_err().to_string(),
                format!("--shard: `{bad}` is not valid; expected I/N with 1 <= I <= N, like 1/4")
            );
        }
    }
}
