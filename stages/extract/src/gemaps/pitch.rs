//! Fundamental frequency as GeMAPS defines it: subharmonic summation (SHS,
//! Hermes 1988) on an octave-scaled magnitude spectrum of 60 ms Gaussian
//! frames, up to six candidates per frame, then Viterbi smoothing over
//! candidates plus an "unvoiced" state.
//!
//! The steps and constants follow openSMILE's cSpecScale, cPitchShs,
//! cPitchBase and cPitchSmootherViterbi as configured by GeMAPSv01b,
//! including their quirks (the unvoiced-to-unvoiced transition costs 1, the
//! delta-continuity weight equals the continuity weight, and the running
//! "last change" of the transition cost is shared across candidate pairs),
//! because F0 decides which frames count as voiced for most functionals.

use super::parabola_vertex;

const MIN_F: f64 = 25.0;
const N_HARMONICS: usize = 15;
const COMPRESSION: f64 = 0.85;
const N_CANDIDATES: usize = 6;
const MIN_PITCH: f64 = 55.0;
const MAX_PITCH: f64 = 1000.0;
const VOICING_CUTOFF: f64 = 0.7;

/// Natural cubic spline through (x, y), evaluated at sorted points: the
/// spectrum is resampled from the linear to the octave axis this way.
/// Written out because the second derivatives must be those of the
/// classic tridiagonal solve (natural end conditions) for the octave
/// spectrum to match.
struct Spline {
    x: Vec<f64>,
    sigma: Vec<f64>,
    diff1: Vec<f64>,
    diff2: Vec<f64>,
    /// The forward sweep's pivots 1/(sigma y2[i-1] + 2) and initial
    /// second-derivative factors (sigma - 1) * pivot, which depend on the
    /// knots only.
    pivot: Vec<f64>,
    y2_fwd: Vec<f64>,
    /// For each target point, the index of the knot interval holding it.
    lower: Vec<usize>,
    targets: Vec<f64>,
}

impl Spline {
    fn new(x: Vec<f64>, targets: Vec<f64>) -> Spline {
        let n = x.len();
        let mut sigma = vec![0.0; n];
        let mut diff1 = vec![0.0; n];
        let mut diff2 = vec![0.0; n];
        for i in 1..n - 1 {
            sigma[i] = (x[i] - x[i - 1]) / (x[i + 1] - x[i - 1]);
            diff1[i] = (x[i + 1] - x[i]) * (x[i + 1] - x[i - 1]);
            diff2[i] = (x[i] - x[i - 1]) * (x[i + 1] - x[i - 1]);
        }
        let mut pivot = vec![0.0; n];
        let mut y2_fwd = vec![0.0; n];
        for i in 1..n - 1 {
            let s = sigma[i];
            let p = 1.0 / (s * y2_fwd[i - 1] + 2.0);
            pivot[i] = p;
            y2_fwd[i] = (s - 1.0) * p;
        }
        let lower = targets
            .iter()
            .map(|&t| {
                let (mut lo, mut hi) = (0usize, n - 1);
                while hi - lo > 1 {
                    let mid = (hi + lo) / 2;
                    if x[mid] > t {
                        hi = mid;
                    } else {
                        lo = mid;
                    }
                }
                lo
            })
            .collect();
        Spline {
            x,
            sigma,
            diff1,
            diff2,
            pivot,
            y2_fwd,
            lower,
            targets,
        }
    }

