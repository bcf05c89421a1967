/**
 * Placeholder shell of the desktop UI. The run history, live training and Compare screens arrive
 * with the store/API and app issues; until then the CLI (`xlab`) is the way in.
 */
export function App() {
  return (
    <main style={{ fontFamily: 'system-ui, sans-serif', padding: 24, maxWidth: 720 }}>
      <h1>Exposure Lab</h1>
      <p>
        Train ADM and ADM-IP (input perturbation, Ning et al. ICML 2023), sample them from the same noise and compare.
      </p>
      <p>
        The desktop screens are not built yet. Use the command line: <code>npm run demo</code>, or <code>npx xlab --help</code>.
      </p>
    </main>
  );
}
