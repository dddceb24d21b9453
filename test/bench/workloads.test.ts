// Which replicated-vs-unreplicated workloads a run measures: the quick run keeps issue 10's four.
import { describe, expect, it } from 'vitest';
import { REPLICATION_WORKLOADS, replicationWorkloadsFor } from '../../src/bench/workloads.js';

describe('replicationWorkloadsFor', () => {
  it('runs only trivial, write, cpu and body in a quick run', () => {
    expect(replicationWorkloadsFor(undefined, true).map((w) => w.name)).toEqual(['trivial', 'write', 'cpu', 'body']);
  });

  it('runs every workload in the full run', () => {
    expect(replicationWorkloadsFor(undefined, false).map((w) => w.name)).toEqual(REPLICATION_WORKLOADS.map((w) => w.name));
    expect(REPLICATION_WORKLOADS.length).toBe(12);
  });

  it('runs the named workloads, quick or not, in the table order', () => {
    expect(replicationWorkloadsFor(['storage', 'clock'], true).map((w) => w.name)).toEqual(['clock', 'storage']);
  });
});