    /// Evaluates the splines through `LANES` spectra at once, each lane
    /// `y[i][lane]`, into `out[target][lane]`. The lanes are independent
    /// and each gets exactly the arithmetic of a one-spectrum solve; they
    /// are interleaved because the tridiagonal sweeps are serial chains
    /// (each step waits on the previous one's multiply), and four chains
    /// side by side keep the floating-point units busy.
    fn eval_lanes(
        &self,
        y: &[[f64; LANES]],
        out: &mut [[f64; LANES]],
        scratch: &mut SplineScratch,
    ) {
        let n = self.x.len();
        let u = &mut scratch.u;
        u.clear();
        u.resize(n, [0.0; LANES]);
        for i in 1..n - 1 {
            let s = self.sigma[i];
            let p = self.pivot[i];
            let (d1, d2) = (self.diff1[i], self.diff2[i]);
            let prev = u[i - 1];
            let mut next = [0.0; LANES];
            for k in 0..LANES {
                let ut = (y[i + 1][k] - y[i][k]) / d1 - (y[i][k] - y[i - 1][k]) / d2;
                next[k] = p * (6.0 * ut - s * prev[k]);
            }
            u[i] = next;
        }
        let y2 = &mut scratch.y2;
        y2.clear();
        y2.resize(n, [0.0; LANES]);
        for j in (0..n - 1).rev() {
            let f = self.y2_fwd[j];
            let above = y2[j + 1];
            let mut here = [0.0; LANES];
            for k in 0..LANES {
                here[k] = f * above[k] + u[j][k];
            }
            y2[j] = here;
        }
        for ((o, &t), &lo) in out.iter_mut().zip(&self.targets).zip(&self.lower) {
            let hi = lo + 1;
            let h = self.x[hi] - self.x[lo];
            let a = (self.x[hi] - t) / h;
            let b = 1.0 - a;
            let (ca, cb) = (a * a * a - a, b * b * b - b);
            let hh = h * h;
            for k in 0..LANES {
                o[k] = a * y[lo][k] + b * y[hi][k] + (ca * y2[lo][k] + cb * y2[hi][k]) * hh / 6.0;
            }
        }
    }
}

/// Spectra whose splines are solved together (see [`Spline::eval_lanes`]).
const LANES: usize = 4;

/// Buffers of [`Spline::eval_lanes`], kept across calls.
#[derive(Default)]
struct SplineScratch {
    u: Vec<[f64; LANES]>,
    y2: Vec<[f64; LANES]>,
}

/// Zero the spectrum away from its peaks (more than two bins from any
/// local maximum between two maxima), openSMILE's SHS spectral enhancement.
fn enhance(a: &mut [f64]) {
    let n = a.len();
    if n < 2 {
        return;
    }
    // Branch-free collection: every index is written, and the count only
    // advances past peaks (whether a bin is a peak is unpredictable, so a
    // branch per bin mispredicts often).
    let mut peaks = vec![0usize; n];
    let mut n_peaks = usize::from(a[0] > a[1]);
    for i in 1..n - 1 {
        peaks[n_peaks] = i;
        n_peaks += usize::from((a[i] > a[i - 1]) & (a[i] >= a[i + 1]));
    }
    peaks[n_peaks] = n - 1;
    n_peaks += usize::from(a[n - 1] > a[n - 2]);
    let peaks = &peaks[..n_peaks];
    if peaks.len() == 1 {
        // openSMILE reads the (zero-initialised) second slot here, which
        // clears everything from bin 3 on.
        for v in a.iter_mut().skip(3) {
            *v = 0.0;
        }
    } else {
        for w in peaks.windows(2) {
            for v in a
                .iter_mut()
                .take((w[1] as i64 - 2).max(0) as usize)
                .skip(w[0] + 3)
            {
                *v = 0.0;
            }
        }
    }
}

/// 1-2-1 smoothing of a magnitude spectrum (the last bin is kept).
fn smooth(a: &mut [f64]) {
    let mut prev = 0.0;
    for i in 0..a.len().saturating_sub(1) {
        let ai = a[i];
        a[i] = (prev + 2.0 * ai + a[i + 1]) / 4.0;
        prev = ai;
    }
}

/// Pitch candidates of one frame: frequencies (Hz, 0 for an empty slot)
/// and voicing probabilities, best first.
#[derive(Debug, Clone, Copy, Default)]
pub struct Candidates {
    pub f0: [f64; N_CANDIDATES],
    pub voicing: [f64; N_CANDIDATES],
}

/// SHS pitch candidate detector for magnitude spectra of `n_bins` bins
/// spaced `bin_hz` apart.
pub struct Shs {
    spline: Spline,
    audw: Vec<f64>,
    points_per_octave: f64,
    fmin_t: f64,
    fstep_t: f64,
    n_points: usize,
}

