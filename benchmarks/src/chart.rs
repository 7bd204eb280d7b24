//! Charts of the experiments, drawn with `plotters` as SVG and PNG from one description.
//!
//! Text needs a TrueType font: DejaVu Sans from the system (`fonts-dejavu-core`) or the file
//! named by `JUMPCACHE_FONT`, read at run time. Without one, [`Figure::save`] fails and the
//! experiments keep their CSV files only.

use std::error::Error;
use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;

/// Colours of the series, in order (the matplotlib "tab10" ones).
pub const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(127, 127, 127),
];

/// One named series of a panel.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub color: RGBColor,
    /// Dashed line (for an ideal or reference curve).
    pub dashed: bool,
}

impl Series {
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>, color: RGBColor) -> Series {
        Series {
            name: name.into(),
            points,
            color,
            dashed: false,
        }
    }

    pub fn dashed(mut self) -> Series {
        self.dashed = true;
        self
    }
}

/// What a panel shows.
#[derive(Debug, Clone)]
pub enum Kind {
    /// Bars side by side at x = 0, 1, 2, ... (one bar per series at each x); the points' x
    /// values are the category index.
    Bars { categories: Vec<String> },
    /// Lines (with a dot at each point when `markers`).
    Lines { markers: bool },
}

/// One chart of a figure.
#[derive(Debug, Clone)]
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub kind: Kind,
    pub series: Vec<Series>,
    /// Vertical marks: (x, label).
    pub events: Vec<(f64, String)>,
    /// Lowest y shown (the top is the data's maximum plus a margin).
    pub y_min: f64,
    /// Explicit x range; the data's otherwise.
    pub x_range: Option<(f64, f64)>,
    /// Label the x axis at whole numbers only (group counts).
    pub integer_x: bool,
}

impl Panel {
    pub fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
        kind: Kind,
    ) -> Panel {
        Panel {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            kind,
            series: Vec::new(),
            events: Vec::new(),
            y_min: 0.0,
            x_range: None,
            integer_x: false,
        }
    }
}

/// A titled grid of panels.
#[derive(Debug, Clone)]
pub struct Figure {
    pub title: String,
    pub rows: usize,
    pub cols: usize,
    pub panels: Vec<Panel>,
    pub width: u32,
    pub height: u32,
}

static FONT: OnceLock<Result<(), String>> = OnceLock::new();

/// Registers DejaVu Sans (or `JUMPCACHE_FONT`) as "sans-serif" for plotters, once.
pub fn load_font() -> Result<(), String> {
    FONT.get_or_init(|| {
        let mut candidates: Vec<String> = Vec::new();
        if let Ok(f) = std::env::var("JUMPCACHE_FONT") {
            candidates.push(f);
        }
        candidates.extend(
            [
                "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
                "/usr/share/fonts/TTF/DejaVuSans.ttf",
                "/usr/share/fonts/dejavu/DejaVuSans.ttf",
                "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
            ]
            .map(String::from),
        );
        for path in candidates {
            if let Ok(bytes) = std::fs::read(&path) {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return Ok(());
                }
            }
        }
        Err("no TrueType font found (install fonts-dejavu-core or set JUMPCACHE_FONT)".into())
    })
    .clone()
}

impl Figure {
    /// Writes `{stem}.svg` and `{stem}.png`.
    pub fn save(&self, stem: &Path) -> Result<(), Box<dyn Error>> {
        self.save_as(stem, true)
    }

    /// Writes `{stem}.svg`, and `{stem}.png` when `png`.
    pub fn save_as(&self, stem: &Path, png: bool) -> Result<(), Box<dyn Error>> {
        load_font()?;
        let size = (self.width, self.height);
        let svg = stem.with_extension("svg");
        {
            let root = SVGBackend::new(&svg, size).into_drawing_area();
            self.draw_scaled(&root, 1.0)?;
            root.present()?;
        }
        // The PNG is drawn at twice the size: small text rasterised at 13 px puts a decimal
        // point a pixel or two off the baseline; at 26 px it is where it belongs.
        if !png {
            return Ok(());
        }
        let png = stem.with_extension("png");
        {
            let root = BitMapBackend::new(&png, (size.0 * 2, size.1 * 2)).into_drawing_area();
            self.draw_scaled(&root, 2.0)?;
            root.present()?;
        }
        Ok(())
    }

    fn draw_scaled<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        k: f64,
    ) -> Result<(), Box<dyn Error>>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let top = root.margin((10.0 * k) as i32, 0, 0, 0);
        let body = top.titled(&self.title, ("sans-serif", 22.0 * k))?;
        let areas = body.split_evenly((self.rows, self.cols));
        for (panel, area) in self.panels.iter().zip(areas.iter()) {
            draw_panel(panel, area, k)?;
        }
        Ok(())
    }
}

fn nice_max(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    v * 1.12
}

