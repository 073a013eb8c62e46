//! The font every figure is drawn with: DejaVu Sans, bundled in the binary.
//!
//! plotters' `ab_glyph` backend rasterises text from fonts registered at run
//! time instead of asking the system (no fontconfig, no freetype), so the
//! PNGs look the same on every machine, fonts installed or not.

use std::sync::Once;

use plotters::style::FontStyle;

/// The family name charts ask for. It is also written into the SVGs, where
/// the viewer's own sans-serif font draws the text.
pub(crate) const FAMILY: &str = "sans-serif";

static DEJAVU_SANS: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Registers the bundled font once per process; call before drawing.
pub(crate) fn ensure_registered() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Only the regular face is bundled; plotters falls back to it for
        // bold. The bytes are a known-good TTF, so a failure here is a build
        // defect, not a run-time condition.
        if plotters::style::register_font(FAMILY, FontStyle::Normal, DEJAVU_SANS).is_err() {
            panic!("bundled DejaVuSans.ttf did not parse");
        }
    });
}
