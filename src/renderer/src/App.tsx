/**
 * The shell: a top bar and one screen chosen by the location hash (see lab/route.ts). Screens get
 * the engine from useLab(); the shell knows only their names.
 */
import { lazy, Suspense, type ReactNode } from 'react';
import { LabProvider, routeHref, useRoute, type Route } from './lab';
import { RunsScreen } from './screens/runs';

// The Runs screen is where the app opens; the others (and their charting code) load on first visit.
const NewExperimentScreen = lazy(() => import('./screens/new-experiment').then((m) => ({ default: m.NewExperimentScreen })));
const RunScreen = lazy(() => import('./screens/run').then((m) => ({ default: m.RunScreen })));
const CompareScreen = lazy(() => import('./screens/compare').then((m) => ({ default: m.CompareScreen })));
const AnalysesScreen = lazy(() => import('./screens/analyses').then((m) => ({ default: m.AnalysesScreen })));

const NAV: { screen: Route['screen']; href: string; label: string }[] = [
  { screen: 'runs', href: routeHref('/runs'), label: 'Runs' },
  { screen: 'new', href: routeHref('/new'), label: 'New experiment' },
  { screen: 'compare', href: routeHref('/compare'), label: 'Compare' },
  { screen: 'analyses', href: routeHref('/analyses'), label: 'Analyses' },
];

function Screen({ route }: { route: Route }): ReactNode {
  switch (route.screen) {
    case 'new':
      return <NewExperimentScreen fromRunId={route.params.get('from')} />;
    case 'run':
      // Keyed so a different run starts from a clean state.
      return <RunScreen key={route.runId} runId={route.runId} />;
    case 'compare':
      return <CompareScreen runIds={route.runIds} />;
    case 'analyses':
      return <AnalysesScreen runIds={route.runIds} />;
    default:
      // Keyed by the filters in the address, so a link to filtered runs applies them.
      return <RunsScreen key={route.params.toString()} params={route.params} />;
  }
}

function Shell() {
  const route = useRoute();
  return (
    <div className="app">
      <header className="topbar">
        <span className="brand">Exposure Lab</span>
        <nav aria-label="Screens">
          {NAV.map((n) => (
            <a
              key={n.screen}
              href={n.href}
              data-testid={`nav-${n.screen}`}
              aria-current={route.screen === n.screen || (n.screen === 'runs' && route.screen === 'run') ? 'page' : undefined}
            >
              {n.label}
            </a>
          ))}
        </nav>
      </header>
      <main className="main">
        <Suspense fallback={<p className="screen muted">Loading…</p>}>
          <Screen route={route} />
        </Suspense>
      </main>
    </div>
  );
}

export function App() {
  return (
    <LabProvider>
      <Shell />
    </LabProvider>
  );
}
