//! Upstream choice for the LLM balancer: given the healthy candidates of a pool — each with its
//! weight, open requests, measured latency and price — put them in the order the proxy tries
//! them: the strategy's pick first, then the fallbacks it fails over to before the first byte.
//!
//! Pure: no I/O and no clock. Whatever changes with time (open requests, latency estimates,
//! the current instant) comes in as arguments; the only state is per pool and lives in a
//! [`Selector`] (a round-robin cursor, smooth weighted round-robin counters, a seeded PRNG), so
//! every choice is reproducible from its seed. [`PeakEwma`] turns time-to-first-byte samples
//! into the latency figure the `latency` strategy reads.
//!
//! The strategies (`option strategy` of `config balancer`, overridden by `config route`):
//! - `round_robin`: a rotating cursor; fallbacks follow the rotation.
//! - `weighted`: nginx's smooth weighted round-robin, its counters keyed by endpoint name so a
//!   pool that changes order (health, reload of the pool list) keeps its rhythm.
//! - `least_connections`: fewest open requests first, ties broken at random.
//! - `ip_hash`: rendezvous (highest-random-weight) hashing of the device key, so a device
//!   sticks to one upstream and only the devices of a removed upstream move.
//! - `latency`: power of two choices over peak-EWMA latency × (open requests + 1), after the
//!   never-measured upstreams, which go first so they get measured.
//! - `cost`: cheapest known price first (ties at random), unknown price last.

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use crate::config::Strategy;

/// What a strategy knows about one upstream of the pool when it picks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate<'a> {
    /// The endpoint's section name: its identity beyond its position in the pool, so smooth
    /// weighted counters and ip_hash placements follow the upstream when the pool is reordered
    /// or shrinks; also the deterministic tie-break.
    pub name: &'a str,
    /// Its share of the traffic for `weighted` (and of the devices for `ip_hash`). Config
    /// guarantees at least 1; a 0 counts as 1 so it can neither starve nor divide by zero.
    pub weight: u32,
    /// Requests open to it right now: the load `least_connections` balances, and the queue
    /// that `latency` multiplies the latency estimate by.
    pub in_flight: u32,
    /// Peak-EWMA time to first byte in seconds ([`PeakEwma::value`]); `None` = never measured,
    /// which `latency` ranks first so a new or recovered upstream gets measured.
    pub latency: Option<f64>,
    /// Price of one million input plus one million output tokens, in micro-units of money;
    /// `None` = unknown, which `cost` treats as the most expensive.
    pub cost: Option<u64>,
}

impl Candidate<'_> {
    /// The weight as the strategies use it: at least 1.
    fn share(&self) -> u32 {
        self.weight.max(1)
    }

    /// The latency estimate, with NaN read as "not measured" and a negative value as 0, so a
    /// caller's arithmetic slip cannot break the ordering.
    fn measured_latency(&self) -> Option<f64> {
        self.latency.filter(|l| !l.is_nan()).map(|l| l.max(0.0))
    }
}

/// Per-pool strategy state: which rule to apply and what it must remember between requests.
#[derive(Debug, Clone)]
pub struct Selector {
    /// The rule `rank` applies; fixed for the life of the pool (a reload builds new selectors).
    strategy: Strategy,
    /// `round_robin`: the position that goes first on the next call, kept below the pool size.
    cursor: usize,
    /// `weighted`: the smooth-WRR "current weight" of each upstream, by name, so the sequence
    /// survives a reordered pool; an upstream that leaves the pool leaves its counter behind.
    current: BTreeMap<String, i64>,
    /// Random tie-breaks and power-of-two draws; seeded so tests and replays are reproducible.
    rng: SplitMix64,
}

// === impl Selector ===

impl Selector {
    /// A selector for one pool. Two selectors with the same seed make the same choices.
    pub fn new(strategy: Strategy, seed: u64) -> Self {
        Self {
            strategy,
            cursor: 0,
            current: BTreeMap::new(),
            rng: SplitMix64::new(seed),
        }
    }

