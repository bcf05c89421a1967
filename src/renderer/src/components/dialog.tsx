/**
 * A modal confirmation: focus moves to the safe choice, Escape cancels, and the page behind is
 * inert while it is open.
 */
import { useEffect, useRef, type ReactNode } from 'react';

export interface ConfirmDialogProps {
  title: string;
  children: ReactNode;
  confirmLabel: string;
  danger?: boolean;
  busy?: boolean;
  error?: string | null;
  onConfirm: () => void;
  onCancel: () => void;
  testId?: string;
}

export function ConfirmDialog({ title, children, confirmLabel, danger, busy, error, onConfirm, onCancel, testId }: ConfirmDialogProps) {
  const cancelRef = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    cancelRef.current?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') onCancel();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [onCancel]);
  return (
    <div className="dialog-backdrop" onClick={(e) => e.target === e.currentTarget && onCancel()}>
      <div className="dialog" role="dialog" aria-modal="true" aria-label={title} data-testid={testId ?? 'dialog'}>
        <h2 style={{ marginTop: 0 }}>{title}</h2>
        <div>{children}</div>
        {error && <p className="error">{error}</p>}
        <div className="buttons">
          <button ref={cancelRef} type="button" onClick={onCancel} data-testid="dialog-cancel">
            Cancel
          </button>
          <button
            type="button"
            className={danger ? 'danger solid' : 'primary'}
            onClick={onConfirm}
            disabled={busy}
            data-testid="dialog-confirm"
          >
            {busy ? 'Working…' : confirmLabel}
          </button>
        </div>
      </div>
    </div>
  );
}
