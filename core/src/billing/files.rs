//! The two files of a billing run, written line by line from the same stream: CSV per
//! RFC 4180 and XLSX in constant-memory mode (a lines sheet with a frozen header and an
//! autofilter, money as numbers with two decimals, dates as dates; totals per customer
//! and per partner on their own sheets). Memory stays flat however many lines: the
//! workbook keeps one row at a time, and totals are kept for the current customer and
//! partner only (the stream is sorted by partner, then customer).

use std::{
    collections::BTreeMap,
    fs::File,
    io::{BufWriter, Write},
    path::{Path, PathBuf},
};

use rust_decimal::{Decimal, prelude::ToPrimitive};
use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};
use uuid::Uuid;

use super::lines::Line;
use crate::platform::money::Currency;
use crate::{
    Error, Result,
    platform::csv_export::{self, Cell},
};

/// The lines sheet's and the CSV's columns.
pub const COLUMNS: [&str; 16] = [
    "Partner",
    "Debtor number",
    "Customer",
    "Country",
    "Item",
    "Module",
    "Licence kind",
    "User",
    "Quantity",
    "Unit price",
    "Amount",
    "Period from",
    "Period to",
    "Currency",
    "Reference",
    "Customer id",
];

/// A sheet holds at most this many rows (Excel's limit); more continue on a next sheet.
const MAX_ROWS: u32 = 1_048_576;

/// How the CSV is written.
#[derive(Debug, Clone, Copy)]
pub struct CsvOptions {
    pub separator: u8,
    /// A UTF-8 byte-order mark first, for spreadsheet programs that need it.
    pub bom: bool,
}

/// What the run billed per partner (none: direct customers) and currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Total {
    pub partner_id: Option<Uuid>,
    pub currency: Currency,
    pub lines: i64,
    pub amount: Decimal,
}

/// Sums per currency.
type Sums = BTreeMap<Currency, (i64, Decimal)>;

fn add(sums: &mut Sums, currency: Currency, amount: Decimal) {
    let entry = sums.entry(currency).or_insert((0, Decimal::ZERO));
    entry.0 += 1;
    entry.1 += amount;
}

/// The finished files, in the scratch directory, and the run's totals.
pub struct Written {
    pub csv: PathBuf,
    pub xlsx: PathBuf,
    pub lines: i64,
    pub totals: Vec<Total>,
}

/// The customer or partner whose totals are being summed.
struct Current<K> {
    key: K,
    label: Vec<String>,
    sums: Sums,
}

fn xlsx(e: XlsxError) -> Error {
    Error::internal(format!("writing XLSX: {e}"))
}

fn io(e: std::io::Error) -> Error {
    Error::internal(format!("writing a billing file: {e}"))
}

/// Which columns of a sheet hold money and which dates.
#[derive(Clone, Copy)]
struct Typed {
    money: &'static [u16],
    dates: &'static [u16],
}

/// One kind of sheet, continued on a next one when full.
struct Sheet {
    name: &'static str,
    header: &'static [&'static str],
    widths: &'static [f64],
    typed: Typed,
    index: usize,
    part: u32,
    row: u32,
}