fn draw_panel<DB: DrawingBackend>(
    panel: &Panel,
    area: &DrawingArea<DB, Shift>,
    k: f64,
) -> Result<(), Box<dyn Error>>
where
    DB::ErrorType: 'static,
{
    let all = panel.series.iter().flat_map(|s| s.points.iter());
    let mut y_max = nice_max(all.clone().map(|p| p.1).fold(f64::MIN, f64::max));
    if panel.series.iter().any(|s| !s.name.is_empty()) {
        // Room above the data for the legend.
        y_max *= 1.2 + 0.04 * panel.series.len() as f64;
    }
    let y_min = panel.y_min.min(y_max - 1e-9);
    let (x_lo, x_hi) = match (&panel.kind, panel.x_range) {
        (_, Some(r)) => r,
        (Kind::Bars { categories }, None) => (-0.5, categories.len() as f64 - 0.5),
        (Kind::Lines { .. }, None) => {
            let lo = all.clone().map(|p| p.0).fold(f64::MAX, f64::min);
            let hi = all.map(|p| p.0).fold(f64::MIN, f64::max);
            if lo < hi {
                (lo, hi)
            } else {
                (lo - 1.0, lo + 1.0)
            }
        }
    };
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 17.0 * k))
        .margin(12.0 * k)
        .x_label_area_size(42.0 * k)
        .y_label_area_size(70.0 * k)
        .build_cartesian_2d(x_lo..x_hi, y_min..y_max)?;
    {
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(panel.x_label.as_str())
            .y_desc(panel.y_label.as_str())
            .label_style(("sans-serif", 13.0 * k))
            .axis_desc_style(("sans-serif", 14.0 * k))
            .light_line_style(WHITE.mix(0.0))
            .y_label_formatter(&|v| short_number(*v));
        let categories = match &panel.kind {
            Kind::Bars { categories } => Some(categories.clone()),
            Kind::Lines { .. } => None,
        };
        let integer_x = panel.integer_x;
        let formatter = move |v: &f64| match &categories {
            Some(c) => {
                let i = v.round();
                if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < c.len() {
                    c[i as usize].clone()
                } else {
                    String::new()
                }
            }
            None if integer_x => {
                if (v - v.round()).abs() < 1e-6 {
                    format!("{v:.0}")
                } else {
                    String::new()
                }
            }
            None => short_number(*v),
        };
        if let Kind::Bars { categories } = &panel.kind {
            mesh.x_labels(categories.len() * 2 + 1).disable_x_mesh();
        } else if panel.integer_x {
            let span = (x_hi.floor() - x_lo.ceil()).max(0.0) as usize + 1;
            mesh.x_labels(span);
        } else {
            mesh.x_labels(10);
        }
        mesh.x_label_formatter(&formatter).draw()?;
    }
    match &panel.kind {
        Kind::Bars { .. } => {
            let (s5, s12) = ((5.0 * k) as i32, (12.0 * k) as i32);
            let n = panel.series.len().max(1) as f64;
            let width = 0.8 / n;
            for (si, s) in panel.series.iter().enumerate() {
                let color = s.color;
                let left = -0.4 + si as f64 * width;
                chart
                    .draw_series(s.points.iter().map(move |&(x, y)| {
                        Rectangle::new(
                            [(x + left, y_min), (x + left + width * 0.92, y)],
                            color.filled(),
                        )
                    }))?
                    .label(s.name.clone())
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - s5), (x + s12, y + s5)], color.filled())
                    });
            }
        }
        Kind::Lines { markers } => {
            let (s2, s14) = ((2.0 * k) as u32, (14.0 * k) as i32);
            for s in &panel.series {
                let color = s.color;
                let style = ShapeStyle::from(&color).stroke_width(s2);
                if s.dashed {
                    chart
                        .draw_series(DashedLineSeries::new(
                            s.points.iter().copied(),
                            (6.0 * k) as u32,
                            (4.0 * k) as u32,
                            style,
                        ))?
                        .label(format!("{} (dashed)", s.name))
                        .legend(move |(x, y)| {
                            PathElement::new(vec![(x, y), (x + s14, y)], color.stroke_width(s2))
                        });
                } else {
                    chart
                        .draw_series(LineSeries::new(s.points.iter().copied(), style))?
                        .label(s.name.clone())
                        .legend(move |(x, y)| {
                            PathElement::new(vec![(x, y), (x + s14, y)], color.stroke_width(s2))
                        });
                }
                if *markers {
                    chart.draw_series(
                        s.points
                            .iter()
                            .map(move |&p| Circle::new(p, (3.0 * k) as u32, color.filled())),
                    )?;
                }
            }
        }
    }
    for (i, (x, label)) in panel.events.iter().enumerate() {
        let black = BLACK.mix(0.7);
        chart.draw_series(DashedLineSeries::new(
            vec![(*x, y_min), (*x, y_max)],
            (4.0 * k) as u32,
            (3.0 * k) as u32,
            ShapeStyle::from(&black).stroke_width(k as u32),
        ))?;
        chart.draw_series(std::iter::once(Text::new(
            label.clone(),
            // Each label a line lower than the one before: events close in time stay legible.
            (*x, y_min + (y_max - y_min) * (0.99 - 0.07 * i as f64)),
            ("sans-serif", 13.0 * k).into_font().color(&BLACK),
        )))?;
    }
    if panel.series.iter().any(|s| !s.name.is_empty()) {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .label_font(("sans-serif", 13.0 * k))
            .legend_area_size((24.0 * k) as i32)
            .margin((8.0 * k) as i32)
            .position(SeriesLabelPosition::UpperRight)
            .draw()?;
    }
    Ok(())
}

/// 1234 → "1234", 12345 → "12.3k", 1.5e6 → "1.5M", 0.25 → "0.25".
pub fn short_number(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 || a == 0.0 || (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}
