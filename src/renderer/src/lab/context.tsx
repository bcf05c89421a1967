/**
 * The LabApi client for the whole tree. Screens take it from useLab() rather than importing the
 * module-level client, so a test or a second window can hand in its own.
 */
import { createContext, useContext, type ReactNode } from 'react';
import { labClient, type LabClient } from '../lab-client';

const LabContext = createContext<LabClient | null>(null);

export function LabProvider({ client, children }: { client?: LabClient; children: ReactNode }) {
  return <LabContext.Provider value={client ?? labClient()}>{children}</LabContext.Provider>;
}

export function useLab(): LabClient {
  const lab = useContext(LabContext);
  if (!lab) throw new Error('useLab() outside <LabProvider>: wrap the app in <LabProvider>');
  return lab;
}
