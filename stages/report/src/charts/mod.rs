//! The report's figures, each drawn once per backend from one routine: an
//! SVG at its logical size and a PNG at twice that (sharp on high-density
//! screens and when zoomed; the HTML shows it at the logical size).
//!
//! Every chart lays itself out in logical pixels measured with the bundled
//! font, so long class or feature names widen the margins instead of
//! overlapping the plot. The submodules are the four kinds of figure.

mod confusion;
mod curves;
mod features;
mod nudge;
mod per_class;

use plotters::chart::MeshStyle;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::{ExperimentResult, ReportError};

pub use confusion::confusion_matrix;
pub use curves::training_curves;
pub use features::{TOP_FEATURES, features_kept};
pub use per_class::per_class_scores;

/// One rendered figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// PNG at twice the logical size.
    pub png: Vec<u8>,
    /// The same picture as SVG, at the logical size.
    pub svg: String,
    /// Logical size in CSS pixels.
    pub width: u32,
    pub height: u32,
}

/// A figure of one experiment, with the file-name suffix and caption the
/// documents use for it.
#[derive(Debug, Clone)]
pub(crate) struct NamedFigure {
    /// `confusion`, `per_class`, `curves` or `features`.
    pub kind: &'static str,
    pub caption: String,
    pub figure: Figure,
}

/// Every figure `exp` has data for, in the order the page shows them.
pub(crate) fn experiment_figures(exp: &ExperimentResult) -> Result<Vec<NamedFigure>, ReportError> {
    let mut out = Vec::new();
    if !exp.confusion.is_empty() {
        out.push(NamedFigure {
            kind: "confusion",
            caption: "Confusion matrix, pooled over folds. Each row is one true class: the \
                      colour and percentage are the share of that class's utterances predicted \
                      as each column's class; the small number is the count."
                .into(),
            figure: confusion_matrix(&exp.name, &exp.classes, &exp.confusion)?,
        });
    }
    if !exp.per_class.is_empty() {
        out.push(NamedFigure {
            kind: "per_class",
            caption: "Precision, recall and F1 of each class, pooled over folds; n is the \
                      number of test utterances of the class."
                .into(),
            figure: per_class_scores(&exp.name, &exp.classes, &exp.per_class)?,
        });
    }
    if let Some(fig) = exp
        .curves
        .as_deref()
        .map(|c| training_curves(&exp.name, c))
        .transpose()?
        .flatten()
    {
        out.push(NamedFigure {
            kind: "curves",
            caption: "Training curves per epoch.".into(),
            figure: fig,
        });
    }
    if let Some(fig) = exp
        .selected_features
        .as_deref()
        .map(|f| features_kept(&exp.name, f))
        .transpose()?
        .flatten()
    {
        out.push(NamedFigure {
            kind: "features",
            caption: "The features selection kept most often, as the share of folds whose \
                      training side kept each one."
                .into(),
            figure: fig,
        });
    }
    Ok(out)
}

/// A chart: a title and logical size, and a drawing routine that works on
/// any backend.
pub(crate) trait Chart {
    /// Title and logical size.
    fn frame(&self) -> &Frame;
    /// Draws all but the title (which [`render`] draws first) on `root`,
    /// which is `px.k` times the logical size.
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        px: Px,
    ) -> Result<(), DrawError>;
}

/// What every chart has: a title, drawn at the top left and named in error
/// messages, and a logical size in pixels (rounded up to whole pixels).
pub(crate) struct Frame {
    pub title: String,
    pub width: f64,
    pub height: f64,
}

/// Font size of the charts' titles.
const TITLE: f64 = 17.0;
/// Font size of axis titles drawn by plotters' mesh ("score", "epoch").
const AXIS_DESC: f64 = 14.0;

impl Frame {
    /// A `width` by `height` chart titled `"{kind}: {name}"`, shortened to
    /// fit inside 12-pixel margins.
    pub fn new(kind: &str, name: &str, width: f64, height: f64) -> Frame {
        Frame {
            title: fit(&format!("{kind}: {name}"), TITLE, width - 24.0),
            width,
            height,
        }
    }

    fn size(&self) -> (u32, u32) {
        (self.width.ceil() as u32, self.height.ceil() as u32)
    }
}

/// Why a drawing failed, as text: plotters' errors are generic over the
/// backend, and the caller only reports them.
pub(crate) struct DrawError(String);

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for DrawError {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        DrawError(e.to_string())
    }
}

/// Scale from logical to device pixels, and the text helpers built on it.
#[derive(Clone, Copy)]
pub(crate) struct Px {
    pub k: f64,
}

impl Px {
    /// A logical length in device pixels.
    pub fn i(self, v: f64) -> i32 {
        (v * self.k).round() as i32
    }

    pub fn u(self, v: f64) -> u32 {
        (v * self.k).round().max(0.0) as u32
    }

    /// A logical point in device pixels.
    pub fn at(self, x: f64, y: f64) -> (i32, i32) {
        (self.i(x), self.i(y))
    }