impl Sheet {
    fn open(
        workbook: &mut Workbook,
        name: &'static str,
        header: &'static [&'static str],
        widths: &'static [f64],
        typed: Typed,
    ) -> Result<Sheet> {
        let mut sheet = Sheet {
            name,
            header,
            widths,
            typed,
            index: 0,
            part: 0,
            row: 0,
        };
        sheet.next_part(workbook)?;
        Ok(sheet)
    }

    fn next_part(&mut self, workbook: &mut Workbook) -> Result<()> {
        self.finish(workbook)?;
        self.part += 1;
        let bold = Format::new().set_bold();
        let ws = workbook.add_worksheet_with_constant_memory().map_err(xlsx)?;
        let name = if self.part == 1 {
            self.name.to_owned()
        } else {
            format!("{} ({})", self.name, self.part)
        };
        ws.set_name(name).map_err(xlsx)?;
        for (col, width) in self.widths.iter().enumerate() {
            ws.set_column_width(col as u16, *width).map_err(xlsx)?;
        }
        // Formats by column, so each cell is written without one (much quicker than a
        // format per cell, and the same cells in the file).
        let (money, date) = (
            Format::new().set_num_format("#,##0.00"),
            Format::new().set_num_format("yyyy-mm-dd"),
        );
        for &col in self.typed.money {
            ws.set_column_format(col, &money).map_err(xlsx)?;
        }
        for &col in self.typed.dates {
            ws.set_column_format(col, &date).map_err(xlsx)?;
        }
        ws.set_freeze_panes(1, 0).map_err(xlsx)?;
        for (col, title) in self.header.iter().enumerate() {
            ws.write_string_with_format(0, col as u16, *title, &bold)
                .map_err(xlsx)?;
        }
        self.index = workbook.worksheets().len() - 1;
        self.row = 1;
        Ok(())
    }

    /// The sheet to write the next row to, and that row.
    fn next_row<'w>(&mut self, workbook: &'w mut Workbook) -> Result<(&'w mut Worksheet, u32)> {
        if self.row == MAX_ROWS {
            self.next_part(workbook)?;
        }
        let row = self.row;
        self.row += 1;
        Ok((workbook.worksheet_from_index(self.index).map_err(xlsx)?, row))
    }

    /// The autofilter over what was written to the current part.
    fn finish(&self, workbook: &mut Workbook) -> Result<()> {
        if self.part > 0 && self.row > 1 {
            let ws = workbook.worksheet_from_index(self.index).map_err(xlsx)?;
            ws.autofilter(0, 0, self.row - 1, (self.header.len() - 1) as u16)
                .map_err(xlsx)?;
        }
        Ok(())
    }
}

const CUSTOMER_COLUMNS: [&str; 7] = [
    "Partner",
    "Debtor number",
    "Customer",
    "Country",
    "Currency",
    "Lines",
    "Amount",
];
const PARTNER_COLUMNS: [&str; 4] = ["Partner", "Currency", "Lines", "Amount"];

/// Both files from one stream of lines.
pub struct Writer {
    csv: CsvSink,
    xlsx: XlsxSink,
}

impl Writer {
    /// Starts both files in `dir`.
    pub fn create(dir: &Path, csv_options: CsvOptions) -> Result<Writer> {
        Ok(Writer {
            csv: CsvSink::create(&dir.join("billing.csv"), csv_options)?,
            xlsx: XlsxSink::create(dir, &dir.join("billing.xlsx"))?,
        })
    }

    pub fn lines(&self) -> i64 {
        self.xlsx.count
    }

    /// Writes one line to both files.
    pub fn line(&mut self, line: &Line) -> Result<()> {
        self.csv.line(line)?;
        self.xlsx.line(line)
    }

    /// Closes both files; the totals per partner and currency come back with them.
    pub fn finish(self) -> Result<Written> {
        let csv = self.csv.finish()?;
        let (xlsx, lines, totals) = self.xlsx.finish()?;
        Ok(Written {
            csv,
            xlsx,
            lines,
            totals,
        })
    }
}

/// The CSV file.
pub struct CsvSink {
    csv: csv_export::Writer<BufWriter<File>>,
    path: PathBuf,
}

fn text(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or_default()
}

impl CsvSink {
    pub fn create(path: &Path, options: CsvOptions) -> Result<CsvSink> {
        let mut out = BufWriter::with_capacity(1 << 16, File::create(path).map_err(io)?);
        if options.bom {
            out.write_all("\u{feff}".as_bytes()).map_err(io)?;
        }
        let mut csv = csv_export::Writer::rfc4180(out, options.separator);
        csv.header(&COLUMNS)?;
        Ok(CsvSink {
            csv,
            path: path.to_owned(),
        })
    }

