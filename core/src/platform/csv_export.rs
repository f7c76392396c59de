//! Every CSV the product writes goes through this writer. A text cell that a
//! spreadsheet program would run as a formula (it begins with `=`, `+`, `-`, `@`, a tab
//! or a carriage return) is written with a leading apostrophe, so it shows as text
//! (OWASP "CSV injection"). Numbers the product computes are written as they are.

use std::{borrow::Cow, io::Write};

use rust_decimal::Decimal;

use crate::{Error, Result};

/// One cell of a row.
#[derive(Debug, Clone)]
pub enum Cell<'a> {
    /// Text, possibly typed by someone: neutralized.
    Text(&'a str),
    /// A number the product computed (money, quantities): written as is.
    Number(Decimal),
    Integer(i64),
}

impl<'a> From<&'a str> for Cell<'a> {
    fn from(s: &'a str) -> Self {
        Cell::Text(s)
    }
}

impl<'a> From<&'a String> for Cell<'a> {
    fn from(s: &'a String) -> Self {
        Cell::Text(s)
    }
}

/// A text cell as spreadsheet programs will show it: formula-like text gets a leading
/// apostrophe.
pub fn neutralize(text: &str) -> Cow<'_, str> {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{text}")),
        _ => Cow::Borrowed(text),
    }
}

/// A CSV writer whose text cells are neutralized.
pub struct Writer<W: Write> {
    inner: csv::Writer<W>,
}

impl<W: Write> Writer<W> {
    pub fn new(out: W) -> Self {
        Writer {
            inner: csv::WriterBuilder::new().from_writer(out),
        }
    }

    /// RFC 4180: CRLF after every record, fields quoted when they hold the separator, a
    /// quote or a line break; `separator` is `,` or (for spreadsheet programs set to a
    /// decimal comma) `;`.
    pub fn rfc4180(out: W, separator: u8) -> Self {
        Writer {
            inner: csv::WriterBuilder::new()
                .delimiter(separator)
                .terminator(csv::Terminator::CRLF)
                .from_writer(out),
        }
    }

    /// Writes the header row (also neutralized).
    pub fn header(&mut self, names: &[&str]) -> Result<()> {
        let cells: Vec<Cell<'_>> = names.iter().map(|n| Cell::Text(n)).collect();
        self.row(&cells)
    }

    pub fn row(&mut self, cells: &[Cell<'_>]) -> Result<()> {
        let fields: Vec<Cow<'_, str>> = cells
            .iter()
            .map(|c| match c {
                Cell::Text(t) => neutralize(t),
                Cell::Number(d) => Cow::Owned(d.to_string()),
                Cell::Integer(i) => Cow::Owned(i.to_string()),
            })
            .collect();
        self.inner
            .write_record(fields.iter().map(|f| f.as_bytes()))
            .map_err(|e| Error::internal(format!("writing CSV: {e}")))
    }

    pub fn finish(self) -> Result<W> {
        self.inner
            .into_inner()
            .map_err(|e| Error::internal(format!("writing CSV: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[test]
    fn formula_like_text_comes_out_as_text() {
        let mut w = Writer::new(Vec::new());
        w.header(&["customer", "debtor", "amount"]).unwrap();
        let evil = [
            "=HYPERLINK(\"http://evil.example\",\"x\")",
            "+1+1",
            "-2+3",
            "@SUM(A1:A2)",
            "\tTAB",
            "\rCR",
        ];
        for text in evil {
            w.row(&[
                Cell::Text(text),
                Cell::Text("D-1"),
                Cell::Number(Decimal::from_str("-12.50").unwrap()),
            ])
            .unwrap();
        }
        w.row(&[Cell::Text("Jansen, B.V."), Cell::Text("plain"), Cell::Integer(3)])
            .unwrap();
        let bytes = w.finish().unwrap();

        // Read back with an independent reader: every formula-like cell starts with an
        // apostrophe, computed numbers are untouched, ordinary text is unchanged.
        let mut reader = csv::Reader::from_reader(bytes.as_slice());
        let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
        assert_eq!(rows.len(), evil.len() + 1);
        for (row, text) in rows.iter().zip(evil) {
            assert_eq!(&row[0], format!("'{text}"));
            assert_eq!(&row[2], "-12.50");
        }
        assert_eq!(&rows[evil.len()][0], "Jansen, B.V.");
        assert_eq!(&rows[evil.len()][2], "3");
        for row in &rows {
            for cell in row.iter().take(2) {
                assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "{cell:?}");
            }
        }
    }
}
