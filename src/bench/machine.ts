// Describes the machine a benchmark ran on, so figures from different runs can be compared.
import { cpus, loadavg, totalmem, platform, release, arch } from 'node:os';

export interface MachineDescription {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  /** 1, 5 and 15 minute load averages when the benchmark started: a busy machine gives lower figures. */
  loadAverage: [number, number, number];
}

export function describeMachine(): MachineDescription {
  const list = cpus();
  const [a, b, c] = loadavg();
  return {
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    cores: list.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${platform()} ${release()} ${arch()}`,
    node: process.version,
    loadAverage: [a!, b!, c!].map((x) => Math.round(x * 100) / 100) as [number, number, number],
  };
}

export function formatMachine(m: MachineDescription): string {
  return `${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}, node ${m.node}, load average ${m.loadAverage.join(' ')}`;
}
