/**
 * Linux process facts for the `connections` suite, read from `/proc`.
 *
 * @module
 */

/**
 * Resident set size of process `pid` in bytes: `VmRSS` of `/proc/<pid>/status`, which
 * covers all its threads (a node's workers are threads of its main process).
 *
 * @throws {Error} when the process is gone or the field is missing.
 */
export async function readRss(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kib = status.match(/^VmRSS:\s+(\d+)\s+kB$/m)?.[1];
  if (kib === undefined) throw new Error(`Cannot read VmRSS of process ${pid}`);
  return Number(kib) * 1024;
}

/** The sum of {@link readRss} over `pids`. */
export async function readRssSum(pids: readonly number[]): Promise<number> {
  const values = await Promise.all(pids.map(readRss));
  return values.reduce((a, b) => a + b, 0);
}

/**
 * CPU time process `pid` used so far, in ms: the sum over its threads of
 * `/proc/<pid>/task/<tid>/schedstat` (ns precision; `/proc/<pid>/stat` counts in 10 ms
 * ticks, too coarse for a few hundred connects). Threads that already exited are not
 * counted: take the difference of two readings over a window where the threads stay.
 *
 * @throws {Error} when the process is gone.
 */
export async function readCpuMs(pid: number): Promise<number> {
  let ns = 0;
  for await (const task of Deno.readDir(`/proc/${pid}/task`)) {
    try {
      ns += Number(
        (await Deno.readTextFile(`/proc/${pid}/task/${task.name}/schedstat`))
          .split(" ")[0],
      );
    } catch {
      // The thread exited between the listing and the read.
    }
  }
  return ns / 1e6;
}

/** The sum of {@link readCpuMs} over `pids`. */
export async function readCpuMsSum(pids: readonly number[]): Promise<number> {
  const values = await Promise.all(pids.map(readCpuMs));
  return values.reduce((a, b) => a + b, 0);
}

/**
 * This process's soft limit of open files (children inherit it), or `Infinity` when
 * unlimited or unknown.
 */
export async function openFileLimit(): Promise<number> {
  try {
    const limits = await Deno.readTextFile("/proc/self/limits");
    const soft = limits.match(/^Max open files\s+(\S+)/m)?.[1];
    const n = Number(soft);
    return Number.isFinite(n) && n > 0 ? n : Infinity;
  } catch {
    return Infinity;
  }
}

/** Resolves after `ms` (not unref'd: the suite waits on purpose). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
