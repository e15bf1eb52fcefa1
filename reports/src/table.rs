//! Aligned plain-text tables for the terminal: a header row, then rows, each column padded
//! to its widest cell (counted in characters, so `é` is one column).

/// A plain-text table: a header row, then rows, columns padded to their widest cell.
#[derive(Clone, Debug)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    right: Vec<bool>,
}

impl Table {
    /// A table with these column headers.
    pub fn new<I, S>(header: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let header: Vec<String> = header.into_iter().map(Into::into).collect();
        let right = vec![false; header.len()];
        Self {
            header,
            rows: Vec::new(),
            right,
        }
    }

    /// Right-aligns column `index` (for numbers).
    pub fn right_align(mut self, index: usize) -> Self {
        if let Some(r) = self.right.get_mut(index) {
            *r = true;
        }
        self
    }

    /// Appends a row; missing cells are blank, extra cells are dropped.
    pub fn row<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut row: Vec<String> = cells.into_iter().map(Into::into).collect();
        row.resize(self.header.len(), String::new());
        self.rows.push(row);
    }

    /// The table as text, one line per row, cells separated by at least two spaces.
    pub fn render(&self) -> String {
        let widths: Vec<usize> = (0..self.header.len())
            .map(|c| {
                std::iter::once(&self.header)
                    .chain(&self.rows)
                    .map(|r| r[c].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let cells: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(c, cell)| pad(cell, widths[c], self.right[c]))
                .collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
        out
    }
}

/// `cell` padded with spaces to `width` characters. Not `format!("{cell:<w$}")`: a format
/// width above 65,535 panics, and a cell (a point id in a results file) can be that long.
fn pad(cell: &str, width: usize, right: bool) -> String {
    let fill = " ".repeat(width.saturating_sub(cell.chars().count()));
    if right {
        fill + cell
    } else {
        format!("{cell}{fill}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_rows_are_padded_and_unicode_counts_as_one_column() {
        let mut t = Table::new(["a", "b", "c"]);
        t.row(["é", "x"]);
        assert_eq!(t.render(), "a  b  c\né  x\n");
    }

    #[test]
    fn cells_wider_than_a_format_width_render() {
        // Panicked before (a format width is at most 65,535).
        let long = "x".repeat(70_000);
        let mut t = Table::new(["id", "n"]).right_align(1);
        t.row([long.as_str(), "1"]);
        t.row(["a", "22"]);
        let text = t.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], format!("{long}   1"));
        assert_eq!(lines[2], format!("a{}  22", " ".repeat(69_999)));
    }
}
