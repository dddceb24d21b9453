// The testbed for test/hosts: built once per test file, removed after it. Without root, nft or
// etcd the tests skip with a message, unless LOCKSTEP_REQUIRE_NETNS=1 (CI) or, for etcd,
// LOCKSTEP_REQUIRE_ETCD=1: then a machine that cannot host them fails.
import { readFileSync } from 'node:fs';
import { afterAll } from 'vitest';
import { hostsSupport } from '../../src/hosts/shell.js';
import { Testbed } from '../../src/hosts/testbed.js';
import { assertBuilt } from '../replication/helpers.js';

/** Whether this machine can host the testbed; says why not (or fails, where it is required). */
export async function hostsOrSkip(): Promise<boolean> {
  assertBuilt();
  const missing = await hostsSupport();
  if (!missing) return true;
  const required = process.env.LOCKSTEP_REQUIRE_NETNS === '1' || (missing.includes("'etcd'") && process.env.LOCKSTEP_REQUIRE_ETCD === '1');
  if (required) throw new Error(`the two-host tests are required here (LOCKSTEP_REQUIRE_NETNS/ETCD=1) but ${missing}`);
  console.warn(`SKIPPING the two-host tests: ${missing}`);
  return false;
}

export async function testbedOrSkip(): Promise<Testbed | undefined> {
  if (!(await hostsOrSkip())) return undefined;
  const testbed = await Testbed.create();
  afterAll(async () => {
    await testbed.destroy();
  });
  return testbed;
}

/** Gone, or a zombie its adopter has yet to reap (it runs nothing any more). */
export function processGone(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').startsWith('Z');
  } catch {
    return true;
  }
}
