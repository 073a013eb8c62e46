//! Contour smoothing and the statistics GeMAPS takes over contours, as
//! openSMILE's cContourSmoother and cFunctionals (Moments, Percentiles,
//! Peaks2, Segments) define them for the GeMAPS configurations.

/// Frame period of every contour, seconds.
pub const PERIOD: f64 = 0.01;

/// 3-frame moving average. openSMILE's smoother emits one frame more than
/// it reads, and at both ends it sees the edge value repeated; with
/// `skip_zeros` (the `nz` variants) zeros stay zero and are left out of
/// their neighbours' averages.
pub fn sma3(x: &[f64], skip_zeros: bool) -> Vec<f64> {
    let n = x.len();
    if n == 0 {
        return Vec::new();
    }
    let at = |i: i64| x[i.clamp(0, n as i64 - 1) as usize];
    (0..=n as i64)
        .map(|i| {
            let c = at(i);
            if skip_zeros {
                if c == 0.0 {
                    return 0.0;
                }
                let mut sum = c;
                let mut count = 1.0;
                for v in [at(i - 1), at(i + 1)] {
                    if v != 0.0 {
                        sum += v;
                        count += 1.0;
                    }
                }
                sum / count
            } else {
                (at(i - 1) + c + at(i + 1)) / 3.0
            }
        })
        .collect()
}

/// The non-zero values of a contour (cFunctionals' `nonZeroFuncts`).
pub fn non_zero(x: &[f64]) -> Vec<f64> {
    x.iter().copied().filter(|&v| v != 0.0).collect()
}

pub fn mean(x: &[f64]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    x.iter().sum::<f64>() / x.len() as f64
}

/// Population standard deviation divided by the mean (`stddevNorm = 2`,
/// the pre-2.2 form without abs; a zero mean divides by 1).
pub fn stddev_norm(x: &[f64]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    let m = mean(x);
    let var = x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / x.len() as f64;
    if var > 0.0 {
        var.sqrt() / if m == 0.0 { 1.0 } else { m }
    } else {
        0.0
    }
}

/// Percentile with linear interpolation between order statistics.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return 0.0;
    }
    let idx = p * (n - 1) as f64;
    let i1 = idx.floor() as usize;
    let i2 = (idx.ceil() as usize).min(n - 1);
    if i1 != i2 {
        sorted[i1] * (i2 as f64 - idx) + sorted[i2] * (idx - i1 as f64)
    } else {
        sorted[i1]
    }
}

#[derive(Debug, Clone, Copy)]
struct Extremum {
    is_max: bool,
    y: f64,
    x: usize,
    alive: bool,
}

/// Peak statistics of a contour (openSMILE's Peaks2 with a relative
/// threshold of 0.1 of the range).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Peaks {
    /// Peaks per second.
    pub peaks_per_sec: f64,
    pub mean_rising: f64,
    pub stddev_rising: f64,
    pub mean_falling: f64,
    pub stddev_falling: f64,
}

