// A running digest of every output a guest produced. Check entries carry it, so a replayer that
// produces other outputs than the recorded run is stopped with a divergence, not silently wrong.
import { createHash, type Hash } from 'node:crypto';
import type { OutputEffect } from '../sandbox/effects.js';

export class OutputDigest {
  private hash: Hash = createHash('sha256');

  add(output: OutputEffect): void {
    switch (output.type) {
      case 'respond':
        this.hash.update(`respond\0${output.requestId}\0${output.status}\0${JSON.stringify(output.headers)}\0${output.body}\0`);
        return;
      case 'console':
        this.hash.update(`console\0${output.level}\0${output.text}\0`);
        return;
      case 'write':
        this.hash.update(`write\0${output.opId}\0${output.path}\0${output.data}\0`);
        return;
    }
  }

  /** 16 hex digits are plenty to tell two runs apart, and keep check entries small. */
  current(): string {
    return this.hash.copy().digest('hex').slice(0, 16);
  }
}