    pub fn line(&mut self, l: &Line) -> Result<()> {
        let (from, to, customer_id) = (
            l.period_from.to_string(),
            l.period_to.to_string(),
            l.customer_id.to_string(),
        );
        self.csv.row(&[
            Cell::Text(text(&l.partner)),
            Cell::Text(text(&l.debtor_number)),
            Cell::Text(&l.customer),
            Cell::Text(text(&l.country)),
            Cell::Text(&l.item),
            Cell::Text(&l.module),
            Cell::Text(&l.licence_kind),
            Cell::Text(text(&l.user_email)),
            Cell::Integer(i64::from(l.quantity)),
            Cell::Number(l.unit_price),
            Cell::Number(l.amount),
            Cell::Text(&from),
            Cell::Text(&to),
            Cell::Text(l.currency.as_str()),
            Cell::Text(text(&l.reference)),
            Cell::Text(&customer_id),
        ])
    }

    /// Flushes the file; returns where it is.
    pub fn finish(self) -> Result<PathBuf> {
        let mut out = self.csv.finish()?;
        out.flush().map_err(io)?;
        Ok(self.path)
    }
}

/// The XLSX workbook, with the totals of the customers and partners it has seen.
pub struct XlsxSink {
    path: PathBuf,
    workbook: Workbook,
    lines: Sheet,
    customers: Sheet,
    partners: Sheet,
    count: i64,
    customer: Option<Current<Uuid>>,
    partner: Option<Current<Option<Uuid>>>,
    totals: Vec<Total>,
}

impl XlsxSink {
    /// A workbook to be saved at `path`, its scratch files in `dir`.
    pub fn create(dir: &Path, path: &Path) -> Result<XlsxSink> {
        let mut workbook = Workbook::new();
        workbook.set_tempdir(dir).map_err(xlsx)?;
        // Deflate level 1: most of an XLSX's save time is compressing the sheet XML; level
        // 1 is several times faster for files some tenths larger.
        workbook.set_zip_compression_level(1);
        let lines = Sheet::open(
            &mut workbook,
            "Lines",
            &COLUMNS,
            &[
                28., 14., 28., 8., 9., 20., 12., 28., 9., 11., 11., 11., 11., 9., 16., 38.,
            ],
            Typed {
                money: &[9, 10],
                dates: &[11, 12],
            },
        )?;
        let customers = Sheet::open(
            &mut workbook,
            "Customers",
            &CUSTOMER_COLUMNS,
            &[28., 14., 28., 8., 9., 9., 12.],
            Typed {
                money: &[6],
                dates: &[],
            },
        )?;
        let partners = Sheet::open(
            &mut workbook,
            "Partners",
            &PARTNER_COLUMNS,
            &[28., 9., 9., 12.],
            Typed {
                money: &[3],
                dates: &[],
            },
        )?;
        Ok(XlsxSink {
            path: path.to_owned(),
            workbook,
            lines,
            customers,
            partners,
            count: 0,
            customer: None,
            partner: None,
            totals: Vec::new(),
        })
    }

    /// Writes one line and adds it to its customer's and partner's totals.
    pub fn line(&mut self, line: &Line) -> Result<()> {
        if self.partner.as_ref().is_none_or(|p| p.key != line.partner_id) {
            self.close_customer()?;
            self.close_partner()?;
            self.partner = Some(Current {
                key: line.partner_id,
                label: vec![line.partner.clone().unwrap_or_default()],
                sums: Sums::new(),
            });
        }
        if self.customer.as_ref().is_none_or(|c| c.key != line.customer_id) {
            self.close_customer()?;
            self.customer = Some(Current {
                key: line.customer_id,
                label: vec![
                    line.partner.clone().unwrap_or_default(),
                    line.debtor_number.clone().unwrap_or_default(),
                    line.customer.clone(),
                    line.country.clone().unwrap_or_default(),
                ],
                sums: Sums::new(),
            });
        }
        for current in [
            self.customer.as_mut().map(|c| &mut c.sums),
            self.partner.as_mut().map(|p| &mut p.sums),
        ]
        .into_iter()
        .flatten()
        {
            add(current, line.currency, line.amount);
        }
        self.count += 1;
        self.write_line(line)
    }

