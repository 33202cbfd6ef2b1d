import { describe, expect, it } from 'vitest';
import { Progress } from '../../client/progress.ts';

describe('Progress', () => {
  it('draws a bar in place on a terminal, then replaces it with the summary', () => {
    let written = '';
    let now = 0;
    const progress = new Progress(
      {
        isTTY: true,
        columns: 80,
        write: (text: string) => {
          written += text;
        },
      },
      'import',
      () => now,
    );

    progress.update('1 counters', 25, 100);
    now = 50;
    progress.update('2 counters', 50, 100);
    now = 200;
    progress.update('3 counters', 50, 100);
    progress.finish('imported 3 counters');

    expect(written).toBe(
      '\r\x1b[Kimport [#####---------------]  25% 1 counters' +
        '\r\x1b[Kimport [##########----------]  50% 3 counters' +
        '\r\x1b[Kimported 3 counters\n',
    );
  });

  it('writes only the summary line when not on a terminal', () => {
    let written = '';
    const progress = new Progress(
      {
        write: (text: string) => {
          written += text;
        },
      },
      'export',
    );

    progress.update('10 counters');
    progress.finish('exported 10 counters');

    expect(written).toBe('exported 10 counters\n');
  });
});