    /// The rule this selector applies.
    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// The order in which to try the candidates (indices into `cands`): the strategy's choice
    /// first, then the fallbacks for failover before the first byte. Every index appears once.
    /// `client_key` identifies the device (its MAC or IP string) for ip_hash.
    pub fn rank(&mut self, client_key: &str, cands: &[Candidate<'_>]) -> Vec<usize> {
        match cands.len() {
            0 => return Vec::new(),
            1 => return vec![0],
            _ => {}
        }
        match self.strategy {
            Strategy::RoundRobin => self.round_robin(cands.len()),
            Strategy::Weighted => self.weighted(cands),
            Strategy::LeastConnections => self.least_connections(cands),
            Strategy::IpHash => ip_hash(client_key, cands),
            Strategy::Latency => self.latency(cands),
            Strategy::Cost => self.cost(cands),
        }
    }

    /// Each position goes first in turn; the rest follow in rotation order.
    fn round_robin(&mut self, n: usize) -> Vec<usize> {
        let first = self.cursor % n;
        self.cursor = (first + 1) % n;
        (0..n).map(|k| (first + k) % n).collect()
    }

    /// nginx's smooth weighted round-robin: every upstream's counter grows by its weight, the
    /// highest counter wins and pays back the total. Fallbacks: by descending weight, then by
    /// who is due next (highest counter), so failovers spread too.
    fn weighted(&mut self, cands: &[Candidate<'_>]) -> Vec<usize> {
        self.current
            .retain(|name, _| cands.iter().any(|c| c.name == name));
        let total: i64 = cands.iter().map(|c| i64::from(c.share())).sum();
        for c in cands {
            let w = i64::from(c.share());
            match self.current.get_mut(c.name) {
                Some(cur) => *cur += w,
                None => {
                    self.current.insert(c.name.to_owned(), w);
                }
            }
        }
        // Read back after all increments: duplicate names share one counter.
        let due: Vec<i64> = cands
            .iter()
            .map(|c| self.current.get(c.name).copied().unwrap_or(0))
            .collect();
        // Highest counter wins; equal counters go to the smaller name, whatever the order.
        let winner = (0..cands.len())
            .reduce(|best, i| {
                let better =
                    due[i] > due[best] || (due[i] == due[best] && cands[i].name < cands[best].name);
                if better {
                    i
                } else {
                    best
                }
            })
            .unwrap_or(0);
        if let Some(cur) = self.current.get_mut(cands[winner].name) {
            *cur -= total;
        }
        let mut rest: Vec<usize> = (0..cands.len()).filter(|&i| i != winner).collect();
        rest.sort_by(|&a, &b| {
            cands[b]
                .share()
                .cmp(&cands[a].share())
                .then(due[b].cmp(&due[a]))
                .then(cands[a].name.cmp(cands[b].name))
        });
        let mut order = Vec::with_capacity(cands.len());
        order.push(winner);
        order.extend(rest);
        order
    }

    /// Fewest open requests first; a shuffle before the stable sort breaks ties at random.
    fn least_connections(&mut self, cands: &[Candidate<'_>]) -> Vec<usize> {
        let mut order = self.shuffled(cands.len());
        order.sort_by_key(|&i| cands[i].in_flight);
        order
    }

    /// Never-measured upstreams first (fewest open requests first), then the measured ones:
    /// the better of two drawn at random, then the rest by ascending score.
    fn latency(&mut self, cands: &[Candidate<'_>]) -> Vec<usize> {
        let score = |i: usize| {
            cands[i].measured_latency().unwrap_or(0.0) * (f64::from(cands[i].in_flight) + 1.0)
        };
        let (mut order, mut measured): (Vec<usize>, Vec<usize>) = self
            .shuffled(cands.len())
            .into_iter()
            .partition(|&i| cands[i].measured_latency().is_none());
        order.sort_by_key(|&i| cands[i].in_flight);
        measured.sort_by(|&a, &b| score(a).total_cmp(&score(b)));
        if measured.len() >= 2 {
            // Power of two choices: draw two distinct positions; `measured` is sorted, so the
            // better of the two is the lower position. Move it to the front, keeping the
            // others in ascending order behind it.
            let a = self.rng.below(measured.len());
            let mut b = self.rng.below(measured.len() - 1);
            if b >= a {
                b += 1;
            }
            measured[..=a.min(b)].rotate_right(1);
        }
        order.extend(measured);
        order
    }

    /// Cheapest known price first, unknown last; a shuffle before the stable sort spreads
    /// equal prices at random.
    fn cost(&mut self, cands: &[Candidate<'_>]) -> Vec<usize> {
        let mut order = self.shuffled(cands.len());
        order.sort_by_key(|&i| (cands[i].cost.is_none(), cands[i].cost));
        order
    }

    /// `0..n` in a uniformly random order (Fisher–Yates).
    fn shuffled(&mut self, n: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            order.swap(i, self.rng.below(i + 1));
        }
        order
    }
}

// === ip_hash ===

/// Rendezvous hashing: every upstream scores the device, the highest score wins and the order
/// of scores is the device's failover order. A device's scores do not depend on the other
/// upstreams, so removing one moves only the devices it had, each to its own second choice,
/// and adding one takes over only the devices it outscores.
fn ip_hash(client_key: &str, cands: &[Candidate<'_>]) -> Vec<usize> {
    let scores: Vec<f64> = cands
        .iter()
        .map(|c| rendezvous_score(c.name, client_key, c.share()))
        .collect();
    let mut order: Vec<usize> = (0..cands.len()).collect();
    order.sort_by(|&a, &b| {
        scores[b]
            .total_cmp(&scores[a])
            .then(cands[a].name.cmp(cands[b].name))
    });
    order
}

/// Weighted rendezvous score of `(upstream, device)`: `weight / -ln(u)` with `u` a uniform
/// draw in (0, 1) from the pair's hash, which makes an upstream's share of devices
/// proportional to its weight (Schindelhauer & Schomaker's logarithmic method).
fn rendezvous_score(name: &str, client_key: &str, weight: u32) -> f64 {
    // 52 bits, centred in their interval: 0 < u < 1 exactly, so the logarithm is finite and
    // negative and the score finite and positive.
    let bits = placement_hash(name, client_key) >> 12;
    let u = (bits as f64 + 0.5) / (1u64 << 52) as f64;
    f64::from(weight) / -u.ln()
}

/// A well-mixed 64-bit hash of `(upstream name, device key)`: FNV-1a over both, with a byte
/// that never occurs in UTF-8 between them, then splitmix64's finaliser for avalanche.
/// Fixed by hand rather than `std`'s hasher, whose output may change between Rust releases:
/// changing this function moves every device to a new upstream.
fn placement_hash(name: &str, client_key: &str) -> u64 {
    const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
    let h = name
        .bytes()
        .chain([0xff])
        .chain(client_key.bytes())
        .fold(FNV_OFFSET, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(FNV_PRIME)
        });
    mix64(h)
}

/// splitmix64's output function: a bijection on `u64` where every input bit flips about half
/// of the output bits.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

// === PRNG ===

/// splitmix64 (Steele, Lea & Flood): tiny, fast, fine statistically for tie-breaks and
/// power-of-two draws, and any seed (0 included) is a good one.
#[derive(Debug, Clone)]
struct SplitMix64 {
    /// Advances by the golden-ratio increment on every draw; the output is its mix.
    state: u64,
}

impl SplitMix64 {
    fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.state)
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; the bias is below n / 2^64). `n` must be
    /// at least 1.
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}

// === PeakEwma ===

/// Peak-EWMA of a latency signal (Finagle/linkerd style): rises to a new peak at once, decays
/// exponentially toward lower samples with time constant `tau`.
///
/// Like Finagle's and linkerd's, the estimate also fades toward zero while no sample arrives
/// ([`PeakEwma::value`]): an upstream that lost every power-of-two draw because it was slow
/// looks faster and faster until it wins one and is measured again, so a stale figure cannot
/// exclude it forever. A longer `tau` means steadier estimates and rarer re-probes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeakEwma {
    /// Time constant in seconds: after `tau` without a new peak, the estimate has closed
    /// 1 - 1/e (63%) of the gap to the recent samples.
    tau: f64,
    /// The estimate right after the last sample, seconds; `None` until the first sample, so
    /// an unmeasured upstream is told apart from a fast one.
    estimate: Option<f64>,
    /// When the last sample was taken (caller's clock, seconds): ages the estimate.
    at: f64,
}

impl PeakEwma {
    /// An empty estimator; a `tau` that is not a positive number is taken as the smallest one
    /// (the estimate then follows the last sample).
    pub fn new(tau_secs: f64) -> Self {
        Self {
            tau: tau_secs.max(f64::MIN_POSITIVE),
            estimate: None,
            at: 0.0,
        }
    }

