import { describe, expect, it } from 'vitest';
import { formatNumber, toCsv, toMarkdown, type DataTable } from '../../src/renderer/src/export/table-text';

/** An RFC 4180 reader written independently of toCsv, to check the output round-trips. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (field || row.length) rows.push([...row, field]);
  return rows;
}

describe('toCsv', () => {
  it('writes a header and rows, numbers at full precision, missing values empty', () => {
    const t: DataTable = { columns: ['variant', 'T\'=20', 'n'], rows: [['ADM', 12.345678901, 3], ['ADM-IP', null, Number.NaN]] };
    expect(toCsv(t)).toBe("variant,T'=20,n\nADM,12.345678901,3\nADM-IP,,\n");
  });

  it('quotes separators, quotes and line breaks, and round-trips through an RFC 4180 reader', () => {
    const nasty = ['a,b', 'say "hi"', 'two\nlines', ' padded ', 'plain'];
    const csv = toCsv({ columns: ['x'], rows: nasty.map((s) => [s]) });
    expect(csv).toContain('"a,b"');
    expect(csv).toContain('"say ""hi"""');
    expect(parseCsv(csv).slice(1).map((r) => r[0])).toEqual(nasty);
  });

  it('defuses text that a spreadsheet would run as a formula, but leaves numbers alone', () => {
    const csv = toCsv({ columns: ['a', 'b', 'c', 'd'], rows: [['=1+2', '@SUM(A1)', '-0.5', -0.5]] });
    expect(csv.split('\n')[1]).toBe("'=1+2,'@SUM(A1),-0.5,-0.5");
  });

  it('refuses a row whose length does not match the header, naming the row', () => {
    expect(() => toCsv({ columns: ['a', 'b'], rows: [[1, 2], [3]] })).toThrow(/row 2 has 1 cells but there are 2 columns/);
  });
});

describe('toMarkdown', () => {
  it('right-aligns numeric columns and escapes pipes', () => {
    const md = toMarkdown({ columns: ['variant', 'FID'], rows: [['ADM | base', 3.3712], ['ADM-IP', 2.7]] });
    expect(md).toBe('| variant | FID |\n| --- | ---: |\n| ADM \\| base | 3.371 |\n| ADM-IP | 2.7 |\n');
  });

  it('keeps one row per line when a cell holds a line break', () => {
    const md = toMarkdown({ columns: ['note'], rows: [['a\nb']] });
    expect(md.trim().split('\n')).toHaveLength(3);
  });
});

describe('formatNumber', () => {
  it('rounds to significant digits and marks missing values', () => {
    expect(formatNumber(3.14159)).toBe('3.142');
    expect(formatNumber(1234.5678)).toBe('1235');
    expect(formatNumber(42)).toBe('42');
    expect(formatNumber(0.000012345)).toBe('1.234e-5');
    expect(formatNumber(null)).toBe('—');
    expect(formatNumber(Number.POSITIVE_INFINITY)).toBe('—');
  });
});
