//! PNG pictures the command line writes: training curves.

use manifold_cnn::nn::EpochStats;
use manifold_cnn::Error;
use plotters::prelude::*;
use plotters::style::FontStyle;
use std::path::Path;

const FONT: &[u8] = include_bytes!("../../examples/assets/DejaVuSans.ttf");

fn plot_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::io_message(path.display(), format!("drawing the picture: {e}"))
}

/// Loss (left) and accuracy (right) per epoch, training and validation, as a PNG.
///
/// # Errors
/// If the file cannot be written.
pub fn curves(path: &Path, history: &[EpochStats]) -> Result<(), Error> {
    // Registering twice is harmless; the font is bundled, so it always loads.
    let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    draw(path, history).map_err(|e| plot_error(path, e))
}

type Series = (&'static str, RGBColor, Vec<(f64, f64)>);

fn draw(path: &Path, history: &[EpochStats]) -> Result<(), Box<dyn std::error::Error>> {
    let root = BitMapBackend::new(path, (1100, 440)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(550);
    let epochs = history.len().max(2) as f64;
    let points = |f: &dyn Fn(&EpochStats) -> Option<f64>| -> Vec<(f64, f64)> {
        history
            .iter()
            .filter_map(|e| f(e).map(|v| (e.epoch as f64, v)))
            .collect()
    };
    let blue = RGBColor(0, 114, 178);
    let orange = RGBColor(230, 159, 0);
    let panels: [(&str, Vec<Series>, _); 2] = [
        (
            "loss",
            vec![
                ("training", blue, points(&|e| Some(e.train_loss))),
                ("validation", orange, points(&|e| e.val_loss)),
            ],
            &left,
        ),
        (
            "accuracy",
            vec![
                ("training", blue, points(&|e| Some(e.train_accuracy))),
                ("validation", orange, points(&|e| e.val_accuracy)),
            ],
            &right,
        ),
    ];
    for (name, series, area) in panels {
        let top = series
            .iter()
            .flat_map(|s| s.2.iter().map(|p| p.1))
            .fold(0.0, f64::max);
        let top = if name == "accuracy" {
            1.0
        } else {
            top * 1.05 + 1e-9
        };
        let mut chart = ChartBuilder::on(area)
            .caption(name, ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d(1f64..epochs, 0f64..top)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .label_style(("sans-serif", 13))
            .draw()?;
        for (label, colour, pts) in series {
            if pts.is_empty() {
                continue;
            }
            chart
                .draw_series(LineSeries::new(pts.clone(), colour.stroke_width(2)))?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
                });
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, colour.filled())))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font(("sans-serif", 13))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(())
}