    /// Record a sample (seconds) taken at `now_secs`. A sample above the estimate becomes the
    /// estimate at once; a lower one pulls it down by `1 - e^(-elapsed/tau)` of the gap, so the
    /// pull depends on the time elapsed, not on how many samples arrived. Non-finite samples
    /// or times are ignored; a clock that steps back counts as no time elapsed.
    pub fn observe(&mut self, sample_secs: f64, now_secs: f64) {
        if !sample_secs.is_finite() || !now_secs.is_finite() {
            return;
        }
        let sample = sample_secs.max(0.0);
        let first = self.estimate.is_none();
        let next = match self.estimate {
            Some(est) if sample < est => {
                let keep = self.retention(now_secs);
                est * keep + sample * (1.0 - keep)
            }
            _ => sample,
        };
        self.estimate = Some(next);
        self.at = if first {
            now_secs
        } else {
            self.at.max(now_secs)
        };
    }

    /// The estimate at `now_secs`, faded toward zero by the time since the last sample
    /// (`e^(-elapsed/tau)`); `None` before any sample.
    pub fn value(&self, now_secs: f64) -> Option<f64> {
        self.estimate.map(|est| est * self.retention(now_secs))
    }

    /// The part of the estimate that survives until `now_secs`: `e^(-elapsed/tau)`.
    fn retention(&self, now_secs: f64) -> f64 {
        let elapsed = (now_secs - self.at).max(0.0);
        if elapsed.is_finite() {
            (-elapsed / self.tau).exp()
        } else {
            0.0
        }
    }
}
