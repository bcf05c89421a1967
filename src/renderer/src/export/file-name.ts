/**
 * Names for saved files: readable, the same on every OS (no characters Windows or macOS refuse),
 * and saying what the file holds ("fid-vs-iterations_adm-vs-adm-ip.svg").
 */

const MAX_STEM = 120;

/** Joins the parts with '_' after reducing each to lower-case letters, digits, '.', and '-'. */
export function exportFileName(parts: (string | number | null | undefined)[], extension: string): string {
  const ext = extension.replace(/^\.+/, '').toLowerCase();
  if (!/^[a-z0-9]+$/.test(ext)) throw new Error(`export: '${extension}' is not a file extension (expected e.g. 'csv')`);
  const stem = parts
    .filter((p): p is string | number => p !== null && p !== undefined && String(p).trim() !== '')
    .map((p) =>
      String(p)
        .normalize('NFKD')
        .replace(/[\u0300-\u036f]/g, '')
        .toLowerCase()
        .replace(/[^a-z0-9.-]+/g, '-')
        .replace(/-{2,}/g, '-')
        .replace(/^[-.]+|[-.]+$/g, ''),
    )
    .filter(Boolean)
    .join('_')
    .slice(0, MAX_STEM)
    .replace(/[-._]+$/, '');
  return `${stem || 'export'}.${ext}`;
}