impl Shs {
    pub fn new(n_bins: usize, bin_hz: f64) -> Shs {
        let max_f = bin_hz * (n_bins - 1) as f64;
        let fmin_t = MIN_F.log2();
        let fmax_t = max_f.log2();
        let n_points = n_bins;
        let fstep_t = (fmax_t - fmin_t) / (n_points - 1) as f64;
        let mut f_t: Vec<f64> = (0..n_bins).map(|i| (i as f64 * bin_hz).log2()).collect();
        // The DC bin has no octave position; openSMILE extrapolates one.
        f_t[0] = 2.0 * f_t[1] - f_t[2];
        let targets = (0..n_points).map(|i| fmin_t + i as f64 * fstep_t).collect();
        let n_octaves = (max_f / MIN_F).ln() / 2f64.ln();
        // openSMILE stores this in single precision metadata.
        let points_per_octave = (n_points as f64 / n_octaves) as f32 as f64;
        let atan_s = points_per_octave * (65.0f64 / 50.0).log2() - 1.0;
        let audw = (0..n_points)
            .map(|i| {
                0.5 + (3.0 * (i as f64 + 1.0 - atan_s) / points_per_octave).atan()
                    / std::f64::consts::PI
            })
            .collect();
        Shs {
            spline: Spline::new(f_t, targets),
            audw,
            points_per_octave,
            fmin_t,
            fstep_t,
            n_points,
        }
    }

    /// Candidates of many frames' magnitude spectra (each `n_bins` long),
    /// `LANES` at a time through the octave-scale spline.
    pub fn candidates_of_frames(&self, mags: &[Vec<f64>]) -> Vec<Candidates> {
        let n = self.n_points;
        let mut scratch = SplineScratch::default();
        let mut lanes_in = vec![[0.0; LANES]; n];
        let mut lanes_out = vec![[0.0; LANES]; n];
        let mut y = vec![0.0; n];
        let mut spec = vec![0.0; n];
        let mut ss = vec![0.0; n];
        let mut out = Vec::with_capacity(mags.len());
        for group in mags.chunks(LANES) {
            for k in 0..LANES {
                // A short last group repeats its first frame in the spare
                // lanes; their results are dropped.
                let mag = group.get(k).unwrap_or(&group[0]);
                y.copy_from_slice(mag);
                enhance(&mut y);
                smooth(&mut y);
                for (lane, &v) in lanes_in.iter_mut().zip(&y) {
                    lane[k] = v;
                }
            }
            self.spline
                .eval_lanes(&lanes_in, &mut lanes_out, &mut scratch);
            for k in 0..group.len() {
                for (s, lane) in spec.iter_mut().zip(&lanes_out) {
                    *s = lane[k];
                }
                out.push(self.pick(&mut spec, &mut ss));
            }
        }
        out
    }