    fn write_line(&mut self, l: &Line) -> Result<()> {
        let (ws, row) = self.lines.next_row(&mut self.workbook)?;
        let texts: [(u16, Option<&str>); 8] = [
            (0, l.partner.as_deref()),
            (1, l.debtor_number.as_deref()),
            (2, Some(&l.customer)),
            (3, l.country.as_deref()),
            (4, Some(&l.item)),
            (5, Some(&l.module)),
            (6, Some(&l.licence_kind)),
            (7, l.user_email.as_deref()),
        ];
        for (col, value) in texts {
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                ws.write_string(row, col, v).map_err(xlsx)?;
            }
        }
        ws.write_number(row, 8, l.quantity).map_err(xlsx)?;
        ws.write_number(row, 9, money(l.unit_price)).map_err(xlsx)?;
        ws.write_number(row, 10, money(l.amount)).map_err(xlsx)?;
        ws.write_number(row, 11, serial(l.period_from)).map_err(xlsx)?;
        ws.write_number(row, 12, serial(l.period_to)).map_err(xlsx)?;
        ws.write_string(row, 13, l.currency.as_str()).map_err(xlsx)?;
        if let Some(reference) = &l.reference {
            ws.write_string(row, 14, reference).map_err(xlsx)?;
        }
        ws.write_string(row, 15, l.customer_id.to_string()).map_err(xlsx)?;
        Ok(())
    }

    fn close_customer(&mut self) -> Result<()> {
        let Some(customer) = self.customer.take() else {
            return Ok(());
        };
        for (currency, (lines, amount)) in &customer.sums {
            let (ws, row) = self.customers.next_row(&mut self.workbook)?;
            for (col, text) in customer.label.iter().enumerate() {
                if !text.is_empty() {
                    ws.write_string(row, col as u16, text).map_err(xlsx)?;
                }
            }
            ws.write_string(row, 4, currency.as_str()).map_err(xlsx)?;
            ws.write_number(row, 5, *lines as f64).map_err(xlsx)?;
            ws.write_number(row, 6, money(*amount)).map_err(xlsx)?;
        }
        Ok(())
    }

    fn close_partner(&mut self) -> Result<()> {
        let Some(partner) = self.partner.take() else {
            return Ok(());
        };
        for (currency, (lines, amount)) in partner.sums {
            let (ws, row) = self.partners.next_row(&mut self.workbook)?;
            let name = if partner.key.is_some() {
                partner.label[0].as_str()
            } else {
                "(direct customers)"
            };
            ws.write_string(row, 0, name).map_err(xlsx)?;
            ws.write_string(row, 1, currency.as_str()).map_err(xlsx)?;
            ws.write_number(row, 2, lines as f64).map_err(xlsx)?;
            ws.write_number(row, 3, money(amount)).map_err(xlsx)?;
            self.totals.push(Total {
                partner_id: partner.key,
                currency,
                lines,
                amount,
            });
        }
        Ok(())
    }

    /// Saves the workbook; returns where, the lines written and the totals per partner
    /// and currency.
    pub fn finish(mut self) -> Result<(PathBuf, i64, Vec<Total>)> {
        self.close_customer()?;
        self.close_partner()?;
        for sheet in [&self.lines, &self.customers, &self.partners] {
            sheet.finish(&mut self.workbook)?;
        }
        self.workbook.save(&self.path).map_err(xlsx)?;
        Ok((self.path, self.count, self.totals))
    }
}

/// A day as a spreadsheet holds it: days since 1899-12-30 (shown as a date by the
/// column's format).
fn serial(day: chrono::NaiveDate) -> f64 {
    let epoch = chrono::NaiveDate::from_ymd_opt(1899, 12, 30).expect("a valid date");
    (day - epoch).num_days() as f64
}

/// Money as the number a spreadsheet holds (two decimals fit a double exactly enough to
/// show and sum to the cent).
fn money(amount: Decimal) -> f64 {
    amount.to_f64().unwrap_or_default()
}
