//! Statistics per group (cell, zone, flow) and the accumulator every binning
//! operation shares: counts, value sums and distinct persons per dense group index.
//!
//! May import: nothing from the crate.

use std::hash::{BuildHasherDefault, Hasher};

/// The person index of a row without a person id; never counted as a person.
pub const NO_PERSON: u32 = u32::MAX;

/// Which statistics to compute besides the count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatsSpec {
    /// Count distinct persons (needs a person id column; required for k-anonymity).
    pub distinct: bool,
    /// Sum the value column (and so its mean).
    pub value: bool,
}

/// The statistics of one group of points (a cell, a zone, a flow).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Stats {
    /// Number of points.
    pub count: u64,
    /// Number of distinct persons among them; `None` when not computed. Points without
    /// a person id are not counted.
    pub distinct: Option<u64>,
    /// Sum of the value column over points that have a value; `None` when not computed.
    pub sum: Option<f64>,
    /// Number of points that have a value (the denominator of [`Stats::mean`]).
    pub valued: u64,
}

impl Stats {
    /// Mean of the value column over the points that have one; `None` when no value
    /// was summed or no point had one.
    #[must_use]
    pub fn mean(&self) -> Option<f64> {
        #[expect(
            clippy::cast_precision_loss,
            reason = "counts stay far below 2^53 (rows are u32)"
        )]
        self.sum
            .filter(|_| self.valued > 0)
            .map(|s| s / self.valued as f64)
    }
}

/// Dense accumulator of [`Stats`] for groups `0..len`.
///
/// Counts and sums are added per row; persons are collected as `(group, person)`
/// pairs and counted once at the end by [`distinct_per_group`], which is linear in
/// the number of pairs.
#[derive(Debug)]
pub(crate) struct Accumulator {
    spec: StatsSpec,
    pub(crate) counts: Vec<u64>,
    sums: Vec<f64>,
    valued: Vec<u64>,
    pair_groups: Vec<u32>,
    pair_persons: Vec<u32>,
}

impl Accumulator {
    pub(crate) fn new(spec: StatsSpec, groups: usize) -> Self {
        let value_len = if spec.value { groups } else { 0 };
        Self {
            spec,
            counts: vec![0; groups],
            sums: vec![0.0; value_len],
            valued: vec![0; value_len],
            pair_groups: Vec::new(),
            pair_persons: Vec::new(),
        }
    }

    /// Adds a new group and returns its index.
    pub(crate) fn push_group(&mut self) -> u32 {
        self.counts.push(0);
        if self.spec.value {
            self.sums.push(0.0);
            self.valued.push(0);
        }
        u32::try_from(self.counts.len() - 1).unwrap_or(u32::MAX)
    }

    /// Adds one point to `group`. `value` is NaN when the point has none.
    #[inline]
    pub(crate) fn add(&mut self, group: u32, person: u32, value: f64) {
        let g = group as usize;
        self.counts[g] += 1;
        if self.spec.value && !value.is_nan() {
            self.sums[g] += value;
            self.valued[g] += 1;
        }
        if self.spec.distinct {
            self.pair_groups.push(group);
            self.pair_persons.push(person);
        }
    }

    /// The statistics of every group, in group order.
    pub(crate) fn finish(self, persons: u32) -> Vec<Stats> {
        let distinct = self.spec.distinct.then(|| {
            distinct_per_group(
                &self.pair_groups,
                &self.pair_persons,
                self.counts.len(),
                persons,
            )
        });
        (0..self.counts.len())
            .map(|g| Stats {
                count: self.counts[g],
                distinct: distinct.as_ref().map(|d| u64::from(d[g])),
                sum: self.spec.value.then(|| self.sums[g]),
                valued: if self.spec.value { self.valued[g] } else { 0 },
            })
            .collect()
    }
}