    /// Candidates of one frame from its octave-scale spectrum (`spec`,
    /// overwritten) with `ss` as the subharmonic sum's buffer.
    fn pick(&self, spec: &mut [f64], ss: &mut [f64]) -> Candidates {
        let n = self.n_points;
        for (s, w) in spec.iter_mut().zip(&self.audw) {
            *s = if *s > 0.0 { *s * w } else { 0.0 };
        }
        // Subharmonic summation: add the spectrum compressed by each
        // harmonic number (a shift on the octave axis), with decaying
        // weights.
        ss.copy_from_slice(spec);
        let mut scale = COMPRESSION;
        for h in 2..=N_HARMONICS {
            let shift = (self.points_per_octave * (h as f64).log2()).floor() as usize;
            if shift < n {
                for (sum, &v) in ss[..n - shift].iter_mut().zip(&spec[shift..]) {
                    *sum += v * scale;
                }
            }
            scale *= COMPRESSION;
        }
        for v in ss.iter_mut() {
            *v /= N_HARMONICS as f64;
            if *v < 0.0 {
                *v = 0.0;
            }
        }
        // Greedy peak picking: keep the highest peaks, sorted by score.
        let mut cand_idx = [0usize; N_CANDIDATES];
        let mut cand_score = [0.0f64; N_CANDIDATES];
        let mut n_cand = 0usize;
        let mut ss_mean = ss[0];
        for &v in &ss[1..n - 1] {
            ss_mean += v;
        }
        // Local maxima first, branch-free (as in `enhance`), then the
        // insertion into the candidate list for those few.
        let mut peaks = vec![0usize; n];
        let mut n_peaks = 0;
        for i in 1..n - 1 {
            peaks[n_peaks] = i;
            n_peaks += usize::from((ss[i - 1] < ss[i]) & (ss[i] > ss[i + 1]));
        }
        for &i in &peaks[..n_peaks] {
            for j in 0..N_CANDIDATES {
                if cand_score[j] == 0.0 || cand_score[j] < ss[i] {
                    for jj in (j + 1..N_CANDIDATES).rev() {
                        cand_score[jj] = cand_score[jj - 1];
                        cand_idx[jj] = cand_idx[jj - 1];
                    }
                    cand_idx[j] = i;
                    cand_score[j] = ss[i];
                    n_cand = (n_cand + 1).min(N_CANDIDATES);
                    break;
                }
            }
        }
        ss_mean = (ss_mean + ss[n - 1]) / n as f64;
        let mut f0 = [0.0f64; N_CANDIDATES];
        let mut voicing = [0.0f64; N_CANDIDATES];
        let mut score = [0.0f64; N_CANDIDATES];
        for i in 0..n_cand {
            let j = cand_idx[i];
            let x = |k: f64| k * self.fstep_t + self.fmin_t;
            let jf = j as f64;
            let (fx, sc) = parabola_vertex(
                [x(jf - 1.0), x(jf), x(jf + 1.0)],
                [ss[j - 1], ss[j], ss[j + 1]],
            );
            f0[i] = 2f64.powf(fx);
            score[i] = sc;
            voicing[i] = if sc > 0.0 && sc > ss_mean {
                1.0 - ss_mean / sc
            } else {
                0.0
            };
        }
        // Drop out-of-range candidates (cPitchBase), shifting the rest up.
        let mut n_cand = n_cand as i64;
        let mut i = 0i64;
        while (i as usize) < N_CANDIDATES && n_cand > 0 {
            let iu = i as usize;
            if f0[iu] > MAX_PITCH || f0[iu] < MIN_PITCH {
                let orig = f0[iu];
                for j in iu + 1..N_CANDIDATES {
                    f0[j - 1] = f0[j];
                    voicing[j - 1] = voicing[j];
                    score[j - 1] = score[j];
                }
                f0[N_CANDIDATES - 1] = 0.0;
                voicing[N_CANDIDATES - 1] = 0.0;
                score[N_CANDIDATES - 1] = 0.0;
                if orig > 0.0 {
                    n_cand -= 1;
                    i -= 1;
                }
            }
            i += 1;
        }
        // The best-scoring candidate goes first.
        let mut max_i = 0;
        for k in 1..N_CANDIDATES {
            if score[k] > score[max_i] {
                max_i = k;
            }
        }
        f0.swap(0, max_i);
        voicing.swap(0, max_i);
        Candidates { f0, voicing }
    }
}

const BUFLEN: usize = 40;
const W_LOCAL: f64 = 2.0;
const W_TVV: f64 = 10.0;
/// openSMILE's setWeights assigns the continuity weight to the delta
/// weight too, so the configured 5.0 is never used.
const W_TVVD: f64 = W_TVV;
const W_TVUV: f64 = 10.0;
const W_THR: f64 = 4.0;
const W_RANGE: f64 = 1.0;
const N_STATES: usize = N_CANDIDATES + 1;
const UNVOICED: usize = N_CANDIDATES;

/// Penalty for implausible speaking F0 ranges.
fn f_weight(f: f64) -> f64 {
    if f > 0.0 && f < 100.0 {
        -(1.0 / 100.0) * f + 1.0
    } else if (100.0..350.0).contains(&f) {
        0.0
    } else if (350.0..600.0).contains(&f) {
        (f - 350.0) / 250.0
    } else if f >= 600.0 {
        1.2
    } else {
        2.0
    }
}

fn local_cost(state: usize, c: &Candidates, voicing_clip: f64) -> f64 {
    if state < UNVOICED {
        let pv = c.voicing[state].clamp(0.01, 1.0);
        let thr = if pv < VOICING_CUTOFF { W_THR } else { 0.0 };
        (-pv.ln() + thr) * W_LOCAL + f_weight(c.f0[state]) * W_RANGE
    } else {
        let voiced =
            c.voicing.iter().any(|&v| v >= VOICING_CUTOFF) || voicing_clip >= VOICING_CUTOFF;
        if voiced { W_LOCAL * W_THR } else { 0.0 }
    }
}