    /// Text style of logical `size` (plotters' size: about 1.2 em).
    pub fn font(self, size: f64, color: RGBColor, h: HPos, v: VPos) -> TextStyle<'static> {
        TextStyle {
            font: FontDesc::new(FontFamily::SansSerif, size * self.k, FontStyle::Normal),
            color: color.to_backend_color(),
            pos: Pos::new(h, v),
        }
    }

    /// Draws `text` anchored at logical `(x, y)`.
    pub fn text<DB: DrawingBackend>(
        self,
        area: &DrawingArea<DB, Shift>,
        text: &str,
        (x, y): (f64, f64),
        style: &TextStyle<'_>,
    ) -> Result<(), DrawError> {
        area.draw_text(text, style, self.at(x, y))?;
        Ok(())
    }

    /// A one-logical-pixel line of `color` (at least one device pixel).
    pub fn hairline(self, color: RGBColor) -> ShapeStyle {
        ShapeStyle::from(&color).stroke_width(self.u(1.0).max(1))
    }

    /// A straight line between logical points.
    pub fn segment<DB: DrawingBackend>(
        self,
        area: &DrawingArea<DB, Shift>,
        (x0, y0): (f64, f64),
        (x1, y1): (f64, f64),
        style: ShapeStyle,
    ) -> Result<(), DrawError> {
        area.draw(&PathElement::new(
            vec![self.at(x0, y0), self.at(x1, y1)],
            style,
        ))?;
        Ok(())
    }

    /// A filled rectangle between logical corners.
    pub fn rect<DB: DrawingBackend>(
        self,
        area: &DrawingArea<DB, Shift>,
        (x0, y0): (f64, f64),
        (x1, y1): (f64, f64),
        style: ShapeStyle,
    ) -> Result<(), DrawError> {
        area.draw(&Rectangle::new([self.at(x0, y0), self.at(x1, y1)], style))?;
        Ok(())
    }
}

/// The look the plotted charts share on `mesh`: hairline grid lines at the
/// labelled ticks only, hairline axes with short tick marks, muted axis
/// titles.
pub(crate) fn plain_mesh<'m, 'a, 'b, X: Ranged, Y: Ranged, DB: DrawingBackend>(
    mesh: &'m mut MeshStyle<'a, 'b, X, Y, DB>,
    px: Px,
) -> &'m mut MeshStyle<'a, 'b, X, Y, DB> {
    mesh.axis_desc_style(px.font(AXIS_DESC, palette::MUTED, HPos::Center, VPos::Center))
        .bold_line_style(px.hairline(palette::GRID))
        .light_line_style(TRANSPARENT)
        .axis_style(px.hairline(palette::AXIS))
        .set_all_tick_mark_size(px.u(4.0))
}

/// Logical width of `text` at `size`, from the bundled font's metrics.
pub(crate) fn text_width(text: &str, size: f64) -> f64 {
    crate::font::ensure_registered();
    FontDesc::new(FontFamily::SansSerif, size, FontStyle::Normal)
        .box_size(text)
        .map(|(w, _)| w as f64)
        // The font is bundled and registered, so measuring cannot fail;
        // a rough estimate keeps layout going if it ever does.
        .unwrap_or(text.chars().count() as f64 * size * 0.55)
}

/// `text`, shortened with an ellipsis to fit `max_width` logical pixels.
pub(crate) fn fit(text: &str, size: f64, max_width: f64) -> String {
    if text_width(text, size) <= max_width {
        return text.to_string();
    }
    let chars: Vec<char> = text.chars().collect();
    for keep in (1..chars.len()).rev() {
        let candidate: String = chars[..keep].iter().chain(std::iter::once(&'…')).collect();
        if text_width(&candidate, size) <= max_width {
            return candidate;
        }
    }
    "…".to_string()
}

/// Renders `chart` to SVG (1x) and PNG (2x).
pub(crate) fn render(chart: &impl Chart) -> Result<Figure, ReportError> {
    crate::font::ensure_registered();
    let frame = chart.frame();
    let fail = |e: DrawError| ReportError::Render {
        figure: frame.title.clone(),
        reason: e.0,
    };
    let (w, h) = frame.size();

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(e.into()))?;
        draw_titled(chart, &root, Px { k: 1.0 }).map_err(fail)?;
        root.present().map_err(|e| fail(e.into()))?;
    }

    const K: u32 = 2;
    let (pw, ph) = (w * K, h * K);
    let mut rgb = vec![0u8; pw as usize * ph as usize * 3];
    {
        let root =
            nudge::Nudged(BitMapBackend::with_buffer(&mut rgb, (pw, ph))).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(e.into()))?;
        draw_titled(chart, &root, Px { k: K as f64 }).map_err(fail)?;
        root.present().map_err(|e| fail(e.into()))?;
    }
    let png = encode_png(&rgb, pw, ph, K).map_err(|e| ReportError::Render {
        figure: frame.title.clone(),
        reason: e,
    })?;
    Ok(Figure {
        png,
        svg,
        width: w,
        height: h,
    })
}