/// The number of distinct persons per group, given one `(group, person)` pair per
/// point. Persons are dense indices below `persons`; [`NO_PERSON`] is skipped.
///
/// Linear time: a counting sort groups the persons by group, then a stamp per person
/// (the last group it was counted in) counts each person once per group without
/// hashing or sorting persons.
pub(crate) fn distinct_per_group(
    groups: &[u32],
    persons_of: &[u32],
    n_groups: usize,
    persons: u32,
) -> Vec<u32> {
    let mut start = vec![0usize; n_groups + 1];
    for &g in groups {
        start[g as usize + 1] += 1;
    }
    for i in 0..n_groups {
        start[i + 1] += start[i];
    }
    let mut next = start.clone();
    let mut grouped = vec![NO_PERSON; groups.len()];
    for (&g, &p) in groups.iter().zip(persons_of) {
        let slot = &mut next[g as usize];
        grouped[*slot] = p;
        *slot += 1;
    }
    distinct_in_groups(&grouped, &start, persons)
}

/// The number of distinct persons per group, for persons already grouped:
/// group `g` is `grouped[start[g]..start[g + 1]]`.
pub(crate) fn distinct_in_groups(grouped: &[u32], start: &[usize], persons: u32) -> Vec<u32> {
    distinct_in_group_sets(&[(grouped, start)], persons)
}

/// Distinct persons per group over several groupings of the same groups (one per
/// thread that grouped a part of the rows): group `g` is the union of its slices.
pub(crate) fn distinct_in_group_sets(sets: &[(&[u32], &[usize])], persons: u32) -> Vec<u32> {
    let mut stamp = vec![u32::MAX; persons as usize];
    let groups = sets
        .first()
        .map_or(0, |(_, start)| start.len().saturating_sub(1));
    let mut out = vec![0u32; groups];
    for (g, d) in out.iter_mut().enumerate() {
        // Groups are numbered below u32::MAX, which stays free as "never seen".
        let mark = u32::try_from(g).unwrap_or(u32::MAX - 1);
        for (grouped, start) in sets {
            for &p in &grouped[start[g]..start[g + 1]] {
                if let Some(s) = stamp.get_mut(p as usize)
                    && *s != mark
                {
                    *s = mark;
                    *d += 1;
                }
            }
        }
    }
    out
}

/// A fast hasher for keys that are already well-mixed integers (H3 cell indices,
/// packed flow keys). Not DoS-resistant, which is fine: keys come from our own
/// computation, not from the client.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IntHasher(u64);

impl Hasher for IntHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        // Fibonacci hashing of the folded value: hashbrown takes the top 7 bits as
        // control bytes and the low bits as bucket, so both must depend on every bit.
        let folded = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = folded ^ (folded >> 29);
    }
}

/// A `HashMap` builder using [`IntHasher`].
pub(crate) type IntBuildHasher = BuildHasherDefault<IntHasher>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_counts_each_person_once_per_group() {
        let groups = [0, 1, 0, 0, 2, 1, 1];
        let persons = [5, 5, 5, 3, NO_PERSON, 2, 5];
        assert_eq!(
            distinct_per_group(&groups, &persons, 4, 6),
            vec![2, 2, 0, 0]
        );
    }

    #[test]
    fn accumulator_sums_means_and_distinct() {
        let spec = StatsSpec {
            distinct: true,
            value: true,
        };
        let mut acc = Accumulator::new(spec, 2);
        acc.add(0, 0, 1.0);
        acc.add(0, 0, f64::NAN);
        acc.add(0, 1, 3.0);
        acc.add(1, NO_PERSON, 10.0);
        let stats = acc.finish(2);
        assert_eq!(
            stats[0],
            Stats {
                count: 3,
                distinct: Some(2),
                sum: Some(4.0),
                valued: 2
            }
        );
        assert_eq!(stats[0].mean(), Some(2.0));
        assert_eq!(stats[1].distinct, Some(0));
        assert_eq!(stats[1].mean(), Some(10.0));
    }
}
