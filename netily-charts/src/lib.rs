//! Usage charts as SVG or PNG: a subscriber's daily traffic, a router's
//! hourly rate, the top users. netadmin writes them (`--chart FILE`); the
//! web console will serve the same bytes.
//!
//! A chart is built from a report's rows ([`Chart`]: labels and series of
//! raw values), scaled to one readable unit (GB, MB, Mbit/s...) chosen from
//! its largest value, and drawn with plotters. Text uses DejaVu Sans
//! compiled into the binary: no fontconfig or system font at run time.
//! Failure behaviour: a chart that cannot be drawn is an error naming why;
//! nothing panics on any input (no rows draws an empty chart).

use std::fmt;
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

/// Pixels: wide enough for a desktop, readable when a phone scales it down.
pub const WIDTH: u32 = 960;
pub const HEIGHT: u32 = 540;
/// The most categories a chart draws (a year of days, a month of hours);
/// callers cut longer reports.
pub const MAX_CATEGORIES: usize = 800;

/// What the values count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantity {
    /// Bytes in each period (decimal units: GB is 10^9, as ISPs sell).
    Bytes,
    /// Bytes in each hour, drawn as the average rate in bit/s.
    HourlyRate,
    /// Things counted (logins, rejects).
    Count,
}

/// How series are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Side-by-side bars per category.
    Bars,
    /// One line per series.
    Lines,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Svg,
    Png,
}

impl Format {
    /// From a file name's extension (`.svg`, `.png`, any case).
    pub fn of_path(path: &str) -> Option<Format> {
        let lower = path.to_ascii_lowercase();
        if lower.ends_with(".svg") {
            Some(Format::Svg)
        } else if lower.ends_with(".png") {
            Some(Format::Png)
        } else {
            None
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series {
    pub name: &'static str,
    /// One value per category (raw: bytes).
    pub values: Vec<u64>,
}

/// A chart's data before drawing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chart {
    pub title: String,
    pub quantity: Quantity,
    pub style: Style,
    /// One label per category (a day, an hour, a username).
    pub labels: Vec<String>,
    pub series: Vec<Series>,
}

/// A unit values are shown in: its name and how many raw units it holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Unit {
    pub name: &'static str,
    pub size: f64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartError(pub String);

impl fmt::Display for ChartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot draw the chart: {}", self.0)
    }
}

impl std::error::Error for ChartError {}

fn failed(e: impl fmt::Display) -> ChartError {
    ChartError(e.to_string())
}

/// Up and down, the two series every usage chart has.
pub fn up_down(up: Vec<u64>, down: Vec<u64>) -> Vec<Series> {
    vec![
        Series {
            name: "down",
            values: down,
        },
        Series {
            name: "up",
            values: up,
        },
    ]
}

impl Chart {
    /// The value shown for raw value `v`, before the unit: bytes, or bit/s
    /// averaged over an hour.
    fn shown(&self, v: u64) -> f64 {
        match self.quantity {
            Quantity::Bytes | Quantity::Count => v as f64,
            Quantity::HourlyRate => v as f64 * 8.0 / 3600.0,
        }
    }

    /// The unit the largest value reads best in.
    pub fn unit(&self) -> Unit {
        let max = self
            .series
            .iter()
            .flat_map(|s| s.values.iter())
            .map(|v| self.shown(*v))
            .fold(0.0, f64::max);
        let units: &[&'static str] = match self.quantity {
            Quantity::Bytes => &["B", "kB", "MB", "GB", "TB", "PB"],
            Quantity::HourlyRate => &["bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s", "Pbit/s"],
            Quantity::Count => &[
                "",
                "thousand",
                "million",
                "billion",
                "trillion",
                "quadrillion",
            ],
        };
        let mut size = 1.0;
        let mut name = units[0];
        for u in &units[1..] {
            if max < size * 1000.0 {
                break;
            }
            size *= 1000.0;
            name = u;
        }
        Unit { name, size }
    }

    /// Every series' values in [`Chart::unit`], as drawn.
    pub fn scaled(&self) -> Vec<Vec<f64>> {
        let unit = self.unit();
        self.series
            .iter()
            .map(|s| {
                s.values
                    .iter()
                    .map(|v| self.shown(*v) / unit.size)
                    .collect()
            })
            .collect()
    }

