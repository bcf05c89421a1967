/** What screens need from the engine: the client, its events, live queries, artifacts, routes. */
export { LabProvider, useLab } from './context';
export { useLabEvents } from './events';
export { useQuery, type QueryOptions, type QueryState } from './query';
export { useArtifactUrl } from './artifact';
export { navigate, parseRoute, routeHref, useRoute, type Route } from './route';
