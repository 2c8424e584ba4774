//! The printed table: one row per measured line, one column per endpoint,
//! and the ratio first/second.

use std::fmt::Write as _;
use std::time::Duration;

/// One endpoint's figure on one line.
#[derive(Clone, Debug, Default)]
pub struct Cell {
    pub value: f64,
    /// p50 and p99 latency, for request-rate lines.
    pub latency: Option<(Duration, Duration)>,
    pub errors: u64,
}

pub struct Row {
    pub label: String,
    pub unit: &'static str,
    /// One per endpoint, in the order of the header; `None`: not measured.
    pub cells: Vec<Option<Cell>>,
}

const LABEL_W: usize = 22;
const UNIT_W: usize = 7;
const CELL_W: usize = 36;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn fmt_cell(c: &Option<Cell>) -> String {
    let Some(c) = c else {
        return "-".to_owned();
    };
    let mut s = if c.value >= 1000.0 {
        format!("{:>7.0}", c.value)
    } else {
        format!("{:>7.1}", c.value)
    };
    if let Some((p50, p99)) = c.latency {
        let _ = write!(s, "  p50 {:>6.2} p99 {:>7.2} ms", ms(p50), ms(p99));
    }
    if c.errors > 0 {
        let _ = write!(s, " [{} err]", c.errors);
    }
    s
}

/// Render the table; `names` heads the endpoint columns.
pub fn render(names: &[String], rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = write!(out, "{:LABEL_W$} {:UNIT_W$}", "line", "unit");
    for n in names {
        let _ = write!(out, " {n:CELL_W$}");
    }
    if names.len() == 2 {
        let _ = write!(out, " {}/{}", names[0], names[1]);
    }
    out.push('\n');
    let width = out.len();
    out.push_str(&"-".repeat(width));
    out.push('\n');
    for r in rows {
        let _ = write!(out, "{:LABEL_W$} {:UNIT_W$}", r.label, r.unit);
        for c in &r.cells {
            let _ = write!(out, " {:CELL_W$}", fmt_cell(c));
        }
        if let [Some(a), Some(b)] = r.cells.as_slice()
            && b.value > 0.0
        {
            let _ = write!(out, " {:.2}x", a.value / b.value);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_ratio() {
        let cell = |v| {
            Some(Cell {
                value: v,
                ..Cell::default()
            })
        };
        let rows = [Row {
            label: "PUT 256 MiB".into(),
            unit: "MB/s",
            cells: vec![cell(300.0), cell(150.0)],
        }];
        let t = render(&["a".into(), "b".into()], &rows);
        assert!(t.contains("300.0"), "{t}");
        assert!(t.trim_end().ends_with("2.00x"), "{t}");
    }
}
