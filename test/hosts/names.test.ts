// Testbed names carry the run's owner, so a sweep can tell a crashed run's leftovers from a live run's.
import { describe, expect, it } from 'vitest';
import { namespaceName, newRunTag, parseRunTag, runDirOf, runIsAlive } from '../../src/hosts/names.js';

describe('testbed names', () => {
  it('read back the run from a namespace name and from a run directory', () => {
    const tag = newRunTag();
    expect(parseRunTag(namespaceName(tag, 'etcd1'))).toEqual(tag);
    expect(parseRunTag(runDirOf(tag).split('/').pop()!)).toEqual(tag);
    expect(runIsAlive(tag)).toBe(true);
  });
  it("ignore names that are not a testbed's, and see a dead owner", () => {
    expect(parseRunTag('lockstep-chaos-abc123')).toBeUndefined();
    expect(parseRunTag('lockstep-failover-hosts-a1b2c3')).toBeUndefined();
    expect(parseRunTag('lsh-x-a')).toBeUndefined();
    // pid 2^22 + 1 is above Linux's pid_max: nobody owns that run.
    expect(runIsAlive({ pid: (4_194_305).toString(36), random: 'abcdef' })).toBe(false);
  });
});