/// Draws `chart`'s title at the top left, then the chart.
fn draw_titled<DB: DrawingBackend>(
    chart: &impl Chart,
    root: &DrawingArea<DB, Shift>,
    px: Px,
) -> Result<(), DrawError> {
    px.text(
        root,
        &chart.frame().title,
        (12.0, 16.0),
        &px.font(TITLE, palette::TEXT, HPos::Left, VPos::Top),
    )?;
    chart.draw(root, px)
}

/// RGB8 pixels to PNG bytes. The pHYs chunk says 72 dpi times `scale`, so
/// viewers that honour it show the picture at its logical size.
fn encode_png(rgb: &[u8], width: u32, height: u32, scale: u32) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, width, height);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    // Flat-coloured charts compress well; the default level is a good
    // trade between size and the 2-core build machine's time.
    enc.set_compression(png::Compression::Balanced);
    let per_metre = (72.0 * scale as f64 / 0.0254).round() as u32;
    enc.set_pixel_dims(Some(png::PixelDimensions {
        xppu: per_metre,
        yppu: per_metre,
        unit: png::Unit::Meter,
    }));
    let mut writer = enc.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(rgb).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

/// Colours shared by the charts.
pub(crate) mod palette {
    use plotters::style::RGBColor;

    pub const TEXT: RGBColor = RGBColor(33, 37, 41);
    pub const MUTED: RGBColor = RGBColor(108, 117, 125);
    pub const GRID: RGBColor = RGBColor(222, 226, 230);
    pub const AXIS: RGBColor = RGBColor(134, 142, 150);

    /// Okabe-Ito colours: distinguishable with the common colour-vision
    /// deficiencies, in an order where neighbours contrast.
    pub const SERIES: [RGBColor; 7] = [
        RGBColor(0, 114, 178),
        RGBColor(230, 159, 0),
        RGBColor(0, 158, 115),
        RGBColor(204, 121, 167),
        RGBColor(86, 180, 233),
        RGBColor(213, 94, 0),
        RGBColor(240, 228, 66),
    ];

    /// ColorBrewer "Blues" (as in matplotlib), white to dark blue: a
    /// sequential map where darker means more.
    const BLUES: [(u8, u8, u8); 9] = [
        (247, 251, 255),
        (222, 235, 247),
        (198, 219, 239),
        (158, 202, 225),
        (107, 174, 214),
        (66, 146, 198),
        (33, 113, 181),
        (8, 81, 156),
        (8, 48, 107),
    ];

    /// The Blues colour of `t` in [0, 1] (clamped), linearly interpolated.
    pub fn blues(t: f64) -> RGBColor {
        let t = if t.is_finite() {
            t.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let pos = t * (BLUES.len() - 1) as f64;
        let i = (pos.floor() as usize).min(BLUES.len() - 2);
        let f = pos - i as f64;
        let lerp = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * f).round() as u8;
        let (a, b) = (BLUES[i], BLUES[i + 1]);
        RGBColor(lerp(a.0, b.0), lerp(a.1, b.1), lerp(a.2, b.2))
    }

    /// Black or white, whichever reads better on `bg` (WCAG relative
    /// luminance against a mid threshold).
    pub fn ink_on(bg: RGBColor) -> RGBColor {
        let lin = |c: u8| {
            let c = c as f64 / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        let l = 0.2126 * lin(bg.0) + 0.7152 * lin(bg.1) + 0.0722 * lin(bg.2);
        if l > 0.36 {
            TEXT
        } else {
            RGBColor(255, 255, 255)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::palette::{blues, ink_on};
    use super::*;

    #[test]
    fn colour_map_runs_light_to_dark_with_readable_ink() {
        assert_eq!(blues(0.0), RGBColor(247, 251, 255));
        assert_eq!(blues(1.0), RGBColor(8, 48, 107));
        assert_eq!(blues(f64::NAN), blues(0.0));
        // Darker as the share grows, on every step.
        let sum = |c: RGBColor| c.0 as u32 + c.1 as u32 + c.2 as u32;
        assert!((0..20).all(|i| sum(blues(i as f64 / 20.0)) > sum(blues((i + 1) as f64 / 20.0))));
        assert_eq!(ink_on(blues(0.1)), palette::TEXT);
        assert_eq!(ink_on(blues(0.9)), RGBColor(255, 255, 255));
    }

    #[test]
    fn fit_shortens_only_what_is_too_wide() {
        assert_eq!(fit("calm", 14.0, 200.0), "calm");
        let short = fit("a_very_long_feature_name_that_goes_on", 14.0, 80.0);
        assert!(
            short.ends_with('…') && text_width(&short, 14.0) <= 80.0,
            "{short}"
        );
        assert!(text_width("surprised", 14.0) > text_width("sad", 14.0));
    }
}
