import { describe, expect, it } from 'vitest';
import { exportFileName } from '../../src/renderer/src/export/file-name';

describe('exportFileName', () => {
  it('joins readable parts with underscores', () => {
    expect(exportFileName(['FID vs iterations', 'ADM', 'ADM-IP γ=0.1'], 'svg')).toBe('fid-vs-iterations_adm_adm-ip-0.1.svg');
  });

  it('drops characters no file system accepts and empty parts', () => {
    expect(exportFileName(['a/b\\c:d*e?"f<g>h|i', null, '', undefined, 7], '.CSV')).toBe('a-b-c-d-e-f-g-h-i_7.csv');
  });

  it('strips accents rather than dropping the letter', () => {
    expect(exportFileName(['Déjà vu'], 'md')).toBe('deja-vu.md');
  });

  it('falls back to a default stem and caps the length', () => {
    expect(exportFileName(['///'], 'png')).toBe('export.png');
    expect(exportFileName(['x'.repeat(500)], 'png')).toHaveLength(120 + 4);
  });

  it('refuses an extension that is not one', () => {
    expect(() => exportFileName(['a'], 'c/v')).toThrow(/not a file extension/);
  });
});
