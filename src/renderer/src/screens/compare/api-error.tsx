/** A LabApi failure as a sentence for the screen; UNAVAILABLE (a feature the engine lacks) is not shown as a crash. */
import { LabApiError } from '../../../../shared/vocabulary';

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function isCode(error: unknown, code: LabApiError['code']): boolean {
  return error instanceof LabApiError && error.code === code;
}

export function ApiError({ error, what }: { error: unknown; what: string }) {
  if (isCode(error, 'UNAVAILABLE')) {
    return (
      <p className="banner" role="status">
        {what} is not available from this engine yet ({errorText(error)}).
      </p>
    );
  }
  return (
    <p className="banner error" role="alert">
      {what} failed: {errorText(error)}
    </p>
  );
}
