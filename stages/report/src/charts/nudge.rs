//! A backend wrapper that moves raster text down a little so it sits where
//! the SVG's does.
//!
//! plotters' `ab_glyph` text puts the baseline half a font size under the
//! top of its layout box, which is about a tenth of the font size higher
//! than the SVG backend's `dy` rules (and than the eye expects): tick labels
//! float above their gridlines and centred text sits high in its cell. The
//! wrapper shifts every string by that amount along the text's own "down"
//! direction, and passes everything else straight through.

use plotters_backend::text_anchor::VPos;
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingBackend, DrawingErrorKind,
    FontTransform,
};

pub(crate) struct Nudged<B>(pub B);

/// Downward shift as a fraction of the font size, per vertical anchor;
/// worked out from DejaVu Sans' x-height (0.547 em) against where each
/// backend places the baseline for that anchor.
fn shift(v: VPos) -> f64 {
    match v {
        VPos::Top => 0.12,
        VPos::Center => 0.13,
        VPos::Bottom => 0.09,
    }
}

impl<B: DrawingBackend> DrawingBackend for Nudged<B> {
    type ErrorType = B::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.0.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.present()
    }

    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        color: BackendColor,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.fill_polygon(vert, style)
    }

    fn draw_text<T: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &T,
        (x, y): BackendCoord,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        let d = (style.size() * shift(style.anchor().v_pos)).round() as i32;
        // "Down" for the glyphs, in device coordinates, per rotation
        // (clockwise, as FontTransform::transform applies it).
        let pos = match style.transform() {
            FontTransform::None => (x, y + d),
            FontTransform::Rotate90 => (x - d, y),
            FontTransform::Rotate180 => (x, y - d),
            FontTransform::Rotate270 => (x + d, y),
        };
        self.0.draw_text(text, style, pos)
    }

    fn estimate_text_size<T: BackendTextStyle>(
        &self,
        text: &str,
        style: &T,
    ) -> Result<(u32, u32), DrawingErrorKind<Self::ErrorType>> {
        self.0.estimate_text_size(text, style)
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.blit_bitmap(pos, size, src)
    }
}