    fn check(&self) -> Result<(), ChartError> {
        if self.labels.len() > MAX_CATEGORIES {
            return Err(ChartError(format!(
                "{} periods; a chart shows at most {MAX_CATEGORIES} (narrow the period or group by day)",
                self.labels.len()
            )));
        }
        if let Some(s) = self
            .series
            .iter()
            .find(|s| s.values.len() != self.labels.len())
        {
            return Err(ChartError(format!(
                "series '{}' has {} values for {} periods",
                s.name,
                s.values.len(),
                self.labels.len()
            )));
        }
        Ok(())
    }

    /// The chart drawn as `format`: an SVG document or a PNG file's bytes.
    pub fn render(&self, format: Format) -> Result<Vec<u8>, ChartError> {
        self.check()?;
        fonts()?;
        match format {
            Format::Svg => {
                let mut svg = String::new();
                {
                    let root =
                        SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
                    self.draw(&root)?;
                    root.present().map_err(failed)?;
                }
                Ok(svg.into_bytes())
            }
            Format::Png => {
                let mut rgb = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
                {
                    let root =
                        BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
                    self.draw(&root)?;
                    root.present().map_err(failed)?;
                }
                png(&rgb)
            }
        }
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, plotters::coord::Shift>,
    ) -> Result<(), ChartError>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE).map_err(failed)?;
        let unit = self.unit();
        let values = self.scaled();
        let top = values.iter().flatten().copied().fold(0.0, f64::max);
        let top = if top > 0.0 { top * 1.1 } else { 1.0 };
        let n = self.labels.len().max(1);
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, ("sans-serif", 26))
            .margin(16)
            .x_label_area_size(70)
            .y_label_area_size(80)
            // Category i is centred on x = i: plotters puts its axis labels on
            // round numbers, which are then the categories themselves.
            .build_cartesian_2d(-0.5f64..n as f64 - 0.5, 0f64..top)
            .map_err(failed)?;
        let labels = &self.labels;
        let label_of = |x: &f64| -> String {
            let i = x.round();
            if i < 0.0 || (x - i).abs() > 1e-6 {
                return String::new();
            }
            labels.get(i as usize).cloned().unwrap_or_default()
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n.min(12))
            .x_label_formatter(&label_of)
            .x_label_style(("sans-serif", 16))
            .y_labels(8)
            .y_label_formatter(&|y| format!("{y:.1}"))
            .y_label_style(("sans-serif", 16))
            .y_desc(unit.name)
            .axis_desc_style(("sans-serif", 18))
            .draw()
            .map_err(failed)?;
        let colors = [
            RGBColor(33, 102, 172),
            RGBColor(230, 120, 30),
            RGBColor(90, 160, 60),
        ];
        let k = values.len().max(1) as f64;
        for (si, (series, vals)) in self.series.iter().zip(&values).enumerate() {
            let color = colors[si % colors.len()];
            let drawn = match self.style {
                Style::Bars => {
                    // Each category's width: 80% for its bars, side by side.
                    let w = 0.8 / k;
                    chart.draw_series(vals.iter().enumerate().map(|(i, v)| {
                        let x0 = i as f64 - 0.4 + si as f64 * w;
                        Rectangle::new([(x0, 0.0), (x0 + w, *v)], color.filled())
                    }))
                }
                Style::Lines => chart.draw_series(LineSeries::new(
                    vals.iter().enumerate().map(|(i, v)| (i as f64, *v)),
                    color.stroke_width(2),
                )),
            }
            .map_err(failed)?;
            drawn.label(series.name).legend(move |(x, y)| {
                Rectangle::new([(x, y - 6), (x + 16, y + 6)], color.filled())
            });
        }
        chart
            .configure_series_labels()
            .label_font(("sans-serif", 16))
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(failed)?;
        Ok(())
    }
}

/// Registers the compiled-in font once (plotters' ab_glyph text needs it).
fn fonts() -> Result<(), ChartError> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
                .map_err(|_| "the compiled-in font is unreadable".to_owned())
        })
        .clone()
        .map_err(ChartError)
}