/// Viterbi smoothing over the candidate lattice, incremental with a
/// 40-frame trellis as in openSMILE (a path is forced when the trellis
/// fills without converging). Returns F0 in Hz per frame (0: unvoiced).
pub fn viterbi(frames: &[Candidates]) -> Vec<f64> {
    let n = frames.len();
    let mut out = vec![0.0; n];
    if n == 0 {
        return out;
    }
    let clip = |c: &Candidates| {
        if c.voicing[0] <= VOICING_CUTOFF {
            0.0
        } else {
            c.voicing[0]
        }
    };
    let mut last_change = 1.0f64;
    let mut transition = |i: usize, j: usize, prev: &Candidates, cur: &Candidates| -> f64 {
        // i: current state, j: previous state.
        if i < UNVOICED && j < UNVOICED {
            let f0 = prev.f0[j];
            let f1 = cur.f0[i];
            if f0 == 0.0 || f1 == 0.0 {
                return 999.0;
            }
            let r = (f1 / f0).ln();
            let x = W_TVV * r.abs() + W_TVVD * (r - last_change).abs();
            last_change = r;
            x
        } else if i == UNVOICED && j == UNVOICED {
            1.0
        } else {
            last_change = 0.0;
            W_TVUV
        }
    };
    let mut costs = [0.0f64; N_STATES];
    // paths[s][t % BUFLEN]: state at time t on the best path into s.
    let mut paths = vec![[0usize; BUFLEN]; N_STATES];
    let mut best = vec![0usize; n];
    let mut conv: i64 = -1;
    for t in 0..n {
        if t == 0 {
            for (s, (c, p)) in costs.iter_mut().zip(paths.iter_mut()).enumerate() {
                *c = local_cost(s, &frames[0], clip(&frames[0]));
                p[0] = s;
            }
        } else {
            let mut new_costs = [0.0f64; N_STATES];
            let mut new_paths = paths.clone();
            for i in 0..N_STATES {
                let mut min_state = 0;
                let mut min_cost = transition(i, 0, &frames[t - 1], &frames[t]) + costs[0];
                for (j, &cj) in costs.iter().enumerate().skip(1) {
                    let c = transition(i, j, &frames[t - 1], &frames[t]) + cj;
                    if c < min_cost {
                        min_state = j;
                        min_cost = c;
                    }
                }
                new_costs[i] = min_cost + local_cost(i, &frames[t], clip(&frames[t]));
                new_paths[i] = paths[min_state];
                new_paths[i][t % BUFLEN] = i;
            }
            costs = new_costs;
            paths = new_paths;
        }
        let path_idx = t as i64 + 1;
        if path_idx - conv > BUFLEN as i64 {
            let min_state = argmin(&costs);
            conv += 1;
            best[conv as usize] = paths[min_state][conv as usize % BUFLEN];
        } else {
            for k in (conv + 1)..path_idx {
                let x = paths[0][k as usize % BUFLEN];
                if paths.iter().skip(1).all(|p| p[k as usize % BUFLEN] == x) {
                    conv += 1;
                    best[conv as usize] = x;
                } else {
                    break;
                }
            }
        }
    }
    // Flush at the end of input along the cheapest path.
    let min_state = argmin(&costs);
    for k in (conv + 1) as usize..n {
        best[k] = paths[min_state][k % BUFLEN];
    }
    for (t, o) in out.iter_mut().enumerate() {
        let s = best[t];
        *o = if s < UNVOICED { frames[t].f0[s] } else { 0.0 };
    }
    out
}

fn argmin(costs: &[f64]) -> usize {
    let mut m = 0;
    for (i, &c) in costs.iter().enumerate().skip(1) {
        if c < costs[m] {
            m = i;
        }
    }
    m
}

/// F0 in semitones above 27.5 Hz, openSMILE's `F0finalLog` (1 for
/// positive F0 below 29.136 Hz, 0 for unvoiced).
pub fn semitones(f0: f64) -> f64 {
    if f0 > 29.136 {
        12.0 * (f0 / 27.5).log2()
    } else if f0 > 0.0 {
        1.0
    } else {
        0.0
    }
}
