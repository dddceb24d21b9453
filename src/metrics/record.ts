// One-line calls for the replication code to record what its status cannot tell. Each is a
// counter increment or a histogram observation: cheap enough for every entry and every output.
import { performance } from 'node:perf_hooks';
import { nodeMetrics, type OutputEffect } from './node-metrics.js';

/** The histogram's child per effect, looked up once: observing with a label object hashed the labels on every output. */
const holdByEffect = new Map<OutputEffect, { observe(seconds: number): void }>();

export const recordMetrics = {
  /** An output left the gate; `heldSinceMs` is the performance.now() at which it was held. */
  outputReleased(effect: OutputEffect, heldSinceMs: number): void {
    let hold = holdByEffect.get(effect);
    if (!hold) holdByEffect.set(effect, (hold = nodeMetrics().outputHold.labels({ effect })));
    hold.observe((performance.now() - heldSinceMs) / 1000);
  },
  entryLogged(): void {
    nodeMetrics().entriesLogged.inc();
  },
  ackReceived(): void {
    nodeMetrics().acksReceived.inc();
  },
  inputBytes(bytes: number): void {
    nodeMetrics().inputBytes.inc(bytes);
  },
};
