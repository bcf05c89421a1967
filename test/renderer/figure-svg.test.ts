import { describe, expect, it } from 'vitest';
import { composeFigureSvg, escapeXml, layoutLegend, wrapText } from '../../src/renderer/src/export/figure-svg';

const chart = '<svg xmlns="http://www.w3.org/2000/svg" class="recharts-surface" width="400" height="200" x="5" viewBox="0 0 400 200"><path d="M0 0L10 10" style="stroke:rgb(1,2,3)"/></svg>';

describe('composeFigureSvg', () => {
  const fig = composeFigureSvg({
    chartSvg: chart,
    chartWidth: 400,
    chartHeight: 200,
    title: 'FID < 3 & "best"',
    legend: [
      { label: 'ADM', color: '#2358c4' },
      { label: 'ADM-IP', color: '#d9480f', dashed: true },
    ],
    caption: ['feature network: mnist-v1 · sample count: 1,000'],
    background: 'rgb(255, 255, 255)',
    foreground: 'rgb(27, 31, 36)',
  });

  it('is one standalone SVG document with the title, legend and caption as text', () => {
    expect(fig.svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(fig.svg.trim().endsWith('</svg>')).toBe(true);
    expect(fig.svg).toContain('FID &lt; 3 &amp; &quot;best&quot;');
    expect(fig.svg).toContain('>ADM</text>');
    expect(fig.svg).toContain('>ADM-IP</text>');
    expect(fig.svg).toContain('stroke-dasharray="4 3"');
    expect(fig.svg).toContain('feature network: mnist-v1');
  });

  it('nests the chart below the title, keeping its content and dropping its own position', () => {
    expect(fig.svg).toMatch(/<svg x="0" y="42" xmlns="http:\/\/www.w3.org\/2000\/svg" class="recharts-surface" width="400" height="200" viewBox="0 0 400 200">/);
    expect(fig.svg).toContain('<path d="M0 0L10 10" style="stroke:rgb(1,2,3)"/>');
  });

  it('is as wide as the chart and tall enough for title, chart, one legend row and the caption', () => {
    expect(fig.width).toBe(400);
    // 16 pad + 16 title + 10 gap = 42; chart 200; legend at 250 (one row of 18, then 6); caption one line of 15; pad 16.
    expect(fig.height).toBe(250 + 18 + 6 + 15 + 16);
    expect(fig.svg).toContain(`viewBox="0 0 400 ${fig.height}"`);
  });

  it('refuses markup that is not an <svg>', () => {
    expect(() =>
      composeFigureSvg({ chartSvg: '<div/>', chartWidth: 1, chartHeight: 1, title: '', legend: [], caption: [], background: '#fff', foreground: '#000' }),
    ).toThrow(/does not start with an <svg>/);
  });
});

describe('layoutLegend', () => {
  it('wraps entries that do not fit on a row', () => {
    const entries = ['aaaaaaaaaa', 'bbbbbbbbbb', 'cccccccccc'].map((label) => ({ label, color: '#000' }));
    // Each entry: 22 swatch + 10 chars * 12 px * 0.6 = 94, plus 18 gap: two fit in 210, the third wraps.
    const { items, rows } = layoutLegend(entries, 210, 12);
    expect(items.map((i) => [i.x, i.row])).toEqual([[0, 0], [112, 0], [0, 1]]);
    expect(rows).toBe(2);
  });
});

describe('wrapText and escapeXml', () => {
  it('wraps at spaces and breaks words longer than a line', () => {
    expect(wrapText('one two three', 7)).toEqual(['one two', 'three']);
    expect(wrapText('abcdefghij', 4)).toEqual(['abcd', 'efgh', 'ij']);
  });
  it('escapes the five XML specials', () => {
    expect(escapeXml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;');
  });
});