pub fn peaks(x: &[f64]) -> Peaks {
    let n = x.len();
    if n == 0 {
        return Peaks::default();
    }
    let (min, max) = x
        .iter()
        .fold((x[0], x[0]), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let thresh = 0.1 * (max - min);
    let below = |diff: f64| diff < thresh;
    let mut list: Vec<Extremum> = Vec::new();
    for i in 2..n.saturating_sub(2) {
        if x[i] > x[i - 1] && x[i] > x[i + 1] {
            list.push(Extremum {
                is_max: true,
                y: x[i],
                x: i,
                alive: true,
            });
        } else if x[i] < x[i - 1] && x[i] < x[i + 1] {
            list.push(Extremum {
                is_max: false,
                y: x[i],
                x: i,
                alive: true,
            });
        }
    }
    // Pass 1: drop maxima that barely rise above the last minimum, and keep
    // only the higher of two close maxima.
    let mut last_val = x[0];
    let mut last_min = x[0];
    let mut last_max = x[0];
    let mut min_flag = false;
    let mut last_max_ptr: Option<usize> = None;
    for k in 0..list.len() {
        let el = list[k];
        if el.is_max {
            if below((el.y - last_val).abs()) {
                if below(el.y - last_min) {
                    list[k].alive = false;
                } else if el.y > last_max * 1.05 {
                    if let Some(p) = last_max_ptr {
                        list[p].alive = false;
                    }
                    last_max = el.y;
                    last_max_ptr = Some(k);
                    min_flag = false;
                } else {
                    if min_flag {
                        last_max = el.y;
                        last_max_ptr = Some(k);
                    } else {
                        list[k].alive = false;
                    }
                    min_flag = false;
                }
            } else {
                min_flag = false;
                last_max = el.y;
                last_max_ptr = Some(k);
            }
        } else if !below((el.y - last_val).abs()) {
            min_flag = true;
            last_min = el.y;
        }
        last_val = el.y;
    }
    // Pass 2: drop minima too close below the preceding maximum.
    let mut last_max = x[0];
    for el in list.iter_mut().filter(|e| e.alive) {
        if !el.is_max {
            if below(last_max - el.y) {
                el.alive = false;
            }
        } else {
            last_max = el.y;
        }
    }
    // Pass 3: enforce alternation, keeping the extreme of each run.
    let mut last_max = x[0];
    let mut last_min = x[0];
    let mut min_flag = false;
    let mut init = true;
    let mut last_min_ptr = 0usize;
    let mut last_max_ptr = 0usize;
    for k in 0..list.len() {
        if !list[k].alive {
            continue;
        }
        let el = list[k];
        if !el.is_max {
            if !min_flag || init {
                last_min = el.y;
                last_min_ptr = k;
                min_flag = true;
                init = false;
            } else if el.y >= last_min {
                list[k].alive = false;
            } else {
                list[last_min_ptr].alive = false;
                last_min_ptr = k;
                last_min = el.y;
            }
        } else if min_flag || init {
            last_max = el.y;
            last_max_ptr = k;
            min_flag = false;
            init = false;
        } else if el.y <= last_max {
            list[k].alive = false;
        } else {
            list[last_max_ptr].alive = false;
            last_max_ptr = k;
            last_max = el.y;
        }
    }
    let alive: Vec<Extremum> = list.into_iter().filter(|e| e.alive).collect();
    let n_peaks = alive.iter().filter(|e| e.is_max).count();
    // Slopes between successive extrema, per second.
    let slope = |from: (f64, usize), to: (f64, usize)| {
        (to.0 - from.0) / ((to.1 as f64 - from.1 as f64) * PERIOD)
    };
    let mut rising = Vec::new();
    let mut falling = Vec::new();
    let (mut last_max, mut last_max_pos) = (x[0], 0usize);
    let (mut last_min, mut last_min_pos) = (x[0], 0usize);
    let mut last_is_max: i32 = -1;
    for el in &alive {
        if !el.is_max {
            last_min = el.y;
            last_min_pos = el.x;
            if last_min_pos > last_max_pos {
                // Falling slopes are stored positive (drop per second).
                falling.push(-slope((last_max, last_max_pos), (last_min, last_min_pos)));
                last_is_max = 0;
            }
        } else {
            last_max = el.y;
            last_max_pos = el.x;
            if last_max_pos > last_min_pos {
                rising.push(slope((last_min, last_min_pos), (last_max, last_max_pos)));
                last_is_max = 1;
            }
        }
    }
    // The stddev below excludes the closing segment to the contour's end,
    // which only the means include.
    let rising_inner = rising.clone();
    let falling_inner = falling.clone();
    let mut mean_rising_extra = None;
    let mut mean_falling_extra = None;
    match last_is_max {
        1 if n - 1 > last_max_pos => {
            mean_falling_extra = Some(slope((last_max, last_max_pos), (x[n - 1], n - 1)));
        }
        0 if n - 1 > last_min_pos => {
            mean_rising_extra = Some(slope((last_min, last_min_pos), (x[n - 1], n - 1)));
        }
        -1 => {
            let s = (x[n - 1] - x[0]) / n as f64;
            if s > 0.0 {
                mean_rising_extra = Some(s);
            } else if s < 0.0 {
                mean_falling_extra = Some(s);
            }
        }
        _ => {}
    }
    let finish = |inner: &[f64], extra: Option<f64>| -> (f64, f64) {
        let count = inner.len() + extra.is_some() as usize;
        let sum: f64 = inner.iter().sum::<f64>() + extra.unwrap_or(0.0);
        let m = if count > 1 { sum / count as f64 } else { sum };
        let mut var: f64 = inner.iter().map(|s| (s - m).powi(2)).sum();
        if count > 1 {
            var /= count as f64;
        }
        (m, if var > 0.0 { var.sqrt() } else { 0.0 })
    };
    // openSMILE's falling slope is (lastMax - lastMin) / dt, positive for a
    // fall, while its closing falling segment is (end - lastMax) / dt.
    let (mean_rising, stddev_rising) = finish(&rising_inner, mean_rising_extra);
    let (mean_falling, stddev_falling) = finish(&falling_inner, mean_falling_extra);
    Peaks {
        peaks_per_sec: n_peaks as f64 / (n as f64 * PERIOD),
        mean_rising,
        stddev_rising,
        mean_falling,
        stddev_falling,
    }
}

/// Segment lengths (frames) of runs where `is_segment` holds, with
/// openSMILE's nonX/eqX rules: a run counts after 3 frames, ends after a
/// 2-frame gap, and its length is measured up to the gap's first frame
/// minus one.
fn segments(x: &[f64], is_segment: impl Fn(f64) -> bool) -> Vec<usize> {
    const SEG_MIN: usize = 3;
    const PAUSE_MIN: usize = 2;
    let mut lens = Vec::new();
    let mut start = 0usize;
    let mut state = 0;
    let mut seg_start = 0usize;
    let mut seg_end = 0usize;
    for (i, &v) in x.iter().enumerate() {
        if is_segment(v) {
            match state {
                1 => {
                    seg_end = 0;
                    seg_start += 1;
                    if seg_start >= SEG_MIN {
                        seg_start = 0;
                        state = 2;
                    }
                }
                0 => {
                    seg_start += 1;
                    start = i;
                    state = 1;
                }
                _ => seg_end = 0,
            }
        } else if state == 2 {
            seg_start = 0;
            seg_end += 1;
            if seg_end >= PAUSE_MIN {
                state = 0;
                lens.push((i - seg_end).saturating_sub(start));
                seg_end = 0;
            }
        } else if state == 1 {
            seg_end += 1;
            if seg_end >= PAUSE_MIN {
                state = 0;
                seg_end = 0;
                seg_start = 0;
            }
        }
    }
    if state == 2 {
        seg_end += 1;
        lens.push((x.len() - seg_end).saturating_sub(start));
    }
    lens
}

/// Segment statistics in seconds: (segments per second, mean length,
/// length stddev).
pub struct SegmentStats {
    pub per_sec: f64,
    pub mean_len: f64,
    pub stddev_len: f64,
}

fn segment_stats(lens: &[usize], n_frames: usize) -> SegmentStats {
    let n = lens.len();
    let total: f64 = lens.iter().map(|&l| l as f64).sum();
    let m = if n > 1 { total / n as f64 } else { total };
    let mut dev: f64 = lens.iter().map(|&l| (l as f64 - m).powi(2)).sum();
    dev = if n > 1 { (dev / n as f64).sqrt() } else { 0.0 };
    SegmentStats {
        per_sec: n as f64 / (n_frames as f64 * PERIOD),
        mean_len: m * PERIOD,
        stddev_len: dev * PERIOD,
    }
}

/// Voiced segments: runs of non-zero F0.
pub fn voiced_segments(f0: &[f64]) -> SegmentStats {
    segment_stats(&segments(f0, |v| v != 0.0), f0.len())
}

/// Unvoiced segments: runs of zero F0.
pub fn unvoiced_segments(f0: &[f64]) -> SegmentStats {
    segment_stats(&segments(f0, |v| v == 0.0), f0.len())
}
