// The guest's CPU slices, announced to whoever must keep working while one event runs long. The
// event loop is blocked for the whole of a guest event (up to its CPU budget, ~0.1-1 s), so no timer
// fires meanwhile; the interrupt poll QuickJS makes every ~0.05-0.5 ms of guest CPU calls
// cpuSlice(), and the logging channel sends a due heartbeat from there, synchronously. A process
// that is stopped, or stuck outside the guest, makes no slices: its silence is still detected.

type SliceListener = () => void;
const listeners = new Set<SliceListener>();

/** Called on every slice of guest CPU until the returned function is called. Keep it cheap. */
export function onCpuSlice(listener: SliceListener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** The guest is running, between two of its bytecodes: nothing of the guest may be touched here. */
export function cpuSlice(): void {
  for (const listener of listeners) listener();
}
