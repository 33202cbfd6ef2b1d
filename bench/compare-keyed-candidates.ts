import { keyedMarkdown, measureKeyed } from './keyed.ts';

const seconds = Number(process.argv[2] ?? 6);
const rounds = Number(process.argv[3] ?? 2);
for (let round = 0; round < rounds; round++) {
  for (const design of ['fenced', 'transaction']) {
    const result = await measureKeyed({
      clients: [1, 16, 50],
      seconds,
      environment: design === 'transaction' ? { KEYED_CANDIDATE: 'transaction' } : {},
    });
    process.stdout.write(`\n### round ${round + 1}: ${design}\n\n${keyedMarkdown(result)}\n`);
  }
}
process.exit(0);