/// RGB pixels as a PNG file.
fn png(rgb: &[u8]) -> Result<Vec<u8>, ChartError> {
    let mut out = Vec::new();
    let encoder = image::codecs::png::PngEncoder::new(&mut out);
    image::ImageEncoder::write_image(encoder, rgb, WIDTH, HEIGHT, image::ColorType::Rgb8)
        .map_err(failed)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn daily() -> Chart {
        Chart {
            title: "alice, 2026-11 by day".into(),
            quantity: Quantity::Bytes,
            style: Style::Bars,
            labels: vec!["11-01".into(), "11-02".into(), "11-03".into()],
            series: up_down(
                vec![1_000_000_000, 500_000_000, 0],
                vec![12_000_000_000, 3_400_000_000, 250_000_000],
            ),
        }
    }

    #[test]
    fn values_are_shown_in_the_unit_of_the_largest() {
        let c = daily();
        assert_eq!(c.unit().name, "GB");
        assert_eq!(c.scaled(), vec![vec![12.0, 3.4, 0.25], vec![1.0, 0.5, 0.0]]);
        let rate = Chart {
            quantity: Quantity::HourlyRate,
            series: up_down(vec![0], vec![45_000_000_000]),
            labels: vec!["00:00".into()],
            ..c
        };
        // 45 GB in an hour is 100 Mbit/s on average.
        assert_eq!(rate.unit().name, "Mbit/s");
        let logins = Chart {
            title: "logins".into(),
            quantity: Quantity::Count,
            style: Style::Bars,
            labels: vec!["00".into()],
            series: vec![Series {
                name: "accepts",
                values: vec![12_500],
            }],
        };
        assert_eq!(logins.unit().name, "thousand");
        assert_eq!(logins.scaled(), vec![vec![12.5]]);
        assert_eq!(rate.scaled()[0], vec![100.0]);
    }

    #[test]
    fn the_svg_holds_a_bar_per_value_and_the_axis_unit() {
        let svg = String::from_utf8(daily().render(Format::Svg).unwrap()).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..60.min(svg.len())]);
        assert!(svg.contains(">\nGB\n<"), "the y axis names its unit");
        assert!(svg.contains("alice, 2026-11 by day"));
        for day in ["11-01", "11-02", "11-03"] {
            assert!(
                svg.contains(&format!(">\n{day}\n<")),
                "{day} labels its bars"
            );
        }
        // The background, the plot area, 6 bars, 2 legend swatches (+ legend box).
        let rects = svg.matches("<rect").count();
        assert!(rects >= 6 + 2, "{rects} rects");
    }

    #[test]
    fn the_png_decodes_to_the_chart_size_and_is_not_blank() {
        let bytes = daily().render(Format::Png).unwrap();
        let decoder = png::Decoder::new(bytes.as_slice());
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (WIDTH, HEIGHT));
        let blue = buf.chunks(3).filter(|p| p == &[33, 102, 172]).count();
        assert!(blue > 1000, "the 'down' bars are drawn: {blue} pixels");
    }

    #[test]
    fn bad_input_is_an_error_and_no_rows_an_empty_chart() {
        let mut c = daily();
        c.series[0].values.pop();
        assert!(c
            .render(Format::Svg)
            .unwrap_err()
            .0
            .contains("2 values for 3"));
        let empty = Chart {
            labels: vec![],
            series: up_down(vec![], vec![]),
            ..daily()
        };
        assert!(empty.render(Format::Png).is_ok());
        let long = Chart {
            labels: vec![String::new(); MAX_CATEGORIES + 1],
            series: vec![],
            ..daily()
        };
        assert!(long.render(Format::Svg).unwrap_err().0.contains("at most"));
    }

    #[test]
    fn formats_follow_the_file_name() {
        assert_eq!(Format::of_path("a.SVG"), Some(Format::Svg));
        assert_eq!(Format::of_path("/tmp/x.png"), Some(Format::Png));
        assert_eq!(Format::of_path("x.jpg"), None);
    }
}
