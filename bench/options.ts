import { CommandLine } from './cli.ts';

/** The sections of `npm run bench`, in the order they run (bench/sections.ts says what each does). */
export const SECTIONS = ['bundles', 'init', 'cpu', 'capacity', 'throughput', 'keyed'] as const;
export type Section = (typeof SECTIONS)[number];

export interface BenchOptions {
  sections: Section[];
  quick: boolean;
  /** Where the JSON report goes; undefined: docs/benchmarks/latest.json for a full run, else a temp file. */
  out?: string | undefined;
  /** Sample sizes, smaller with --quick. */
  initRuns: number;
  cpuWarmup: number;
  cpuInvocations: number;
  capacityRepeats: number;
  throughputSeconds: number;
  throughputConnections: number;
  /** Keyed vs plain increments of one counter: seconds per keyed phase, and the client counts. */
  keyedSeconds: number;
  keyedClients: number[];
}

export const USAGE = `npm run bench [-- --only ${SECTIONS.join(',')}] [--quick] [--out FILE]

  --only LIST   run only these sections (comma-separated)
  --quick       small samples: a smoke run of a minute or so, not figures to quote
  --out FILE    write the JSON report here (default: docs/benchmarks/latest.json for a full run,
                a temporary file otherwise, so a partial or quick run never replaces the real figures)`;

export function parseOptions(argv: readonly string[]): BenchOptions {
  const line = new CommandLine(
    argv,
    { only: { type: 'string' }, quick: { type: 'boolean' }, out: { type: 'string' } },
    USAGE,
  );
  const quick = line.has('quick');
  return {
    sections: sectionsOf(line),
    quick,
    out: line.text('out'),
    initRuns: quick ? 3 : 15,
    cpuWarmup: quick ? 40 : 400,
    cpuInvocations: quick ? 200 : 3000,
    capacityRepeats: quick ? 2 : 10,
    throughputSeconds: quick ? 3 : 10,
    throughputConnections: 64,
    keyedSeconds: quick ? 2 : 8,
    keyedClients: [1, 16, 50],
  };
}

function sectionsOf(line: CommandLine<'only' | 'quick' | 'out'>): Section[] {
  const names = line.list('only');
  if (names === undefined) return [...SECTIONS];
  const unknown = names.filter((name) => !isSection(name));
  if (unknown.length > 0 || names.length === 0) {
    line.fail(`unknown section(s): ${unknown.join(', ') || '(none given)'}`);
  }
  return SECTIONS.filter((section) => names.includes(section));
}

function isSection(name: string): name is Section {
  return (SECTIONS as readonly string[]).includes(name);
}

/** Only a full, unabridged run may replace the published figures. */
export function isFullRun(options: BenchOptions): boolean {
  return !options.quick && options.sections.length === SECTIONS.length;
}
