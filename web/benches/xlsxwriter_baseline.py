"""The benchmark's baseline for the XLSX: Python's XlsxWriter in constant-memory mode
writes the same lines (read from the run's CSV) with the same sheet, column formats,
frozen header and autofilter. Prints the seconds spent writing (reading the CSV is
timed on its own and left out) and the lines written.

Usage: python xlsxwriter_baseline.py LINES.csv OUT.xlsx
"""

import csv
import datetime
import sys
import time

import xlsxwriter

MONEY, DATES, NUMBERS = {9, 10}, {11, 12}, {8}


def rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        yield header
        for row in reader:
            yield row


def convert(row):
    out = []
    for col, value in enumerate(row):
        if col in MONEY or col in NUMBERS:
            out.append(float(value))
        elif col in DATES:
            out.append(datetime.date.fromisoformat(value))
        else:
            out.append(value)
    return out


def main(source, target):
    started = time.perf_counter()
    for r, row in enumerate(rows(source)):
        if r > 0:
            convert(row)
    reading = time.perf_counter() - started

    started = time.perf_counter()
    book = xlsxwriter.Workbook(target, {"constant_memory": True})
    sheet = book.add_worksheet("Lines")
    bold = book.add_format({"bold": True})
    money = book.add_format({"num_format": "#,##0.00"})
    date = book.add_format({"num_format": "yyyy-mm-dd"})
    for col in MONEY:
        sheet.set_column(col, col, 11, money)
    for col in DATES:
        sheet.set_column(col, col, 11, date)
    sheet.freeze_panes(1, 0)
    n = 0
    for r, row in enumerate(rows(source)):
        if r == 0:
            sheet.write_row(0, 0, row, bold)
            continue
        for col, value in enumerate(convert(row)):
            if value == "":
                continue
            if col in MONEY or col in NUMBERS:
                sheet.write_number(r, col, value)
            elif col in DATES:
                sheet.write_datetime(r, col, value)
            else:
                sheet.write_string(r, col, value)
        n = r
    sheet.autofilter(0, 0, n, 15)
    book.close()
    print(f"{time.perf_counter() - started - reading:.3f} {n}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
