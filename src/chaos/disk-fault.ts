// A failing disk for the guest: <dir>/epochs, where every epoch's guest files live (<dir>/data
// points into it), is a small tmpfs (mounted by the harness, so it needs root and mount(2)); the
// fault fills it with one file, so every guest write fails with ENOSPC, and healing deletes the
// file. Claims and the channel secret live outside it; epoch copies are hard links, inside it.
import { execFile } from 'node:child_process';
import { mkdir, open, rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Size of the tmpfs: room for the example guests' files, small enough to fill at once. */
export const DISK_BYTES = 4 * 1024 * 1024;
/** Not a number: the nodes take only numbered entries of <dir>/epochs for epoch directories. */
const FILLER = 'chaos-filler';

export class DiskFault {
  private constructor(readonly mountPoint: string) {}

  /** Mounts the tmpfs, or resolves with the reason it cannot (not root, no mount). */
  static async mount(dir: string): Promise<DiskFault | string> {
    const mountPoint = join(dir, 'epochs');
    if (process.getuid?.() !== 0) return 'disk faults need root (a small tmpfs is mounted on <dir>/epochs)';
    await mkdir(mountPoint, { recursive: true });
    try {
      await run('mount', ['-t', 'tmpfs', '-o', `size=${DISK_BYTES}`, 'tmpfs', mountPoint], { timeout: 10_000 });
    } catch (error) {
      return `cannot mount a tmpfs for disk faults: ${error instanceof Error ? error.message.split('\n')[0] : error}`;
    }
    return new DiskFault(mountPoint);
  }

  /** Fills the file system: guest writes fail with ENOSPC until free(). */
  async fill(): Promise<void> {
    const handle = await open(join(this.mountPoint, FILLER), 'w');
    try {
      const chunk = Buffer.alloc(64 * 1024);
      for (;;) {
        const info = await statfs(this.mountPoint);
        if (info.bavail === 0) return;
        try {
          await handle.write(chunk.subarray(0, Math.min(chunk.length, info.bavail * info.bsize)));
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ENOSPC') return;
          throw error;
        }
      }
    } finally {
      await handle.close();
    }
  }

  async free(): Promise<void> {
    await rm(join(this.mountPoint, FILLER), { force: true });
  }

  async unmount(): Promise<void> {
    await run('umount', ['-l', this.mountPoint], { timeout: 10_000 }).catch(() => undefined);
  }
}
